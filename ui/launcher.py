"""The `qwen3-explorer` command: the desktop app, or the CLI when a subcommand is given.

Qt is imported only when the window is wanted, so `qwen3-explorer fit` starts fast and works on a
machine without a display.
"""

from __future__ import annotations

import sys

from explorer.cli.main import SUBCOMMANDS


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and (args[0] in SUBCOMMANDS or args[0] in ("-h", "--help")):
        from explorer.cli.main import main as cli_main

        return cli_main(args)
    from ui.app import run_gui

    return int(run_gui([sys.argv[0], *args]))


if __name__ == "__main__":
    sys.exit(main())

"""The `qwen3-explorer` command: the desktop app, or the CLI when a subcommand is given.

Qt is imported only when the window is wanted, so `qwen3-explorer fit` starts fast and works on a
machine without a display. A first word that is no subcommand (a typo such as `fti`) is an error with
a suggestion, not a reason to open the window; `--version` prints the version; other options
(`-style fusion`) still go to Qt.
"""

from __future__ import annotations

import difflib
import sys

from explorer.cli.main import SUBCOMMANDS


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and (args[0] in SUBCOMMANDS or args[0] in ("-h", "--help", "--version")):
        from explorer.cli.main import main as cli_main

        return cli_main(args)
    if args and not args[0].startswith("-"):
        near = difflib.get_close_matches(args[0], SUBCOMMANDS, n=1, cutoff=0.5)
        hint = f" Did you mean {near[0]}?" if near else ""
        print(f"usage: qwen3-explorer [{' | '.join(SUBCOMMANDS)}] ...\n"
              f"qwen3-explorer: {args[0]!r} is not a command.{hint} (Without a command the app opens.)",
              file=sys.stderr)
        return 2
    from ui.app import run_gui

    return int(run_gui([sys.argv[0], *args]))


if __name__ == "__main__":
    sys.exit(main())

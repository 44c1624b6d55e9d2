"""The `qwen3-explorer` command: the desktop app, or the CLI when a subcommand is given.

Qt is imported only when the window is wanted, so `qwen3-explorer fit` starts fast and works on a
machine without a display. A first word that is no subcommand (a typo such as `fti`) is an error with
a suggestion, not a reason to open the window; `--version` prints the version; other options
(`-style fusion`) still go to Qt. On Linux with no display to open a window on, it says so in one line and
exits 2 (Qt would abort with a core dump).
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Mapping, Sequence

from explorer.cli.main import SUBCOMMANDS


def no_display_reason(env: Mapping[str, str], platform: str, args: Sequence[str] = ()) -> str | None:
    """Why the window cannot open here, or None: on Linux with neither DISPLAY nor WAYLAND_DISPLAY set and
    no platform chosen (QT_QPA_PLATFORM, `-platform`), Qt's xcb plugin aborts the process with a core dump."""
    if not platform.startswith("linux") or env.get("QT_QPA_PLATFORM") or "-platform" in args:
        return None
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return None
    return "DISPLAY is not set"


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
    reason = no_display_reason(os.environ, sys.platform, args)
    if reason is not None:  # before Qt, which would abort with a core dump
        print(f"qwen3-explorer: no display to open a window on ({reason}); run it in a desktop session, "
              "or use the command-line commands: qwen3-explorer --help", file=sys.stderr)
        return 2
    from ui.app import run_gui

    return int(run_gui([sys.argv[0], *args]))


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Start the real app window, wait until the hardware and the fits are shown, save a PNG, exit.

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/screenshot.py out.png

The services are the default ones (this machine, the shipped catalog); QWEN3_EXPLORER_MODELS and the
XDG variables apply as in the app. Exits 1 when the window did not fill in within --timeout.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# Qt tries these in order: the X server (Xvfb) when its xcb libraries are installed, else the
# offscreen platform, which renders QWidget.grab() the same way.
os.environ.setdefault("QT_QPA_PLATFORM", "xcb;offscreen")

from PySide6.QtCore import QTimer

from ui.app import create_app
from ui.main_window import MainWindow
from ui.services import default_services


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="PNG file to write")
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--height", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait for the probe")
    parser.add_argument("--ctx", type=int, default=None, help="context length to show")
    args = parser.parse_args()

    app = create_app([sys.argv[0]])
    window = MainWindow(default_services())
    window.resize(args.width, args.height)
    window.show()
    state = {"rc": 1}

    def grab() -> None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        if window.grab().save(str(args.output), "PNG"):
            state["rc"] = 0 if window.hardware is not None else 1
            print(f"saved {args.output} ({window.width()}x{window.height()})")
        app.quit()

    def on_fits(_batch: object) -> None:
        if window.hardware is None:
            return
        if args.ctx and window.ctx != args.ctx:
            window.set_context(args.ctx)
            return
        QTimer.singleShot(400, grab)  # let layouts settle and paint

    def on_probe_error(exc: object) -> None:
        print(f"hardware probe failed: {exc!r}", file=sys.stderr)
        QTimer.singleShot(400, grab)

    def on_timeout() -> None:
        print(f"timed out after {args.timeout:.0f} s", file=sys.stderr)
        grab()

    window.fits_applied.connect(on_fits)
    window.probe_runner.error.connect(on_probe_error)
    QTimer.singleShot(int(args.timeout * 1000), on_timeout)
    app.exec()
    return state["rc"]


if __name__ == "__main__":
    sys.exit(main())

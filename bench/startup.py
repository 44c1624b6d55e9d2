"""GUI start-up: process launch to window shown, to hardware shown, and to the first fits in the table.

    .venv/bin/python bench/startup.py [--runs 5] [--json out.json]

Runs the app offscreen in fresh processes (median of --runs) and checks that llama_cpp is not
imported in the GUI process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import os, sys, time, json
t0 = float(sys.argv[1])
from PySide6.QtCore import QTimer
from ui.app import create_app
from ui.main_window import MainWindow
from ui.services import default_services
marks = {}
app = create_app([sys.argv[0]])
win = MainWindow(default_services())
win.show()
QTimer.singleShot(0, lambda: marks.setdefault("shown", time.time() - t0))
win.hardware_ready.connect(lambda _hw: marks.setdefault("hardware", time.time() - t0))
def fits(_batch):
    marks.setdefault("fits", time.time() - t0)
    QTimer.singleShot(0, app.quit)
win.models_tab.fits_applied.connect(fits)
QTimer.singleShot(60000, app.quit)
app.exec()
marks["llama_cpp_imported"] = "llama_cpp" in sys.modules
print(json.dumps(marks))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    runs = []
    for _ in range(args.runs):
        out = subprocess.run([sys.executable, "-c", CHILD, repr(time.time())], capture_output=True, text=True,
                             env=env, timeout=120, check=True).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    result = {k: statistics.median(r[k] for r in runs) for k in ("shown", "hardware", "fits")}
    result["llama_cpp_imported"] = any(r["llama_cpp_imported"] for r in runs)
    print(f"window shown {result['shown']:.2f} s, hardware shown {result['hardware']:.2f} s, "
          f"first fits {result['fits']:.2f} s (median of {args.runs}); "
          f"llama_cpp imported in the GUI process: {result['llama_cpp_imported']}")
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "median": result}, indent=1))


if __name__ == "__main__":
    main()

"""GUI responsiveness while panes stream: the longest event-loop stall, and UI updates per second.

    .venv/bin/python bench/ui_stream.py [--panes 2] [--seconds 8] [--json out.json]

Runs the real chat tab offscreen with real llama.cpp workers on a generated model; each pane streams
a long answer. A precise 4 ms timer in the GUI thread is the heartbeat: a stall is a gap between two
beats beyond the interval. Goal: no stall over 16 ms (one frame at 60 Hz). Also counts the text
updates each pane received per second (goal: about 30 at most, the coalescing limit).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtCore import Qt, QTimer

from explorer.chat.transcripts import ConversationStore
from explorer.gguf.variant import Variant
from explorer.hardware.cores import physical_cores
from explorer.hardware.probe import probe_hardware
from explorer.store.library import LocalModel
from explorer.testing.models import ensure_model
from ui.app import create_app
from ui.chat.tab import ChatTab

MODEL = "qwen3-fit-dense-f16"
BEAT_MS = 4


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--panes", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    import tempfile

    app = create_app([sys.argv[0]])
    path = ensure_model(MODEL)
    model = LocalModel(key=f"file:{path}", path=path, shards=(path,), size=path.stat().st_size, repo=None,
                       filename=path.name, quant="F16", arch="qwen3", variant=Variant.HYBRID, complete=True,
                       verified=False, source="added")
    tab = ChatTab(store=ConversationStore(Path(tempfile.mkdtemp())))
    tab.resize(1400, 800)
    tab.show()
    while len(tab.panes) < args.panes:
        tab.add_pane()
    tab.set_models([model])
    tab.set_hardware(probe_hardware(Path(tempfile.gettempdir())))
    for pane in tab.panes:
        pane.select_path(path)
    deadline = time.monotonic() + 30
    while any(p.info is None for p in tab.panes) and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    for pane in tab.panes:
        st = pane.settings()
        st.max_tokens, st.ctx, st.seed = 100_000, 16384, 3
        pane.apply_settings(st)
    assert tab.plan is not None and tab.plan.concurrent, tab.plan

    beats: list[float] = []
    cpu: list[float] = []  # the GUI thread's CPU time at each beat: its own work, not waiting to run
    stop_at: list[int] = []  # the beat at which the stop was asked
    updates = {p.number: 0 for p in tab.panes}
    streaming_since: list[float] = []
    for pane in tab.panes:
        pane.driver.text.connect(lambda _t, _a, n=pane.number: updates.__setitem__(n, updates[n] + 1))
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(BEAT_MS)
    timer.timeout.connect(lambda: (beats.append(time.perf_counter()), cpu.append(time.thread_time())))

    # The machine's own jitter first: the same heartbeat for 2 s with nothing running.
    idle: list[float] = []
    idle_timer = QTimer()
    idle_timer.setTimerType(Qt.TimerType.PreciseTimer)
    idle_timer.setInterval(BEAT_MS)
    idle_timer.timeout.connect(lambda: idle.append(time.perf_counter()))
    idle_timer.start()
    end = time.perf_counter() + 2.0
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.001)
    idle_timer.stop()
    idle_stall = max(((b - a) * 1000 - BEAT_MS for a, b in itertools.pairwise(idle)), default=0.0)

    def started() -> None:
        if not streaming_since and all(p.transcript.answer_text() for p in tab.panes):
            streaming_since.append(time.perf_counter())
            for n in updates:
                updates[n] = 0
            beats.clear()
            cpu.clear()
            timer.start()
            QTimer.singleShot(int(args.seconds * 1000), stop)

    def stop() -> None:
        stop_at.append(len(beats))
        tab.stop_all()

    poll = QTimer()
    poll.setInterval(20)
    poll.timeout.connect(started)
    poll.start()
    tab.run_finished.connect(app.quit)
    tab.input.setPlainText("Write a very long story about a lighthouse keeper.")
    tab.send()
    QTimer.singleShot(180_000, app.quit)
    app.exec()
    timer.stop()
    tokens = [p.conversation.messages[-1].stats.n_tokens if p.conversation and p.conversation.messages[-1].stats
              else 0 for p in tab.panes]
    tab.shutdown()

    end = stop_at[0] if stop_at else len(beats)  # streaming until the stop; then the runs finish
    gaps = [(b - a) * 1000 for a, b in itertools.pairwise(beats[:end])]
    busy = [(b - a) * 1000 for a, b in itertools.pairwise(cpu[:end])]
    stalls = [g - BEAT_MS for g in gaps]
    worst = max(range(len(stalls)), key=stalls.__getitem__) if stalls else None
    finish_gaps = [(b - a) * 1000 - BEAT_MS for a, b in itertools.pairwise(beats[max(end - 1, 0):])]
    result = {
        "panes": args.panes, "seconds": args.seconds, "model": path.name, "threads_per_pane": None,
        "cores": physical_cores(), "beats": len(beats[:end]),
        "max_stall_ms": max(stalls) if stalls else None,
        "gui_cpu_in_max_stall_ms": busy[worst] if worst is not None else None,
        "max_gui_cpu_between_beats_ms": max(busy) if busy else None,
        "idle_max_stall_ms": idle_stall,
        "stalls_over_16ms": sum(1 for x in stalls if x > 16),
        "p99_gap_ms": statistics.quantiles(gaps, n=100)[98] if len(gaps) > 100 else None,
        "median_gap_ms": statistics.median(gaps) if gaps else None,
        "finish_max_stall_ms": max(finish_gaps, default=0.0),
        "updates_per_s": {str(n): c / args.seconds for n, c in updates.items()},
        "tokens": tokens,
    }
    print(f"{args.panes} panes streaming for {args.seconds:.0f} s ({sum(tokens)} tokens in all): "
          f"longest event-loop stall {result['max_stall_ms']:.1f} ms (goal <= 16 ms; the GUI thread ran "
          f"{result['gui_cpu_in_max_stall_ms']:.1f} ms of it; {result['stalls_over_16ms']} stalls over 16 ms "
          f"in {result['beats']} beats; idle, the same timer stalls up to {idle_stall:.1f} ms), "
          f"p99 heartbeat gap {result['p99_gap_ms']:.1f} ms; longest GUI work between two beats "
          f"{result['max_gui_cpu_between_beats_ms']:.1f} ms; text updates per pane per second: "
          + ", ".join(f"{v:.1f}" for v in result["updates_per_s"].values()) + " (limit ~30)")
    print(f"After the stop (answers rendered whole, stats shown, saved): longest stall "
          f"{result['finish_max_stall_ms']:.1f} ms")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

"""Opening a long saved conversation: the longest GUI-thread stall, before and after the incremental restore.

    .venv/bin/python bench/restore.py [--mb 4] [--turns 100] [--json out.json] [--only load|restore]

A chat pane (`ui.chat.transcript.TranscriptView`, shown offscreen at 700x800) opens a conversation
of --turns exchanges (a question, then an answer with a thinking block; Markdown prose with lists
and code blocks) that add up to --mb MB of text:
- load: `load_messages`, which renders every message before it returns (the GUI thread is blocked
  the whole time);
- restore: `restore`, which shows the last messages at once and renders earlier ones in slices
  from the event loop.
A 0-ms heartbeat timer runs on the GUI thread meanwhile; the longest gap between two beats (or the
call itself, when longer) is the longest stall the user would feel. Also printed: the time until
the last message is on screen, and until every message is.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer.chat.conversation import Message, MessageStats
from ui.app import create_app
from ui.chat.transcript import TranscriptView

WORDS = tuple("the light air scatters blue short wavelengths more strongly than long ones so sky looks "  # noqa: SIM905
              "during day and red at sunset because path through atmosphere is longer".split())


def prose(n_chars: int, rng: random.Random) -> str:
    """Markdown-like text: paragraphs, a list now and then, a code block every ~2,000 characters."""
    out: list[str] = []
    size = 0
    i = 0
    while size < n_chars:
        i += 1
        if i % 300 == 0:
            piece = "\n\n```python\nprint(sum(x * x for x in range(10)))\n```\n\n"
        elif i % 60 == 0:
            piece = "\n\n- " if rng.random() < 0.3 else "\n\n"
        else:
            piece = " " + rng.choice(WORDS)
        out.append(piece)
        size += len(piece)
    return "".join(out).strip()


def conversation(mb: float, turns: int, seed: int = 1) -> list[Message]:
    rng = random.Random(seed)
    per_turn = int(mb * 1_000_000 / turns)
    messages = [Message("system", "Be helpful.")]
    for t in range(turns):
        messages.append(Message("user", f"Question {t}: " + prose(200, rng)))
        thinking = prose(per_turn * 2 // 5, rng)
        answer = prose(per_turn - len(thinking) - 200, rng)
        messages.append(Message("assistant", answer, thinking,
                                MessageStats(ttft_s=0.05, tokens_per_s=30, n_tokens=per_turn // 5)))
    return messages


def measure(mode: str, messages: list[Message]) -> dict[str, float]:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    view = TranscriptView()
    view.resize(700, 800)
    view.show()
    QApplication.processEvents()
    beats: list[float] = []
    beat = QTimer()
    beat.setInterval(0)
    beat.timeout.connect(lambda: beats.append(time.perf_counter()))
    beat.start()
    QApplication.processEvents()
    t0 = time.perf_counter()
    if mode == "load":
        view.load_messages(messages)
    else:
        view.restore(messages)
    called = time.perf_counter() - t0
    QApplication.processEvents()
    last_shown = time.perf_counter() - t0
    expected = sum(m.role in ("user", "assistant") for m in messages)
    while getattr(view, "restoring", False) or view.message_count() < expected:
        QApplication.processEvents()
    QApplication.processEvents()
    done = time.perf_counter() - t0
    beat.stop()
    gaps = [b - a for a, b in itertools.pairwise(beats) if a >= t0]
    first = [b for b in beats if b >= t0]
    stall = max([called, *(gaps or [0.0]), (first[0] - t0) if first else done])
    bar = view.verticalScrollBar()
    at_bottom = bar.value() == bar.maximum()
    view.close()
    view.deleteLater()
    QApplication.processEvents()
    return {"longest_stall_ms": stall * 1000, "call_ms": called * 1000, "last_message_shown_ms": last_shown * 1000,
            "all_shown_s": done, "at_bottom": float(at_bottom), "messages": expected}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=4.0)
    ap.add_argument("--turns", type=int, default=100)
    ap.add_argument("--only", choices=("load", "restore"))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    create_app([sys.argv[0]])
    messages = conversation(args.mb, args.turns)
    size = sum(len(m.content) + len(m.thinking) for m in messages) / 1e6
    print(f"{len(messages)} messages, {size:.1f} MB of text")
    result = {}
    for mode in ("restore", "load"):
        if args.only not in (None, mode):
            continue
        if mode == "restore" and not hasattr(TranscriptView, "restore"):
            continue
        r = result[mode] = measure(mode, messages)
        print(f"{mode:8s}: longest GUI stall {r['longest_stall_ms']:.0f} ms (the call itself {r['call_ms']:.0f} ms);"
              f" last message shown after {r['last_message_shown_ms']:.0f} ms; all {r['messages']} shown after"
              f" {r['all_shown_s']:.1f} s; at the bottom: {bool(r['at_bottom'])}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

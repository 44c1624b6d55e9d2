"""Transcript scaling: the cost of appending streamed text to a pane that already holds 20k tokens vs 100.

    .venv/bin/python bench/transcript.py [--updates 300] [--repeats 6] [--json out.json]
        [--baseline OLD_TRANSCRIPT.py]

A chat pane (`ui.chat.transcript.TranscriptView`, shown offscreen at 700x800) first receives a base
answer of N tokens (untimed), streamed the way the engine delivers it; then the benchmark times
--updates further updates of 8 tokens each, each followed by `processEvents()` (layout and paint
included), as when a model streams at ~30 updates a second. Three shapes of "holding N tokens":
- streaming: one long answer that is still streaming (the live message itself is long);
- history: N tokens in earlier finished messages, then a new streaming answer;
- paragraph: one answer streaming as a single paragraph, never a line break (a long thought, a
  minified line): Qt lays a changed paragraph out whole, so this is the case that scales worst.
The text of the first two is Markdown-like prose with paragraphs, a list and a code block every
~300 tokens.

The cost of an update is the mean time per update (all of them add up to the time the GUI thread
spends); the median and the 90th percentile are printed too. About one update in three scrolls the
view, which costs more than one that only adds text to the last line. Goal: the cost at 20k tokens is
at most 1.2 x the cost at 100. A pane of 100 tokens does not fill the view, so it does not scroll for
its first few dozen updates; the figure at 1,000 tokens (a full view) is printed too.

--baseline FILE measures another version of the transcript in the same run, interleaved with the current
one, so that the two compare on a noisy machine: a module that defines `TranscriptView` and imports the
rest of the view from the installed tree (e.g. `git show HEAD:ui/chat/transcript.py > /tmp/old.py`; the
single-file transcript from before the split into ui/chat/{render,docview,stack_layout,messages}.py,
`git show 119c197:ui/chat/transcript.py`, works too).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer.chat.conversation import Message, MessageStats
from ui.app import create_app
from ui.chat import transcript as chat_transcript

WORDS = tuple("the light air scatters blue short wavelengths more strongly than long ones so sky looks "  # noqa: SIM905
              "during day and red at sunset because path through atmosphere is longer".split())
TOKENS_PER_UPDATE = 8


def token_stream(n: int, seed: int) -> list[str]:
    """n 'tokens' (a word with its space each), with Markdown structure now and then."""
    rng = random.Random(seed)
    out: list[str] = []
    for i in range(n):
        if i and i % 300 == 0:
            out.append("\n\n```python\nprint(sum(x * x for x in range(10)))\n```\n\n")
        elif i and i % 60 == 0:
            out.append("\n\n- " if rng.random() < 0.3 else "\n\n")
        else:
            out.append(" " + rng.choice(WORDS))
    return out


def paragraph_stream(n: int, seed: int) -> list[str]:
    """n 'tokens' without a single line break."""
    rng = random.Random(seed)
    return [" " + rng.choice(WORDS) for _ in range(n)]


def chunks(tokens: list[str], k: int) -> list[str]:
    return ["".join(tokens[i:i + k]) for i in range(0, len(tokens), k)]


def load_module(path: Path) -> ModuleType:
    """Another version of the transcript module, imported under its own name."""
    spec = importlib.util.spec_from_file_location("baseline_chat_transcript", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def measure(module: ModuleType, base: int, updates: int, shape: str, seed: int) -> list[float]:
    """Seconds per timed update."""
    from PySide6.QtWidgets import QApplication

    view = module.TranscriptView()
    view.resize(700, 800)
    view.show()
    QApplication.processEvents()  # the base goes in at the view's real width, as it would in the app
    stream = paragraph_stream if shape == "paragraph" else token_stream
    base_tokens = stream(base, seed)
    if shape == "history":
        text = "".join(base_tokens)
        view.load_messages([Message("user", "Tell me about the sky."),
                            Message("assistant", text, "", MessageStats(n_tokens=base))])
        view.add_user("And more?")
        view.begin_assistant()
    else:
        view.add_user("Tell me about the sky.")
        view.begin_assistant()
        for piece in chunks(base_tokens, 64):  # the base arrives faster: it is not timed
            view.append_answer(piece)
            QApplication.processEvents()
    timed = chunks(stream(updates * TOKENS_PER_UPDATE, seed + 1), TOKENS_PER_UPDATE)
    QApplication.processEvents()
    costs: list[float] = []
    for piece in timed:
        t = time.perf_counter()
        view.append_answer(piece)
        QApplication.processEvents()
        costs.append(time.perf_counter() - t)
    view.close()
    view.deleteLater()
    QApplication.processEvents()
    return costs


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[round(q * (len(ordered) - 1))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--updates", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=6)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--baseline", type=Path, help="another transcript module (TranscriptView) to measure side by side")
    args = ap.parse_args()
    create_app([sys.argv[0]])
    variants = {"": chat_transcript}
    if args.baseline:
        variants = {" (baseline)": load_module(args.baseline), **variants}
    sizes = (100, 1000, 20000)
    result: dict[str, dict[str, float]] = {}
    for shape in ("streaming", "history", "paragraph"):
        per: dict[tuple[str, int], list[float]] = {(v, n): [] for v in variants for n in sizes}
        for r in range(args.repeats):  # interleaved, so drift hits every size and version alike
            for n in sizes:
                order = list(variants.items()) if r % 2 == 0 else list(variants.items())[::-1]
                for name, module in order:
                    per[(name, n)].extend(measure(module, n, args.updates, shape, seed=r))
        for name in variants:
            mean = {n: statistics.fmean(per[(name, n)]) * 1000 for n in sizes}
            median = {n: statistics.median(per[(name, n)]) * 1000 for n in sizes}
            p90 = {n: quantile(per[(name, n)], 0.9) * 1000 for n in sizes}
            result[shape + name] = {**{f"ms_per_update_{n}": mean[n] for n in sizes},
                                    **{f"median_ms_{n}": median[n] for n in sizes},
                                    **{f"p90_ms_{n}": p90[n] for n in sizes},
                                    "ratio_20k_vs_100": mean[20000] / mean[100],
                                    "ratio_20k_vs_1k": mean[20000] / mean[1000]}

            def row(values: dict[int, float]) -> str:
                return " / ".join(f"{values[n]:.2f}" for n in sizes)

            print(f"{shape + name:20s}: ms per update at 100 / 1k / 20k tokens: {row(mean)}"
                  f"; 20k vs 100: {mean[20000] / mean[100]:.2f} (goal <= 1.2),"
                  f" 20k vs 1k: {mean[20000] / mean[1000]:.2f}; median {row(median)}, p90 {row(p90)}",
                  flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

"""A sweep: one pane's model at several values of one setting (temperature, top-p or the mode), one seed.

    plan = SweepPlan(SweepParam.TEMPERATURE, parse_values(SweepParam.TEMPERATURE, "0, 0.6, 1.0, 1.5"), seed=7)
    for settings in sweep_settings(pane_settings, plan, sampling_now):   # one PaneSettings per value
        ...

Also the words the chat tab shows around a sweep: which panes share one file's weights in a wave
(`shared_weights_lines`; the plan already counts them once), and which pane of a run was fastest.
Plain Python: the GUI's sweep dialog and the tab call it, the tests check it without Qt.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar, Union

from explorer.chat.records import PaneMode, PaneSettings
from explorer.chat.templates import SamplingPreset
from explorer.fit.schedule import Plan

__all__ = ["DEFAULT_VALUES", "SweepParam", "SweepPlan", "fastest", "pane_ranges", "parse_values",
           "plan_words", "shared_weights_lines", "sweep_settings", "value_text"]

SweepValue = Union[float, PaneMode]  # noqa: UP007
K = TypeVar("K", bound=Hashable)


class SweepParam(str, enum.Enum):
    TEMPERATURE = "temperature"
    TOP_P = "top-p"
    MODE = "mode"

    @property
    def label(self) -> str:
        return {"temperature": "Temperature", "top-p": "Top-p", "mode": "Mode"}[self.value]


DEFAULT_VALUES = {
    SweepParam.TEMPERATURE: "0, 0.6, 1.0, 1.5",  # 0 is greedy
    SweepParam.TOP_P: "0.5, 0.8, 0.95, 1.0",
    SweepParam.MODE: "chatroom, free-form",
}


@dataclass(frozen=True)
class SweepPlan:
    param: SweepParam
    values: tuple[SweepValue, ...]
    seed: int  # every pane of the sweep draws with this seed


def _mode(word: str) -> PaneMode:
    w = word.strip().lower()
    for m in PaneMode:
        if w in (m.value, m.label.lower()) or (m is PaneMode.FIM and w in ("fill-in-the-middle", "fim")):
            return m
    raise ValueError(f"unknown mode {word.strip()!r}: use chatroom, free-form or fim")


def parse_values(param: SweepParam, text: str) -> tuple[SweepValue, ...]:
    """The values typed for a sweep ("0, 0.6, 1.0, 1.5"); ValueError (one line) for a bad or
    out-of-range value, or fewer than two."""
    words = [w for w in re.split(r"[,;\s]+", text.strip()) if w]
    values: list[SweepValue] = []
    for word in words:
        if param is SweepParam.MODE:
            values.append(_mode(word))
            continue
        try:
            number = float(word)
        except ValueError:
            raise ValueError(f"{param.value} values are numbers, not {word!r}") from None
        probe = SamplingPreset(temperature=number, top_p=0.95, top_k=20, min_p=0.0)
        if param is SweepParam.TOP_P:
            probe = replace(probe, temperature=0.6, top_p=number)
        probe.check()  # the same ranges as the settings panel
        values.append(number)
    if len(values) < 2:
        raise ValueError("a sweep needs at least two values")
    return tuple(values)


def value_text(value: SweepValue) -> str:
    return value.label if isinstance(value, PaneMode) else f"{value:g}"


def sweep_settings(base: PaneSettings, plan: SweepPlan, sampling: SamplingPreset) -> list[PaneSettings]:
    """One pane's settings per value: `base` with the swept value and the sweep's seed. `sampling` is
    what the pane samples with now (its own values, or Qwen's preset for its thinking mode): a
    temperature or top-p sweep writes it out with the swept value; a mode sweep keeps it as it is."""
    out: list[PaneSettings] = []
    for value in plan.values:
        if isinstance(value, PaneMode):
            out.append(replace(base, mode=value, seed=plan.seed))
            continue
        if plan.param is SweepParam.TEMPERATURE:
            swept = replace(sampling, temperature=value).check()
        else:
            swept = replace(sampling, top_p=value).check()
        out.append(replace(base, sampling=swept, seed=plan.seed))
    return out


def pane_ranges(numbers: Sequence[int]) -> str:
    """[1, 2, 3, 4] -> 'panes 1-4'; [1, 3] -> 'panes 1 and 3'; [1, 2, 4] -> 'panes 1-2 and 4'."""
    runs: list[list[int]] = []
    for n in sorted(numbers):
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    parts = [f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs]
    word = "panes" if len(numbers) > 1 else "pane"
    return f"{word} {parts[0]}" if len(parts) == 1 else f"{word} {', '.join(parts[:-1])} and {parts[-1]}"


def shared_weights_lines(plan: Plan, keys: Mapping[int, str], workers: Mapping[int, str] | None = None) -> list[str]:
    """A line per file that several panes of one wave load (`keys`: pane number -> file identity):
    llama.cpp maps the weights, so they are in memory once, and the plan counts them once. `workers`
    (pane number -> file and load settings) says which of them will share one worker: then the weights
    are also read once per token for all of them."""
    out: list[str] = []
    for wave in plan.waves:
        groups: dict[str, list[int]] = {}
        labels: dict[str, str] = {}
        for p in wave:
            key = keys.get(p.pane)
            if key is not None:
                groups.setdefault(key, []).append(p.pane)
                labels.setdefault(key, p.label)
        for key, numbers in groups.items():
            if len(numbers) < 2:
                continue
            together: dict[tuple[str, int], list[int]] = {}
            for p in wave:
                if p.pane in numbers and workers is not None and p.pane in workers:
                    together.setdefault((workers[p.pane], p.n_gpu_layers), []).append(p.pane)
            shared = [g for g in together.values() if len(g) > 1]
            if shared:
                out.append(f"One worker for {' and for '.join(pane_ranges(g) for g in shared)} ({labels[key]}): in "
                           "memory once, its weights read once per token for all")
            else:
                out.append(f"Weights shared by {pane_ranges(numbers)}: {labels[key]} is mapped once "
                           "and counted once")
    return out


def plan_words(plan: Plan, keys: Mapping[int, str], workers: Mapping[int, str] | None) -> tuple[str, str]:
    """(the chat tab's plan line, its tooltip): the plan's lines and which panes share weights or a
    worker (see `shared_weights_lines`). With 3-4 panes in one wave where each runs goes to the tooltip
    only, so the line stays short; the tooltip is "" when it would say no more than the line."""
    lines = plan.lines()
    shared = shared_weights_lines(plan, keys, workers)
    details = "\n".join([*lines, *shared])
    if len(plan.waves) == 1 and len(plan.waves[0]) > 2 and len(lines) > 1:
        lines = [lines[0] + " (where each runs: hover here)", *lines[2:]]
    text = "\n".join([*lines, *shared])
    return text, details if details != text else ""


def fastest(speeds: Mapping[K, float]) -> K | None:
    """The key with the highest generation speed, when at least two answered (speed above 0)."""
    answered = {k: v for k, v in speeds.items() if v > 0}
    if len(answered) < 2:
        return None
    return max(answered, key=lambda k: answered[k])

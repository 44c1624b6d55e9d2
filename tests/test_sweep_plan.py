"""The sweep's plain-Python part: values as typed, one PaneSettings per value, the words around it."""

from __future__ import annotations

import pytest
from conftest import ARCH_0_6B, make_hardware

from explorer.chat.records import PaneMode, PaneSettings
from explorer.chat.sweep_plan import (
    SweepParam,
    SweepPlan,
    fastest,
    pane_ranges,
    parse_values,
    shared_weights_lines,
    sweep_settings,
)
from explorer.chat.templates import THINKING_PRESET
from explorer.fit.schedule import PaneRequest, plan_runs
from explorer.gguf.shape import estimate_shape


def test_values_are_parsed_and_checked_in_one_line() -> None:
    assert parse_values(SweepParam.TEMPERATURE, "0, 0.6 1.0;1.5") == (0.0, 0.6, 1.0, 1.5)
    assert parse_values(SweepParam.MODE, "chatroom, Free-form, FIM") == (PaneMode.CHATROOM, PaneMode.FREE_FORM,
                                                                       PaneMode.FIM)
    for param, text, says in ((SweepParam.TEMPERATURE, "0, -1", "temperature must be"),
                              (SweepParam.TEMPERATURE, "0, abc", "numbers, not 'abc'"),
                              (SweepParam.TOP_P, "0, 0.5", "top-p must be"),
                              (SweepParam.TEMPERATURE, "0.6", "at least two"),
                              (SweepParam.MODE, "chat, base", "unknown mode")):
        with pytest.raises(ValueError, match=says) as err:
            parse_values(param, text)
        assert "\n" not in str(err.value)


def test_each_pane_gets_its_value_and_the_one_seed() -> None:
    base = PaneSettings(seed=-1, system="Be brief.")
    out = sweep_settings(base, SweepPlan(SweepParam.TOP_P, (0.5, 1.0), seed=9), THINKING_PRESET)
    assert [s.sampling.top_p for s in out if s.sampling] == [0.5, 1.0]
    assert {s.sampling.temperature for s in out if s.sampling} == {0.6}
    assert {(s.seed, s.system) for s in out} == {(9, "Be brief.")}
    modes = sweep_settings(base, SweepPlan(SweepParam.MODE, (PaneMode.CHATROOM, PaneMode.FREE_FORM), 3),
                           THINKING_PRESET)
    assert [(s.mode, s.sampling, s.seed) for s in modes] == [(PaneMode.CHATROOM, None, 3),
                                                            (PaneMode.FREE_FORM, None, 3)]


def test_pane_ranges_and_the_fastest() -> None:
    assert pane_ranges([1, 2, 3, 4]) == "panes 1-4"
    assert pane_ranges([3, 1]) == "panes 1 and 3"
    assert pane_ranges([1, 2, 4]) == "panes 1-2 and 4"
    assert pane_ranges([2]) == "pane 2"
    assert fastest({"a": 10.0, "b": 30.0, "c": 0.0}) == "b"
    assert fastest({"a": 10.0, "b": 0.0}) is None  # one pane answered: nothing to compare


def test_the_plan_says_which_panes_share_a_worker_and_which_only_the_mapped_weights() -> None:
    shape = estimate_shape(ARCH_0_6B, "Q8_0")
    reqs = [PaneRequest(pane=n, label="Qwen3-0.6B Q8_0", key="/m/a.gguf", shape=shape, ctx=ctx)
            for n, ctx in ((1, 4096), (2, 4096), (3, 8192))]
    plan = plan_runs(reqs, make_hardware(ram_free=24, vram=None), cores=4)
    keys = {r.pane: r.key for r in reqs}
    assert shared_weights_lines(plan, keys) == [
        "Weights shared by panes 1-3: Qwen3-0.6B Q8_0 is mapped once and counted once"]
    workers = {r.pane: f"{r.key}|{r.ctx}" for r in reqs}  # pane 3's context differs: a worker of its own
    assert shared_weights_lines(plan, keys, workers) == [
        "One worker for panes 1-2 (Qwen3-0.6B Q8_0): in memory once, its weights read once per token for all"]

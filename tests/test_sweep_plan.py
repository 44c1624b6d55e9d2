"""The sweep's plain-Python part: values as typed, one PaneSettings per value, the words around it."""

from __future__ import annotations

import pytest

from explorer.chat.records import PaneMode, PaneSettings
from explorer.chat.sweep_plan import (
    SweepParam,
    SweepPlan,
    fastest,
    pane_ranges,
    parse_values,
    sweep_settings,
)
from explorer.chat.templates import THINKING_PRESET


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

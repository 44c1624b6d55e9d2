"""The chat run's order of loads, unloads and answers (`explorer.chat.waves`), without widgets."""

from __future__ import annotations

import pytest

from explorer.chat.waves import (
    Load,
    RunFinished,
    Send,
    Skip,
    SkipReason,
    Stop,
    Unload,
    Wait,
    WaveRunner,
)


class Panes:
    """Which panes have a model loaded: what the runner asks through `resident`."""

    def __init__(self, *loaded: str) -> None:
        self.loaded = list(loaded)

    def runner(self) -> WaveRunner[str]:
        return WaveRunner(resident=lambda: list(self.loaded))


def test_one_wave_with_nothing_loaded_sends_to_every_pane() -> None:
    r = Panes().runner()
    assert r.start([["a", "b"]]) == [Wait("a"), Send("a"), Wait("b"), Send("b")]
    assert r.running and r.answering == {"a", "b"}
    assert r.done("a") == []
    assert r.done("a") == []  # a second report changes nothing
    assert r.done("b") == [RunFinished()]
    assert not r.running and not r.busy


def test_one_wave_unloads_a_model_that_is_not_part_of_it_first() -> None:
    panes = Panes("c")
    r = panes.runner()
    assert r.start([["a"]]) == [Unload("c")]
    assert r.unloading == {"c"}
    assert r.done("a") == []  # not answering yet
    assert r.unloaded("c") == [Wait("a"), Send("a")]
    assert r.done("a") == [RunFinished()]


def test_two_waves_unload_the_first_before_the_second_loads() -> None:
    panes = Panes()
    r = panes.runner()
    assert r.start([["a", "b"], ["c"]]) == [Wait("c", ("a", "b")), Wait("a"), Send("a"), Wait("b"), Send("b")]
    panes.loaded = ["a", "b"]
    assert r.done("b") == []
    assert r.done("a") == [Unload("a"), Unload("b")]
    assert r.unloaded("a") == []
    assert r.unloaded("x") == []  # a pane the run is not waiting for
    assert r.unloaded("b") == [Wait("c"), Send("c")]
    assert r.done("c") == [RunFinished()]


def test_a_model_of_the_next_wave_that_is_loaded_already_stays() -> None:
    panes = Panes("b")
    r = panes.runner()
    assert r.start([["a"], ["b"]]) == [Wait("b", ("a",)), Unload("b")]
    panes.loaded = ["a"]
    assert r.unloaded("b") == [Wait("a"), Send("a")]
    panes.loaded = ["a"]
    assert r.done("a") == [Unload("a")]


def test_escape_during_a_wave_stops_it_and_skips_the_next() -> None:
    panes = Panes()
    r = panes.runner()
    r.start([["a", "b"], ["c"]])
    assert r.stop() == [Stop("a"), Stop("b")]
    assert r.cancelled
    assert r.stop() == []  # once
    assert r.done("a") == []
    assert r.done("b") == [Wait("c"), Skip("c", SkipReason.STOPPED), RunFinished()]


def test_escape_between_waves_while_the_first_unloads() -> None:
    panes = Panes()
    r = panes.runner()
    r.start([["a"], ["b"]])
    panes.loaded = ["a"]
    assert r.done("a") == [Unload("a")]
    assert r.stop() == []  # nothing answers now
    assert r.unloaded("a") == [Wait("b"), Skip("b", SkipReason.STOPPED), RunFinished()]
    assert not r.busy


def test_a_pane_closed_mid_run_is_no_longer_waited_for() -> None:
    panes = Panes()
    r = panes.runner()
    r.start([["a", "b"], ["c", "d"]])
    assert r.removed("b") == []  # a still answers
    panes.loaded = ["a"]
    assert r.removed("d") == []
    assert r.done("a") == [Unload("a")]
    assert r.unloaded("a") == [Wait("c"), Send("c")]  # d is gone: not sent
    assert r.removed("c") == [RunFinished()]


def test_closing_the_pane_a_wave_waits_to_unload_lets_the_wave_start() -> None:
    panes = Panes("x")
    r = panes.runner()
    assert r.start([["a"]]) == [Unload("x")]
    assert r.removed("x") == [Wait("a"), Send("a")]


def test_a_wave_whose_panes_are_all_gone_moves_on() -> None:
    panes = Panes()
    r = panes.runner()
    r.start([["a"], ["b"], ["c"]])
    r.removed("b")
    assert r.done("a") == [Wait("c"), Send("c")]


def test_reload_waits_for_the_other_waves_to_unload() -> None:
    panes = Panes("b", "c")
    r = panes.runner()
    assert r.reload("a", wave=["a", "c"]) == [Unload("b")]
    assert r.busy and r.unloading == {"b"}
    assert r.reload("a", wave=["a"]) == []  # one at a time
    with pytest.raises(RuntimeError):
        r.start([["a"]])
    assert r.unloaded("b") == [Load("a")]
    assert not r.busy


def test_reload_with_nothing_in_the_way_loads_at_once() -> None:
    r = Panes("a").runner()
    assert r.reload("a", wave=["a"]) == [Load("a")]


def test_reload_of_a_pane_closed_while_waiting_loads_nothing() -> None:
    panes = Panes("b")
    r = panes.runner()
    r.reload("a", wave=["a"])
    assert r.removed("a") == []
    assert r.unloaded("b") == []
    assert not r.busy


def test_late_events_after_the_run_do_nothing() -> None:
    r = Panes().runner()
    r.start([["a"]])
    r.done("a")
    assert r.done("a") == [] and r.unloaded("a") == [] and r.stop() == [] and r.removed("a") == []


def test_an_empty_plan_finishes_at_once() -> None:
    assert Panes().runner().start([]) == [RunFinished()]

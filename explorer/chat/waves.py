"""Which chat panes load, unload and answer in which order: the side-by-side chat's run, without Qt.

A run sends one prompt through the plan's waves (`explorer.fit.schedule.plan_runs`): the panes of a
wave answer at the same time; before a wave starts, every model that is loaded and not part of it
is unloaded, and the wave starts when the last of them says it has gone. The next wave starts when
every pane of the current one is done. Esc (`stop`) stops the running panes and runs no later wave;
a Reload (`reload`) unloads the other waves' models the same way before it loads its own.

`WaveRunner` is a plain state machine. Its methods take what happened (a pane is done, a pane's
model was unloaded, the person pressed Esc, a pane was closed) and return what to do next, as a
list of actions that the caller (the chat tab) carries out in order:

    runner = WaveRunner(resident=lambda: {p for p in panes if p.model_is_loaded})
    for action in runner.start([[p1, p2], [p3]]):
        ...  # Wait(p3, after=(p1, p2)), Send(p1), Send(p2)
    runner.done(p1); runner.done(p2)   # -> [Unload(p1), Unload(p2)]
    runner.unloaded(p1); runner.unloaded(p2)   # -> [Wait(p3, ()), Send(p3)]
    runner.done(p3)   # -> [RunFinished()]

A pane is any hashable key (the tab uses its pane widgets; the tests use strings).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar, Union

P = TypeVar("P", bound=Hashable)


@dataclass(frozen=True)
class Unload(Generic[P]):
    """Unload the pane's model (to make room); `unloaded(pane)` is expected back."""

    pane: P


@dataclass(frozen=True)
class Send(Generic[P]):
    """Load the pane's model where the plan puts it (unless it is loaded so already) and send the prompt;
    `done(pane)` is expected back."""

    pane: P


@dataclass(frozen=True)
class Load(Generic[P]):
    """Load the pane's model with no message (a Reload)."""

    pane: P


@dataclass(frozen=True)
class Stop(Generic[P]):
    """Stop the pane's answer; its `done(pane)` still comes."""

    pane: P


@dataclass(frozen=True)
class Wait(Generic[P]):
    """Show that the pane waits for the panes `after` (an empty `after`: it no longer waits)."""

    pane: P
    after: tuple[P, ...] = ()


class SkipReason(enum.Enum):
    STOPPED = "stopped"  # Esc before the pane's wave started


@dataclass(frozen=True)
class Skip(Generic[P]):
    """The pane's wave never started: say so in the pane."""

    pane: P
    reason: SkipReason


@dataclass(frozen=True)
class RunFinished:
    """Every pane of the run has ended (answered, failed, stopped or left out)."""


Action = Union[Unload[P], Send[P], Load[P], Stop[P], Wait[P], Skip[P], RunFinished]  # noqa: UP007


class _Then(enum.Enum):
    LAUNCH_WAVE = "launch"
    RELOAD = "reload"


@dataclass
class _Run(Generic[P]):
    waves: list[list[P]]
    wave: int = -1
    running: set[P] = field(default_factory=set)
    cancelled: bool = False


class WaveRunner(Generic[P]):
    """The run's state: which wave, which panes answer now, which models are being unloaded.

    `resident()` says which panes have a model loaded (or loading) now: those are the ones a wave
    start or a Reload unloads when they are not part of it.
    """

    def __init__(self, resident: Callable[[], Iterable[P]]) -> None:
        self._resident = resident
        self._run: _Run[P] | None = None
        self._unloading: set[P] = set()
        self._then: _Then | None = None
        self._reload: P | None = None
        self._gone: set[P] = set()  # panes closed since the run or the Reload began

    # --- what the caller reads ---------------------------------------------------------------

    @property
    def running(self) -> bool:
        """A run is going on (from `start` to its RunFinished)."""
        return self._run is not None

    @property
    def cancelled(self) -> bool:
        """Esc was pressed during the current run."""
        return self._run is not None and self._run.cancelled

    @property
    def unloading(self) -> frozenset[P]:
        """The panes whose models are being unloaded to make room (for a wave, or a Reload)."""
        return frozenset(self._unloading)

    @property
    def answering(self) -> frozenset[P]:
        """The panes of the current wave that have not finished."""
        return frozenset(self._run.running) if self._run is not None else frozenset()

    @property
    def busy(self) -> bool:
        """A run, or a Reload's unloading, is under way: no new run nor Reload can start."""
        return self._run is not None or bool(self._unloading)

    # --- events ------------------------------------------------------------------------------

    def start(self, waves: Sequence[Sequence[P]]) -> list[Action[P]]:
        """Begin a run of `waves` (each a list of panes that answer together)."""
        if self.busy:
            raise RuntimeError("a run or a reload is under way")
        run: _Run[P] = _Run([list(w) for w in waves])
        self._run = run
        self._gone = set()
        out: list[Action[P]] = []
        for i, wave in enumerate(run.waves[1:], 1):
            before = tuple(run.waves[i - 1])
            out += [Wait(pane, before) for pane in wave]
        return out + self._next_wave()

    def done(self, pane: P) -> list[Action[P]]:
        """The pane's answer ended (finished, failed or stopped)."""
        run = self._run
        if run is None or pane not in run.running:
            return []
        run.running.discard(pane)
        return [] if run.running else self._next_wave()

    def unloaded(self, pane: P) -> list[Action[P]]:
        """The pane's model is gone (after an Unload, or by itself)."""
        if pane not in self._unloading:
            return []
        self._unloading.discard(pane)
        if self._unloading:
            return []
        then, self._then = self._then, None
        if then is _Then.LAUNCH_WAVE:
            return self._launch_wave()
        if then is _Then.RELOAD:
            target, self._reload = self._reload, None
            return [Load(target)] if target is not None and target not in self._gone else []
        return []

    def stop(self) -> list[Action[P]]:
        """Esc: stop the panes answering now; no later wave starts."""
        run = self._run
        if run is None or run.cancelled:
            return []
        run.cancelled = True
        return [Stop(pane) for pane in run.waves[run.wave] if pane in run.running]

    def removed(self, pane: P) -> list[Action[P]]:
        """The pane was closed: it answers no more and nobody waits for its model."""
        self._gone.add(pane)
        out: list[Action[P]] = []
        if self._run is not None and pane in self._run.running:
            out += self.done(pane)
        if pane in self._unloading:
            out += self.unloaded(pane)
        return out

    def reload(self, pane: P, wave: Iterable[P]) -> list[Action[P]]:
        """Load `pane`'s model again, after unloading the models of every pane not in its `wave`."""
        if self.busy:
            return []
        self._gone = set()
        return self._unload_others(set(wave) | {pane}, _Then.RELOAD, reload=pane)

    # --- internals ---------------------------------------------------------------------------

    def _next_wave(self) -> list[Action[P]]:
        run = self._run
        assert run is not None
        run.wave += 1
        if run.cancelled or run.wave >= len(run.waves):
            return self._finish(run)
        return self._unload_others(set(run.waves[run.wave]), _Then.LAUNCH_WAVE)

    def _unload_others(self, members: set[P], then: _Then, reload: P | None = None) -> list[Action[P]]:
        waiting = [p for p in self._resident() if p not in members and p not in self._gone]
        self._reload = reload
        if not waiting:
            if then is _Then.LAUNCH_WAVE:
                return self._launch_wave()
            self._reload = None
            return [Load(reload)] if reload is not None else []
        self._unloading, self._then = set(waiting), then
        return [Unload(p) for p in waiting]

    def _launch_wave(self) -> list[Action[P]]:
        run = self._run
        assert run is not None
        if run.cancelled:  # Esc while the previous wave was unloading: this wave never starts
            return self._finish(run)
        out: list[Action[P]] = []
        for pane in run.waves[run.wave]:
            if pane in self._gone:
                continue
            run.running.add(pane)
            out += [Wait(pane), Send(pane)]
        return out if run.running else out + self._next_wave()

    def _finish(self, run: _Run[P]) -> list[Action[P]]:
        out: list[Action[P]] = []
        for wave in run.waves[max(run.wave, 0):]:
            for pane in wave:
                if pane not in run.running and pane not in self._gone:
                    out.append(Wait(pane))
                    if run.cancelled:
                        out.append(Skip(pane, SkipReason.STOPPED))
        self._run = None
        return [*out, RunFinished()]


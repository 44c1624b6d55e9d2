"""Chat panes on one model file share one worker: the pool that hands each pane its engine.

A pane asks the pool for a client (`EnginePool.client()`) and uses it as it would an `EngineClient`:
`start` loads, `generate` / `stop` / `poll` answer, `unload` lets go. What a start gets depends on what
the chat tab said is coming (`expect`): when several panes of one wave load the same file with the same
context and offload, the first start spawns one `MultiClient` worker with a lane (a llama.cpp sequence)
for each of them, and the others attach to its free lanes. Each token step then reads the weights once
for all of them (generation is memory-bound), and the model is in memory once, on a GPU too. A pane
that comes alone, or any pane while sharing is off, gets its own `EngineClient`, as before.

A worker ends when its last pane unloads. Different files never share a process, so a crash stays with
its file (every pane of that file sees `Crashed`; the next load starts a fresh worker).

Thread-safe: each pane drives its client from its own thread.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from explorer.engine.client import EngineClient
from explorer.engine.messages import Done, Event
from explorer.engine.multi import Lane, MultiClient
from explorer.fit.estimate import FLASH_ATTN

__all__ = ["EnginePool", "LoadKey", "LocalEngine", "PooledClient", "load_key", "loads_together"]


class LocalEngine(Protocol):
    """What a chat pane needs from its local engine (an `EngineClient`, or a pool's `PooledClient`)."""

    def start(self, path: str | Path, *, n_ctx: int, n_gpu_layers: int = ..., flash_attn: bool = ...,
              n_threads: int | None = ...) -> None: ...
    def unload(self, timeout: float = ...) -> None: ...
    def close(self) -> None: ...
    @property
    def alive(self) -> bool: ...
    @property
    def loaded(self) -> bool: ...
    @property
    def pid(self) -> int | None: ...
    def generate(self, request_id: str, prompt: str, *, max_tokens: int, temperature: float = ...,
                 top_p: float = ..., top_k: int = ..., min_p: float = ..., seed: int = ...,
                 stop: list[str] | None = ..., raw: bool = ..., fim: tuple[str, str] | None = ...,
                 presence_penalty: float = ..., repeat_penalty: float = ...) -> None: ...
    def stop(self) -> None: ...
    def poll(self, timeout: float | None = ...) -> list[Event]: ...
    def idle_waitables(self) -> list[Any] | None: ...


@dataclass(frozen=True)
class LoadKey:
    """What must be equal for panes to share a worker: the file and how it is loaded."""

    path: str  # resolved
    n_ctx: int  # per pane
    n_gpu_layers: int
    flash_attn: bool


def load_key(path: str | Path, n_ctx: int, n_gpu_layers: int = 0, flash_attn: bool = FLASH_ATTN) -> LoadKey:
    return LoadKey(str(Path(path).resolve()), n_ctx, n_gpu_layers, flash_attn)


def loads_together(waves: Sequence[Sequence[tuple[LoadKey, int | None]]]) -> dict[LoadKey, tuple[int, int | None]]:
    """What `EnginePool.expect` takes, from each wave's loads (key, threads; the panes that load, not
    those that have the model loaded already): per key, how many panes of its first wave load it and
    their threads in all (None when any pane leaves it to the worker)."""
    out: dict[LoadKey, tuple[int, int | None]] = {}
    for wave in waves:
        counts: dict[LoadKey, list[int | None]] = {}
        for key, threads in wave:
            counts.setdefault(key, []).append(threads)
        for key, threads_list in counts.items():
            if key not in out:
                total = None if None in threads_list else sum(t for t in threads_list if t is not None)
                out[key] = (len(threads_list), total)
    return out


@dataclass
class _Expected:
    panes: int
    n_threads: int | None


class _Group:
    """One shared worker and which of its lanes are taken."""

    def __init__(self, key: LoadKey, multi: MultiClient) -> None:
        self.key = key
        self.multi = multi
        self.free = list(range(multi.n_seq))
        self.taken: set[int] = set()

    @property
    def usable(self) -> bool:
        """Loading or loaded; not failed, crashed or unloaded."""
        return self.multi.alive


def _with_spare() -> EngineClient:
    return EngineClient(spare=True)


class EnginePool:
    """Hands out pane engines; panes that load one file together share a worker (see the module doc)."""

    def __init__(self, *, share: bool = True, single: Callable[[], EngineClient] = _with_spare,
                 multi: Callable[[int], MultiClient] = MultiClient) -> None:
        """`single` makes a lone pane's engine: by default one that keeps a spare worker ready (llama_cpp
        imported), so switching the pane's model skips a process start."""
        self.share = share  # read at each start: a change applies to the next load
        self._single = single
        self._multi = multi
        self._lock = threading.Lock()
        self._expected: dict[LoadKey, _Expected] = {}
        self._groups: list[_Group] = []

    def client(self) -> PooledClient:
        return PooledClient(self)

    def expect(self, groups: Mapping[LoadKey, tuple[int, int | None]]) -> None:
        """What the next loads will be: per key, how many panes load it together and their threads in
        all (None: every core). Replaces what was expected before."""
        with self._lock:
            self._expected = {k: _Expected(n, t) for k, (n, t) in groups.items() if n > 0}

    def workers(self) -> list[tuple[LoadKey, int, int]]:
        """Each shared worker: its key, its lanes, the lanes in use."""
        with self._lock:
            return [(g.key, g.multi.n_seq, len(g.taken)) for g in self._groups]

    def close(self) -> None:
        with self._lock:
            groups, self._groups = self._groups, []
        for g in groups:
            with contextlib.suppress(Exception):
                g.multi.close()

    # --- the clients' side -------------------------------------------------------------------------

    def _attach(self, key: LoadKey, n_threads: int | None) -> tuple[_Group, Lane] | None:
        """A lane for `key`: a free one of a worker that is loading or loaded, or one of a new worker
        made for the panes expected; None: this pane runs alone."""
        with self._lock:
            if not self.share:
                return None
            dead = [g for g in self._groups if not g.usable and not g.taken]
            self._groups = [g for g in self._groups if g not in dead]
            for g in dead:  # crashed or failed, and no pane left on it: already ended, closing is quick
                g.multi.close()
            group = next((g for g in self._groups if g.key == key and g.free and g.usable), None)
            if group is None:
                want = self._expected.pop(key, None)
                if want is None or want.panes < 2:
                    return None
                group = _Group(key, self._multi(want.panes))
                self._groups.append(group)
                group.multi.start(key.path, n_ctx=key.n_ctx, n_gpu_layers=key.n_gpu_layers,
                                  flash_attn=key.flash_attn, n_threads=want.n_threads or n_threads)
            index = group.free.pop(0)
            group.taken.add(index)
            return group, group.multi.lane(index)

    def _detach(self, group: _Group, lane: Lane) -> None:
        with self._lock:
            group.taken.discard(lane.index)
            group.free.append(lane.index)
            group.free.sort()
            last = not group.taken
            if last and group in self._groups:
                self._groups.remove(group)
        if last:
            group.multi.close()  # the worker's last pane: the model leaves memory
        else:
            lane.release()


class PooledClient:
    """One pane's engine from an `EnginePool`: its own worker, or a lane of a shared one."""

    def __init__(self, pool: EnginePool) -> None:
        self._pool = pool
        self._single: EngineClient | None = None
        self._group: _Group | None = None
        self._lane: Lane | None = None
        self._replay: deque[Event] = deque()  # a shared worker's Loaded, for a pane that came after it

    @property
    def shared(self) -> bool:
        """This pane answers through a lane of a shared worker."""
        return self._lane is not None

    def start(self, path: str | Path, *, n_ctx: int, n_gpu_layers: int = 0, flash_attn: bool = FLASH_ATTN,
              n_threads: int | None = None) -> None:
        self.unload()
        key = load_key(path, n_ctx, n_gpu_layers, flash_attn)
        got = self._pool._attach(key, n_threads)
        if got is None:
            if self._single is None:
                self._single = self._pool._single()
            self._single.start(path, n_ctx=n_ctx, n_gpu_layers=n_gpu_layers, flash_attn=flash_attn,
                               n_threads=n_threads)
            return
        self._group, self._lane = got
        self._lane.poll(0)  # what the lane heard before this pane came (another pane's load) is not its news
        loaded = self._group.multi.load_event
        if loaded is not None:  # it will not come again: say it now (the load took no time for this pane)
            self._lane.poll(0)
            self._replay.append(replace(loaded, load_seconds=0.0))

    def unload(self, timeout: float = 5.0) -> None:
        self._replay.clear()
        if self._single is not None:
            self._single.unload(timeout)
        group, lane = self._group, self._lane
        self._group = self._lane = None
        if group is not None and lane is not None:
            self._pool._detach(group, lane)

    def close(self) -> None:
        """Unload, and end the spare worker a lone pane's engine keeps (the pane is gone)."""
        self.unload()
        if self._single is not None:
            self._single.close()

    def _target(self) -> EngineClient | Lane | None:
        return self._lane if self._lane is not None else self._single

    @property
    def alive(self) -> bool:
        t = self._target()
        return t is not None and t.alive

    @property
    def loaded(self) -> bool:
        t = self._target()
        return t is not None and t.loaded

    @property
    def pid(self) -> int | None:
        t = self._target()
        return t.pid if t is not None else None

    def generate(self, request_id: str, prompt: str, *, max_tokens: int, temperature: float = 0.7,
                 top_p: float = 0.8, top_k: int = 20, min_p: float = 0.0, seed: int = 0,
                 stop: list[str] | None = None, raw: bool = False, fim: tuple[str, str] | None = None,
                 presence_penalty: float = 0.0, repeat_penalty: float = 1.0) -> None:
        t = self._target()
        if t is None:
            t = self._single = self._pool._single()  # not started: it answers "no model is loaded"
        t.generate(request_id, prompt, max_tokens=max_tokens, temperature=temperature, top_p=top_p, top_k=top_k,
                   min_p=min_p, seed=seed, stop=stop, raw=raw, fim=fim, presence_penalty=presence_penalty,
                   repeat_penalty=repeat_penalty)

    def prefill(self, prompt: str) -> None:
        """What the next turn will start with, decoded while the person reads (no event comes back)."""
        t = self._target()
        if t is not None:
            t.prefill(prompt)

    def stop(self) -> None:
        t = self._target()
        if t is not None:
            t.stop()

    def poll(self, timeout: float | None = 0.0) -> list[Event]:
        t = self._target()
        if self._replay:
            out = list(self._replay)
            self._replay.clear()
            return out + (t.poll(0) if t is not None else [])
        events = t.poll(timeout) if t is not None else []
        if self._lane is not None and self._single is None and any(isinstance(e, Done) for e in events):
            # The lane's first answer is over: a process for this pane's next model waits from now on,
            # as a lone pane's does (the shared worker stays the others').
            self._single = self._pool._single()
            self._single.prepare_spare()
        return events

    def idle_waitables(self) -> list[Any] | None:
        if self._replay:
            return None
        t = self._target()
        return t.idle_waitables() if t is not None else []

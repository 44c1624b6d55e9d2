"""The engine pool: panes expected to load one file together share one worker; anything else runs alone.

Real workers (llama.cpp on the tiny generated models); what is checked is which process serves which
pane, that each pane hears its own answers and load, and what an unload or a crash does to the others.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from explorer.engine.client import EngineClient
from explorer.engine.messages import Crashed, Done, Event, Loaded, LoadFailed, Tokens
from explorer.engine.pool import EnginePool, PooledClient, load_key
from explorer.testing.models import ensure_model

pytestmark = pytest.mark.llama

MODEL = "qwen3-tiny-instruct-q8_0"
OTHER = "qwen3-tiny-hybrid-q8_0"
N_CTX = 256
PROMPT = "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"


@pytest.fixture
def pool() -> Iterator[EnginePool]:
    p = EnginePool()
    clients: list[PooledClient] = []
    orig = p.client

    def client() -> PooledClient:
        c = orig()
        clients.append(c)
        return c

    p.client = client  # type: ignore[method-assign]
    yield p
    for c in clients:
        c.unload()
    p.close()


def events_until(client: PooledClient, want: type, timeout: float = 60) -> list[Event]:
    got: list[Event] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ev in client.poll(0.2):
            got.append(ev)
            if isinstance(ev, (want, LoadFailed, Crashed)):
                return got
    pytest.fail(f"no {want.__name__} in {timeout} s: {got!r}")


def loaded(client: PooledClient) -> Loaded:
    ev = events_until(client, Loaded)[-1]
    assert isinstance(ev, Loaded), ev
    return ev


def ask(client: PooledClient, rid: str, **kw: Any) -> tuple[str, Done]:
    client.generate(rid, PROMPT, max_tokens=8, temperature=0.0, **kw)
    evs = events_until(client, Done)
    done = evs[-1]
    assert isinstance(done, Done) and done.request_id == rid, evs
    assert all(e.request_id == rid for e in evs if isinstance(e, (Tokens, Done)))
    return "".join(e.text for e in evs if isinstance(e, Tokens)), done


def expect(pool: EnginePool, name: str, panes: int) -> None:
    pool.expect({load_key(ensure_model(name), N_CTX): (panes, 2)})


def spare_of(client: PooledClient) -> tuple[EngineClient, int | None]:
    """The pane's own engine and the pid of its spare worker, once it has started (None: none in 30 s)."""
    single = client._single
    assert single is not None
    deadline = time.monotonic() + 30
    while single.spare_pid is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return single, single.spare_pid


def two_loaded(pool: EnginePool) -> tuple[PooledClient, PooledClient, int]:
    """Two panes expected together on MODEL, loaded: they and their worker's pid."""
    expect(pool, MODEL, 2)
    a, b = pool.client(), pool.client()
    for x in (a, b):
        x.start(ensure_model(MODEL), n_ctx=N_CTX)
        loaded(x)
    assert a.pid is not None and a.pid == b.pid
    return a, b, a.pid


def test_panes_expected_together_share_one_worker_and_answer_alike(pool: EnginePool) -> None:
    expect(pool, MODEL, 2)
    a, b = pool.client(), pool.client()
    a.start(ensure_model(MODEL), n_ctx=N_CTX)
    first = loaded(a)
    b.start(ensure_model(MODEL), n_ctx=N_CTX)  # after the load: its Loaded is said again, for it
    again = loaded(b)
    assert a.shared and b.shared and a.pid == b.pid is not None
    assert again.n_ctx == first.n_ctx == N_CTX and again.load_seconds == 0.0
    assert [(n, used) for _, n, used in pool.workers()] == [(2, 2)]
    text_a, _ = ask(a, "a")
    text_b, _ = ask(b, "b")
    assert text_a == text_b and text_a  # one file, greedy, one prompt: one answer
    assert a.poll(0) == [] and b.poll(0) == []


def test_a_pane_nobody_expected_and_other_files_run_alone(pool: EnginePool) -> None:
    expect(pool, MODEL, 2)
    a, b, c = pool.client(), pool.client(), pool.client()
    a.start(ensure_model(OTHER), n_ctx=N_CTX)  # another file than the one expected
    b.start(ensure_model(MODEL), n_ctx=N_CTX)
    c.start(ensure_model(MODEL), n_ctx=N_CTX)
    for x in (a, b, c):
        loaded(x)
    assert not a.shared and b.shared and c.shared
    assert len({a.pid, b.pid}) == 2 and b.pid == c.pid
    d = pool.client()  # a third pane on the file: the worker has no lane left, it runs alone
    d.start(ensure_model(MODEL), n_ctx=N_CTX)
    loaded(d)
    assert not d.shared and d.pid not in (a.pid, b.pid)
    assert ask(d, "d")[0] == ask(b, "b")[0]


def test_sharing_off_gives_every_pane_its_own_worker(pool: EnginePool) -> None:
    pool.share = False
    expect(pool, MODEL, 2)
    a, b = pool.client(), pool.client()
    for x in (a, b):
        x.start(ensure_model(MODEL), n_ctx=N_CTX)
        loaded(x)
    assert not a.shared and not b.shared and a.pid != b.pid and pool.workers() == []


def test_one_pane_leaving_leaves_the_other_answering_and_the_last_ends_the_worker(pool: EnginePool) -> None:
    a, b, pid = two_loaded(pool)
    b.generate("long", PROMPT, max_tokens=100_000, temperature=0.7, seed=3)
    events_until(b, Tokens)
    a.unload()
    assert not a.alive and a.pid is None
    assert [(n, used) for _, n, used in pool.workers()] == [(2, 1)]
    b.stop()
    assert events_until(b, Done)[-1].reason == "stopped"  # type: ignore[union-attr]
    assert ask(b, "after")[1].n_tokens > 0
    # the freed lane takes a new pane (no new process); its first turn starts from empty cells
    a.start(ensure_model(MODEL), n_ctx=N_CTX)
    loaded(a)
    assert a.pid == pid
    _, done = ask(a, "new")
    assert done.prompt_eval_tokens == done.n_prompt_tokens
    a.unload()
    b.unload()
    assert pool.workers() == []
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_crash_reaches_each_pane_of_the_file_and_a_new_load_starts_afresh(pool: EnginePool) -> None:
    a, b, pid = two_loaded(pool)
    os.kill(pid, signal.SIGKILL)
    for x in (a, b):
        crash = events_until(x, Crashed)[-1]
        assert isinstance(crash, Crashed) and not x.alive
    expect(pool, MODEL, 2)
    for x in (a, b):
        x.start(ensure_model(MODEL), n_ctx=N_CTX)
        loaded(x)
    assert a.pid == b.pid and a.pid != pid
    assert ask(a, "a")[1].n_tokens > 0


def test_a_lone_pane_switches_models_through_a_spare_worker_and_close_ends_it(pool: EnginePool) -> None:
    a = pool.client()
    a.start(ensure_model(OTHER), n_ctx=N_CTX)
    loaded(a)
    first = a.pid
    ask(a, "one")  # the spare starts once the worker is first idle, not during the load or the answer
    single, spare = spare_of(a)
    assert spare is not None and spare != first
    a.start(ensure_model(MODEL), n_ctx=N_CTX)  # the pane's next model loads in the waiting process
    loaded(a)
    assert a.pid == spare
    a.close()
    assert a.pid is None and single.spare_pid is None
    for pid in (first, spare):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_pane_on_a_shared_worker_switches_through_a_spare_too(pool: EnginePool) -> None:
    a, b, shared = two_loaded(pool)
    ask(a, "one")  # after the lane's first answer the pane keeps a process ready for its next model
    _, spare = spare_of(a)
    assert spare is not None and spare != shared
    a.start(ensure_model(OTHER), n_ctx=N_CTX)  # another file: alone, in the waiting process
    loaded(a)
    assert not a.shared and a.pid == spare
    assert b.pid == shared and ask(b, "b")[1].n_tokens > 0  # the other pane keeps the shared worker


def test_loads_together_counts_each_keys_panes_in_its_first_wave() -> None:
    from explorer.engine.pool import loads_together

    a, b = load_key("/m/a.gguf", 4096), load_key("/m/b.gguf", 4096)
    waves = [[(a, 1), (a, 1), (b, None)], [(a, 2), (b, 1), (b, 1)]]
    # a: 2 panes in wave 1 (its later wave is left to that worker); b: one pane, all cores in wave 1
    assert loads_together(waves) == {a: (2, 2), b: (1, None)}
    assert loads_together([[], [(b, 1), (b, 1)]]) == {b: (2, 2)}

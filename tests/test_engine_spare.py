"""The spare worker of `EngineClient(spare=True)`: a started process with llama_cpp imported that the next
`start` hands its model to. It must change nothing but the time: every model still gets a process of
its own, a dead spare or a crashed worker is handled as before, and `close` leaves nothing running."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from explorer.engine.client import Crashed, Done, EngineClient, Event, Loaded, LoadFailed, Tokens, rss_bytes
from explorer.testing.models import ensure_model

pytestmark = pytest.mark.llama

PROMPT = "<|im_start|>user\nTell me a story.<|im_end|>\n<|im_start|>assistant\n"
TINY = "qwen3-tiny-hybrid-q8_0"
OTHER = "qwen3-tiny-instruct-q8_0"


@pytest.fixture
def client() -> Iterator[EngineClient]:
    c = EngineClient(spare=True)
    yield c
    c.close()


def wait_for(client: EngineClient, pred: Callable[[Event], bool], timeout: float = 30) -> list[Event]:
    deadline = time.monotonic() + timeout
    got: list[Event] = []
    while time.monotonic() < deadline:
        for ev in client.poll(0.2):
            got.append(ev)
            if pred(ev):
                return got
    pytest.fail(f"no matching event in {timeout} s; got {got!r}")


def load(client: EngineClient, path: Path) -> Event:
    client.start(path, n_ctx=512, n_threads=1)
    return wait_for(client, lambda e: isinstance(e, (Loaded, LoadFailed, Crashed)))[-1]


def answer(client: EngineClient, rid: str) -> tuple[str, Done]:
    client.generate(rid, PROMPT, max_tokens=24, temperature=0.0, seed=1)
    evs = wait_for(client, lambda e: isinstance(e, Done))
    done = evs[-1]
    assert isinstance(done, Done) and done.request_id == rid
    return "".join(e.text for e in evs if isinstance(e, Tokens)), done


def gone(pid: int, *, or_zombie: bool = False) -> bool:
    """The process has ended within 10 s (reaped; or, with `or_zombie`, at least dead and not yet reaped)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if or_zombie and state == "Z":
            return True
        time.sleep(0.05)
    return False


def test_the_next_model_loads_in_the_spare_and_answers_as_a_fresh_worker_does(client: EngineClient) -> None:
    assert isinstance(load(client, ensure_model(TINY)), Loaded)
    assert client.spare_pid is None  # not during the load or the first answer: it would take their CPU
    answer(client, "a")
    spare = client.spare_pid
    assert spare is not None and spare != client.pid and client.spare_ready(timeout=30)
    first = client.pid
    assert first is not None

    assert isinstance(load(client, ensure_model(OTHER)), Loaded)
    assert client.pid == spare  # the spare became the model's worker ...
    assert gone(first)  # ... and the old model's process ended, as without a spare
    text, done = answer(client, "b")
    with EngineClient() as fresh:  # the same file in a worker started the usual way writes the same
        assert isinstance(load(fresh, ensure_model(OTHER)), Loaded)
        fresh_text, fresh_done = answer(fresh, "b")
    assert (text, done.n_tokens, done.n_prompt_tokens) == (fresh_text, fresh_done.n_tokens, fresh_done.n_prompt_tokens)
    assert client.spare_pid not in (None, spare, client.pid)  # the next spare, started after that answer


def test_a_dead_spare_is_replaced_by_a_fresh_start(client: EngineClient) -> None:
    load(client, ensure_model(TINY))
    answer(client, "a")
    spare = client.spare_pid
    assert spare is not None and client.spare_ready(timeout=30)
    os.kill(spare, signal.SIGKILL)
    assert gone(spare, or_zombie=True)
    assert isinstance(load(client, ensure_model(OTHER)), Loaded)  # no Crashed: the spare was never a model's
    assert client.pid not in (None, spare)
    _, done = answer(client, "b")
    assert done.reason in ("stop", "length") and done.n_tokens > 0


def test_a_crashed_worker_leaves_the_spare_and_the_next_load_uses_it(client: EngineClient) -> None:
    load(client, ensure_model(TINY))
    answer(client, "a")
    spare, worker = client.spare_pid, client.pid
    assert spare is not None and worker is not None and client.spare_ready(timeout=30)
    os.kill(worker, signal.SIGKILL)
    crash = wait_for(client, lambda e: isinstance(e, Crashed))[-1]
    assert isinstance(crash, Crashed) and crash.exitcode == -signal.SIGKILL
    assert client.spare_pid == spare and rss_bytes(spare) is not None  # the crash ended that process only
    assert isinstance(load(client, ensure_model(TINY)), Loaded)
    assert client.pid == spare
    _, done = answer(client, "b")
    assert done.n_tokens > 0


def test_a_failed_load_in_the_spare_is_a_load_failure_and_a_good_file_loads_next(client: EngineClient,
                                                                                  tmp_path: Path) -> None:
    load(client, ensure_model(TINY))
    answer(client, "a")
    assert client.spare_ready(timeout=30)
    bad = tmp_path / "broken.gguf"
    data = ensure_model(TINY).read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    failed = load(client, bad)
    assert isinstance(failed, LoadFailed) and "llama_model_load" in failed.message
    assert not client.alive
    assert client.spare_pid is not None  # a pane whose load failed usually picks another file
    assert isinstance(load(client, ensure_model(OTHER)), Loaded)
    _, done = answer(client, "b")
    assert done.n_tokens > 0


def test_unload_keeps_the_spare_and_close_ends_everything() -> None:
    c = EngineClient(spare=True)
    try:
        load(c, ensure_model(TINY))
        answer(c, "a")
        worker, spare = c.pid, c.spare_pid
        assert worker is not None and spare is not None
        c.unload()
        assert gone(worker) and c.pid is None
        assert c.spare_pid == spare and rss_bytes(spare) is not None
    finally:
        c.close()
    assert c.spare_pid is None and gone(spare)


def test_a_client_without_a_spare_starts_none() -> None:
    with EngineClient() as c:
        load(c, ensure_model(TINY))
        answer(c, "a")
        assert c.spare_pid is None and not c.spare_ready()

"""The engine's worker process with real llama.cpp: loading, streaming, stop, crashes, unloading."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from explorer.engine.client import (
    Crashed,
    Done,
    EngineClient,
    Event,
    Loaded,
    LoadFailed,
    LoadProgress,
    Tokens,
    crash_message,
    rss_bytes,
)
from explorer.testing.models import ensure_model

pytestmark = pytest.mark.llama

PROMPT = "<|im_start|>user\nTell me a long story.<|im_end|>\n<|im_start|>assistant\n"
TINY = "qwen3-tiny-hybrid-q8_0"
BIG = "qwen3-fit-dense-f16"  # 84 MB, slow enough on CPU to stop mid-generation


@pytest.fixture
def clients() -> Iterator[Callable[[], EngineClient]]:
    made: list[EngineClient] = []

    def make() -> EngineClient:
        made.append(EngineClient())
        return made[-1]

    yield make
    for c in made:
        c.unload(timeout=2)


def wait_for(client: EngineClient, pred: Callable[[Event], bool], timeout: float = 20) -> list[Event]:
    """Events up to and including the first that matches `pred`; fails the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    got: list[Event] = []
    while time.monotonic() < deadline:
        for ev in client.poll(min(0.2, max(0.0, deadline - time.monotonic()))):
            got.append(ev)
            if pred(ev):
                return got
    pytest.fail(f"no matching event in {timeout} s; got {got!r}")


def load(client: EngineClient, name: str, n_ctx: int = 512) -> Loaded:
    client.start(ensure_model(name), n_ctx=n_ctx, n_threads=2)
    ev = wait_for(client, lambda e: isinstance(e, (Loaded, LoadFailed, Crashed)))[-1]
    assert isinstance(ev, Loaded), ev
    return ev


def run(client: EngineClient, rid: str, max_tokens: int = 64, timeout: float = 20) -> tuple[list[Event], Done]:
    client.generate(rid, PROMPT, max_tokens=max_tokens, temperature=0.7, top_p=0.8, top_k=20, min_p=0.0, seed=1)
    evs = wait_for(client, lambda e: isinstance(e, Done), timeout)
    done = evs[-1]
    assert isinstance(done, Done)
    return evs[:-1], done


def test_load_and_stream(clients: Callable[[], EngineClient]) -> None:
    c = clients()
    loaded = load(c, TINY)
    assert loaded.n_ctx == 512 and loaded.load_seconds > 0
    assert c.alive and c.loaded and c.pid
    toks, done = run(c, "r1", max_tokens=200)
    assert toks and all(isinstance(e, Tokens) and e.request_id == "r1" for e in toks)
    assert done.request_id == "r1" and done.reason in ("stop", "length")
    assert done.n_tokens > 0 and done.ttft_s > 0 and done.tokens_per_s > 0 and done.n_prompt_tokens > 5
    assert sum(e.n_tokens for e in toks if isinstance(e, Tokens)) == done.n_tokens
    assert len(toks) < done.n_tokens or done.n_tokens <= 2  # batched, not one message per token
    print(f"\n{TINY}: load {loaded.load_seconds * 1000:.0f} ms, TTFT {done.ttft_s * 1000:.1f} ms, "
          f"{done.tokens_per_s:.0f} tok/s, {done.n_tokens} tokens in {len(toks)} messages")
    # the same seed gives the same text; a second request on the same worker works
    text1 = "".join(e.text for e in toks if isinstance(e, Tokens))
    toks2, done2 = run(c, "r2", max_tokens=200)
    assert "".join(e.text for e in toks2 if isinstance(e, Tokens)) == text1 and done2.n_tokens == done.n_tokens


def test_ctrl_c_in_the_terminal_does_not_end_the_worker(clients: Callable[[], EngineClient]) -> None:
    """Ctrl+C sends SIGINT to the whole process group: the worker ignores it (the parent stops an answer
    through its stop flag), so the next message still works."""
    c = clients()
    load(c, TINY)
    assert c.pid is not None
    for when in ("while it waits for a request", "while it answers (or just after)"):
        if when.startswith("while it answers"):
            c.generate("during", PROMPT, max_tokens=64, temperature=0.7, top_p=0.8, top_k=20, min_p=0.0, seed=1)
        os.kill(c.pid, signal.SIGINT)
        if when.startswith("while it waits"):
            c.generate("after", PROMPT, max_tokens=16, temperature=0.7, top_p=0.8, top_k=20, min_p=0.0, seed=1)
        end = wait_for(c, lambda e: isinstance(e, (Done, Crashed)))[-1]
        assert isinstance(end, Done), (when, end)
    _, again = run(c, "next", max_tokens=8)
    assert again.n_tokens > 0 and c.alive


def test_max_tokens_gives_length(clients: Callable[[], EngineClient]) -> None:
    c = clients()
    load(c, BIG, n_ctx=1024)
    _, done = run(c, "r", max_tokens=5)
    assert done.reason == "length" and done.n_tokens == 5


def test_stop_during_generation(clients: Callable[[], EngineClient]) -> None:
    c = clients()
    load(c, BIG, n_ctx=4096)
    c.generate("long", PROMPT, max_tokens=2000, temperature=0.7, top_p=0.8, top_k=20, min_p=0.0, seed=3)
    wait_for(c, lambda e: isinstance(e, Tokens))
    wait_for(c, lambda e: isinstance(e, Tokens))  # a second batch: the answer is well under way
    t0 = time.perf_counter()
    c.stop()
    done = wait_for(c, lambda e: isinstance(e, Done), timeout=10)[-1]
    latency = time.perf_counter() - t0
    assert isinstance(done, Done)
    print(f"\n{BIG}: stop latency {latency * 1000:.1f} ms after {done.n_tokens} tokens; "
          f"TTFT {done.ttft_s * 1000:.1f} ms, {done.tokens_per_s:.0f} tok/s")
    assert done.reason == "stopped"
    assert done.n_tokens < 1000
    assert latency < 2.0
    # the flag does not leak into the next request
    _, again = run(c, "next", max_tokens=8)
    assert again.reason == "length" and again.n_tokens == 8


def test_two_clients_concurrently(clients: Callable[[], EngineClient]) -> None:
    a, b = clients(), clients()
    a.start(ensure_model(TINY), n_ctx=512, n_threads=1)
    b.start(ensure_model("qwen3moe-tiny-coder-q8_0"), n_ctx=512, n_threads=1)
    for c in (a, b):
        assert isinstance(wait_for(c, lambda e: isinstance(e, (Loaded, LoadFailed, Crashed)))[-1], Loaded)
    assert a.pid != b.pid
    for c, rid in ((a, "a"), (b, "b")):
        c.generate(rid, PROMPT, max_tokens=300, temperature=0.7, top_p=0.8, top_k=20, min_p=0.0, seed=1)
    done_a = wait_for(a, lambda e: isinstance(e, Done))[-1]
    done_b = wait_for(b, lambda e: isinstance(e, Done))[-1]
    assert isinstance(done_a, Done) and isinstance(done_b, Done)
    assert (done_a.request_id, done_b.request_id) == ("a", "b")
    assert done_a.n_tokens > 0 and done_b.n_tokens > 0


def test_corrupt_gguf_fails_cleanly(clients: Callable[[], EngineClient], tmp_path: Path) -> None:
    good = ensure_model(TINY)
    bad = tmp_path / "broken.gguf"
    data = good.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    c = clients()
    c.start(bad, n_ctx=512)
    ev = wait_for(c, lambda e: isinstance(e, (Loaded, LoadFailed, Crashed)))[-1]
    assert isinstance(ev, LoadFailed), ev
    assert "llama_model_load" in ev.message  # llama.cpp's own words, not just the Python wrapper's
    print(f"\nLoadFailed: {ev.message!r}")
    assert not c.alive
    load(c, TINY)  # the same client loads a good file afterwards
    _, done = run(c, "ok", max_tokens=10)
    assert done.n_tokens > 0


def test_sigkill_mid_generation_is_a_crash_event(clients: Callable[[], EngineClient]) -> None:
    c = clients()
    load(c, BIG, n_ctx=4096)
    c.generate("doomed", PROMPT, max_tokens=2000, temperature=0.7, top_p=0.8, top_k=20, min_p=0.0, seed=1)
    wait_for(c, lambda e: isinstance(e, Tokens))
    pid = c.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    crash = wait_for(c, lambda e: isinstance(e, Crashed), timeout=10)[-1]
    assert isinstance(crash, Crashed)
    assert crash.exitcode == -signal.SIGKILL
    assert "SIGKILL" in crash.message and "Load the model again" in crash.message
    assert not c.alive
    assert c.poll(0.1) == []  # reported once
    c.generate("after", PROMPT, max_tokens=5)  # no exception either
    assert [type(e) for e in c.poll(0)] == [Done]
    load(c, TINY)
    _, done = run(c, "again", max_tokens=10)
    assert done.n_tokens > 0 and c.pid != pid


def test_segfault_message_tells_how_to_rebuild() -> None:
    msg = crash_message(-11)
    assert "SIGSEGV" in msg and "AMX" in msg and "-DGGML_NATIVE=OFF" in msg and "Load the model again" in msg
    assert "AMX" not in crash_message(-9)
    assert "loading" in crash_message(1, loading=True)


def test_unload_ends_the_process_and_frees_memory(clients: Callable[[], EngineClient]) -> None:
    size = ensure_model(BIG).stat().st_size
    parent_before = rss_bytes(os.getpid())
    c = clients()
    load(c, BIG, n_ctx=1024)
    run(c, "warm", max_tokens=4)  # touches every weight
    pid = c.pid
    assert pid is not None
    loaded_rss = rss_bytes(pid)
    assert loaded_rss is not None and loaded_rss > size
    c.unload()
    assert not c.alive and c.pid is None
    assert rss_bytes(pid) is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    parent_after = rss_bytes(os.getpid())
    assert parent_before is not None and parent_after is not None
    assert parent_after - parent_before < size / 2  # the model lived in the child only
    print(f"\nworker RSS loaded {loaded_rss / 2**20:.0f} MiB (model file {size / 2**20:.0f} MiB); "
          f"parent RSS {parent_before / 2**20:.0f} -> {parent_after / 2**20:.0f} MiB; worker gone after unload")


def test_unload_during_generation(clients: Callable[[], EngineClient]) -> None:
    c = clients()
    load(c, BIG, n_ctx=4096)
    c.generate("x", PROMPT, max_tokens=2000, seed=1)
    wait_for(c, lambda e: isinstance(e, Tokens))
    t0 = time.perf_counter()
    c.unload(timeout=3)
    assert time.perf_counter() - t0 < 3
    assert not c.alive and c.poll(0) == []


def test_stop_string_cuts_the_text(clients: Callable[[], EngineClient]) -> None:
    c = clients()
    load(c, TINY)
    toks, _ = run(c, "free", max_tokens=200)
    text = "".join(e.text for e in toks if isinstance(e, Tokens))
    marker = text[40:44] if len(text) >= 44 else text[-4:]
    assert marker
    c.generate("cut", PROMPT, max_tokens=200, temperature=0.7, top_p=0.8, top_k=20, min_p=0.0, seed=1,
               stop=[marker])
    evs = wait_for(c, lambda e: isinstance(e, Done))
    done = evs[-1]
    assert isinstance(done, Done) and done.reason == "stop"
    assert "".join(e.text for e in evs if isinstance(e, Tokens)) == text[: text.find(marker)]


def test_load_reports_progress_up_to_one(clients: Callable[[], EngineClient]) -> None:
    client = clients()
    client.start(ensure_model(BIG), n_ctx=512, n_threads=2)
    events = wait_for(client, lambda e: isinstance(e, (Loaded, LoadFailed, Crashed)), timeout=60)
    progress = [e.fraction for e in events if isinstance(e, LoadProgress)]
    assert isinstance(events[-1], Loaded)
    assert progress and progress[-1] == 1.0
    assert progress == sorted(progress)


def test_unload_while_loading_aborts_the_load(clients: Callable[[], EngineClient]) -> None:
    client = clients()
    client.start(ensure_model(BIG), n_ctx=512, n_threads=2)
    pid = client.pid
    assert pid is not None
    t0 = time.monotonic()
    client.unload(timeout=5)
    assert time.monotonic() - t0 < 5  # the worker ended by itself, it was not killed after the timeout
    assert not client.alive and rss_bytes(pid) is None


def test_stop_after_the_worker_was_killed_mid_generation_returns_at_once(clients: Callable[[], EngineClient]) -> None:
    """The stop flag is lock-free: a worker killed while reading it can not leave it locked."""
    client = clients()
    load(client, BIG)
    client.generate("r", PROMPT, max_tokens=100_000)
    wait_for(client, lambda e: isinstance(e, Tokens))
    assert client.pid is not None
    os.kill(client.pid, signal.SIGKILL)
    wait_for(client, lambda e: isinstance(e, Crashed))
    t0 = time.monotonic()
    client.stop()
    client.generate("r2", PROMPT, max_tokens=4)
    assert time.monotonic() - t0 < 0.5
    assert any(isinstance(e, Done) and e.reason == "error" for e in client.poll(0.1))


def test_an_abort_inside_llama_cpp_is_a_crash_with_a_message(clients: Callable[[], EngineClient],
                                                              tmp_path: Path) -> None:
    """A GGUF whose header passes the loader but trips a GGML_ASSERT when llama.cpp builds the graph
    (a RoPE dimension count that is not the head size): the worker aborts; the parent gets Crashed."""
    from unittest import mock

    from gguf import GGUFWriter

    from explorer.testing.models import TEST_MODELS, write_model

    add_context_length = GGUFWriter.add_context_length

    def with_bad_rope(self: GGUFWriter, n: int) -> None:
        add_context_length(self, n)
        self.add_rope_dimension_count(1000)

    bad = tmp_path / "qwen3-bad-rope.gguf"
    with mock.patch.object(GGUFWriter, "add_context_length", with_bad_rope):
        write_model(TEST_MODELS[TINY], bad)
    client = clients()
    client.start(bad, n_ctx=256, n_threads=1)
    ev = wait_for(client, lambda e: isinstance(e, (Loaded, LoadFailed, Crashed)), timeout=60)[-1]
    assert isinstance(ev, Crashed), ev
    assert ev.exitcode == -signal.SIGABRT
    assert "SIGABRT" in ev.message and "while loading" in ev.message and "Load the model again" in ev.message
    assert not client.alive
    # The same client loads a good model afterwards.
    load(client, TINY)

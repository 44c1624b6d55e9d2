"""One worker, several panes (llama.cpp sequences): each lane's output is its own, whatever its neighbours do.

The model is Q8_0: on this build llama.cpp gives the same logits for a sequence decoded alone or in a
batch with others (bitwise, while a sequence holds at most 256 KV cells with flash attention; always
without), so a lane's text can be compared with a single-pane worker's byte for byte. Correctness
only: the timings are bench/panes.py's.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import pytest

from explorer.engine.client import EngineClient
from explorer.engine.messages import Crashed, Done, Event, Loaded, LoadFailed, Tokens
from explorer.engine.multi import Cells, Lane, MultiClient
from explorer.testing.models import ensure_model

pytestmark = pytest.mark.llama

PROMPT = "<|im_start|>user\nTell me a long story.<|im_end|>\n<|im_start|>assistant\n"
MODEL = "qwen3-fit-dense-q8_0"  # random weights that rarely end the text: answers run to max_tokens
N_CTX = 512
# Kept under 256 cells per sequence (prompt + answer), where the logits do not depend on the batch.
TOKENS = 150

GREEDY: dict[str, Any] = {"temperature": 0.0}
SAMPLED: dict[str, Any] = {"temperature": 0.7, "top_p": 0.8, "top_k": 20, "seed": 5}


class MakeMulti(Protocol):
    def __call__(self, n_seq: int, name: str = ..., n_ctx: int = ...) -> MultiClient: ...


@pytest.fixture
def multi() -> Iterator[MakeMulti]:
    made: list[MultiClient] = []

    def make(n_seq: int, name: str = MODEL, n_ctx: int = N_CTX) -> MultiClient:
        client = MultiClient(n_seq)
        made.append(client)
        client.start(ensure_model(name), n_ctx=n_ctx, n_threads=2)
        ev = wait_for(client.poll, lambda e: isinstance(e, (Loaded, LoadFailed, Crashed)), timeout=60)[-1]
        assert isinstance(ev, Loaded), ev
        assert ev.n_ctx == n_ctx and client.n_ctx == n_ctx
        return client

    yield make
    for c in made:
        c.close()


def wait_for(poll: Callable[[float], list[Any]], pred: Callable[[Any], bool], timeout: float = 120) -> list[Any]:
    deadline = time.monotonic() + timeout
    got: list[Any] = []
    while time.monotonic() < deadline:
        for ev in poll(min(0.2, max(0.0, deadline - time.monotonic()))):
            got.append(ev)
            if pred(ev):
                return got
    pytest.fail(f"no matching event in {timeout} s; got {got!r}")


def answer(poll: Callable[[float], list[Event]], rid: str) -> tuple[str, Done]:
    evs = wait_for(poll, lambda e: isinstance(e, (Done, Crashed)) and getattr(e, "request_id", rid) == rid)
    done = evs[-1]
    assert isinstance(done, Done), done
    assert all(e.request_id == rid for e in evs if isinstance(e, (Tokens, Done)))  # no neighbour's events
    return "".join(e.text for e in evs if isinstance(e, Tokens)), done


def run_together(lanes: list[Lane], settings: list[dict[str, Any]], tag: str,
                 max_tokens: int = TOKENS) -> list[tuple[str, Done]]:
    for i, (lane, s) in enumerate(zip(lanes, settings, strict=True)):
        lane.generate(f"{tag}{i}", PROMPT, max_tokens=max_tokens, **s)
    return [answer(lane.poll, f"{tag}{i}") for i, lane in enumerate(lanes)]


def single_pane(settings: list[dict[str, Any]], max_tokens: int = TOKENS) -> list[str]:
    """Today's way: one worker per pane (a fresh one per answer, so no prompt cache is reused)."""
    out = []
    for i, s in enumerate(settings):
        client = EngineClient()
        try:
            client.start(ensure_model(MODEL), n_ctx=N_CTX, n_threads=2)
            assert isinstance(wait_for(client.poll, lambda e: isinstance(e, (Loaded, LoadFailed, Crashed)))[-1],
                              Loaded)
            client.generate(f"s{i}", PROMPT, max_tokens=max_tokens, **s)
            out.append(answer(client.poll, f"s{i}")[0])
        finally:
            client.unload()
    return out


def test_identical_lanes_in_one_batch_give_identical_tokens(multi: MakeMulti) -> None:
    client = multi(4)
    for settings in (GREEDY, SAMPLED):
        got = run_together(client.lanes, [settings] * 4, f"same-{settings['temperature']}-")
        texts = {text for text, _ in got}
        assert len(texts) == 1 and next(iter(texts)), got
        assert {d.n_tokens for _, d in got} == {TOKENS} and {d.reason for _, d in got} == {"length"}


def test_each_lane_samples_with_its_own_settings(multi: MakeMulti) -> None:
    settings = [GREEDY, {**SAMPLED, "seed": 1}, {**SAMPLED, "seed": 2},
                {"temperature": 1.0, "top_k": 5, "top_p": 1.0, "seed": 3, "presence_penalty": 1.5}]
    client = multi(4)
    together = [text for text, _ in run_together(client.lanes, settings, "mix")]
    assert len(set(together)) == 4  # four settings, four answers: no lane used another's sampler
    assert together == single_pane(settings)  # and each is what its pane alone would write
    # a lane's answer does not depend on which lane it runs on
    lanes = client.lanes
    shifted = [text for text, _ in run_together(lanes[1:] + lanes[:1], settings, "shift")]
    assert shifted == together


def test_stopping_one_lane_leaves_the_others_unchanged(multi: MakeMulti) -> None:
    settings = [{**SAMPLED, "seed": s} for s in (11, 12, 13)]
    client = multi(3)
    reference = [text for text, _ in run_together(client.lanes, settings, "ref")]
    a, b, c = client.lanes
    for lane, rid, s in ((a, "a", settings[0]), (b, "b", settings[1]), (c, "c", settings[2])):
        lane.generate(rid, PROMPT, max_tokens=TOKENS, **s)
    wait_for(b.poll, lambda e: isinstance(e, Tokens))  # b is under way
    b.stop()
    stopped = wait_for(b.poll, lambda e: isinstance(e, Done))[-1]
    assert isinstance(stopped, Done) and stopped.reason == "stopped" and stopped.n_tokens < TOKENS
    assert answer(a.poll, "a")[0] == reference[0]
    assert answer(c.poll, "c")[0] == reference[2]
    # the stop does not leak into b's next answer
    text, done = answer_on(b, "b2", settings[1])
    assert done.reason == "length" and text == reference[1]


def answer_on(lane: Lane, rid: str, settings: dict[str, Any], max_tokens: int = TOKENS) -> tuple[str, Done]:
    lane.generate(rid, PROMPT, max_tokens=max_tokens, **settings)
    return answer(lane.poll, rid)


def cells(client: MultiClient) -> Cells:
    client.ask_cells()
    ev = wait_for(client.poll, lambda e: isinstance(e, Cells))[-1]
    assert isinstance(ev, Cells)
    return ev


def test_a_sequence_that_hits_max_tokens_ends_alone_and_keeps_only_its_own_cells(multi: MakeMulti) -> None:
    client = multi(2)
    short, long = client.lanes
    assert cells(client).used == (0, 0)
    long.generate("long", PROMPT, max_tokens=100_000, **SAMPLED)
    first, done = answer_on(short, "short", GREEDY, max_tokens=5)
    assert done.reason == "length" and done.n_tokens == 5
    now = cells(client)
    # the prompt and every answer token but the last (sampled, never decoded) stay for the next turn
    assert now.used[0] == done.n_prompt_tokens + done.n_tokens - 1
    assert now.used[1] > done.n_prompt_tokens  # its neighbour holds its own and goes on
    assert now.n_ctx_seq == N_CTX
    # the same prompt again reuses the cells: only its last token is decoded (for the first sample)
    again, done2 = answer_on(short, "short2", GREEDY, max_tokens=5)
    assert again == first and done2.n_prompt_tokens == done.n_prompt_tokens
    assert done2.prompt_eval_tokens == 1 and done.prompt_eval_tokens == done.n_prompt_tokens
    short.release()  # the pane leaves: its cells are given back, the neighbour's are not
    now = cells(client)
    assert now.used[0] == 0 and now.used[1] > 0
    long.stop()
    assert wait_for(long.poll, lambda e: isinstance(e, Done))[-1].reason == "stopped"
    long.release()
    assert cells(client).used == (0, 0)


def test_the_next_turn_decodes_only_what_it_adds(multi: MakeMulti) -> None:
    """Prompt reuse: a conversation's next turn decodes its new tokens only, and answers exactly as a
    lane that decodes the whole prompt does."""
    client = multi(2)
    reuse, fresh = client.lanes
    first, done1 = answer_on(reuse, "t1", GREEDY, max_tokens=6)
    turn2 = f"{PROMPT}{first}<|im_end|>\n<|im_start|>user\nAnd then?<|im_end|>\n<|im_start|>assistant\n"
    reuse.generate("t2", turn2, max_tokens=6, **GREEDY)
    text2, done2 = answer(reuse.poll, "t2")
    fresh.generate("f2", turn2, max_tokens=6, **GREEDY)
    text_fresh, done_fresh = answer(fresh.poll, "f2")
    assert text2 == text_fresh
    assert done_fresh.prompt_eval_tokens == done_fresh.n_prompt_tokens == done2.n_prompt_tokens
    # what turn 1 left (its prompt, and its answer where it tokenizes back the same) is not decoded again
    assert 0 < done2.prompt_eval_tokens <= done2.n_prompt_tokens - done1.n_prompt_tokens
    # a Regenerate of turn 2 decodes its last prompt token only
    reuse.generate("t2b", turn2, max_tokens=6, **GREEDY)
    text2b, done2b = answer(reuse.poll, "t2b")
    assert text2b == text2 and done2b.prompt_eval_tokens == 1


def test_a_long_answer_ends_at_its_own_context(multi: MakeMulti) -> None:
    """Each sequence has n_ctx cells of its own: an answer that fills them ends with 'length' (as a
    single pane's does), and the lane can answer again; a prompt too long for them is an error that
    leaves the lane's cells empty."""
    client = multi(2, n_ctx=256)
    text, done = answer_on(client.lane(0), "fill", GREEDY, max_tokens=0)
    assert done.reason == "length" and done.n_prompt_tokens + done.n_tokens == 256
    too_long = "<|im_start|>user\n" + "word " * 400 + "<|im_end|>\n<|im_start|>assistant\n"
    client.lane(1).generate("big", too_long, max_tokens=10)
    _, err = answer(client.lane(1).poll, "big")
    assert err.reason == "error" and "context" in err.message
    assert cells(client).used == (255, 0)
    again, _ = answer_on(client.lane(0), "again", GREEDY, max_tokens=0)
    assert again == text


def test_a_crash_reaches_every_lane_and_spares_other_files(multi: MakeMulti) -> None:
    doomed = multi(2)
    other = multi(1, "qwen3-tiny-instruct-q8_0")
    assert doomed.pid != other.pid
    for i, lane in enumerate(doomed.lanes):
        lane.generate(f"d{i}", PROMPT, max_tokens=100_000, **SAMPLED)
    wait_for(doomed.lane(0).poll, lambda e: isinstance(e, Tokens))
    pid = doomed.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    for lane in doomed.lanes:
        crash = wait_for(lane.poll, lambda e: isinstance(e, Crashed), timeout=60)[-1]
        assert isinstance(crash, Crashed) and crash.exitcode == -signal.SIGKILL
        assert lane.idle_waitables() == [] and not lane.alive
    assert any(isinstance(e, Crashed) for e in doomed.poll(0.5))
    doomed.lane(0).generate("after", PROMPT, max_tokens=4)
    assert [type(e) for e in doomed.lane(0).poll(0.5)] == [Done]
    _, done = answer_on(other.lane(0), "alive", SAMPLED, max_tokens=8)  # the other file's worker goes on
    assert done.n_tokens > 0


def test_idle_waitables_wake_a_lanes_thread(multi: MakeMulti) -> None:
    from multiprocessing.connection import wait

    client = multi(2)
    lane = client.lane(1)
    assert lane.idle_waitables() is None  # the load's events came to every lane
    assert any(isinstance(e, Loaded) for e in lane.poll(0))
    waitables = lane.idle_waitables()
    assert waitables  # nothing to read yet: something to block on
    lane.generate("w", PROMPT, max_tokens=4, **GREEDY)
    assert wait(waitables, timeout=10)
    assert lane.idle_waitables() is None  # news waiting
    _, done = answer(lane.poll, "w")
    assert done.n_tokens == 4 and lane.idle_waitables() == waitables
    assert not any(isinstance(e, (Tokens, Done)) for e in client.lane(0).poll(0))  # lane 0 heard none of it

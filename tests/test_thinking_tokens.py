"""Thinking tokens are counted exactly, however the worker batches its text: a batch never holds tokens
from both sides of <think> or </think>, alone or as a lane of a shared worker (the counts varied from
run to run, 55-65 for one script, when a batch crossed </think>)."""

from __future__ import annotations

import time

import pytest
from chat_helpers import drain, start_loaded

from explorer.chat.conversation import Conversation
from explorer.engine.messages import Crashed, Loaded, LoadFailed
from explorer.engine.multi import Lane, MultiClient
from explorer.gguf.model_info import inspect_model
from explorer.testing.scripted import ensure_scripted_model, script_token_counts

pytestmark = pytest.mark.llama


def conversation(engine: object, thinking: bool) -> Conversation:
    info = inspect_model(ensure_scripted_model())
    conv = Conversation(engine, template=info.template, variant=info.variant, thinking=thinking,  # type: ignore[arg-type]
                        max_tokens=1000, n_ctx=2048)
    return conv


def test_a_single_pane_counts_the_scripts_thinking_tokens_exactly() -> None:
    thinking, answer = script_token_counts()
    client = start_loaded(ensure_scripted_model(), n_ctx=2048, n_threads=1)
    try:
        for _ in range(3):  # the batches fall differently each time (they are timed): the count does not
            conv = conversation(client, thinking=True)
            conv.send("Why is the sky blue?")
            _, done = drain(conv)
            assert (done.stats.thinking_tokens, done.stats.n_tokens) == (thinking, thinking + answer)
    finally:
        client.unload()


def test_lanes_of_a_shared_worker_count_alike() -> None:
    thinking, answer = script_token_counts()
    multi = MultiClient(2)
    multi.start(ensure_scripted_model(), n_ctx=2048, n_threads=1)
    try:
        deadline = time.monotonic() + 60
        while not multi.loaded:
            assert time.monotonic() < deadline
            assert not any(isinstance(e, (LoadFailed, Crashed)) for e in multi.poll(0.2))
        lanes: list[Lane] = multi.lanes
        for lane in lanes:
            assert any(isinstance(e, Loaded) for e in lane.poll(5))
        convs = [conversation(lanes[0], thinking=True), conversation(lanes[1], thinking=False)]
        for conv in convs:
            conv.send("Why is the sky blue?")
        (_, on), (_, off) = drain(convs[0]), drain(convs[1])
        assert (on.stats.thinking_tokens, on.stats.n_tokens) == (thinking, thinking + answer)
        assert (off.stats.thinking_tokens, off.stats.n_tokens) == (0, answer - 1)  # no blank line after </think>
    finally:
        multi.close()

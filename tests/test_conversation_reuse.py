"""Prompt reuse through the app's own path (issue 15, item 2): a later turn of a chat prefills only what its
prompt adds to the cached one, and a Regenerate reuses everything up to the last question.

The scripted model writes a fixed thinking and answer with the hybrid template, so the counts are exact.
The hybrid template renders an earlier answer without the `<think>` block it was generated with (or,
thinking off, without the empty block the prompt ended in): the cache then holds up to where the last
answer starts, and the turn prefills that answer again with the new question. No timings here
(bench/turns.py has them)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import pytest

from explorer.chat.conversation import Conversation, Finished
from explorer.chat.records import MessageStats, StopReason
from explorer.chat.sandbox import TemplateRenderer
from explorer.engine.client import EngineClient, Loaded
from explorer.engine.multi import MultiClient
from explorer.gguf.variant import Variant
from explorer.testing.models import template_text
from explorer.testing.scripted import ensure_scripted_model

pytestmark = pytest.mark.llama

QUESTIONS = ("Why is the sky blue?", "And at sunset?", "What about the violet light?")
EMPTY_THINK_TOKENS = 4  # "<think>", "\n\n", "</think>", "\n\n" in the scripted vocabulary (ĊĊ is one token)


@pytest.fixture(scope="module")
def engine() -> Iterator[tuple[EngineClient, TemplateRenderer]]:
    client = EngineClient()
    client.start(ensure_scripted_model(), n_ctx=4096, n_threads=1)
    deadline = time.monotonic() + 60
    while not any(isinstance(ev, Loaded) for ev in client.poll(0.2)):
        assert time.monotonic() < deadline and client.alive, "the scripted model did not load"
    renderer = TemplateRenderer()
    yield client, renderer
    renderer.close()
    client.close()


def ask(conv: Conversation, text: str) -> MessageStats:
    conv.send(text)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for up in conv.pump(0.2):
            if isinstance(up, Finished):
                assert up.stats.stop_reason is StopReason.STOP, up.stats
                return up.stats
    pytest.fail("no answer in 60 s")


def regenerate(conv: Conversation) -> MessageStats:
    """As a chat pane does it (ui/chat/driver.py): the last answer and its question go, the question is asked again."""
    asked = conv.messages[-2].content
    del conv.messages[-2:]
    return ask(conv, asked)


@pytest.mark.parametrize("thinking", [False, True], ids=["thinking-off", "thinking-on"])
def test_later_turns_prefill_only_what_the_prompt_adds(engine: tuple[EngineClient, TemplateRenderer],
                                                       thinking: bool) -> None:
    client, renderer = engine
    conv = Conversation(client, template=template_text("hybrid"), variant=Variant.HYBRID, thinking=thinking,
                        max_tokens=1024, seed=1, n_ctx=4096, renderer=renderer)
    turns = [ask(conv, q) for q in QUESTIONS]
    assert conv.messages[1].thinking if thinking else not conv.messages[1].thinking  # it did think (or not)
    for before, now in itertools.pairwise(turns):
        assert 0 < now.prompt_eval_tokens < now.prompt_tokens  # the earlier conversation came from the cache
        # What was cached: the previous prompt, up to where the previous answer started (its thinking,
        # or the empty block a thinking-off prompt ends in, is not in the history the template renders).
        cached = now.prompt_tokens - now.prompt_eval_tokens
        assert cached >= before.prompt_tokens - (0 if thinking else EMPTY_THINK_TOKENS)
        assert cached <= before.prompt_tokens + before.n_tokens

    again = regenerate(conv)
    assert again.prompt_tokens == turns[-1].prompt_tokens  # the same prompt as the answer it replaces ...
    # ... so no more than what follows the last question is prefilled ("<|im_end|>\n<|im_start|>assistant\n"
    # and the empty think block: 8 tokens at most); in fact all of it is cached, and llama-cpp-python
    # evaluates the prompt's last token again for its logits.
    assert again.prompt_eval_tokens == 1


def test_a_new_conversation_on_the_same_worker_prefills_what_differs(engine: tuple[EngineClient,
                                                                                    TemplateRenderer]) -> None:
    client, renderer = engine
    first = Conversation(client, template=template_text("instruct-2507"), variant=Variant.INSTRUCT_2507,
                         thinking=False, max_tokens=1024, seed=1, n_ctx=4096, renderer=renderer)
    one = ask(first, "Why is the sky blue?")
    other = Conversation(client, template=template_text("instruct-2507"), variant=Variant.INSTRUCT_2507,
                         thinking=False, max_tokens=1024, seed=1, n_ctx=4096, renderer=renderer)
    two = ask(other, "How far away is the moon?")
    assert one.prompt_eval_tokens >= 1
    # only "<|im_start|>user\n" is shared: nothing of the first conversation leaks into the second's answer
    assert two.prompt_tokens - two.prompt_eval_tokens <= 6


def loaded_multi(n_seq: int) -> MultiClient:
    """A shared worker with `n_seq` lanes on the scripted model, loaded."""
    multi = MultiClient(n_seq)
    multi.start(ensure_scripted_model(), n_ctx=4096, n_threads=1)
    deadline = time.monotonic() + 60
    while not multi.loaded:
        assert time.monotonic() < deadline and multi.poll(0.2) is not None
    return multi


def question_tokens(conv: Conversation, text: str) -> int:
    """Upper bound of what a turn adds after a warmed history: the question, its chat tokens and the
    generation prompt (the empty think block included), counted as characters (>= tokens)."""
    return len(text) + len("<|im_start|>user\n<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n")


@pytest.mark.parametrize("thinking", [False, True], ids=["thinking-off", "thinking-on"])
def test_a_warmed_conversation_decodes_little_more_than_the_question(
        engine: tuple[EngineClient, TemplateRenderer], thinking: bool) -> None:
    """Conversation.warm (what a pane does after each answer) decodes the history as the next prompt will
    render it, so the next turn no longer decodes the last answer again; the answers do not change."""
    client, renderer = engine

    def conversation() -> Conversation:
        return Conversation(client, template=template_text("hybrid"), variant=Variant.HYBRID, thinking=thinking,
                            max_tokens=1024, seed=1, n_ctx=4096, renderer=renderer)

    cold, warm = conversation(), conversation()
    cold_turns = [ask(cold, q) for q in QUESTIONS[:2]]
    warm_turns = []
    for q in QUESTIONS[:2]:
        warm_turns.append(ask(warm, q))
        assert warm.warm()
        time.sleep(1.0)  # the person reads; the worker decodes meanwhile (no event says when it is done)
    answer = cold_turns[0].n_tokens - cold_turns[0].thinking_tokens
    assert cold_turns[1].prompt_eval_tokens > answer  # cold: the first answer is decoded again
    assert warm_turns[1].prompt_eval_tokens <= question_tokens(warm, QUESTIONS[1])
    assert 4 * warm_turns[1].prompt_eval_tokens < cold_turns[1].prompt_eval_tokens
    assert [m.content for m in warm.messages] == [m.content for m in cold.messages]


def test_warm_sends_nothing_while_busy_or_before_an_answer(engine: tuple[EngineClient, TemplateRenderer]) -> None:
    client, renderer = engine
    conv = Conversation(client, template=template_text("hybrid"), variant=Variant.HYBRID, thinking=False,
                        max_tokens=1024, seed=1, n_ctx=4096, renderer=renderer)
    assert not conv.warm()  # no answer yet
    conv.send(QUESTIONS[0])
    assert not conv.warm()  # answering
    while conv.busy:
        conv.pump(0.2)
    assert conv.warm()


def test_a_lane_of_a_shared_worker_is_warmed_too(engine: tuple[EngineClient, TemplateRenderer]) -> None:
    """The same through lanes (panes sharing one worker): the prefill waits until every lane is idle."""
    _, renderer = engine
    multi = loaded_multi(2)
    try:
        convs = [Conversation(lane, template=template_text("hybrid"), variant=Variant.HYBRID, thinking=True,
                              max_tokens=1024, seed=1, n_ctx=4096, renderer=renderer) for lane in multi.lanes]
        cold, warm = convs
        ask(cold, QUESTIONS[0])
        ask(warm, QUESTIONS[0])
        assert warm.warm()
        time.sleep(1.0)
        cold_two, warm_two = ask(cold, QUESTIONS[1]), ask(warm, QUESTIONS[1])
        assert warm_two.prompt_eval_tokens <= question_tokens(warm, QUESTIONS[1])
        assert 4 * warm_two.prompt_eval_tokens < cold_two.prompt_eval_tokens
        assert warm.messages[-1].content == cold.messages[-1].content
    finally:
        multi.close()


def test_every_lane_keeps_its_warm_up_when_the_lanes_end_one_after_another(
        engine: tuple[EngineClient, TemplateRenderer]) -> None:
    """Each pane warms up right after its own answer, as the driver does: a lane that ended first starts
    its prefill when the last one ends, and the last one's warm-up then arrives in the middle of it.
    Both must be done by the next turn (the first one used to be dropped there)."""
    _, renderer = engine
    multi = loaded_multi(4)
    try:
        convs = [Conversation(lane, template=template_text("hybrid"), variant=Variant.HYBRID, thinking=i % 2 == 0,
                              max_tokens=1024, seed=1, n_ctx=4096, renderer=renderer)
                 for i, lane in enumerate(multi.lanes)]
        for conv in convs:
            conv.send(QUESTIONS[0])
        while any(c.busy for c in convs):
            for conv in convs:
                for up in conv.pump(0.01):
                    if isinstance(up, Finished):
                        assert conv.warm()  # at once, as a pane's driver does after its answer
        time.sleep(1.5)
        for conv in convs:
            conv.send(QUESTIONS[1])
        stats: list[MessageStats] = []
        for conv in convs:
            while conv.busy:
                stats += [up.stats for up in conv.pump(0.2) if isinstance(up, Finished)]
        assert [s.prompt_eval_tokens <= question_tokens(convs[0], QUESTIONS[1]) for s in stats] == [True] * 4, \
            [(s.prompt_eval_tokens, s.prompt_tokens) for s in stats]
    finally:
        multi.close()


def test_a_regenerate_right_after_the_warm_up_answers_the_same(engine: tuple[EngineClient, TemplateRenderer]) -> None:
    """The Regenerate arrives before the warm-up has decoded anything: the warm-up gives way and leaves the
    cache as it was (it once cut it back without decoding, and the Regenerate sampled from the previous
    answer's last logits: an empty answer)."""
    client, renderer = engine
    conv = Conversation(client, template=template_text("hybrid"), variant=Variant.HYBRID, thinking=True,
                        max_tokens=1024, seed=1, n_ctx=4096, renderer=renderer)
    ask(conv, QUESTIONS[0])
    first = conv.messages[-1].content
    for _ in range(3):
        assert conv.warm()
        again = regenerate(conv)  # at once
        assert conv.messages[-1].content == first and again.n_tokens > 0

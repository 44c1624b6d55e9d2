"""A pane's ways of prompting (issue 11) through Conversation, on real llama.cpp: chatroom with and
without a system prompt, free-form text as typed, fill-in-the-middle, greedy decoding, sampling checks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from chat_helpers import drain, start_loaded

from explorer.chat.conversation import Conversation
from explorer.chat.records import PaneMode, PaneSettings
from explorer.chat.templates import NON_THINKING_PRESET, SamplingPreset, app_template
from explorer.engine.client import EngineClient
from explorer.gguf.reader import chat_template, read_local_header
from explorer.gguf.variant import Variant
from explorer.testing.models import ensure_model
from explorer.testing.scripted import DEFAULT_ANSWER, ensure_scripted_model

pytestmark = pytest.mark.llama

INSTRUCT = "qwen3-tiny-instruct-q8_0"
GREEDY = SamplingPreset(temperature=0.0, top_p=1.0, top_k=0, min_p=0.0)


@pytest.fixture
def loaded() -> Iterator[dict[str, tuple[EngineClient, str | None]]]:
    """name -> (client, the file's chat template), one worker per model, loaded on first use."""
    clients: dict[str, tuple[EngineClient, str | None]] = {}

    class Lazy(dict[str, tuple[EngineClient, str | None]]):
        def __missing__(self, name: str) -> tuple[EngineClient, str | None]:
            path: Path = ensure_scripted_model() if name == "scripted" else ensure_model(name)
            clients[name] = self[name] = (start_loaded(path, n_ctx=1024, n_threads=2),
                                          chat_template(read_local_header(path)))
            return self[name]

    yield Lazy()
    for client, _ in clients.values():
        client.unload(timeout=2)


def vocab_tokens(name: str, text: str) -> int:
    import llama_cpp

    llm = llama_cpp.Llama(str(ensure_model(name)), vocab_only=True, verbose=False)
    try:
        return len(llm.tokenize(text.encode(), add_bos=True, special=False))
    finally:
        llm.close()


def test_free_form_sends_the_text_as_typed_even_to_an_instruct_model(loaded: dict) -> None:
    client, template = loaded[INSTRUCT]
    conv = Conversation(client, template=template, variant=Variant.INSTRUCT_2507, thinking=False,
                        max_tokens=8, mode=PaneMode.FREE_FORM)
    text = "The capital of Singapore is <|im_end|>"  # a special token typed as text stays text
    conv.send(text)
    _, fin = drain(conv)
    assert conv.last_prompt == text  # no template around it
    assert fin.stats.prompt_tokens == vocab_tokens(INSTRUCT, text)  # tokenized as plain text
    conv.send("Who are you?")
    drain(conv)
    assert conv.last_prompt == "Who are you?"  # free-form has no history: each text goes alone


def test_the_system_prompt_reaches_the_rendered_prompt_and_can_be_taken_away(loaded: dict) -> None:
    client, template = loaded[INSTRUCT]
    conv = Conversation(client, template=template, variant=Variant.INSTRUCT_2507, thinking=False, max_tokens=4,
                        system="You are a terse assistant.")
    conv.send("Hi")
    drain(conv)
    assert conv.last_prompt is not None
    assert conv.last_prompt.startswith("<|im_start|>system\nYou are a terse assistant.<|im_end|>\n")
    assert conv.record().settings.system == "You are a terse assistant."
    conv.set_system("")
    conv.send("Hi again")
    drain(conv)
    assert "<|im_start|>system" not in (conv.last_prompt or "")
    assert conv.record().settings.mode is PaneMode.CHATROOM


def test_a_base_model_completes_free_form_by_default_and_chats_through_the_app_template(loaded: dict) -> None:
    client, template = loaded["qwen3-tiny-base-f16"]
    assert template is None
    plain = Conversation(client, template=None, variant=Variant.BASE, thinking=False, max_tokens=4)
    assert plain.prompting is PaneMode.FREE_FORM and not plain.template_from_app
    chat = Conversation(client, template=None, variant=Variant.BASE, thinking=False, max_tokens=4,
                        mode=PaneMode.CHATROOM)
    assert chat.template_from_app and chat.template == app_template()
    chat.send("Who are you?")
    drain(chat)
    assert chat.last_prompt == "<|im_start|>user\nWho are you?<|im_end|>\n<|im_start|>assistant\n"


def test_fill_in_the_middle_answers_the_middle_and_keeps_prefix_and_suffix(loaded: dict) -> None:
    client, template = loaded["scripted"]
    conv = Conversation(client, template=template, variant=Variant.HYBRID, thinking=False, max_tokens=500,
                        mode=PaneMode.FIM)
    with pytest.raises(ValueError, match="send_fim"):
        conv.send("text")
    with pytest.raises(ValueError, match="both are empty"):
        conv.send_fim("", " \n")
    assert conv.messages == []  # a refused request leaves the conversation as it was
    conv.send_fim("def f():\n    ", "\n    return x\n")
    _, fin = drain(conv)
    question, middle = conv.messages
    assert (question.content, question.suffix) == ("def f():\n    ", "\n    return x\n")
    assert middle.content == DEFAULT_ANSWER and fin.stats.stop_reason == "stop"
    record = conv.record()
    assert record.settings.mode is PaneMode.FIM
    saved = record.messages[0].to_json()
    assert saved["suffix"] == "\n    return x\n"


def test_temperature_zero_is_greedy_whatever_the_seed(loaded: dict) -> None:
    client, template = loaded[INSTRUCT]
    answers = []
    for seed in (1, 2):
        conv = Conversation(client, template=template, variant=Variant.INSTRUCT_2507, thinking=False,
                            max_tokens=24, seed=seed, sampling=GREEDY)
        conv.send("Tell me a story.")
        drain(conv)
        answers.append(conv.messages[-1].content)
    assert answers[0] and answers[0] == answers[1]


@pytest.mark.parametrize(("field", "value", "words"), [
    ("temperature", -1.0, "temperature must be 0 to 5 (0 is greedy), not -1.0"),
    ("top_p", 0.0, "top-p must be above 0, at most 1, not 0.0"),
    ("presence_penalty", 2.5, "presence penalty must be -2 to 2 (Qwen suggests 0 to 2), not 2.5"),
    ("repeat_penalty", -1.0, "repeat penalty must be above 0, at most 5 (1 is off), not -1.0"),
    ("repeat_penalty", 0.0, "repeat penalty must be above 0, at most 5 (1 is off), not 0.0"),
])
def test_sampling_out_of_range_is_one_line(field: str, value: float, words: str) -> None:
    bad = SamplingPreset(**{**NON_THINKING_PRESET.__dict__, field: value})
    with pytest.raises(ValueError) as err:
        bad.check()
    assert str(err.value) == words
    assert NON_THINKING_PRESET.check() is NON_THINKING_PRESET


def test_mode_and_system_are_saved_and_an_old_base_pane_reads_as_free_form() -> None:
    settings = PaneSettings(mode=PaneMode.FIM, system="")
    assert PaneSettings.from_json(settings.to_json(Variant.CODER)).mode is PaneMode.FIM
    chat = PaneSettings(system="Be brief.")
    assert PaneSettings.from_json(chat.to_json(Variant.HYBRID)).system == "Be brief."
    old_base = {"variant": "base", "thinking": False}  # a pane saved before the modes existed
    assert PaneSettings.from_json(old_base).mode is PaneMode.FREE_FORM
    assert PaneSettings.from_json({"variant": "hybrid"}).mode is PaneMode.CHATROOM

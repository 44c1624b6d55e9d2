"""The engine's prompt kinds on real llama.cpp: free-form text as typed, fill-in-the-middle from token
ids, greedy decoding, the sampling penalties, the prefill figures (issue 11)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from test_engine import wait_for

from explorer.engine.client import Done, EngineClient, Loaded, Tokens
from explorer.engine.generation import prompt_tokens
from explorer.engine.messages import GenerateRequest
from explorer.gguf.fim import FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX, FimUnsupported
from explorer.testing.models import TEST_MODELS, ensure_model
from explorer.testing.scripted import ScriptedSpec, ensure_scripted_model

pytestmark = pytest.mark.llama

TINY = "qwen3-tiny-hybrid-q8_0"
NO_FIM = replace(TEST_MODELS[TINY], name="qwen3-tiny-nofim-q8_0", fim_tokens=False)
REQ = GenerateRequest("r", "", 16, 0.0, 1.0, 0, 0.0, 0)


@pytest.fixture(scope="module")
def vocab() -> Iterator[Callable[[Path], object]]:
    """Llama objects that load only the vocabulary (fast), closed at the end."""
    import llama_cpp

    made: list[object] = []

    def load(path: Path) -> object:
        made.append(llama_cpp.Llama(str(path), vocab_only=True, verbose=False))
        return made[-1]

    yield load
    for llm in made:
        llm.close()  # type: ignore[attr-defined]


def ids(llm: object, text: str) -> list[int]:
    return list(llm.tokenize(text.encode(), add_bos=False, special=False))  # type: ignore[attr-defined]


def special(llm: object, text: str) -> int:
    out = llm.tokenize(text.encode(), add_bos=False, special=True)  # type: ignore[attr-defined]
    assert len(out) == 1
    return int(out[0])


def test_free_form_text_is_tokenized_as_typed(vocab: Callable[[Path], object]) -> None:
    llm = vocab(ensure_model(TINY))
    text = "<|im_start|>user\nhi"
    chat, _ = prompt_tokens(llm, replace(REQ, prompt=text))
    raw, _ = prompt_tokens(llm, replace(REQ, prompt=text, raw=True))
    assert special(llm, "<|im_start|>") in chat  # a rendered template: special tokens parsed
    assert special(llm, "<|im_start|>") not in raw and raw == ids(llm, text)  # typed text: plain bytes
    assert llm.detokenize(raw).decode() == text  # type: ignore[attr-defined]


def test_fim_prompt_is_built_from_token_ids_in_order(vocab: Callable[[Path], object]) -> None:
    llm = vocab(ensure_model(TINY))
    prefix, suffix = "def add(a, b):\n    ", "\n# <|fim_suffix|> in a comment stays text\n"
    tokens, stops = prompt_tokens(llm, replace(REQ, fim=(prefix, suffix)))
    p, s, m = (special(llm, t) for t in (FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE))
    assert tokens == [p, *ids(llm, prefix), s, *ids(llm, suffix), m]
    assert tokens.count(s) == 1  # the suffix's own "<|fim_suffix|>" text was not made a marker
    assert stops == {special(llm, t) for t in ("<|endoftext|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
                                                "<|im_end|>")}


def test_a_vocabulary_without_fim_tokens_is_refused(vocab: Callable[[Path], object]) -> None:
    llm = vocab(ensure_model(NO_FIM))
    with pytest.raises(FimUnsupported, match=r"no <\|fim_prefix\|>"):
        prompt_tokens(llm, replace(REQ, fim=("a", "b")))


@pytest.fixture
def client() -> Iterator[EngineClient]:
    c = EngineClient()
    yield c
    c.unload(timeout=2)


def start(c: EngineClient, path: Path) -> Loaded:
    c.start(path, n_ctx=1024, n_threads=2)
    ev = wait_for(c, lambda e: isinstance(e, Loaded))[-1]
    assert isinstance(ev, Loaded)
    return ev


def answer(c: EngineClient, rid: str, prompt: str = "", **kw: object) -> tuple[str, Done]:
    c.generate(rid, prompt, **{"max_tokens": 48, "temperature": 0.0, "seed": 1, **kw})  # type: ignore[arg-type]
    evs = wait_for(c, lambda e: isinstance(e, Done) and e.request_id == rid)
    done = evs[-1]
    assert isinstance(done, Done)
    return "".join(e.text for e in evs if isinstance(e, Tokens)), done


def test_fim_on_the_scripted_model_writes_the_middle_and_stops(client: EngineClient) -> None:
    loaded = start(client, ensure_scripted_model())
    assert loaded.fim
    text, done = answer(client, "fim", fim=("def f():\n    ", "\n"), max_tokens=500)
    assert text == ScriptedSpec().answer  # <|fim_middle|> leads into the script's answer ...
    assert done.reason == "stop"  # ... which ends on <|im_end|>, one of the FIM stops
    assert done.prompt_eval_tokens == done.n_prompt_tokens and done.prompt_eval_s > 0


def test_fim_to_a_model_without_the_tokens_is_one_line(client: EngineClient) -> None:
    loaded = start(client, ensure_model(NO_FIM))
    assert not loaded.fim
    _, done = answer(client, "fim", fim=("a", "b"))
    assert done.reason == "error" and "no <|fim_prefix|>" in done.message and "\n" not in done.message


def test_temperature_zero_is_greedy_and_repeats(client: EngineClient) -> None:
    start(client, ensure_model(TINY))
    first, _ = answer(client, "a", "Once upon a time", raw=True, seed=1)
    again, _ = answer(client, "b", "Once upon a time", raw=True, seed=99)  # the seed does not matter
    assert first and first == again


def test_the_penalties_reach_llama_cpp(client: EngineClient) -> None:
    start(client, ensure_model(TINY))
    plain, _ = answer(client, "a", "Once upon a time", raw=True, max_tokens=64)
    repeat, _ = answer(client, "b", "Once upon a time", raw=True, max_tokens=64, repeat_penalty=3.0)
    presence, _ = answer(client, "c", "Once upon a time", raw=True, max_tokens=64, presence_penalty=2.0)
    assert repeat != plain and presence != plain  # a random model repeats itself: a penalty changes that


def test_prefill_figures_count_only_what_llama_cpp_evaluated(client: EngineClient) -> None:
    start(client, ensure_model(TINY))
    prompt = "The quick brown fox jumps over the lazy dog. " * 8
    _, first = answer(client, "a", prompt, raw=True, max_tokens=4)
    _, second = answer(client, "b", prompt + "And then?", raw=True, max_tokens=4)
    assert first.prompt_eval_tokens == first.n_prompt_tokens and first.prompt_eval_s > 0
    # the second prompt starts with the first: llama-cpp-python reuses its KV cache for that part
    assert 0 < second.prompt_eval_tokens < second.n_prompt_tokens


def test_a_hostile_template_costs_nothing_at_load(client: EngineClient, tmp_path: Path) -> None:
    """llama-cpp-python would compile the file's template at load, outside the sandbox (4 GB, 20 s for
    this one); the worker never lets it, since the app renders templates itself."""
    from chat_helpers import model_with_template

    from explorer.engine.client import rss_bytes

    path = model_with_template(TINY, "{{ 'x'*10**9 }}", tmp_path)
    loaded = start(client, path)
    assert loaded.load_seconds < 10  # generous: it loads like any tiny model (~0.1 s)
    rss = rss_bytes(client.pid or 0)
    assert rss is not None and rss < 512 * 2**20
    _, done = answer(client, "a", "Once upon a time", raw=True, max_tokens=4)
    assert done.reason in ("stop", "length")  # and it generates as usual

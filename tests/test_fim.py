"""explorer.gguf.fim: the FIM token lookup and prompt order, without a model."""

from __future__ import annotations

import pytest

from explorer.gguf.fim import (
    FIM_MIDDLE,
    FIM_PREFIX,
    FIM_STOPS,
    FIM_SUFFIX,
    FimUnsupported,
    check_fim_input,
    fim_prompt,
    find_fim_tokens,
)

VOCAB = {FIM_PREFIX: 900, FIM_SUFFIX: 901, FIM_MIDDLE: 902, "<|fim_pad|>": 903, "<|endoftext|>": 0, "<|im_end|>": 5}


def test_finds_the_markers_and_the_stops_the_vocabulary_has() -> None:
    tokens = find_fim_tokens(VOCAB.get)
    assert (tokens.prefix, tokens.suffix, tokens.middle) == (900, 901, 902)
    assert tokens.stops == {903, 0, 5}  # <|repo_name|> and <|file_sep|> are not in this vocabulary
    assert set(FIM_STOPS) >= {"<|endoftext|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>", "<|im_end|>"}


def test_a_vocabulary_without_the_markers_is_refused_in_one_line() -> None:
    vocab = {k: v for k, v in VOCAB.items() if k != FIM_MIDDLE}
    with pytest.raises(FimUnsupported) as err:
        find_fim_tokens(vocab.get)
    assert "<|fim_middle|>" in str(err.value) and "<|fim_prefix|>" not in str(err.value)
    assert "\n" not in str(err.value)


def test_prompt_order_prefix_suffix_middle() -> None:
    tokens = find_fim_tokens(VOCAB.get)
    assert fim_prompt(tokens, [1, 2], [3]) == [900, 1, 2, 901, 3, 902]
    assert fim_prompt(tokens, [1], [], bos=7) == [7, 900, 1, 901, 902]


def test_empty_prefix_and_suffix_are_refused() -> None:
    check_fim_input("def f(", "")
    check_fim_input("", "    return x\n")
    with pytest.raises(ValueError, match="both are empty"):
        check_fim_input("  ", "\n")

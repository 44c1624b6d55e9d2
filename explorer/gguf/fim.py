"""Fill-in-the-middle prompts, built from the model's own token ids.

Qwen3's vocabulary (every variant's, not only Coder's) holds the FIM tokens; Qwen3-Coder is trained
to use them. The prompt is `<|fim_prefix|>PREFIX<|fim_suffix|>SUFFIX<|fim_middle|>`, and the model
writes the middle. The markers go in as token ids looked up in the file's vocabulary, never as typed
text the tokenizer could split (or that a person's code could forge): prefix and suffix are
tokenized as plain text, special tokens not parsed. Wrapping the same string in a chat turn tends to
return Markdown instead of the middle (QwenLM/Qwen3-Coder#543), so this mode skips the template.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

FIM_PREFIX = "<|fim_prefix|>"
FIM_SUFFIX = "<|fim_suffix|>"
FIM_MIDDLE = "<|fim_middle|>"
# Generation stops on any of these (besides the model's end-of-generation tokens): the end of the
# text, padding, or the markers of Qwen's repository-level format, which mean the middle is over.
FIM_STOPS = ("<|endoftext|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>", "<|im_end|>")


class FimUnsupported(ValueError):
    """The model's vocabulary lacks a FIM token; the message names them, in one line."""


@dataclass(frozen=True)
class FimTokens:
    prefix: int
    suffix: int
    middle: int
    stops: frozenset[int]  # the FIM_STOPS the vocabulary has


def find_fim_tokens(lookup: Callable[[str], int | None]) -> FimTokens:
    """The FIM token ids, given `lookup(text) -> id` (None where the vocabulary has no such single
    token). Raises FimUnsupported when one of the three markers is missing."""
    ids = {name: lookup(name) for name in (FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE)}
    missing = [name for name, i in ids.items() if i is None]
    if missing:
        raise FimUnsupported(f"this model's vocabulary has no {', '.join(missing)} token: fill-in-the-middle "
                             "needs a Qwen3 (Coder) vocabulary")
    stops = frozenset(i for i in (lookup(s) for s in FIM_STOPS) if i is not None)
    prefix, suffix, middle = ids[FIM_PREFIX], ids[FIM_SUFFIX], ids[FIM_MIDDLE]
    assert prefix is not None and suffix is not None and middle is not None
    return FimTokens(prefix, suffix, middle, stops)


def fim_prompt(tokens: FimTokens, prefix: Sequence[int], suffix: Sequence[int], *, bos: int | None = None) -> list[int]:
    """The prompt's token ids: [BOS] <|fim_prefix|> prefix <|fim_suffix|> suffix <|fim_middle|>."""
    head = [bos] if bos is not None else []
    return [*head, tokens.prefix, *prefix, tokens.suffix, *suffix, tokens.middle]


def check_fim_input(prefix: str, suffix: str) -> None:
    """A FIM request needs something to fill around: an empty prefix and suffix is refused."""
    if not prefix.strip() and not suffix.strip():
        raise ValueError("fill-in-the-middle needs a prefix or a suffix (both are empty)")

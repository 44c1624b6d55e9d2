"""The Qwen3 variants, and how to tell them from a chat template or a file name.

The variants differ in weights, training and chat template, not in architecture: a GGUF's template
tells hybrid and Thinking-2507 apart, and its file or repo name tells the rest.
"""

from __future__ import annotations

import re
from enum import Enum


class Variant(str, Enum):
    BASE = "base"
    HYBRID = "hybrid"  # original Qwen3-*B: thinks by default, enable_thinking switch
    INSTRUCT_2507 = "instruct-2507"  # never thinks
    THINKING_2507 = "thinking-2507"  # always thinks
    CODER = "coder"  # never thinks

    @property
    def label(self) -> str:
        return {"base": "Base", "hybrid": "Hybrid", "instruct-2507": "Instruct-2507",
                "thinking-2507": "Thinking-2507", "coder": "Coder"}[self.value]


def variant_from_template(template: str | None) -> Variant | None:
    """The variant a GGUF's chat template implies: none is Base, ``enable_thinking`` is hybrid, a
    generation prompt that opens ``<think>`` is Thinking-2507; None when it does not say (Instruct-2507
    and Coder templates look alike: their file names tell them apart)."""
    if template is None:
        return Variant.BASE
    if "enable_thinking" in template:
        return Variant.HYBRID
    if "assistant\\n<think>" in template or "assistant\n<think>" in template:
        return Variant.THINKING_2507
    return None


def _word(word: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![a-z0-9]){word}(?![a-z0-9])")


_THINKING, _INSTRUCT, _CODER = _word("thinking"), _word("instruct"), _word("coder")
_BASE, _HYBRID = _word("base"), _word("hybrid")
_QWEN3_SIZE = re.compile(r"qwen3-\d+(?:\.\d+)?b(?:-a\d+(?:\.\d+)?b)?(?![a-z0-9])")


def guess_variant(*names: str) -> Variant | None:
    """The Qwen3 variant a repo or file name suggests ("Qwen3-4B-Thinking-2507" -> THINKING_2507)."""
    text = " ".join(names).lower().replace("_", "-")
    if "qwen3" not in text:
        return None
    if _THINKING.search(text):
        return Variant.THINKING_2507
    if _CODER.search(text):
        return Variant.CODER
    if _INSTRUCT.search(text):
        return Variant.INSTRUCT_2507
    if _BASE.search(text):
        return Variant.BASE
    if _HYBRID.search(text) or _QWEN3_SIZE.search(text):
        return Variant.HYBRID
    return None

"""Hand-edited saved settings (issue 10): every field is bounded to what the app can use, so anything
hostile reads as its default instead of reaching a spin box (OverflowError, TypeError) or the engine."""

from __future__ import annotations

from typing import Any

import pytest

from explorer.chat.records import DEFAULT_MAX_TOKENS, RANDOM_SEED, PaneSettings
from explorer.chat.templates import SamplingPreset
from explorer.fit.contexts import DEFAULT_CHAT_CTX

OWN = {"temperature": 0.3, "top_p": 0.5, "top_k": 20, "min_p": 0.0}
DEFAULT = PaneSettings()


@pytest.mark.parametrize("field, value", [
    ("seed", 2**40), ("seed", 2**31), ("seed", -2), ("seed", -2**40), ("seed", 1.5), ("seed", "7"), ("seed", True),
    ("budget", 2**40), ("budget", 1_000_001), ("budget", -1), ("budget", 3.0), ("budget", "512"), ("budget", False),
    ("max_tokens", 10**20), ("max_tokens", 1_000_001), ("max_tokens", 0), ("max_tokens", -3), ("max_tokens", 1e3),
    ("ctx", -5), ("ctx", 0), ("ctx", 255), ("ctx", 2**24 + 1), ("ctx", 2**63), ("ctx", "32k"), ("ctx", None),
])
def test_a_number_out_of_range_reads_as_the_default(field: str, value: Any) -> None:
    settings = PaneSettings.from_json({field: value})
    assert getattr(settings, field) == getattr(DEFAULT, field)
    assert (DEFAULT.seed, DEFAULT.budget, DEFAULT.max_tokens, DEFAULT.ctx) == (
        RANDOM_SEED, None, DEFAULT_MAX_TOKENS, DEFAULT_CHAT_CTX)


@pytest.mark.parametrize("field, value", [
    ("seed", -1), ("seed", 0), ("seed", 2**31 - 1), ("budget", 0), ("budget", 1_000_000), ("budget", None),
    ("max_tokens", 1), ("max_tokens", 1_000_000), ("ctx", 256), ("ctx", 16_777_216),
])
def test_the_bounds_themselves_are_kept(field: str, value: Any) -> None:
    assert getattr(PaneSettings.from_json({field: value}), field) == value


@pytest.mark.parametrize("sampling", [
    {**OWN, "temperature": "hot"}, {**OWN, "temperature": float("nan")}, {**OWN, "temperature": float("inf")},
    {**OWN, "temperature": 99.0}, {**OWN, "top_p": 0}, {**OWN, "top_k": -1}, {**OWN, "top_k": 2**40},
    {**OWN, "top_k": 20.5}, {**OWN, "top_k": True}, {**OWN, "min_p": None}, {**OWN, "presence_penalty": 7},
    {**OWN, "repeat_penalty": [1]}, {**OWN, "unknown": 1}, {"temperature": 0.3}, ["not", "an", "object"], "hot",
])
def test_sampling_that_fails_its_check_reads_as_qwens_preset(sampling: Any) -> None:
    assert PaneSettings.from_json({"sampling": sampling, "sampling_is_default": False}).sampling is None


def test_good_sampling_is_kept_with_its_types() -> None:
    kept = PaneSettings.from_json({"sampling": {**OWN, "temperature": 1, "presence_penalty": 1},
                                   "sampling_is_default": False}).sampling
    assert kept == SamplingPreset(1.0, 0.5, 20, 0.0, presence_penalty=1.0)
    assert kept is not None and isinstance(kept.temperature, float) and isinstance(kept.top_k, int)


def test_the_reviewers_file_reads_as_defaults() -> None:
    hostile = {"sampling": {"temperature": "hot", "top_p": 0.5, "top_k": 20, "min_p": 0}, "sampling_is_default": False,
               "seed": 2**40, "max_tokens": 10**20, "ctx": -5, "budget": 2**40, "thinking": "no", "system": 7}
    settings = PaneSettings.from_json(hostile)
    assert settings == PaneSettings()

"""Shard names: one parser and one builder for every split GGUF name."""

from __future__ import annotations

import pytest

from explorer.gguf.shards import (
    Shard,
    display_name,
    first_shard_name,
    parse_shard,
    shard_name,
    shard_names,
    sibling_names,
)


def test_parse_a_shard_name_with_folders() -> None:
    assert parse_shard("Q4_K_M/Qwen3-235B-A22B-Q4_K_M-00002-of-00005.gguf") == Shard(
        "Q4_K_M/Qwen3-235B-A22B-Q4_K_M", 2, 5)


@pytest.mark.parametrize("name", [
    "Qwen3-8B-Q4_K_M.gguf",            # not split
    "-00001-of-00002.gguf",            # no prefix
    "a-00000-of-00000.gguf",           # no shard 0, no set of 0
    "a-00003-of-00002.gguf",           # index past the count
    "a-1-of-2.gguf",                   # not five digits
    "a-00001-of-00002.gguf.part",      # not a .gguf
    "a-00001-of-00002.GGUF",
])
def test_names_that_are_not_shards(name: str) -> None:
    assert parse_shard(name) is None
    assert sibling_names(name) == [name]
    assert first_shard_name(name) == name


def test_build_names_round_trip() -> None:
    names = shard_names("F16/Qwen3-0.6B-F16", 3)
    assert names == ["F16/Qwen3-0.6B-F16-00001-of-00003.gguf", "F16/Qwen3-0.6B-F16-00002-of-00003.gguf",
                     "F16/Qwen3-0.6B-F16-00003-of-00003.gguf"]
    assert [parse_shard(n) for n in names] == [Shard("F16/Qwen3-0.6B-F16", k, 3) for k in (1, 2, 3)]
    assert sibling_names(names[2]) == names
    assert first_shard_name(names[1]) == names[0]
    assert shard_name("m", 12, 123) == "m-00012-of-00123.gguf"


def test_display_name() -> None:
    assert display_name("Q4_K_M/Qwen3-235B-A22B-Q4_K_M-00001-of-00005.gguf") == "Qwen3-235B-A22B-Q4_K_M"
    assert display_name("Qwen3-8B-Q4_K_M.gguf") == "Qwen3-8B-Q4_K_M"
    assert display_name("/home/me/models/Qwen3-8B-Q8_0-00002-of-00002.gguf") == "Qwen3-8B-Q8_0"

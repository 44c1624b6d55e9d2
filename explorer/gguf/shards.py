"""Split GGUF names, as llama.cpp's gguf-split writes them: `<prefix>-00001-of-00003.gguf`.

The one place that parses and builds shard names: the library groups shards into one model, the
downloader fetches every shard named by one of them, the catalog checks its shard lists, the test
Hub splits files, and the UI shows a split model under its prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SHARD_RE = re.compile(r"^(?P<prefix>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.gguf$")


@dataclass(frozen=True)
class Shard:
    prefix: str  # everything before "-00001-of-...", folders included ("Q4_K_M/Qwen3-8B-Q4_K_M")
    index: int  # 1-based
    count: int


def parse_shard(name: str) -> Shard | None:
    """(prefix, index, count) of a shard name or repo path; None when it is not one (or 0 of 0, 3 of 2)."""
    m = SHARD_RE.match(name)
    if m is None:
        return None
    index, count = int(m["index"]), int(m["count"])
    if not 1 <= index <= count:
        return None
    return Shard(m["prefix"], index, count)


def shard_name(prefix: str, index: int, count: int) -> str:
    """`prefix-0000{index}-of-0000{count}.gguf`."""
    return f"{prefix}-{index:05d}-of-{count:05d}.gguf"


def shard_names(prefix: str, count: int) -> list[str]:
    """Every shard name of a set of `count`, in order."""
    return [shard_name(prefix, k, count) for k in range(1, count + 1)]


def sibling_names(name: str) -> list[str]:
    """Every shard of the split set that `name` belongs to; just [name] when it is not a shard."""
    shard = parse_shard(name)
    return [name] if shard is None else shard_names(shard.prefix, shard.count)


def first_shard_name(name: str) -> str:
    """The name of the set's first shard (what llama.cpp opens); `name` itself when not split."""
    return sibling_names(name)[0]


def display_name(filename: str) -> str:
    """A model's name for people: the file name without folders, `.gguf` and the shard numbering."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    shard = parse_shard(base)
    return shard.prefix if shard is not None else base.removesuffix(".gguf")

"""What a GGUF file name says: its quant type.

(The shard-name rules live here too once they are one module; see shards.)
"""

from __future__ import annotations

import re

from explorer.gguf.shape import BITS_PER_WEIGHT

_QUANTS = sorted(BITS_PER_WEIGHT, key=len, reverse=True)  # longest first: Q4_K_M before Q4_K
_QUANT_RE = re.compile(r"(?<![A-Za-z0-9])(" + "|".join(re.escape(q) for q in _QUANTS) + r")(?![A-Za-z0-9])", re.I)


def quant_of(filename: str) -> str | None:
    """The quant type named in a GGUF file name ("Qwen3-8B-Q4_K_M.gguf" -> "Q4_K_M"), if any."""
    name = filename.rsplit("/", 1)[-1]
    if name.lower().startswith("mmproj") or "imatrix" in name.lower():
        return None
    matches = _QUANT_RE.findall(name)
    return matches[-1].upper() if matches else None

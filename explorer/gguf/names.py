"""What a GGUF file name says (its quant type), and whether a name from the Hub is safe to use.

Shard names (`-00001-of-00003.gguf`) are explorer.gguf.shards'.
"""

from __future__ import annotations

import re
import unicodedata

from explorer.gguf.shape import BITS_PER_WEIGHT

MAX_NAME_BYTES = 255  # one path component, as most file systems allow
_QUANTS = sorted(BITS_PER_WEIGHT, key=len, reverse=True)  # longest first: Q4_K_M before Q4_K
_QUANT_RE = re.compile(r"(?<![A-Za-z0-9])(" + "|".join(re.escape(q) for q in _QUANTS) + r")(?![A-Za-z0-9])", re.I)


def quant_of(filename: str) -> str | None:
    """The quant type named in a GGUF file name ("Qwen3-8B-Q4_K_M.gguf" -> "Q4_K_M"), if any."""
    name = filename.rsplit("/", 1)[-1]
    if name.lower().startswith("mmproj") or "imatrix" in name.lower():
        return None
    matches = _QUANT_RE.findall(name)
    return matches[-1].upper() if matches else None


_DRIVE = re.compile(r"^[A-Za-z]:")


def unsafe_name(name: str) -> str | None:
    """Why a repo file name from the Hub must not be used (None: it is safe).

    Refused: empty names, absolute paths (also `C:` drives), backslashes, `.`/`..`/empty parts,
    control characters, and any part longer than MAX_NAME_BYTES in UTF-8.
    """
    if not name:
        return "empty name"
    if name.startswith("/") or _DRIVE.match(name):
        return "absolute path"
    if "\\" in name:
        return "backslash in the name"
    if any(unicodedata.category(c) == "Cc" for c in name):
        return "control character in the name"
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "path escapes its folder"
    if any(len(part.encode("utf-8")) > MAX_NAME_BYTES for part in parts):
        return f"name longer than {MAX_NAME_BYTES} bytes"
    return None

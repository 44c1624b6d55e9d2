"""Text the UI shows for numbers: byte sizes, context lengths, speeds, verdicts."""

from __future__ import annotations

import re

from explorer.fit.estimate import NEEDS_NEWER_LLAMA, FitEstimate, Verdict, verdict_rank
from explorer.units import format_bytes, format_tokens_per_s

__all__ = ["format_bytes", "format_ctx", "format_speed", "parse_ctx", "verdict_rank", "verdict_text"]



def format_ctx(ctx: int) -> str:
    """4096 -> '4K', 40960 -> '40K', 131072 -> '128K'; other values as plain numbers."""
    if ctx >= 1024 and ctx % 1024 == 0:
        return f"{ctx // 1024}K"
    return str(ctx)


_CTX_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*$")


def parse_ctx(text: str) -> int | None:
    """'32K' -> 32768, '32768' -> 32768, '1M' -> 1048576; None when not a positive length."""
    m = _CTX_RE.match(text.replace(",", "").replace("_", ""))
    if not m:
        return None
    value = float(m.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[m.group(2).lower()]
    n = int(value)
    return n if n > 0 else None


def format_speed(tps: float | None) -> str:
    """A predicted speed: '~412 tok/s'; '–' when there is no prediction."""
    return "–" if tps is None else "~" + format_tokens_per_s(tps)




def verdict_text(fit: FitEstimate) -> str:
    """Short badge text: 'full GPU', 'partial 20/37', 'CPU only', 'does not fit', 'needs a newer llama.cpp'."""
    if fit.needs_newer_llama:
        return NEEDS_NEWER_LLAMA
    if fit.verdict is Verdict.PARTIAL:
        return f"partial {fit.gpu_layers}/{fit.n_layers}"
    return str(fit.verdict.value)

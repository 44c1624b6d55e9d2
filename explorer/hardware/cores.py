"""How many threads llama.cpp should use (a leaf module: the engine's worker imports it at spawn)."""

from __future__ import annotations

import functools
import os


@functools.cache
def physical_cores() -> int:
    """Threads for llama.cpp: the physical cores (hyperthreads do not help matrix math).

    Cached: the chat tab plans on every model or context change, and the count does not change."""
    try:
        import psutil

        n = psutil.cpu_count(logical=False)
        if n:
            return int(n)
    except ImportError:
        pass
    return max(1, (os.cpu_count() or 2) // 2)

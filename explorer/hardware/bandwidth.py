"""How fast this machine copies memory: what token generation on the CPU is bound by."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

from explorer.hardware.system import core_counts
from explorer.units import MIB


def measure_ram_bandwidth(size: int = 128 * MIB, threads: int | None = None, repeats: int = 3,
                          deadline: float = 0.4) -> float:
    """Bytes/s for copying a `size` buffer into another (read + write counted), a slice per thread.

    Token generation on the CPU is bound by memory bandwidth, so this is what the speed estimate
    needs; numpy's copy releases the GIL, so the threads run in parallel. Best of `repeats`, fewer
    when `deadline` seconds have passed (touching fresh pages is slow in some VMs).
    """
    import numpy as np

    n_threads = max(1, min(threads or core_counts()[0] or os.cpu_count() or 1, 32))
    src = np.empty(size, dtype=np.uint8)
    dst = np.empty(size, dtype=np.uint8)
    bounds = [(size * k // n_threads, size * (k + 1) // n_threads) for k in range(n_threads)]

    def copy(b: tuple[int, int]) -> None:
        np.copyto(dst[b[0]:b[1]], src[b[0]:b[1]])

    def touch(b: tuple[int, int]) -> None:  # fault the pages in before timing
        src[b[0]:b[1]] = 1
        dst[b[0]:b[1]] = 0

    best = float("inf")
    began = time.perf_counter()
    with ThreadPoolExecutor(n_threads) as pool:
        list(pool.map(touch, bounds))
        for k in range(max(1, repeats)):
            if k and time.perf_counter() - began > deadline:
                break
            start = time.perf_counter()
            list(pool.map(copy, bounds))
            best = min(best, time.perf_counter() - start)
    return 2 * size / best if best > 0 else 0.0

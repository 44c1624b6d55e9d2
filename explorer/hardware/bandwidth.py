"""How fast this machine copies memory: what token generation on the CPU is bound by.

One short copy is a noisy figure (three launches on one idle machine read 17.9, 18.7 and 28.6 GB/s
with a single 0.07 s pass): page faults, frequency ramps and neighbours in a VM all land in it. So a
measurement is several passes, each long enough to time well (the buffer copied until `pass_seconds`
have gone), and the figure is their median. `explorer.hardware.machine_store` keeps it per machine, so
a prediction does not move between launches; it is measured again on request.
"""

from __future__ import annotations

import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from explorer.hardware.system import core_counts
from explorer.units import MIB


@dataclass(frozen=True)
class BandwidthSample:
    median: float  # bytes/s (read + write counted)
    passes: tuple[float, ...]  # each pass's figure, in the order measured
    seconds: float  # how long the measurement took

    @property
    def spread(self) -> float:
        """(max - min) / median of the passes: how much one short pass could have been off."""
        return (max(self.passes) - min(self.passes)) / self.median if self.median else 0.0


def measure_ram_bandwidth(size: int = 128 * MIB, threads: int | None = None, repeats: int = 3,
                          deadline: float = 0.4) -> float:
    """One quick figure: the median of up to `repeats` single copies within `deadline` seconds."""
    return measure_bandwidth(size, threads, passes=repeats, pass_seconds=0.0, deadline=deadline).median


def measure_bandwidth(size: int = 128 * MIB, threads: int | None = None, *, passes: int = 5,
                      pass_seconds: float = 0.08, deadline: float = 3.0) -> BandwidthSample:
    """Copy a `size` buffer into another, a slice per thread (numpy's copy releases the GIL, so the
    threads run in parallel): `passes` timed passes of at least `pass_seconds` each (fewer passes when
    `deadline` seconds have gone), after the pages are faulted in and one untimed warm-up copy."""
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

    figures: list[float] = []
    began = time.perf_counter()
    with ThreadPoolExecutor(n_threads) as pool:
        list(pool.map(touch, bounds))
        list(pool.map(copy, bounds))  # warm-up: caches, frequency, the pool's threads
        for k in range(max(1, passes)):
            if k and time.perf_counter() - began > deadline:
                break
            copies = 0
            start = time.perf_counter()
            while True:
                list(pool.map(copy, bounds))
                copies += 1
                elapsed = time.perf_counter() - start
                if elapsed >= pass_seconds:
                    break
            if elapsed > 0:
                figures.append(2 * size * copies / elapsed)
    median = statistics.median(figures) if figures else 0.0
    return BandwidthSample(median, tuple(figures), time.perf_counter() - began)

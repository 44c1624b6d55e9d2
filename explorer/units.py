"""Byte units and human-readable sizes and rates, shared by the core, the CLI and the GUI."""

from __future__ import annotations

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
_DECIMAL = ("B/s", "KB/s", "MB/s", "GB/s", "TB/s", "PB/s")


def _three_digits(value: float) -> str:
    """About three significant digits: 7.45, 31.2, 512."""
    if abs(value) < 10:
        return f"{value:.2f}"
    if abs(value) < 100:
        return f"{value:.1f}"
    return f"{value:.0f}"


def format_bytes(n: int | float | None) -> str:
    """Binary units, three significant digits: 7.45 GiB, 512 MiB, 900 B; None -> "unknown"."""
    if n is None:
        return "unknown"
    sign = "-" if n < 0 else ""
    value = float(abs(n))
    if value < 1024:
        return f"{sign}{int(value)} B"
    unit = 0
    # Switch units at 1000 rather than 1024 so that "1020 MiB" reads as "0.99 GiB".
    while value >= 1000 and unit < len(_BINARY) - 1:
        value /= 1024
        unit += 1
    return f"{sign}{_three_digits(value)} {_BINARY[unit]}"


def format_bandwidth(bytes_per_s: float | None) -> str:
    """Decimal units, as vendors quote memory bandwidth: 400 GB/s, 3.35 TB/s; None -> "unknown"."""
    if bytes_per_s is None:
        return "unknown"
    value = float(bytes_per_s)
    unit = 0
    while abs(value) >= 1000 and unit < len(_DECIMAL) - 1:
        value /= 1000
        unit += 1
    return f"{_three_digits(value)} {_DECIMAL[unit]}"


def format_tokens_per_s(tps: float) -> str:
    """A speed: '412 tok/s', '8.2 tok/s'."""
    return f"{tps:.0f} tok/s" if tps >= 10 else f"{tps:.1f} tok/s"

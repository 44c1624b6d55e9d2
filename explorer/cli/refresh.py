"""`qwen3-explorer refresh`: ask the Hub for the catalog's exact files, within a deadline; Ctrl+C cancels.

What the app's "Refresh catalog from the Hub" does, from a terminal: the result is saved where the
app reads it (unless nothing answered or the person cancelled), and one line says what happened.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO

from explorer.catalog import refresh as hub_catalog
from explorer.catalog.snapshot import load_catalog

EXIT_CANCELLED = 130  # as a shell reports a command stopped by Ctrl+C


def add_parser(sub: Any) -> None:
    p = sub.add_parser("refresh", help="refresh the catalog's files from the Hub (exact sizes, shards, sha256)")
    p.add_argument("--deadline", type=float, default=hub_catalog.DEFAULT_DEADLINE, metavar="SECONDS",
                   help=f"give up after this long in all (default {hub_catalog.DEFAULT_DEADLINE:g})")
    p.add_argument("--timeout", type=float, default=hub_catalog.REQUEST_TIMEOUT, metavar="SECONDS",
                   help=f"per request (default {hub_catalog.REQUEST_TIMEOUT:g})")
    p.add_argument("--repo", action="append", default=None, help="only this repo (repeatable)")


def summary(result: hub_catalog.RefreshResult) -> str:
    """One line for a person: what was updated, kept, refused, and why it stopped early."""
    parts = [f"{len(result.updated)} repos updated from the Hub"]
    if result.failed:
        parts.append(f"{len(result.failed)} unreachable (kept from the snapshot)")
    if result.skipped:
        parts.append(f"{len(result.skipped)} not asked")
    if result.refused:
        parts.append(f"{len(result.refused)} unsafe file names refused")
    if result.stopped == "deadline":
        parts.append("stopped at the deadline")
    return ", ".join(parts)


def cmd_refresh(args: argparse.Namespace, out: TextIO, *, err: TextIO | None = None,
                stop: threading.Event | None = None, api: Any = None) -> int:
    err = err or sys.stderr
    stop = stop or threading.Event()
    restore: Callable[[], object] = lambda: None  # noqa: E731
    if threading.current_thread() is threading.main_thread():  # Ctrl+C: stop asking, no traceback
        previous = signal.signal(signal.SIGINT, lambda _sig, _frame: stop.set())
        restore = lambda: signal.signal(signal.SIGINT, previous)  # noqa: E731
    try:
        if api is None:
            from huggingface_hub import HfApi

            api = HfApi()
        result = hub_catalog.refresh_catalog(load_catalog(), api, repos=args.repo, cancelled=stop.is_set,
                                             deadline=args.deadline, request_timeout=args.timeout)
    finally:
        restore()
    if result.cancelled:
        err.write("Refresh cancelled; the catalog was not changed.\n")
        return EXIT_CANCELLED
    # One line per reason (offline, all 62 repos fail alike); the repos by name when they are few.
    by_reason: dict[str, list[str]] = {}
    for repo, why in result.failed:
        by_reason.setdefault(why, []).append(repo)
    for why, repos in by_reason.items():
        names = ", ".join(repos) if len(repos) <= 3 else f"{len(repos)} repos ({repos[0]}, ...)"
        err.write(f"{names}: {why}\n")
    for repo, name, why in result.refused:
        err.write(f"{repo}: refused the file name {name}: {why}\n")
    if not result.updated:
        out.write(f"The Hub could not be reached; the catalog was not changed ({summary(result)}).\n")
        return 1
    path = hub_catalog.save_refreshed(result.catalog)
    out.write(f"{summary(result)}; saved to {path}\n")
    return 0

"""`qwen3-explorer leaderboard [--set NAME] [--json]`: the blind votes' ratings, from the votes file.

The same numbers as the app's leaderboard (`explorer.probes.rating`): best first, with the 95% interval,
the number of votes and the wins, losses and ties. Unreadable lines of the file are skipped and counted
on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from dataclasses import asdict
from typing import Any, TextIO


def add_parser(sub: Any) -> None:
    p = sub.add_parser("leaderboard", help="rank the files by the blind comparison's votes (Bradley-Terry rating)")
    p.add_argument("--set", dest="set_name", default=None, metavar="NAME", help="only the votes on this probe set")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def table(rows: list[list[str]], left: int = 2) -> str:
    """Columns padded to their widest value: the first `left` columns to the left, the rest to the right."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(v.ljust(w) if i < left else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths, strict=True)))
             for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(line.rstrip() for line in lines) + "\n"


def cmd_leaderboard(args: argparse.Namespace, out: TextIO) -> int:
    from explorer.probes.rating import leaderboard
    from explorer.probes.votes import VoteStore

    store = VoteStore()
    try:
        log = store.load()
    except ValueError as exc:
        print(f"qwen3-explorer: {exc}", file=sys.stderr)
        return 1
    if log.skipped:
        print(f"note: {log.skipped} unreadable line{'s' * (log.skipped != 1)} in {store.path} "
              f"{'were' if log.skipped != 1 else 'was'} skipped", file=sys.stderr)
    sets = log.set_names()
    if args.set_name is not None and args.set_name not in sets:  # a file stem, as `probe --set` takes
        from explorer.probes.sets import ProbeSetError, find_set

        with contextlib.suppress(ProbeSetError):
            args.set_name = find_set(args.set_name).name
    if args.set_name is not None and args.set_name not in sets:
        known = f"; sets with votes: {', '.join(sets)}" if sets else ""
        print(f"qwen3-explorer: no votes on the set {args.set_name!r}{known}", file=sys.stderr)
        return 2
    ratings = leaderboard(log.votes, args.set_name)
    counted = sum(v.set_name == args.set_name or args.set_name is None for v in log.votes)
    if args.json:
        json.dump({"set": args.set_name, "votes": counted, "skipped": log.skipped, "file": str(store.path),
                   "ratings": [asdict(r) for r in ratings]}, out, indent=1, ensure_ascii=False)
        out.write("\n")
        return 0
    if not ratings:
        out.write(f"no votes yet (the blind comparison saves them in {store.path})\n")
        return 0
    where = f"set {args.set_name}" if args.set_name is not None else "all sets"
    out.write(f"{where}: {counted} vote{'s' * (counted != 1)}, {len(ratings)} files\n")
    rows = [["rank", "file", "rating", "95% interval", "votes", "wins", "losses", "ties"]]
    rows += [[str(i), r.label, f"{r.rating:.0f}", f"{r.low:.0f} to {r.high:.0f}", str(r.votes), str(r.wins),
              str(r.losses), str(r.ties)] for i, r in enumerate(ratings, 1)]
    out.write(table(rows))
    return 0

"""`qwen3-explorer probe FILE... [--set NAME|PATH]` and `probe --list`: a probe set run headless.

    qwen3-explorer probe --list
    qwen3-explorer probe a.gguf b.gguf --set reasoning --max-tokens 512 --md report.md --csv grid.csv

Every file and the set are checked before anything loads (bad input: one line, exit 2). Each answer's
mark goes to stderr as it comes, the totals table to stdout at the end; exit 1 when a cell failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from explorer.cli.args import SAMPLING_FLAGS
from explorer.probes.results import Cell, mark, plain_table, totals_rows, write_csv, write_json, write_markdown
from explorer.probes.sets import ProbeSetError, find_set, list_sets


def _fail(message: str) -> int:
    print(f"qwen3-explorer: {message}", file=sys.stderr)
    return 2


def cmd_probe(args: argparse.Namespace, out: TextIO) -> int:
    if args.list:
        return _list(out)
    if not args.files:
        return _fail("probe needs at least one GGUF file (or --list)")
    for f in args.files:
        if not f.is_file():
            return _fail(f"{'not a regular file' if f.exists() else 'no such file'}: {f}")
    for target in (args.json, args.csv, args.md):
        if target is not None and not target.parent.is_dir():
            return _fail(f"cannot write {target}: no such folder {target.parent}")
    try:
        probe_set = find_set(args.probe_set)
    except ProbeSetError as exc:
        return _fail(str(exc))
    sampling = {name: getattr(args, name) for name, _, _ in SAMPLING_FLAGS if getattr(args, name, None) is not None}
    from explorer.chat.templates import preset_for  # the chat stack: only once the input is good
    from explorer.cli.probe_run import ProbeSettings, run_probe_set

    try:
        if sampling:
            from dataclasses import replace

            replace(preset_for(True), **sampling).check()
    except ValueError as exc:
        return _fail(str(exc))
    settings = ProbeSettings(max_tokens=args.max_tokens, ctx=args.ctx, seed=args.seed, threads=args.threads,
                             force=args.force, thinking=args.thinking, sampling=sampling)

    def show(cell: Cell) -> None:
        failed = f"; failed {'; '.join(cell.failed)}" if cell.failed else ""
        detail = f"error: {cell.error}" if cell.error else f"{cell.tokens} tokens, {cell.seconds:.1f} s{failed}"
        who = f"{Path(cell.file).name} " if len(args.files) > 1 else ""
        sys.stderr.write(f"  {who}{cell.question}: {detail}\n" if cell.error else
                         f"  {who}{cell.question}: {mark(cell)}  {detail}\n")
        sys.stderr.flush()

    try:
        run = run_probe_set(probe_set, list(args.files), settings, on_cell=show)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    n_q, n_f = len(probe_set.questions), len(args.files)
    out.write(f"Probe set {probe_set.name}: {n_q} question{'s' * (n_q != 1)} x {n_f} file{'s' * (n_f != 1)}\n")
    out.write(plain_table(totals_rows(run)))
    for target, write in ((args.json, write_json), (args.csv, write_csv), (args.md, write_markdown)):
        if target is not None:
            try:
                write(run, target)
            except OSError as exc:
                return _fail(f"cannot write {target}: {exc}")
            sys.stderr.write(f"wrote {target}\n")
    return 1 if any(c.error for c in run.cells) else 0


def _list(out: TextIO) -> int:
    entries = list_sets()
    mine = {e.path.stem for e in entries if not e.builtin}
    for entry in entries:
        where = "built-in" if entry.builtin else str(entry.path)
        if entry.path.stem in mine:  # `--set STEM` finds the person's file first
            where += " (hidden by yours of the same name)" if entry.builtin else " (used instead of the built-in)" \
                if any(e.builtin and e.path.stem == entry.path.stem for e in entries) else ""
        if entry.probe_set is None:
            out.write(f"{entry.name:<22} {'':>3}  {where}  (does not load: {entry.error})\n")
            continue
        n = len(entry.probe_set.questions)
        out.write(f"{entry.path.stem:<22} {n:>3} questions  {where}  {entry.probe_set.name}: "
                  f"{entry.probe_set.description}\n")
    return 0

"""`qwen3-explorer diff A B`: two GGUF headers side by side, with what differs marked.

A and B are local files or REPO/FILE on the Hub (read with HTTP Range requests, before any download),
so "what really differs between Instruct-2507 and Thinking-2507" is answered by the files themselves.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from explorer.gguf.header_diff import HeaderDiff

MARK = "≠"
EXIT_MISSING, EXIT_UNREADABLE = 2, 1
A_COLUMN_MAX = 48  # characters; a longer value in column A is cut (column B runs to the line's end)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("diff", help="compare the headers of two GGUFs (local or REPO/FILE on the Hub): shape, "
                                    "vocabulary and special tokens, quantization, chat template")
    p.add_argument("a", metavar="A", help="a local GGUF, or REPO/FILE on the Hub, e.g. "
                                          "Qwen/Qwen3-8B-GGUF/Qwen3-8B-Q4_K_M.gguf")
    p.add_argument("b", metavar="B", help="the other one")
    p.add_argument("--json", action="store_true", help="machine-readable output: the rows and the template diff")
    p.add_argument("--only-differences", action="store_true", help="leave out the rows that are equal")


def format_table(diff: HeaderDiff, *, only_differences: bool = False) -> list[str]:
    """Text lines: the two sources, then per section `MARK label  A  B` (MARK where they differ)."""
    rows = [r for r in diff.rows if r.differs or not only_differences]
    label_w = max((len(r.label) for r in rows), default=0)
    col = min(A_COLUMN_MAX, max([len(r.a) for r in rows] + [1]))
    lines = [f"A  {diff.a.source}", f"B  {diff.b.source}", ""]
    if not rows:
        return [*lines, "no differences"]
    lines.append(f"  {'':<{label_w}}  {'A':<{col}}  B")
    section = ""
    for r in rows:
        if r.section != section:
            section = r.section
            lines.append(f"{section}:")
        a = r.a if len(r.a) <= col else r.a[: col - 1] + "…"
        lines.append(f"{MARK if r.differs else ' '} {r.label:<{label_w}}  {a:<{col}}  {r.b}".rstrip())
    return lines


def cmd_diff(args: argparse.Namespace, out: TextIO, *, err: TextIO | None = None) -> int:
    from explorer.errors import describe_error
    from explorer.gguf.header_diff import MissingInput, compare
    from explorer.gguf.reader import GGUFError

    err = err or sys.stderr
    try:
        diff = compare(args.a, args.b)
    except MissingInput as exc:
        err.write(f"qwen3-explorer: {describe_error(exc)}\n")
        return EXIT_MISSING
    except GGUFError as exc:
        err.write(f"qwen3-explorer: {describe_error(exc)}\n")
        return EXIT_UNREADABLE
    if args.json:
        data = diff.to_json()
        if args.only_differences:
            data["rows"] = [r for r in data["rows"] if r["differs"]]
        json.dump(data, out, indent=1, ensure_ascii=False)
        out.write("\n")
        return 0
    for line in format_table(diff, only_differences=args.only_differences):
        out.write(line + "\n")
    out.write("\n")
    if diff.template_diff:
        out.write(f"chat templates: {diff.template_note}\n{diff.template_diff}")
    else:
        out.write(f"chat templates: {diff.template_note}\n")
    return 0

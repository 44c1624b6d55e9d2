"""`qwen3-explorer guide`: for each use, the variant, why, the best file for this machine and the next step up.

The same picks as the app's Guide (`explorer.guide.pick`), on the probed hardware and the shipped catalog.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any, TextIO

from explorer.catalog.snapshot import Catalog, load_catalog
from explorer.guide.pick import DEFAULT_GUIDE_CTX, QUALITY_FLOOR_BPW, RAM_SHARE, Candidate, Pick, StepUp, pick
from explorer.guide.uses import Use
from explorer.hardware.facts import Hardware
from explorer.units import format_bytes, format_tokens_per_s


def add_parser(sub: Any, *, parse_ctx: Callable[[str], int] = int) -> None:
    """`parse_ctx` is the CLI's context parser ("32k"), passed in so this module does not import `cli.main`."""
    p = sub.add_parser("guide", help="the best Qwen3 file for each use (code, chat, reasoning, research) on this "
                                     "machine, why, and the next step up")
    p.add_argument("--use", choices=[u.value for u in Use], default=None, help="only this use")
    p.add_argument("--ctx", type=parse_ctx, default=DEFAULT_GUIDE_CTX,
                   help=f"context length the pick must fit at (default {DEFAULT_GUIDE_CTX // 1024}k, what a chat "
                        "pane loads with)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--no-llama", action="store_true", help="do not check the llama.cpp build")


def _probe(no_llama: bool) -> Hardware:
    from explorer.hardware.llama_build import LlamaBuild
    from explorer.hardware.probe import probe_hardware
    from explorer.paths import models_dir

    llama = LlamaBuild(installed=False, error="not checked (--no-llama)") if no_llama else None
    return probe_hardware(models_dir(), llama=llama)


def cmd_guide(args: argparse.Namespace, out: TextIO, *, hardware: Hardware | None = None,
              catalog: Catalog | None = None) -> int:
    """`hardware` and `catalog` default to the probe and the shipped catalog (tests pass fakes)."""
    hw = hardware if hardware is not None else _probe(getattr(args, "no_llama", False))
    cat = catalog if catalog is not None else load_catalog()
    uses = [Use(args.use)] if args.use else list(Use)
    picks = [pick(u, cat, hw, args.ctx) for u in uses]
    if args.json:
        json.dump({"ctx": args.ctx, "catalog": cat.source, "catalog_date": cat.snapshot_date,
                   "hardware": {"ram_available": hw.ram_available, "vram_total": hw.vram_total,
                                "gpu_offload": hw.llama.gpu_offload},
                   "quality_floor_bpw": QUALITY_FLOOR_BPW, "ram_share": RAM_SHARE,
                   "uses": [pick_json(p) for p in picks]}, out, indent=1)
        out.write("\n")
        return 0
    out.write(f"Context {args.ctx} tokens; RAM available {format_bytes(hw.ram_available)}")
    out.write(f", VRAM {format_bytes(hw.vram_total)}\n" if hw.gpus else ", no GPU\n")
    for p in picks:
        out.write("\n" + _pick_text(p))
    return 0


def _pick_text(p: Pick) -> str:
    info = p.info
    lines = [f"{info.title} ({p.use.value})"]
    if p.choice is not None:
        thinking = {True: ", thinking on", False: ", thinking off", None: ""}[p.choice.thinking]
        lines.append(f"  variant  {p.choice.variant.label}{thinking}")
        lines.append(f"  why      {p.choice.why}")
    if p.best is not None:
        b = p.best
        lines.append(f"  pick     {b.model.id}  {b.file.quant}  ({b.file.repo}, {_size(b)})")
        lines.append(f"           {b.fit.summary}; {format_bytes(b.fit.total)} in all, "
                     f"{_speed(b.fit.tokens_per_second)}")
    else:
        lines.append("  pick     nothing runs here")
    if p.chat is not None and len(p.chat.panes) == 2:
        a, c = p.chat.panes
        plan = "together" if p.chat.together else "one after the other"
        lines.append(f"  compare  {a.model.id} (thinking on) next to {c.model.id} {c.file.quant} "
                     f"(thinking off), {plan}")
    for note in p.notes:
        lines.append(f"  note     {note}")
    for s in p.steps_up:
        lines.append(f"  up       {s.kind}: {s.candidate.model.id} {s.candidate.file.quant} — {s.text}")
    if not p.steps_up:
        lines.append("  up       nothing bigger or better in the catalog")
    return "\n".join(lines) + "\n"


def _size(c: Candidate) -> str:
    return ("≈" if c.file.size_is_estimate else "") + format_bytes(c.file.size)


def _speed(tps: float | None) -> str:
    return "speed unknown" if tps is None else f"~{format_tokens_per_s(tps)}"


def _candidate_json(c: Candidate) -> dict[str, Any]:
    fit = c.fit
    return {"model": c.model.id, "variant": c.model.variant.value, "size_label": c.model.size_label,
            "repo": c.file.repo, "files": list(c.file.shards), "quant": c.file.quant, "size": c.file.size,
            "verdict": fit.verdict.value, "gpu_layers": fit.gpu_layers, "n_layers": fit.n_layers,
            "vram": fit.gpu.total, "ram": fit.cpu.total, "total": fit.total,
            "tokens_per_second": fit.tokens_per_second, "summary": fit.summary}


def _step_json(s: StepUp) -> dict[str, Any]:
    return {"kind": s.kind, **_candidate_json(s.candidate), "ram_short": s.ram_short,
            "room_short": s.room_short, "vram_short": s.vram_short, "text": s.text}


def pick_json(p: Pick) -> dict[str, Any]:
    return {
        "use": p.use.value, "title": p.info.title, "ctx": p.ctx,
        "variant": p.choice.variant.value if p.choice else None,
        "thinking": p.choice.thinking if p.choice else None,
        "why": p.choice.why if p.choice else None, "source": p.info.source,
        "min_tokens_per_s": p.info.min_tokens_per_s,
        "pick": _candidate_json(p.best) if p.best else None,
        "next_up": _step_json(p.next_up) if p.next_up else None,
        "steps_up": [_step_json(s) for s in p.steps_up],
        "notes": list(p.notes),
        "chat": None if p.chat is None else {
            "ctx": p.chat.ctx, "together": p.chat.together,
            "panes": [{"model": c.model.id, "repo": c.file.repo, "file": c.file.filename, "quant": c.file.quant,
                       "thinking": c.thinking} for c in p.chat.panes]},
    }

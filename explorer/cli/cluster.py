"""`qwen3-explorer fit --cluster a.json b.json ...`: one model across machines with llama.cpp RPC.

Each file is what `qwen3-explorer hardware --json` wrote on that machine; `FILE@HOST` gives the
address the others reach it at (the file's stem by default, which is also the machine's name).
The model is a catalog file (`--model ID --quant Q`) or a local GGUF (`--file`).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from explorer.catalog.snapshot import Catalog, CatalogFile, CatalogModel, load_catalog
from explorer.fit.cluster import (
    DEFAULT_LINK_BITS,
    DEFAULT_RTT,
    RPC_WARNING,
    ClusterPlan,
    ClusterVerdict,
    Machine,
    commands,
    describe_speed,
    engine_url,
    plan_cluster,
)
from explorer.gguf.reader import GGUFError, read_shape
from explorer.gguf.shape import ModelShape
from explorer.hardware.machine_file import MachineFileError, read_machine_file
from explorer.units import format_bytes


class ClusterInputError(ValueError):
    """Bad input to `fit --cluster`: printed as one line, exit status 2."""


def _positive(text: str) -> float:
    value = _finite(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0: {text!r}")
    return value


def _non_negative(text: str) -> float:
    value = _finite(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text!r}")
    return value


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def add_cluster_args(fit: argparse.ArgumentParser) -> None:
    """The `fit` flags for planning across machines."""
    fit.add_argument("--cluster", nargs="+", default=[], metavar="FILE[@HOST]",
                     help="plan one model across machines with llama.cpp RPC: each FILE is `hardware --json` "
                          "from one machine; @HOST is its address (default: the file's name)")
    fit.add_argument("--head", default="",
                     help="with --cluster: the machine that runs llama-server (default: the first)")
    fit.add_argument("--link", type=_positive, default=DEFAULT_LINK_BITS / 1e9, metavar="GBIT",
                     help=f"with --cluster: network speed in Gbit/s (default {DEFAULT_LINK_BITS / 1e9:g})")
    fit.add_argument("--rtt", type=_non_negative, default=DEFAULT_RTT * 1000, metavar="MS",
                     help=f"with --cluster: round-trip time in ms (default {DEFAULT_RTT * 1000:g})")


def parse_machine(spec: str) -> tuple[Path, str, str]:
    """"a.json" or "a.json@10.0.0.2" -> (path, name, host)."""
    path_text, _, host = spec.rpartition("@") if "@" in spec else (spec, "", "")
    path = Path(path_text)
    name = path.stem or path_text
    host = host.strip() or name
    if not path_text or any(c.isspace() for c in host):
        raise ClusterInputError(f"not a machine file: {spec!r} (use FILE or FILE@HOST)")
    return path, name, host


def load_machines(specs: list[str]) -> list[Machine]:
    machines: list[Machine] = []
    for spec in specs:
        path, name, host = parse_machine(spec)
        if any(m.name == name for m in machines):  # one file for two alike machines: told apart by address
            if any(m.name == name and m.host == host for m in machines):
                raise ClusterInputError(f"{spec!r} is named twice at one address: give each its own @HOST")
            name = f"{name}@{host}"
        machines.append(Machine(name, host, read_machine_file(path)))
    return machines


def pick_model(catalog: Catalog, args: argparse.Namespace) -> tuple[str, ModelShape, str]:
    """(label, shape, the path or file name for llama-server -m) from --file or --model and --quant."""
    if args.file:
        if len(args.file) > 1:
            raise ClusterInputError("--cluster plans one model: give one --file")
        path = args.file[0]
        return path.name, read_shape(path), str(path)
    if not args.model or not args.quant:
        raise ClusterInputError("--cluster needs a model: --model ID --quant Q (from the catalog) or --file GGUF")
    model = catalog.find(args.model)
    if model is None:
        matches = [m for m in catalog.models if args.model.lower() in m.id.lower()]
        if len(matches) != 1:
            which = ", ".join(m.id for m in matches[:6]) if matches else "none"
            raise ClusterInputError(f"--model {args.model!r} should name one catalog model (matches: {which})")
        model = matches[0]
    file = _file_for(model, args.quant)
    return f"{model.id} {file.quant}", model.shape_for(file), Path(file.shards[0]).name


def _file_for(model: CatalogModel, quant: str) -> CatalogFile:
    files = model.files_for(quant)
    if not files:
        have = ", ".join(sorted({f.quant for f in model.files}))
        raise ClusterInputError(f"{model.id} has no {quant} file in the catalog (it has {have})")
    return files[0]


def cmd_fit_cluster(args: argparse.Namespace, out: TextIO) -> int:
    try:
        machines = load_machines(args.cluster)
    except (MachineFileError, ClusterInputError) as exc:
        sys.stderr.write(f"qwen3-explorer: {exc}\n")
        return 2
    names = [m.name for m in machines]
    if args.head and args.head not in names:
        sys.stderr.write(f"qwen3-explorer: --head {args.head!r} is not one of the machines ({', '.join(names)})\n")
        return 2
    head = names.index(args.head) if args.head else 0
    if args.link <= 0 or args.rtt < 0:
        sys.stderr.write("qwen3-explorer: --link must be above 0 and --rtt 0 or more\n")
        return 2
    try:
        label, shape, model_path = pick_model(load_catalog(), args)
        plan = plan_cluster(shape, machines, args.ctx, args.kv, head, model=label, link_bits=args.link * 1e9,
                            rtt=args.rtt / 1000)
    except (ClusterInputError, GGUFError, ValueError) as exc:
        sys.stderr.write(f"qwen3-explorer: {exc}\n")
        return 2
    lines = commands(plan, model_path)
    code = 1 if plan.verdict is ClusterVerdict.NO_FIT else 0  # like a load that would fail
    if args.json:
        json.dump(plan_json(plan, lines), out, indent=1)
        out.write("\n")
        return code
    write_plan(plan, lines, out)
    return code


def table_rows(plan: ClusterPlan) -> list[tuple[str, ...]]:
    """(machine, device, layers, weights, KV, compute + overhead, total, free, fits) per device; the head's RAM last."""
    rows: list[tuple[str, ...]] = []
    for d in plan.devices:
        m = d.memory
        machine = d.machine + (" (head)" if d.machine == plan.head else "")
        rows.append((machine, d.label, f"{d.layers} ({d.layer_range})",
                     format_bytes(m.weights), format_bytes(m.kv), format_bytes(m.compute + m.overhead),
                     format_bytes(m.total), format_bytes(d.free), "yes" if d.fits else "NO"))
    h = plan.head_ram
    rows.append((plan.head + " (head)", "llama-server (CPU)", "token embeddings", format_bytes(h.weights),
                 format_bytes(h.kv), format_bytes(h.compute + h.overhead), format_bytes(h.total),
                 format_bytes(plan.head_ram_free), "yes" if h.total <= plan.head_ram_free else "NO"))
    return rows


TABLE_HEADER = ("machine", "device", "layers", "weights", "KV", "compute+", "total", "free", "fits")


def write_plan(plan: ClusterPlan, lines: list[str], out: TextIO) -> None:
    others = [m.name for m in plan.machines if m.name != plan.head]
    out.write(f"{plan.model}: context {plan.ctx}, KV cache {plan.kv_type}; head {plan.head}"
              + (f", workers {', '.join(others)}" if others else "") + "\n")
    rows = [TABLE_HEADER, *table_rows(plan)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(TABLE_HEADER))]
    for k, row in enumerate(rows):
        cells = [c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        out.write("  ".join(cells).rstrip() + "\n")
        if k == 0:
            out.write("-" * (sum(widths) + 2 * (len(widths) - 1)) + "\n")
    out.write(f"split: {plan.split_rule}; --tensor-split {','.join(str(c) for c in plan.tensor_split)} "
              f"(layers per device, the output layer counted on the last)\n")
    out.write(f"verdict: {plan.summary}\n")
    for note in plan.notes:
        out.write(f"note: {note}\n")
    for line in describe_speed(plan):
        out.write(f"speed: {line}\n")
    if lines:
        out.write("commands:\n")
        for line in lines:
            out.write(f"  {line}\n")
        out.write(f"then connect to {engine_url(plan)} as a remote (OpenAI-compatible) engine\n")
    if plan.verdict is ClusterVerdict.FITS:
        out.write(f"warning: {RPC_WARNING}\n")


def plan_json(plan: ClusterPlan, lines: list[str]) -> dict[str, Any]:
    def breakdown(b: Any) -> dict[str, int]:
        return asdict(b) | {"total": b.total}

    net = plan.network
    return {
        "model": plan.model, "ctx": plan.ctx, "kv_type": plan.kv_type, "head": plan.head,
        "machines": [{"name": m.name, "host": m.host} for m in plan.machines],
        "verdict": plan.verdict.value, "summary": plan.summary, "split_rule": plan.split_rule,
        "tensor_split": list(plan.tensor_split),
        "devices": [{"machine": d.machine, "host": d.host, "kind": d.kind, "device": d.device, "label": d.label,
                     "first_layer": d.first_layer, "layers": d.layers, "output": d.output, "free": d.free,
                     "memory": breakdown(d.memory), "fits": d.fits, "seconds_per_token": d.seconds_per_token}
                    for d in plan.devices],
        "head_ram": breakdown(plan.head_ram), "head_ram_free": plan.head_ram_free,
        "tokens_per_second": plan.tokens_per_second,
        "network": {"bytes_per_token": net.bytes_per_token, "transfers": net.transfers,
                    "round_trips": net.round_trips, "seconds_per_token": net.seconds,
                    "link_bits_per_second": net.link_bits, "round_trip_seconds": net.rtt, "hops": list(net.hops)},
        "load_bytes": plan.load_bytes,
        "alone": ({"machine": plan.alone[0], "summary": plan.alone[1].summary,
                   "tokens_per_second": plan.alone[1].tokens_per_second} if plan.alone else None),
        "notes": list(plan.notes), "commands": lines,
        "engine_url": engine_url(plan) if lines else None, "warning": RPC_WARNING,
    }

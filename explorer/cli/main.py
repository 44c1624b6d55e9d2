"""`qwen3-explorer <subcommand>`: the same facts and verdicts as the GUI, for terminals and tests."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from explorer.catalog.snapshot import Catalog, CatalogFile, CatalogModel, load_catalog
from explorer.cli.args import (
    add_escalation_args,
    add_explore_parsers,
    add_model_args,
    add_probe_parser,
    add_sampling_args,
    non_negative_int,
)
from explorer.cli.cluster import add_cluster_args
from explorer.cli.diff import add_parser as add_diff_parser
from explorer.cli.diff import cmd_diff
from explorer.cli.guide import add_parser as add_guide_parser
from explorer.cli.guide import cmd_guide
from explorer.cli.leaderboard import add_parser as add_leaderboard_parser
from explorer.cli.leaderboard import cmd_leaderboard
from explorer.cli.refresh import add_parser as add_refresh_parser
from explorer.cli.refresh import cmd_refresh
from explorer.fit.contexts import DEFAULT_CHAT_CTX, DEFAULT_FIT_CTX
from explorer.fit.estimate import FitEstimate, Verdict, estimate_fit
from explorer.gguf.header_diff import split_hub_spec
from explorer.gguf.reader import GGUFError, read_shape
from explorer.gguf.shape import ModelShape
from explorer.gguf.shards import sibling_names
from explorer.hardware.describe import describe
from explorer.hardware.facts import Hardware
from explorer.hardware.probe import probe_hardware
from explorer.paths import models_dir
from explorer.units import format_bytes

SUBCOMMANDS = ("hardware", "fit", "download", "models", "make-test-models", "chat", "complete", "fim", "sweep",
               "refresh", "probe", "leaderboard", "diff", "guide")
MAX_CTX = 1 << 24  # far above any Qwen3 context (1M with YaRN)


def app_version() -> str:
    """This install's version (the package metadata), "unknown" when it is not installed: `--version` and
    the app's Help > About say the same."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("qwen3-explorer")
    except PackageNotFoundError:
        return "unknown"


def parse_ctx(text: str) -> int:
    """"32768", "32k", "128K" -> tokens."""
    t = text.strip().lower()
    try:
        value = int(float(t[:-1]) * 1024) if t.endswith("k") else int(t)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"not a context length: {text!r} (use e.g. 8192 or 32k)") from None
    if not 256 <= value <= MAX_CTX:
        raise argparse.ArgumentTypeError(f"context length {value} is out of range (256 to {MAX_CTX})")
    return value


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="qwen3-explorer",
                                 description="Choose, fetch and compare local Qwen3 GGUF models. "
                                             "Without a subcommand the desktop app starts.")
    ap.add_argument("--version", action="store_true", help="print the version and exit")
    sub = ap.add_subparsers(dest="command")
    hw = sub.add_parser("hardware", help="show what the probe finds on this machine")
    hw.add_argument("--json", action="store_true", help="machine-readable output")
    hw.add_argument("--no-llama", action="store_true", help="do not check the llama.cpp build")
    hw.add_argument("--remeasure", action="store_true",
                    help="measure the memory bandwidth again (it is measured once per machine and kept)")
    hw.add_argument("--reset-calibration", action="store_true",
                    help="forget the generation speeds measured here (predictions go back to the defaults)")

    fit = sub.add_parser("fit", help="a verdict per Qwen3 GGUF file at a context length")
    fit.add_argument("--ctx", type=parse_ctx, default=DEFAULT_FIT_CTX,
                     help=f"context length in tokens, e.g. 8192 or 32k (default {DEFAULT_FIT_CTX // 1024}k)")
    fit.add_argument("--kv", default="f16", choices=["f16", "q8_0", "q4_0"], help="KV cache type")
    fit.add_argument("--no-flash-attn", action="store_true", help="estimate without flash attention")
    fit.add_argument("--file", type=Path, action="append", default=[],
                     help="a local GGUF (any shard of a split model): use its real header; repeatable")
    fit.add_argument("--hub", action="append", default=[], metavar="REPO/FILE",
                     help="a GGUF on the Hub, e.g. Qwen/Qwen3-8B-GGUF/Qwen3-8B-Q4_K_M.gguf: exact fit from its "
                          "header, read with HTTP Range requests before any download; repeatable")
    fit.add_argument("--model", default="", help="only models whose id contains this text")
    fit.add_argument("--variant", default="", help="base, hybrid, instruct-2507, thinking-2507 or coder")
    fit.add_argument("--quant", default="", help="only this quant type, e.g. Q4_K_M")
    fit.add_argument("--fits", action="store_true", help="hide files that do not fit")
    fit.add_argument("--json", action="store_true", help="machine-readable output")
    fit.add_argument("--no-llama", action="store_true", help="do not check the llama.cpp build")
    add_cluster_args(fit)

    dl = sub.add_parser("download", help="download a GGUF (every shard of a split one) from the Hub, verified")
    dl.add_argument("repo", help="e.g. Qwen/Qwen3-8B-GGUF")
    dl.add_argument("file", help="file in the repo; for a split model any shard, e.g. ...-00001-of-00003.gguf")
    dl.add_argument("--cache-dir", type=Path, default=None, help="Hugging Face cache folder (default: HF_HUB_CACHE)")
    dl.add_argument("--retries", type=int, default=5)

    models = sub.add_parser("models", help="list the GGUF models on disk (Hugging Face cache and our models folder), "
                                           "or with --endpoint the models an OpenAI-compatible server offers")
    _add_endpoint_args(models)
    add_refresh_parser(sub)
    add_leaderboard_parser(sub)
    add_guide_parser(sub, parse_ctx=parse_ctx)
    add_diff_parser(sub)

    _add_chat_parser(sub)
    tm = sub.add_parser("make-test-models", help="write the generated tiny Qwen3 GGUFs (for demos and tests)")
    tm.add_argument("--dir", type=Path, default=None, help="where to write them (default: the test-model cache)")
    return ap


def _add_chat_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("chat", help="chat with a local GGUF in the terminal (same engine as the app)")
    p.add_argument("file", type=Path, metavar="FILE",
                   help="the GGUF (the first shard of a split one); with --endpoint, the server's model id")
    p.add_argument("prompt", nargs="?", help="one message; without it, one message per line from stdin")
    _add_endpoint_args(p)
    think = p.add_mutually_exclusive_group()
    think.add_argument("--think", dest="thinking", action="store_true", default=None,
                       help="thinking on (hybrid models; Thinking-2507 always thinks)")
    think.add_argument("--no-think", dest="thinking", action="store_false", help="thinking off (hybrid models)")
    p.add_argument("--budget", type=non_negative_int, default=None, help="thinking budget in tokens (0: no thinking)")
    p.add_argument("--system", default=None, help="a system prompt (default: the template's own)")
    add_model_args(p, ctx_default=DEFAULT_CHAT_CTX, parse_ctx=parse_ctx)
    add_sampling_args(p)
    add_escalation_args(p)
    add_explore_parsers(sub, ctx_default=DEFAULT_CHAT_CTX, parse_ctx=parse_ctx)
    add_probe_parser(sub, ctx_default=DEFAULT_CHAT_CTX, parse_ctx=parse_ctx)


def _probe(no_llama: bool, remeasure: bool = False) -> Hardware:
    from explorer.hardware.llama_build import LlamaBuild

    llama = LlamaBuild(installed=False, error="not checked (--no-llama)") if no_llama else None
    return probe_hardware(models_dir(), llama=llama, remeasure=remeasure)


def cmd_hardware(args: argparse.Namespace, out: TextIO) -> int:
    hw = _probe(args.no_llama, remeasure=args.remeasure)
    if args.reset_calibration:
        from explorer.fit.calibration import reset

        reset(hw)
        hw = _probe(args.no_llama)
        print("the speed calibration of this machine was reset", file=sys.stderr)
    if args.json:
        json.dump(_jsonable(asdict(hw)), out, indent=2)
        out.write("\n")
        return 0
    rows = describe(hw)
    width = max((len(label) for label, _ in rows), default=0)
    for label, value in rows:
        out.write(f"{label:<{width}}  {value}\n")
    for note in hw.notes:
        out.write(f"  ! {note}\n" if note.startswith("Warning") else f"  - {note}\n")
    return 0


def fit_rows(catalog: Catalog, hw: Hardware, args: argparse.Namespace
             ) -> list[tuple[str, str, CatalogFile | None, ModelShape, FitEstimate]]:
    """(model id, variant, catalog file or None for --file, shape, estimate) for each selected file."""
    flash = not args.no_flash_attn
    rows: list[tuple[str, str, CatalogFile | None, ModelShape, FitEstimate]] = []
    for path in args.file:
        shape = read_shape(path)
        rows.append((path.name, "local file", None, shape,
                     estimate_fit(shape, hw, ctx=args.ctx, kv_type=args.kv, flash_attn=flash)))
    for spec in args.hub:
        from explorer.gguf.remote import read_remote_shape

        repo, filename = split_hub_spec(spec)
        shape = read_remote_shape(repo, sibling_names(filename))
        rows.append((filename, repo, None, shape,
                     estimate_fit(shape, hw, ctx=args.ctx, kv_type=args.kv, flash_attn=flash)))
    if args.file or args.hub:
        return rows
    for model in catalog.models:
        if not _selected(model, args):
            continue
        for f in model.files:
            if args.quant and f.quant.lower() != args.quant.lower():
                continue
            shape = model.shape_for(f)
            est = estimate_fit(shape, hw, ctx=args.ctx, kv_type=args.kv, flash_attn=flash)
            if args.fits and est.verdict is Verdict.NO_FIT:
                continue
            rows.append((model.id, model.variant.label, f, shape, est))
    return rows


def _selected(model: CatalogModel, args: argparse.Namespace) -> bool:
    if args.model and args.model.lower() not in model.id.lower():
        return False
    return not (args.variant and model.variant.value != args.variant.lower())


def cmd_fit(args: argparse.Namespace, out: TextIO) -> int:
    if args.no_flash_attn and args.kv != "f16":
        sys.stderr.write(f"qwen3-explorer: a {args.kv} KV cache needs flash attention; drop --no-flash-attn\n")
        return 2
    if args.cluster:
        from explorer.cli.cluster import cmd_fit_cluster  # machine files, not this machine's probe

        return cmd_fit_cluster(args, out)
    hw = _probe(args.no_llama)
    catalog = load_catalog()
    try:
        rows = fit_rows(catalog, hw, args)
    except GGUFError as exc:
        sys.stderr.write(f"qwen3-explorer: {exc}\n")
        return 2
    if args.json:
        json.dump({
            "ctx": args.ctx, "kv_type": args.kv, "catalog": catalog.source, "catalog_date": catalog.snapshot_date,
            "hardware": {"ram_available": hw.ram_available, "vram_total": hw.vram_total,
                         "gpu_offload": hw.llama.gpu_offload},
            "files": [_fit_json(mid, var, f, shape, est) for mid, var, f, shape, est in rows],
        }, out, indent=1)
        out.write("\n")
        return 0
    out.write(f"Context {args.ctx} tokens, KV cache {args.kv}; RAM available {format_bytes(hw.ram_available)}")
    out.write(f", VRAM {format_bytes(hw.vram_total)}\n" if hw.gpus else ", no GPU\n")
    header = f"{'model':<34} {'publisher':<18} {'quant':<8} {'file':>10} {'needs':>10} {'tok/s':>7}  verdict"
    out.write(header + "\n" + "-" * len(header) + "\n")
    for mid, _var, f, shape, est in rows:
        quant = f.quant if f else shape.file_type
        size = (("≈" if f.size_is_estimate else "") + format_bytes(f.size)) if f else format_bytes(shape.file_bytes)
        speed = f"{est.tokens_per_second:.1f}" if est.tokens_per_second else "-"
        publisher = f.publisher if f else "local"
        out.write(f"{mid:<34} {publisher:<18} {quant:<8} {size:>10} {format_bytes(est.total):>10} {speed:>7}  "
                  f"{est.summary}\n")
    if not rows:
        out.write("(no files match)\n")
    for mid, _var, _f, shape, _est in rows:
        note = arch_note(shape)
        if note:
            out.write(f"note: {mid}: {note}\n")
    return 0


def _fit_json(model_id: str, variant: str, f: CatalogFile | None, shape: ModelShape,
              est: FitEstimate) -> dict[str, Any]:
    return {
        "model": model_id, "variant": variant,
        "repo": f.repo if f else None, "files": list(f.shards) if f else None,
        "quant": f.quant if f else shape.file_type,
        "size": f.size if f else shape.file_bytes, "size_is_estimate": f.size_is_estimate if f else False,
        "verdict": est.verdict.value, "gpu_layers": est.gpu_layers, "n_layers": est.n_layers,
        "gpu": asdict(est.gpu) | {"total": est.gpu.total}, "cpu": asdict(est.cpu) | {"total": est.cpu.total},
        "total": est.total, "tokens_per_second": est.tokens_per_second, "summary": est.summary,
        "exact": est.exact, "note": arch_note(shape),
    }


def arch_note(shape: ModelShape) -> str | None:
    """One line when the file is not a Qwen3 model: the estimate's rules are Qwen3's, so it may be off."""
    if shape.arch.startswith("qwen3"):
        return None
    return (f"the estimate was made for Qwen3 models; this file's architecture is {shape.arch!r}, "
            "so its layers may use memory differently")


def cmd_download(args: argparse.Namespace, out: TextIO) -> int:
    from explorer.store.downloads import DownloadError, DownloadManager, Progress, State

    bar = _ProgressBar(sys.stderr)

    def show(p: Progress) -> None:
        bar.update(p)

    manager = DownloadManager(cache_dir=args.cache_dir, on_progress=show, retries=args.retries)
    try:
        job_id = manager.enqueue(args.repo, sibling_names(args.file))
    except DownloadError as exc:  # a malformed repo id or file name: nothing was queued
        manager.close()
        sys.stderr.write(f"qwen3-explorer: {exc}\n")
        return 2
    try:
        job = manager.wait(job_id)
    except KeyboardInterrupt:
        manager.pause(job_id)
        job = manager.wait(job_id, timeout=10)
        bar.finish()
        sys.stderr.write("paused: the partial download is kept; run the same command again to resume\n")
        manager.close()
        return 130
    bar.finish()
    manager.close()
    if job.state is not State.DONE:
        sys.stderr.write(f"qwen3-explorer: {job.message}\n")
        return 1
    for result in job.results:
        out.write(f"{result.path}\n")
    return 0


class _ProgressBar:
    """One line on a terminal: bar, bytes, speed, ETA. Redrawn at most ~10 times a second."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream, self.width = stream, width
        self.drawn = False

    def update(self, p: Any) -> None:
        if not p.total:
            return
        frac = min(1.0, p.done / p.total)
        filled = int(frac * self.width)
        eta = p.eta
        eta_text = f" ETA {int(eta) // 60}:{int(eta) % 60:02d}" if eta is not None else ""
        line = (f"\r[{'#' * filled}{'.' * (self.width - filled)}] {frac * 100:5.1f}% {format_bytes(p.done)}/"
                f"{format_bytes(p.total)} {format_bytes(p.speed)}/s{eta_text} {p.state.value}")
        self.stream.write(line.ljust(100))
        self.stream.flush()
        self.drawn = True

    def finish(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


def _add_endpoint_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--endpoint", metavar="URL", default=None,
                   help="an OpenAI-compatible server (http://host:8080, a base URL ending in /v1, or a saved "
                        "endpoint's name) instead of local files")
    p.add_argument("--api-key-env", metavar="VAR", default=None,
                   help="the environment variable holding the server's API key (default: the key saved for "
                        "the endpoint, if any)")


def cmd_models(args: argparse.Namespace, out: TextIO) -> int:
    if getattr(args, "endpoint", None):
        from explorer.cli.remote import cmd_models_remote

        return cmd_models_remote(args, out, sys.stderr)
    if getattr(args, "api_key_env", None):
        print("error: --api-key-env goes with --endpoint", file=sys.stderr)
        return 2
    from explorer.store.library import scan_library

    models = scan_library()
    if not models:
        out.write("No GGUF models on disk yet. Try: "
                  "qwen3-explorer download Qwen/Qwen3-0.6B-GGUF Qwen3-0.6B-Q8_0.gguf\n")
        return 0
    for m in models:
        flags = ("verified" if m.verified else "unverified") + ("" if m.complete else ", incomplete")
        where = m.repo or m.source
        error = f"  ERROR: {m.error}" if m.error else ""
        out.write(f"{m.filename:<48} {m.quant or '?':<8} {format_bytes(m.size):>10}  {where:<32} {flags}{error}\n")
    return 0


def cmd_explore(args: argparse.Namespace, out: TextIO) -> int:
    from explorer.cli import explore  # the engine, jinja2 and the rest: only for these commands

    return {"complete": explore.cmd_complete, "fim": explore.cmd_fim, "sweep": explore.cmd_sweep}[args.command](
        args, out)


def cmd_chat(args: argparse.Namespace, out: TextIO) -> int:
    from explorer.cli import chat as cli_chat  # the engine, jinja2 and the rest: only for this command

    return cli_chat.cmd_chat(args, out)


def cmd_probe(args: argparse.Namespace, out: TextIO) -> int:
    from explorer.cli import probe  # the sets are light; the runner loads the engine only once the input is good

    return probe.cmd_probe(args, out)


def cmd_make_test_models(args: argparse.Namespace, out: TextIO) -> int:
    from explorer.testing.models import TEST_MODELS, ensure_model
    from explorer.testing.scripted import ensure_scripted_model

    for spec in TEST_MODELS.values():
        out.write(f"{ensure_model(spec, args.dir)}\n")
    out.write(f"{ensure_scripted_model(directory=args.dir)}\n")  # the demo model that chats by script
    return 0


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    return value


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    stream = out or sys.stdout
    if args.version and args.command is None:
        stream.write(f"qwen3-explorer {app_version()}\n")
        return 0
    if args.command is None:
        build_parser().print_help(stream)
        return 2
    commands = {"hardware": cmd_hardware, "fit": cmd_fit, "download": cmd_download, "models": cmd_models,
                "make-test-models": cmd_make_test_models, "chat": cmd_chat, "complete": cmd_explore,
                "fim": cmd_explore, "sweep": cmd_explore, "refresh": cmd_refresh,
                "probe": cmd_probe, "leaderboard": cmd_leaderboard, "diff": cmd_diff,
                "guide": cmd_guide}
    try:
        return commands[args.command](args, stream)
    except BrokenPipeError:  # `qwen3-explorer fit | head`: the reader left, nothing is wrong
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0

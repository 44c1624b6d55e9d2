"""Ask llama.cpp itself how much memory a model takes: the ground truth for the fit estimate.

A child process loads the model with `verbose=True`; llama.cpp prints the size of every buffer it
allocates (model weights per device, KV cache, compute, output). The parent parses those lines. The
child is a separate process because llama.cpp can abort on a bad file, and because its memory is only
reliably returned when the process ends.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from explorer.units import MIB

_BUFFER_RE = re.compile(
    r"^(?P<where>\w+):\s+(?P<dev>[\w.-]+?)(?:_Mapped)?\s+(?P<kind>model|KV|RS|compute|output)\s+buffer size\s*=\s*"
    r"(?P<mib>[\d.]+) MiB",
)
_LAYERS_RE = re.compile(r"offloaded (\d+)/(\d+) layers to GPU")


@dataclass
class LlamaBuffers:
    """Buffer sizes in bytes as llama.cpp reported them, keyed by device name ("CPU", "CUDA0")."""

    model: dict[str, int] = field(default_factory=dict)
    kv: dict[str, int] = field(default_factory=dict)
    rs: dict[str, int] = field(default_factory=dict)  # recurrent state (linear-attention layers)
    compute: dict[str, int] = field(default_factory=dict)
    output: dict[str, int] = field(default_factory=dict)
    offloaded_layers: tuple[int, int] | None = None
    rss_before: int | None = None  # process RSS before and after loading, bytes
    rss_loaded: int | None = None
    rss_warm: int | None = None  # after one short decode (every weight page touched)

    def total(self, kind: str) -> int:
        return sum(getattr(self, kind).values())


def parse_llama_log(text: str) -> LlamaBuffers:
    """Collect buffer sizes from llama.cpp's verbose load log."""
    out = LlamaBuffers()
    for line in text.splitlines():
        m = _BUFFER_RE.match(line.strip())
        if m:
            kind = m.group("kind").lower()
            bucket: dict[str, int] = getattr(out, kind)
            # llama.cpp prints each buffer once at load; the "~llama_context ... size is" line at
            # exit does not match the pattern.
            bucket[m.group("dev")] = bucket.get(m.group("dev"), 0) + round(float(m.group("mib")) * MIB)
            continue
        lm = _LAYERS_RE.search(line)
        if lm:
            out.offloaded_layers = (int(lm.group(1)), int(lm.group(2)))
    return out


class MeasureError(RuntimeError):
    pass


def measure_buffers(path: Path | str, *, ctx: int, kv_type: str = "f16", n_gpu_layers: int = 0,
                    flash_attn: bool = False, n_ubatch: int = 512, timeout: float = 300) -> LlamaBuffers:
    """Load `path` in a child process and return what llama.cpp allocated."""
    cmd = [sys.executable, "-m", "explorer.engine.measure", str(path), "--ctx", str(ctx),
           "--kv", kv_type, "--ngl", str(n_gpu_layers), "--ubatch", str(n_ubatch)]
    if flash_attn:
        cmd.append("--flash-attn")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, errors="replace")
    except subprocess.TimeoutExpired as exc:
        raise MeasureError(f"llama.cpp did not finish loading {Path(path).name} in {timeout:.0f} s") from exc
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise MeasureError(f"llama.cpp failed to load {Path(path).name} (exit {proc.returncode}):\n{tail}")
    buffers = parse_llama_log(proc.stderr)
    try:
        rss = json.loads(proc.stdout.strip().splitlines()[-1])
        buffers.rss_before, buffers.rss_loaded = int(rss["rss_before"]), int(rss["rss_loaded"])
        buffers.rss_warm = int(rss["rss_warm"])
    except (IndexError, KeyError, ValueError):
        pass
    return buffers


_GGML_TYPES = {"f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q5_0": 6, "q5_1": 7, "q8_0": 8, "bf16": 30}


def _rss() -> int:
    with open(f"/proc/{os.getpid()}/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("path")
    ap.add_argument("--ctx", type=int, required=True)
    ap.add_argument("--kv", default="f16", choices=sorted(_GGML_TYPES))
    ap.add_argument("--ngl", type=int, default=0)
    ap.add_argument("--ubatch", type=int, default=512)
    ap.add_argument("--flash-attn", action="store_true")
    args = ap.parse_args(argv)

    import llama_cpp  # only the engine imports llama.cpp, and only in its own process

    before = _rss()
    llm = llama_cpp.Llama(
        args.path, n_ctx=args.ctx, n_gpu_layers=args.ngl, n_ubatch=args.ubatch, n_batch=args.ubatch,
        type_k=_GGML_TYPES[args.kv], type_v=_GGML_TYPES[args.kv], flash_attn=args.flash_attn,
        verbose=True, n_threads=1,
    )
    loaded = _rss()
    # A prompt of one full ubatch touches every weight page and the whole compute buffer, as a long
    # first message would (a short one touches only part of the compute buffer).
    tokens = llm.tokenize(b" hello" * args.ubatch, add_bos=True, special=True)[: min(args.ubatch, args.ctx - 1)]
    llm.eval(tokens)
    warm = _rss()
    print(json.dumps({"rss_before": before, "rss_loaded": loaded, "rss_warm": warm}), flush=True)
    del llm
    return 0


if __name__ == "__main__":
    sys.exit(main())

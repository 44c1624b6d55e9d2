"""One model across several machines with llama.cpp's RPC backend: the split, the verdict, the speed, the commands.

Each machine describes itself with `qwen3-explorer hardware --json`; `hardware.machine_file` turns that
file back into a `Hardware`. `plan_cluster` places the model the way llama.cpp would once the head runs
`llama-server --rpc ...` against an `rpc-server` on every worker, and `commands` writes those lines.

What llama.cpp does, and where (ggml-org/llama.cpp):

- The head's device list is every RPC device first, in `--rpc` order (each server's devices in its
  own order), then the head's local GPUs; the CPU is not in the list (src/llama.cpp,
  `llama_model_load_from_file_impl`: "add RPC servers at the front of the list to minimize network
  transfers"). RPC devices count as GPUs there, so `-ngl 999` puts every layer on a device.
- The split (src/llama-model.cpp, `llama_model::load_tensors`): with no `--tensor-split`, each
  device's weight is its free memory (`splits[i] = free`, from `ggml_backend_dev_memory`); the
  weights are summed cumulatively and normalised, and layer `il` of `0..n_layer` (where `n_layer`
  is the output layer) goes to the first device whose cumulative share exceeds
  `il / (n_layer + 1)` (`std::upper_bound`). So the layers fall in contiguous ranges in device
  order and the output layer lands on the last device. Each layer's KV cache sits on its layer's
  device (src/llama-kv-cache.cpp, `dev_layer(il)`).
- The input layer (token embeddings) always stays on the head's CPU ("there is very little
  benefit to offloading the input layer").
- `rpc-server` exposes every accelerator of its machine by default and the CPU only when there is
  none; `-d CUDA0,CPU` picks devices, `-H` and `-p` the address (default 127.0.0.1:50052), `-c`
  keeps received tensors in a local cache so the next load does not send them again
  (tools/rpc/rpc-server.cpp). A server reports each device's own free memory.

Our rule is llama.cpp's rule on our own figures: weights are the free memory the machine files
report (free VRAM less the estimate's 3% headroom; available RAM, where ggml's CPU device on Linux
would report all of the RAM as free). Because the head's figures at launch differ from the files,
and because of that CPU figure, the plan always passes the layer counts as `--tensor-split`: with
counts `c_i` (the output layer counted on the last device), llama.cpp's cumulative shares are
`(c_1 + ... + c_i) / (n_layer + 1)` and it reproduces the planned ranges exactly.

Which devices take part: the GPUs of every machine first; only when they cannot hold the model do
the machines' CPU RAMs join (each served by an `rpc-server -d ... CPU`; the head's own RAM through
one on 127.0.0.1). If the split by free memory overflows a device while the total would do, the
weights become each device's room after its fixed costs (backend overhead, compute buffer).

Per token, the activations (n_embd f32 values) cross every boundary between two machines' devices;
between two workers they go through the head (the RPC backend copies between servers by reading
into the head and writing out again), and the logits (n_vocab f32 values) come back to the head when
the output layer is remote. Each transfer and each remote device's graph run costs a round trip.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any

from explorer.fit.estimate import (
    CPU_EFFICIENCY,
    CPU_OVERHEAD,
    GPU_EFFICIENCY,
    GPU_HEADROOM,
    GPU_OVERHEAD,
    KV_TOKENS_FOR_SPEED,
    Breakdown,
    FitEstimate,
    Verdict,
    compute_buffer_bytes,
    estimate_fit,
    memory_bytes_per_block,
    usable_gpus,
)
from explorer.gguf.shape import ModelShape
from explorer.hardware.facts import GPU, Hardware
from explorer.units import GIB, format_bytes

DEFAULT_PORT = 50052  # rpc-server's own default
DEFAULT_SERVER_PORT = 8080  # llama-server's own default
DEFAULT_LINK_BITS = 1e9  # bits/s: gigabit Ethernet, the common home and office link
DEFAULT_RTT = 0.5e-3  # seconds per request/answer over a switched LAN
ACTIVATION_BYTES = 4  # the activations cross devices as f32
NO_LAYERS_NGL = 999  # "-ngl 999": every layer on a device (llama.cpp caps it at n_layer + 1)
RPC_WARNING = ("llama.cpp's RPC has no authentication and no encryption: anyone who reaches an rpc-server port "
               "can run code on that machine's devices. Use it on a trusted network only.")

# The name ggml gives a machine's first device of each vendor's backend ("CUDA0", "ROCm0", ...).
_DEVICE_PREFIX = {"nvidia": "CUDA", "amd": "ROCm", "apple": "MTL", "intel": "SYCL"}


@dataclass(frozen=True)
class Machine:
    name: str  # what the person calls it (the file's stem by default)
    host: str  # the address the other machines reach it at
    hw: Hardware


class ClusterVerdict(str, Enum):
    FITS = "fits across the machines"
    ONE_MACHINE = "fits on one machine alone"
    NO_FIT = "does not fit"


@dataclass(frozen=True)
class ClusterDevice:
    """One device in llama.cpp's order on the head, and what the plan puts on it."""

    machine: str
    host: str
    kind: str  # "gpu" or "cpu"
    device: str  # ggml's name for it on its machine: "CUDA0", "CPU"
    label: str  # for a person: "Fake RTX 4090 (CUDA0)", "RAM (CPU)"
    free: int  # bytes it may use
    on_head: bool
    first_layer: int = 0
    layers: int = 0  # llama.cpp layers: blocks, plus one when it holds the output layer
    output: bool = False  # holds the output layer (the last device with layers)
    memory: Breakdown = field(default_factory=Breakdown)
    seconds_per_token: float | None = None  # reading its weights and KV once, at its bandwidth

    @property
    def blocks(self) -> int:
        return self.layers - (1 if self.output else 0)

    @property
    def fits(self) -> bool:
        return self.memory.total <= self.free

    @property
    def layer_range(self) -> str:
        if not self.layers:
            return "-"
        last = self.first_layer + self.blocks - 1
        blocks = "" if not self.blocks else (f"{self.first_layer}" if last == self.first_layer
                                             else f"{self.first_layer}-{last}")
        return ", ".join(p for p in (blocks, "output" if self.output else "") if p)


@dataclass(frozen=True)
class NetworkCost:
    """What crosses the network for one generated token."""

    bytes_per_token: int
    transfers: int  # tensors sent between machines per token
    round_trips: int  # requests answered over the network per token (transfers + remote graph runs)
    link_bits: float  # bits/s assumed
    rtt: float  # seconds per round trip assumed
    hops: tuple[str, ...]  # each crossing in words

    @property
    def seconds(self) -> float:
        return self.bytes_per_token * 8 / self.link_bits + self.round_trips * self.rtt


@dataclass(frozen=True)
class ClusterPlan:
    model: str
    ctx: int
    kv_type: str
    n_layer: int  # blocks; llama.cpp's layers are n_layer + 1 with the output layer
    machines: tuple[Machine, ...]
    head: str
    devices: tuple[ClusterDevice, ...]  # llama.cpp's order on the head; every device that takes part
    head_ram: Breakdown  # the head's own process: token embeddings, its compute buffer, overhead
    head_ram_free: int
    verdict: ClusterVerdict
    summary: str
    split_rule: str  # how the weights of the split were chosen, in words
    uses_ram: bool  # the machines' CPU RAM takes layers (the GPUs alone were not enough)
    network: NetworkCost
    tokens_per_second: float | None  # across the machines, None when it does not fit or a bandwidth is unknown
    load_bytes: int  # weights sent to the workers when the model loads (once with rpc-server -c)
    alone: tuple[str, FitEstimate] | None = None  # the machine that runs it alone, and how
    notes: tuple[str, ...] = ()

    @property
    def tensor_split(self) -> tuple[int, ...]:
        return tuple(d.layers for d in self.devices)

    @property
    def fits(self) -> bool:
        return self.verdict is not ClusterVerdict.NO_FIT

    def machine(self, name: str) -> Machine:
        return next(m for m in self.machines if m.name == name)


def split_layers(weights: Sequence[float], n_layer: int) -> list[int]:
    """Layers (0..n_layer, the output layer last) per device by llama.cpp's rule for `weights`.

    src/llama-model.cpp `load_tensors`: cumulative, normalised split points; layer `il` goes to
    `upper_bound(splits, il / (n_layer + 1))`.
    """
    total = float(sum(weights))
    if total <= 0:
        raise ValueError("no device has memory to split over")
    cumulative: list[float] = []
    running = 0.0
    for w in weights:
        running += w
        cumulative.append(running / total)
    counts = [0] * len(weights)
    for il in range(n_layer + 1):
        counts[min(bisect_right(cumulative, il / (n_layer + 1)), len(weights) - 1)] += 1
    return counts


def _gpu_device_name(g: GPU, hw: Hardware, ordinal: int) -> str:
    info = hw.llama.system_info
    if "Vulkan" in info:
        return f"Vulkan{ordinal}"
    return f"{_DEVICE_PREFIX.get(g.vendor, 'GPU')}{ordinal}"


def _head_ram(shape: ModelShape, n_ubatch: int) -> Breakdown:
    """The head's own process when every layer is on a device: what estimate_fit keeps in RAM then."""
    small_compute = 2 * shape.n_embd * n_ubatch * 4
    return Breakdown(shape.token_embd_bytes, 0, small_compute, CPU_OVERHEAD + shape.n_vocab * 4)


def _candidates(machines: Sequence[Machine], head: int,
                head_need: int) -> tuple[list[ClusterDevice], list[ClusterDevice]]:
    """(GPUs, CPU RAMs) as devices, each list in llama.cpp's order on the head."""
    gpus: dict[int, list[ClusterDevice]] = {}
    rams: dict[int, ClusterDevice] = {}
    for i, m in enumerate(machines):
        hw = m.hw
        found = usable_gpus(hw) if hw.offload_possible else []
        gpus[i] = []
        for ordinal, g in enumerate(found):
            avail = g.vram_free if g.vram_free is not None else g.vram_total
            if g.unified:
                avail = min(avail, hw.ram_available)
            gpus[i].append(ClusterDevice(m.name, m.host, "gpu", _gpu_device_name(g, hw, ordinal),
                                         f"{g.name} ({_gpu_device_name(g, hw, ordinal)})",
                                         int(avail * (1 - GPU_HEADROOM)), i == head))
        if any(g.unified for g in found):
            continue  # the GPU already uses this machine's RAM
        free = hw.ram_available - (head_need if i == head else 0)
        rams[i] = ClusterDevice(m.name, "127.0.0.1" if i == head else m.host, "cpu", "CPU", "RAM (CPU)",
                                max(0, free), i == head)
    # RPC devices first, in --rpc order (the workers in file order, the head's own rpc-server for
    # its RAM last); then the head's local GPUs, which take the last layers and the output layer.
    order = [i for i in range(len(machines)) if i != head]
    gpu_list = [d for i in order for d in gpus[i]] + gpus[head]
    ram_list: list[ClusterDevice] = []
    for i in order:
        ram_list.extend(gpus[i])
        if i in rams:
            ram_list.append(rams[i])
    if head in rams:
        ram_list.append(rams[head])
    ram_list.extend(gpus[head])
    return gpu_list, ram_list


def _place(shape: ModelShape, devices: Sequence[ClusterDevice], counts: Sequence[int], memory: Sequence[int],
           compute: int, overheads: Mapping[tuple[str, str], int]) -> list[ClusterDevice]:
    placed: list[ClusterDevice] = []
    start = 0
    n = shape.n_layers
    for d, count in zip(devices, counts, strict=True):
        end = start + count
        output = count > 0 and end == n + 1
        blocks_end = min(end, n)
        weights = sum(lw.total for lw in shape.layers[start:blocks_end]) + (shape.output_head_bytes if output else 0)
        kv = sum(memory[start:blocks_end])
        overhead = overheads.get((d.machine, d.device), CPU_OVERHEAD)
        used = Breakdown(weights, kv, compute if count else 0, overhead)
        placed.append(_replace(d, first_layer=start, layers=count, output=output, memory=used))
        start = end
    return placed


def _fill(shape: ModelShape, devices: Sequence[ClusterDevice], counts: list[int], memory: Sequence[int],
          compute: int, overheads: Mapping[tuple[str, str], int]) -> list[ClusterDevice]:
    """`counts` changed a layer at a time, from the first device that overflows to the one with the most
    memory left, until everything fits or nothing can move."""
    counts = list(counts)
    placed = _place(shape, devices, counts, memory, compute, overheads)
    for _ in range(shape.n_layers + 1):
        over = next((i for i, d in enumerate(placed) if not d.fits), None)
        if over is None or counts[over] == 0:
            break
        spare = [(d.free - d.memory.total, j) for j, d in enumerate(placed) if j != over and d.fits]
        if not spare or max(spare)[0] <= 0:
            break
        counts[over] -= 1
        counts[max(spare)[1]] += 1
        placed = _place(shape, devices, counts, memory, compute, overheads)
    return placed


def _replace(d: ClusterDevice, **changes: Any) -> ClusterDevice:
    values = {f.name: getattr(d, f.name) for f in fields(ClusterDevice)}
    values.update(changes)
    return ClusterDevice(**values)


def _gib(n: float) -> str:
    return f"{n / GIB:.1f} GiB"


def plan_cluster(shape: ModelShape, machines: Sequence[Machine] | Sequence[tuple[str, str, Hardware]], ctx: int,
                 kv_type: str = "f16", head: int = 0, *, model: str = "", link_bits: float = DEFAULT_LINK_BITS,
                 rtt: float = DEFAULT_RTT, n_ubatch: int = 512) -> ClusterPlan:
    """Place `shape` across `machines` ((name, host, Hardware) each) with `head` running llama-server.

    See the module's doc for llama.cpp's rule and where the plan departs from its defaults.
    """
    ms = tuple(m if isinstance(m, Machine) else Machine(*m) for m in machines)
    if not ms:
        raise ValueError("no machines to plan across")
    if not 0 <= head < len(ms):
        raise ValueError(f"head {head} is not one of the {len(ms)} machines")
    if link_bits <= 0 or rtt < 0:
        raise ValueError("the link speed must be positive and the round-trip time not negative")
    names = [m.name for m in ms]
    if len(set(names)) != len(names):
        raise ValueError(f"two machines share a name: {', '.join(sorted({n for n in names if names.count(n) > 1}))}")
    n = shape.n_layers
    head_ram = _head_ram(shape, n_ubatch)
    memory = memory_bytes_per_block(shape, ctx, kv_type)
    compute = compute_buffer_bytes(shape, ctx, kv_type=kv_type, n_ubatch=n_ubatch)
    overheads = {(m.name, d.device): GPU_OVERHEAD.get(g.vendor, 480 * 2**20)
                 for m in ms for d, g in _gpus_with_names(m)}
    gpu_list, ram_list = _candidates(ms, head, head_ram.total)

    attempts: list[tuple[list[ClusterDevice], str, bool]] = []
    for devices, uses_ram in ((gpu_list, False), (ram_list, True)):
        if not devices or (uses_ram and len(devices) == len(gpu_list)):
            continue
        for rule in ("free", "room", "fill"):
            if rule == "fill":  # the proportional splits overflow a device: move layers off it one by one
                if not attempts or attempts[-1][2] != uses_ram:
                    continue
                placed = _fill(shape, devices, [d.layers for d in attempts[-1][0]], memory, compute, overheads)
                attempts.append((placed, "by the memory each device has left (a proportional split overflows "
                                         "one; the explicit --tensor-split below says so to llama.cpp)", uses_ram))
                if all(d.fits for d in placed):
                    break
                continue
            if rule == "free":
                weights = [float(d.free) for d in devices]
                words = "in proportion to free memory (llama.cpp's default rule)"
            else:
                fixed = [overheads.get((d.machine, d.device), CPU_OVERHEAD) + compute for d in devices]
                weights = [float(max(0, d.free - f)) for d, f in zip(devices, fixed, strict=True)]
                words = ("in proportion to each device's room after its fixed costs (the split by free memory "
                         "overflows a device)")
            if sum(weights) <= 0:
                continue
            placed = _place(shape, devices, split_layers(weights, n), memory, compute, overheads)
            attempts.append((placed, words, uses_ram))
            if all(d.fits for d in placed):
                break
        if attempts and all(d.fits for d in attempts[-1][0]):
            break

    head_free = ms[head].hw.ram_available
    if attempts:
        fitting = [a for a in attempts if all(d.fits for d in a[0])]
        placed, words, uses_ram = fitting[0] if fitting else min(
            attempts, key=lambda a: sum(max(0, d.memory.total - d.free) for d in a[0]))
    else:
        placed, words, uses_ram = [], "no device to split over", False
    cluster_fits = bool(placed) and all(d.fits for d in placed) and head_ram.total <= head_free

    notes: list[str] = []
    for m in ms:  # a GPU the machine's llama.cpp build can not use is not a device: say so, not drop it quietly
        if m.hw.gpus and not m.hw.offload_possible:
            n = len(m.hw.gpus)
            notes.append(f"{m.name}: its {n} GPU{'s are' if n != 1 else ' is'} not used: the "
                         "llama.cpp build in its file has no GPU backend (rebuild it with one, then run "
                         "`qwen3-explorer hardware --json` again)")
    unsupported = [m.name for m in ms if m.hw.llama.supports(shape.arch) is False]
    if unsupported:
        notes.append(f"the llama.cpp build on {', '.join(unsupported)} cannot load {shape.arch!r} models; "
                     "every machine needs the same build, one that knows the architecture")
        cluster_fits = False
    placed = _with_speed(shape, ctx, kv_type, placed, ms)
    network = _network(shape, placed, ms[head].name, link_bits, rtt)
    speed = None
    if cluster_fits and placed and all(d.seconds_per_token is not None for d in placed if d.layers):
        seconds = sum(d.seconds_per_token or 0.0 for d in placed if d.layers) + network.seconds
        speed = 1 / seconds if seconds > 0 else None
    load = sum(d.memory.weights for d in placed if d.machine != ms[head].name)

    alone = _best_alone(shape, ms, ctx, kv_type)
    label = model or shape.file_type or shape.arch
    if alone is not None:
        verdict = ClusterVerdict.ONE_MACHINE
        speed_text = f", about {alone[1].tokens_per_second:.1f} tokens/s" if alone[1].tokens_per_second else ""
        summary = (f"fits on {alone[0]} alone ({alone[1].summary}{speed_text}); RPC is not needed: "
                   f"run llama-server on {alone[0]}")
    elif cluster_fits:
        verdict = ClusterVerdict.FITS
        used = sorted({d.machine for d in placed if d.layers}, key=names.index)
        summary = (f"fits across {len(used)} machines ({', '.join(used)}): {len(placed)} devices, "
                   f"{_gib(sum(d.memory.total for d in placed) + head_ram.total)} in all")
    else:
        verdict = ClusterVerdict.NO_FIT
        summary = _no_fit_summary(placed, head_ram, head_free, ms[head].name, unsupported, shape.arch)
    return ClusterPlan(label, ctx, kv_type, n, ms, ms[head].name, tuple(placed), head_ram, head_free, verdict,
                       summary, words, uses_ram, network, speed, load, alone, tuple(notes))


def _gpus_with_names(m: Machine) -> list[tuple[ClusterDevice, GPU]]:
    found = usable_gpus(m.hw) if m.hw.offload_possible else []
    return [(ClusterDevice(m.name, m.host, "gpu", _gpu_device_name(g, m.hw, i), "", 0, False), g)
            for i, g in enumerate(found)]


def _no_fit_summary(placed: Sequence[ClusterDevice], head_ram: Breakdown, head_free: int, head: str,
                    unsupported: Sequence[str], arch: str) -> str:
    if unsupported:
        return f"does not fit: the llama.cpp build on {', '.join(unsupported)} cannot load {arch!r} models"
    if not placed:
        return "does not fit: no machine has memory to offer"
    need = sum(d.memory.total for d in placed) + head_ram.total
    free = sum(d.free for d in placed) + (0 if any(d.kind == "cpu" and d.on_head for d in placed) else head_free)
    over = [f"{d.machine} {d.device} by {_gib(d.memory.total - d.free)}" for d in placed if not d.fits]
    if head_ram.total > head_free:
        over.append(f"{head} RAM by {_gib(head_ram.total - head_free)}")
    text = f"does not fit: needs {_gib(need)}, the machines offer {_gib(free)}"
    if need > free:
        text += f" ({_gib(need - free)} short)"
    if over:
        text += "; over: " + ", ".join(over)
    return text


def _with_speed(shape: ModelShape, ctx: int, kv_type: str, placed: Sequence[ClusterDevice],
                ms: Sequence[Machine]) -> list[ClusterDevice]:
    """Each device's time per token: its share of the weights read per token and its KV so far."""
    mem = memory_bytes_per_block(shape, min(ctx, KV_TOKENS_FOR_SPEED), kv_type)
    by_name = {m.name: m.hw for m in ms}
    out: list[ClusterDevice] = []
    for d in placed:
        if not d.layers:
            out.append(d)
            continue
        hw = by_name[d.machine]
        read = sum(shape.layer_bytes_read_per_token(i) + mem[i] for i in range(d.first_layer, d.first_layer + d.blocks))
        if d.output:
            read += shape.output_bytes + (shape.token_embd_bytes if shape.tied_embeddings else 0)
        if d.kind == "gpu":
            g = next((g for dev, g in _gpus_with_names(Machine(d.machine, d.host, hw)) if dev.device == d.device), None)
            bw = g.bandwidth if g is not None else None
            eff = hw.gpu_efficiency or GPU_EFFICIENCY
        else:
            bw, eff = hw.ram_bandwidth, hw.cpu_efficiency or CPU_EFFICIENCY
        out.append(_replace(d, seconds_per_token=read / (bw * eff) if bw else None))
    return out


def _network(shape: ModelShape, placed: Sequence[ClusterDevice], head: str, link_bits: float,
             rtt: float) -> NetworkCost:
    """Bytes and round trips per token along the pipeline: head CPU -> devices in order -> logits to head."""
    activations = shape.n_embd * ACTIVATION_BYTES
    stages = [d for d in placed if d.layers]
    total = transfers = 0
    hops: list[str] = []
    where = head  # the token embeddings are looked up on the head's CPU
    for d in stages:
        if d.machine != where:
            via_head = where != head and d.machine != head
            n = 2 if via_head else 1
            total += n * activations
            transfers += n
            through = " (through the head)" if via_head else ""
            hops.append(f"{where} → {d.machine}: {format_bytes(activations)}{through}")
            where = d.machine
    if stages and where != head:
        logits = shape.n_vocab * ACTIVATION_BYTES
        total += logits
        transfers += 1
        hops.append(f"{where} → {head}: logits {format_bytes(logits)}")
    remote_runs = sum(1 for d in stages if d.machine != head)
    return NetworkCost(total, transfers, transfers + remote_runs, link_bits, rtt, tuple(hops))


def _best_alone(shape: ModelShape, ms: Sequence[Machine], ctx: int, kv_type: str) -> tuple[str, FitEstimate] | None:
    """The machine that runs the model alone, fastest first (a machine with no speed figure last)."""
    fits = [(m.name, est) for m in ms
            if (est := estimate_fit(shape, m.hw, ctx=ctx, kv_type=kv_type)).verdict is not Verdict.NO_FIT]
    if not fits:
        return None
    return max(fits, key=lambda f: f[1].tokens_per_second or 0.0)


# --- the commands ------------------------------------------------------------------------------


def rpc_endpoints(plan: ClusterPlan, ports: Mapping[str, int] | None = None) -> list[tuple[Machine, str, int, str]]:
    """(machine, host, port, devices for -d or "") of every rpc-server the plan needs, in --rpc order."""
    ports = ports or {}
    out: list[tuple[Machine, str, int, str]] = []
    seen: list[str] = []
    for d in plan.devices:
        if (d.on_head and d.kind == "gpu") or d.machine in seen:
            continue
        seen.append(d.machine)
        m = plan.machine(d.machine)
        mine = [x for x in plan.devices if x.machine == d.machine and (x.kind == "cpu" or not x.on_head)]
        gpus = [x.device for x in mine if x.kind == "gpu"]
        has_cpu = any(x.kind == "cpu" for x in mine)
        all_gpus = [dev.device for dev, _g in _gpus_with_names(m)]
        # rpc-server's default: every accelerator, or the CPU when there is none; -d only when that differs.
        if d.on_head:
            chosen = "CPU" if all_gpus else ""
        elif has_cpu and all_gpus:
            chosen = ",".join([*gpus, "CPU"])
        elif gpus and gpus != all_gpus:
            chosen = ",".join(gpus)
        else:
            chosen = ""
        out.append((m, "127.0.0.1" if d.on_head else m.host, ports.get(m.name, DEFAULT_PORT), chosen))
    return out


def commands(plan: ClusterPlan, model_path: str, ports: Mapping[str, int] | None = None, *,
             server_port: int = DEFAULT_SERVER_PORT) -> list[str]:
    """The lines to run: `rpc-server` on each worker (and on the head for its RAM), then `llama-server` on the head.

    When one machine runs the model alone, the one `llama-server` line for it. Nothing when it does not fit.
    """
    kv = [] if plan.kv_type == "f16" else ["-fa", "on", "-ctk", plan.kv_type, "-ctv", plan.kv_type]
    if plan.verdict is ClusterVerdict.ONE_MACHINE and plan.alone is not None:
        name, est = plan.alone
        host = plan.machine(name).host
        return [" ".join(["llama-server", "-m", _quote(model_path), "-c", str(plan.ctx), "-ngl", str(est.gpu_layers),
                          *kv, "--host", host, "--port", str(server_port)])]
    if plan.verdict is ClusterVerdict.NO_FIT:
        return []
    head = plan.machine(plan.head)
    lines: list[str] = []
    endpoints = rpc_endpoints(plan, ports)
    for m, host, port, devices in endpoints:
        where = f"# on {m.name}" + (" (the head: its RAM)" if m.name == plan.head else "")
        line = f"rpc-server -H {host} -p {port} -c" + (f" -d {devices}" if devices else "")
        lines.append(f"{line}   {where}")
    rpc = ",".join(f"{host}:{port}" for _m, host, port, _d in endpoints)
    split = ",".join(str(c) for c in plan.tensor_split)
    head_line = ["llama-server", "-m", _quote(model_path)]
    if rpc:
        head_line += ["--rpc", rpc]
    head_line += ["--tensor-split", split, "-c", str(plan.ctx), "-ngl", str(NO_LAYERS_NGL), *kv,
                  "--host", head.host, "--port", str(server_port)]
    lines.append(" ".join(head_line) + f"   # on {head.name}, the head")
    return lines


def engine_url(plan: ClusterPlan, server_port: int = DEFAULT_SERVER_PORT) -> str:
    """Where to connect as a remote (OpenAI-compatible) engine once the head's llama-server runs."""
    name = plan.alone[0] if plan.verdict is ClusterVerdict.ONE_MACHINE and plan.alone else plan.head
    return f"http://{plan.machine(name).host}:{server_port}/v1"


def _quote(text: str) -> str:
    safe = all(c.isalnum() or c in "/._-+=:@~" for c in text)
    return text if safe and text else "'" + text.replace("'", "'\"'\"'") + "'"


def describe_speed(plan: ClusterPlan) -> list[str]:
    """The speed in words: the total, the slowest device, the network's share and its per-token transfer."""
    net = plan.network
    out: list[str] = []
    working = [d for d in plan.devices if d.layers]
    if plan.tokens_per_second is not None:
        out.append(f"about {plan.tokens_per_second:.1f} tokens/s across the machines (each token passes every "
                   "device in turn, then the network)")
    elif working and any(d.seconds_per_token is None for d in working):
        unknown = ", ".join(f"{d.machine} {d.device}" for d in working if d.seconds_per_token is None)
        out.append(f"speed unknown: no memory bandwidth for {unknown}")
    timed = [d for d in working if d.seconds_per_token]
    if timed:
        slow = max(timed, key=lambda d: d.seconds_per_token or 0.0)
        out.append(f"slowest device: {slow.machine} {slow.device}, {1000 * (slow.seconds_per_token or 0):.1f} ms "
                   "per token")
    out.append(f"network: {format_bytes(net.bytes_per_token)} per token in {net.transfers} transfers, "
               f"{net.round_trips} round trips; {1000 * net.seconds:.1f} ms per token at "
               f"{net.link_bits / 1e9:g} Gbit/s and {1000 * net.rtt:g} ms per round trip")
    out.extend(f"  {hop}" for hop in net.hops)
    if plan.load_bytes:
        minutes = plan.load_bytes * 8 / net.link_bits / 60
        took = f"about {minutes:.0f} min" if minutes >= 1 else "under a minute"
        out.append(f"loading sends {_gib(plan.load_bytes)} of weights to the workers ({took} at "
                   f"{net.link_bits / 1e9:g} Gbit/s); rpc-server -c keeps them for the next load")
    return out

"""Which side-by-side chat panes load their models together, and which wait their turn.

Models that fit together (by the fit estimate) run concurrently; the rest run one wave after
another, and the plan is shown to the user before anything loads. A model that does not fit even
alone is never loaded unless the user overrides it for that pane.

Policy: greedy, in pane order. The current wave keeps a running reservation of RAM and VRAM; each
request is estimated with that reservation. It joins the wave if it fits, starts the next wave if
it only fits alone, and is blocked (or, overridden, gets a wave of its own) if it fits nowhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from explorer.fit.estimate import FitEstimate, Verdict, estimate_fit, usable_gpus
from explorer.gguf.shape import ModelShape
from explorer.hardware.cores import physical_cores
from explorer.hardware.facts import Hardware
from explorer.units import format_bytes

OVERRIDE_HINT = "tick 'Load anyway' to try"


@dataclass(frozen=True)
class PaneRequest:
    pane: int  # the pane's number as shown, 1-based
    label: str  # e.g. "Qwen3-0.6B Q8_0"
    key: str  # identity of the file (first shard's resolved path): equal keys = same file
    shape: ModelShape
    ctx: int
    kv_type: str = "f16"
    override: bool = False  # the user asked to load it even though it does not fit


@dataclass(frozen=True)
class Placement:
    pane: int
    label: str
    fit: FitEstimate  # estimated WITH the memory reserved by the models placed before it in its wave
    n_gpu_layers: int  # the value to pass to llama.cpp's n_gpu_layers for this placement
    n_threads: int  # CPU threads for this model's worker while its wave runs
    overridden: bool = False  # loaded despite a "does not fit" verdict, on the user's word


@dataclass(frozen=True)
class Plan:
    waves: tuple[tuple[Placement, ...], ...]  # each wave loads and runs together; waves run in order
    blocked: tuple[tuple[int, str], ...]  # (pane, why) for panes that will not run
    # (RAM, VRAM) bytes each wave takes, shared weights counted once; and what was free for them.
    memory: tuple[tuple[int, int], ...] = ()
    ram_available: int = 0
    vram_available: int = 0
    has_gpu: bool = False

    @property
    def concurrent(self) -> bool:
        """Everything that runs, runs at once (no waiting for another wave)."""
        return len(self.waves) <= 1

    def placement(self, pane: int) -> Placement | None:
        for wave in self.waves:
            for p in wave:
                if p.pane == pane:
                    return p
        return None

    def lines(self) -> list[str]:
        """The plan in words for a person, shown before running."""
        if not self.waves and not self.blocked:
            return ["Nothing to run."]
        out: list[str] = []
        if len(self.waves) == 1:
            wave = self.waves[0]
            head = (f"All {len(wave)} panes run together" if len(wave) > 1 and not self.blocked
                    else f"{_panes_word(wave)} run together" if len(wave) > 1
                    else f"Pane {wave[0].pane} runs")
            out.append(f"{head} ({self._memory_text(0)})")
            out.append(", ".join(_describe(p) for p in wave))
        else:
            for i, wave in enumerate(self.waves):
                prefix = ("Together" if len(wave) > 1 else "First") if i == 0 else (
                    "Then, together" if len(wave) > 1 else "Then")
                out.append(f"{prefix}: " + ", ".join(_describe(p) for p in wave))
        out.extend(f"Not run: pane {pane} — {why}" for pane, why in self.blocked)
        return out

    def _memory_text(self, index: int) -> str:
        if index >= len(self.memory):
            return "memory not estimated"
        ram, vram = self.memory[index]
        text = f"{format_bytes(ram)} of {format_bytes(self.ram_available)} free RAM"
        if self.has_gpu:
            text += f", {format_bytes(vram)} of {format_bytes(self.vram_available)} free VRAM"
        return text


def _panes_word(wave: Sequence[Placement]) -> str:
    numbers = [str(p.pane) for p in wave]
    return "Panes " + ", ".join(numbers[:-1]) + " and " + numbers[-1]


def _where(fit: FitEstimate) -> str:
    if fit.gpu_layers <= 0:
        return "CPU"
    if fit.gpu_layers >= fit.n_layers:
        return "GPU"
    return f"{fit.gpu_layers}/{fit.n_layers} layers on GPU"


def _describe(p: Placement) -> str:
    threads = f"{p.n_threads} thread" + ("" if p.n_threads == 1 else "s")
    anyway = ", loaded anyway: may not fit" if p.overridden else ""
    return f"pane {p.pane} ({p.label}, {_where(p.fit)}, {threads}{anyway})"


def n_gpu_layers_for(fit: FitEstimate) -> int:
    """llama.cpp's n_gpu_layers for the placement `fit` describes.

    fit.py counts `gpu_layers` = k as: the last min(k, n_blocks) repeating blocks on the GPU, plus
    the output head when k > n_blocks (k = n_blocks + 1 is everything). llama.cpp reads
    n_gpu_layers the same way: it puts blocks i >= n_blocks - k on the GPU and treats the output
    layer as index n_blocks, which lands on the GPU only when k > n_blocks. So the number passes
    through unchanged. CPU only means 0, whatever else the estimate holds.
    """
    if fit.verdict is Verdict.CPU_ONLY:
        return 0
    return max(0, min(fit.gpu_layers, fit.n_layers))


def _vram_free(hw: Hardware) -> int:
    if not hw.offload_possible:
        return 0
    return sum(g.vram_free if g.vram_free is not None else g.vram_total for g in usable_gpus(hw))


@dataclass
class Wave:
    """Models that run together, as the plan fills it: what they hold of RAM and VRAM."""

    items: list[tuple[PaneRequest, FitEstimate, bool]] = field(default_factory=list)
    ram: int = 0
    vram: int = 0
    # CPU-resident weight bytes already mapped, per file key (see fit_in_wave).
    mapped: dict[str, int] = field(default_factory=dict)


def fit_in_wave(req: PaneRequest, hw: Hardware, wave: Wave) -> tuple[FitEstimate, int]:
    """(estimate, RAM it adds to the wave) for `req` joining `wave`.

    llama.cpp mmaps the weights, so a second model from the same file shares its CPU-resident
    weights with the first through the page cache: they cost RAM once. Offload goes from the last
    block down, so the CPU-resident parts of two placements of one file are nested, and the shared
    bytes are the smaller of the two. The estimate is asked with that much RAM handed back; as this
    copy's own CPU weights are only known after estimating, a smaller copy is estimated again with
    the exact credit. KV cache and compute buffers are never shared, nor is VRAM: each copy uploads
    its own GPU weights.
    """
    def estimate(credit: int) -> FitEstimate:
        return estimate_fit(req.shape, hw, ctx=req.ctx, kv_type=req.kv_type,
                            reserved_ram=max(0, wave.ram - credit), reserved_vram=wave.vram)

    credit = wave.mapped.get(req.key, 0)
    fit = estimate(credit)
    for _ in range(3):  # settles at once without unified memory (placement depends on VRAM only)
        if fit.verdict is Verdict.NO_FIT or fit.cpu.weights >= credit:
            break
        credit = fit.cpu.weights
        fit = estimate(credit)
    if fit.verdict is not Verdict.NO_FIT and fit.cpu.weights < credit:
        credit = 0  # did not settle: count no sharing rather than risk an overcommit
        fit = estimate(0)
    return fit, fit.cpu.total - min(credit, fit.cpu.weights)


def _add(wave: Wave, req: PaneRequest, fit: FitEstimate, ram: int, overridden: bool = False) -> None:
    wave.items.append((req, fit, overridden))
    wave.ram += ram
    wave.vram += fit.gpu.total
    wave.mapped[req.key] = max(wave.mapped.get(req.key, 0), fit.cpu.weights)


def _threads(wave: Wave, cores: int) -> list[int]:
    """Split the physical cores evenly over the models of the wave that compute on the CPU.

    A full-GPU model needs only a thread or two to drive its GPU, so it does not count in the split;
    it still gets one share (simple, and the threads mostly wait on the GPU).
    """
    on_cpu = [fit.verdict is not Verdict.FULL_GPU for _, fit, _ in wave.items]
    share, extra = divmod(cores, max(1, sum(on_cpu)))
    out: list[int] = []
    for cpu in on_cpu:
        n = share + (1 if cpu and extra > 0 else 0)
        if cpu and extra > 0:
            extra -= 1
        out.append(max(1, n))
    return out


def _close(wave: Wave, cores: int) -> tuple[Placement, ...]:
    return tuple(Placement(req.pane, req.label, fit, n_gpu_layers_for(fit), n, over)
                 for (req, fit, over), n in zip(wave.items, _threads(wave, cores), strict=True))


def plan_runs(requests: Sequence[PaneRequest], hw: Hardware, *, cores: int | None = None) -> Plan:
    """Group the panes' models into waves that fit together (see the module docstring)."""
    n_cores = max(1, cores if cores is not None else physical_cores())
    waves: list[Wave] = []
    blocked: list[tuple[int, str]] = []
    current = Wave()

    def flush() -> None:
        nonlocal current
        if current.items:
            waves.append(current)
        current = Wave()

    for req in requests:
        fit, ram = fit_in_wave(req, hw, current)
        if fit.verdict is not Verdict.NO_FIT:
            _add(current, req, fit, ram)
            continue
        alone, ram = fit_in_wave(req, hw, Wave())
        if alone.verdict is not Verdict.NO_FIT:
            flush()
            _add(current, req, alone, ram)
        elif req.override:
            flush()
            _add(current, req, alone, ram, overridden=True)
            flush()
        else:
            blocked.append((req.pane, f"{alone.summary}; {OVERRIDE_HINT}"))
    flush()
    return Plan(waves=tuple(_close(w, n_cores) for w in waves), blocked=tuple(blocked),
                memory=tuple((w.ram, w.vram) for w in waves), ram_available=hw.ram_available,
                vram_available=_vram_free(hw), has_gpu=hw.offload_possible)

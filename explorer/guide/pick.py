"""The guide's pick: the best catalog file for a use on this machine, and the next step up.

The rule, in order:

1. Variants: the use's variants in their order of preference (`uses.USES`); a later one is tried
   only when no file of an earlier one qualifies.
2. Models: within a variant, the largest model first (total, then active parameters).
3. A file qualifies when
   - it runs: the fit estimate says anything but "does not fit";
   - it leaves room: a file that runs partly or wholly from system RAM takes at most `RAM_SHARE`
     (85%) of the free RAM (unified memory on Apple); the estimate's own margins cover llama.cpp,
     not the browser and the editor beside it. A full-GPU file is bounded by the estimate's VRAM
     headroom instead;
   - it is fast enough: its predicted speed reaches the use's floor (reading speed, twice that for
     thinking). A file whose speed cannot be predicted (memory bandwidth unknown) is given the
     benefit of the doubt.
4. Quality: first only quants of at least `QUALITY_FLOOR_BPW` bits per weight (Q4_0/Q4_K_M and up);
   below four bits the loss grows quickly (llama.cpp's k-quant perplexity tables, ggml-org/llama.cpp
   PR #1684: Q4_K_M is within a few percent of F16, Q3_K_M and Q2_K clearly worse). Only when no
   variant has such a file does a second pass accept the lower-bit quants.
5. Within the chosen model: the best placement (full GPU, then partial offload, then CPU only), then
   the most bits per weight, then the publisher (Qwen's own repos first, then files whose listing was
   verified), then the catalog's order.
6. When nothing qualifies, the speed floor goes first: the largest model that runs and leaves room,
   called slow; then room: the largest model that runs at all, called tight (and slow if it is).
   Under the floor speed still counts: a model is passed over when its fastest such file is under
   `SLOW_SHARE` (a quarter of) the speed of the fastest file of its variant that passes (a 235B-A22B
   at a seventh of the 30B-A3B's speed is no pick when neither is fast enough), and within the model the
   fastest file at 4 bits or more comes first (the fewest bits from Q4 up: a Q8_0 at half the speed
   of the Q4_K_M buys little when both are slow), else the most bits under four. The notes say the
   pick is slow, below 4 bits if it is, and name the fastest file for the use, whatever its size.

So a bigger model wins over a better quant of a smaller one (as long as it is at least 4-bit, fast
enough and leaves room), and within a model full GPU wins over more bits; when nothing is fast enough,
a far slower model and a slower quant lose (rule 6), and the notes name the fastest file for the use.
`steps_up` says what the next larger model (at its cheapest 4-bit-or-better quant) and the next better
quant of the picked model would need, and why it is not the pick: it does not fit, fits worse, is under
the speed floor, or leaves too little room.

Pure and deterministic: the same catalog, hardware and context give the same pick. The estimates
come from `fit.batch.compute_fits`, so the guide and the Models tab agree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from explorer.catalog.snapshot import Catalog, CatalogFile, CatalogModel
from explorer.fit.batch import compute_fits
from explorer.fit.contexts import DEFAULT_CHAT_CTX
from explorer.fit.estimate import GPU_HEADROOM, VERDICT_ORDER, FitEstimate, Verdict, estimate_fit, usable_gpus
from explorer.gguf.shape import BITS_PER_WEIGHT
from explorer.gguf.variant import Variant
from explorer.guide.uses import USES, Use, UseInfo, VariantChoice
from explorer.hardware.facts import Hardware
from explorer.units import format_bytes, format_tokens_per_s

QUALITY_FLOOR_BPW = 4.5  # Q4_0 (4.55), Q4_K_M (4.89) and up; Q3_K_L (4.27) and below are "low-bit"
SLOW_SHARE = 0.25  # under the speed floor, a model at less than this share of its variant's fastest is passed over
DEFAULT_GUIDE_CTX = DEFAULT_CHAT_CTX  # what "Open in chat" loads a model with
_HUGE = 1 << 60


@dataclass(frozen=True)
class Candidate:
    model: CatalogModel
    file: CatalogFile
    fit: FitEstimate

    @property
    def bits(self) -> float:
        return bits_of(self.file)

    @property
    def label(self) -> str:
        return f"{self.model.id} {self.file.quant}"


@dataclass(frozen=True)
class StepUp:
    """What the next step beyond the pick would take on this machine."""

    kind: str  # "bigger model", "better quant", or "smallest model" (when nothing was picked: where to start)
    candidate: Candidate
    ram_short: int  # bytes of RAM (unified memory on Apple) it lacks to run at all; 0 when it runs
    room_short: int  # bytes of RAM it takes beyond RAM_SHARE of the free RAM; 0 when it leaves room or does not run
    vram_short: int  # bytes of VRAM it lacks to run fully on the GPU; 0 when it does or no GPU is usable
    text: str  # one line for a person


@dataclass(frozen=True)
class ChatPane:
    model: CatalogModel
    file: CatalogFile
    thinking: bool | None  # None: the variant decides (Instruct-2507 and Coder never think, Thinking-2507 always)


@dataclass(frozen=True)
class OpenInChat:
    """What "Open in chat" asks the chat grid for: one pane, or thinking on next to thinking off."""

    panes: tuple[ChatPane, ...]
    ctx: int
    together: bool  # the panes fit in memory at once (else the chat grid runs them one after the other)


@dataclass(frozen=True)
class Pick:
    use: Use
    ctx: int
    choice: VariantChoice | None  # the variant that serves the use here; None when nothing runs
    best: Candidate | None
    steps_up: tuple[StepUp, ...]
    notes: tuple[str, ...]  # what a person should know: a fallback, a low-bit quant, a slow speed
    chat: OpenInChat | None

    @property
    def info(self) -> UseInfo:
        return USES[self.use]

    @property
    def next_up(self) -> StepUp | None:
        return self.steps_up[0] if self.steps_up else None


def bits_of(f: CatalogFile) -> float:
    return BITS_PER_WEIGHT.get(f.quant.upper(), 0.0)


def _size_key(m: CatalogModel) -> tuple[float, float, str]:
    return (m.params_total, m.params_active, m.id)


def publisher_rank(f: CatalogFile) -> int:
    return 0 if f.publisher == "Qwen" else (1 if f.verified else 2)


def _fast_enough(fit: FitEstimate, floor: float) -> bool:
    return fit.tokens_per_second is None or fit.tokens_per_second >= floor


RAM_SHARE = 0.85  # of the free RAM, the most a pick that runs partly or wholly from RAM may take (rule 3)


def _runs(c: Candidate) -> bool:
    return c.fit.verdict is not Verdict.NO_FIT


def _roomy(c: Candidate, hw: Hardware) -> bool:
    """Leaves the rest of the machine room (see the module's doc, rule 3)."""
    return _room_short(c, hw) == 0


def _room_short(c: Candidate, hw: Hardware) -> int:
    """Bytes of RAM the file takes beyond `RAM_SHARE` of the free RAM; 0 on the GPU alone or within the share."""
    if c.fit.verdict is Verdict.FULL_GPU:
        return 0
    return max(0, c.fit.cpu.total - int(RAM_SHARE * hw.ram_available))


def _room_text(c: Candidate, hw: Hardware) -> str:
    """"takes 5.49 GiB of the 6.00 GiB free RAM (the guide keeps 15% for the rest of the machine)"."""
    memory = "memory" if _unified(hw) else "RAM"
    return (f"takes {format_bytes(c.fit.cpu.total)} of the {format_bytes(hw.ram_available)} free {memory} "
            f"(the guide keeps {round(100 * (1 - RAM_SHARE))}% for the rest of the machine)")


def _unified(hw: Hardware) -> bool:
    return hw.offload_possible and any(g.unified for g in usable_gpus(hw))


def _within_model_key(c: Candidate, order: int) -> tuple[int, float, int, int]:
    return (VERDICT_ORDER[c.fit.verdict], -c.bits, publisher_rank(c.file), order)


def candidates_for(use: Use, catalog: Catalog, hw: Hardware, ctx: int, *, kv_type: str = "f16",
                   cancelled: Callable[[], bool] | None = None) -> list[Candidate]:
    """Each file of the use's variants with its fit here, in catalog order; a file whose estimate failed is dropped."""
    wanted = set(USES[use].variants)
    pairs = [(m, f) for m, f in catalog.iter_files() if m.variant in wanted]
    batch = compute_fits(pairs, hw, ctx, kv_type, cancelled=cancelled)
    return [Candidate(m, f, fit) for (m, f), fit in zip(pairs, batch.fits, strict=True) if fit is not None]


def pick(use: Use | str, catalog: Catalog, hw: Hardware, ctx: int = DEFAULT_GUIDE_CTX, *, kv_type: str = "f16",
         cancelled: Callable[[], bool] | None = None) -> Pick:
    """The best file for `use` on `hw` at `ctx` tokens, by the rule in the module's docstring."""
    use = Use(use)
    info = USES[use]
    cands = candidates_for(use, catalog, hw, ctx, kv_type=kv_type, cancelled=cancelled)
    order = {id(c): i for i, c in enumerate(cands)}
    floor = info.min_tokens_per_s

    def runs_fast(min_bits: float) -> Callable[[Candidate], bool]:
        return lambda c: _runs(c) and _fast_enough(c.fit, floor) and c.bits >= min_bits

    def with_room(test: Callable[[Candidate], bool]) -> Callable[[Candidate], bool]:
        return lambda c: test(c) and _roomy(c, hw)

    # Passes (rules 3, 4 and 6): each is a test without the room condition; a file qualifies when it passes the test
    # and leaves room, and in the last pass room is dropped too.
    passes: tuple[tuple[str, Callable[[Candidate], bool]], ...] = (
        ("4-bit", runs_fast(QUALITY_FLOOR_BPW)), ("low-bit", runs_fast(0.0)), ("slow", _runs))
    best: Candidate | None = None
    how: str = "tight"
    test: Callable[[Candidate], bool] = _runs  # the pass that found the pick, and its test
    for name, passed in passes:
        best = _first_qualifying(info, cands, order, with_room(passed), slow=name == "slow")
        if best is not None:
            how, test = name, passed
            break
    if best is None:  # nothing for this use leaves room: the largest that runs at all, and say how much it takes
        best = _first_qualifying(info, cands, order, _runs, slow=True)

    notes: list[str] = []
    if best is None:
        notes.append(_nothing_runs(info, cands, ctx))
        return Pick(use, ctx, None, None, _steps_up(info, None, cands, hw, order), tuple(notes), None)
    choice = info.choice_for(best.model.variant)
    assert choice is not None
    if choice is not info.choices[0]:
        first = info.choices[0].variant
        notes.append(_fallback_note(info, choice, catalog, hw,
                                    _tightest([c for c in cands if c.model.variant is first and test(c)], hw)))
    if how == "low-bit":
        tight = _tightest([c for c in cands if runs_fast(QUALITY_FLOOR_BPW)(c)], hw)
        notes.append(f"{best.file.quant} is below 4 bits per weight: nothing at Q4 or better runs here at "
                     f"{_ctx_text(ctx)} context fast enough" + _and_leaves_room(tight, hw)
                     + "; expect noticeably weaker answers")
    if how in ("slow", "tight") and not _fast_enough(best.fit, floor):
        tight = _tightest([c for c in cands if runs_fast(0.0)(c)], hw)
        notes.append(f"predicted {format_tokens_per_s(best.fit.tokens_per_second or 0)}, under the "
                     f"{format_tokens_per_s(floor)} this use needs to feel usable; nothing for this use reaches it "
                     f"here" + _and_leaves_room(tight, hw) + _fastest_text(best, cands, hw, how == "slow"))
        if best.bits < QUALITY_FLOOR_BPW:
            notes.append(_low_bit_slow_note(best, cands, hw))
    if how == "tight":
        notes.append(f"it {_room_text(best, hw)}: nothing for this use runs here and leaves that much room")
    if best.fit.tokens_per_second is None:
        notes.append("speed unknown: the memory bandwidth of this machine was not found")
    chat = _open_in_chat(info, choice, best, catalog, hw, ctx, kv_type)
    if info.compare_thinking and chat is not None and len(chat.panes) == 1:
        notes.append(f"no Instruct-2507 {best.model.size_label} in the catalog to show next to it with thinking off")
    return Pick(use, ctx, choice, best, _steps_up(info, best, cands, hw, order), tuple(notes), chat)


def _speed(c: Candidate) -> float:
    return c.fit.tokens_per_second if c.fit.tokens_per_second is not None else float("inf")


def _slow_within_model_key(c: Candidate, order: int) -> tuple[int, bool, float, int, int]:
    """Under the speed floor (rule 6): placement, then the fewest bits from 4 up (the fastest good quant), then
    the most bits under 4."""
    good = c.bits >= QUALITY_FLOOR_BPW
    return (VERDICT_ORDER[c.fit.verdict], not good, c.bits if good else -c.bits, publisher_rank(c.file), order)


def _first_qualifying(info: UseInfo, cands: Sequence[Candidate], order: dict[int, int],
                      ok: Callable[[Candidate], bool], *, slow: bool = False) -> Candidate | None:
    """Variants in preference order, models largest first, the best qualifying file of the first model that has one.
    `slow` (nothing reaches the speed floor, rule 6): a model under `SLOW_SHARE` of its variant's fastest qualifying
    file is passed over, and within a model the slow key picks the file."""
    for variant in info.variants:
        passing = [c for c in cands if c.model.variant is variant and ok(c)]
        if not passing:
            continue
        fastest = max(_speed(c) for c in passing)
        models = sorted({c.model.id: c.model for c in passing}.values(), key=_size_key, reverse=True)
        for model in models:
            good = [c for c in passing if c.model.id == model.id]
            if slow and max(_speed(c) for c in good) < SLOW_SHARE * fastest:
                continue
            if slow:
                return min(good, key=lambda c: _slow_within_model_key(c, order[id(c)]))
            return min(good, key=lambda c: _within_model_key(c, order[id(c)]))
    return None


def _fastest_text(best: Candidate, cands: Sequence[Candidate], hw: Hardware, room: bool) -> str:
    """"; the fastest for this use, Qwen3-0.6B Q4_K_M, runs ~1.8 tok/s, a much smaller model" or "" (the pick is
    the fastest, or close to it). At 4 bits or more when such a file runs (and leaves room, when `room`)."""
    runs = [c for c in cands if _runs(c) and c.fit.tokens_per_second is not None and (not room or _roomy(c, hw))]
    good = [c for c in runs if c.bits >= QUALITY_FLOOR_BPW] or runs
    if not good or best.fit.tokens_per_second is None:
        return ""
    fastest = max(good, key=lambda c: (_speed(c), c.model.params_total, c.bits))
    if _speed(fastest) < 1.5 * best.fit.tokens_per_second:
        return ""
    smaller = ", a much smaller model" if fastest.model.params_total < best.model.params_active else ""
    return (f"; the fastest for this use, {fastest.label}, runs ~{format_tokens_per_s(_speed(fastest))}"
            f"{smaller}")


def _low_bit_slow_note(best: Candidate, cands: Sequence[Candidate], hw: Hardware) -> str:
    """Why a slow pick is below 4 bits: its 4-bit files do not run, or take too much RAM."""
    four = [c for c in cands if c.model.id == best.model.id and c.bits >= QUALITY_FLOOR_BPW and _runs(c)]
    tight = min(four, key=lambda c: (_room_short(c, hw), -c.bits)) if four else None
    why = (f"{tight.file.quant} would run, but {_room_text(tight, hw)}" if tight is not None and not _roomy(tight, hw)
           else "its 4-bit files do not run here")
    return f"{best.file.quant} is below 4 bits per weight: {why}; expect somewhat weaker answers"


def _steps_up(info: UseInfo, best: Candidate | None, cands: Sequence[Candidate], hw: Hardware,
              order: dict[int, int]) -> tuple[StepUp, ...]:
    """The next larger model (of the pick's variant or a more preferred one) and the next better quant."""
    steps: list[StepUp] = []
    rank = {v: i for i, v in enumerate(info.variants)}
    limit = rank[best.model.variant] if best is not None else len(info.variants) - 1
    size = _size_key(best.model)[:2] if best is not None else (0.0, 0.0)
    bigger = [c for c in cands if rank[c.model.variant] <= limit and _size_key(c.model)[:2] > size]
    if bigger:
        model = min((c.model for c in bigger), key=lambda m: (_size_key(m)[:2], rank[m.variant], m.id))
        files = [c for c in bigger if c.model.id == model.id]
        good = [c for c in files if c.bits >= QUALITY_FLOOR_BPW] or files
        step = min(good, key=lambda c: (c.bits, publisher_rank(c.file), order[id(c)]))
        steps.append(_step("bigger model" if best is not None else "smallest model", step, hw, info))
    if best is not None:
        better = [c for c in cands if c.model.id == best.model.id and c.bits > best.bits]
        if better:
            step = min(better, key=lambda c: (c.bits, publisher_rank(c.file), order[id(c)]))
            steps.append(_step("better quant", step, hw, info))
    return tuple(steps)


def usable_vram(hw: Hardware) -> int:
    """VRAM the estimate may use, as `fit.estimate` counts it (free VRAM less the headroom)."""
    if not hw.offload_possible:
        return 0
    total = 0
    for g in usable_gpus(hw):
        avail = g.vram_free if g.vram_free is not None else g.vram_total
        if g.unified:
            avail = min(avail, hw.ram_available)
        total += int(avail * (1 - GPU_HEADROOM))
    return total


def full_gpu_need(c: Candidate, hw: Hardware) -> int | None:
    """Bytes of VRAM the file would take with every layer on the GPU; None when no GPU here is usable."""
    if not hw.offload_possible or not usable_gpus(hw):
        return None
    roomy = replace(hw, ram_available=_HUGE,
                    gpus=tuple(replace(g, vram_total=_HUGE, vram_free=_HUGE) for g in hw.gpus))
    fit = estimate_fit(c.model.shape_for(c.file), roomy, ctx=c.fit.ctx, kv_type=c.fit.kv_type,
                       flash_attn=c.fit.flash_attn)
    return fit.gpu.total


def _step(kind: str, c: Candidate, hw: Hardware, info: UseInfo) -> StepUp:
    fit = c.fit
    unified = _unified(hw)
    memory = "memory" if unified else "RAM"
    ram_short = room_short = 0
    if fit.verdict is Verdict.NO_FIT:
        need = fit.cpu.total + (fit.gpu.total if unified else 0)
        ram_short = max(0, need - hw.ram_available)
    vram_short = 0
    need_gpu = full_gpu_need(c, hw) if fit.verdict is not Verdict.FULL_GPU else None
    if need_gpu is not None:
        vram_short = max(0, need_gpu - usable_vram(hw))
    gpu_word = "GPU memory" if unified else "VRAM"
    parts: list[str] = []
    if fit.verdict is Verdict.NO_FIT:
        parts.append(f"does not fit: needs {format_bytes(ram_short)} more {memory}")
    else:
        speed = f", ~{format_tokens_per_s(fit.tokens_per_second)}" if fit.tokens_per_second else ""
        where = fit.summary.split(":")[0] if fit.verdict is not Verdict.PARTIAL else \
            f"partial offload ({fit.gpu_layers}/{fit.n_layers} layers on the GPU)"
        room_short = _room_short(c, hw)
        parts.append(f"{where} here{speed}" + (f", but {_room_text(c, hw)}" if room_short else ""))
        if fit.tokens_per_second is not None and fit.tokens_per_second < info.min_tokens_per_s:
            parts.append(f"under the {format_tokens_per_s(info.min_tokens_per_s)} this use needs")
    if vram_short > 0:
        parts.append(f"full GPU needs {format_bytes(vram_short)} more {gpu_word}")
    return StepUp(kind, c, ram_short, room_short, vram_short, "; ".join(parts))


def _open_in_chat(info: UseInfo, choice: VariantChoice, best: Candidate, catalog: Catalog, hw: Hardware,
                  ctx: int, kv_type: str) -> OpenInChat | None:
    first = ChatPane(best.model, best.file, choice.thinking)
    panes: tuple[ChatPane, ...] = (first,)
    if info.compare_thinking:
        if best.model.variant is Variant.HYBRID:  # one file, thinking on and off
            panes = (first, ChatPane(best.model, best.file, False))
        elif best.model.variant is Variant.THINKING_2507:  # its thinking cannot be switched off: its sibling
            sibling = _sibling(best, catalog, Variant.INSTRUCT_2507)
            if sibling is not None:
                panes = (first, ChatPane(sibling[0], sibling[1], None))
    together = True
    if len(panes) == 2:
        second = panes[1]
        fit = estimate_fit(second.model.shape_for(second.file), hw, ctx=ctx, kv_type=kv_type,
                           reserved_ram=best.fit.cpu.total, reserved_vram=best.fit.gpu.total)
        together = fit.verdict is not Verdict.NO_FIT
    return OpenInChat(panes, ctx, together)


def _sibling(best: Candidate, catalog: Catalog, variant: Variant) -> tuple[CatalogModel, CatalogFile] | None:
    """The model of `variant` with the same size and architecture, in the same quant (same publisher if it has it)."""
    for m in catalog.models:
        if m.variant is variant and m.size_label == best.model.size_label and m.arch == best.model.arch:
            same_quant = [f for f in m.files if f.quant.upper() == best.file.quant.upper()]
            if not same_quant:
                return None
            same_pub = [f for f in same_quant if f.publisher == best.file.publisher]
            return m, (same_pub or same_quant)[0]
    return None


def _tightest(cands: Sequence[Candidate], hw: Hardware) -> Candidate | None:
    """Of files that pass a test but take too much RAM (rule 3), the one that misses the room by the least."""
    tight = [c for c in cands if not _roomy(c, hw)]
    return min(tight, key=lambda c: (_room_short(c, hw), -c.bits)) if tight else None


def _and_leaves_room(tight: Candidate | None, hw: Hardware) -> str:
    """" and leaves room: Qwen3-4B Q8_0 would, but takes 5.49 GiB of the 6.00 GiB free RAM (...)" or ""."""
    if tight is None:
        return ""
    return f" and leaves room: {tight.label} would, but {_room_text(tight, hw)}"


def _fallback_note(info: UseInfo, choice: VariantChoice, catalog: Catalog, hw: Hardware,
                   tight: Candidate | None) -> str:
    """Why the use's first variant is not the pick; `tight` is one of its files that is excluded only for room."""
    first = info.choices[0].variant
    sizes = sorted({m.size_label: m.params_total for m in catalog.models if m.variant is first}.items(),
                   key=lambda kv: kv[1])
    have = ", ".join(label for label, _ in sizes) or "none in the catalog"
    why = "" if tight is None else f"; {tight.label} would run, but {_room_text(tight, hw)}"
    return (f"no {first.label} runs well here (the catalog has {have}): "
            f"{choice.variant.label} instead" + (" with thinking off" if choice.thinking is False else "") + why)


def _nothing_runs(info: UseInfo, cands: Sequence[Candidate], ctx: int) -> str:
    if not cands:
        return f"the catalog has no {' or '.join(v.label for v in info.variants)} files"
    smallest = min(cands, key=lambda c: c.fit.total)
    return (f"nothing for this use runs here at {_ctx_text(ctx)} context: the smallest, {smallest.label}, "
            f"{smallest.fit.summary}")


def _ctx_text(ctx: int) -> str:
    return f"{ctx // 1024}K" if ctx % 1024 == 0 else str(ctx)


def pick_all(catalog: Catalog, hw: Hardware, ctx: int = DEFAULT_GUIDE_CTX, *, kv_type: str = "f16",
             cancelled: Callable[[], bool] | None = None) -> dict[Use, Pick]:
    """The pick for every use, in the order of `Use`."""
    return {u: pick(u, catalog, hw, ctx, kv_type=kv_type, cancelled=cancelled) for u in Use}

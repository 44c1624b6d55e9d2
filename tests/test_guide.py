"""The guide: on three typical machines, each use's pick is the file a person would choose, it fits and leaves the
rest of the machine room, and the next step up is bigger or better and does not fit, fits worse, is slower than the
floor or leaves too little room. Real catalog, real fit estimates."""

from __future__ import annotations

import argparse
import io
import json

import pytest

from explorer.catalog.snapshot import Catalog, load_catalog
from explorer.cli.guide import cmd_guide
from explorer.fit.batch import FitsCancelled
from explorer.fit.estimate import Verdict
from explorer.gguf.variant import Variant
from explorer.guide import USES, Pick, Use, pick, pick_all
from explorer.guide.pick import QUALITY_FLOOR_BPW, RAM_SHARE, SLOW_SHARE, Candidate, candidates_for
from explorer.hardware.facts import GPU, CPUInfo, Hardware
from explorer.hardware.gpus import apple_bandwidth, apple_metal_share
from explorer.hardware.llama_build import LlamaBuild
from explorer.units import format_bytes

GiB = 1024**3
CTX = 8192
RANK = {Verdict.FULL_GPU: 0, Verdict.PARTIAL: 1, Verdict.CPU_ONLY: 2, Verdict.NO_FIT: 3}

X86 = CPUInfo(model="Fake Core i7", physical_cores=8, logical_cores=16,
              flags=frozenset({"avx", "avx2", "fma", "f16c"}))
CPU_BUILD = LlamaBuild(installed=True, version="0.3.36", gpu_offload=False, system_info="CPU : AVX2 = 1 | FMA = 1")
CUDA_BUILD = LlamaBuild(installed=True, version="0.3.36", gpu_offload=True,
                        system_info="CUDA : ARCHS = 890 | CPU : AVX2 = 1")
METAL_BUILD = LlamaBuild(installed=True, version="0.3.36", gpu_offload=True, system_info="Metal : EMBED_LIBRARY = 1")


def laptop(ram: float = 8, free: float = 6, bandwidth: float | None = 51.2e9) -> Hardware:
    """An 8 GB laptop, no GPU: dual-channel DDR4-3200 (51.2 GB/s); about 6 GB free with a browser open."""
    return Hardware(ram_total=int(ram * GiB), ram_available=int(free * GiB), cpu=X86, llama=CPU_BUILD,
                    ram_bandwidth=bandwidth, disk_free=100 * GiB)


def desktop_24gb() -> Hardware:
    """A desktop with a 24 GB NVIDIA card (RTX 4090: 1008 GB/s), 32 GB of RAM."""
    gpu = GPU(index=0, vendor="nvidia", name="NVIDIA GeForce RTX 4090", vram_total=24 * GiB,
              vram_free=int(23.2 * GiB), bandwidth=1008e9)
    return Hardware(ram_total=32 * GiB, ram_available=26 * GiB, cpu=X86, gpus=(gpu,), llama=CUDA_BUILD,
                    ram_bandwidth=60e9, disk_free=500 * GiB)


def apple_64gb() -> Hardware:
    """A 64 GB M3 Max: unified memory, Metal may use about 3/4 of it by default (as the probe says)."""
    mem = 64 * GiB
    gpu = GPU(index=0, vendor="apple", name="Apple M3 Max", vram_total=apple_metal_share(mem), vram_free=None,
              unified=True, bandwidth=apple_bandwidth("Apple M3 Max"))
    cpu = CPUInfo(model="Apple M3 Max", physical_cores=16, logical_cores=16, flags=frozenset({"neon"}))
    return Hardware(ram_total=mem, ram_available=52 * GiB, cpu=cpu, gpus=(gpu,), llama=METAL_BUILD,
                    ram_bandwidth=apple_bandwidth("Apple M3 Max"), disk_free=500 * GiB)


MACHINES = {"laptop-8gb": laptop(), "desktop-24gb": desktop_24gb(), "apple-64gb": apple_64gb()}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


# (machine, use) -> (model id, acceptable quants, verdict), with why a person would choose it.
EXPECTED = {
    # 6 GB free and no GPU: 4B is the largest size that runs; the Coder starts at 30B-A3B, so code falls back to
    # Instruct-2507, and chat gets it first-hand. Q8_0 would run (~7 tok/s) but take 5.5 of the 6 GiB free, leaving
    # the browser next to nothing; Q6_K (4.6 GiB) is within a hair of Q8_0's quality and leaves room.
    ("laptop-8gb", Use.CODE): ("Qwen3-4B-Instruct-2507", {"Q6_K", "Q5_K_M"}, Verdict.CPU_ONLY),
    ("laptop-8gb", Use.CHAT): ("Qwen3-4B-Instruct-2507", {"Q6_K", "Q5_K_M"}, Verdict.CPU_ONLY),
    # Thinking writes a long think first: the guide wants ~10 tok/s, which on this RAM means a 4-bit 4B.
    ("laptop-8gb", Use.REASONING): ("Qwen3-4B-Thinking-2507", {"Q4_K_M", "Q5_K_M"}, Verdict.CPU_ONLY),
    # The 8B Base misses by a few hundred MiB; the 4B Base at 6 bits is the largest pretrained model that runs
    # and leaves room (Q8_0 would not, as for chat).
    ("laptop-8gb", Use.RESEARCH): ("Qwen3-4B-Base", {"Q6_K", "Q5_K_M"}, Verdict.CPU_ONLY),
    # 24 GB of VRAM: the 30B-A3B MoE models fit entirely on the card at 4-5 bits (~17-20 GiB of weights), which is
    # what people run on a 4090; the dense 32B would not leave room, and the 2507 releases beat the original.
    # Qwen3-Next-80B-A3B at 4 bits would run with partial offload, but only by taking nearly all the free RAM:
    # it is the next step up, not the pick.
    ("desktop-24gb", Use.CODE): ("Qwen3-Coder-30B-A3B-Instruct", {"Q4_K_M", "Q5_K_M"}, Verdict.FULL_GPU),
    ("desktop-24gb", Use.CHAT): ("Qwen3-30B-A3B-Instruct-2507", {"Q4_K_M", "Q5_K_M"}, Verdict.FULL_GPU),
    ("desktop-24gb", Use.REASONING): ("Qwen3-30B-A3B-Thinking-2507", {"Q4_K_M", "Q5_K_M"}, Verdict.FULL_GPU),
    ("desktop-24gb", Use.RESEARCH): ("Qwen3-30B-A3B-Base", {"Q4_K_M", "Q5_K_M"}, Verdict.FULL_GPU),
    # 48 GiB for Metal: Qwen3-Next-80B-A3B at 4 bits (~45 GiB, 3B active: fast) runs on the GPU, which is what
    # people run on a 64 GB Mac for chat and reasoning; the Coder and Base lines stop at 30B-A3B (8 bits, ~30 GiB);
    # 235B-A22B does not fit in 64 GB.
    ("apple-64gb", Use.CODE): ("Qwen3-Coder-30B-A3B-Instruct", {"Q8_0", "Q6_K"}, Verdict.FULL_GPU),
    ("apple-64gb", Use.CHAT): ("Qwen3-Next-80B-A3B-Instruct", {"Q4_K_M", "Q4_K_S", "Q4_0"}, Verdict.FULL_GPU),
    ("apple-64gb", Use.REASONING): ("Qwen3-Next-80B-A3B-Thinking", {"Q4_K_M", "Q4_K_S", "Q4_0"}, Verdict.FULL_GPU),
    ("apple-64gb", Use.RESEARCH): ("Qwen3-30B-A3B-Base", {"Q8_0", "Q6_K"}, Verdict.FULL_GPU),
}


@pytest.mark.parametrize(("machine", "use"), list(EXPECTED))
def test_the_pick_is_the_one_a_person_would_choose_and_fits(catalog: Catalog, machine: str, use: Use) -> None:
    hw = MACHINES[machine]
    p = pick(use, catalog, hw, CTX)
    model_id, quants, verdict = EXPECTED[(machine, use)]
    assert p.best is not None
    assert (p.best.model.id, p.best.fit.verdict) == (model_id, verdict)
    assert p.best.file.quant in quants
    # It fits: the estimate's own memory is within this machine's.
    fit = p.best.fit
    assert fit.ctx == CTX
    assert fit.cpu.total <= hw.ram_available
    if verdict is Verdict.FULL_GPU:
        assert fit.gpu.total <= hw.gpus[0].vram_total
    else:  # ... and leaves the rest of the machine room
        assert fit.cpu.total <= RAM_SHARE * hw.ram_available
    # ... at a usable speed for the use.
    assert fit.tokens_per_second is not None and fit.tokens_per_second >= p.info.min_tokens_per_s
    assert p.choice is not None and p.choice.variant is p.best.model.variant


def _room_text(c: Candidate, hw: Hardware) -> str:
    memory = "memory" if any(g.unified for g in hw.gpus) else "RAM"
    return (f"takes {format_bytes(c.fit.cpu.total)} of the {format_bytes(hw.ram_available)} free {memory} "
            "(the guide keeps 15% for the rest of the machine)")


def _leaves_room(c: Candidate, hw: Hardware) -> bool:
    return c.fit.verdict is Verdict.FULL_GPU or c.fit.cpu.total <= RAM_SHARE * hw.ram_available


@pytest.mark.parametrize(("machine", "use"), list(EXPECTED))
def test_next_up_is_bigger_or_better_and_says_why_it_is_not_the_pick(catalog: Catalog, machine: str,
                                                                     use: Use) -> None:
    """Each step up does not fit, fits worse, is slower than the floor, or leaves too little room, and says so."""
    hw = MACHINES[machine]
    p = pick(use, catalog, hw, CTX)
    assert p.best is not None
    best = p.best
    floor = p.info.min_tokens_per_s
    for step in p.steps_up:
        c = step.candidate
        if step.kind == "bigger model":
            assert c.model.params_total > best.model.params_total
            assert c.bits >= QUALITY_FLOOR_BPW
        else:
            assert step.kind == "better quant"
            assert c.model.id == best.model.id and c.bits > best.bits
        reasons: set[str] = set()
        if c.fit.verdict is Verdict.NO_FIT:
            reasons.add("does not fit")
            assert step.ram_short > 0 and step.room_short == 0 and step.text.startswith("does not fit: needs ")
        else:
            assert step.ram_short == 0
            if RANK[c.fit.verdict] > RANK[best.fit.verdict]:
                reasons.add("fits worse")
                assert ("partial offload" if c.fit.verdict is Verdict.PARTIAL else "CPU only") in step.text
            if c.fit.tokens_per_second is not None and c.fit.tokens_per_second < floor:
                reasons.add("slower than the floor")
                assert "this use needs" in step.text
            else:
                assert "this use needs" not in step.text
            if not _leaves_room(c, hw):
                reasons.add("leaves too little room")
                assert step.room_short == c.fit.cpu.total - int(RAM_SHARE * hw.ram_available) > 0
                assert f", but {_room_text(c, hw)}" in step.text, step.text
            else:
                assert step.room_short == 0 and "free RAM" not in step.text and "free memory" not in step.text
        assert reasons, step.text
        if step.kind == "bigger model":  # size comes before placement (rule 2): fitting worse alone would not do
            assert reasons - {"fits worse"}, step.text
    assert p.next_up is not None or use is Use.RESEARCH  # only the largest Base may have nothing above it


def test_next_up_says_what_it_would_need(catalog: Catalog) -> None:
    laptop_code = pick(Use.CODE, catalog, MACHINES["laptop-8gb"], CTX)
    up = laptop_code.next_up
    assert up is not None and up.candidate.model.variant is Variant.CODER  # the variant the use really wants
    assert up.candidate.model.id == "Qwen3-Coder-30B-A3B-Instruct" and up.candidate.file.quant == "Q4_K_M"
    assert 10 * GiB < up.ram_short < 16 * GiB and up.vram_short == 0  # ~17 GiB of weights, 6 GiB free, no GPU
    assert up.text.startswith("does not fit: needs ") and "more RAM" in up.text

    # 6 GiB free: Q8_0 of the same 4B runs, fast enough, but only by taking all but half a GiB of the free RAM.
    laptop_chat = pick(Use.CHAT, catalog, MACHINES["laptop-8gb"], CTX)
    q8 = next(s for s in laptop_chat.steps_up if s.kind == "better quant")
    assert q8.candidate.file.quant == "Q8_0" and q8.candidate.fit.verdict is Verdict.CPU_ONLY
    assert q8.ram_short == 0 and 0 < q8.room_short < GiB
    assert q8.text == (f"CPU only here, ~{q8.candidate.fit.tokens_per_second:.1f} tok/s, but takes 5.49 GiB of the "
                       "6.00 GiB free RAM (the guide keeps 15% for the rest of the machine)")

    desk = pick(Use.CHAT, catalog, MACHINES["desktop-24gb"], CTX)
    # Qwen3-Next-80B-A3B is fast enough with half its layers on the 4090 (3B active), but the other half takes
    # ~24 of the 26 GiB free RAM: the step up, and it says that room is what it lacks.
    up = desk.next_up
    assert up is not None and up.kind == "bigger model" and up.candidate.model.id == "Qwen3-Next-80B-A3B-Instruct"
    assert up.candidate.fit.verdict is Verdict.PARTIAL and up.ram_short == 0 and up.room_short > 0
    assert "partial offload" in up.text and "of the 26.0 GiB free RAM" in up.text and "more VRAM" in up.text
    better = next(s for s in desk.steps_up if s.kind == "better quant")
    assert better.candidate.fit.verdict is Verdict.PARTIAL  # one step of quality spills off the card
    assert better.ram_short == 0 and better.room_short == 0 and 0 < better.vram_short < 8 * GiB
    assert "partial offload" in better.text and "more VRAM" in better.text and "free RAM" not in better.text

    mac = pick(Use.CHAT, catalog, MACHINES["apple-64gb"], CTX)
    assert mac.next_up is not None and mac.next_up.candidate.model.id == "Qwen3-235B-A22B-Instruct-2507"
    assert "more memory" in mac.next_up.text  # unified memory: RAM and VRAM are one


def _publisher_rank(c: Candidate) -> int:
    return 0 if c.file.publisher == "Qwen" else (1 if c.file.verified else 2)


def _reference_pick(use: Use, cands: list[Candidate], hw: Hardware) -> Candidate | None:
    """The rule as the module's docstring states it, written out again independently of `pick`."""
    info = USES[use]

    def runs(c: Candidate) -> bool:
        return c.fit.verdict is not Verdict.NO_FIT

    def fast(c: Candidate) -> bool:
        return c.fit.tokens_per_second is None or c.fit.tokens_per_second >= info.min_tokens_per_s

    def speed(c: Candidate) -> float:
        return float("inf") if c.fit.tokens_per_second is None else c.fit.tokens_per_second

    passes = ((False, lambda c: runs(c) and _leaves_room(c, hw) and fast(c) and c.bits >= QUALITY_FLOOR_BPW),  # 3, 4
              (False, lambda c: runs(c) and _leaves_room(c, hw) and fast(c)),  # rule 4: low-bit
              (True, lambda c: runs(c) and _leaves_room(c, hw)),  # rule 6: slow
              (True, runs))  # rule 6: tight
    for slow, ok in passes:
        good = [c for c in cands if ok(c)]
        if not good:
            continue
        # Rule 1: the most preferred variant with a file that passes.
        variant = min({c.model.variant for c in good}, key=info.variants.index)
        good = [c for c in good if c.model.variant is variant]
        if slow:  # rule 6: models far slower than the variant's fastest are passed over
            fastest = max(speed(c) for c in good)
            kept = {c.model.id for c in good if speed(c) >= SLOW_SHARE * fastest}
            good = [c for c in good if c.model.id in kept]
        # Rule 2: the largest model (total, then active parameters).
        top = max(good, key=lambda c: (c.model.params_total, c.model.params_active, c.model.id)).model
        files = [c for c in good if c.model.id == top.id]
        if slow:  # rule 6: placement, the fewest bits from 4 up, else the most under 4
            return min(files, key=lambda c: (RANK[c.fit.verdict], c.bits < QUALITY_FLOOR_BPW,
                                             c.bits if c.bits >= QUALITY_FLOOR_BPW else -c.bits,
                                             _publisher_rank(c), cands.index(c)))
        # Rule 5: placement, bits, publisher, catalog order.
        return min(files, key=lambda c: (RANK[c.fit.verdict], -c.bits, _publisher_rank(c), cands.index(c)))
    return None


# The three machines, and machines where each pass of the rule decides: room (4.3 GB free: a 4B would take 3.8 GB),
# slow memory, the speed floor out of reach, no room at all (1.7 GB free), unknown bandwidth, nothing runs.
RULE_MACHINES = {**MACHINES, "laptop-4.3gb-free": laptop(ram=8, free=4.3),
                 "slow-ram": laptop(ram=32, free=28, bandwidth=12.8e9), "very-slow-ram": laptop(bandwidth=1e9),
                 "laptop-1.7gb-free": laptop(ram=2, free=1.7), "bandwidth-unknown": laptop(bandwidth=None),
                 "tiny": laptop(ram=1, free=0.25), "slow-vm-21gb-free": laptop(ram=23.5, free=21.3, bandwidth=1.74e9),
                 "slow-server-200gb-free": laptop(ram=256, free=200, bandwidth=1.74e9)}


@pytest.mark.parametrize("machine", list(RULE_MACHINES))
def test_the_pick_follows_the_rule_exactly(catalog: Catalog, machine: str) -> None:
    """The rule itself, room included, checked by brute force against every candidate."""
    hw = RULE_MACHINES[machine]
    for use in Use:
        p = pick(use, catalog, hw, CTX)
        ref = _reference_pick(use, candidates_for(use, catalog, hw, CTX), hw)
        if ref is None:
            assert p.best is None
        else:
            assert p.best is not None and (p.best.model.id, p.best.file) == (ref.model.id, ref.file), use


def test_reasoning_opens_thinking_next_to_its_non_thinking_sibling(catalog: Catalog) -> None:
    p = pick(Use.REASONING, catalog, MACHINES["desktop-24gb"], CTX)
    assert p.chat is not None and p.best is not None
    on, off = p.chat.panes
    assert (on.model, on.file, on.thinking) == (p.best.model, p.best.file, True)
    # Thinking-2507 cannot stop thinking: the other pane is Instruct-2507 of the same size, in the same quant.
    assert off.model.id == "Qwen3-30B-A3B-Instruct-2507" and off.file.quant == on.file.quant
    assert off.file.publisher == on.file.publisher and off.thinking is None
    assert p.chat.ctx == CTX
    # 8 GB laptop: two 4B models do not fit at once, so the chat grid runs them one after the other.
    small = pick(Use.REASONING, catalog, MACHINES["laptop-8gb"], CTX)
    assert small.chat is not None and len(small.chat.panes) == 2 and small.chat.together is False


def test_without_room_for_thinking_2507_reasoning_falls_back_to_a_hybrid_twice(catalog: Catalog) -> None:
    """3 GB free: no 4B fits, so the original Qwen3 (1.7B) opens with thinking on next to thinking off."""
    p = pick(Use.REASONING, catalog, laptop(ram=4, free=3), CTX)
    assert p.best is not None and p.best.model.variant is Variant.HYBRID
    assert p.best.model.id == "Qwen3-1.7B"
    assert p.choice is not None and p.choice.thinking is True
    assert p.chat is not None
    assert [(c.file, c.thinking) for c in p.chat.panes] == [(p.best.file, True), (p.best.file, False)]
    # Qwen3-Next-80B-A3B-Thinking is a Thinking-2507 too (thinking only); no 4B runs at all, so room is not why.
    fallback = next(n for n in p.notes if "no Thinking-2507 runs well here" in n)
    assert "4B, 30B-A3B, 80B-A3B, 235B-A22B" in fallback and "free RAM" not in fallback
    # The step up is the Thinking-2507 the use prefers (4B is the next size), not a bigger hybrid.
    assert p.next_up is not None and p.next_up.candidate.model.id == "Qwen3-4B-Thinking-2507"
    chat = pick(Use.CHAT, catalog, laptop(ram=4, free=3), CTX)
    assert chat.choice is not None and chat.choice.variant is Variant.HYBRID and chat.choice.thinking is False
    assert chat.chat is not None and [c.thinking for c in chat.chat.panes] == [False]


def test_without_room_for_a_4b_chat_falls_back_and_says_room_is_why(catalog: Catalog) -> None:
    """4.3 GB free: the 4B models run (3.8 GiB at Q4_K_M, ~12 tok/s) but would leave the browser half a GiB, so the
    guide picks the 1.7B, which leaves room, and says that room, not speed or size, is what the 4B lacks."""
    hw = laptop(ram=8, free=4.3)
    p = pick(Use.CHAT, catalog, hw, CTX)
    assert p.best is not None and p.best.model.id == "Qwen3-1.7B" and p.best.bits >= QUALITY_FLOOR_BPW
    assert p.best.fit.cpu.total <= RAM_SHARE * hw.ram_available
    assert p.choice is not None and p.choice.variant is Variant.HYBRID and p.choice.thinking is False
    four_b = next(c for c in candidates_for(Use.CHAT, catalog, hw, CTX)
                  if c.model.id == "Qwen3-4B-Instruct-2507" and c.file.quant == "Q4_K_M")
    assert four_b.fit.verdict is Verdict.CPU_ONLY and not _leaves_room(four_b, hw)
    assert (four_b.fit.tokens_per_second or 0) >= 5.0
    assert p.notes[0] == ("no Instruct-2507 runs well here (the catalog has 4B, 30B-A3B, 80B-A3B, 235B-A22B): Hybrid "
                          f"instead with thinking off; Qwen3-4B-Instruct-2507 Q4_K_M would run, but "
                          f"{_room_text(four_b, hw)}")
    assert p.next_up is not None and p.next_up.candidate.model.id == "Qwen3-4B-Instruct-2507"
    assert p.next_up.room_short > 0 and _room_text(four_b, hw) in p.next_up.text


def test_when_nothing_leaves_room_the_largest_that_runs_is_picked_and_called_tight(catalog: Catalog) -> None:
    """1.7 GB free: only the 0.6B runs, and it takes nearly all of it; the guide still names it, and says so."""
    hw = laptop(ram=2, free=1.7)
    p = pick(Use.RESEARCH, catalog, hw, CTX)
    assert p.best is not None and p.best.model.id == "Qwen3-0.6B-Base" and not _leaves_room(p.best, hw)
    assert f"it {_room_text(p.best, hw)}: nothing for this use runs here and leaves that much room" in p.notes
    assert not any("under the" in n for n in p.notes)  # it is fast; room is the only thing wrong


def test_code_falls_back_and_says_why(catalog: Catalog) -> None:
    p = pick(Use.CODE, catalog, MACHINES["laptop-8gb"], CTX)
    assert p.notes and "no Coder runs well here" in p.notes[0] and "30B-A3B, 480B-A35B" in p.notes[0]


def test_a_slow_machine_steps_down_to_a_model_that_reaches_the_speed_floor(catalog: Catalog) -> None:
    """Plenty of RAM but slow memory (12.8 GB/s, one DDR4-1600 channel): 4B would run at ~2 tok/s."""
    hw = laptop(ram=32, free=28, bandwidth=12.8e9)
    p = pick(Use.CHAT, catalog, hw, CTX)
    assert p.best is not None and p.best.fit.tokens_per_second is not None
    assert p.best.fit.tokens_per_second >= 5.0
    bigger_but_slow = [c for c in candidates_for(Use.CHAT, catalog, hw, CTX)
                       if c.fit.verdict is not Verdict.NO_FIT and c.bits >= QUALITY_FLOOR_BPW
                       and c.model.params_total > p.best.model.params_total]
    assert bigger_but_slow and all((c.fit.tokens_per_second or 0) < 5.0 for c in bigger_but_slow)


def test_when_nothing_is_fast_enough_the_best_that_runs_is_picked_and_called_slow(catalog: Catalog) -> None:
    hw = laptop(ram=8, free=6, bandwidth=1e9)
    p = pick(Use.CHAT, catalog, hw, CTX)
    assert p.best is not None and p.best.fit.verdict is Verdict.CPU_ONLY
    assert any("under the" in n for n in p.notes)


def test_when_nothing_is_fast_enough_the_notes_say_so_name_the_fastest_and_the_missing_bits(catalog: Catalog) -> None:
    """A trial's VM: 21.3 GiB free, no GPU, memory measured at 1.74 GB/s. Nothing for chat reaches 5 tok/s. The
    30B-A3B (3B active) is both the largest that leaves room and the fastest model above 1.7B, so it stays the
    pick, in Q3_K_L: its Q4_K_M takes 18.5 GiB, past the room the guide leaves. The notes say all of that (it said
    only "slow" and that "nothing faster runs here", while a 0.6B runs three times as fast)."""
    hw = laptop(ram=23.5, free=21.3, bandwidth=1.74e9)
    p = pick(Use.CHAT, catalog, hw, CTX)
    assert p.best is not None and p.best.label == "Qwen3-30B-A3B-Instruct-2507 Q3_K_L"
    speed = p.best.fit.tokens_per_second
    assert speed is not None and 0.4 < speed < 1.0
    slow = next(n for n in p.notes if "under the 5.0 tok/s" in n)
    assert "nothing faster runs here" not in slow and "nothing for this use reaches it here" in slow
    assert "; the fastest for this use, Qwen3-0.6B Q4_K_M, runs ~1.8 tok/s, a much smaller model" in slow
    low = next(n for n in p.notes if "below 4 bits" in n)
    q4 = next(c for c in candidates_for(Use.CHAT, catalog, hw, CTX)
              if c.model.id == p.best.model.id and c.file.quant == "Q4_K_M")
    assert low == (f"Q3_K_L is below 4 bits per weight: Q4_K_M would run, but {_room_text(q4, hw)}; expect "
                   "somewhat weaker answers")


def test_under_the_speed_floor_speed_still_counts(catalog: Catalog) -> None:
    """200 GiB free at 1.74 GB/s: nothing reaches 5 tok/s. The 235B-A22B runs but reads 22B parameters a token,
    under a quarter of the 30B-A3B's speed: passed over. Within the model the Q4 comes first, not the Q8_0 at
    half its speed."""
    hw = laptop(ram=256, free=200, bandwidth=1.74e9)
    p = pick(Use.CHAT, catalog, hw, CTX)
    assert p.best is not None and p.best.model.id != "Qwen3-235B-A22B-Instruct-2507"
    big = [c for c in candidates_for(Use.CHAT, catalog, hw, CTX)
           if c.model.id == "Qwen3-235B-A22B-Instruct-2507" and c.fit.verdict is not Verdict.NO_FIT]
    assert big and all((c.fit.tokens_per_second or 0) < SLOW_SHARE * (p.best.fit.tokens_per_second or 0) for c in big)
    assert QUALITY_FLOOR_BPW <= p.best.bits < 5.0  # a Q4, the fastest good quant
    same = [c for c in candidates_for(Use.CHAT, catalog, hw, CTX) if c.model.id == p.best.model.id]
    assert any(c.file.quant == "Q8_0" and _leaves_room(c, hw) for c in same)


def test_unknown_bandwidth_does_not_block_a_pick(catalog: Catalog) -> None:
    p = pick(Use.CHAT, catalog, laptop(bandwidth=None), CTX)
    assert p.best is not None and p.best.fit.tokens_per_second is None
    assert any("speed unknown" in n for n in p.notes)


def test_nothing_runs_on_a_tiny_machine(catalog: Catalog) -> None:
    p = pick(Use.RESEARCH, catalog, laptop(ram=1, free=0.25), CTX)
    assert p.best is None and p.choice is None and p.chat is None
    assert "nothing for this use runs here" in p.notes[0] and "Qwen3-0.6B-Base" in p.notes[0]
    assert p.next_up is not None and p.next_up.candidate.model.id == "Qwen3-0.6B-Base"


def test_a_low_bit_quant_only_when_nothing_at_4_bits_runs(fake_catalog: Catalog) -> None:
    big = laptop(ram=64, free=60, bandwidth=400e9)
    # The fake catalog's only Coder file is Q2_K: a 4-bit-or-better Instruct-2507 beats it.
    p = pick(Use.CODE, fake_catalog, big, CTX)
    assert p.best is not None and p.best.model.variant is Variant.INSTRUCT_2507
    assert p.best.bits >= QUALITY_FLOOR_BPW
    coder_only = Catalog(models=tuple(m for m in fake_catalog.models if m.variant is Variant.CODER),
                         snapshot_date="2026-11-25", source="snapshot")
    low = pick(Use.CODE, coder_only, big, CTX)
    assert low.best is not None and low.best.file.quant == "Q2_K"
    assert any("below 4 bits" in n for n in low.notes)


def test_a_longer_context_is_honoured(catalog: Catalog) -> None:
    short = pick(Use.CHAT, catalog, MACHINES["laptop-8gb"], 8192)
    long = pick(Use.CHAT, catalog, MACHINES["laptop-8gb"], 32768)
    assert long.best is not None and short.best is not None
    assert long.best.fit.ctx == 32768 and long.best.fit.verdict is not Verdict.NO_FIT
    assert long.best.fit.cpu.total <= MACHINES["laptop-8gb"].ram_available
    assert long.best.fit.cpu.kv > short.best.fit.cpu.kv  # four times the tokens in the cache
    assert long.best.model.params_total <= short.best.model.params_total


def test_pick_is_deterministic_and_cancellable(catalog: Catalog) -> None:
    hw = MACHINES["desktop-24gb"]
    assert pick_all(catalog, hw, CTX) == pick_all(catalog, hw, CTX)
    with pytest.raises(FitsCancelled):
        pick(Use.CHAT, catalog, hw, CTX, cancelled=lambda: True)


def test_uses_say_honest_things_with_sources() -> None:
    false_claims = ("reasoning head", "KV-cache", "KV cache management", "235B-Coder", "/no think",
                    "extends the tokenizer")
    for info in USES.values():
        assert info.choices and info.source
        for choice in info.choices:
            assert 20 < len(choice.why) < 400
            assert not any(claim.lower() in choice.why.lower() for claim in false_claims)
    assert "arXiv:2505.09388" in USES[Use.REASONING].source and "arXiv:2505.09388" in USES[Use.RESEARCH].source
    assert USES[Use.CODE].variants[0] is Variant.CODER and USES[Use.CHAT].variants[0] is Variant.INSTRUCT_2507
    assert USES[Use.REASONING].variants == (Variant.THINKING_2507, Variant.HYBRID)
    assert USES[Use.RESEARCH].variants == (Variant.BASE,)


# --- CLI --------------------------------------------------------------------------------------


def _run(catalog: Catalog, hw: Hardware, *, use: str | None = None, as_json: bool = False) -> str:
    out = io.StringIO()
    assert cmd_guide(argparse.Namespace(use=use, ctx=CTX, json=as_json, no_llama=True), out, hardware=hw,
                     catalog=catalog) == 0
    return out.getvalue()


def test_cli_prints_each_use_with_verdict_memory_speed_and_next_step(catalog: Catalog) -> None:
    text = _run(catalog, MACHINES["desktop-24gb"])
    for info in USES.values():
        assert info.title in text
    assert "variant  Coder" in text and "Qwen3-Coder-30B-A3B-Instruct" in text
    assert "full GPU: all 49 layers" in text and "tok/s" in text and "GiB in all" in text
    # Reasoning's next step up is Qwen3-Next-80B-A3B-Thinking: it runs, but only by taking ~24 of the 26 GiB free RAM.
    assert ("up       bigger model: Qwen3-Next-80B-A3B-Thinking Q4_K_M — partial offload (23/49 layers on the GPU)"
            in text)
    assert "of the 26.0 GiB free RAM (the guide keeps 15% for the rest of the machine)" in text
    assert "compare  Qwen3-30B-A3B-Thinking-2507 (thinking on) next to Qwen3-30B-A3B-Instruct-2507" in text


def test_cli_json_parses_and_matches_the_pick(catalog: Catalog) -> None:
    data = json.loads(_run(catalog, MACHINES["apple-64gb"], use="reasoning", as_json=True))
    assert data["ctx"] == CTX and [u["use"] for u in data["uses"]] == ["reasoning"]
    r = data["uses"][0]
    p: Pick = pick(Use.REASONING, catalog, MACHINES["apple-64gb"], CTX)
    assert p.best is not None
    assert r["pick"]["model"] == p.best.model.id and r["pick"]["quant"] == p.best.file.quant
    assert r["pick"]["verdict"] == "full GPU" and r["pick"]["tokens_per_second"] > 10
    assert r["variant"] == "thinking-2507" and r["thinking"] is True and "arXiv" in r["source"]
    assert r["next_up"]["kind"] == "bigger model" and r["next_up"]["verdict"] == "does not fit"
    assert [pane["thinking"] for pane in r["chat"]["panes"]] == [True, None]
    assert r["next_up"]["room_short"] == 0  # it does not run, so room is not the question
    all_uses = json.loads(_run(catalog, MACHINES["laptop-8gb"], as_json=True))
    assert [u["use"] for u in all_uses["uses"]] == ["code", "chat", "reasoning", "research"]
    assert all_uses["ram_share"] == RAM_SHARE
    q8 = next(s for s in all_uses["uses"][1]["steps_up"] if s["kind"] == "better quant")
    assert q8["quant"] == "Q8_0" and q8["room_short"] > 0 and "free RAM" in q8["text"]


def test_the_guide_subcommand_is_registered() -> None:
    from explorer.cli.main import SUBCOMMANDS, build_parser, main

    assert "guide" in SUBCOMMANDS
    args = build_parser().parse_args(["guide", "--use", "chat", "--ctx", "16k", "--json"])
    assert (args.command, args.use, args.ctx, args.json) == ("guide", "chat", 16384, True)
    out = io.StringIO()
    assert main(["guide", "--json", "--no-llama"], out) == 0  # this machine, the shipped catalog
    assert [u["use"] for u in json.loads(out.getvalue())["uses"]] == ["code", "chat", "reasoning", "research"]


def test_when_nothing_runs_the_first_step_is_the_smallest_model_not_a_bigger_one(catalog: Catalog) -> None:
    """At a context nothing can hold, there is no pick to be bigger than: the step says where to start."""
    p = pick(Use.CHAT, catalog, MACHINES["laptop-8gb"], ctx=16_777_216)
    assert p.best is None and p.steps_up and p.steps_up[0].kind == "smallest model"
    assert all(s.kind != "bigger model" for s in p.steps_up)

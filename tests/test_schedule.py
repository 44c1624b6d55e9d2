"""Which panes' models load together: waves, blocking, overrides, shared weights, layers, threads, words."""

from __future__ import annotations

from dataclasses import replace

import pytest
from conftest import ARCH_0_6B, ARCH_8B, make_hardware

from explorer.fit import schedule as schedule
from explorer.fit.estimate import Verdict, estimate_fit
from explorer.fit.schedule import PaneRequest, Plan, n_gpu_layers_for, plan_runs
from explorer.gguf.shape import ModelShape, estimate_shape

GiB = 2**30
CTX = 4096
SMALL = estimate_shape(ARCH_0_6B, "Q8_0")  # about 1.4 GiB of RAM on the CPU at 4096 tokens
BIG = estimate_shape(ARCH_8B, "Q4_K_M")  # about 5.6 GiB


def req(pane: int, shape: ModelShape, key: str | None = None, *, override: bool = False,
        label: str | None = None) -> PaneRequest:
    name = label or ("Qwen3-0.6B Q8_0" if shape is SMALL else "Qwen3-8B Q4_K_M")
    return PaneRequest(pane=pane, label=name, key=key or f"/models/file-{pane}.gguf", shape=shape, ctx=CTX,
                       override=override)


def alone(shape: ModelShape, ram_free: float) -> int:
    """RAM the model needs on its own on a machine without a GPU."""
    return estimate_fit(shape, make_hardware(ram_free=ram_free, vram=None), ctx=CTX).cpu.total


def panes(plan: Plan) -> list[list[int]]:
    return [[p.pane for p in wave] for wave in plan.waves]


def test_all_fit_together_on_the_cpu() -> None:
    hw = make_hardware(ram_free=8, vram=None)
    plan = plan_runs([req(1, SMALL), req(2, BIG)], hw, cores=8)
    assert panes(plan) == [[1, 2]]
    assert plan.concurrent and plan.blocked == ()
    first, second = plan.waves[0]
    assert first.fit.verdict is second.fit.verdict is Verdict.CPU_ONLY
    assert plan.memory == ((first.fit.cpu.total + second.fit.cpu.total, 0),)
    assert first.fit.cpu.total + second.fit.cpu.total < 8 * GiB  # the premise of this test


def test_one_after_another_when_the_sum_does_not_fit() -> None:
    hw = make_hardware(ram_free=6, vram=None)
    small, big = alone(SMALL, 6), alone(BIG, 6)
    assert small < 6 * GiB and big < 6 * GiB < small + big  # each fits, both do not
    plan = plan_runs([req(1, SMALL), req(2, BIG), req(3, SMALL)], hw, cores=4)
    assert panes(plan) == [[1], [2], [3]]
    assert not plan.concurrent
    assert all(p.fit.verdict is Verdict.CPU_ONLY for wave in plan.waves for p in wave)
    assert plan.placement(2) is not None and plan.placement(2).n_threads == 4  # type: ignore[union-attr]
    assert plan.placement(4) is None


def test_later_panes_join_the_current_wave_when_they_fit() -> None:
    hw = make_hardware(ram_free=7.5, vram=None)
    plan = plan_runs([req(1, BIG), req(2, SMALL), req(3, BIG), req(4, SMALL)], hw, cores=4)
    assert panes(plan) == [[1, 2], [3, 4]]


def test_blocked_when_it_does_not_fit_even_alone() -> None:
    hw = make_hardware(ram_free=4, vram=None)
    plan = plan_runs([req(1, SMALL), req(2, BIG)], hw, cores=4)
    assert panes(plan) == [[1]]
    assert [pane for pane, _ in plan.blocked] == [2]
    why = plan.blocked[0][1]
    assert "does not fit: needs 5.6 GiB of RAM, 4.0 GiB available" in why
    assert "Load anyway" in why
    assert plan.placement(2) is None


def test_override_gets_a_wave_of_its_own() -> None:
    hw = make_hardware(ram_free=4, vram=None)
    plan = plan_runs([req(1, SMALL), req(2, BIG, override=True), req(3, SMALL)], hw, cores=4)
    assert panes(plan) == [[1], [2], [3]]
    assert plan.blocked == ()
    forced = plan.placement(2)
    assert forced is not None and forced.overridden
    assert forced.fit.verdict is Verdict.NO_FIT
    assert forced.n_gpu_layers == 0 and forced.n_threads == 4
    others = [plan.placement(1), plan.placement(3)]
    assert all(p is not None and not p.overridden for p in others)


def test_override_does_nothing_when_the_model_fits() -> None:
    hw = make_hardware(ram_free=8, vram=None)
    plan = plan_runs([req(1, SMALL), req(2, BIG, override=True)], hw, cores=4)
    assert panes(plan) == [[1, 2]]
    assert not any(p.overridden for p in plan.waves[0])


def test_same_file_twice_shares_its_cpu_weights() -> None:
    one = estimate_fit(SMALL, make_hardware(vram=None), ctx=CTX).cpu
    ram_free = 2.5
    # Two copies do not fit when the weights count twice, but do when they count once.
    assert one.total * 2 > ram_free * GiB > one.total * 2 - one.weights
    hw = make_hardware(ram_free=ram_free, vram=None)

    apart = plan_runs([req(1, SMALL, "/m/a.gguf"), req(2, SMALL, "/m/b.gguf")], hw, cores=4)
    assert panes(apart) == [[1], [2]]

    shared = plan_runs([req(1, SMALL, "/m/a.gguf"), req(2, SMALL, "/m/a.gguf")], hw, cores=4)
    assert panes(shared) == [[1, 2]]
    assert shared.memory[0][0] == 2 * one.total - one.weights


def test_same_file_twice_still_pays_its_vram_twice() -> None:
    hw = make_hardware(ram_free=24, vram=8, vram_free=2.5)
    plan = plan_runs([req(1, SMALL, "/m/a.gguf"), req(2, SMALL, "/m/a.gguf")], hw, cores=4)
    assert panes(plan) == [[1, 2]]
    first, second = plan.waves[0]
    assert first.fit.verdict is Verdict.FULL_GPU
    assert second.fit.verdict in (Verdict.PARTIAL, Verdict.CPU_ONLY)
    assert second.fit.gpu.total + first.fit.gpu.total <= 2.5 * GiB
    # The second copy keeps more on the CPU; only the part the first copy maps is shared.
    assert second.fit.cpu.weights > first.fit.cpu.weights
    expected = first.fit.cpu.total + second.fit.cpu.total - first.fit.cpu.weights
    assert plan.memory[0] == (expected, first.fit.gpu.total + second.fit.gpu.total)


def test_each_placement_is_estimated_with_what_its_wave_already_holds() -> None:
    hw = make_hardware(ram_free=24, vram=8, vram_free=7.5)
    plan = plan_runs([req(1, BIG), req(2, BIG)], hw, cores=4)
    assert panes(plan) == [[1, 2]]
    first, second = plan.waves[0]
    assert first.fit.verdict is Verdict.FULL_GPU
    assert second.fit.verdict is Verdict.PARTIAL
    assert second.fit == estimate_fit(BIG, hw, ctx=CTX, reserved_ram=first.fit.cpu.total,
                                      reserved_vram=first.fit.gpu.total)


def test_n_gpu_layers_has_llama_cpp_meaning() -> None:
    blocks = BIG.n_layers
    partial = plan_runs([req(1, BIG)], make_hardware(ram_free=24, vram=8, vram_free=3), cores=4).waves[0][0]
    assert partial.fit.verdict is Verdict.PARTIAL
    k = partial.n_gpu_layers
    assert 0 < k <= blocks
    # n_gpu_layers = k puts the last k blocks on the GPU and keeps the output head on the CPU.
    assert partial.fit.gpu.weights == sum(lw.total for lw in BIG.layers[blocks - k:])

    full = plan_runs([req(1, BIG)], make_hardware(ram_free=24, vram=24, vram_free=20), cores=4).waves[0][0]
    assert full.fit.verdict is Verdict.FULL_GPU
    assert full.n_gpu_layers == blocks + 1  # above the block count: the output head goes too
    assert full.fit.gpu.weights == sum(lw.total for lw in BIG.layers) + BIG.output_head_bytes

    cpu = plan_runs([req(1, BIG)], make_hardware(ram_free=24, vram=8, vram_free=0.1), cores=4).waves[0][0]
    assert cpu.fit.verdict is Verdict.CPU_ONLY and cpu.n_gpu_layers == 0


def test_cpu_only_verdict_always_gives_zero_layers() -> None:
    fit = estimate_fit(BIG, make_hardware(ram_free=24, vram=8, vram_free=3), ctx=CTX)
    assert fit.gpu_layers > 0
    assert n_gpu_layers_for(replace(fit, verdict=Verdict.CPU_ONLY)) == 0
    assert n_gpu_layers_for(fit) == fit.gpu_layers


def test_threads_split_over_the_cpu_models_of_a_wave() -> None:
    hw = make_hardware(ram_free=24, vram=None)
    plan = plan_runs([req(1, SMALL), req(2, SMALL), req(3, SMALL)], hw, cores=8)
    assert [p.n_threads for p in plan.waves[0]] == [3, 3, 2]
    crowded = plan_runs([req(i, SMALL) for i in range(1, 5)], hw, cores=2)
    assert [p.n_threads for p in crowded.waves[0]] == [1, 1, 1, 1]


def test_a_full_gpu_model_does_not_take_a_share_from_cpu_models() -> None:
    hw = make_hardware(ram_free=24, vram=8, vram_free=2.5)
    plan = plan_runs([req(1, SMALL), req(2, BIG)], hw, cores=8)
    gpu, cpu = plan.waves[0]
    assert gpu.fit.verdict is Verdict.FULL_GPU and cpu.fit.verdict is Verdict.CPU_ONLY
    assert cpu.n_threads == 8 and gpu.n_threads == 8


def test_threads_default_to_the_physical_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schedule, "physical_cores", lambda: 6)
    plan = plan_runs([req(1, SMALL), req(2, SMALL)], make_hardware(ram_free=24, vram=None))
    assert [p.n_threads for p in plan.waves[0]] == [3, 3]


def test_lines_for_one_wave_with_everything() -> None:
    plan = plan_runs([req(1, SMALL), req(2, BIG)], make_hardware(ram_free=8, vram=None), cores=4)
    lines = plan.lines()
    assert lines[0].startswith("All 2 panes run together (")
    assert "of 8.00 GiB free RAM" in lines[0] and "VRAM" not in lines[0]
    assert lines[1] == "pane 1 (Qwen3-0.6B Q8_0, CPU, 2 threads), pane 2 (Qwen3-8B Q4_K_M, CPU, 2 threads)"


def test_lines_mention_vram_when_there_is_a_gpu() -> None:
    plan = plan_runs([req(1, SMALL)], make_hardware(ram_free=8, vram=8, vram_free=7.5), cores=4)
    assert plan.lines()[0].startswith("Pane 1 runs (")
    assert "of 7.50 GiB free VRAM" in plan.lines()[0]
    assert plan.lines()[1] == "pane 1 (Qwen3-0.6B Q8_0, GPU, 4 threads)"


def test_lines_for_waves_blocked_and_overridden() -> None:
    hw = make_hardware(ram_free=4, vram=None)
    plan = plan_runs([req(1, SMALL), req(2, SMALL), req(3, BIG), req(4, BIG, override=True)], hw, cores=4)
    assert plan.lines() == [
        "Together: pane 1 (Qwen3-0.6B Q8_0, CPU, 2 threads), pane 2 (Qwen3-0.6B Q8_0, CPU, 2 threads)",
        "Then: pane 4 (Qwen3-8B Q4_K_M, CPU, 4 threads, loaded anyway: may not fit)",
        f"Not run: pane 3 — {plan.blocked[0][1]}",
    ]
    assert plan.blocked[0][1].startswith("does not fit: needs 5.6 GiB of RAM")


def test_lines_for_partial_offload_one_after_another() -> None:
    hw = make_hardware(ram_free=6, vram=8, vram_free=3)
    plan = plan_runs([req(1, BIG), req(2, BIG)], hw, cores=8)
    layers = plan.waves[0][0].fit.gpu_layers
    assert 0 < layers < 37
    assert plan.lines() == [
        f"First: pane 1 (Qwen3-8B Q4_K_M, {layers}/37 layers on GPU, 8 threads)",
        f"Then: pane 2 (Qwen3-8B Q4_K_M, {layers}/37 layers on GPU, 8 threads)",
    ]


def test_no_requests() -> None:
    plan = plan_runs([], make_hardware(), cores=4)
    assert plan.waves == () and plan.blocked == () and plan.concurrent
    assert plan.lines() == ["Nothing to run."]


def test_sharing_credit_is_at_most_this_copys_own_cpu_weights() -> None:
    # An earlier copy of the file mapped twice as many weight bytes as this copy keeps on the CPU:
    # only this copy's own bytes are shared, so crediting the earlier copy's would overcommit.
    one = estimate_fit(SMALL, make_hardware(vram=None), ctx=CTX).cpu
    budget = 3 * GiB
    held = budget - one.total + one.weights * 3 // 2
    wave = schedule.Wave(ram=held, mapped={"/m/a.gguf": 2 * one.weights})
    fit, _ = schedule.fit_in_wave(req(2, SMALL, "/m/a.gguf"), make_hardware(ram_free=3, vram=None), wave)
    assert fit.verdict is Verdict.NO_FIT
    wave = schedule.Wave(ram=held - one.weights, mapped={"/m/a.gguf": 2 * one.weights})
    fit, added = schedule.fit_in_wave(req(2, SMALL, "/m/a.gguf"), make_hardware(ram_free=3, vram=None), wave)
    assert fit.verdict is Verdict.CPU_ONLY and added == one.total - one.weights


def test_lines_for_one_wave_and_a_blocked_pane() -> None:
    hw = make_hardware(ram_free=4, vram=None)
    plan = plan_runs([req(1, SMALL), req(2, BIG), req(3, SMALL)], hw, cores=4)
    lines = plan.lines()
    assert lines[0].startswith("Panes 1 and 3 run together (")
    assert lines[1] == "pane 1 (Qwen3-0.6B Q8_0, CPU, 2 threads), pane 3 (Qwen3-0.6B Q8_0, CPU, 2 threads)"
    assert lines[2].startswith("Not run: pane 2 — does not fit")
    assert len(lines) == 3

"""The memory bandwidth measured robustly and kept per machine, and speed predictions calibrated by the
speeds measured here (issue 13, item 7)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from explorer.fit.calibration import ideal_speed, measurement, record, reset
from explorer.fit.estimate import CPU_EFFICIENCY, Verdict, estimate_fit
from explorer.gguf.reader import read_shape
from explorer.hardware import probe as probe_module
from explorer.hardware.bandwidth import BandwidthSample, measure_bandwidth
from explorer.hardware.llama_build import LlamaBuild
from explorer.hardware.machine_store import (
    EFFICIENCY_RANGE,
    MachineStore,
    SpeedMeasurement,
    efficiencies,
    machine_key,
    measured_by_file,
)
from explorer.hardware.probe import probe_hardware
from explorer.units import MIB

NO_LLAMA = LlamaBuild(installed=False)


def test_a_measurement_is_the_median_of_timed_passes() -> None:
    s = measure_bandwidth(8 * MIB, threads=2, passes=4, pass_seconds=0.01)
    assert len(s.passes) == 4 and min(s.passes) <= s.median <= max(s.passes) and s.median > 1e8
    assert s.spread == pytest.approx((max(s.passes) - min(s.passes)) / s.median)


def test_the_bandwidth_is_kept_per_machine_and_measured_again_on_request(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    store = MachineStore(tmp_path / "machine.json")
    calls: list[int] = []

    def fake(size: int) -> BandwidthSample:
        calls.append(size)
        return BandwidthSample(20e9 + len(calls) * 1e9, (19e9, 21e9 + len(calls) * 1e9, 20e9), 0.5)

    monkeypatch.setattr(probe_module, "measure_copy_bandwidth", fake)
    first = probe_hardware(tmp_path, llama=NO_LLAMA, store=store)
    again = probe_hardware(tmp_path, llama=NO_LLAMA, store=store)  # the next launch: not measured
    assert len(calls) == 1 and first.ram_bandwidth == again.ram_bandwidth == 21e9
    assert any("the median of 3 passes measured" in n and "Re-detect" in n for n in again.notes)
    fresh = probe_hardware(tmp_path, llama=NO_LLAMA, store=store, remeasure=True)
    assert len(calls) == 2 and fresh.ram_bandwidth == 22e9
    assert probe_hardware(tmp_path, llama=NO_LLAMA, store=store).ram_bandwidth == 22e9
    (tmp_path / "machine.json").write_text("{broken")  # a damaged file: measured again, rewritten
    assert probe_hardware(tmp_path, llama=NO_LLAMA, store=store).ram_bandwidth == 23e9 and len(calls) == 3
    assert store.bandwidth(machine_key(first.cpu, first.ram_total, first.gpus)) is not None


def m(where: str, measured: float, ideal: float, file: str = "a.gguf") -> SpeedMeasurement:
    return SpeedMeasurement(file=file, where=where, ctx=4096, measured=measured, predicted_raw=ideal, tokens=100)


def test_efficiency_is_the_median_ratio_per_side_and_mixed_says_nothing() -> None:
    speeds = [m("cpu", 3, 10), m("cpu", 5, 10), m("cpu", 4, 10), m("gpu", 50, 100), m("mixed", 1, 100)]
    cpu, gpu = efficiencies(speeds)
    assert cpu == pytest.approx(0.4) and gpu == pytest.approx(0.5)
    assert efficiencies([m("mixed", 1, 2)]) == (None, None)
    assert efficiencies([m("cpu", 1000, 1)])[0] == EFFICIENCY_RANGE[1]  # a broken timing is clamped
    assert measured_by_file([m("cpu", 3, 10), m("cpu", 5, 10, "b.gguf"), m("gpu", 7, 10)]) == (
        ("a.gguf", 5.0), ("b.gguf", 5.0))


def test_calibration_moves_the_prediction_to_the_measurement(fake_hardware, tmp_path: Path) -> None:
    """The default predicts 0.6 of the bandwidth-bound ideal on the CPU; this machine measured half the
    prediction. Kept, the next probe's efficiency makes the prediction for the same model equal the
    measurement, and moves another model's prediction by the same factor."""
    from explorer.testing.models import QWEN3_0_6B_SHAPE, ensure_model

    shape = read_shape(ensure_model(QWEN3_0_6B_SHAPE))
    hw = replace(fake_hardware, gpus=())
    fit = estimate_fit(shape, hw, ctx=4096)
    assert fit.verdict is Verdict.CPU_ONLY and fit.tokens_per_second is not None
    before = fit.tokens_per_second
    assert before == pytest.approx(ideal_speed(shape, hw, 4096) * CPU_EFFICIENCY)
    measured = before / 2
    store = MachineStore(tmp_path / "machine.json")
    assert measurement("x.gguf", shape, hw, fit, tokens=5, tokens_per_s=measured) is None  # too short
    got = measurement("x.gguf", shape, hw, fit, tokens=200, tokens_per_s=measured)
    assert got is not None and got.where == "cpu"
    record(hw, got, store)
    key = machine_key(hw.cpu, hw.ram_total, hw.gpus)
    cpu_eff, _ = efficiencies(store.speeds(key))
    calibrated = replace(hw, cpu_efficiency=cpu_eff)
    after = estimate_fit(shape, calibrated, ctx=4096).tokens_per_second
    assert after == pytest.approx(measured) and abs(after - measured) < abs(before - measured)
    other = replace(shape, n_layers=shape.n_layers // 2)
    assert estimate_fit(other, calibrated, ctx=4096).tokens_per_second == pytest.approx(
        estimate_fit(other, hw, ctx=4096).tokens_per_second / 2)
    reset(hw, store)
    assert store.speeds(key) == [] and efficiencies(store.speeds(key)) == (None, None)


def test_the_probe_reads_the_calibration_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = MachineStore(tmp_path / "machine.json")
    monkeypatch.setattr(probe_module, "measure_copy_bandwidth", lambda size: BandwidthSample(20e9, (20e9,), 0.1))
    hw = probe_hardware(tmp_path, llama=NO_LLAMA, store=store)
    assert hw.cpu_efficiency is None and hw.measured_speeds == ()
    store.add_speed(machine_key(hw.cpu, hw.ram_total, hw.gpus), m("cpu", 3, 10, "Qwen3-0.6B-Q8_0.gguf"))
    hw = probe_hardware(tmp_path, llama=NO_LLAMA, store=store)
    assert hw.cpu_efficiency == pytest.approx(0.3) and hw.measured_speed("Qwen3-0.6B-Q8_0.gguf") == 3
    assert any(n.startswith("Speed predictions calibrated by 1 answers measured here (efficiency CPU 0.30)")
               for n in hw.notes)


@pytest.mark.llama
def test_an_answer_from_the_cli_is_kept_for_the_calibration(capsys: pytest.CaptureFixture[str]) -> None:
    """`chat` on the 0.6B-shaped model (bandwidth-bound, like a real one): the answer's speed is kept with its
    ideal, under this machine."""
    import io

    from explorer.cli.main import main
    from explorer.testing.models import QWEN3_0_6B_SHAPE, ensure_model

    path = ensure_model(QWEN3_0_6B_SHAPE)  # random weights: it writes until max tokens
    assert main(["chat", str(path), "Why is the sky blue?", "--max-tokens", "40", "--no-think", "--ctx", "1024"],
                out=io.StringIO()) == 0, capsys.readouterr().err
    hw = probe_hardware(path.parent, llama=NO_LLAMA, measure_bandwidth=True)
    speeds = MachineStore().speeds(machine_key(hw.cpu, hw.ram_total, hw.gpus))
    assert len(speeds) == 1 and speeds[0].file == path.name and speeds[0].tokens >= 32
    assert speeds[0].measured > 0 and speeds[0].predicted_raw > 0 and speeds[0].where == "cpu"
    assert hw.measured_speed(path.name) == speeds[0].measured


def test_a_tiny_models_speed_never_calibrates(fake_hardware, tmp_path: Path) -> None:
    """The generated test models read a few KB a token: thousands of tokens/s decided by fixed costs, not the
    memory. Kept, they would drag every prediction down (a new user's trial saw 0.05 after a few chats)."""
    from explorer.testing.scripted import ensure_scripted_model

    shape = read_shape(ensure_scripted_model())
    hw = replace(fake_hardware, gpus=())
    fit = estimate_fit(shape, hw, ctx=1024)
    assert measurement("demo.gguf", shape, hw, fit, tokens=200, tokens_per_s=500.0) is None
    old = m("cpu", 6.7, 10442.0)  # written by a build before this rule: ignored when read
    assert efficiencies([old]) == (None, None)
    assert efficiencies([old, m("cpu", 5, 10)]) == (pytest.approx(0.5), None)


def test_the_cli_measures_again_and_resets_on_request(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    import io

    from explorer.cli.main import main

    calls: list[int] = []

    def fake(size: int) -> BandwidthSample:
        calls.append(size)
        return BandwidthSample(20e9 + len(calls) * 1e9, (20e9,), 0.1)

    monkeypatch.setattr(probe_module, "measure_copy_bandwidth", fake)
    assert main(["hardware", "--no-llama", "--json"], out=io.StringIO()) == 0
    assert main(["hardware", "--no-llama", "--json"], out=io.StringIO()) == 0
    assert len(calls) == 1  # kept
    assert main(["hardware", "--no-llama", "--remeasure", "--json"], out=io.StringIO()) == 0
    assert len(calls) == 2
    hw = probe_hardware(tmp_path, llama=NO_LLAMA)
    key = machine_key(hw.cpu, hw.ram_total, hw.gpus)
    MachineStore().add_speed(key, m("cpu", 3, 10))
    assert probe_hardware(tmp_path, llama=NO_LLAMA).cpu_efficiency == pytest.approx(0.3)
    assert main(["hardware", "--no-llama", "--reset-calibration"], out=io.StringIO()) == 0
    assert "speed calibration of this machine was reset" in capsys.readouterr().err
    assert MachineStore().speeds(key) == [] and probe_hardware(tmp_path, llama=NO_LLAMA).cpu_efficiency is None

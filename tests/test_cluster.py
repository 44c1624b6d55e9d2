"""The multi-machine plan (explorer/fit/cluster.py) and `fit --cluster`, on fake machines, checked by hand.

The machines: a and b each have one 24 GB GPU (23.5 GiB free, 272 GB/s) and 60 GiB of available RAM
(60 GB/s); c is a CPU host with 60 GiB available. a is the head.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import asdict, replace
from pathlib import Path

import pytest
from conftest import GiB, make_hardware

from explorer.catalog.snapshot import load_catalog
from explorer.cli.main import _jsonable, main
from explorer.fit.cluster import (
    RPC_WARNING,
    ClusterVerdict,
    commands,
    engine_url,
    plan_cluster,
    split_layers,
)
from explorer.gguf.shape import ModelShape
from explorer.hardware.facts import Hardware
from explorer.hardware.machine_file import MachineFileError, hardware_from_json, read_machine_file

MiB = 2**20
BLOCK = 43_909_701 + 1_476_730_715  # one 235B-A22B Q4_K_M block (dense + experts) from the catalog's shape
OUTPUT = 380_401_670  # its output.weight + output_norm
TOKEN_EMBD = 380_399_166
KV_8K = 4 * (128 + 128) * 2 * 8192  # one block's f16 KV at 8192 tokens: 4 KV heads x (K + V) x 2 bytes = 16 MiB


def catalog_shape(model_id: str, quant: str) -> ModelShape:
    model = load_catalog().find(model_id)
    assert model is not None
    return model.shape_for(model.files_for(quant)[0])


def gpu_box() -> Hardware:
    return make_hardware(ram=64, ram_free=60, vram=24, vram_free=23.5)


def cpu_box() -> Hardware:
    return make_hardware(ram=64, ram_free=60, vram=None)


MACHINES = [("a", "10.0.0.1", gpu_box()), ("b", "10.0.0.2", gpu_box()), ("c", "10.0.0.3", cpu_box())]


def test_the_235b_plan_splits_by_free_memory_as_computed_by_hand() -> None:
    shape = catalog_shape("Qwen3-235B-A22B", "Q4_K_M")
    assert (shape.n_layers, shape.layers[0].total, shape.output_bytes, shape.token_embd_bytes) == (
        94, BLOCK, OUTPUT, TOKEN_EMBD)
    plan = plan_cluster(shape, MACHINES, 8192, "f16", 0, model="Qwen3-235B-A22B Q4_K_M")

    # The GPUs alone (2 x 22.8 GiB) cannot hold 134 GiB of weights, so the RAMs join.
    # Order on the head: RPC devices in --rpc order (b's GPU, b's RAM, c's RAM, a's RAM through its own
    # rpc-server), then a's local GPU.
    # Free memory, GiB: GPU 23.5 x 0.97 = 22.795; RAM 60; a's RAM 60 less the head's own process:
    #   token_embd 380399166 + compute 2 x 4096 x 512 x 4 = 16777216 + overhead 80 MiB + logits 151936 x 4
    #   = 481670206 B = 0.4486 GiB -> 59.5514.
    # Sum 22.795 + 60 + 60 + 59.5514 + 22.795 = 225.1364. Cumulative shares x 95 layers (94 blocks + output):
    #   22.795 / 225.1364 x 95 = 9.62 -> layers 0-9 (10); 82.795 -> 34.94 -> 10-34 (25);
    #   142.795 -> 60.25 -> 35-60 (26); 202.3464 -> 85.38 -> 61-85 (25); the rest 86-93 + output (9).
    assert plan.verdict is ClusterVerdict.FITS
    assert plan.uses_ram
    assert [(d.machine, d.device) for d in plan.devices] == [
        ("b", "CUDA0"), ("b", "CPU"), ("c", "CPU"), ("a", "CPU"), ("a", "CUDA0")]
    assert plan.tensor_split == (10, 25, 26, 25, 9)
    assert [d.layer_range for d in plan.devices] == ["0-9", "10-34", "35-60", "61-85", "86-93, output"]
    assert plan.devices[0].free == int(23.5 * GiB * 0.97)
    assert plan.head_ram.total == 481_670_206
    assert plan.devices[3].free == 60 * GiB - 481_670_206

    b_gpu, a_gpu, c_ram = plan.devices[0], plan.devices[4], plan.devices[2]
    assert (b_gpu.memory.weights, b_gpu.memory.kv) == (10 * BLOCK, 10 * KV_8K)
    assert (a_gpu.memory.weights, a_gpu.memory.kv) == (8 * BLOCK + OUTPUT, 8 * KV_8K)
    assert (c_ram.memory.weights, c_ram.memory.kv) == (26 * BLOCK, 26 * KV_8K)
    assert b_gpu.memory.overhead == 480 * MiB and c_ram.memory.overhead == 80 * MiB
    assert all(d.fits for d in plan.devices)
    assert plan.head_ram.weights == TOKEN_EMBD  # the token embeddings stay on the head's CPU

    # Speed: one block reads dense + experts x 8/128 + 2 MiB of KV (1024 tokens) per token
    #   = 43909701 + 1476730715 / 16 + 2097152 = 138302522.69 B.
    # GPU 272e9 x 0.75 = 204e9 B/s: b 10 blocks -> 6.780 ms; a 8 blocks + output -> 7.288 ms.
    # RAM 60e9 x 0.6 = 36e9 B/s: 76 blocks -> 291.97 ms.
    # Network: a -> b, b -> c through the head (twice), c -> a: 4 x 4096 x 4 B = 64 KiB, 0.524 ms at
    # 1 Gbit/s; 4 transfers + 3 remote devices = 7 round trips x 0.5 ms = 3.5 ms.
    per_block = 43_909_701 + 1_476_730_715 / 16 + 2 * MiB
    network = 4 * 4096 * 4 * 8 / 1e9 + 7 * 0.5e-3
    seconds = 10 * per_block / 204e9 + (8 * per_block + OUTPUT) / 204e9 + 76 * per_block / 36e9 + network
    assert plan.network.bytes_per_token == 4 * 4096 * 4
    assert (plan.network.transfers, plan.network.round_trips) == (4, 7)
    assert plan.network.seconds == pytest.approx(network)
    assert plan.tokens_per_second == pytest.approx(1 / seconds)
    assert plan.tokens_per_second == pytest.approx(3.225, abs=0.01)
    # b and c receive their weights over the network when the model loads.
    assert plan.load_bytes == (10 + 25 + 26) * BLOCK


def test_the_235b_commands_are_exact() -> None:
    plan = plan_cluster(catalog_shape("Qwen3-235B-A22B", "Q4_K_M"), MACHINES, 8192, "f16", 0)
    assert commands(plan, "/models/Qwen3-235B-A22B-Q4_K_M-00001-of-00005.gguf") == [
        "rpc-server -H 10.0.0.2 -p 50052 -c -d CUDA0,CPU   # on b",
        "rpc-server -H 10.0.0.3 -p 50052 -c   # on c",
        "rpc-server -H 127.0.0.1 -p 50052 -c -d CPU   # on a (the head: its RAM)",
        "llama-server -m /models/Qwen3-235B-A22B-Q4_K_M-00001-of-00005.gguf "
        "--rpc 10.0.0.2:50052,10.0.0.3:50052,127.0.0.1:50052 --tensor-split 10,25,26,25,9 -c 8192 -ngl 999 "
        "--host 10.0.0.1 --port 8080   # on a, the head",
    ]
    assert commands(plan, "/my models/x.gguf", {"b": 6000, "a": 6001})[2].startswith(
        "rpc-server -H 127.0.0.1 -p 6001 ")
    assert "-m '/my models/x.gguf' --rpc 10.0.0.2:6000,10.0.0.3:50052,127.0.0.1:6001 " in commands(
        plan, "/my models/x.gguf", {"b": 6000, "a": 6001})[3]
    assert engine_url(plan) == "http://10.0.0.1:8080/v1"


def test_a_quantized_kv_cache_adds_its_flags() -> None:
    plan = plan_cluster(catalog_shape("Qwen3-235B-A22B", "Q4_K_M"), MACHINES, 8192, "q8_0", 0)
    assert plan.verdict is ClusterVerdict.FITS
    assert "-ngl 999 -fa on -ctk q8_0 -ctv q8_0 --host" in commands(plan, "m.gguf")[-1]


def test_a_plan_that_does_not_fit() -> None:
    # Q8_0 is 249787000000 B = 232.6 GiB of weights; the machines offer 225.1 GiB in all.
    plan = plan_cluster(catalog_shape("Qwen3-235B-A22B", "Q8_0"), MACHINES, 8192, "f16", 0)
    assert plan.verdict is ClusterVerdict.NO_FIT
    assert plan.summary.startswith("does not fit: needs ")
    assert "short" in plan.summary and "over: " in plan.summary
    assert plan.tokens_per_second is None
    assert plan.alone is None
    assert commands(plan, "m.gguf") == []


def test_a_model_that_fits_on_one_machine_says_so() -> None:
    # 30B-A3B Q4_K_M is 18663000000 B = 17.4 GiB: all 49 layers fit a's 22.8 GiB of VRAM.
    plan = plan_cluster(catalog_shape("Qwen3-30B-A3B-Instruct-2507", "Q4_K_M"), MACHINES, 8192, "f16", 0)
    assert plan.verdict is ClusterVerdict.ONE_MACHINE
    assert plan.alone is not None and plan.alone[0] == "a"
    assert plan.summary.startswith("fits on a alone (full GPU: all 49 layers")
    assert "RPC is not needed" in plan.summary
    assert commands(plan, "m.gguf") == ["llama-server -m m.gguf -c 8192 -ngl 49 --host 10.0.0.1 --port 8080"]
    # The GPUs alone would do across machines: the RAMs stay out of the split.
    assert not plan.uses_ram and [d.device for d in plan.devices] == ["CUDA0", "CUDA0"]


def test_the_gpus_alone_when_they_are_enough() -> None:
    # Two machines with a 12 GiB GPU (11.64 GiB usable each) and 4 GiB of RAM: 30B-A3B Q4_K_M (17.4 GiB) fits
    # neither alone, and both GPUs together; equal free memory -> 49 layers split 25 / 24 (24.5 rounds at
    # upper_bound: layers 0-24 on the first device, 25-47 + output on the head's GPU).
    small = make_hardware(ram=8, ram_free=4, vram=12, vram_free=12)
    plan = plan_cluster(catalog_shape("Qwen3-30B-A3B-Instruct-2507", "Q4_K_M"),
                        [("x", "x.lan", small), ("y", "y.lan", small)], 8192, "f16", 1)
    assert plan.verdict is ClusterVerdict.FITS and not plan.uses_ram
    assert [(d.machine, d.layers) for d in plan.devices] == [("x", 25), ("y", 24)]
    assert plan.network.hops == ("y → x: 8.00 KiB", "x → y: 8.00 KiB")  # n_embd 2048 x 4 B
    assert commands(plan, "m.gguf") == [
        "rpc-server -H x.lan -p 50052 -c   # on x",
        "llama-server -m m.gguf --rpc x.lan:50052 --tensor-split 25,24 -c 8192 -ngl 999 --host y.lan --port 8080"
        "   # on y, the head",
    ]


def test_split_layers_follows_llama_cpps_upper_bound() -> None:
    assert split_layers([1, 1], 3) == [2, 2]  # layer 2: 2/4 = 0.5 is not below 0.5 -> the second device
    assert split_layers([1, 0, 1], 4) == [3, 0, 2]  # 0.4 upper_bound over [0.5, 0.5, 1]
    assert split_layers([3, 1], 94) == [72, 23]  # 0.75 x 95 = 71.25 -> layers 0-71
    # Layer counts as weights give back the same counts (the plan passes them as --tensor-split).
    assert split_layers([10, 25, 26, 25, 9], 94) == [10, 25, 26, 25, 9]
    with pytest.raises(ValueError):
        split_layers([0, 0], 4)


def test_a_build_that_cannot_load_the_architecture_is_named() -> None:
    old = replace(gpu_box(), llama=replace(gpu_box().llama, architectures=frozenset({"llama"})))
    plan = plan_cluster(catalog_shape("Qwen3-235B-A22B", "Q4_K_M"),
                        [("a", "10.0.0.1", gpu_box()), ("b", "10.0.0.2", old), ("c", "10.0.0.3", cpu_box())],
                        8192, "f16", 0)
    assert plan.verdict is ClusterVerdict.NO_FIT
    assert "the llama.cpp build on b cannot load 'qwen3moe' models" in plan.summary


# --- machine files -------------------------------------------------------------------------------


def test_a_machine_file_round_trips_into_the_same_hardware(tmp_path: Path) -> None:
    hw = replace(gpu_box(), cpu_efficiency=0.5, gpu_efficiency=0.7, measured_speeds=(("x.gguf", 12.5),),
                 notes=("Disk: free space read from /tmp",),
                 llama=replace(gpu_box().llama, architectures=frozenset({"qwen3", "qwen3moe"})))
    path = tmp_path / "a.json"
    path.write_text(json.dumps(_jsonable(asdict(hw)), indent=2))
    assert read_machine_file(path) == hw


def test_a_real_hardware_json_reads_back(tmp_path: Path) -> None:
    out = io.StringIO()
    assert main(["hardware", "--json", "--no-llama"], out=out) == 0
    path = tmp_path / "here.json"
    path.write_text(out.getvalue())
    hw = read_machine_file(path)
    data = json.loads(out.getvalue())
    assert (hw.ram_total, hw.ram_available, hw.cpu.model) == (data["ram_total"], data["ram_available"],
                                                               data["cpu"]["model"])
    assert len(hw.gpus) == len(data["gpus"]) and hw.llama.error == "not checked (--no-llama)"
    assert json.loads(json.dumps(_jsonable(asdict(hw)))) == data  # nothing lost on the way back


@pytest.mark.parametrize(("text", "message"), [
    ("{", "not valid JSON: Expecting property name enclosed in double quotes at line 1, column 2"),
    ("[]", "the file should be an object, not list"),
    ('{"ram_total": 1}', "key 'ram_available' is missing"),
    ('{"ram_total": 1, "ram_available": "lots", "cpu": {}}', "key 'ram_available' should be a whole number"),
    ('{"ram_total": 1, "ram_available": 1, "cpu": {"model": "x"}}', "key 'cpu.logical_cores' is missing"),
    ('{"ram_total": 1, "ram_available": 1, "cpu": {"model": "x", "logical_cores": 4}, "gpus": [{"index": 0}]}',
     "key 'gpus[0].vendor' is missing"),
])
def test_a_malformed_machine_file_is_one_line_naming_the_file_and_key(tmp_path: Path, text: str,
                                                                       message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(MachineFileError) as info:
        read_machine_file(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_hardware_from_json_rejects_what_is_not_a_machine() -> None:
    with pytest.raises(MachineFileError, match=r"^x: key 'measured_speeds\[0\]' should be"):
        hardware_from_json({"ram_total": 1, "ram_available": 1, "cpu": {"model": "m", "logical_cores": 1},
                            "measured_speeds": [["f", "fast"]]}, "x")


# --- the command ----------------------------------------------------------------------------------


def write_machines(tmp_path: Path) -> list[str]:
    specs = []
    for name, host, hw in MACHINES:
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(_jsonable(asdict(hw))))
        specs.append(f"{path}@{host}")
    return specs


def test_fit_cluster_prints_the_table_verdict_speed_and_commands(tmp_path: Path) -> None:
    out = io.StringIO()
    code = main(["fit", "--cluster", *write_machines(tmp_path), "--model", "Qwen3-235B-A22B", "--quant", "Q4_K_M",
                 "--ctx", "8k"], out=out)
    text = out.getvalue()
    assert code == 0, text
    lines = text.splitlines()
    assert lines[0] == "Qwen3-235B-A22B Q4_K_M: context 8192, KV cache f16; head a, workers b, c"
    assert lines[1].split() == ["machine", "device", "layers", "weights", "KV", "compute+", "total", "free", "fits"]
    row = next(line for line in lines if line.startswith("c "))
    assert row.split()[:5] == ["c", "RAM", "(CPU)", "26", "(35-60)"]
    assert "--tensor-split 10,25,26,25,9" in text
    assert "verdict: fits across 3 machines (a, b, c)" in text
    assert "speed: network: 64.0 KiB per token in 4 transfers, 7 round trips" in text
    assert "  rpc-server -H 10.0.0.3 -p 50052 -c   # on c\n" in text
    assert "then connect to http://10.0.0.1:8080/v1 as a remote (OpenAI-compatible) engine" in text
    assert f"warning: {RPC_WARNING}" in text


def test_fit_cluster_json_and_head(tmp_path: Path) -> None:
    out = io.StringIO()
    assert main(["fit", "--cluster", *write_machines(tmp_path), "--model", "Qwen3-235B-A22B", "--quant", "Q4_K_M",
                 "--ctx", "8192", "--head", "c", "--link", "10", "--json"], out=out) == 0
    data = json.loads(out.getvalue())
    assert data["head"] == "c" and data["verdict"] == "fits across the machines"
    assert [d["machine"] for d in data["devices"]][-1] == "c"  # c's RAM through its own rpc-server, last
    assert sum(data["tensor_split"]) == 95
    assert data["network"]["link_bits_per_second"] == 10e9
    assert data["commands"][-1].startswith("llama-server -m Qwen3-235B-A22B-Q4_K_M-00001-of-00005.gguf --rpc ")


@pytest.mark.parametrize(("args", "message"), [
    (["--model", "Qwen3-235B-A22B"], "--cluster needs a model"),
    (["--model", "Qwen3-235B-A22B", "--quant", "Q7_X"], "Qwen3-235B-A22B has no Q7_X file in the catalog"),
    (["--model", "Qwen3", "--quant", "Q4_K_M"], "--model 'Qwen3' should name one catalog model"),
    (["--model", "Qwen3-8B", "--quant", "Q4_K_M", "--head", "z"], "--head 'z' is not one of the machines (a, b, c)"),
])
def test_fit_cluster_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      args: list[str], message: str) -> None:
    assert main(["fit", "--cluster", *write_machines(tmp_path), *args], out=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert err.startswith("qwen3-explorer: ") and message in err and err.count("\n") == 1


def test_fit_cluster_malformed_file_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"ram_total": 1}')
    assert main(["fit", "--cluster", str(bad), "--model", "Qwen3-8B", "--quant", "Q4_K_M"], out=io.StringIO()) == 2
    assert capsys.readouterr().err == f"qwen3-explorer: {bad}: key 'ram_available' is missing\n"


@pytest.mark.parametrize(("content", "message"), [
    (b"\xff\xfe{\x00}", "not a machine file (not UTF-8 text at byte 0)"),
    (b"[" * 100_000, "not a machine file (nested too deeply)"),
])
def test_a_machine_file_of_bytes_or_deep_nesting_is_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "odd.json"
    path.write_bytes(content)
    with pytest.raises(MachineFileError, match=re.escape(f"{path}: {message}")):
        read_machine_file(path)


@pytest.mark.parametrize(("args", "message"), [
    (["--link", "nan"], "argument --link: not a finite number: 'nan'"),
    (["--link", "0"], "argument --link: must be more than 0: '0'"),
    (["--rtt", "inf"], "argument --rtt: not a finite number: 'inf'"),
    (["--rtt", "-1"], "argument --rtt: must be 0 or more: '-1'"),
])
def test_fit_cluster_refuses_a_link_or_rtt_that_is_not_a_number(tmp_path: Path, args: list[str], message: str,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["fit", "--cluster", *write_machines(tmp_path), "--model", "Qwen3-8B", "--quant", "Q4_K_M", *args],
             out=io.StringIO())
    assert info.value.code == 2 and message in capsys.readouterr().err


def test_one_file_for_two_alike_machines_at_two_addresses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Two identical GPU boxes described by one `hardware --json` file: told apart by their addresses."""
    b_file = write_machines(tmp_path)[1].split("@")[0]
    out = io.StringIO()
    assert main(["fit", "--cluster", f"{b_file}@10.0.0.2", f"{b_file}@10.0.0.9", "--model", "Qwen3-30B-A3B",
                 "--quant", "Q8_0", "--ctx", "8k", "--json"], out=out) == 0
    data = json.loads(out.getvalue())
    assert data["head"] == "b" and {m["name"] for m in data["machines"]} == {"b", "b@10.0.0.9"}
    assert main(["fit", "--cluster", f"{b_file}@10.0.0.2", f"{b_file}@10.0.0.2", "--model", "Qwen3-8B",
                 "--quant", "Q4_K_M"], out=io.StringIO()) == 2
    assert "is named twice at one address" in capsys.readouterr().err


def test_when_the_proportional_splits_overflow_a_device_layers_move_to_where_there_is_room() -> None:
    """A new user's case: 235B-A22B at Q8_0 (242 GiB) over a GPU box, a 24 GB GPU + 64 GB host and a host
    with two 24 GB GPUs and 128 GB: both proportional splits overflowed one GPU by under a GiB while 20 GiB
    were free elsewhere, and the plan said "does not fit". Moving layers one at a time fits it."""
    import dataclasses

    from explorer.hardware.facts import GPU

    two = make_hardware(ram=128, ram_free=115.2, vram=24, vram_free=23.28)
    gpu = two.gpus[0]
    two = dataclasses.replace(two, gpus=(gpu, dataclasses.replace(gpu, index=1)))
    small = make_hardware(ram=23.54, ram_free=21.9, vram=None)
    one = make_hardware(ram=64, ram_free=57.6, vram=24, vram_free=23.28)
    machines = [("a", "10.0.0.1", small), ("b", "10.0.0.2", one), ("c", "10.0.0.3", two)]
    assert isinstance(gpu, GPU)
    plan = plan_cluster(catalog_shape("Qwen3-235B-A22B", "Q8_0"), machines, 32768)
    assert plan.verdict is ClusterVerdict.FITS, plan.summary
    assert all(d.fits for d in plan.devices) and sum(plan.tensor_split) == 95
    assert "by the memory each device has left" in plan.split_rule


def test_a_gpu_the_build_cannot_use_is_said_not_dropped_and_no_fit_exits_1(tmp_path: Path) -> None:
    import dataclasses

    from conftest import LLAMA_CPU

    cpu_build = dataclasses.replace(gpu_box(), llama=LLAMA_CPU)  # a GPU listed, a CPU-only llama.cpp
    plan = plan_cluster(catalog_shape("Qwen3-235B-A22B", "Q4_K_M"),
                        [("a", "10.0.0.1", gpu_box()), ("b", "10.0.0.2", cpu_build)], 8192)
    assert any(n.startswith("b: its 1 GPU is not used: the llama.cpp build in its file has no GPU backend")
               for n in plan.notes)
    assert not any(d.machine == "b" and d.kind == "gpu" for d in plan.devices)
    path = tmp_path / "solo.json"
    path.write_text(json.dumps(_jsonable(asdict(cpu_box()))))
    assert main(["fit", "--cluster", str(path), "--model", "Qwen3-235B-A22B", "--quant", "Q8_0"],
                out=io.StringIO()) == 1  # does not fit

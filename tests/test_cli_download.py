"""`qwen3-explorer download` against the loopback Hub: shards expanded, progress, clear failures."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from hub_fixtures import hub  # noqa: F401 - the fixture

from explorer.cli.main import main
from explorer.testing.hub import HubServer
from explorer.testing.hub_repos import split_file
from explorer.testing.models import ensure_model


def test_download_a_split_model_from_any_shard(hub: HubServer, tmp_path: Path,  # noqa: F811
                                              capsys: pytest.CaptureFixture[str]) -> None:
    src = ensure_model("qwen3-tiny-hybrid-f32")
    shards = split_file(src, tmp_path / "src", "Tiny-F32", 3)
    hub.add_repo("Qwen/Tiny-GGUF", {p.name: p for p in shards})
    out = io.StringIO()
    code = main(["download", "Qwen/Tiny-GGUF", shards[1].name, "--cache-dir", str(tmp_path / "cache")], out=out)
    assert code == 0, capsys.readouterr().err
    paths = [Path(line) for line in out.getvalue().splitlines()]
    assert [p.read_bytes() for p in paths] == [s.read_bytes() for s in shards]
    assert "100.0%" in capsys.readouterr().err


def test_corrupt_download_fails_with_a_message(hub: HubServer, tmp_path: Path,  # noqa: F811
                                              capsys: pytest.CaptureFixture[str]) -> None:
    hub.add_repo("Qwen/Tiny-GGUF", {"t.gguf": ensure_model("qwen3-tiny-hybrid-f32")})
    hub.faults.set("corrupt", "t.gguf", method="GET", offset=100, times=None)
    code = main(["download", "Qwen/Tiny-GGUF", "t.gguf", "--cache-dir", str(tmp_path / "c")], out=io.StringIO())
    assert code == 1
    assert "sha256 mismatch" in capsys.readouterr().err


def test_a_file_name_leaving_the_cache_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["download", "Qwen/X", "../../x.gguf", "--cache-dir", str(tmp_path)], out=io.StringIO())
    assert code == 2
    assert "refusing the file name '../../x.gguf' from the Hub: path escapes its folder" in capsys.readouterr().err


def test_a_malformed_repo_id_is_refused_in_one_line(tmp_path: Path) -> None:
    # It used to hang for ever: the job's setup raised HFValidationError outside the worker's error handling.
    proc = subprocess.run([sys.executable, "-m", "explorer", "download", "bad repo", "x.gguf",
                           "--cache-dir", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == ["qwen3-explorer: not a Hugging Face repo id: 'bad repo'"]
    assert not list(tmp_path.iterdir())


def test_models_lists_a_verified_download(hub: HubServer, tmp_path: Path,  # noqa: F811
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QWEN3_EXPLORER_MODELS", str(tmp_path / "models"))
    out = io.StringIO()
    assert main(["models"], out=out) == 0 and "No GGUF models on disk yet" in out.getvalue()
    hub.add_repo("Qwen/Tiny-GGUF", {"Tiny-Q8_0.gguf": ensure_model("qwen3-tiny-hybrid-q8_0")})
    assert main(["download", "Qwen/Tiny-GGUF", "Tiny-Q8_0.gguf"], out=io.StringIO()) == 0
    out = io.StringIO()
    assert main(["models"], out=out) == 0
    [line] = out.getvalue().splitlines()
    assert "Tiny-Q8_0.gguf" in line and "Q8_0" in line and "Qwen/Tiny-GGUF" in line and "verified" in line


def test_fit_from_the_hub_header_matches_the_local_file(hub: HubServer) -> None:  # noqa: F811
    import json

    path = ensure_model("qwen3moe-fit-q8_0")
    hub.add_repo("Qwen/MoE-GGUF", {"Q8_0/MoE-Q8_0.gguf": path})
    remote, local = io.StringIO(), io.StringIO()
    assert main(["fit", "--hub", "Qwen/MoE-GGUF/Q8_0/MoE-Q8_0.gguf", "--json", "--no-llama", "--ctx", "8k"],
                out=remote) == 0
    assert main(["fit", "--file", str(path), "--json", "--no-llama", "--ctx", "8k"], out=local) == 0
    [r], [loc] = json.loads(remote.getvalue())["files"], json.loads(local.getvalue())["files"]
    assert r["exact"] and r["cpu"] == loc["cpu"] and r["gpu"] == loc["gpu"] and r["verdict"] == loc["verdict"]
    assert sum(e.bytes_sent for e in hub.requests("GET", "MoE-Q8_0")) < path.stat().st_size // 20


def test_fit_from_the_hub_for_a_missing_file(hub: HubServer, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    hub.add_repo("Qwen/MoE-GGUF", {"README.md": "x"})
    assert main(["fit", "--hub", "Qwen/MoE-GGUF/nope.gguf", "--no-llama"], out=io.StringIO()) == 2
    assert "nope.gguf" in capsys.readouterr().err

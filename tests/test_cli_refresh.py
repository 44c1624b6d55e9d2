"""`qwen3-explorer refresh` against the loopback Hub: saved, a deadline, and Ctrl+C gives one line."""

from __future__ import annotations

import argparse
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hub_fixtures import hub  # noqa: F401 - the fixture

from explorer.catalog.refresh import cache_path, current_catalog
from explorer.cli.main import main
from explorer.cli.refresh import cmd_refresh
from explorer.testing.hub import HubServer
from explorer.testing.models import ensure_model

ROOT = Path(__file__).resolve().parents[1]
BOUND = 60.0  # seconds: a generous bound for "it ends"
REPO = "Qwen/Qwen3-0.6B-GGUF"  # a repo of the shipped snapshot


def test_refresh_saves_what_the_hub_lists(hub: HubServer) -> None:  # noqa: F811
    hub.add_repo(REPO, {"Qwen3-0.6B-Q8_0.gguf": ensure_model("qwen3-tiny-hybrid-q8_0")})
    out = io.StringIO()
    assert main(["refresh", "--repo", REPO], out) == 0
    assert out.getvalue() == f"1 repos updated from the Hub; saved to {cache_path()}\n"
    model = next(m for m in current_catalog().models if any(f.repo == REPO for f in m.files))
    assert [f.shards for f in model.files if f.repo == REPO] == [("Qwen3-0.6B-Q8_0.gguf",)]


def test_a_stalled_hub_ends_at_the_deadline(hub: HubServer, capsys) -> None:  # noqa: F811
    hub.faults.set("stall", "/api/models/", seconds=600, times=None)
    assert main(["refresh", "--repo", REPO, "--repo", "unsloth/Qwen3-8B-GGUF", "--deadline", "1"]) == 1
    out, err = capsys.readouterr()
    assert out == ("The Hub could not be reached; the catalog was not changed (0 repos updated from the Hub, "
                   "1 unreachable (kept from the snapshot), 1 not asked, stopped at the deadline).\n")
    assert err == f"{REPO}: no answer within the refresh's 1 s\n"
    assert not cache_path().exists()


def test_ctrl_c_cancels_with_one_line(hub: HubServer) -> None:  # noqa: F811
    hub.faults.set("stall", "/api/models/", seconds=600, times=None)
    proc = subprocess.Popen([sys.executable, "-m", "explorer", "refresh", "--deadline", str(BOUND * 2)],
                            cwd=ROOT, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + BOUND
        while not hub.requests(contains="/api/models/") and proc.poll() is None and time.monotonic() < end:
            time.sleep(0.05)  # waiting for a condition: the first request reaching the Hub
        assert hub.requests(contains="/api/models/"), "the refresh never asked the Hub"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=BOUND)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130
    assert (out, err) == ("", "Refresh cancelled; the catalog was not changed.\n")


class Offline:
    """A Hub that cannot be reached at all (no network): every repo fails alike, at once."""

    def model_info(self, repo: str, **_: object) -> object:
        raise ConnectionError("[Errno -2] Name or service not known")


def test_offline_is_one_line_per_reason_not_one_per_repo(capsys: pytest.CaptureFixture[str]) -> None:

    args = argparse.Namespace(repo=None, deadline=30.0, timeout=5.0)
    out = io.StringIO()
    assert cmd_refresh(args, out, api=Offline()) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("68 repos (") and "Name or service not known" in lines[0]
    assert "68 unreachable (kept from the snapshot)" in out.getvalue()

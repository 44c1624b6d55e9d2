"""Where Qwen3 Explorer keeps its files: one place, so the CLI, the GUI and the tests agree."""

from __future__ import annotations

import os
from pathlib import Path

MODELS_DIR_ENV = "QWEN3_EXPLORER_MODELS"
TEST_MODELS_ENV = "QWEN3_EXPLORER_TEST_MODELS"
CONVERSATIONS_DIR_ENV = "QWEN3_EXPLORER_CONVERSATIONS"
PROBES_DIR_ENV = "QWEN3_EXPLORER_PROBES"
PROBE_RUNS_DIR_ENV = "QWEN3_EXPLORER_PROBE_RUNS"
VOTES_DIR_ENV = "QWEN3_EXPLORER_VOTES"
MACHINE_DIR_ENV = "QWEN3_EXPLORER_MACHINE"


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "qwen3-explorer"


def _dir(env: str, name: str) -> Path:
    override = os.environ.get(env)
    return Path(override).expanduser() if override else cache_root() / name


def models_dir() -> Path:
    """Downloaded models; $QWEN3_EXPLORER_MODELS overrides."""
    return _dir(MODELS_DIR_ENV, "models")


def test_models_dir() -> Path:
    """Generated test GGUFs; $QWEN3_EXPLORER_TEST_MODELS overrides."""
    return _dir(TEST_MODELS_ENV, "test-models")


def _data_dir(env: str, name: str) -> Path:
    override = os.environ.get(env)
    if override:
        return Path(override).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "qwen3-explorer" / name


def conversations_dir() -> Path:
    """Saved chat sessions: user data, not cache ($XDG_DATA_HOME); $QWEN3_EXPLORER_CONVERSATIONS overrides."""
    return _data_dir(CONVERSATIONS_DIR_ENV, "conversations")


def probes_dir() -> Path:
    """The person's probe sets (*.toml): user data ($XDG_DATA_HOME); $QWEN3_EXPLORER_PROBES overrides."""
    return _data_dir(PROBES_DIR_ENV, "probes")


def probe_runs_dir() -> Path:
    """Saved probe runs (one JSON file each): user data; $QWEN3_EXPLORER_PROBE_RUNS overrides."""
    return _data_dir(PROBE_RUNS_DIR_ENV, "probe-runs")


def votes_file() -> Path:
    """The blind comparison's votes (JSON lines, appended): user data; $QWEN3_EXPLORER_VOTES names the folder."""
    return _data_dir(VOTES_DIR_ENV, "votes") / "votes.jsonl"


def machine_file() -> Path:
    """What was measured on this machine (memory bandwidth, generation speeds): user data, kept across
    launches so predictions do not move; $QWEN3_EXPLORER_MACHINE names the folder."""
    return _data_dir(MACHINE_DIR_ENV, "machine") / "machine.json"

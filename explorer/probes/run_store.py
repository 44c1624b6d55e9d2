"""Saved probe runs: one JSON file each in `probe_runs_dir()`, written atomically after every answer so
that a stopped or crashed run keeps what it had, and listed newest first for the Probes tab."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from explorer.paths import probe_runs_dir
from explorer.probes.results import ProbeRun, read_json

MAX_RUN_BYTES = 64 << 20  # a saved run bigger than this is not one of ours: listed as unreadable


@dataclass(frozen=True)
class SavedRun:
    path: Path
    run: ProbeRun | None  # None: it does not read (`error` says why)
    error: str = ""

    @property
    def title(self) -> str:
        if self.run is None:
            return f"{self.path.name} (unreadable)"
        r = self.run
        state = "" if r.complete else f", {len(r.cells)} of {len(r.questions) * len(r.files)} answers"
        when = r.created.replace("T", " ")[:16] or "undated"
        return f"{r.set_name} · {when} · {len(r.files)} columns{state}"


class RunStore:
    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or probe_runs_dir()

    def path_for(self, run: ProbeRun) -> Path:
        stamp = re.sub(r"[^0-9]", "", run.created)[:14] or "run"
        slug = re.sub(r"[^A-Za-z0-9]+", "-", run.set_name).strip("-").lower()[:40] or "probes"
        return self.directory / f"{stamp}-{slug}.json"

    def save(self, run: ProbeRun, path: Path | None = None) -> Path:
        """Write `run` (atomically: a crash leaves the old file or the new one). OSError as it comes."""
        path = path or self.path_for(run)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(run.to_json(), ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        return path

    def list(self) -> list[SavedRun]:
        """Every saved run, newest first; a damaged file is listed with its error, never raised."""
        try:
            paths = sorted(self.directory.glob("*.json"), reverse=True)
        except OSError:
            return []
        return [self.load(p) for p in paths]

    @staticmethod
    def load(path: Path) -> SavedRun:
        try:
            if path.stat().st_size > MAX_RUN_BYTES:
                return SavedRun(path, None, f"over {MAX_RUN_BYTES >> 20} MB")
            return SavedRun(path, read_json(path))
        except Exception as exc:  # anything in a file that is not one of our runs: listed as unreadable
            return SavedRun(path, None, f"{type(exc).__name__}: {exc}"[:300])

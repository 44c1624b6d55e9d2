"""Export a probe run as Markdown, JSON or CSV: the format follows the name's suffix."""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtWidgets import QWidget

from explorer.errors import describe_error
from explorer.probes.results import ProbeRun, write_csv, write_json, write_markdown
from ui.prompts import Prompts

WRITERS = {".md": write_markdown, ".json": write_json, ".csv": write_csv}
FILTER = "Markdown (*.md);;JSON (*.json);;CSV (*.csv)"


def export_run(parent: QWidget, run: ProbeRun, prompts: Prompts) -> str:
    """Ask where, write, and say what happened in one line."""
    stem = re.sub(r"[^A-Za-z0-9]+", "-", run.set_name).strip("-").lower() or "probes"
    path = prompts.save_file(parent, "Export the probe run", Path.home() / f"{stem}.md", FILTER)
    if path is None:
        return ""
    write = WRITERS.get(path.suffix.lower())
    if write is None:
        return f"Not exported: name the file .md, .json or .csv ({path.name})"
    try:
        write(run, path)
    except OSError as exc:
        return f"Not exported: cannot write {path}: {describe_error(exc)}"
    return f"Exported to {path}"

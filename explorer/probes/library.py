"""The person's probe sets on disk: import a file, start a new one, copy a built-in one to edit.

Each writes one new file in `probes_dir()` under a name no other set has, and touches no other file:
an imported file is validated in full first (a broken one is refused with its line and key, and
nothing is written).
"""

from __future__ import annotations

import re
from pathlib import Path

from explorer.paths import probes_dir
from explorer.probes.sets import SCHEMA, ProbeSetError, load_set, parse_set

NEW_SET = f'''# A probe set: questions asked of every model, each answer marked by its checks.
# The format is documented in the README (Probe sets). Save, then pick the set again in the Probes tab.
schema = {SCHEMA}
name = "{{name}}"
description = "My questions"

[[question]]
id = "capital"
text = "What is the capital of Australia? Answer with the city only."
mode = "chatroom"
contains = "Canberra"

[[question]]
id = "arithmetic"
text = "What is 17 * 23? Answer with the number only."
number = 391
'''


def _free_path(stem: str, directory: Path) -> Path:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.") or "probes"
    path, n = directory / f"{stem}.toml", 1
    while path.exists():
        n += 1
        path = directory / f"{stem}-{n}.toml"
    return path


def _write_new(text: str, stem: str, directory: Path | None) -> Path:
    directory = directory or probes_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path = _free_path(stem, directory)
        with path.open("x", encoding="utf-8") as f:  # never overwrites
            f.write(text)
    except OSError as exc:
        raise ProbeSetError(f"cannot write to {directory}: {exc.strerror or exc}") from exc
    return path


def import_set(source: Path, directory: Path | None = None) -> Path:
    """Copy the set file `source` among the person's sets, once it loads; the new file's path."""
    load_set(source)  # ProbeSetError names the line and key, or says it is too big
    return _write_new(source.read_text(encoding="utf-8"), source.stem, directory)


def new_set(name: str = "My probes", directory: Path | None = None) -> Path:
    """A new set file with two example questions, to edit."""
    text = NEW_SET.replace("{name}", name.replace('"', "'"))
    parse_set(text, "<new set>")  # the template itself is a valid set
    return _write_new(text, name.lower(), directory)


def copy_set(source: Path, directory: Path | None = None) -> Path:
    """A copy of a (built-in) set among the person's, to edit: named "<stem>-mine"."""
    text = source.read_text(encoding="utf-8")
    return _write_new(text, f"{source.stem}-mine", directory)

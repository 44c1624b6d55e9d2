"""The chat grid's panes as probe columns: each pane's file with its settings (thinking, sampling, max
tokens, context, seed, mode and system prompt), so a set asks every question the way that pane would."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from explorer.chat.records import PaneMode
from explorer.chat.templates import thinking_mode
from explorer.cli.probe_run import ProbeColumn, ProbeSettings
from explorer.probes.results import Column
from ui.chat.pane import ChatPane

PANE_KEY = "pane "  # a chat pane's column key starts so: it answers with the pane's settings, not the tab's


def pane_column(pane: ChatPane) -> ProbeColumn | None:
    path = pane.model_path()
    if path is None:
        return None
    st = pane.settings()
    settings = ProbeSettings(max_tokens=st.max_tokens, ctx=st.ctx, seed=st.seed, thinking=st.thinking,
                             sampling=asdict(st.sampling) if st.sampling is not None else {}, mode=st.mode.value,
                             system=st.system or None, force=pane.override())
    variant = pane.variant()
    toggles = variant is not None and thinking_mode(variant).can_toggle and st.mode is PaneMode.CHATROOM
    how = (" · thinking on" if st.thinking else " · thinking off") if toggles else f" · {st.mode.value}"
    return ProbeColumn(f"{PANE_KEY}{pane.number}: {path}", path, settings,
                       label=f"Pane {pane.number} · {pane.label()}{how}")


def chat_columns(panes: Sequence[ChatPane]) -> list[ProbeColumn]:
    return [c for c in (pane_column(p) for p in panes) if c is not None]


def file_column(path: Path, settings: ProbeSettings, taken: Sequence[str]) -> ProbeColumn:
    """A file chosen in the Library or a file dialog, with the tab's settings; a key no column has."""
    key, n = str(path), 1
    while key in taken:
        n += 1
        key = f"{path}#{n}"
    return ProbeColumn(key, path, settings, label=Column(key, str(path)).name + (f" #{n}" if n > 1 else ""))

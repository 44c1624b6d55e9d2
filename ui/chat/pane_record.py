"""A chat pane as records: what the plan places (`pane_request`), what `ChatTab.session` saves and
`restore_session` reopens."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from explorer.chat.records import ConversationRecord, ModelRef, PaneRecord, variant_of
from explorer.fit.schedule import PaneRequest
from ui.chat.pane import ChatPane


def pane_record(pane: ChatPane) -> PaneRecord:
    """The pane's model, settings and messages as of its latest answer (its context as set now)."""
    st = pane.settings()
    conv = pane.conversation
    if conv is not None:
        settings, messages = replace(conv.settings, ctx=st.ctx), conv.messages
    else:
        settings, messages = st, ()
    m = pane.model_entry()
    variant = pane.variant()
    quant = m.quant if m else (pane.info.shape.file_type if pane.info else None)
    model = ModelRef(pane.label(), str(pane.model_path() or ""), variant.value if variant else None, quant)
    return PaneRecord(pane.number, model, settings, messages)


def restore_pane(pane: ChatPane, saved: PaneRecord) -> None:
    """Show a saved pane in `pane`: its model (loaded on send), settings, mode and messages."""
    path = saved.model.path
    if path:
        pane.select_path(Path(path))
    pane.apply_settings(saved.settings)
    pane.clear()
    pane.restore(list(saved.messages))
    pane.conversation = ConversationRecord(saved.settings, variant_of(saved.model.variant), saved.messages)
    if path and not Path(path).exists():
        pane.skip(f"The model file is no longer on disk: {path}")


def pane_request(pane: ChatPane) -> PaneRequest | None:
    """What the plan needs to place the pane's model (None: no model, or its header not read yet)."""
    path = pane.model_path()
    if path is None or pane.info is None:
        return None
    return PaneRequest(pane=pane.number, label=pane.label(), key=str(path.resolve()), shape=pane.info.shape,
                       ctx=pane.settings().ctx, override=pane.override())

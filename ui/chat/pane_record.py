"""A chat pane as records: what the plan places (`pane_request`), what `ChatTab.session` saves
(`session_of`) and `restore_session` reopens (`restore_into`). A remote pane's model is saved by its
`remote_ref` (endpoint URL and model id, never a key) where a local one has its path."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from explorer.chat.records import ConversationRecord, ModelRef, PaneRecord, Session, variant_of
from explorer.chat.transcripts import now_iso, title_for
from explorer.fit.schedule import PaneRequest
from ui.chat.pane import ChatPane
from ui.chat.remote import target_for_ref

if TYPE_CHECKING:
    from explorer.store.endpoints import EndpointStore


class ChatGrid(Protocol):
    """What `session_of` and `restore_into` use of `ui.chat.tab.ChatTab` (which imports this module)."""

    panes: list[ChatPane]
    session_id: str | None
    session_created: str | None
    _last_text: str | None
    endpoints: EndpointStore | None

    def add_pane(self) -> ChatPane | None: ...
    def remove_pane(self, pane: ChatPane) -> None: ...
    def _set_note(self, text: str) -> None: ...
    def _update_buttons(self) -> None: ...

MAX_PANES = 4  # the chat grid's most panes


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
    remote = pane.remote_target()
    where = remote.ref if remote is not None else str(pane.model_path() or "")
    model = ModelRef(pane.label(), where, variant.value if variant else None, quant)
    return PaneRecord(pane.number, model, settings, messages)


def restore_pane(pane: ChatPane, saved: PaneRecord, endpoints: EndpointStore | None = None) -> None:
    """Show a saved pane in `pane`: its model (loaded on send), settings, mode and messages."""
    path = saved.model.path
    remote = target_for_ref(path, endpoints) if path else None
    if isinstance(remote, str):
        pane.model_combo.setCurrentIndex(0)  # no model: the pane says why below
    elif remote is not None:
        pane.select_remote(remote)
    elif path:
        pane.select_path(Path(path))
    pane.apply_settings(saved.settings)
    pane.clear()
    pane.restore(list(saved.messages))
    pane.conversation = ConversationRecord(saved.settings, variant_of(saved.model.variant), saved.messages)
    if isinstance(remote, str):
        pane.skip(remote)
    elif remote is None and path and not Path(path).exists():
        pane.skip(f"The model file is no longer on disk: {path}")


def pane_request(pane: ChatPane) -> PaneRequest | None:
    """What the plan needs to place the pane's model (None: no model, or its header not read yet)."""
    path = pane.model_path()
    if path is None or pane.info is None:
        return None
    return PaneRequest(pane=pane.number, label=pane.label(), key=str(path.resolve()), shape=pane.info.shape,
                       ctx=pane.settings().ctx, override=pane.override())


def session_of(tab: ChatGrid) -> Session | None:
    """The tab's conversation as it stands (None before its first message)."""
    if tab.session_id is None:
        return None
    panes = [pane_record(pane) for pane in tab.panes]
    first_user = next((m.content for p in panes for m in p.messages if m.role == "user"), "")
    return Session(id=tab.session_id, title=title_for(first_user) if first_user else "New conversation",
                   created=tab.session_created or now_iso(), updated=now_iso(), panes=tuple(panes))


def restore_into(tab: ChatGrid, session: Session) -> None:
    """Show a saved conversation in `tab`: its panes, models, settings and messages (models load on send)."""
    panes = session.panes[:MAX_PANES]
    while len(tab.panes) < max(1, len(panes)):
        tab.add_pane()
    while len(tab.panes) > max(1, len(panes)):
        tab.remove_pane(tab.panes[-1])
    for pane, saved in zip(tab.panes, panes, strict=False):
        restore_pane(pane, saved, tab.endpoints)
    tab.session_id = session.id
    tab.session_created = session.created
    asked = session.user_questions()
    tab._last_text = asked[-1] if asked else None
    tab._set_note(f"Opened “{session.title}”")
    tab._update_buttons()

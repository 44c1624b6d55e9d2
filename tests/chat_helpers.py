"""Helpers shared by the chat tests (import them: `from chat_helpers import drain`; tests/ is on sys.path)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from conftest import make_hardware

from explorer.chat.conversation import Conversation, Finished, Message, MessageStats, Update
from explorer.engine.client import EngineClient, Loaded, LoadProgress
from explorer.fit.estimate import estimate_fit
from explorer.gguf.reader import read_shape
from explorer.hardware.facts import Hardware
from explorer.testing.models import ensure_model

GiB = 1024**3
MiB = 1024**2


def drain(conv: Conversation, timeout: float = 20.0) -> tuple[list[Update], Finished]:
    """Pump `conv` until its message finishes; the updates on the way and the Finished."""
    deadline = time.monotonic() + timeout
    got: list[Update] = []
    while time.monotonic() < deadline:
        for u in conv.pump(0.1):
            got.append(u)
            if isinstance(u, Finished):
                assert not conv.busy
                return got, u
    pytest.fail(f"no Finished in {timeout} s; got {got[-5:]!r}")


def start_loaded(path: Path, *, n_ctx: int, n_threads: int, timeout: float = 30.0) -> EngineClient:
    """An EngineClient with `path` loaded; the test fails on any event but progress before Loaded."""
    client = EngineClient()
    client.start(path, n_ctx=n_ctx, n_threads=n_threads)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ev in client.poll(0.2):
            if isinstance(ev, Loaded):
                return client
            if not isinstance(ev, LoadProgress):
                client.unload(timeout=2)
                pytest.fail(f"load failed: {ev!r}")
    client.unload(timeout=2)
    pytest.fail(f"{path.name} did not load in {timeout:.0f} s")


def turns(pane: Any) -> tuple[Message, ...]:
    """A chat pane's messages as of its latest answer (the pane must have answered)."""
    assert pane.conversation is not None, "the pane has no conversation"
    return tuple(pane.conversation.messages)


def last_stats(pane: Any) -> MessageStats:
    """The stats of a chat pane's latest answer."""
    stats = turns(pane)[-1].stats
    assert stats is not None, "the last message is not an answer"
    return stats


def questions(pane: Any) -> list[str]:
    """What was asked in a chat pane, in order."""
    return [m.content for m in turns(pane) if m.role == "user"]


def model_with_template(name: str, template: str, folder: Path) -> Path:
    """A copy of the generated model `name` in `folder` whose chat template is `template`.

    The new template takes the old one's bytes in the header (padded with a Jinja comment), so the
    file stays a valid GGUF without rewriting it."""
    from explorer.testing.models import TEST_MODELS, template_text

    data = ensure_model(name).read_bytes()
    old = (template_text(TEST_MODELS[name].variant) or "").encode()
    new = template.encode()
    assert old and data.count(old) == 1 and len(new) + 4 <= len(old)
    new += b"{#" + b" " * (len(old) - len(new) - 4) + b"#}"
    path = folder / f"{name}-custom-template.gguf"
    path.write_bytes(data.replace(old, new))
    return path


def hardware_fitting_only(name: str, *, ctx: int = 4096, margin: int = MiB) -> Hardware:
    """A machine with no GPU and just enough free RAM for the generated model `name` (CPU) at `ctx`."""
    need = estimate_fit(read_shape(ensure_model(name)), make_hardware(vram=None), ctx=ctx).cpu.total
    return make_hardware(ram=1, ram_free=(need + margin) / GiB, vram=None)


def assert_looks_uncut(cut: Any, text: str, qtbot: Any) -> None:
    """`cut` (a transcript DocView whose paragraph was cut while streaming) looks pixel for pixel
    like a DocView of the same size holding `text` as one paragraph."""
    from PySide6.QtGui import QImage

    from ui.chat.docview import DocView

    whole = DocView(cut.objectName())
    qtbot.addWidget(whole)
    whole.document().setDefaultFont(cut.document().defaultFont())
    whole.setPalette(cut.palette())
    whole.resize(cut.width(), cut.height())
    whole.document().setTextWidth(cut.document().textWidth())
    whole.setPlainText(text)
    assert whole.document().blockCount() == 1
    assert whole.document().size() == cut.document().size()
    rgb = QImage.Format.Format_RGB32
    assert whole.grab().toImage().convertToFormat(rgb) == cut.grab().toImage().convertToFormat(rgb)

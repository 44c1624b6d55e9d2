"""Remote engines in the GUI: an endpoint added in the Library, its model picked in a chat pane and run
beside a local one (pytest-qt), against llama-cpp-python's own server on loopback (with an API key)
and a small faulty server for the refusals. A canary key is looked for in every widget and file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chat_helpers import last_stats, turns
from conftest import make_hardware
from PySide6.QtWidgets import (
    QAbstractButton,
    QComboBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QTableWidget,
    QTextEdit,
    QWidget,
)
from pytestqt.qtbot import QtBot
from remote_helpers import (
    MODEL_ID,
    FaultHandler,
    LlamaServer,
    fault_server,
    free_port,
    need_server_extra,
    qwen3_like_model,
)

from explorer.chat.records import StopReason
from explorer.chat.transcripts import ConversationStore
from explorer.gguf.variant import Variant
from explorer.store.endpoints import EndpointStore
from explorer.store.library import LocalModel
from explorer.store.secrets import Secrets
from explorer.testing.scripted import ensure_scripted_model
from ui.chat.pane import ChatPane
from ui.chat.remote import RemoteTarget
from ui.chat.tab import ChatTab
from ui.library.endpoints import EndpointsPanel, NewEndpoint
from ui.library.view import LibraryView
from ui.prompts import Prompts

pytestmark = pytest.mark.llama

KEY = "sk-canary-5e1d7c03b9a24f68"  # looked for in every widget's text and every file the app writes


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    need_server_extra()
    model = qwen3_like_model(tmp_path_factory.mktemp("remote-model"))
    with LlamaServer(model, api_key=KEY, log=tmp_path_factory.mktemp("server") / "server.log") as srv:
        yield srv


@pytest.fixture
def store(tmp_path: Path) -> EndpointStore:
    return EndpointStore(tmp_path / "endpoints" / "endpoints.json",
                         Secrets(backend="file", path=tmp_path / "secrets" / "api-keys.json"))


def demo() -> LocalModel:
    path = ensure_scripted_model()
    return LocalModel(key=f"file:{path}", path=path, shards=(path,), size=path.stat().st_size, repo=None,
                      filename=path.name, quant=None, arch="qwen3", variant=Variant.HYBRID, complete=True,
                      verified=False, source="added")


@pytest.fixture
def tab(qtbot: QtBot, tmp_path: Path, store: EndpointStore) -> Iterator[ChatTab]:
    t = ChatTab(store=ConversationStore(tmp_path / "conversations"), endpoints=store)
    qtbot.addWidget(t)
    t.resize(1200, 700)
    t.set_models([demo()])
    t.set_hardware(make_hardware(ram=32, ram_free=24, vram=None))
    yield t
    t.shutdown()


class FakePrompts(Prompts):
    def __init__(self) -> None:
        self.warned: list[str] = []

    def warn(self, parent: QWidget, title: str, text: str) -> None:
        self.warned.append(text)

    def confirm(self, parent: QWidget, title: str, text: str) -> bool:
        return True


def panel_with(qtbot: QtBot, store: EndpointStore, answers: list[NewEndpoint]) -> tuple[LibraryView, EndpointsPanel]:
    """The Library view with its Endpoints, Add… answered by `answers` in turn."""
    prompts = FakePrompts()
    panel = EndpointsPanel(store, prompts=prompts, ask=lambda _parent: answers.pop(0) if answers else None)
    view = LibraryView(None, prompts=prompts, endpoints=panel)
    qtbot.addWidget(view)
    return view, panel


def add(qtbot: QtBot, panel: EndpointsPanel) -> list[RemoteTarget]:
    with qtbot.waitSignal(panel.targets_changed, timeout=30_000) as got:
        panel.add_button.click()
    targets: list[RemoteTarget] = got.args[0]
    return targets


def row_texts(table: QTableWidget) -> list[list[str]]:
    return [[table.item(r, c).text() for c in range(table.columnCount())] for r in range(table.rowCount())]


def local_pane(qtbot: QtBot, pane: ChatPane, max_tokens: int = 24) -> None:
    pane.select_path(demo().path)
    qtbot.waitUntil(lambda: pane.info is not None, timeout=10_000)
    settings(pane, max_tokens)


def settings(pane: ChatPane, max_tokens: int) -> None:
    st = pane.settings()
    st.max_tokens = max_tokens
    st.ctx = 4096
    st.seed = 7
    pane.apply_settings(st)


def send(qtbot: QtBot, tab: ChatTab, text: str = "Hello there", timeout: int = 120_000) -> None:
    tab.input.setPlainText(text)
    with qtbot.waitSignal(tab.run_finished, timeout=timeout):
        assert tab.send()


def all_text(*roots: QWidget) -> str:
    """Every text a person can see or hover over in these widgets."""
    out: list[str] = []
    for root in roots:
        for w in [root, *root.findChildren(QWidget)]:
            out.append(w.toolTip())
            if isinstance(w, (QLabel, QAbstractButton, QLineEdit)):
                out.append(w.text())
            if isinstance(w, (QPlainTextEdit, QTextEdit)):
                out.append(w.toPlainText())
            if isinstance(w, QLineEdit):
                out.append(w.placeholderText())
            if isinstance(w, QComboBox):
                for i in range(w.count()):
                    out += [w.itemText(i), str(w.itemData(i)), str(w.itemData(i, 3))]
            if isinstance(w, QTableWidget):
                for r in range(w.rowCount()):
                    for c in range(w.columnCount()):
                        item = w.item(r, c)
                        if item is not None:
                            out += [item.text(), item.toolTip()]
    return "\n".join(out)


# --- the Library --------------------------------------------------------------------------------

def test_an_endpoint_added_in_the_library_lists_its_models_and_keeps_its_key_apart(
        qtbot: QtBot, server: LlamaServer, store: EndpointStore, tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    view, panel = panel_with(qtbot, store, [NewEndpoint(server.url, "my-server", KEY), NewEndpoint(dead, "gone")])
    targets = add(qtbot, panel)
    assert [(t.model, t.where, t.url) for t in targets] == [(MODEL_ID, "my-server", server.url + "/v1")]
    assert row_texts(panel.table) == [["my-server", server.url + "/v1", "1 model"]]
    add(qtbot, panel)  # a server that is not there: its row says why in one line; the first still lists
    rows = row_texts(panel.table)
    assert rows[0] == ["my-server", server.url + "/v1", "1 model"]
    assert rows[1][0] == "gone" and rows[1][2].startswith(f"cannot reach {dead[7:]}") and "\n" not in rows[1][2]
    # The key: in the secrets file only; never in the endpoints file, a widget's text or a tooltip.
    [ep] = [e for e in store.endpoints() if e.name == "my-server"]
    assert ep.has_key and store.api_key(ep) == KEY
    assert KEY not in store.path.read_text()
    assert KEY not in all_text(view)
    # A URL that is not an endpoint is refused at once, with nothing saved.
    answers = [NewEndpoint("ftp://nowhere", "bad")]
    panel._ask = lambda _p: answers.pop(0)
    panel.add_button.click()
    assert isinstance(panel.prompts, FakePrompts) and "http:// or https://" in panel.prompts.warned[-1]
    assert len(store.endpoints()) == 2
    # Remove forgets the endpoint and its key.
    panel.table.selectRow(0)
    with qtbot.waitSignal(panel.targets_changed, timeout=30_000):
        panel.remove_button.click()
    assert [r[0] for r in row_texts(panel.table)] == ["gone"]
    assert store.secrets.get(server.url + "/v1") is None


# --- a local pane and a remote pane --------------------------------------------------------------

def test_a_local_pane_and_a_remote_pane_answer_together_and_stop(
        qtbot: QtBot, server: LlamaServer, store: EndpointStore, tab: ChatTab, tmp_path: Path) -> None:
    view, panel = panel_with(qtbot, store, [NewEndpoint(server.url, "my-server", KEY)])
    tab.set_remotes(add(qtbot, panel))
    a, b = tab.panes
    labels = [b.model_combo.itemText(i) for i in range(b.model_combo.count())]
    assert labels[-1] == f"{MODEL_ID} · remote: my-server"  # after the local files
    local_pane(qtbot, a)
    b.model_combo.setCurrentIndex(b.model_combo.count() - 1)
    remote = b.remote_target()
    assert remote is not None and remote.model == MODEL_ID and b.model_path() is None
    assert b.variant() is Variant.HYBRID and b.think_box.isEnabled()  # guessed from the id: the switch works
    settings(b, 48)
    # The plan places the local pane; the remote one uses no local memory.
    assert tab.plan is not None and [p.pane for w in tab.plan.waves for p in w] == [1]
    assert "pane 2: remote (my-server), no local memory" in tab.plan_label.text()
    assert "Pane 1 runs" in tab.plan_label.text()
    send(qtbot, tab)
    for pane in (a, b):
        assert [t.role for t in turns(pane)] == ["user", "assistant"]
        assert last_stats(pane).n_tokens > 0 and last_stats(pane).stop_reason in ("stop", "length")
    assert b.driver.prompts == ()  # no template rendered here: the server got the messages
    stats_line = b.transcript.assistant().stats_line
    assert stats_line.isVisibleTo(b) and "tokens" in stats_line.text() and "first token in" in stats_line.text()
    assert "remote: my-server · connected in" in b.status.text()
    # Stop mid-answer closes the stream; what came stays.
    settings(b, 4096)
    tab.input.setPlainText("Tell me more")
    with qtbot.waitSignal(tab.run_finished, timeout=120_000):
        assert tab.send()
        qtbot.waitUntil(lambda: len(b.transcript.answer_text() + b.transcript.thinking_text()) > 20, timeout=60_000)
        tab.stop_all()
    assert last_stats(b).stop_reason is StopReason.STOPPED
    # Saved: the remote pane by its ref (URL and model id), and no key anywhere the app wrote or shows.
    session = tab.session()
    assert session is not None and session.panes[1].model.path == f"{server.url}/v1#{MODEL_ID}"
    tab.save()
    qtbot.waitUntil(lambda: any((tmp_path / "conversations").glob("*.json")), timeout=10_000)
    tab.history.shutdown()
    written = [p for p in tmp_path.rglob("*") if p.is_file() and "secrets" not in p.parts]
    assert written and not [p for p in written if KEY in p.read_text(errors="replace")]
    assert KEY not in all_text(tab, view)
    # Reopened: the remote pane picks the endpoint's model again; once the endpoint is gone, it says so.
    tab2 = ChatTab(store=ConversationStore(tmp_path / "other"), endpoints=store)
    qtbot.addWidget(tab2)
    tab2.restore_session(session)
    assert tab2.panes[1].remote_target() == remote
    store.remove("my-server")
    tab2.restore_session(session)
    assert tab2.panes[1].remote_target() is None
    notices = [w.text() for w in tab2.panes[1].transcript.findChildren(QLabel, "noticeLine")]
    assert any("no longer saved" in n and server.url in n for n in notices)
    tab2.shutdown()


def refuse(handler: FaultHandler, _body: dict[str, Any]) -> None:
    handler.reply(401, json.dumps({"detail": "Invalid API key"}).encode())


def test_a_refused_key_shows_in_the_remote_pane_while_the_local_pane_answers(
        qtbot: QtBot, store: EndpointStore, tab: ChatTab) -> None:
    with fault_server({"Qwen3-8B": refuse}) as srv:
        ep = store.save(srv.url, name="faulty")
        target = RemoteTarget(ep.url, "Qwen3-8B", ep.name)
        tab.set_remotes([target])
        a, b = tab.panes
        local_pane(qtbot, a)
        b.select_remote(target)
        send(qtbot, tab)
    assert last_stats(a).stop_reason in ("stop", "length") and last_stats(a).n_tokens > 0
    stats = last_stats(b)
    assert stats.stop_reason is StopReason.ERROR
    assert stats.message == "the server needs an API key (HTTP 401): Invalid API key"
    line = b.transcript.assistant().stats_line.text()
    assert line.endswith("error: the server needs an API key (HTTP 401): Invalid API key") and "\n" not in line
    assert "error" not in a.transcript.assistant().stats_line.text()


def test_connect_to_the_head_saves_the_planned_head_as_an_endpoint(qtbot: QtBot, store: EndpointStore,
                                                                    tmp_path: Path) -> None:
    from test_ui_cluster import FilePrompts, machine_files

    from explorer.catalog.snapshot import load_catalog
    from ui.models.cluster_dialog import ClusterDialog

    _view, panel = panel_with(qtbot, store, [])
    dialog = ClusterDialog(catalog=load_catalog(), prompts=FilePrompts(machine_files(tmp_path)[:2]),
                           start_dir=tmp_path, connect=lambda url: panel.add_endpoint(NewEndpoint(url, "cluster head")))
    qtbot.addWidget(dialog)
    assert dialog.connect_button.isVisibleTo(dialog) and not dialog.connect_button.isEnabled()  # nothing planned
    dialog.model_combo.setCurrentIndex(dialog.model_combo.findData("Qwen3-235B-A22B"))
    dialog.quant_combo.setCurrentText("Q4_K_M")
    dialog.add_machine_dialog()
    with qtbot.waitSignal(dialog.planned, timeout=10_000):
        dialog.add_machine_dialog()
    assert dialog.head_url == "http://a:8080/v1" and dialog.connect_button.isEnabled()
    with qtbot.waitSignal(panel.targets_changed, timeout=30_000):
        dialog.connect_button.click()
    [ep] = store.endpoints()
    assert (ep.url, ep.name, ep.has_key) == ("http://a:8080/v1", "cluster head", False)
    assert row_texts(panel.table)[0][:2] == ["cluster head", "http://a:8080/v1"]

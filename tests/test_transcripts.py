"""Saved sessions: store round trip, atomic writes, damaged files, ids (export: test_chat_export.py)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from explorer.chat import transcripts as transcripts
from explorer.chat.conversation import Conversation, Message, MessageStats
from explorer.chat.records import ModelRef, PaneSettings, Session, StopReason
from explorer.chat.templates import SamplingPreset
from explorer.chat.transcripts import (
    SCHEMA,
    ConversationStore,
    SessionInfo,
    TranscriptError,
    new_session_id,
    title_for,
    validate_session,
)
from explorer.engine.messages import Done, Event, Tokens
from explorer.fit.contexts import DEFAULT_CHAT_CTX
from explorer.gguf.variant import Variant

THINKING = "The user asks about the sky.\nRayleigh: ```scatter ~ 1/λ^4``` and a stray </details> tag.\n```\nok"
ANSWER = "Because of **Rayleigh scattering**.\n\n```python\nprint('blue')\n```\n"


class ScriptedEngine:
    """Answers each generate() with one scripted list of (text, n_tokens) batches, then Done."""

    def __init__(self, *scripts: list[tuple[str, int]]) -> None:
        self.scripts = list(scripts)
        self.events: list[Event] = []

    def generate(self, request_id: str, prompt: str, *, max_tokens: int, temperature: float = 0.7,
                 top_p: float = 0.8, top_k: int = 20, min_p: float = 0.0, seed: int = 0,
                 stop: list[str] | None = None, **_: object) -> None:
        batches = self.scripts.pop(0)
        self.events = [Tokens(request_id, text, n) for text, n in batches]
        total = sum(n for _, n in batches)
        self.events.append(Done(request_id, "stop", 12, total, 0.02, 412.3))

    def stop(self) -> None:
        pass

    def poll(self, timeout: float | None = 0.0) -> list[Event]:
        out, self.events = self.events, []
        return out


def run(conv: Conversation, text: str) -> None:
    conv.send(text)
    for _ in range(100):
        conv.pump()
        if not conv.busy:
            return
    raise AssertionError("the conversation did not finish")


def make_session(session_id: str = "20261126-054312-ab12") -> dict[str, Any]:
    thinker = Conversation(ScriptedEngine([("<think>\n", 1), (THINKING, 38), ("\n</think>\n\n", 1), (ANSWER, 56)]),
                           template=None, variant=Variant.HYBRID, thinking=True, budget=512, seed=7)
    run(thinker, "Why is the sky blue?\nAnswer briefly.")
    direct = Conversation(ScriptedEngine([("Sunlight scatters off air molecules — café-short answer.", 12)]),
                          template=None, variant=Variant.INSTRUCT_2507, thinking=False, max_tokens=256)
    run(direct, "Why is the sky blue?\nAnswer briefly.")
    broken = {"settings": thinker.record().to_json()["settings"], "turns": [
        Message("user", "Why is the sky blue?").to_json(),
        Message("assistant", "```python\nprint('partial", "Some thought",
                MessageStats(0.5, 20.0, 30, 30, StopReason.ERROR, True, 10, "the worker crashed (SIGSEGV)")).to_json(),
    ]}
    return {
        "schema": SCHEMA, "id": session_id, "title": title_for("Why is the sky blue?\nAnswer briefly."),
        "created": "2026-11-26T05:43:12+00:00", "updated": "2026-11-26T05:43:12+00:00",
        "panes": [
            {"pane": 1, "model": {"label": "Qwen3-0.6B Q8_0", "path": "/models/Qwen3-0.6B-Q8_0.gguf",
                                  "variant": "hybrid", "quant": "Q8_0"}, **thinker.record().to_json()},
            {"pane": 2, "model": {"label": "Qwen3-4B-Instruct-2507 Q4_K_M", "path": "/models/i.gguf",
                                  "variant": "instruct-2507", "quant": "Q4_K_M"}, **direct.record().to_json()},
            {"pane": 3, "model": {"label": "Qwen3-8B Q4_K_M"}, **broken},
        ],
    }


# --- ids and titles ---------------------------------------------------------------------------

def test_title_is_the_first_line_shortened() -> None:
    assert title_for("\n  Why is the sky blue?  \nAnswer briefly.") == "Why is the sky blue?"
    long = title_for("word " * 30, limit=20)
    assert len(long) == 20 and long.endswith("…") and long.startswith("word word")
    assert title_for("exactly ten", limit=11) == "exactly ten"
    assert title_for("   \n") == "Untitled conversation"


def test_new_session_id() -> None:
    sid = new_session_id(datetime(2026, 11, 26, 5, 43, 12))
    assert sid.startswith("20261126-054312-") and len(sid) == len("20261126-054312-ab12")
    assert transcripts.check_id(sid) == sid
    assert len({new_session_id() for _ in range(20)}) > 1


@pytest.mark.parametrize("bad", ["../evil", "a/b", "a\\b", "", ".hidden", "..", "x" * 200, "a b"])
def test_bad_ids_are_rejected(tmp_path: Path, bad: str) -> None:
    store = ConversationStore(tmp_path / "sessions")
    session = make_session()
    session["id"] = bad
    with pytest.raises(TranscriptError, match="invalid session id"):
        store.save(Session.from_json(session))
    with pytest.raises(TranscriptError, match="invalid session id"):
        store.load(bad)
    with pytest.raises(TranscriptError, match="invalid session id"):
        store.delete(bad)
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


# --- the store ----------------------------------------------------------------------------------

def test_default_folder_is_under_xdg_data_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QWEN3_EXPLORER_CONVERSATIONS", raising=False)
    expected = Path(os.environ["XDG_DATA_HOME"]) / "qwen3-explorer" / "conversations"
    assert ConversationStore().folder == expected
    monkeypatch.delenv("XDG_DATA_HOME")
    assert ConversationStore().folder == Path.home() / ".local/share/qwen3-explorer/conversations"
    monkeypatch.setenv("QWEN3_EXPLORER_CONVERSATIONS", "/elsewhere/chats")
    assert ConversationStore().folder == Path("/elsewhere/chats")


def test_save_list_load_delete(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "sessions")
    assert store.list() == []
    session = Session.from_json({**make_session(), "created": ""})
    path = store.save(session)
    assert path == tmp_path / "sessions" / "20261126-054312-ab12.json"

    loaded = store.load("20261126-054312-ab12")
    assert loaded.created == loaded.updated
    assert datetime.fromisoformat(loaded.updated).tzinfo is not None
    assert loaded == replace(session, created=loaded.created, updated=loaded.updated)
    assert loaded.panes[0].messages[1].thinking.strip() == THINKING
    assert loaded.panes[2].messages[1].stats == MessageStats(0.5, 20.0, 30, 30, StopReason.ERROR, True, 10,
                                                             "the worker crashed (SIGSEGV)")
    assert store.open(path) == loaded

    [info] = store.list()
    assert info == SessionInfo("20261126-054312-ab12", "Why is the sky blue?", loaded.updated, 3, path)

    store.delete("20261126-054312-ab12")
    assert store.list() == [] and not path.exists()
    store.delete("20261126-054312-ab12")  # already gone: fine
    with pytest.raises(TranscriptError, match="no saved conversation"):
        store.load("20261126-054312-ab12")


def test_save_updates_the_time_and_overwrites(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ConversationStore(tmp_path)
    session = Session.from_json(make_session())
    monkeypatch.setattr(transcripts, "now_iso", lambda: "2026-11-27T10:00:00+00:00")
    store.save(session)
    session = replace(session, panes=session.panes[:1])
    monkeypatch.setattr(transcripts, "now_iso", lambda: "2026-11-27T11:00:00+00:00")
    store.save(session)
    [info] = store.list()
    assert info.updated == "2026-11-27T11:00:00+00:00" and info.n_panes == 1
    assert store.load(session.id).created == "2026-11-26T05:43:12+00:00"


def test_list_is_newest_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ConversationStore(tmp_path)
    # Different time zones: the order follows the instant, not the text.
    for sid, when in [("a", "2026-11-27T10:00:00+00:00"), ("b", "2026-11-27T12:30:00+02:00"),
                      ("c", "2026-11-27T09:00:00-03:00")]:
        monkeypatch.setattr(transcripts, "now_iso", lambda when=when: when)
        store.save(Session.from_json(make_session(sid)))
    assert [i.id for i in store.list()] == ["c", "b", "a"]  # 12:00, 10:30, 10:00 UTC


def test_save_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ConversationStore(tmp_path)
    first = Session.from_json(make_session())
    path = store.save(first)
    before = path.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind

    def fail(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    changed = replace(first, title="Changed")
    with pytest.raises(OSError, match="No space"):
        store.save(changed)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_corrupt_file_is_listed_with_an_error(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path)
    store.save(Session.from_json(make_session("good")))
    (tmp_path / "broken.json").write_text('{"schema": 1, "id": "broken", "title": ', encoding="utf-8")
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    (tmp_path / "notes.txt").write_text("not a session")
    infos = {i.id: i for i in store.list()}
    assert set(infos) == {"good", "broken", "binary"}
    assert infos["good"].error is None
    assert infos["broken"].error is not None and "broken.json" in infos["broken"].error
    assert "not valid JSON" in infos["broken"].error
    assert infos["binary"].error is not None and "binary.json" in infos["binary"].error
    assert infos["broken"].n_panes == 0 and infos["broken"].path == tmp_path / "broken.json"
    with pytest.raises(TranscriptError, match=r"broken\.json: not valid JSON"):
        store.load("broken")


def test_wrong_schema_and_missing_fields(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path)
    newer = make_session("newer")
    newer["schema"] = 2
    (tmp_path / "newer.json").write_text(json.dumps(newer), encoding="utf-8")
    with pytest.raises(TranscriptError, match=r"newer\.json: saved by a newer version \(schema 2\)"):
        store.load("newer")
    assert "newer version" in (store.list()[0].error or "")

    cases: list[tuple[Callable[[dict[str, Any]], object], str]] = [
        (lambda s: s.pop("schema"), "not a saved conversation"),
        (lambda s: s.pop("panes"), "missing the field 'panes'"),
        (lambda s: s["panes"][1]["turns"][0].pop("content"), r"panes\[1\]\.turns\[0\] is missing the field 'content'"),
        (lambda s: s["panes"][0].update(pane="1"), r"panes\[0\]\.pane should be a number, found text"),
        (lambda s: s["panes"][0]["turns"][1].update(stats=[]), r"stats should be an object, found a list"),
        (lambda s: s["panes"][2]["model"].pop("label"), r"panes\[2\]\.model is missing the field 'label'"),
        (lambda s: s.update(id="../x"), "invalid session id"),
    ]
    for mutate, message in cases:
        session = make_session("damaged")
        mutate(session)
        (tmp_path / "damaged.json").write_text(json.dumps(session), encoding="utf-8")
        with pytest.raises(TranscriptError, match=message) as e:
            store.load("damaged")
        assert "damaged.json" in str(e.value)


def test_validate_session() -> None:
    session = make_session()
    assert validate_session(session) is session
    with pytest.raises(TranscriptError, match="clipboard: expected a JSON object, found a list"):
        validate_session([], "clipboard")
    session["panes"][0]["turns"][1]["stats"] = None  # allowed: a user turn has none, nor may a loaded one
    session["panes"][0]["turns"][1].pop("thinking")
    validate_session(session)


# A file as the version before the typed records wrote it (schema 1): it must open, and save the same way.
OLD_FILE = """{
  "schema": 1,
  "id": "20261201-101500-beef",
  "title": "Hello",
  "created": "2026-12-01T10:15:00+00:00",
  "updated": "2026-12-01T10:16:00+00:00",
  "panes": [
    {
      "pane": 1,
      "model": {"label": "Qwen3-8B-Q4_K_M", "path": "/models/Qwen3-8B-Q4_K_M.gguf", "variant": "hybrid",
                "quant": "Q4_K_M"},
      "settings": {"variant": "hybrid", "thinking": false, "budget": 512,
                   "sampling": {"temperature": 1.1, "top_p": 0.9, "top_k": 40, "min_p": 0.05, "presence_penalty": 0.0},
                   "sampling_is_default": false, "max_tokens": 300, "seed": 7, "ctx": 16384},
      "turns": [
        {"role": "user", "content": "Hello", "thinking": "", "stats": null},
        {"role": "assistant", "content": "Hi!", "thinking": "greet",
         "stats": {"ttft_s": 0.05, "tokens_per_s": 20.5, "n_tokens": 9, "thinking_tokens": 3,
                   "stop_reason": "stopped", "budget_forced": false, "prompt_tokens": 11, "message": ""}}
      ]
    },
    {
      "pane": 2,
      "model": {"label": "Qwen3-4B-Instruct-2507", "path": "", "variant": "instruct-2507", "quant": null},
      "settings": {"variant": "instruct-2507", "thinking": false, "budget": null,
                   "sampling": {"temperature": 0.7, "top_p": 0.8, "top_k": 20, "min_p": 0.0, "presence_penalty": 0.0},
                   "sampling_is_default": true, "max_tokens": 2048, "seed": 1},
      "turns": []
    }
  ]
}
"""


def test_a_file_of_the_old_format_opens_and_saves_the_same_fields(tmp_path: Path) -> None:
    path = tmp_path / "20261201-101500-beef.json"
    path.write_text(OLD_FILE, encoding="utf-8")
    store = ConversationStore(tmp_path)
    session = store.open(path)
    one, two = session.panes
    assert one.settings == PaneSettings(thinking=False, budget=512, sampling=SamplingPreset(1.1, 0.9, 40, 0.05),
                                        max_tokens=300, seed=7, ctx=16384)
    assert two.settings.sampling is None and two.settings.ctx == DEFAULT_CHAT_CTX  # no "ctx": the default
    assert one.model == ModelRef("Qwen3-8B-Q4_K_M", "/models/Qwen3-8B-Q4_K_M.gguf", "hybrid", "Q4_K_M")
    answer = one.messages[1]
    assert answer.stats is not None and answer.stats.stop_reason is StopReason.STOPPED
    assert (answer.content, answer.thinking, answer.stats.n_tokens) == ("Hi!", "greet", 9)
    assert session.user_questions() == ["Hello"]
    store.save(session)
    old, new = json.loads(OLD_FILE), json.loads(path.read_text(encoding="utf-8"))
    new["updated"] = old["updated"]
    old["panes"][1]["settings"]["ctx"] = DEFAULT_CHAT_CTX  # the one field the old version could leave out
    for pane in old["panes"]:  # the fields the pane modes added, as these panes ran (hybrid models chat)
        pane["settings"].update(mode="chatroom", system="")
        pane["settings"]["sampling"]["repeat_penalty"] = 1.0
        for turn in pane["turns"]:
            if turn["stats"]:
                turn["stats"].update(prompt_eval_tokens=0, prompt_tokens_per_s=0.0)
    assert new == old


# --- hostile folders (issue 10) ---------------------------------------------------------------------

def test_a_deeply_nested_file_is_unreadable_and_the_others_still_open(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path, list_read_bytes=1024)
    good = store.save(Session.from_json(make_session("good")))
    (tmp_path / "deep.json").write_text("[" * 100_000, encoding="utf-8")
    (tmp_path / "deeper.json").write_text('{"schema": ' + "[" * 100_000 + "]" * 100_000 + "}", encoding="utf-8")
    small = ConversationStore(tmp_path)  # reads the whole file for the list
    (tmp_path / "small.json").write_text("[" * 5_000 + "]" * 5_000, encoding="utf-8")
    for s in (store, small):
        infos = {i.path.name: i for i in s.list()}
        assert infos["good.json"].error is None and infos["good.json"].path == good
        assert all(infos[n].error for n in ("deep.json", "deeper.json", "small.json")), infos
    with pytest.raises(TranscriptError, match="nested too deeply"):
        ConversationStore(tmp_path, open_read_bytes=10**6).open(tmp_path / "small.json")
    deep_small = tmp_path / "deep2.json"
    deep_small.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    with pytest.raises(TranscriptError, match="nested too deeply"):
        small.open(deep_small)
    assert store.open(good).id == "good"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_what_is_not_a_regular_file_is_skipped_without_blocking(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path)
    store.save(Session.from_json(make_session("good")))
    os.mkfifo(tmp_path / "x.json")  # opening it for reading would wait for a writer forever
    (tmp_path / "folder.json").mkdir()
    (tmp_path / "dangling.json").symlink_to(tmp_path / "nowhere")
    assert [i.path.name for i in store.list()] == ["good.json"]
    with pytest.raises(TranscriptError, match="not a regular file"):
        store.open(tmp_path / "x.json")


def test_a_file_whose_id_differs_from_its_name_opens_itself(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path)
    store.save(Session.from_json({**make_session("other"), "title": "The other one"}))
    copy = json.loads((tmp_path / "other.json").read_text(encoding="utf-8"))
    copy["title"] = "Mine"
    (tmp_path / "mine.json").write_text(json.dumps(copy), encoding="utf-8")  # still says "id": "other"
    info = next(i for i in store.list() if i.path.name == "mine.json")
    opened = store.open(info.path)
    assert opened.title == "Mine" and opened.id == "mine"  # saving it again writes mine.json
    assert store.save(opened) == tmp_path / "mine.json"
    assert store.load("other").title == "The other one"


@pytest.mark.parametrize("name", ["20261126-054312-ab12 copy.json", "20261126-054312-ab12 (1).json",
                                  "Kopie von 20261126-054312-ab12.json", ".20261126-054312-ab12.json"])
def test_a_copy_whose_name_is_not_an_id_saves_to_a_new_file_never_the_original(tmp_path: Path, name: str) -> None:
    store = ConversationStore(tmp_path)
    original = store.save(Session.from_json({**make_session(), "title": "original"}))
    copy = tmp_path / name
    copy.write_bytes(original.read_bytes())  # a file manager's copy: the same id inside
    opened = store.open(copy)
    assert opened.id != "20261126-054312-ab12" and transcripts.check_id(opened.id) == opened.id
    saved = store.save(replace(opened, title="edited in the copy"))
    assert saved not in (original, copy) and saved.parent == tmp_path
    assert json.loads(original.read_text(encoding="utf-8"))["title"] == "original"
    assert store.open(saved).title == "edited in the copy" and store.open(saved).id == opened.id


def test_a_file_from_another_folder_never_saves_over_the_store_s_file_of_that_name(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "store")
    original = store.save(Session.from_json({**make_session(), "title": "original"}))
    elsewhere = tmp_path / "downloads" / original.name
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(original.read_bytes())
    saved = store.save(replace(store.open(elsewhere), title="edited"))
    assert saved != original and saved.parent == store.folder
    assert store.load("20261126-054312-ab12").title == "original"


def test_a_new_id_for_a_copy_never_names_an_existing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ConversationStore(tmp_path)
    taken = store.save(Session.from_json(make_session("20261201-000000-0000")))
    ids = iter(["20261201-000000-0000", "20261201-000000-0001"])
    monkeypatch.setattr(transcripts, "new_session_id", lambda: next(ids))
    (tmp_path / "copy of it.json").write_bytes(taken.read_bytes())
    assert store.open(tmp_path / "copy of it.json").id == "20261201-000000-0001"


def test_the_list_reads_only_the_header_of_a_large_file(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path, list_read_bytes=2048)
    session = Session.from_json(make_session("big"))
    big = replace(session, panes=tuple(replace(p, messages=p.messages * 50) for p in session.panes))
    path = store.save(big)
    assert path.stat().st_size > 20 * 2048
    [info] = store.list()
    assert (info.id, info.title, info.error, info.n_panes) == ("big", session.title, None, None)
    assert len(store.open(path).panes[0].messages) == len(big.panes[0].messages)
    path.write_text('{"schema": 1, "id": "big", "title": ' + '"' + "x" * 4096 + '", "panes": []}')
    [info] = store.list()
    assert info.error is not None and "no header" in info.error

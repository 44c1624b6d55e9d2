"""The settings file (explorer.settings): round trip, migration from version 1, and files that cannot be used."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from explorer.chat.records import PaneMode, PaneSettings
from explorer.chat.templates import SamplingPreset
from explorer.settings import (
    SCHEMA_VERSION,
    PaneState,
    SelectedFile,
    Settings,
    config_dir,
    load_settings,
    save_settings,
    settings_file,
)


def full_settings() -> Settings:
    st = Settings()
    st.window.geometry = "AdnQywADAAA="
    st.window.splitters = {"main": [380, 1120], "models": [600, 330]}
    m = st.models
    m.ctx, m.kv_type, m.search, m.variants = 131072, "q8_0", "coder", ["hybrid", "coder"]
    m.size, m.quant, m.verdict, m.hide_no_fit = "8B", "Q4_K_M", "Runs here", True
    m.sort_column, m.sort_descending = 4, True
    m.selected = SelectedFile("Qwen3-8B", "Q4_K_M", "Qwen/Qwen3-8B-GGUF")
    st.chat.default_budget = 512
    st.chat.share_worker = False
    sampling = SamplingPreset(temperature=0.0, top_p=1.0, top_k=0, min_p=0.0, presence_penalty=0.0,
                              repeat_penalty=1.0)
    st.chat.panes = [
        PaneState("/models/qwen3-8b.gguf", PaneSettings(thinking=False, budget=256, sampling=sampling, seed=7,
                                                         ctx=8192, max_tokens=1024, system="Be brief.")),
        PaneState("http://127.0.0.1:8080/v1#qwen3", PaneSettings(mode=PaneMode.FREE_FORM)),
        PaneState(),
    ]
    return st


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "settings.json"
    st = full_settings()
    save_settings(path, st)
    assert json.loads(path.read_text("utf-8"))["schema"] == SCHEMA_VERSION == 2
    loaded, notes = load_settings(path)
    assert notes == []
    assert loaded == st
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]  # the temporary file was renamed


def test_no_file_is_the_defaults_without_a_note(tmp_path: Path) -> None:
    assert load_settings(tmp_path / "settings.json") == (Settings(), [])


def test_a_version_1_file_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    for stored, budget in ((512, 512), ("1024", 1024), (-1, None), ("-1", None)):
        path.write_text(json.dumps({"schema": 1, "chat/default_budget": stored}))
        st, notes = load_settings(path)
        assert st.chat.default_budget == budget and notes == []
        assert st.models == Settings().models and st.chat.panes == []
    path.write_text(json.dumps({"schema": 1, "chat/default_budget": "lots", "window/size": 3}))
    st, notes = load_settings(path)
    assert st.chat.default_budget is None and st.chat.share_worker is True
    assert any("not a number" in n for n in notes) and any("window/size" in n for n in notes)
    save_settings(path, st)  # written back as version 2
    assert json.loads(path.read_text())["schema"] == 2


@pytest.mark.parametrize("text, why", [
    ("{ not json", "not valid JSON"),
    (b"\xff\xfe\x00garbage", "not valid JSON"),
    ("[1, 2]", "not a JSON object"),
    ('{"chat": {}}', "no schema version"),
    ('{"schema": "2"}', "no schema version"),
    ('{"schema": 0}', "no schema version"),
    ('{"schema": 3, "chat": {"default_budget": 5}}', "newer version"),
])
def test_a_corrupt_or_newer_file_is_set_aside_for_the_defaults(tmp_path: Path, text: str | bytes, why: str) -> None:
    path = tmp_path / "settings.json"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    st, notes = load_settings(path)
    assert st == Settings()
    assert len(notes) == 1 and why in notes[0] and "settings.json.bak" in notes[0]
    assert not path.exists() and (tmp_path / "settings.json.bak").exists()  # kept, not lost
    save_settings(path, st)  # the next save starts clean
    assert load_settings(path) == (Settings(), [])


def test_bad_values_fall_back_per_field_and_unknown_keys_are_noted(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    good = full_settings().to_json()
    data = json.loads(json.dumps(good))
    data["models"]["ctx"] = "huge"  # wrong type
    data["models"]["kv_type"] = 8  # wrong type
    data["models"]["sort_column"] = -3  # out of range
    data["models"]["hide_no_fit"] = 1  # not a bool
    data["models"]["selected"] = {"model_id": "x"}  # incomplete
    data["models"]["colour"] = "blue"  # unknown
    data["window"]["splitters"] = {"main": [1, "wide"]}
    data["chat"]["default_budget"] = True  # a bool is not a number
    data["chat"]["share_worker"] = "no"  # not a bool
    data["chat"]["panes"][0]["settings"]["seed"] = "seven"  # bounded by PaneSettings.from_json: its default
    data["theme"] = "dark"  # unknown top-level key (a later version's)
    path.write_text(json.dumps(data))
    st, notes = load_settings(path)
    defaults = Settings()
    assert st.models.ctx == defaults.models.ctx and st.models.kv_type == "f16"
    assert st.models.sort_column == 0 and st.models.hide_no_fit is False and st.models.selected is None
    assert st.models.search == "coder" and st.models.quant == "Q4_K_M"  # the good fields kept
    assert st.window.splitters == {} and st.window.geometry == good["window"]["geometry"]
    assert st.chat.default_budget is None
    assert st.chat.panes[0].settings.seed == PaneSettings().seed and st.chat.panes[0].settings.system == "Be brief."
    joined = "\n".join(notes)
    for key in ("models.ctx", "models.kv_type", "models.sort_column", "models.hide_no_fit", "models.selected",
                "models.colour", "window.splitters", "chat.default_budget", "chat.share_worker", "“theme”"):
        assert key in joined, key
    assert path.exists()  # a file with bad values is used, not set aside


def test_a_section_that_is_not_an_object_is_its_defaults(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"schema": 2, "models": [1], "chat": {"panes": "many"}}))
    st, notes = load_settings(path)
    assert st == Settings() and len(notes) == 2


def test_the_config_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert settings_file() == tmp_path / "cfg" / "qwen3-explorer" / "settings.json"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config_dir() == tmp_path / ".config" / "qwen3-explorer"
    monkeypatch.setattr("sys.platform", "darwin")
    assert config_dir() == tmp_path / "Library" / "Application Support" / "qwen3-explorer"
    monkeypatch.setattr("sys.platform", "win32")
    monkeypatch.setenv("APPDATA", str(tmp_path / "Roaming"))
    assert config_dir() == tmp_path / "Roaming" / "qwen3-explorer"


def test_a_theme_that_is_not_one_falls_back_to_following_the_system(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"schema": 2, "window": {"theme": "purple"}}))
    st, notes = load_settings(path)
    assert st.window.theme == "system" and any("window.theme" in n and "not one of" in n for n in notes)
    st.window.theme = "dark"
    save_settings(path, st)
    assert load_settings(path)[0].window.theme == "dark"

"""API keys: kept in the keyring or a user-only file, and nowhere else. The canary test uses a key
for real (a llama-cpp-python server that demands it, a faulty server that echoes it back in its
errors) through the CLI and a saved, exported conversation, then looks for it in everything the app
wrote or printed."""

from __future__ import annotations

import io
import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
from chat_helpers import drain
from keyring.backend import KeyringBackend
from remote_helpers import MODEL_ID, FaultHandler, LlamaServer, chunk, fault_server, need_server_extra, qwen3_like_model

from explorer.chat.conversation import Conversation
from explorer.chat.export import to_json, to_markdown
from explorer.chat.records import ModelRef, PaneRecord, Session, StopReason
from explorer.chat.transcripts import ConversationStore, new_session_id, now_iso
from explorer.cli.main import main
from explorer.engine.remote import RemoteClient
from explorer.gguf.variant import Variant
from explorer.store.endpoints import EndpointStore, endpoints_file
from explorer.store.secrets import BACKEND_ENV, Secrets, SecretsError, secrets_file

CANARY = "sk-canary-7f3a9c1e5b2d4f60"


class MemoryKeyring(KeyringBackend):
    priority = 5  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


@pytest.fixture
def file_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BACKEND_ENV, "file")
    monkeypatch.delenv("QWEN3_EXPLORER_SECRETS", raising=False)
    monkeypatch.delenv("QWEN3_EXPLORER_ENDPOINTS", raising=False)


@pytest.fixture
def memory_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[MemoryKeyring]:
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    before = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(before)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_file_fallback_is_readable_by_the_user_only(file_backend: None) -> None:
    keys = Secrets()
    assert keys.backend == "file" and str(secrets_file()) in keys.where and CANARY not in keys.where
    keys.set("http://box:8080/v1", CANARY)
    assert keys.get("http://box:8080/v1") == CANARY and keys.get("http://other/v1") is None
    assert mode_of(secrets_file()) == 0o600 and mode_of(secrets_file().parent) == 0o700
    keys.set("http://other/v1", "sk-other")
    assert mode_of(secrets_file()) == 0o600  # replaced whole, never wider
    secrets_file().chmod(0o644)
    assert Secrets().get("http://box:8080/v1") == CANARY and mode_of(secrets_file()) == 0o600  # narrowed back
    keys.delete("http://box:8080/v1")
    assert keys.get("http://box:8080/v1") is None and CANARY not in secrets_file().read_text()


def test_a_broken_key_file_is_one_line_without_its_contents(file_backend: None) -> None:
    secrets_file().parent.mkdir(parents=True)
    secrets_file().write_text('{"http://box/v1": "' + CANARY + '"')  # cut short
    with pytest.raises(SecretsError) as err:
        Secrets().get("http://box/v1")
    assert "not a key file" in str(err.value) and CANARY not in str(err.value)


def test_the_keyring_is_used_when_one_works(memory_keyring: MemoryKeyring) -> None:
    keys = Secrets()
    assert keys.backend == "keyring" and keys.where.startswith("the system keyring")
    keys.set("http://box/v1", CANARY)
    assert memory_keyring.store == {("qwen3-explorer", "http://box/v1"): CANARY}
    assert keys.get("http://box/v1") == CANARY and not secrets_file().exists()
    keys.delete("http://box/v1")
    assert memory_keyring.store == {}


def test_no_keyring_backend_means_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    from keyring.backends import fail

    monkeypatch.delenv(BACKEND_ENV, raising=False)
    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        assert Secrets().backend == "file"
        with pytest.raises(SecretsError, match="no working system keyring"):
            Secrets("keyring")
    finally:
        keyring.set_keyring(before)


def test_the_environment_can_keep_keys_out_of_the_keyring(memory_keyring: MemoryKeyring,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BACKEND_ENV, "file")
    Secrets().set("http://box/v1", CANARY)
    assert memory_keyring.store == {} and CANARY in secrets_file().read_text()


def test_saved_endpoints_hold_no_keys(file_backend: None) -> None:
    store = EndpointStore()
    ep = store.save("http://gpu-box:8080/", name="gpu box", api_key=CANARY)
    assert (ep.url, ep.name, ep.has_key, ep.label) == ("http://gpu-box:8080/v1", "gpu box", True, "gpu box")
    assert store.find("gpu box") == ep and store.find("http://gpu-box:8080") == ep and store.find("nope") is None
    assert store.api_key(ep) == CANARY
    text = endpoints_file().read_text()
    assert CANARY not in text and json.loads(text)["endpoints"][0]["has_key"] is True
    assert store.save("http://gpu-box:8080", name="gpu box").has_key  # None keeps the key
    assert not store.save("http://gpu-box:8080", name="gpu box", api_key="").has_key
    assert store.api_key(ep) is None
    with pytest.raises(ValueError, match="may not carry a user name or password") as err:
        store.save(f"https://me:{CANARY}@host/v1")
    assert CANARY not in str(err.value)
    store.save("http://gpu-box:8080", api_key="sk-again")
    assert store.remove("http://gpu-box:8080/v1") and store.endpoints() == [] and Secrets().get(ep.url) is None


# --- the canary -------------------------------------------------------------------------------

def echo_key_in_500(handler: FaultHandler, body: dict[str, Any]) -> None:
    said = json.dumps({"error": {"message": f"rejected header: {handler.headers.get('Authorization')}"}})
    handler.reply(500, said.encode())


def echo_key_mid_stream(handler: FaultHandler, body: dict[str, Any]) -> None:
    key = handler.headers.get("Authorization")
    handler.stream([chunk({"content": "Hi"}), b'data: {"error": {"message": "bad token ' + key.encode() + b'"}}\n\n'])


def echo_key_malformed(handler: FaultHandler, body: dict[str, Any]) -> None:
    key = str(handler.headers.get("Authorization"))[7:]
    handler.stream([chunk({"content": "Hi"}), b"data: " + key.encode() + b" {oops\n\n"])


def test_the_key_appears_nowhere(file_backend: None, monkeypatch: pytest.MonkeyPatch, isolated_home: Path,
                                 tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    need_server_extra()
    model = qwen3_like_model(tmp_path)
    printed: list[str] = []

    def cli(*argv: str) -> int:
        out = io.StringIO()
        code = main(list(argv), out=out)
        captured = capsys.readouterr()
        printed.extend([out.getvalue(), captured.out, captured.err])
        return code

    monkeypatch.setenv("EXPLORER_TEST_KEY", CANARY)
    monkeypatch.setenv("EXPLORER_WRONG_KEY", "sk-wrong")
    with LlamaServer(model, api_key=CANARY, log=tmp_path / "server.log") as srv:
        # With the key from the environment, the key saved with an endpoint, a wrong key, and none.
        assert cli("models", "--endpoint", srv.url, "--api-key-env", "EXPLORER_TEST_KEY") == 0
        assert printed[0].split() == [MODEL_ID, "me"]
        assert cli("chat", "--endpoint", srv.url, "--api-key-env", "EXPLORER_TEST_KEY", MODEL_ID, "Why?",
                   "--json", "--max-tokens", "40") == 0
        assert cli("models", "--endpoint", srv.url) == 1
        assert "error: the server needs an API key (HTTP 401): Invalid API key" in printed[-1]
        assert cli("chat", "--endpoint", srv.url, "--api-key-env", "EXPLORER_WRONG_KEY", MODEL_ID, "Why?") == 1
        assert "error: the server refused the API key (HTTP 401): Invalid API key" in printed[-1]
        EndpointStore().save(srv.url, name="box", api_key=CANARY)
        assert cli("chat", "--endpoint", "box", MODEL_ID, "Why?", "--max-tokens", "40") == 0
        assert cli("models", "--endpoint", srv.url) == 0  # its URL finds the saved endpoint, and its key

        # A conversation with the key, saved and exported.
        client = RemoteClient(srv.url, MODEL_ID, api_key=CANARY)
        client.start()
        client.poll(20)
        conv = Conversation(client, template=None, variant=Variant.HYBRID, thinking=True, max_tokens=60)
        conv.send("Why is the sky blue?")
        _, done = drain(conv, timeout=60)
        assert done.stats.stop_reason is StopReason.LENGTH
        printed.extend([repr(client), str(vars(client.__class__)), repr(conv.record())])
        client.close()
        record = conv.record()
        session = Session(new_session_id(), "Why is the sky blue?", now_iso(), now_iso(), (
            PaneRecord(1, ModelRef(MODEL_ID, client.ref, "hybrid"), record.settings, record.messages),))
        ConversationStore().save(session)
        (isolated_home / "export.md").write_text(to_markdown(session))
        (isolated_home / "export.json").write_text(to_json(session))

    # Servers that echo the key back in their errors.
    behaviours = {"m-500": echo_key_in_500, "m-event": echo_key_mid_stream, "m-malformed": echo_key_malformed}
    with fault_server(behaviours) as srv:
        for name, says in [("m-500", "the server failed (HTTP 500): rejected header: Bearer [api key]"),
                           ("m-event", "the server failed mid-answer: bad token Bearer [api key]"),
                           ("m-malformed", "the server sent a malformed event: '[api key] {oops'")]:
            assert cli("chat", "--endpoint", srv.url, "--api-key-env", "EXPLORER_TEST_KEY", name, "Hi") == 1
            assert f"error: {says}" in printed[-1] or says in printed[-1], printed[-1]

    assert not [text for text in printed if CANARY in text]
    written = [p for p in isolated_home.rglob("*") if p.is_file() and p != secrets_file()]
    assert any(p.suffix == ".json" and "conversations" in p.parts for p in written)  # the saved session is there
    leaks = [p for p in written if CANARY.encode() in p.read_bytes()]
    assert not leaks
    assert CANARY in secrets_file().read_text() and mode_of(secrets_file()) == 0o600  # the one place it lives


def test_an_unknown_endpoint_name_says_which_names_are_saved(capsys: pytest.CaptureFixture[str]) -> None:
    from explorer.cli.main import main

    assert main(["models", "--endpoint", "nope box"], out=io.StringIO()) != 0
    err = capsys.readouterr().err
    assert "no saved endpoint is named 'nope box' (none is saved yet: add one in the Library)" in err
    assert err.count("\n") == 1

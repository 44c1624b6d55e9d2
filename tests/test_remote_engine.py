"""A remote engine against a real server: llama-cpp-python's own OpenAI-compatible server
(`python -m llama_cpp.server`) on loopback, serving a generated Qwen3 model that chats by script, so
thinking and answer are checked byte for byte through the same Conversation a pane uses.

What that server does (llama-cpp-python 0.3.36), as these tests pin down:
- it renders the GGUF's own chat template and streams the text in ``content``: thinking stays there
  in ``<think>`` tags (no ``reasoning_content``); it sends no usage block in a stream;
- it ignores ``chat_template_kwargs`` in a request (thinking is switched only for the whole server,
  with ``--chat_template_kwargs '{"enable_thinking": false}'`` at its start);
- it serves its one model whatever name a request gives; /v1/models lists the --model_alias.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from chat_helpers import drain
from remote_helpers import MODEL_ID, SPEC, LlamaServer, need_server_extra, qwen3_like_model

from explorer.chat.conversation import AnswerText, Conversation, Finished, ThinkingText
from explorer.chat.records import PaneMode, StopReason
from explorer.engine.messages import Done, Loaded, LoadFailed, Tokens
from explorer.engine.remote import RemoteClient, list_models
from explorer.gguf.variant import Variant, guess_variant
from explorer.testing.scripted import DEFAULT_THINKING

pytestmark = pytest.mark.llama


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need_server_extra()
    return qwen3_like_model(tmp_path_factory.mktemp("remote-model"))


@pytest.fixture(scope="module")
def server(model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    with LlamaServer(model, log=tmp_path_factory.mktemp("server") / "server.log") as srv:
        yield srv


def connect(url: str, model_id: str = MODEL_ID, **kw: object) -> RemoteClient:
    client = RemoteClient(url, model_id, **kw)  # type: ignore[arg-type]
    client.start()
    events = client.poll(20)
    assert events and isinstance(events[0], Loaded), events
    return client


def conversation(client: RemoteClient, *, thinking: bool = True, **kw: object) -> Conversation:
    variant = guess_variant(MODEL_ID)
    assert variant is Variant.HYBRID  # the name is all a remote model has to say what it is
    return Conversation(client, template=None, variant=variant, thinking=thinking, **kw)  # type: ignore[arg-type]


def test_the_model_list_and_a_model_the_server_lacks(server: LlamaServer) -> None:
    assert [m.id for m in list_models(server.url)] == [MODEL_ID]
    assert [m.id for m in list_models(server.url + "/v1/")] == [MODEL_ID]  # a base URL, as OpenAI clients take it
    with RemoteClient(server.url, "Qwen3-235B-A22B") as client:
        client.start()
        [failed] = client.poll(20)
    assert isinstance(failed, LoadFailed)
    assert failed.message == f"no model named 'Qwen3-235B-A22B' on this server; it offers {MODEL_ID}"


def test_a_chat_with_thinking_reads_thinking_and_answer_exactly(server: LlamaServer) -> None:
    with connect(server.url) as client:
        assert client.pid is None and client.loaded
        conv = conversation(client, max_tokens=4096)
        conv.send("Why is the sky blue?")
        updates, done = drain(conv, timeout=60)
        thinking = "".join(u.text for u in updates if isinstance(u, ThinkingText))
        answer = "".join(u.text for u in updates if isinstance(u, AnswerText))
        assert thinking == DEFAULT_THINKING
        assert answer == SPEC.answer
        stats = done.stats
        assert stats.stop_reason is StopReason.STOP and stats.message == ""
        assert 0 < stats.ttft_s < 30 and stats.tokens_per_s > 0
        assert 0 < stats.thinking_tokens < stats.n_tokens  # counted per chunk: this server sends no usage
        assert conv.messages[-1].content == SPEC.answer and conv.messages[-1].thinking == DEFAULT_THINKING

        # A second turn: the history goes back as messages, the earlier answer without its thinking.
        conv.send("And at sunset?")
        updates, done = drain(conv, timeout=60)
        assert done.stats.stop_reason is StopReason.STOP
        assert "".join(u.text for u in updates if isinstance(u, AnswerText)) == SPEC.answer
        assert [m.role for m in conv.messages] == ["user", "assistant", "user", "assistant"]


def test_thinking_off_where_the_server_applies_it(model: Path, server: LlamaServer, tmp_path: Path) -> None:
    # llama_cpp.server ignores the per-request switch (chat_template_kwargs), and the scripted model
    # does not read the /no_think soft switch (a real hybrid Qwen3 would): it still thinks.
    with connect(server.url) as client:
        conv = conversation(client, thinking=False, max_tokens=4096)
        conv.send("Why is the sky blue?")
        _, done = drain(conv, timeout=60)
        assert conv.messages[-1].thinking == DEFAULT_THINKING and done.stats.stop_reason is StopReason.STOP
    # Started with thinking off, the server renders every prompt with enable_thinking=false.
    with LlamaServer(model, thinking=False, log=tmp_path / "server.log") as off, connect(off.url) as client:
        conv = conversation(client, thinking=False, max_tokens=4096)
        conv.send("Why is the sky blue?")
        updates, done = drain(conv, timeout=60)
        assert not [u for u in updates if isinstance(u, ThinkingText)]
        assert conv.messages[-1].content == SPEC.answer and conv.messages[-1].thinking == ""
        assert done.stats.thinking_tokens == 0 and done.stats.stop_reason is StopReason.STOP


def test_stop_closes_the_stream_mid_answer_and_the_next_message_works(server: LlamaServer) -> None:
    with connect(server.url) as client:
        conv = conversation(client, max_tokens=4096)
        conv.send("Why is the sky blue?")
        seen = ""
        t_stop = 0.0
        finished: Finished | None = None
        deadline = time.monotonic() + 60
        while finished is None and time.monotonic() < deadline:
            for up in conv.pump(0.1):
                if isinstance(up, AnswerText) and not t_stop:
                    seen += up.text
                    conv.stop()  # at the answer's first words: hundreds of tokens are still to come
                    t_stop = time.monotonic()
                elif isinstance(up, Finished):
                    finished = up
        assert finished is not None and t_stop
        assert time.monotonic() - t_stop < 2.0
        assert finished.stats.stop_reason is StopReason.STOPPED
        kept = conv.messages[-1]
        assert kept.thinking == DEFAULT_THINKING
        assert kept.content.startswith(seen) and SPEC.answer.startswith(kept.content) and kept.content != SPEC.answer

        conv.send("Again?")
        _, done = drain(conv, timeout=60)
        assert done.stats.stop_reason is StopReason.STOP and conv.messages[-1].content == SPEC.answer


def test_a_server_killed_mid_stream_is_an_error_in_the_pane(model: Path, tmp_path: Path) -> None:
    with LlamaServer(model, log=tmp_path / "server.log") as doomed, connect(doomed.url) as client:
        conv = conversation(client, max_tokens=4096)
        conv.send("Why is the sky blue?")
        finished: Finished | None = None
        killed = False
        deadline = time.monotonic() + 60
        while finished is None and time.monotonic() < deadline:
            for up in conv.pump(0.1):
                if isinstance(up, AnswerText) and not killed:
                    doomed.kill()
                    killed = True
                elif isinstance(up, Finished):
                    finished = up
        assert finished is not None and killed
        stats = finished.stats
        assert stats.stop_reason is StopReason.ERROR
        assert stats.message in ("the server closed the stream before the answer ended",) or \
            stats.message.startswith("the connection to the server broke mid-answer")
        assert "\n" not in stats.message
        assert conv.messages[-1].thinking == DEFAULT_THINKING  # what came before the drop is kept

        # The server is gone: the next message says so at once, in one line.
        conv.send("Hello?")
        _, done = drain(conv, timeout=30)
        assert done.stats.stop_reason is StopReason.ERROR
        assert done.stats.message.startswith(f"cannot reach 127.0.0.1:{doomed.port}: ")


def test_free_form_goes_through_completions(server: LlamaServer) -> None:
    with connect(server.url) as client:
        conv = Conversation(client, template=None, variant=Variant.HYBRID, thinking=False, max_tokens=4096,
                            mode=PaneMode.FREE_FORM)
        conv.send("Why is the sky blue?\n\n")  # the scripted model answers after a blank line
        updates, done = drain(conv, timeout=60)
        assert done.stats.stop_reason is StopReason.STOP
        assert "".join(u.text for u in updates if isinstance(u, AnswerText)) == SPEC.answer


def test_the_client_alone_streams_tokens_then_done(server: LlamaServer) -> None:
    with connect(server.url) as client:
        client.generate_chat("r1", [{"role": "user", "content": "Why?"}], max_tokens=8)
        events = list(client.events(timeout=30))
        tokens = [e for e in events if isinstance(e, Tokens)]
        [done] = [e for e in events if isinstance(e, Done)]
        assert events[-1] is done and done.reason == "length" and done.n_tokens == 8
        assert sum(t.n_tokens for t in tokens) == 8
        assert "".join(t.text for t in tokens).startswith("<think>\nThe user wants")
        assert client.idle_waitables() == [client._wake_r]

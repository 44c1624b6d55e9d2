"""A remote engine against a faulty server: what real servers do now and then (refuse a key, lack a
model, ask to come back later, fail, drop the stream, send a broken event) and the ways servers
differ (thinking in reasoning_content, in reasoning, or in content with the opening tag in the
prompt). Each failure is one line in the pane; the client and the other panes go on."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from chat_helpers import drain
from remote_helpers import FaultHandler, chunk, fault_server, free_port

from explorer.chat.conversation import AnswerText, Conversation, ThinkingText
from explorer.chat.records import MessageStats, StopReason
from explorer.engine.messages import Done, Loaded, LoadFailed
from explorer.engine.remote import RemoteClient, RemoteError, endpoint_url, list_models, remote_ref
from explorer.engine.remote_http import retry_after
from explorer.engine.sse import MalformedEvent, ServerEvent, read_events
from explorer.gguf.variant import Variant, guess_variant

KEY = "sk-faults-0123456789"


def answer_stream(handler: FaultHandler, body: dict[str, Any]) -> None:
    handler.stream([chunk({"role": "assistant"}), chunk({"content": "Fine"}), chunk({"content": "."}),
                    chunk(finish="stop"), b"data: [DONE]\n\n"])


def reasoning_stream(field: str, *, usage: bool) -> Any:
    def behave(handler: FaultHandler, body: dict[str, Any]) -> None:
        events = [chunk({"role": "assistant"})]
        events += [chunk({field: piece}) for piece in ("Light ", "scatters.")]
        events += [chunk({"content": piece}) for piece in ("Rayleigh", " scattering.")]
        events.append(chunk(finish="stop"))
        if usage:  # llama-server: usage in a last chunk without choices, and its own timings
            events.append(b"data: " + json.dumps({"choices": [], "usage": {"prompt_tokens": 11,
                          "completion_tokens": 9}, "timings": {"prompt_n": 11, "prompt_ms": 22.0, "predicted_n": 9,
                                                               "predicted_per_second": 123.5}}).encode() + b"\n\n")
        events.append(b"data: [DONE]\n\n")
        handler.stream(events)
    return behave


def status(code: int, body: bytes, headers: dict[str, str] | None = None) -> Any:
    def behave(handler: FaultHandler, _body: dict[str, Any]) -> None:
        handler.reply(code, body, headers)
    return behave


class Busy:
    """429 with Retry-After the first `times` requests, then an answer."""

    def __init__(self, retry_after: str, times: int = 1) -> None:
        self.retry_after, self.left = retry_after, times
        self.stamps: list[float] = []

    def __call__(self, handler: FaultHandler, body: dict[str, Any]) -> None:
        self.stamps.append(time.monotonic())
        if self.left > 0:
            self.left -= 1
            handler.reply(429, b'{"error": {"message": "slots busy"}}', {"Retry-After": self.retry_after})
        else:
            answer_stream(handler, body)


def silent_after_one(handler: FaultHandler, body: dict[str, Any]) -> None:
    """One token, then only keep-alive comments for 10 s (a stop must not wait for them)."""
    handler.stream([chunk({"content": "Hmm"})] + [b": ping\n\n"] * 100, pause=0.1)


def silent(handler: FaultHandler, body: dict[str, Any]) -> None:
    handler.stream([chunk({"content": "Hmm"})], pause=3.0)


def kwargs_refused(handler: FaultHandler, body: dict[str, Any]) -> None:
    if "chat_template_kwargs" in body:
        handler.reply(400, b'{"error": {"message": "Unrecognized request argument supplied: chat_template_kwargs"}}')
    else:
        answer_stream(handler, body)


BEHAVIOURS: dict[str, Any] = {
    "Qwen3-8B": answer_stream,
    "Qwen3-8B-kwargs-refused": kwargs_refused,
    "m-401": status(401, b'{"detail": "Invalid API key"}'),
    "m-gone": status(404, b'{"error": {"message": "model m-gone is not loaded"}}'),
    "m-500": status(500, b'{"error": {"message": "CUDA error: out of memory\\n  at ggml.c:123"}}'),
    "m-502": status(502, b"<html><body><h1>502 Bad Gateway</h1></body></html>"),
    "m-busy-long": status(429, b"{}", {"Retry-After": "120"}),
    "m-drop": lambda h, b: h.stream([chunk({"content": "Half"}), chunk({"content": " an"})], close_early=True),
    "m-malformed": lambda h, b: h.stream([chunk({"content": "Ok"}), b"data: {not json\n\n"]),
    "m-error-event": lambda h, b: h.stream([chunk({"content": "Ok"}),
                                            b'data: {"error": {"message": "the context is full"}}\n\n']),
    "m-no-done": lambda h, b: h.stream([chunk({"content": "All"}), chunk({"content": " here."}, finish="stop")]),
    "m-slow": silent_after_one,
    "m-silent": silent,
    "llama-server-Qwen3-8B": reasoning_stream("reasoning_content", usage=True),
    "vllm-Qwen3-8B": reasoning_stream("reasoning", usage=False),
    "Qwen3-4B-Thinking-2507": lambda h, b: h.stream(
        [chunk({"content": p}) for p in ("Light ", "scatters.\n</", "think>\n\nRayleigh", " scattering.")]
        + [chunk(finish="stop"), b"data: [DONE]\n\n"]),
    "Qwen3-4B-Thinking-2507-fields": reasoning_stream("reasoning_content", usage=False),
    "free-form": lambda h, b: h.stream([b'data: {"choices": [{"text": "once upon", "finish_reason": null}]}\n\n',
                                        b'data: {"choices": [{"text": " a time", "finish_reason": "length"}]}\n\n',
                                        b"data: [DONE]\n\n"]),
}


@pytest.fixture(scope="module")
def faults() -> Any:
    with fault_server(dict(BEHAVIOURS)) as srv:
        yield srv


def connected(url: str, model: str, **kw: Any) -> RemoteClient:
    client = RemoteClient(url, model, **kw)
    client.start()
    [ev] = client.poll(10)
    assert isinstance(ev, Loaded), ev
    return client


def ask(url: str, model: str, text: str = "Why?", *, thinking: bool = True, **kw: Any
        ) -> tuple[str, str, MessageStats, Conversation]:
    client = connected(url, model, **kw)
    try:
        conv = Conversation(client, template=None, variant=guess_variant(model) or Variant.INSTRUCT_2507,
                            thinking=thinking)
        conv.send(text)
        updates, done = drain(conv, timeout=20)
    finally:
        client.close()
    thinking_text = "".join(u.text for u in updates if isinstance(u, ThinkingText))
    return thinking_text, "".join(u.text for u in updates if isinstance(u, AnswerText)), done.stats, conv


def error_of(url: str, model: str, **kw: Any) -> str:
    _, _, stats, _ = ask(url, model, **kw)
    assert stats.stop_reason is StopReason.ERROR
    assert "\n" not in stats.message and KEY not in stats.message
    return stats.message


# --- refusals and failures ----------------------------------------------------------------------

def test_http_errors_are_one_line_each(faults: Any) -> None:
    assert error_of(faults.url, "m-401", api_key=KEY) == "the server refused the API key (HTTP 401): Invalid API key"
    assert error_of(faults.url, "m-401") == "the server needs an API key (HTTP 401): Invalid API key"
    assert error_of(faults.url, "m-gone") == \
        "no model named 'm-gone' on this server (HTTP 404): model m-gone is not loaded"
    assert error_of(faults.url, "m-500") == "the server failed (HTTP 500): CUDA error: out of memory at ggml.c:123"
    assert error_of(faults.url, "m-502") == "the server failed (HTTP 502)"  # an HTML page says nothing useful


def test_429_waits_for_retry_after_then_answers(faults: Any) -> None:
    busy = Busy("0.3")
    faults.behaviours["m-busy"] = busy
    faults.models.append("m-busy")
    _, answer, stats, _ = ask(faults.url, "m-busy")
    assert answer == "Fine." and stats.stop_reason is StopReason.STOP
    assert len(busy.stamps) == 2 and busy.stamps[1] - busy.stamps[0] >= 0.3


def test_429_beyond_the_wait_limit_says_so_at_once(faults: Any) -> None:
    t0 = time.monotonic()
    assert error_of(faults.url, "m-busy-long") == \
        "the server is busy (HTTP 429) and asks to wait 120 s more: try again later"
    assert time.monotonic() - t0 < 5
    busy = Busy("0.2", times=100)
    faults.behaviours["m-always-busy"] = busy
    faults.models.append("m-always-busy")
    assert error_of(faults.url, "m-always-busy", retry_wait_limit=0.7) == \
        "the server is busy (HTTP 429) and is still busy after 1 s of waiting: try again later"
    assert len(busy.stamps) == 4  # 3 waits of 0.2 s fit in 0.7 s


def test_retry_after_as_seconds_or_a_date() -> None:
    assert retry_after("2") == 2.0 and retry_after(" 0.5 ") == 0.5 and retry_after("-3") == 0.0
    assert retry_after(None) is None and retry_after("soon") is None
    later = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    wait = retry_after(later)
    assert wait is not None and 25 < wait <= 31


def test_a_dropped_stream_keeps_what_came_and_says_so(faults: Any) -> None:
    _, answer, stats, conv = ask(faults.url, "m-drop")
    assert answer == "Half an"
    assert stats.stop_reason is StopReason.ERROR
    assert stats.message == "the server closed the stream before the answer ended"
    assert conv.messages[-1].content == "Half an"


def test_malformed_and_error_events(faults: Any) -> None:
    assert error_of(faults.url, "m-malformed") == "the server sent a malformed event: '{not json'"
    assert error_of(faults.url, "m-error-event") == "the server failed mid-answer: the context is full"
    _, answer, stats, _ = ask(faults.url, "m-no-done")  # a finish_reason without [DONE] is a whole answer
    assert answer == "All here." and stats.stop_reason is StopReason.STOP


def test_a_server_that_is_not_there(tmp_path: Path) -> None:
    port = free_port()
    with pytest.raises(RemoteError, match=rf"^cannot reach 127\.0\.0\.1:{port}: Connection refused$"):
        list_models(f"http://127.0.0.1:{port}")
    client = RemoteClient(f"http://127.0.0.1:{port}", "m")
    client.start()
    [ev] = client.poll(10)
    assert isinstance(ev, LoadFailed) and ev.message == f"cannot reach 127.0.0.1:{port}: Connection refused"
    assert not client.alive
    client.generate_chat("r1", [{"role": "user", "content": "hi"}], max_tokens=5)
    [done] = client.poll(1)
    assert isinstance(done, Done) and done.reason == "error" and done.message == "no model is loaded"


def test_stop_closes_a_stream_that_sends_nothing_more(faults: Any) -> None:
    client = connected(faults.url, "m-slow")
    client.generate_chat("r1", [{"role": "user", "content": "hi"}], max_tokens=100)
    first = client.poll(5)
    assert first and first[0].text == "Hmm"  # type: ignore[union-attr]
    t0 = time.monotonic()
    client.stop()
    events = client.poll(5)
    assert time.monotonic() - t0 < 1.0
    [done] = [e for e in events if isinstance(e, Done)]
    assert done.reason == "stopped" and done.n_tokens == 1
    client.close()


def test_a_silent_server_times_out(faults: Any) -> None:
    assert error_of(faults.url, "m-silent", read_timeout=0.5) == "the server sent nothing for 0.5 s"


def test_one_failing_pane_leaves_the_others_going(faults: Any) -> None:
    results: dict[str, MessageStats] = {}

    def pane(model: str) -> None:
        results[model] = ask(faults.url, model)[2]

    threads = [threading.Thread(target=pane, args=(m,)) for m in ("m-500", "m-drop", "Qwen3-8B", "vllm-Qwen3-8B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results["m-500"].stop_reason is StopReason.ERROR and results["m-drop"].stop_reason is StopReason.ERROR
    assert results["Qwen3-8B"].stop_reason is StopReason.STOP
    assert results["vllm-Qwen3-8B"].stop_reason is StopReason.STOP


# --- how servers return thinking ----------------------------------------------------------------

@pytest.mark.parametrize("model", ["llama-server-Qwen3-8B", "vllm-Qwen3-8B", "Qwen3-4B-Thinking-2507",
                                   "Qwen3-4B-Thinking-2507-fields"])
def test_thinking_from_reasoning_fields_or_tags(faults: Any, model: str) -> None:
    thinking, answer, stats, conv = ask(faults.url, model)
    assert thinking == "Light scatters."
    assert answer == "Rayleigh scattering."
    assert conv.messages[-1].thinking == "Light scatters." and conv.messages[-1].content == "Rayleigh scattering."
    assert stats.stop_reason is StopReason.STOP and stats.thinking_tokens >= 2


def test_usage_and_timings_make_the_stats(faults: Any) -> None:
    _, _, stats, _ = ask(faults.url, "llama-server-Qwen3-8B")
    assert stats.n_tokens == 9  # the usage block's count, not the 4 chunks
    assert stats.tokens_per_s == pytest.approx(123.5) and stats.prompt_tokens == 11
    assert stats.prompt_eval_tokens == 11 and stats.prompt_tokens_per_s == pytest.approx(500.0)
    _, _, counted, _ = ask(faults.url, "vllm-Qwen3-8B")
    assert counted.n_tokens == 4 and counted.tokens_per_s > 0 and counted.ttft_s > 0


# --- what goes to the server --------------------------------------------------------------------

def test_the_request_carries_messages_switches_and_the_key(faults: Any) -> None:
    faults.requests.clear()
    client = connected(faults.url, "Qwen3-8B", api_key=KEY)
    conv = Conversation(client, template=None, variant=Variant.HYBRID, thinking=True, max_tokens=77, seed=5,
                        system="Be brief.")
    conv.send("First?")
    drain(conv)
    conv.thinking = False
    conv.send("Second?")
    drain(conv)
    client.close()
    (_, _, first), (path, headers, second) = faults.requests
    assert path == "/v1/chat/completions" and headers["Authorization"] == f"Bearer {KEY}"
    assert first["chat_template_kwargs"] == {"enable_thinking": True}
    assert first["messages"][-1] == {"role": "user", "content": "First?"}  # thinking on: no switch needed
    assert second["chat_template_kwargs"] == {"enable_thinking": False}
    assert second["messages"] == [{"role": "system", "content": "Be brief."},
                                  {"role": "user", "content": "First?"},
                                  {"role": "assistant", "content": "Fine."},
                                  {"role": "user", "content": "Second? /no_think"}]
    assert second["stream"] is True and second["max_tokens"] == 77 and second["seed"] == 5
    assert (second["temperature"], second["top_p"], second["top_k"], second["min_p"]) == (0.7, 0.8, 20, 0.0)
    assert conv.messages[-2].content == "Second?"  # the switch travels, the transcript keeps the words


def test_a_server_that_refuses_chat_template_kwargs_gets_the_soft_switch(faults: Any) -> None:
    faults.requests.clear()
    client = connected(faults.url, "Qwen3-8B-kwargs-refused")
    conv = Conversation(client, template=None, variant=Variant.HYBRID, thinking=False)
    conv.send("One?")
    _, done = drain(conv)
    assert done.stats.stop_reason is StopReason.STOP and conv.messages[-1].content == "Fine."
    conv.send("Two?")
    drain(conv)
    client.close()
    bodies = [b for _, _, b in faults.requests]
    assert ["chat_template_kwargs" in b for b in bodies] == [True, False, False]  # refused once, not sent again
    assert bodies[1]["messages"][-1]["content"] == "One? /no_think"


def test_thinking_models_and_models_that_never_think_get_no_switch(faults: Any) -> None:
    faults.requests.clear()
    for variant in (Variant.THINKING_2507, Variant.INSTRUCT_2507):
        client = connected(faults.url, "Qwen3-8B")
        conv = Conversation(client, template=None, variant=variant, thinking=False)
        conv.send("Hi")
        drain(conv)
        client.close()
    for _, _, body in faults.requests:
        assert "chat_template_kwargs" not in body and body["messages"][-1]["content"] == "Hi"


def test_free_form_uses_completions(faults: Any) -> None:
    faults.requests.clear()
    client = connected(faults.url, "free-form")
    client.generate("r1", "Tell me a story:", max_tokens=2, raw=True)
    events = list(client.events(timeout=5))
    client.close()
    assert "".join(e.text for e in events if hasattr(e, "text")) == "once upon a time"
    assert isinstance(events[-1], Done) and events[-1].reason == "length"
    [(path, _, body)] = faults.requests
    assert path == "/v1/completions" and body["prompt"] == "Tell me a story:"


# --- URLs, TLS, and the event format ------------------------------------------------------------

def test_endpoint_urls() -> None:
    assert endpoint_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080/v1"
    assert endpoint_url(" http://box:8080/ ") == "http://box:8080/v1"
    assert endpoint_url("https://host/api/v1/") == "https://host/api/v1"
    assert remote_ref("http://box:8080", "Qwen3-8B") == "http://box:8080/v1#Qwen3-8B"
    for bad, says in [("ftp://x", "http:// or https://"), ("box:8080", "http:// or https://"),
                      ("https://user:sk-secret@host", "may not carry a user name or password"),
                      ("http://:80", "has no host"), ("http://h:99999", "bad port")]:
        with pytest.raises(ValueError, match=says) as err:
            endpoint_url(bad)
        assert "sk-secret" not in str(err.value)


def test_tls_certificates_are_verified(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: no self-signed certificate to test with")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    with fault_server({"m": answer_stream}) as srv:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        url = srv.url.replace("http://", "https://")
        with pytest.raises(RemoteError, match="certificate verify failed"):
            list_models(url)


def test_server_sent_events_format() -> None:
    lines = [b": keep-alive\r\n", b"event: note\r\n", b"data: one\r\n", b"data:two\r\n", b"id: 7\r\n", b"\r\n",
             b"data: {\"a\": 1}\n", b"\n", b"\n", b"data: cut off"]
    it = iter(lines)
    events = list(read_events(lambda limit: next(it, b"")))
    assert events == [ServerEvent("one\ntwo", "note"), ServerEvent('{"a": 1}')]  # the unterminated one is dropped
    with pytest.raises(MalformedEvent, match="not UTF-8"):
        list(read_events(lambda limit: b"data: \xff\n"))
    with pytest.raises(MalformedEvent, match="more than 10 bytes"):
        list(read_events(lambda limit: b"data: " + b"x" * 20 + b"\n", max_line=10))

"""A model on an OpenAI-compatible server, driven like a local one: `RemoteClient` offers what
`EngineClient` offers a `Conversation` and yields the same events.

    models = list_models("http://127.0.0.1:8080", api_key)          # GET /v1/models
    client = RemoteClient("http://127.0.0.1:8080", "qwen3-8b", api_key=api_key)
    client.start()                    # checks the model is offered: Loaded, or LoadFailed with one line
    client.generate_chat("r1", [{"role": "user", "content": "Hi"}], thinking=False, max_tokens=256)
    client.poll(0.1)                  # -> [Tokens(...), ..., Done(...)]
    client.stop()                     # closes the stream at once: Done(reason="stopped")

Requests (`generate_chat`: POST /v1/chat/completions; `generate`: POST /v1/completions, the
free-form mode) stream server-sent events on a thread of the client's own, which posts events that
`poll` drains; `idle_waitables` gives a socket that `multiprocessing.connection.wait` can block on,
as for a worker's pipe. Every failure is an event with one line for a person, never an exception:
a refused key (401), an unknown model (404), a busy server (429: waits for Retry-After within
`retry_wait_limit`, then says so), a failing server (5xx), a dropped stream, a malformed event.
The API key goes in the Authorization header and nowhere else: every message the client makes is
scrubbed of it. TLS certificates are always verified (the system's default context).

Thinking: servers differ in how they return it, and the client hands the conversation one shape,
the text a local model writes (``<think>...</think>`` then the answer), whatever the server did:
llama-server puts it in ``reasoning_content``, vLLM in ``reasoning``, others (llama-cpp-python's
server) leave the tags in ``content``. Thinking on or off travels as ``chat_template_kwargs:
{"enable_thinking": ...}`` (llama-server and vLLM honour it per request; a server that rejects the
field gets the request again without it) and, for servers that ignore it, as the hybrid models'
soft switch: `` /no_think`` at the end of the last user turn (`soft_switch`).

Statistics: time to first token is measured here (request sent to first text); tokens/s, prompt
tokens and prefill time come from the server's ``timings`` (llama-server) or ``usage`` block when it
sends them, else from the chunks counted (one token each, as the servers that send no usage stream).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from typing import Any

from explorer.engine.messages import (
    Crashed,
    Done,
    DoneReason,
    Event,
    Loaded,
    LoadFailed,
    LoadProgress,
    Tokens,
    iter_events,
)
from explorer.engine.remote_http import (
    CONNECT_TIMEOUT,
    DEFAULT_RETRY_AFTER,
    READ_TIMEOUT,
    RETRY_WAIT_LIMIT,
    RemoteError,
    RemoteModel,
    Target,
    endpoint_url,
    list_models,
    one_line,
    open_request,
    remote_ref,
    retry_after,
    scrub,
    server_message,
    status_message,
)
from explorer.engine.sse import MalformedEvent, read_events
from explorer.errors import describe_error

__all__ = ["Crashed", "Done", "Event", "LoadFailed", "LoadProgress", "Loaded", "RemoteClient", "RemoteError",
           "RemoteModel", "Tokens", "endpoint_url", "list_models", "remote_ref"]

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


class _Shaper:
    """Turns a server's reasoning fields and content into the text a local model writes, which the
    conversation's ThinkingParser reads: ``<think>`` + thinking + ``</think>`` + answer, or, when the
    model's template opened the block itself (`opened`, Thinking-2507), without the opening tag."""

    def __init__(self, opened: bool) -> None:
        self.opened = opened
        self.state = "start"  # -> "reasoning" (fields) | "content" (passed through)
        self.head = ""  # leading content held while it may still be an opening tag

    def reasoning(self, text: str) -> str:
        if self.state == "start":
            self.state = "reasoning"
            return text if self.opened else THINK_OPEN + "\n" + text
        return text  # after the answer began (no server does that): shown where it came

    def content(self, text: str) -> str:
        if self.state == "reasoning":
            self.state = "content"
            return "\n" + THINK_CLOSE + "\n\n" + text
        if self.state == "start" and self.opened:
            self.head += text
            stripped = self.head.lstrip()
            if len(stripped) < len(THINK_OPEN) and THINK_OPEN.startswith(stripped):
                return ""
            self.state, held, self.head = "content", self.head, ""
            return stripped[len(THINK_OPEN):] if stripped.startswith(THINK_OPEN) else held
        self.state = "content"
        return text

    def end(self) -> str:
        held, self.head = self.head, ""
        return held


# --- the client ------------------------------------------------------------------------------

@dataclass
class _Job:
    request_id: str
    path: str  # "/chat/completions" or "/completions"
    body: dict[str, Any]
    shaper: _Shaper
    cancel: threading.Event = field(default_factory=threading.Event)
    # The connection's socket, kept here: http.client forgets it (conn.sock = None) once a response that
    # ends with the connection is under way, but its reads still block on it.
    sock: socket.socket | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, conn: http.client.HTTPConnection) -> None:
        with self.lock:
            self.sock = conn.sock
            cancelled = self.cancel.is_set()
        if cancelled:
            _shut(conn.sock)

    def abort(self) -> None:
        with self.lock:
            self.cancel.set()
            sock = self.sock
        _shut(sock)


def _shut(sock: socket.socket | None) -> None:
    """End a connection another thread is reading from: its blocked read returns at once."""
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class RemoteClient:
    """One model on one OpenAI-compatible server (see the module's doc). `takes_messages`: a
    `Conversation` sends it role/content messages (`generate_chat`) instead of a rendered prompt."""

    takes_messages = True

    def __init__(self, url: str, model: str, *, api_key: str | None = None, soft_switch: bool = True,
                 connect_timeout: float = CONNECT_TIMEOUT, read_timeout: float = READ_TIMEOUT,
                 retry_wait_limit: float = RETRY_WAIT_LIMIT) -> None:
        self._target = Target(url)  # ValueError (one line) for a URL that is not an endpoint
        self.url = self._target.base
        self.model = model
        self._key = api_key or None
        self.soft_switch = soft_switch
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.retry_wait_limit = retry_wait_limit
        self._kwargs_refused = False  # the server rejected chat_template_kwargs once: not sent again
        self._events: deque[Event] = deque()
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._job: _Job | None = None
        self._thread: threading.Thread | None = None
        self._started = False
        self._loaded = False
        self._closed = False

    def __repr__(self) -> str:  # never the key
        return f"RemoteClient({self.url!r}, {self.model!r})"

    @property
    def ref(self) -> str:
        """The model's name where a local one has its path: see `remote_ref`."""
        return f"{self.url}#{self.model}"

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self, *_args: object, **_ignored: object) -> None:
        """Check (on a thread) that the server offers the model: Loaded, or LoadFailed with one line.
        The arguments a local load takes (path, n_ctx, n_gpu_layers...) are accepted and ignored."""
        self._abort_job()
        self._started, self._loaded = True, False
        t0 = time.perf_counter()

        def check() -> None:
            try:
                ids = [m.id for m in list_models(self.url, self._key, timeout=self.connect_timeout)]
            except (RemoteError, ValueError) as exc:
                self._started = False
                self._post(LoadFailed(scrub(str(exc), self._key)))
                return
            if self.model not in ids:
                offered = ", ".join(ids[:8]) + (", …" if len(ids) > 8 else "")
                self._started = False
                self._post(LoadFailed(f"no model named {self.model!r} on this server"
                                      + (f"; it offers {offered}" if ids else "; it offers none")))
                return
            self._loaded = True
            self._post(Loaded(load_seconds=time.perf_counter() - t0, n_ctx=0, fim=False))

        threading.Thread(target=check, name=f"remote-check:{self.model}", daemon=True).start()

    def unload(self, timeout: float = 5.0) -> None:
        """Stop any answer and forget the model; nothing runs here to free."""
        self._abort_job()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._started = self._loaded = False
        with self._lock:
            self._events.clear()

    def close(self) -> None:
        self.unload()
        self._closed = True
        self._wake_r.close()
        self._wake_w.close()

    @property
    def alive(self) -> bool:
        """Started and not unloaded (a remote model has no process that could die)."""
        return self._started

    @property
    def loaded(self) -> bool:
        return self._started and self._loaded

    @property
    def pid(self) -> int | None:
        return None

    # --- requests --------------------------------------------------------------------------------

    def generate_chat(self, request_id: str, messages: Sequence[Mapping[str, str]], *, thinking: bool | None = None,
                      opens_in_thinking: bool = False, max_tokens: int, temperature: float = 0.7,
                      top_p: float = 0.8, top_k: int = 20, min_p: float = 0.0, seed: int = 0,
                      stop: list[str] | None = None, presence_penalty: float = 0.0,
                      repeat_penalty: float = 1.0) -> None:
        """Stream an answer to `messages` (role/content) through /chat/completions; returns at once.
        `thinking`: switch a hybrid model's thinking (None: leave it to the model). `opens_in_thinking`:
        the model's template opens the thinking block itself (Thinking-2507), so the text handed back
        starts inside it, as a local engine's does."""
        sent = [{"role": str(m["role"]), "content": str(m.get("content", ""))} for m in messages]
        body = self._sampling(max_tokens, temperature, top_p, top_k, min_p, seed, stop, presence_penalty,
                              repeat_penalty)
        body["messages"] = sent
        if thinking is not None:
            if not self._kwargs_refused:
                body["chat_template_kwargs"] = {"enable_thinking": thinking}
            if self.soft_switch:
                _add_soft_switch(sent, thinking)
        self._submit(_Job(request_id, "/chat/completions", body, _Shaper(opens_in_thinking)))

    def generate(self, request_id: str, prompt: str, *, max_tokens: int, temperature: float = 0.7,
                 top_p: float = 0.8, top_k: int = 20, min_p: float = 0.0, seed: int = 0,
                 stop: list[str] | None = None, raw: bool = False, fim: tuple[str, str] | None = None,
                 presence_penalty: float = 0.0, repeat_penalty: float = 1.0) -> None:
        """Stream a completion of `prompt` as text through /completions (the free-form mode)."""
        if fim is not None:
            self._post(Done(request_id, "error", 0, 0, 0.0, 0.0,
                            "fill-in-the-middle is not offered through an OpenAI-compatible endpoint"))
            return
        body = self._sampling(max_tokens, temperature, top_p, top_k, min_p, seed, stop, presence_penalty,
                              repeat_penalty)
        body["prompt"] = prompt
        self._submit(_Job(request_id, "/completions", body, _Shaper(False)))

    def stop(self) -> None:
        """Close the current stream: its Done(reason="stopped") follows at once."""
        with self._lock:
            job = self._job
        if job is not None:
            job.abort()

    # --- events ----------------------------------------------------------------------------------

    def poll(self, timeout: float | None = 0.0) -> list[Event]:
        """Events that arrived, waiting up to `timeout` seconds (None: forever) for the first one."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                if self._events:
                    out = list(self._events)
                    self._events.clear()
                    self._drain_wakes()
                    return out
            if self._closed:
                return []
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return []
            wait([self._wake_r], left)
            with self._lock:
                self._drain_wakes()

    def idle_waitables(self) -> list[Any] | None:
        """What `multiprocessing.connection.wait` can block on until there is news: None when there is
        news already (poll now)."""
        with self._lock:
            if self._events:
                return None
        return [self._wake_r]

    def events(self, timeout: float = 1.0) -> Iterator[Event]:
        """Yield events as they come; ends after `timeout` seconds with none."""
        return iter_events(self.poll, timeout)

    def __enter__(self) -> RemoteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals -------------------------------------------------------------------------------

    def _sampling(self, max_tokens: int, temperature: float, top_p: float, top_k: int, min_p: float, seed: int,
                  stop: list[str] | None, presence_penalty: float, repeat_penalty: float) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "stream": True, "stream_options": {"include_usage": True},
                                "temperature": temperature, "top_p": top_p, "top_k": top_k, "min_p": min_p,
                                "seed": seed}
        if max_tokens > 0:
            body["max_tokens"] = max_tokens
        if stop:
            body["stop"] = list(stop)
        if presence_penalty:
            body["presence_penalty"] = presence_penalty
        if repeat_penalty != 1.0:
            body["repeat_penalty"] = repeat_penalty
        return body

    def _post(self, ev: Event) -> None:
        with self._lock:
            if self._closed:
                return
            wake = not self._events
            self._events.append(ev)
            if wake:
                with contextlib.suppress(OSError):  # full: a wake-up is pending anyway
                    self._wake_w.send(b"!")

    def _drain_wakes(self) -> None:
        with contextlib.suppress(OSError):
            while self._wake_r.recv(4096):
                pass

    def _abort_job(self) -> None:
        with self._lock:
            job, self._job = self._job, None
        if job is not None:
            job.abort()

    def _submit(self, job: _Job) -> None:
        if not self._started:
            self._post(Done(job.request_id, "error", 0, 0, 0.0, 0.0, "no model is loaded"))
            return
        self._abort_job()  # one answer at a time; a late event of the old one is ignored by its id
        with self._lock:
            self._job = job
        thread = threading.Thread(target=self._run, args=(job,), name=f"remote:{self.model}", daemon=True)
        self._thread = thread
        thread.start()

    def _run(self, job: _Job) -> None:
        stream = _Stream(self, job)
        try:
            stream.run()
        except Exception as exc:  # a surprise still ends the answer, as one line
            stream.finish("error", f"{type(exc).__name__}: {describe_error(exc)}")
        finally:
            with self._lock:
                if self._job is job:
                    self._job = None


def _add_soft_switch(messages: list[dict[str, str]], thinking: bool) -> None:
    """Qwen3 hybrid models' soft switch for servers that ignore ``enable_thinking``: ``/no_think`` at
    the end of the last user turn; ``/think`` only where an earlier turn switched thinking off."""
    users = [m for m in messages if m["role"] == "user"]
    if not users:
        return
    last = users[-1]
    words = last["content"].split()
    if words and words[-1] in ("/think", "/no_think"):
        return  # the person's own switch
    if not thinking:
        last["content"] = last["content"].rstrip() + " /no_think"
    elif any(m["content"].split()[-1:] == ["/no_think"] for m in users[:-1]):
        last["content"] = last["content"].rstrip() + " /think"


class _Stream:
    """One request's life on the client's thread: send (with 429 retries), read events, end with Done."""

    def __init__(self, client: RemoteClient, job: _Job) -> None:
        self.client = client
        self.job = job
        self.t_sent = time.perf_counter()
        self.t_first: float | None = None
        self.t_last = 0.0
        self.counted = 0
        self.usage: dict[str, Any] = {}
        self.timings: dict[str, Any] = {}
        self.finish_reason: str | None = None
        self.ended = False

    # events out

    def emit(self, text: str, n_tokens: int) -> None:
        if text or n_tokens:
            self.client._post(Tokens(self.job.request_id, text, n_tokens))

    def finish(self, reason: DoneReason, message: str = "") -> None:
        if self.ended:
            return
        self.ended = True
        tail = self.job.shaper.end()
        if tail:
            self.emit(tail, 0)
        reported = _int(self.usage.get("completion_tokens")) or _int(self.timings.get("predicted_n"))
        n_tokens = self.counted
        if reported > self.counted and reason in ("stop", "length"):
            self.emit("", reported - self.counted)  # chunks that held several tokens
            n_tokens = reported
        ttft = (self.t_first - self.t_sent) if self.t_first is not None else 0.0
        tps = _float(self.timings.get("predicted_per_second"))
        if tps <= 0 and self.t_first is not None:
            span = self.t_last - self.t_first
            tps = (n_tokens - 1) / span if n_tokens > 1 and span > 0 else (1 / ttft if n_tokens == 1 and ttft > 0
                                                                           else 0.0)
        n_prompt = _int(self.usage.get("prompt_tokens")) or _int(self.timings.get("prompt_n"))
        prefill_n = _int(self.timings.get("prompt_n"))
        prefill_s = _float(self.timings.get("prompt_ms")) / 1000
        self.client._post(Done(self.job.request_id, reason, n_prompt, n_tokens, ttft, tps,
                               scrub(message, self.client._key), prefill_n, prefill_s if prefill_n else 0.0))

    # the request

    def run(self) -> None:
        client, job = self.client, self.job
        waited = 0.0
        while True:
            if job.cancel.is_set():
                self.finish("stopped")
                return
            self.t_sent = time.perf_counter()
            try:
                conn, resp = open_request(client._target, "POST", job.path, job.body, client._key,
                                          connect_timeout=client.connect_timeout, read_timeout=client.read_timeout,
                                          stream=True, on_connect=job.attach)
            except (OSError, http.client.HTTPException) as exc:
                if job.cancel.is_set():
                    self.finish("stopped")
                elif isinstance(exc, TimeoutError):
                    self.finish("error", f"the server at {client._target.where} did not answer in "
                                         f"{client.read_timeout:g} s")
                else:
                    self.finish("error", f"cannot reach {client._target.where}: {describe_error(exc)}")
                return
            try:
                if resp.status == 200:
                    self.read(resp)
                    return
                said = server_message(resp)
                if resp.status == 429:
                    wait = retry_after(resp.getheader("Retry-After"))
                    wait = DEFAULT_RETRY_AFTER if wait is None else wait
                    if waited + wait > client.retry_wait_limit:
                        how = f"asks to wait {wait:.0f} s more" if waited == 0 else \
                            f"is still busy after {waited:.0f} s of waiting"
                        self.finish("error", f"the server is busy (HTTP 429) and {how}: try again later")
                        return
                    conn.close()
                    job.cancel.wait(wait)
                    waited += wait
                    continue
                if resp.status in (400, 422) and "chat_template_kwargs" in said and \
                        "chat_template_kwargs" in job.body:
                    client._kwargs_refused = True  # the soft switch (when on) still says it
                    del job.body["chat_template_kwargs"]
                    continue
                self.finish("error", status_message(resp.status, said, model=client.model, what="generate",
                                                     has_key=bool(client._key)))
                return
            finally:
                conn.close()

    def read(self, resp: http.client.HTTPResponse) -> None:
        job = self.job
        chat = job.path == "/chat/completions"
        try:
            for event in read_events(resp.readline):
                if job.cancel.is_set():
                    break
                if event.data.strip() == "[DONE]":
                    self.finish("length" if self.finish_reason == "length" else "stop")
                    return
                if self.chunk(event.data, chat=chat):
                    return
        except MalformedEvent as exc:
            if not job.cancel.is_set():
                self.finish("error", f"the server sent a malformed event stream: {exc}")
                return
        except (OSError, http.client.HTTPException) as exc:
            if not job.cancel.is_set():
                if isinstance(exc, TimeoutError):
                    self.finish("error", f"the server sent nothing for {self.client.read_timeout:g} s")
                else:
                    self.finish("error", f"the connection to the server broke mid-answer: {describe_error(exc)}")
                return
        if job.cancel.is_set():
            self.finish("stopped")
        elif self.finish_reason is not None:  # complete, though the server sent no [DONE]
            self.finish("length" if self.finish_reason == "length" else "stop")
        else:
            self.finish("error", "the server closed the stream before the answer ended")

    def chunk(self, data: str, *, chat: bool) -> bool:
        """Handle one event's JSON; True when it ended the answer (an error)."""
        try:
            obj = json.loads(data)
        except ValueError:
            shown = data if len(data) <= 60 else data[:60] + "…"
            self.finish("error", f"the server sent a malformed event: {shown!r}")
            return True
        if not isinstance(obj, dict):
            self.finish("error", "the server sent an event that is not a JSON object")
            return True
        if obj.get("error"):
            err = obj["error"]
            text = err.get("message") if isinstance(err, dict) else err
            self.finish("error", f"the server failed mid-answer: {one_line(str(text))}")
            return True
        if isinstance(obj.get("usage"), dict):
            self.usage = obj["usage"]
        if isinstance(obj.get("timings"), dict):
            self.timings = obj["timings"]
        choices = obj.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return False
        choice = choices[0]
        reason = choice.get("finish_reason")
        if isinstance(reason, str) and reason:
            self.finish_reason = reason
        shaper = self.job.shaper
        text, n = "", 0
        if chat:
            delta = choice.get("delta")
            if isinstance(delta, dict):
                thought = delta.get("reasoning_content") or delta.get("reasoning")
                if isinstance(thought, str) and thought:
                    text += shaper.reasoning(thought)
                    n = 1
                said = delta.get("content")
                if isinstance(said, str) and said:
                    text += shaper.content(said)
                    n = 1
        else:
            said = choice.get("text")
            if isinstance(said, str) and said:
                text, n = said, 1
        if n:
            now = time.perf_counter()
            if self.t_first is None:
                self.t_first = now
            self.t_last = now
            self.counted += n
            self.emit(text, n)
        return False


def _int(value: object) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else 0


def _float(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else 0.0

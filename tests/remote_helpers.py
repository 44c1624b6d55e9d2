"""Servers for the remote-engine tests: llama-cpp-python's own OpenAI-compatible server on a generated
Qwen3 model (the happy path, for real), and a small faulty server for what a real one does not do
on request (refusals, drops, malformed events).

llama-cpp-python's server needs its `server` extra (fastapi, uvicorn, sse-starlette,
starlette-context, pydantic-settings), which the project's `test` extra installs. A dev venv without
it skips those tests with the reason; under CI ($CI set) a missing extra fails them instead.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from gguf import GGUFReader, TokenType

from explorer.testing.scripted import ScriptedSpec, ensure_scripted_model

SERVER_MODULES = ("fastapi", "uvicorn", "sse_starlette", "starlette_context", "pydantic_settings")
MODEL_ID = "Qwen3-0.6B-scripted"  # a hybrid Qwen3 by its name, as a server would call it
# Long enough that a stop or a kill lands mid-answer: ~400 tokens after the thinking.
LONG_ANSWER = "Here is a long answer, word by word: " + " ".join(f"item{i}" for i in range(400)) + "."
SPEC = ScriptedSpec(name="qwen3-remote-scripted", answer=LONG_ANSWER)


def need_server_extra() -> None:
    """Skip (or, under CI, fail) when llama-cpp-python's server extra is not installed."""
    missing = [m for m in SERVER_MODULES if importlib.util.find_spec(m) is None]
    if not missing:
        return
    reason = (f"llama-cpp-python's server extra is not installed (no {', '.join(missing)}): "
              "pip install -e '.[test]'")
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def qwen3_like_model(directory: Path) -> Path:
    """The scripted model (with LONG_ANSWER), its ``<think>`` and ``</think>`` made user-defined tokens
    as in Qwen3's own GGUFs (their tokenizer marks them non-special): llama.cpp then writes them in
    the text it returns, which is what a server streams as content. (The scripted model marks them as
    control tokens; a server that detokenizes without special tokens would drop them.)"""
    src = ensure_scripted_model(SPEC)
    dst = directory / ("qwen3like-" + src.name)
    if dst.exists():
        return dst
    tmp = dst.with_suffix(".tmp")
    shutil.copyfile(src, tmp)
    reader = GGUFReader(tmp, "r+")
    tokens, types = reader.fields["tokenizer.ggml.tokens"], reader.fields["tokenizer.ggml.token_type"]
    changed = 0
    for i, part in enumerate(tokens.data):
        if bytes(tokens.parts[part]).decode("utf-8") in ("<think>", "</think>"):
            types.parts[types.data[i]][0] = int(TokenType.USER_DEFINED)
            changed += 1
    assert changed == 2
    del reader
    tmp.replace(dst)
    return dst


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LlamaServer:
    """`python -m llama_cpp.server` on loopback, started and waited for; `kill()` ends it at once."""

    def __init__(self, model: Path, *, api_key: str | None = None, thinking: bool | None = None,
                 log: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_key = api_key
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", MODEL_ID,
               "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", "4096", "--n_threads", "1",
               "--n_threads_batch", "1"]
        if api_key:
            cmd += ["--api_key", api_key]
        if thinking is not None:  # the only way to switch thinking on this server: for every request
            cmd += ["--chat_template_kwargs", json.dumps({"enable_thinking": thinking})]
        self.log = log
        if log is not None:
            with open(log, "wb") as out:
                self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        else:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        req = urllib.request.Request(self.url + "/v1/models")
        if self.api_key:
            req.add_header("Authorization", f"Bearer {self.api_key}")
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log.read_text(errors="replace")[-2000:] if self.log else ""
                raise RuntimeError(f"llama_cpp.server exited with {self.proc.returncode}: {tail}")
            with contextlib.suppress(OSError), urllib.request.urlopen(req, timeout=2) as resp:
                if resp.status == 200:
                    return
            time.sleep(0.2)
        self.close()
        raise RuntimeError("llama_cpp.server did not answer /v1/models in time")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> LlamaServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- the faulty server ---------------------------------------------------------------------------

def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> bytes:
    """One chat.completion.chunk event."""
    obj: dict[str, Any] = {"object": "chat.completion.chunk", "choices": [
        {"index": 0, "delta": delta or {}, "finish_reason": finish}]}
    obj.update(extra)
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


Behaviour = Callable[["FaultHandler", dict[str, Any]], None]


class FaultHandler(BaseHTTPRequestHandler):
    server: FaultServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.endswith("/models"):
            body = json.dumps({"object": "list", "data": [{"id": name, "object": "model", "owned_by": "faults"}
                                                          for name in self.server.models]}).encode()
            self.reply(200, body)
        else:
            self.reply(404, b'{"error": {"message": "not found"}}')

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        self.server.requests.append((self.path, dict(self.headers), body))
        behaviour = self.server.behaviours.get(str(body.get("model")))
        if behaviour is None:
            self.reply(404, json.dumps({"error": {"message": f"model {body.get('model')} not found"}}).encode())
            return
        behaviour(self, body)

    def reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def stream(self, events: list[bytes], *, pause: float = 0.0, close_early: bool = False) -> None:
        """Send events (no Content-Length: the stream ends when the connection closes)."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            for ev in events:
                self.wfile.write(ev)
                self.wfile.flush()
                if pause:
                    time.sleep(pause)
        except OSError:
            return
        if close_early:
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)


class FaultServer(ThreadingHTTPServer):
    """A loopback server whose models each misbehave in their own way (`behaviours`: model -> handler)."""

    daemon_threads = True

    def __init__(self, behaviours: dict[str, Behaviour]) -> None:
        super().__init__(("127.0.0.1", 0), FaultHandler)
        self.behaviours = behaviours
        self.models = list(behaviours)
        self.requests: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()


@contextlib.contextmanager
def fault_server(behaviours: dict[str, Behaviour]) -> Iterator[FaultServer]:
    srv = FaultServer(behaviours)
    try:
        yield srv
    finally:
        srv.close()


def get_json(url: str, key: str | None = None) -> Any:
    req = urllib.request.Request(url)
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return {"status": exc.code}

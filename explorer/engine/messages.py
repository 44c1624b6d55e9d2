"""What the engine's processes say to each other: the events a worker (or a client) reports, the
requests a client sends, and the lock-free stop flag they share.

Its own module, with nothing to import but the standard library, so both sides use it: the child
(worker.py, generation.py, multi_worker.py) never imports the parent's modules, and the parent
(client.py, multi.py, remote.py) never imports llama_cpp. All are small frozen dataclasses, picklable
across the pipe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

DoneReason = Literal["stop", "length", "stopped", "error"]


# --- events: worker (or client) -> caller ----------------------------------------------------------

@dataclass(frozen=True)
class Loaded:
    load_seconds: float
    n_ctx: int
    fim: bool = False  # the vocabulary has the fill-in-the-middle tokens


@dataclass(frozen=True)
class LoadProgress:
    fraction: float  # 0..1, from llama.cpp's model-load progress callback (at most ~10 a second)


@dataclass(frozen=True)
class LoadFailed:
    message: str


@dataclass(frozen=True)
class Tokens:
    request_id: str
    text: str
    n_tokens: int


@dataclass(frozen=True)
class Done:
    request_id: str
    reason: DoneReason
    n_prompt_tokens: int
    n_tokens: int
    ttft_s: float
    tokens_per_s: float
    message: str = ""  # why, for reason="error"
    prompt_eval_tokens: int = 0  # prompt tokens llama.cpp evaluated (the rest came from its KV cache)
    prompt_eval_s: float = 0.0  # the time it took (prompt processing, "prefill")


@dataclass(frozen=True)
class Crashed:
    """Made by the client, never sent by the worker: the pipe broke or the process died."""

    message: str
    exitcode: int | None


Event = LoadProgress | Loaded | LoadFailed | Tokens | Done | Crashed


E = TypeVar("E")


def iter_events(poll: Callable[[float], list[E]], timeout: float) -> Iterator[E]:
    """A client's events as they come (its `poll`), ending after `timeout` seconds with none, or when
    its source has nothing left to say: what each client's `events()` is."""
    while True:
        batch = poll(timeout)
        if not batch:
            return
        yield from batch


# --- requests: client -> worker --------------------------------------------------------------------

@dataclass(frozen=True)
class GenerateRequest:
    """What to generate from. `prompt` is tokenized with special tokens parsed (a rendered chat
    template), or as plain text when `raw` (free-form: the text as typed, the tokenizer's own BOS
    only). `fim` (prefix, suffix) asks for the middle: the prompt is built from the vocabulary's FIM
    token ids and `prompt` is ignored. Temperature 0 is greedy."""

    request_id: str
    prompt: str
    max_tokens: int
    temperature: float
    top_p: float
    top_k: int
    min_p: float
    seed: int
    stop: tuple[str, ...] = field(default_factory=tuple)
    raw: bool = False
    fim: tuple[str, str] | None = None
    presence_penalty: float = 0.0
    repeat_penalty: float = 1.0


@dataclass(frozen=True)
class Prefill:
    """Decode `prompt` into the KV cache and generate nothing: what the next turn's prompt will start
    with, sent while the person reads the answer. Dropped at once when a request comes meanwhile."""

    prompt: str


@dataclass(frozen=True)
class Exit:
    pass


@dataclass(frozen=True)
class Load:
    """To a spare worker (`spare_main`): load this model and serve it, as `worker_main` would."""

    path: str
    n_ctx: int
    n_gpu_layers: int = 0
    flash_attn: bool = True
    n_threads: int | None = None
    seed: int = 0


@dataclass(frozen=True)
class SpareReady:
    """From a spare worker: llama_cpp is imported; a `Load` now costs only the load itself."""


class _Conn(Protocol):
    def send(self, obj: Any) -> None: ...
    def recv(self) -> Any: ...


class _Flag(Protocol):
    def is_set(self) -> bool: ...


class StopFlag:
    """A stop flag shared with the worker, without a lock.

    multiprocessing.Event takes a lock shared by both processes; a worker killed (SIGKILL) while it
    holds that lock in `is_set()` would leave `set()` blocked forever in the parent. A byte of shared
    memory needs no lock: one side writes it, the other reads it between tokens.
    """

    def __init__(self, value: Any) -> None:
        self._value = value  # multiprocessing RawValue("b")

    def set(self) -> None:
        self._value.value = 1

    def clear(self) -> None:
        self._value.value = 0

    def is_set(self) -> bool:
        return bool(self._value.value)

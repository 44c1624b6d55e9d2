"""One local model run from a terminal: what `chat`, `complete`, `fim` and `sweep` share.

`ModelRun.open` checks the file, reads its header, places the layers with the fit estimate (refusing
a model that does not fit unless forced), starts the engine's worker and the template renderer, and
waits for the load; every failure is one line on stderr and an exit code. `stream` runs one message
of a `Conversation` to its end: the answer on stdout, thinking and stats on stderr (dimmed on a
terminal), or one JSON object with --json. The sampling flags are the same for every command.
`open_remote` puts a model on an OpenAI-compatible server in the local one's place (`--endpoint`):
nothing loads here, the conversation sends messages, and the same `stream` shows the answer.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from explorer.chat.conversation import AnswerText, Conversation, EngineError, Finished, ThinkingText
from explorer.chat.records import MessageStats, StopReason
from explorer.chat.sandbox import RenderLimits, TemplateRenderer, prompt_cap
from explorer.chat.stats import format_stats
from explorer.chat.templates import ChatTemplateError, SamplingPreset, preset_for
from explorer.cli.args import SAMPLING_FLAGS
from explorer.engine.client import Crashed, EngineClient, Loaded, LoadFailed, LoadProgress
from explorer.engine.remote import RemoteClient
from explorer.fit.estimate import FitEstimate, Verdict, estimate_fit
from explorer.fit.schedule import n_gpu_layers_for
from explorer.gguf.model_info import ModelInfo, inspect_model
from explorer.gguf.reader import GGUFError
from explorer.gguf.variant import Variant, guess_variant
from explorer.hardware.facts import Hardware

DIM, RESET = "\033[2m", "\033[0m"
TEMPLATE_SECONDS = 5.0  # the longest a model's chat template may take to render a prompt



def sampling_from(args: argparse.Namespace, thinking: bool, **fixed: float) -> SamplingPreset | None:
    """The preset with the flags given applied (None when none was given); ValueError, one line, when a
    value is out of range."""
    given = {name: getattr(args, name) for name, _, _ in SAMPLING_FLAGS if getattr(args, name, None) is not None}
    given.update(fixed)
    if not given:
        return None
    return replace(preset_for(thinking), **given).check()


@dataclass
class Answer:
    thinking: str
    answer: str
    stats: MessageStats


class ModelRun:
    """One model loaded for a command (see the module's doc); `close` ends the worker and the renderer."""

    def __init__(self, err: TextIO | None = None, stop: threading.Event | None = None) -> None:
        self.err = err or sys.stderr
        self.stop = stop  # set: a load in progress gives up, a message in progress stops
        self.dim = self.err.isatty()
        self.client: EngineClient | RemoteClient = EngineClient()
        self.renderer = TemplateRenderer()
        self.info: ModelInfo | None = None
        self.remote: RemoteClient | None = None  # open_remote: the model is on a server
        self.remote_variant: Variant | None = None  # what its name says it is (None: the name does not say)
        self.loaded: Loaded | None = None
        self.calibrate: tuple[Hardware, FitEstimate] | None = None  # set: answers calibrate the predictions

    def note(self, text: str) -> None:
        self.err.write(f"{DIM}{text}{RESET}\n" if self.dim else f"{text}\n")
        self.err.flush()

    def open(self, path: Path, *, ctx: int, threads: int | None, seed: int, force: bool,
             describe: Callable[[ModelInfo], str] = lambda info: "", n_gpu_layers: int | None = None) -> int:
        """0 once the model is loaded, else the exit code (the reason is on stderr). `n_gpu_layers`: the
        placement of a plan that loads it beside others (default: the estimate for it alone)."""
        if not path.is_file():
            self.note(f"error: {'not a regular file' if path.exists() else 'no such file'}: {path}")
            return 2
        try:
            info = inspect_model(path, fallback=Variant.INSTRUCT_2507)
        except GGUFError as exc:
            self.note(f"error: {path.name} is not a readable GGUF: {exc}")
            return 1
        from explorer.hardware.probe import probe_hardware

        hw = probe_hardware(path.parent)
        fit = estimate_fit(info.shape, hw, ctx=ctx)
        if fit.verdict is Verdict.NO_FIT and not force:
            self.note(f"error: {path.name} at {ctx} tokens of context {fit.summary}. Use a smaller --ctx, "
                      "or --force to load it anyway.")
            return 1
        self.note(f"{path.name}: {info.variant.label}, {fit.summary}{describe(info)}")
        self.info = info
        layers = n_gpu_layers_for(fit) if n_gpu_layers is None else n_gpu_layers
        # Measured alone and placed as the estimate placed it: its speed tells how good the prediction is.
        self.calibrate = (hw, fit) if layers == n_gpu_layers_for(fit) else None
        self.client.start(path, n_ctx=ctx, n_gpu_layers=layers, n_threads=threads, seed=seed)
        with contextlib.suppress(ChatTemplateError):  # while the model loads; a failure shows at the render
            self.renderer.start()
        self.loaded = self._wait_loaded()
        return 0 if self.loaded is not None else 1

    def open_file(self, args: argparse.Namespace, describe: Callable[[ModelInfo], str] = lambda info: "") -> int:
        """`open` with the flags every model command has (add_model_args): file, --ctx, --threads, --seed,
        --force."""
        return self.open(args.file, ctx=args.ctx, threads=args.threads, seed=args.seed, force=args.force,
                         describe=describe)

    def open_remote(self, url: str, model: str, *, api_key: str | None, soft_switch: bool = True) -> int:
        """0 once the server at `url` is found offering `model`, else the exit code (the reason is on stderr,
        one line, never the key)."""
        try:
            client = RemoteClient(url, model, api_key=api_key, soft_switch=soft_switch)
        except ValueError as exc:
            self.note(f"error: {exc}")
            return 2
        self.client = self.remote = client
        self.remote_variant = guess_variant(model)
        kind = self.remote_variant.label if self.remote_variant is not None else "variant unknown from its name"
        self.note(f"{model} at {client.url}: {kind}; no local memory used")
        client.start()
        self.loaded = self._wait_loaded()
        return 0 if self.loaded is not None else 1

    @property
    def variant(self) -> Variant:
        """The model's variant: from the file, or from a remote model's name (a name that does not say is
        treated as a model that does not think on request: thinking the server sends still shows)."""
        if self.info is not None:
            return self.info.variant
        return self.remote_variant or Variant.INSTRUCT_2507

    def conversation(self, **kw: Any) -> Conversation:
        """A conversation on the loaded model, its template rendered by this run's renderer."""
        if self.remote is not None:
            return Conversation(self.remote, template=None, variant=self.variant, **kw)
        assert self.info is not None and self.loaded is not None
        limits = RenderLimits(seconds=TEMPLATE_SECONDS, max_prompt_bytes=prompt_cap(self.loaded.n_ctx))
        return Conversation(self.client, template=self.info.template, variant=self.info.variant,
                            n_ctx=self.loaded.n_ctx, render_limits=limits, renderer=self.renderer, **kw)

    def close(self) -> None:
        self.client.unload()
        if self.remote is not None:
            self.remote.close()
        self.renderer.close()

    @classmethod
    def guarded(cls, body: Callable[[ModelRun], int]) -> int:
        """`body(run)`'s exit code; Ctrl+C is "interrupted" and 130; the model is unloaded either way."""
        run = cls()
        try:
            return body(run)
        except KeyboardInterrupt:
            run.note("interrupted")
            return 130
        finally:
            run.close()

    def _wait_loaded(self) -> Loaded | None:
        t0 = time.monotonic()
        while True:
            if self.stop is not None and self.stop.is_set():
                self.note("error: stopped while loading")
                return None
            for ev in self.client.poll(0.2):
                if isinstance(ev, LoadProgress):
                    if self.dim:
                        self.err.write(f"\r{DIM}loading… {ev.fraction:.0%}{RESET}")
                elif isinstance(ev, Loaded):
                    if self.dim:
                        self.err.write("\r")
                    self.note("the server offers it" if self.remote is not None else
                              f"loaded in {ev.load_seconds:.1f} s")
                    return ev
                elif isinstance(ev, (LoadFailed, Crashed)):
                    self.note(f"error: {ev.message}")
                    return None
            if time.monotonic() - t0 > 600:
                self.note("error: the model did not load in 10 minutes")
                return None

    def stream(self, conv: Conversation, start: Callable[[], None], out: TextIO, *, echo: bool,
               show_stats: bool = False) -> Answer | None:
        """Start a message with `start()` and pump it to its end; with `echo` the thinking goes to stderr
        and the answer to stdout as they come. None when it could not start (the reason is on stderr)."""
        try:
            start()
        except (ChatTemplateError, ValueError) as exc:  # a rejected template or request: one line
            self.note(f"error: {exc}")
            return None
        thinking: list[str] = []
        answer: list[str] = []
        stopping = False
        while True:
            if not stopping and self.stop is not None and self.stop.is_set():
                stopping = True
                conv.stop()  # ends as Finished with stop reason "stopped"
            for up in conv.pump(0.1):
                if isinstance(up, ThinkingText):
                    thinking.append(up.text)
                    if echo:
                        self.err.write(f"{DIM}{up.text}{RESET}" if self.dim else up.text)
                        self.err.flush()
                elif isinstance(up, AnswerText):
                    if echo and not answer and thinking:
                        self.err.write("\n")
                    answer.append(up.text)
                    if echo:
                        out.write(up.text)
                        out.flush()
                elif isinstance(up, Finished):
                    if echo and answer:
                        out.write("\n")
                        out.flush()
                    elif echo and thinking and not thinking[-1].endswith("\n"):
                        self.err.write("\n")  # stopped inside the thinking: the stats on a line of their own
                    if echo or show_stats:
                        self.note(format_stats(up.stats))
                    self._record_speed(up.stats)
                    return Answer("".join(thinking), "".join(answer), up.stats)
                elif isinstance(up, EngineError):
                    self.note(f"error: {up.message}")
                    return None


    def _record_speed(self, stats: MessageStats) -> None:
        """Keep the answer's generation speed for the calibration (best effort, never fails the answer)."""
        if self.calibrate is None or self.info is None or stats.stop_reason not in (StopReason.STOP,
                                                                                     StopReason.LENGTH):
            return
        from explorer.fit.calibration import measurement, record

        hw, fit = self.calibrate
        m = measurement(self.info.path.name, self.info.shape, hw, fit, tokens=stats.n_tokens,
                        tokens_per_s=stats.tokens_per_s)
        if m is not None:
            record(hw, m)


def write_json(out: TextIO, record: dict[str, Any]) -> None:
    out.write(json.dumps(record, ensure_ascii=False) + "\n")
    out.flush()


def exit_code(answer: Answer | None) -> int:
    return 1 if answer is None or answer.stats.stop_reason is StopReason.ERROR else 0

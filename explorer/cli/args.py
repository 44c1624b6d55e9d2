"""The command line's argument types and shared flags: light (no engine, no chat stack), so that
building the parser stays fast; the commands import what they run."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

SAMPLING_FLAGS = (("temperature", float, "0 is greedy"), ("top_p", float, ""), ("top_k", int, "0 is off"),
                  ("min_p", float, ""), ("presence_penalty", float, "Qwen suggests 0 to 2; 1.5 for quantized "
                                                                   "models that repeat"),
                  ("repeat_penalty", float, "1 is off"))


def _whole(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be {low} or more, not {value}")
    return value


def positive_int(text: str) -> int:
    return _whole(text, 1)


def non_negative_int(text: str) -> int:
    return _whole(text, 0)


def add_model_args(p: argparse.ArgumentParser, *, ctx_default: int, parse_ctx: Callable[[str], int]) -> None:
    p.add_argument("--ctx", type=parse_ctx, default=ctx_default,
                   help=f"context length (default {ctx_default // 1024}k)")
    p.add_argument("--max-tokens", type=positive_int, default=2048)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=positive_int, default=None)
    p.add_argument("--force", action="store_true", help="load even when the fit estimate says it does not fit")
    p.add_argument("--json", action="store_true", help="one JSON object per answer on stdout")


def add_sampling_args(p: argparse.ArgumentParser, *, skip: tuple[str, ...] = ()) -> None:
    """--temperature, --top-p, ... (unset: Qwen's preset for the thinking mode)."""
    for name, kind, hint in SAMPLING_FLAGS:
        if name not in skip:
            p.add_argument("--" + name.replace("_", "-"), type=kind, default=None,
                           help=f"{hint} (default: Qwen's preset)" if hint else "default: Qwen's preset")


def read_text_arg(value: str) -> str:
    """TEXT, or @FILE for a file's contents (@@ for a text that starts with @)."""
    if value.startswith("@@"):
        return value[1:]
    if value.startswith("@"):
        try:
            return Path(value[1:]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise argparse.ArgumentTypeError(f"cannot read {value[1:]}: {exc}") from exc
    return value


MODES = {"chat": "chatroom", "chatroom": "chatroom", "free": "free-form", "free-form": "free-form",
         "freeform": "free-form"}


def parse_modes(text: str) -> list[str]:
    """--mode: 'chat', 'free-form' or both ('chat,free-form') -> the PaneMode values."""
    out = []
    for word in (w.strip().lower() for w in text.split(",") if w.strip()):
        if word not in MODES:
            raise argparse.ArgumentTypeError(f"{word!r} is not a mode: chat or free-form")
        out.append(MODES[word])
    return out


def parse_floats(text: str) -> list[float]:
    """'0,0.6,1.0' -> [0.0, 0.6, 1.0]."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of numbers, e.g. 0,0.6,1.0") from None
    if not values:
        raise argparse.ArgumentTypeError("give at least one value")
    return values


def add_escalation_args(p: argparse.ArgumentParser) -> None:
    """chat's --escalate-to and --auto (seed 004's hybrid deployment, `explorer.cli.escalate`)."""
    p.add_argument("--escalate-to", type=Path, default=None, metavar="THINKING_FILE",
                   help="a Thinking-2507 or hybrid GGUF that answers again when asked (/escalate), or by itself "
                        "with --auto; the fast model then answers without thinking")
    p.add_argument("--auto", action="store_true",
                   help="escalate by itself when the question looks like multi-step work or the fast answer hedges")


def add_explore_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser], *, ctx_default: int,
                        parse_ctx: Callable[[str], int]) -> None:
    c = sub.add_parser("complete", help="free-form completion: the text exactly as typed, no chat template")
    c.add_argument("file", type=Path, help="the GGUF")
    c.add_argument("text", nargs="?", help="the text to continue (default: all of stdin)")
    add_model_args(c, ctx_default=ctx_default, parse_ctx=parse_ctx)
    add_sampling_args(c)

    f = sub.add_parser("fim", help="fill in the middle between a prefix and a suffix (Coder models)")
    f.add_argument("file", type=Path, help="the GGUF")
    f.add_argument("--prefix", type=read_text_arg, required=True, help="the code before the gap: TEXT or @FILE")
    f.add_argument("--suffix", type=read_text_arg, default="", help="the code after it: TEXT or @FILE (may be empty)")
    f.add_argument("--whole", action="store_true", help="print prefix + middle + suffix (default: the middle)")
    add_model_args(f, ctx_default=ctx_default, parse_ctx=parse_ctx)
    add_sampling_args(f)

    s = sub.add_parser("sweep", help="one prompt at several temperatures, top-p values or modes; the model loads once")
    s.add_argument("file", type=Path, help="the GGUF")
    s.add_argument("prompt")
    s.add_argument("--temperature", type=parse_floats, default=None, help="values to sweep, e.g. 0,0.6,1.0,1.5")
    s.add_argument("--top-p", type=parse_floats, default=None, help="values to sweep, e.g. 0.5,0.8,0.95")
    s.add_argument("--mode", type=parse_modes, default=None,
                   help="chat or free-form, or both to sweep (chat,free-form); default: the model's own")
    s.add_argument("--no-think", dest="thinking", action="store_false", default=True,
                   help="thinking off (hybrid models)")
    add_model_args(s, ctx_default=ctx_default, parse_ctx=parse_ctx)
    add_sampling_args(s, skip=("temperature", "top_p"))


def add_probe_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], *, ctx_default: int,
                     parse_ctx: Callable[[str], int]) -> None:
    p = sub.add_parser("probe", help="run a probe set (questions with checks) through GGUF files; the totals table")
    p.add_argument("files", nargs="*", type=Path, metavar="FILE", help="the GGUFs to compare")
    p.add_argument("--set", dest="probe_set", default="seed003-chatroom", metavar="NAME|PATH",
                   help="a built-in or saved set by name, or a .toml file (default: seed003-chatroom)")
    p.add_argument("--list", action="store_true", help="list the built-in and saved probe sets")
    p.add_argument("--json", type=Path, default=None, metavar="OUT", help="write the whole run as JSON")
    p.add_argument("--csv", type=Path, default=None, metavar="OUT", help="write one CSV row per answer")
    p.add_argument("--md", type=Path, default=None, metavar="OUT", help="write a Markdown report")
    think = p.add_mutually_exclusive_group()
    think.add_argument("--think", dest="thinking", action="store_true", default=None,
                       help="thinking on (hybrid models; default: the model's own)")
    think.add_argument("--no-think", dest="thinking", action="store_false", help="thinking off (hybrid models)")
    p.add_argument("--ctx", type=parse_ctx, default=ctx_default,
                   help=f"context length (default {ctx_default // 1024}k)")
    p.add_argument("--max-tokens", type=positive_int, default=1024, help="per answer (default 1024)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=positive_int, default=None)
    p.add_argument("--force", action="store_true", help="load even when the fit estimate says it does not fit")
    add_sampling_args(p)

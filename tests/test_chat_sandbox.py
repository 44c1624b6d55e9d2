"""Hostile chat templates (issue 10): rendered in a child process with a time, memory and size limit,
every failure one line. Small limits keep these fast."""

from __future__ import annotations

import os
import signal
import time

import pytest

from explorer.chat.conversation import Conversation
from explorer.chat.sandbox import ChatTemplateTimeout, RenderLimits, TemplateRenderer, prompt_cap, render_isolated
from explorer.chat.templates import ChatTemplateError, describe_render_error, render_prompt
from explorer.engine.messages import Event
from explorer.errors import LIMIT
from explorer.gguf.variant import Variant
from explorer.testing.models import template_text

MESSAGES = [{"role": "user", "content": "hi"}]
LIMITS = RenderLimits(seconds=1.0, memory_bytes=256 * 1024**2, max_prompt_bytes=64 * 1024)
GENEROUS = 20.0  # seconds: "ends", not how fast

POWER = "{% set n = messages|length %}{{ (n+9)**(10**9) }}"  # minutes of big-int arithmetic, GIL held
NESTED = "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"  # 10^10 bytes
HUGE = "{{ 'x'*10**9 }}"  # 1 GB in one expression (Jinja folds it at compile time)
BIG_RANGE = "{% for i in range(10**9) %}{% endfor %}"  # the sandbox's OverflowError
RECURSIVE = "{% macro f(n) %}{{ f(n+1) }}{% endmacro %}{{ f(0) }}"  # RecursionError


def failure(template: str, limits: RenderLimits = LIMITS) -> ChatTemplateError:
    start = time.monotonic()
    with pytest.raises(ChatTemplateError) as e:
        render_isolated(template, MESSAGES, enable_thinking=None, limits=limits)
    assert time.monotonic() - start < GENEROUS
    message = str(e.value)
    assert "\n" not in message and "Traceback" not in message, message
    return e.value


def test_a_real_template_renders_as_in_process() -> None:
    template = template_text("hybrid")
    assert template is not None
    for thinking in (True, False):
        assert render_isolated(template, MESSAGES, enable_thinking=thinking) == render_prompt(
            template, MESSAGES, enable_thinking=thinking)


def test_a_template_that_computes_for_minutes_is_stopped_at_the_time_limit() -> None:
    e = failure(POWER, RenderLimits(seconds=0.5))
    assert isinstance(e, ChatTemplateTimeout)
    assert str(e) == "the model's chat template did not finish in 0.5 s"


def test_nested_loops_stop_when_the_prompt_outgrows_the_context() -> None:
    e = failure(NESTED)
    assert "larger than 65,536 characters" in str(e)


def test_a_gigabyte_string_hits_the_memory_limit() -> None:
    e = failure(HUGE, RenderLimits(seconds=10, memory_bytes=256 * 1024**2))
    assert "more than 256 MiB of memory" in str(e)


def test_the_sandbox_own_errors_are_one_line() -> None:
    assert "too large" in str(failure(BIG_RANGE))
    assert "recursed too deeply" in str(failure(RECURSIVE))
    assert "syntax error at line 1" in str(failure("{% if %}"))
    assert str(failure("{{ raise_exception('no tools here') }}")) == "chat template failed: no tools here"


LONG_ERRORS = [
    "{{ raise_exception('x' * 10**7) }}",  # 10 MB in one message
    "{{ raise_exception('line one\\n' * 10**5) }}",  # many lines
    "{% set n = 10**7 %}{{ raise_exception(('ab ' * n)|string) }}",
    "{{ undefined_thing.x" + "y" * 10**5 + " }}",  # a syntax-ish error that quotes a long name
]


@pytest.mark.parametrize("template", LONG_ERRORS)
def test_a_template_error_message_is_one_bounded_line(template: str) -> None:
    limit = LIMIT + 1  # the line, or its first LIMIT - 1 characters and "…"
    e = failure(template, RenderLimits(seconds=10, memory_bytes=512 * 1024**2, max_prompt_bytes=64 * 1024))
    assert len(str(e)) <= limit, len(str(e))
    with pytest.raises(ChatTemplateError) as in_process:
        render_prompt(template, MESSAGES, enable_thinking=None)
    assert len(str(in_process.value)) <= limit and "\n" not in str(in_process.value)
    assert len(describe_render_error(ValueError("z" * 10**6))) <= limit
    assert len(str(ChatTemplateError("w\n" * 10**5))) <= limit and "\n" not in str(ChatTemplateError("a\nb"))


def test_in_process_rendering_wraps_every_failure_too() -> None:
    for template, words in [(BIG_RANGE, "too large"), (RECURSIVE, "recursed too deeply")]:
        with pytest.raises(ChatTemplateError, match=words):
            render_prompt(template, MESSAGES, enable_thinking=None)


def test_the_prompt_cap_follows_the_context() -> None:
    assert prompt_cap(32768) == 32 * 32768  # characters
    assert prompt_cap(16) == 64 * 1024  # never below a small floor


def test_a_token_dense_prompt_that_fits_the_context_is_not_refused() -> None:
    """Qwen's tokenizer makes one token of 16 dashes (and of longer runs of spaces): a prompt of 16
    characters a token still fits the context, so the cap must not refuse it."""
    n_ctx = 8192
    dashes = [{"role": "user", "content": "-" * (16 * (n_ctx - 100))}]
    template = template_text("hybrid")
    limits = RenderLimits(max_prompt_bytes=prompt_cap(n_ctx))
    assert len(render_isolated(template, dashes, enable_thinking=True, limits=limits)) > 16 * (n_ctx - 100)
    with pytest.raises(ChatTemplateError, match=r"larger than [\d,]+ characters"):
        render_isolated(template, [{"role": "user", "content": " " * (prompt_cap(n_ctx) + 1)}],
                        enable_thinking=True, limits=limits)


class NoEngine:
    """A conversation whose template fails never reaches the engine."""

    def generate(self, request_id: str, prompt: str, **_: object) -> None:
        raise AssertionError("a prompt was sent")

    def stop(self) -> None:
        pass

    def poll(self, timeout: float | None = 0.0) -> list[Event]:
        return []


def test_a_conversation_with_a_runaway_template_stays_as_it_was() -> None:
    conv = Conversation(NoEngine(), template=POWER, variant=Variant.HYBRID, thinking=True,
                        render_limits=RenderLimits(seconds=0.5))
    with pytest.raises(ChatTemplateTimeout):
        conv.send("hi")
    assert conv.messages == [] and not conv.busy
    # By default the prompt may be as large as the context holds, at 32 characters a token.
    sized = Conversation(NoEngine(), template=NESTED, variant=Variant.HYBRID, thinking=True, n_ctx=512)
    assert sized.render_limits.max_prompt_bytes == prompt_cap(512)
    with pytest.raises(ChatTemplateError, match="larger than"):
        sized.send("hi")


def test_one_renderer_process_serves_many_renders_and_replaces_a_killed_or_exhausted_one() -> None:
    template = template_text("hybrid")
    assert template is not None
    with TemplateRenderer(memory_bytes=256 * 1024**2) as renderer:
        renderer.start()
        for thinking in (True, False, True):
            assert renderer.render(template, MESSAGES, enable_thinking=thinking) == render_prompt(
                template, MESSAGES, enable_thinking=thinking)
        assert renderer.starts == 1  # the same child, its compiled template kept

        with pytest.raises(ChatTemplateTimeout):
            renderer.render(POWER, MESSAGES, enable_thinking=None, limits=RenderLimits(seconds=0.5))
        assert renderer.render(template, MESSAGES, enable_thinking=True)  # a fresh child
        assert renderer.starts == 2

        with pytest.raises(ChatTemplateError, match="MiB of memory"):
            renderer.render(HUGE, MESSAGES, enable_thinking=None,
                            limits=RenderLimits(seconds=10, memory_bytes=256 * 1024**2))
        # The child said it is exiting: it is gone already (no window in which the next render reuses it).
        assert renderer.pid is None
        assert renderer.render(template, MESSAGES, enable_thinking=False)
        assert renderer.starts == 3

        with pytest.raises(ChatTemplateError, match=r"RecursionError|recurs"):
            renderer.render(RECURSIVE, MESSAGES, enable_thinking=None, limits=LIMITS)
        assert renderer.render(template, MESSAGES, enable_thinking=False)
        assert renderer.starts == 3  # an ordinary template error keeps the child


def test_every_render_after_running_out_of_memory_gets_a_fresh_child() -> None:
    """The reviewer's race: the child exits after answering, so a render right after must not reuse it."""
    template = template_text("hybrid")
    assert template is not None
    with TemplateRenderer(memory_bytes=256 * 1024**2) as renderer:
        for _ in range(3):
            with pytest.raises(ChatTemplateError, match="MiB of memory"):
                renderer.render(HUGE, MESSAGES, enable_thinking=None,
                                limits=RenderLimits(seconds=10, memory_bytes=256 * 1024**2))
            assert renderer.pid is None
            assert renderer.render(template, MESSAGES, enable_thinking=True)
        assert renderer.starts == 4  # the first child, then one after each exhausted one


def test_ctrl_c_in_the_terminal_does_not_end_the_renderer() -> None:
    """SIGINT to the process group (Ctrl+C in `qwen3-explorer chat`) leaves the renderer serving."""
    template = template_text("hybrid")
    assert template is not None
    with TemplateRenderer() as renderer:
        assert renderer.render(template, MESSAGES, enable_thinking=True)  # the child is serving now
        pid = renderer.pid
        assert pid is not None
        os.kill(pid, signal.SIGINT)
        for thinking in (False, True):
            assert renderer.render(template, MESSAGES, enable_thinking=thinking) == render_prompt(
                template, MESSAGES, enable_thinking=thinking)
        assert renderer.starts == 1 and renderer.pid == pid

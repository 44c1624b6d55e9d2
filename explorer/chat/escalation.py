"""Escalation (seed 004's hybrid deployment): a fast, non-thinking model answers first, and a hard question
goes on to a thinking model, which answers the same conversation; both answers are shown with their cost.

What the chat pane and `qwen3-explorer chat FAST --escalate-to THINKING` share, free of models and Qt:

- `should_escalate(question, answer)`: the automatic rule. It fires on a question that looks like
  multi-step work, or on a fast answer that hedges, and says which rule fired and on what text
  (`Reason`). The rules, in the order they are tried (the first that matches is the reason):

  ============== ===============================================================================
  arithmetic     a number, an operator and a number ("17 * 23", "7 times 8", "2^10"); or two
                 numbers and a word that asks for a quantity ("how many", "how much", "total",
                 "average", "calculate"...); or a number and a maths word ("divisors of 196",
                 "is 91 prime"). Dates, ranges and phone numbers ("2024-05-01", "10-12",
                 "555-1234") and "24/7" are not arithmetic.
  proof          prove, derive, "show that", "proof of/that".
  step by step   "step by step" (also hyphenated), "show your work(ing)".
  code error     a traceback, an error line ("TypeError", "error:", "Segmentation fault"), a
                 CamelCase exception name ("NullPointerException"); or code (a fenced block, or
                 two indented lines) together with "fix", "bug", "doesn't work", "broken",
                 "crash"...
  hedging        the fast answer hedges: "I'm not sure", "I think", "it depends", "might be",
                 "possibly", "hard to say", "I don't know"... (quoted text and code are not read).
  refusal        the fast answer declines: "I can't help", "I'm unable to", "as an AI"...
  empty answer   the fast answer is empty (or only whitespace).
  ============== ===============================================================================

  The rules are conservative on purpose: a wrong escalation costs the thinking model's time, so
  greetings, thanks, small talk and a plain factual question ("What is the capital of France?")
  never fire. "asked" is the reason when the person asked for the escalation themselves.

- `escalation_request(messages)`: what the thinking model is sent. Every turn before the latest
  question (the system prompt, the earlier questions and the fast model's earlier answers) is its
  history, then the question again; the fast answer to that question is left out, so the thinking
  model answers fresh. Why fresh: the point is a second, independent answer to compare with the
  first, and a model shown a draft tends to keep it, mistakes included (the seed forwards the
  request, not the draft); a hedge, a refusal or an empty answer adds nothing; and a draft would
  need a new turn ("check this answer") that is not the person's question. A hybrid soft switch
  at the end of a question ("/no_think", typed to keep the fast model fast) is dropped, or a hybrid
  thinking model would obey it and not think.

- `start_escalation(conversation, request)`: send it on a thinking pane's `Conversation`.
- `Cost` and `CostComparison`: time, tokens, thinking tokens and speed of each answer, and the
  one line "the thinking model took 4.1x the time and 812 thinking tokens".
- `can_escalate_to(variant)`, `refusal(name, variant)` and `best_target(candidates)`: which models
  can take an escalation (Thinking-2507 and hybrid), and which one a new pane should load.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from explorer.chat.records import Message, MessageStats, PaneMode
from explorer.chat.stats import format_duration
from explorer.chat.templates import Turn, history_for_template, soft_switch, thinking_mode
from explorer.fit.estimate import Verdict
from explorer.gguf.variant import Variant

__all__ = ["ESCALATE_COMMANDS", "Candidate", "Cost", "CostComparison", "EscalationRequest", "Reason", "Rule",
           "answer_reason", "best_target", "can_escalate_to", "escalation_request", "question_reason", "refusal",
           "should_escalate", "start_escalation"]

ESCALATE_COMMANDS = ("/escalate", "/ask-thinking")  # a chat line that asks for an escalation (CLI)


class Rule(str, enum.Enum):
    """Why an answer went to the thinking model (see the module's doc for what each one matches)."""

    ARITHMETIC = "arithmetic"
    PROOF = "proof"
    STEP_BY_STEP = "step by step"
    CODE_ERROR = "code error"
    HEDGING = "hedging"
    REFUSAL = "refusal"
    EMPTY = "empty answer"
    ASKED = "asked"  # the person asked for it (the pane's button, /escalate)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Reason:
    """The rule that fired and the text it matched ("" when there is none, as for an empty answer)."""

    rule: Rule
    match: str = ""

    def __str__(self) -> str:
        """'arithmetic (17 * 23)', 'empty answer'."""
        return f"{self.rule} ({self.match})" if self.match else str(self.rule)

    def to_json(self) -> dict[str, str]:
        return {"rule": self.rule.value, "match": self.match}


# --- the automatic rule ---------------------------------------------------------------------------

_I = re.IGNORECASE
_NUM = r"(?<![\w.])\d+(?:[.,]\d+)*(?:\.\d+)?%?"
# A number, an operator, a number (or an opening bracket, or a variable right after the operator).
_OPERATOR = re.compile(
    rf"{_NUM}\s*(?:[+*/×÷^=]|\*\*|\s-\s|\s(?:times|plus|minus|divided by|multiplied by|to the power of|mod|modulo)\s)"
    rf"\s*(?:\(\s*)?(?:\d+(?:[.,]\d+)*|[a-z]\b)", _I)
_NOT_ARITHMETIC = re.compile(r"\b\d{4}-\d{1,2}-\d{1,2}\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b|\b24/7\b")
_ANY_NUMBER = re.compile(_NUM)
_QUANTITY = re.compile(
    r"\b(?:how (?:many|much|long|far|fast|old|often)|calculate|compute|work out|total|sum|average|mean of|"
    r"percent(?:age)?|probability|odds|ratio|difference between|solve)\b", _I)
_MATHS_WORD = re.compile(
    r"\b(?:divisors?|divisible|factors?|factori[sz]e|factorial|primes|prime (?:numbers?|factors?)|"
    r"\d+\s+(?:a\s+)?prime|integral|derivative|equation|"
    r"remainder|modulo|square root|cube root|gcd|lcm|greatest common|least common|logarithm)\b", _I)
_PROOF = re.compile(r"\b(?:prove|proving|derive|deriving|show that|proof (?:of|that))\b", _I)
_STEP = re.compile(r"\bstep[\s-]by[\s-]step\b|\bshow your work(?:ing)?\b", _I)
_ERROR = re.compile(
    r"Traceback \(most recent call last\)|\b[A-Z]\w*(?:Error|Exception)\b|\b(?:[Ee]rror|[Ee]xception|[Ff]atal|panic):|"
    r"\bSegmentation fault\b|\bcore dumped\b|\bpanicked at\b|\bundefined reference to\b|\bstack trace\b", 0)
_FENCE = re.compile(r"```")
_INDENTED = re.compile(r"^(?: {4}|\t)\S", re.MULTILINE)
_BUG_WORDS = re.compile(
    r"\b(?:fix|fixed|bug|buggy|debug|broken|crash(?:es|ed)?|fails?|failing|wrong output|"
    r"(?:doesn['’]t|does not|don['’]t|won['’]t|isn['’]t|is not)(?: \w+)? (?:work|working|compile|run))\b", _I)
_HEDGES = re.compile(
    r"\b(?:I['’]?m not (?:sure|certain)|I am not (?:sure|certain)|not entirely sure|I think|I believe|it depends|"
    r"might be|possibly|hard to say|difficult to say|I don['’]?t know|I do not know|I['’]?m guessing|unclear)\b", _I)
_REFUSALS = re.compile(
    r"\b(?:I (?:can['’]?t|cannot|can not|won['’]?t|am unable to) (?:help|answer|assist|do that|provide|"
    r"solve|say)|I['’]?m unable to|I am unable to|as an AI\b|I['’]?m sorry, but I)", _I)
_QUOTED = re.compile(r"```.*?```|`[^`\n]*`|\"[^\"\n]*\"|“[^”\n]*”", re.DOTALL)


def should_escalate(question: str, answer: str | None = None) -> Reason | None:
    """The first rule that fires on `question` or on the fast `answer` (None: not answered yet, only the
    question is read), or None; see the module's doc for the rules."""
    reason = question_reason(question)
    if reason is not None or answer is None:
        return reason
    return answer_reason(answer)


def question_reason(question: str) -> Reason | None:
    """The rules that read the question: arithmetic, proof, step by step, code error."""
    for check in (_arithmetic, _proof, _step_by_step, _code_error):
        reason = check(question)
        if reason is not None:
            return reason
    return None


def answer_reason(answer: str) -> Reason | None:
    """The rules that read the fast answer: empty, refusal, hedging (code and quotations are not read)."""
    if not answer.strip():
        return Reason(Rule.EMPTY)
    prose = _QUOTED.sub(" ", answer)
    if m := _REFUSALS.search(prose):
        return Reason(Rule.REFUSAL, m.group(0))
    if m := _HEDGES.search(prose):
        return Reason(Rule.HEDGING, m.group(0))
    return None


def _arithmetic(text: str) -> Reason | None:
    plain = _NOT_ARITHMETIC.sub(" ", text)
    if m := _OPERATOR.search(plain):
        return Reason(Rule.ARITHMETIC, " ".join(m.group(0).split()))
    numbers = _ANY_NUMBER.findall(plain)
    if len(numbers) >= 2 and (m := _QUANTITY.search(plain)):
        return Reason(Rule.ARITHMETIC, f"{m.group(0)}, {', '.join(numbers[:3])}")
    if numbers and (m := _MATHS_WORD.search(plain)):
        return Reason(Rule.ARITHMETIC, f"{m.group(0)}, {numbers[0]}")
    return None


def _proof(text: str) -> Reason | None:
    m = _PROOF.search(text)
    return Reason(Rule.PROOF, m.group(0)) if m else None


def _step_by_step(text: str) -> Reason | None:
    m = _STEP.search(text)
    return Reason(Rule.STEP_BY_STEP, m.group(0)) if m else None


def _code_error(text: str) -> Reason | None:
    if m := _ERROR.search(text):
        return Reason(Rule.CODE_ERROR, m.group(0))
    has_code = bool(_FENCE.search(text)) or len(_INDENTED.findall(text)) >= 2
    if has_code and (m := _BUG_WORDS.search(_QUOTED.sub(" ", text))):
        return Reason(Rule.CODE_ERROR, f"code, {m.group(0)}")
    return None


# --- what the thinking model is sent ----------------------------------------------------------------


@dataclass(frozen=True)
class EscalationRequest:
    """The conversation for the thinking model: `history` (copies), then `question` (see the module's doc)."""

    history: tuple[Message, ...]
    question: str

    def template_messages(self) -> list[dict[str, str]]:
        """What the thinking model's chat template renders: the history's answers without their thinking."""
        turns = [Turn(m.role, m.content) for m in self.history] + [Turn("user", self.question)]
        return history_for_template(turns)


def escalation_request(messages: Sequence[Message]) -> EscalationRequest:
    """The request for the latest question of a chat conversation (`Conversation.messages`); ValueError when
    there is no question yet, or when it is a fill-in-the-middle one (it has no chat to escalate)."""
    last = next((i for i in range(len(messages) - 1, -1, -1) if messages[i].role == "user"), None)
    if last is None:
        raise ValueError("nothing to escalate yet: ask a question first")
    if messages[last].suffix is not None:
        raise ValueError("a fill-in-the-middle request can not be escalated to a chat model")
    history = tuple(replace(m, content=_without_switch(m.content)) if m.role == "user" else replace(m)
                    for m in messages[:last])
    return EscalationRequest(history, _without_switch(messages[last].content))


def _without_switch(text: str) -> str:
    """`text` without the hybrid soft switches at its end ("... /no_think" -> "...")."""
    while soft_switch(text) is not None:
        words = text.rstrip()
        cut = words.rfind(words.split()[-1])
        text = words[:cut].rstrip()
    return text


class Target(Protocol):
    """What `start_escalation` needs of a thinking pane's conversation (a `Conversation`)."""

    messages: list[Message]
    prompting: PaneMode

    @property
    def busy(self) -> bool: ...

    def send(self, user_text: str) -> None: ...


def start_escalation(target: Target, request: EscalationRequest) -> None:
    """Replace `target`'s messages with the request's history and send its question (the answer comes from
    `target.pump()` as for any message). RuntimeError when it is still answering; ValueError when it is not
    a chatroom; a template that rejects the conversation raises ChatTemplateError from `send`."""
    if target.busy:
        raise RuntimeError("the thinking pane is still answering; stop it first")
    if target.prompting is not PaneMode.CHATROOM:
        raise ValueError("escalation needs a chatroom pane (the conversation goes through the chat template)")
    target.messages[:] = [replace(m) for m in request.history]
    target.send(request.question)


# --- which model -------------------------------------------------------------------------------------


def can_escalate_to(variant: Variant | None) -> bool:
    """Thinking-2507 and hybrid models can think; Instruct-2507, Coder and Base never do."""
    return variant is not None and not thinking_mode(variant).never


def refusal(name: str, variant: Variant | None) -> str | None:
    """One line that says why `name` can not take an escalation, or None when it can."""
    if can_escalate_to(variant):
        return None
    if variant is None:
        return f"{name} is not a Qwen3 chat model: escalate to a Thinking-2507 or hybrid Qwen3 model"
    article = "an" if variant.label[0] in "AEIOU" else "a"
    what = f"{article} {variant.label} model, which never thinks"
    return f"{name} is {what}: escalate to a Thinking-2507 or hybrid Qwen3 model"


_VERDICT_RANK = {Verdict.FULL_GPU: 0, Verdict.PARTIAL: 1, Verdict.CPU_ONLY: 2}


@dataclass(frozen=True)
class Candidate:
    """A model on disk that a new thinking pane could load: its fit where it would run, its size in bytes."""

    label: str
    variant: Variant | None
    verdict: Verdict
    size: int


def best_target(candidates: Iterable[Candidate]) -> Candidate | None:
    """The model a new thinking pane should load: thinking-capable and fitting; the best placement first
    (all on the GPU before partly, before the CPU), then the largest file (more parameters reason
    better), then Thinking-2507 before hybrid (made for it). None when none fits."""
    usable = [c for c in candidates if can_escalate_to(c.variant) and c.verdict is not Verdict.NO_FIT]
    if not usable:
        return None
    return min(usable, key=lambda c: (_VERDICT_RANK[c.verdict], -c.size, c.variant is not Variant.THINKING_2507,
                                      c.label))


# --- what each answer cost --------------------------------------------------------------------------


@dataclass(frozen=True)
class Cost:
    """One answer's cost: wall seconds, tokens written (thinking included), thinking tokens, speed."""

    seconds: float
    tokens: int
    thinking_tokens: int
    tokens_per_s: float

    @classmethod
    def of(cls, stats: MessageStats, seconds: float | None = None) -> Cost:
        """From an answer's stats; `seconds` as measured by the caller (None: estimated from the stats, the
        first token's time plus the tokens at the measured speed)."""
        if seconds is None:
            seconds = stats.ttft_s + (stats.n_tokens / stats.tokens_per_s if stats.tokens_per_s > 0 else 0.0)
        return cls(seconds, stats.n_tokens, stats.thinking_tokens, stats.tokens_per_s)

    def line(self) -> str:
        """'1.20 s, 340 tokens (300 thinking), 283 tok/s'."""
        text = f"{format_duration(self.seconds)}, {self.tokens} token{'' if self.tokens == 1 else 's'}"
        if self.thinking_tokens:
            text += f" ({self.thinking_tokens} thinking)"
        if self.tokens_per_s > 0:
            text += f", {self.tokens_per_s:.0f} tok/s"
        return text

    def to_json(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "tokens": self.tokens, "thinking_tokens": self.thinking_tokens,
                "tokens_per_s": self.tokens_per_s}


@dataclass(frozen=True)
class CostComparison:
    """The fast answer's cost beside the thinking model's."""

    fast: Cost
    thinking: Cost

    @property
    def time_ratio(self) -> float | None:
        """The thinking answer's time over the fast one's; None when the fast one took no measurable time."""
        return self.thinking.seconds / self.fast.seconds if self.fast.seconds > 0 else None

    def summary(self) -> str:
        """'the thinking model took 4.1x the time and 812 thinking tokens'."""
        ratio = self.time_ratio
        took = f"{ratio:.1f}x the time" if ratio is not None else format_duration(self.thinking.seconds)
        n = self.thinking.thinking_tokens
        tokens = "no thinking tokens" if n == 0 else f"{n} thinking token{'' if n == 1 else 's'}"
        return f"the thinking model took {took} and {tokens}"

    def line(self) -> str:
        """Both costs and the summary, for a terminal: 'fast: ... · thinking: ... · the thinking model ...'."""
        return f"fast: {self.fast.line()} · thinking: {self.thinking.line()} · {self.summary()}"

    def to_json(self) -> dict[str, Any]:
        return {"fast": self.fast.to_json(), "thinking": self.thinking.to_json(), "time_ratio": self.time_ratio,
                "summary": self.summary()}

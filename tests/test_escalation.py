"""Escalation's core (no model): the automatic rule, the conversation the thinking model gets, the costs."""

from __future__ import annotations

import pytest

from explorer.chat.escalation import (
    Candidate,
    Cost,
    CostComparison,
    EscalationRequest,
    Reason,
    Rule,
    best_target,
    can_escalate_to,
    escalation_request,
    refusal,
    should_escalate,
    start_escalation,
)
from explorer.chat.records import Message, MessageStats, PaneMode
from explorer.fit.estimate import Verdict
from explorer.gguf.variant import Variant
from explorer.testing.scripted import DEFAULT_ANSWER

FIRES = [
    # multi-step arithmetic
    ("What is 17 * 23?", Rule.ARITHMETIC, "17 * 23"),
    ("what's 2+2", Rule.ARITHMETIC, "2+2"),
    ("What is 10 - 4?", Rule.ARITHMETIC, "10 - 4"),
    ("How much is 7 times 8?", Rule.ARITHMETIC, "7 times 8"),
    ("Is 2**10 bigger than 1000?", Rule.ARITHMETIC, "2**10"),
    ("Solve x^2 + 3x = 10", Rule.ARITHMETIC, "2 + 3"),
    ("I have 3 apples and eat 1. How many are left?", Rule.ARITHMETIC, "How many, 3, 1"),
    ("A train leaves at 60 km/h and another at 80 km/h; how long until they are 35 km apart?",
     Rule.ARITHMETIC, "how long, 60, 80, 35"),
    ("What are the divisors of 196?", Rule.ARITHMETIC, "divisors, 196"),
    ("Is 91 prime?", Rule.ARITHMETIC, "91 prime, 91"),
    # proofs
    ("Prove that the square root of two is irrational.", Rule.PROOF, "Prove"),
    ("Can you derive the quadratic formula?", Rule.PROOF, "derive"),
    ("Show that every tree with n nodes has n-1 edges", Rule.PROOF, "Show that"),
    # step by step
    ("Explain step by step how a compiler parses an expression", Rule.STEP_BY_STEP, "step by step"),
    ("Give me a step-by-step plan", Rule.STEP_BY_STEP, "step-by-step"),
    # code with an error
    ("Traceback (most recent call last):\n  File \"a.py\", line 1\nNameError: name 'x' is not defined",
     Rule.CODE_ERROR, "Traceback (most recent call last)"),
    ("Why do I get TypeError when I call len on a generator?", Rule.CODE_ERROR, "TypeError"),
    ("java keeps throwing NullPointerException in my loop", Rule.CODE_ERROR, "NullPointerException"),
    ("gcc says: main.c:3:5: error: expected ';'", Rule.CODE_ERROR, "error:"),
    ("Error: cannot find module 'left-pad'", Rule.CODE_ERROR, "Error:"),
    ("my program prints Segmentation fault", Rule.CODE_ERROR, "Segmentation fault"),
    ("```python\nfor i in range(3)\n    print(i)\n```\nWhy doesn't this work?", Rule.CODE_ERROR,
     "code, doesn't this work"),
    ("Please fix this:\n    total = 0\n    for x in xs: total =+ x\n", Rule.CODE_ERROR, "code, fix"),
]

CHIT_CHAT = [
    "hi", "Hello!", "hey there :)", "Good morning", "thanks!", "Thank you so much, that helped.", "How are you today?",
    "What's your name?", "Who are you?", "Tell me a joke", "Can you recommend a good book?", "Nice, see you later",
    # plain factual questions, some with a number in them
    "What is the capital of France?", "What is the capital of Singapore?", "What is the range of tanh?",
    "Why is the sky blue?", "Who won the 2018 World Cup?", "When did Apollo 11 land on the Moon?",
    "I have 2 cats, what should I name them?", "What do I pack for a trip to Rome?",
    # numbers that are not arithmetic, words that only look like a rule
    "My flight is on 2024-05-01 at 10:30, any tips?", "Is the shop open 24/7?", "call me at 555-1234",
    "Is the meeting on 12/05/2026 still on?", "I improved my essay, want to read it?",
    "I'm free with the exception of Mondays", "Error messages in old games were funny, weren't they?",
    "Do you have Amazon Prime 2 day delivery in Canada?", "I need to log 5 hours today",
    "Show me a photo of a cat", "Is this bug spray safe for kids?",
]


@pytest.mark.parametrize(("question", "rule", "match"), FIRES)
def test_multi_step_questions_escalate_and_say_which_rule(question: str, rule: Rule, match: str) -> None:
    reason = should_escalate(question)
    assert reason == Reason(rule, match)
    assert str(reason) == f"{rule.value} ({match})"


@pytest.mark.parametrize("question", CHIT_CHAT)
def test_chit_chat_and_plain_questions_do_not(question: str) -> None:
    assert should_escalate(question) is None
    assert should_escalate(question, "Sure! Here is a short, friendly answer.") is None


@pytest.mark.parametrize(("answer", "rule", "match"), [
    ("I'm not sure, but it is probably Canberra.", Rule.HEDGING, "I'm not sure"),
    ("I am not certain about that.", Rule.HEDGING, "I am not certain"),
    ("I think it was 1969.", Rule.HEDGING, "I think"),
    ("It depends on the altitude.", Rule.HEDGING, "It depends"),
    ("The answer might be 42.", Rule.HEDGING, "might be"),
    ("Possibly the second one.", Rule.HEDGING, "Possibly"),
    ("I don’t know.", Rule.HEDGING, "I don’t know"),
    ("I can't help with that request.", Rule.REFUSAL, "I can't help"),
    ("As an AI, I have no opinions.", Rule.REFUSAL, "As an AI"),
    ("I'm sorry, but I cannot do this.", Rule.REFUSAL, "I'm sorry, but I"),
    ("", Rule.EMPTY, ""),
    ("  \n ", Rule.EMPTY, ""),
])
def test_a_hedging_refusing_or_empty_fast_answer_escalates(answer: str, rule: Rule, match: str) -> None:
    assert should_escalate("What is the capital of Australia?", answer) == Reason(rule, match)
    assert should_escalate("What is the capital of Australia?") is None  # not answered yet: the question only


def test_a_confident_answer_and_hedges_inside_quotes_or_code_do_not() -> None:
    assert should_escalate("Why is the sky blue?", DEFAULT_ANSWER) is None
    assert should_escalate("Who said it?", 'Descartes wrote "I think, therefore I am".') is None
    assert should_escalate("Show an example", "```python\nmight_be = possibly()\n```") is None
    assert str(should_escalate("Hi", "")) == "empty answer"


def test_the_question_rule_comes_before_the_answer_rule() -> None:
    assert should_escalate("What is 3 + 4?", "I think 7") == Reason(Rule.ARITHMETIC, "3 + 4")


def conversation() -> list[Message]:
    stats = MessageStats(n_tokens=5)
    return [
        Message("system", "Be brief."),
        Message("user", "Hi! /no_think"),
        Message("assistant", "Hello.", "", stats),
        Message("user", "What is 17 * 23? /no_think"),
        Message("assistant", "About 400.", "", stats),
    ]


def test_the_thinking_model_gets_the_history_and_the_question_but_not_the_fast_answer() -> None:
    messages = conversation()
    request = escalation_request(messages)
    assert request.question == "What is 17 * 23?"  # the soft switch would stop a hybrid model thinking
    assert [(m.role, m.content) for m in request.history] == [
        ("system", "Be brief."), ("user", "Hi!"), ("assistant", "Hello.")]
    assert request.template_messages() == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi!"},
        {"role": "assistant", "content": "Hello.", "reasoning_content": ""},
        {"role": "user", "content": "What is 17 * 23?"},
    ]
    assert "About 400." not in str(request)
    request.history[1].content = "changed"  # copies: the fast conversation keeps its own
    assert messages[1].content == "Hi! /no_think"


def test_a_question_still_unanswered_or_stopped_is_the_one_escalated() -> None:
    messages = conversation()[:4]  # the fast answer is still being written (or failed)
    assert escalation_request(messages).question == "What is 17 * 23?"
    assert len(escalation_request(messages).history) == 3


def test_nothing_or_a_fill_in_the_middle_request_can_not_be_escalated() -> None:
    with pytest.raises(ValueError, match="ask a question first"):
        escalation_request([Message("system", "Be brief.")])
    with pytest.raises(ValueError, match="fill-in-the-middle"):
        escalation_request([Message("user", "def f(", suffix="):\n")])


class FakeTarget:
    def __init__(self, *, busy: bool = False, prompting: PaneMode = PaneMode.CHATROOM) -> None:
        self.messages = [Message("system", "the thinking pane's own"), Message("user", "old")]
        self.prompting = prompting
        self._busy = busy
        self.sent: list[tuple[list[Message], str]] = []

    @property
    def busy(self) -> bool:
        return self._busy

    def send(self, user_text: str) -> None:
        self.sent.append((list(self.messages), user_text))


def test_start_escalation_replaces_the_thinking_panes_history_and_sends_the_question() -> None:
    target = FakeTarget()
    request = escalation_request(conversation())
    start_escalation(target, request)
    [(history, question)] = target.sent
    assert [(m.role, m.content) for m in history] == [(m.role, m.content) for m in request.history]
    assert question == "What is 17 * 23?"
    with pytest.raises(RuntimeError, match="still answering"):
        start_escalation(FakeTarget(busy=True), request)
    with pytest.raises(ValueError, match="chatroom"):
        start_escalation(FakeTarget(prompting=PaneMode.FREE_FORM), request)


def test_only_thinking_capable_models_take_an_escalation() -> None:
    assert can_escalate_to(Variant.THINKING_2507) and can_escalate_to(Variant.HYBRID)
    for variant in (Variant.INSTRUCT_2507, Variant.CODER, Variant.BASE, None):
        assert not can_escalate_to(variant)
    assert refusal("x.gguf", Variant.HYBRID) is None
    assert refusal("x.gguf", Variant.INSTRUCT_2507) == (
        "x.gguf is an Instruct-2507 model, which never thinks: escalate to a Thinking-2507 or hybrid Qwen3 model")


def test_the_best_target_fits_best_then_is_largest_then_thinking_2507() -> None:
    gib = 1 << 30
    cands = [
        Candidate("instruct-big", Variant.INSTRUCT_2507, Verdict.FULL_GPU, 30 * gib),
        Candidate("hybrid-cpu", Variant.HYBRID, Verdict.CPU_ONLY, 20 * gib),
        Candidate("thinking-nofit", Variant.THINKING_2507, Verdict.NO_FIT, 60 * gib),
        Candidate("hybrid-gpu-4b", Variant.HYBRID, Verdict.FULL_GPU, 4 * gib),
        Candidate("thinking-gpu-4b", Variant.THINKING_2507, Verdict.FULL_GPU, 4 * gib),
        Candidate("hybrid-gpu-2b", Variant.HYBRID, Verdict.FULL_GPU, 2 * gib),
    ]

    def best(among: list[Candidate]) -> str | None:
        chosen = best_target(among)
        return chosen.label if chosen is not None else None

    assert best(cands) == "thinking-gpu-4b"
    assert best([c for c in cands if c.label != "thinking-gpu-4b"]) == "hybrid-gpu-4b"
    assert best([cands[1], cands[2]]) == "hybrid-cpu"
    assert best([cands[0], cands[2]]) is None


def test_the_cost_comparison_says_how_much_more_the_thinking_model_took() -> None:
    fast = Cost.of(MessageStats(ttft_s=0.1, tokens_per_s=100.0, n_tokens=90))  # estimated: 0.1 + 0.9 s
    assert fast.seconds == pytest.approx(1.0) and fast.tokens == 90 and fast.thinking_tokens == 0
    thinking = Cost.of(MessageStats(tokens_per_s=250.0, n_tokens=1000, thinking_tokens=812), seconds=4.1)
    cmp = CostComparison(fast, thinking)
    assert cmp.time_ratio == pytest.approx(4.1)
    assert cmp.summary() == "the thinking model took 4.1x the time and 812 thinking tokens"
    assert cmp.line() == ("fast: 1.00 s, 90 tokens, 100 tok/s · thinking: 4.10 s, 1000 tokens (812 thinking), "
                          "250 tok/s · the thinking model took 4.1x the time and 812 thinking tokens")
    assert cmp.to_json()["thinking"] == {"seconds": 4.1, "tokens": 1000, "thinking_tokens": 812,
                                         "tokens_per_s": 250.0}
    unmeasured = CostComparison(Cost(0.0, 0, 0, 0.0), Cost(2.5, 10, 1, 0.0))
    assert unmeasured.time_ratio is None
    assert unmeasured.summary() == "the thinking model took 2.50 s and 1 thinking token"
    assert CostComparison(fast, Cost(0.5, 3, 0, 0.0)).summary() == "the thinking model took 0.5x the time and no " \
                                                                  "thinking tokens"


def test_a_request_is_plain_data() -> None:
    request = EscalationRequest((), "Why?")
    assert request.template_messages() == [{"role": "user", "content": "Why?"}]

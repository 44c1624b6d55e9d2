"""What a person wants to do, and which Qwen3 variants serve it, in order of preference.

The mapping starts from seed 000's (code -> Coder, chatbot -> Instruct, multi-step problems ->
Thinking, research -> Base) and keeps only what holds for Qwen3: the variants share one architecture
and one vocabulary (the FIM tokens are in it for every variant), and differ in weights, training
and chat template. Each reason names where its facts come from (`source`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from explorer.gguf.variant import Variant


class Use(str, Enum):
    CODE = "code"
    CHAT = "chat"
    REASONING = "reasoning"
    RESEARCH = "research"


@dataclass(frozen=True)
class VariantChoice:
    """One variant that can serve a use, how a pane should run it, and why it is (or is not) first."""

    variant: Variant
    thinking: bool | None  # for the pane: None when the variant decides (it always or never thinks)
    why: str


@dataclass(frozen=True)
class UseInfo:
    use: Use
    title: str  # the button: "Write or complete code"
    blurb: str  # one line under it
    choices: tuple[VariantChoice, ...]  # most preferred first
    min_tokens_per_s: float  # the slowest predicted speed the guide still calls usable for this use
    compare_thinking: bool  # "Open in chat" opens thinking on next to thinking off
    source: str

    @property
    def variants(self) -> tuple[Variant, ...]:
        return tuple(c.variant for c in self.choices)

    def choice_for(self, variant: Variant) -> VariantChoice | None:
        return next((c for c in self.choices if c.variant is variant), None)


# Reading speed: about 238 words a minute for silent reading of English non-fiction (Brysbaert 2019,
# J. Memory and Language 109), about 4 words a second; with ~1.3 tokens per English word that is
# ~5 tokens/s. Slower than that, a person waits for the text instead of reading it.
READING_SPEED = 5.0
# A thinking model writes its reasoning before the answer, often a thousand tokens or more (Qwen's
# cards suggest room for 32,768 output tokens): at 10 tok/s a 2,000-token think already takes over
# three minutes, so the guide wants twice the reading speed there.
THINKING_SPEED = 10.0

_REPORT = "Qwen3 technical report, arXiv:2505.09388"
_QWEN_DOCS = "Qwen docs quickstart (qwen.readthedocs.io): Qwen3-Instruct-2507 supports only non-thinking mode"

USES: dict[Use, UseInfo] = {
    Use.CODE: UseInfo(
        use=Use.CODE, title="Write or complete code",
        blurb="Write, fix and explain code; fill in the middle of a file",
        choices=(
            VariantChoice(Variant.CODER, None,
                          "Qwen3-Coder is trained on code for agentic coding and tool calls, with a 256K native "
                          "context; it fills in the middle of a file from the raw <|fim_prefix|>…<|fim_suffix|>…"
                          "<|fim_middle|> prompt. It never thinks, so answers start at once."),
            VariantChoice(Variant.INSTRUCT_2507, None,
                          "The smallest Coder in the catalog is 30B-A3B (the other is 480B-A35B), so where it does "
                          "not fit the guide takes Instruct-2507: it writes and explains code in a chat and never "
                          "thinks, but fill-in-the-middle is what the Coder was trained for, not it."),
            VariantChoice(Variant.HYBRID, False,
                          "No Coder or Instruct-2507 fits: the original Qwen3 with thinking switched off "
                          "(enable_thinking=False) writes code in a chat; switch thinking on for a hard bug."),
        ),
        min_tokens_per_s=READING_SPEED, compare_thinking=False,
        source="Qwen3-Coder blog (qwenlm.github.io/blog/qwen3-coder, July 2025) and the "
               "Qwen3-Coder-30B-A3B-Instruct model card: non-thinking only, 256K native context, agentic coding; "
               "the FIM tokens are in the Qwen3 vocabulary and the raw FIM prompt works with Qwen3-Coder "
               "(QwenLM/Qwen3-Coder#543); " + _QWEN_DOCS),
    Use.CHAT: UseInfo(
        use=Use.CHAT, title="Chat and follow instructions",
        blurb="Answer questions, write and rewrite text, follow a system prompt",
        choices=(
            VariantChoice(Variant.INSTRUCT_2507, None,
                          "Instruct-2507 is the July 2025 instruction model: it supports only non-thinking mode "
                          "and writes no <think> block, so the answer comes at once."),
            VariantChoice(Variant.HYBRID, False,
                          "No Instruct-2507 fits (it comes in 4B, 30B-A3B, 80B-A3B (Qwen3-Next) and 235B-A22B): "
                          "the original Qwen3 "
                          "hybrid with thinking off (enable_thinking=False) chats the same way; its template "
                          "then writes an empty <think></think> block."),
        ),
        min_tokens_per_s=READING_SPEED, compare_thinking=False,
        source=_QWEN_DOCS + " and does not generate <think></think> blocks; " + _REPORT
               + ": hybrid thinking modes and enable_thinking"),
    Use.REASONING: UseInfo(
        use=Use.REASONING, title="Solve multi-step problems",
        blurb="Maths, logic and planning, with the reasoning written out",
        choices=(
            VariantChoice(Variant.THINKING_2507, True,
                          "Thinking-2507 always thinks: its template opens <think> and it reasons before it "
                          "answers. Its thinking cannot be switched off, so the guide opens it next to the "
                          "Instruct-2507 of the same size, the non-thinking model of the same release."),
            VariantChoice(Variant.HYBRID, True,
                          "No Thinking-2507 fits (it comes in 4B, 30B-A3B, 80B-A3B (Qwen3-Next) and 235B-A22B): "
                          "the original Qwen3 "
                          "thinks by default and stops when told enable_thinking=False, so one file opens twice, "
                          "thinking on next to thinking off."),
        ),
        min_tokens_per_s=THINKING_SPEED, compare_thinking=True,
        source=_REPORT + ": thinking and non-thinking modes in one model, /think and /no_think, the thinking "
               "budget; Qwen3-30B-A3B-Thinking-2507 model card: thinking only, the chat template adds <think>"),
    Use.RESEARCH: UseInfo(
        use=Use.RESEARCH, title="Study the pretrained model",
        blurb="See what pre-training alone gives: completion, no chat tuning",
        choices=(
            VariantChoice(Variant.BASE, None,
                          "Base is the pretrained model before any post-training: no instruction following, "
                          "chat or thinking was trained into it. Prompt it free-form with text to continue; a "
                          "Base GGUF may or may not carry a chat template (seed 003 also tries ChatML on it)."),
        ),
        min_tokens_per_s=READING_SPEED, compare_thinking=False,
        source=_REPORT + ": pre-training stages and the Base checkpoints; the Qwen3-*-Base model cards "
               "(Training Stage: Pretraining)"),
}


def use_info(use: Use | str) -> UseInfo:
    return USES[Use(use)]

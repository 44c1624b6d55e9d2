"""A tiny Qwen3 GGUF that chats by script: real llama.cpp, real template, readable output.

The random-weight test models (`explorer.testing.models`) write random bytes, which makes demos and
screenshots of the chat look broken. This model is a real ``qwen3`` GGUF with the hybrid chat
template and Qwen's special tokens, run by llama.cpp like any other, but its weights are built so
that generation follows a fixed script:

- thinking on (the prompt ends ``<|im_start|>assistant\\n``): ``<think>\\n`` THINKING ``\\n</think>\\n\\n``
  ANSWER, then ``<|im_end|>``;
- thinking off (the prompt ends with the empty block ``<think>\\n\\n</think>\\n\\n``): ANSWER, then
  ``<|im_end|>``.

Construction: a bigram model. Every layer's ``attn_output`` and ``ffn_down`` are zero, so each
position's residual stream stays its token embedding, and the logits are
``output · RMSNorm(token_embd[token])``: the next token depends on the current token only. So every
token of the script must occur once in it (one successor each). llama.cpp refuses a vocabulary
that holds a string twice, so repeats cannot get twin tokens; instead the script is cut into
word-sized pieces whose texts are all different (`script_pieces`: a word already used grows by the
next word, " the" -> " the air"). Each piece is one token, in GPT-2 byte-level form. No invisible
characters are added: the output is the script byte for byte.

The prompts end in two different tokens: ``\\n`` (the byte token Ċ) with thinking on, and ``\\n\\n``
(a merged token ĊĊ, from the merge ``Ċ Ċ`` this vocabulary adds) with thinking off; `entry_tokens`
gives their ids. Their successors are ``<think>`` and the first answer piece; the thinking script
ends with ``</think>`` followed by that same ĊĊ token, so both paths share the answer. A piece always
holds a non-space character, so none of them is Ċ or ĊĊ. Any prompt ending in Ċ or ĊĊ starts the
script: later turns of a chat repeat it.

The vocabulary also has BPE merges learned on the script (`learn_merges`), so a chat history that
quotes the answer tokenizes to about a token per word, as with Qwen's real vocabulary, instead of a
token per byte (a three-turn prompt: ~180 tokens, not ~1200). Some merged tokens are also script
pieces; that is harmless, as generation depends on the prompt's last token only, and the qwen2
pre-tokenizer always splits a prompt's final newlines off on their own.

Embeddings are random unit vectors (orthonormal for the script's tokens when ``n_embd`` allows);
the output row of each successor is the embedding of its predecessor, scaled so the right token
leads by tens of logits (`min_logit_margin`): Qwen's sampling presets (temperature 0.6/0.7, top-p,
top-k 20) follow the script every time. Weights are F32; the default file is about 1.8 MB.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from gguf import GGUFWriter, TokenType

from explorer.testing.models import (
    MERGES,
    SPECIAL_TOKENS,
    TinyModelSpec,
    _byte_tokens,
    add_metadata,
    ensure_file,
    spec_filename,
)

SCRIPT_VERSION = 3  # 3: the FIM tokens; <|fim_middle|> leads into the answer

DEFAULT_THINKING = (
    "The user wants to know why the sky is blue. Sunlight holds every colour, and air molecules are far "
    "smaller than its wavelengths, so they scatter it by Rayleigh scattering, which grows as 1/λ⁴. Blue "
    "is scattered several times more than red, so it reaches us from the whole sky. I'll explain that, "
    "give the ratio, and mention sunsets."
)

DEFAULT_ANSWER = (
    "The sky is blue because of **Rayleigh scattering**: the molecules in the air scatter short "
    "wavelengths of sunlight far more strongly than long ones.\n"
    "\n"
    "- Scattering grows as 1/λ⁴, so it strongly favours short wavelengths.\n"
    "- Blue light (about 450 nm) is scattered roughly 5.9 times more than red light (about 700 nm).\n"
    "- At sunset the light crosses much more air, so most of the blue is scattered away and reds remain.\n"
    "\n"
    "```python\n"
    "print(f\"{(700 / 450) ** 4:.2f}\")  # 5.86\n"
    "```\n"
    "\n"
    "Violet scatters even more, but sunlight carries less of it and our eyes are less sensitive to it."
)

NEWLINE_MERGE = "Ċ Ċ"  # "\n\n" becomes one token: the last token of a thinking-off prompt
LOGIT_TARGET = 40.0  # logit of the scripted successor (the others stay far below, see min_logit_margin)
MIN_MARGIN = 12.0  # refuse to write a model whose script could be sampled wrongly
N_LAYERS, N_HEAD, N_HEAD_KV, N_FF = 2, 4, 2, 256
CONTEXT_LENGTH = 40960  # Qwen3's; positions do not matter to a bigram model
MAX_LEARNED_MERGES = 2000


@dataclass(frozen=True)
class ScriptedSpec:
    name: str = "qwen3-demo-scripted"
    thinking: str = DEFAULT_THINKING
    answer: str = DEFAULT_ANSWER
    n_embd: int = 128
    seed: int = 0

    @property
    def filename(self) -> str:
        return spec_filename(self.name, asdict(self), SCRIPT_VERSION)


def _words(text: str) -> list[str]:
    """`text` cut into words: leading whitespace stays with its word, trailing whitespace joins the last."""
    words = re.findall(r"\s*\S+", text)
    tail = text[len("".join(words)):]
    if words:
        words[-1] += tail
    return words


def script_pieces(text: str, taken: set[str]) -> list[str]:
    """`text` cut into pieces (one token each) whose texts are not in `taken` nor repeat each other.

    Word by word; a word whose text is taken grows by the next word (" the" -> " the air") until it
    is new; at the end of the text it joins the piece before instead. Adds the pieces to `taken`.
    """
    words = _words(text)
    pieces: list[str] = []
    i = 0
    while i < len(words):
        piece = words[i]
        i += 1
        while piece in taken and i < len(words):
            piece += words[i]
            i += 1
        while piece in taken and pieces:
            earlier = pieces.pop()
            taken.discard(earlier)
            piece = earlier + piece
        if piece in taken:
            raise ValueError(f"cannot cut {text!r} into pieces that are all new")
        taken.add(piece)
        pieces.append(piece)
    return pieces


def _byte_level(text: str) -> str:
    table = _byte_tokens()
    return "".join(table[b] for b in text.encode("utf-8"))


# llama.cpp's qwen2 pre-tokenizer regex, with \p{L} and \p{N} approximated for Python's `re`.
_L, _N = r"[^\W\d_]", r"\d"
_PRE_TOKEN = re.compile(
    rf"(?i:'s|'t|'re|'ve|'m|'ll|'d)|(?:[^\r\n\w]|_)?{_L}+|{_N}| ?(?:[^\s\w]|_)+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def _apply_merges(symbols: list[str], ranks: dict[tuple[str, str], int]) -> list[str]:
    """Byte-level BPE: merge the best-ranked adjacent pair until none has a rank."""
    while len(symbols) > 1:
        pairs = [(ranks.get(p, len(ranks)), i) for i, p in enumerate(itertools.pairwise(symbols))]
        rank, i = min(pairs)
        if rank == len(ranks):
            break
        symbols = [*symbols[:i], symbols[i] + symbols[i + 1], *symbols[i + 2:]]
    return symbols


def learn_merges(text: str, base: list[str], limit: int = MAX_LEARNED_MERGES) -> list[str]:
    """Merges (after `base`) that make `text` about one token per word, learned like BPE training.

    Only prompt length depends on them (a chat history with the script in it): generation reads the
    last prompt token only, and the pre-tokenizer always keeps a prompt's final newlines apart.
    """
    ranks = {(a, b): i for i, (a, b) in enumerate(m.split(" ") for m in base)}
    words: dict[tuple[str, ...], int] = {}
    for match in _PRE_TOKEN.findall(text):
        word = tuple(_apply_merges(list(_byte_level(match)), ranks))
        words[word] = words.get(word, 0) + 1
    learned: list[str] = []
    while len(learned) < limit:
        counts: dict[tuple[str, str], int] = {}
        for word, n in words.items():
            for pair in itertools.pairwise(word):
                counts[pair] = counts.get(pair, 0) + n
        if not counts:
            break
        best = max(counts, key=lambda p: (counts[p], p))  # most frequent; ties by text, for determinism
        learned.append(f"{best[0]} {best[1]}")
        ranks[best] = len(ranks)
        merged: dict[tuple[str, ...], int] = {}
        for word, n in words.items():
            out: list[str] = []
            i = 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] = merged.get(tuple(out), 0) + n
        words = merged
    return learned


@dataclass(frozen=True)
class _Built:
    tokens: list[str]
    types: list[int]
    merges: list[str]
    chain: list[int]  # token ids: the prompt's last token (thinking on), then the thinking script, ...
    successors: list[int]  # ... the scripted next token of each entry of `chain`
    embd: npt.NDArray[np.float32]  # (n_vocab, n_embd), unit rows
    output: npt.NDArray[np.float32]  # (n_vocab, n_embd)
    entry_on: int  # last prompt token with thinking on (Ċ)
    entry_off: int  # last prompt token with thinking off (ĊĊ)


def _check_text(label: str, text: str) -> None:
    if not text.strip():
        raise ValueError(f"the scripted {label} must contain some text")
    for special in SPECIAL_TOKENS:
        if special in text:
            raise ValueError(f"the scripted {label} must not contain the special token {special}")


@functools.lru_cache(maxsize=4)
def _build(spec: ScriptedSpec) -> _Built:
    _check_text("thinking", spec.thinking)
    _check_text("answer", spec.answer)
    if spec.n_embd < 32 or spec.n_embd % (2 * N_HEAD):
        raise ValueError(f"n_embd must be a multiple of {2 * N_HEAD}, at least 32; got {spec.n_embd}")
    merges = [*MERGES, NEWLINE_MERGE]
    merges += learn_merges("\n".join(("system", "user", "assistant", spec.thinking, spec.answer)), merges)
    tokens = _byte_tokens()
    for m in merges:  # a merge whose result is already a token (another pair made it) adds none
        if m.replace(" ", "") not in tokens:
            tokens.append(m.replace(" ", ""))
    types = [int(TokenType.NORMAL)] * len(tokens)
    entry_on = tokens.index(_byte_level("\n"))
    entry_off = tokens.index(_byte_level("\n\n"))

    def ids(pieces: list[str]) -> list[int]:
        out = []
        for piece in pieces:
            text = _byte_level(piece)
            if text not in index:  # else a byte or merged token no other part of the script uses
                index[text] = len(tokens)
                tokens.append(text)
                types.append(int(TokenType.NORMAL))
            out.append(index[text])
        return out

    index = {t: i for i, t in enumerate(tokens)}
    taken = {"\n", "\n\n"}  # the entry tokens Ċ and ĊĊ are part of the chain below
    thinking_ids = ids(script_pieces("\n" + spec.thinking.strip("\n") + "\n", taken))
    answer_ids = ids(script_pieces(spec.answer.lstrip("\n"), taken))
    special_base = len(tokens)
    tokens += list(SPECIAL_TOKENS)
    types += [int(TokenType.CONTROL)] * len(SPECIAL_TOKENS)
    special = {t: special_base + i for i, t in enumerate(SPECIAL_TOKENS)}

    # thinking on:  Ċ -> <think> -> thinking pieces -> </think> -> ĊĊ -> answer pieces -> <|im_end|>
    # thinking off:                                                ĊĊ -> answer pieces -> <|im_end|>
    path = [entry_on, special["<think>"], *thinking_ids, special["</think>"], entry_off, *answer_ids,
            special["<|im_end|>"]]
    chain, successors = path[:-1], path[1:]
    assert len(set(chain)) == len(chain)  # every token of the script has exactly one successor

    rng = np.random.default_rng(spec.seed)
    n_vocab, d = len(tokens), spec.n_embd
    embd = rng.standard_normal((n_vocab, d))
    # The script's tokens: orthonormal when n_embd allows; else the rows of a matrix with orthonormal
    # columns (a tight frame), whose pairwise cosines are far smaller than random vectors' when the
    # script is not much longer than n_embd.
    frame = rng.standard_normal((len(chain), d))
    if len(chain) <= d:
        embd[chain] = np.linalg.qr(frame.T)[0].T
    else:
        embd[chain] = np.linalg.qr(frame)[0]
    embd /= np.linalg.norm(embd, axis=1, keepdims=True)
    # A fill-in-the-middle prompt ends with <|fim_middle|>: the same row as the thinking-off entry, so
    # the model writes the answer as the middle (and ends it with <|im_end|>).
    embd[special["<|fim_middle|>"]] = embd[entry_off]
    # RMSNorm turns a unit row e into sqrt(d)·e; the successor's output row is its predecessor's
    # embedding, so the right logit is LOGIT_TARGET and a wrong one LOGIT_TARGET·cos(e, e').
    output = np.zeros((n_vocab, d))
    output[successors] = embd[chain] * (LOGIT_TARGET / np.sqrt(d))
    return _Built(tokens, types, merges, chain, successors, embd.astype(np.float32),
                  output.astype(np.float32), entry_on, entry_off)


def min_logit_margin(spec: ScriptedSpec) -> float:
    """Smallest lead, over the script, of the scripted next token's logit over any other token's.

    Computed the way llama.cpp does it (RMSNorm with eps 1e-6, output norm weights 1), in float64.
    """
    built = _build(spec)
    x = built.embd[built.chain].astype(np.float64)
    normed = x / np.sqrt(np.mean(x * x, axis=1, keepdims=True) + 1e-6)
    logits = normed @ built.output.astype(np.float64).T  # (len(chain), n_vocab)
    rows = np.arange(len(built.chain))
    right = logits[rows, built.successors]
    logits[rows, built.successors] = -np.inf
    return float(np.min(right - logits.max(axis=1)))


def script_token_counts(spec: ScriptedSpec | None = None) -> tuple[int, int]:
    """(thinking tokens, answer tokens) the model generates with thinking on: <think>, the thinking and
    </think>; then the answer (its leading blank line included, <|im_end|> not)."""
    built = _build(spec or ScriptedSpec())
    first_answer = built.chain.index(built.entry_off)
    return first_answer - 1, len(built.chain) - first_answer


def entry_tokens(spec: ScriptedSpec | None = None) -> tuple[int, int]:
    """The ids the script starts from: the last prompt token with thinking on, and with thinking off."""
    built = _build(spec or ScriptedSpec())
    return built.entry_on, built.entry_off


def expected_output(spec: ScriptedSpec, *, thinking: bool) -> str:
    """The exact text the model generates (detokenized with special tokens, before ``<|im_end|>``)."""
    answer = spec.answer.lstrip("\n")
    if not thinking:
        return answer
    return "<think>\n" + spec.thinking.strip("\n") + "\n</think>\n\n" + answer


def write_scripted_model(spec: ScriptedSpec, path: Path) -> Path:
    """Write the scripted model for `spec` to `path` (atomically: a temporary file, then a rename)."""
    built = _build(spec)
    margin = min_logit_margin(spec)
    if margin < MIN_MARGIN:
        raise ValueError(f"seed {spec.seed} gives a logit margin of only {margin:.1f}; try another seed or a "
                         f"larger n_embd")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.part")
    rng = np.random.default_rng([spec.seed, 1])
    d, n_vocab = spec.n_embd, len(built.tokens)
    head_dim = d // N_HEAD

    try:
        w = GGUFWriter(str(tmp), "qwen3")
        # The metadata of a generated F32 hybrid model with these sizes (the vocabulary is the script's).
        layout = TinyModelSpec(name=spec.name, variant="hybrid", dtype="F32", n_layers=N_LAYERS, n_embd=d,
                               n_head=N_HEAD, n_head_kv=N_HEAD_KV, head_dim=head_dim, n_ff=N_FF,
                               ctx_train=CONTEXT_LENGTH)
        add_metadata(w, layout, built.tokens, built.types, built.merges)

        def random(name: str, *shape: int) -> None:
            w.add_tensor(name, (rng.standard_normal(shape) * 0.02).astype(np.float32))

        def zeros(name: str, *shape: int) -> None:
            w.add_tensor(name, np.zeros(shape, dtype=np.float32))

        def ones(name: str, n: int) -> None:
            w.add_tensor(name, np.ones(n, dtype=np.float32))

        w.add_tensor("token_embd.weight", built.embd)
        ones("output_norm.weight", d)
        w.add_tensor("output.weight", built.output)
        assert built.output.shape == (n_vocab, d)
        for i in range(N_LAYERS):
            b = f"blk.{i}."
            ones(b + "attn_norm.weight", d)
            random(b + "attn_q.weight", N_HEAD * head_dim, d)
            random(b + "attn_k.weight", N_HEAD_KV * head_dim, d)
            random(b + "attn_v.weight", N_HEAD_KV * head_dim, d)
            zeros(b + "attn_output.weight", d, N_HEAD * head_dim)  # attention adds nothing to the residual
            ones(b + "attn_q_norm.weight", head_dim)
            ones(b + "attn_k_norm.weight", head_dim)
            ones(b + "ffn_norm.weight", d)
            random(b + "ffn_gate.weight", N_FF, d)
            random(b + "ffn_up.weight", N_FF, d)
            zeros(b + "ffn_down.weight", d, N_FF)  # nor does the feed-forward block

        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    return path


def ensure_scripted_model(spec: ScriptedSpec | None = None, directory: Path | None = None) -> Path:
    """Path of the scripted model for `spec` (default: the sky-is-blue demo), written on first use."""
    spec = spec or ScriptedSpec()
    return ensure_file(spec.filename, functools.partial(write_scripted_model, spec), directory)

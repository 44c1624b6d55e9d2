"""Two GGUF headers side by side: what really differs between two model files.

A `HeaderSummary` holds what a person compares (shape, context and RoPE, vocabulary and its special
tokens, quantization per tensor type, the chat template); `diff_headers` lines two of them up in
rows and adds a unified diff of the templates. A local file and a Hub file (read with HTTP Range
requests, before any download) go through the same `summarize`.

The header reader skips long arrays, so the token list is scanned here, once more, from the raw
header bytes: only the few special tokens and the BOS/EOS/padding ids are looked up, never the whole
vocabulary kept. A split model is described by its first shard's header (the one llama.cpp opens).
"""

from __future__ import annotations

import difflib
import hashlib
import io
import struct
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from explorer.gguf.fim import FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX
from explorer.gguf.reader import (
    ArrayInfo,
    GGUFError,
    GGUFHeader,
    _Reader,
    chat_template,
    file_type_name,
    read_header,
    read_local_header,
)
from explorer.gguf.shards import parse_shard, sibling_names
from explorer.gguf.variant import guess_variant, variant_from_template
from explorer.units import KIB, format_bytes

TEMPLATE_DIFF_LIMIT = 256 * KIB  # UTF-8 bytes; a larger template is compared by its sha256 only
TOKENS_KEY = "tokenizer.ggml.tokens"
# The special tokens whose presence (and id) is compared, in the order of the rows.
CHAT_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
THINK_TOKENS = ("<think>", "</think>")
TOOL_TOKENS = ("<tool_call>", "</tool_call>")
FIM_TOKENS = (FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX, "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>")
SPECIAL_TOKENS = CHAT_SPECIALS + THINK_TOKENS + TOOL_TOKENS + FIM_TOKENS
_STRING_TYPE, _ARRAY_TYPE = 8, 9
_U64 = struct.Struct("<Q")


class MissingInput(GGUFError):
    """The file named is not there (or the name is no file and no REPO/FILE): a usage error."""


@dataclass(frozen=True)
class HubFile:
    repo: str
    filename: str

    def __str__(self) -> str:
        return f"{self.repo}/{self.filename}"


@dataclass(frozen=True)
class TokenRef:
    id: int
    text: str | None  # None when the id is outside the vocabulary (or there is no token list)


@dataclass(frozen=True)
class QuantCount:
    """The tensors of one GGML type in a file: how many, and their bytes."""

    type_name: str
    tensors: int
    nbytes: int


@dataclass(frozen=True)
class HeaderSummary:
    """What one GGUF header says, in the terms a comparison shows. None: the header does not say."""

    source: str  # what was asked for: a path, or REPO/FILE on the Hub
    file_name: str
    location: str  # "disk" or "Hub REPO"
    file_size: int | None  # of the file whose header was read (the first shard of a split model)
    shards: int
    gguf_version: int
    architecture: str
    model_name: str | None
    variant: str | None  # a guess: from the template, else the file name
    n_blocks: int | None
    n_embd: int | None
    n_ff: int | None
    n_ff_expert: int | None
    n_head: int | None
    n_head_kv: int | None
    head_dim_k: int | None
    head_dim_v: int | None
    n_expert: int | None
    n_expert_used: int | None
    tied_embeddings: bool | None  # no output.weight: the output head reuses token_embd (None: a split model)
    context_length: int | None
    rope_freq_base: float | None
    rope_scaling: str | None  # "yarn", "linear"... ; None or "none" when unscaled
    rope_scaling_factor: float | None
    rope_original_context: int | None
    tokenizer: str | None  # "gpt2 / qwen2": tokenizer model and pre-tokenizer
    vocab_size: int | None
    bos: TokenRef | None
    eos: TokenRef | None
    pad: TokenRef | None
    special_tokens: dict[str, int | None]  # each of SPECIAL_TOKENS -> its id, None when absent
    tensor_count: int
    quant: tuple[QuantCount, ...]  # largest first
    file_type: str
    template: str | None
    template_sha256: str | None

    @property
    def has_think(self) -> bool:
        return all(self.special_tokens.get(t) is not None for t in THINK_TOKENS)

    @property
    def fim_present(self) -> tuple[str, ...]:
        return tuple(t for t in FIM_TOKENS if self.special_tokens.get(t) is not None)

    @property
    def has_tool_call(self) -> bool:
        return self.special_tokens.get("<tool_call>") is not None

    def to_json(self) -> dict[str, Any]:
        """Every field but the template's text (its sha256 and length stay)."""
        data = asdict(self)
        template = data.pop("template")
        data["template_chars"] = len(template) if template is not None else None
        data["has_think"], data["has_tool_call"] = self.has_think, self.has_tool_call
        data["fim_tokens"] = list(self.fim_present)
        return data


@dataclass(frozen=True)
class DiffRow:
    section: str
    label: str
    a: str
    b: str
    differs: bool


@dataclass(frozen=True)
class HeaderDiff:
    a: HeaderSummary
    b: HeaderSummary
    rows: tuple[DiffRow, ...]
    template_note: str  # one line: identical, different, only in one file, compared by hash only
    template_diff: str = ""  # unified diff of the templates (a/NAME, b/NAME); empty when equal or not made
    sections: tuple[str, ...] = ()  # the rows' sections, in order

    @property
    def differing(self) -> tuple[DiffRow, ...]:
        return tuple(r for r in self.rows if r.differs)

    def to_json(self) -> dict[str, Any]:
        return {"a": self.a.to_json(), "b": self.b.to_json(), "rows": [asdict(r) for r in self.rows],
                "templates": self.template_note, "template_diff": self.template_diff}


# --- reading ---------------------------------------------------------------------------------


def split_hub_spec(spec: str) -> tuple[str, str]:
    """`REPO/FILE` (e.g. Qwen/Qwen3-8B-GGUF/Qwen3-8B-Q4_K_M.gguf) -> (repo, path in the repo)."""
    parts = spec.strip().strip("/").split("/")
    if len(parts) < 3 or not all(parts):
        raise GGUFError(f"{spec}: expected REPO/FILE, e.g. Qwen/Qwen3-8B-GGUF/Qwen3-8B-Q4_K_M.gguf")
    return "/".join(parts[:2]), "/".join(parts[2:])


def parse_input(text: str) -> Path | HubFile:
    """A file on disk, or REPO/FILE on the Hub.

    What exists on disk is a local file, and so is anything written like a path (absolute, `./`,
    `~`, a backslash) or with fewer than three parts; the rest is REPO/FILE.
    """
    t = text.strip()
    if not t:
        raise MissingInput("no file given")
    path = Path(t).expanduser()
    looks_local = (path.is_absolute() or t.startswith((".", "~")) or "\\" in t
                   or len(t.strip("/").split("/")) < 3)
    try:
        exists = path.exists()
    except OSError:
        exists = False
    if exists or looks_local:
        return path
    return HubFile(*split_hub_spec(t))


class _Tee:
    """A `read(n)` that keeps what it read: the header bytes, scanned again for the token list."""

    def __init__(self, read: Callable[[int], bytes]) -> None:
        self._read = read
        self._chunks: list[bytes] = []

    def read(self, n: int) -> bytes:
        data = self._read(n)
        self._chunks.append(data)
        return data

    def data(self) -> bytes:
        return b"".join(self._chunks)


def read_local_summary(path: Path | str) -> HeaderSummary:
    """The summary of a local GGUF; for any shard of a split model, the first shard's header."""
    path = Path(path)
    first = path.with_name(sibling_names(path.name)[0])
    try:
        if not path.exists():
            raise MissingInput(f"{path}: no such file")
        if not first.exists():
            raise MissingInput(f"{path.name}: the split model's first shard {first.name} is missing")
    except OSError as exc:
        raise GGUFError(f"{path.name}: cannot read the file: {exc.strerror or exc}") from exc
    header = read_local_header(first)
    try:
        with first.open("rb") as fh:
            raw = fh.read(header.header_size)
    except OSError as exc:
        raise GGUFError(f"{first.name}: cannot read the file: {exc.strerror or exc}") from exc
    return summarize(header, raw, source=str(path), location="disk", file_name=first.name)


def read_hub_summary(repo: str, filename: str, *, revision: str | None = None, endpoint: str | None = None,
                     token: str | bool | None = None) -> HeaderSummary:
    """The summary of a GGUF on the Hub, from its header alone (HTTP Range requests, a few MB)."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.utils._headers import build_hf_headers

    from explorer.gguf.remote import RangeReader

    first = sibling_names(filename)[0]
    source = f"{repo}/{first}"
    try:
        url = hf_hub_url(repo, first, revision=revision, endpoint=endpoint)
        meta = get_hf_file_metadata(url, token=token, endpoint=endpoint)
    except Exception as exc:
        raise GGUFError(f"{source}: the Hub did not describe the file ({exc})") from exc
    # As remote.read_remote_header, with the bytes kept for the token scan.
    tee = _Tee(RangeReader(url, build_hf_headers(token=token), size=meta.size).read)
    header = read_header(tee.read, source=source, file_size=meta.size)
    return summarize(header, tee.data(), source=f"{repo}/{filename}", location=f"Hub {repo}",
                     file_name=first.rsplit("/", 1)[-1])


HubReader = Callable[[str, str], HeaderSummary]


def read_summary(text: str, *, read_hub: HubReader = read_hub_summary) -> HeaderSummary:
    """The summary of what `text` names: a local file or REPO/FILE (see `parse_input`)."""
    where = parse_input(text)
    if isinstance(where, HubFile):
        return read_hub(where.repo, where.filename)
    return read_local_summary(where)


def compare(text_a: str, text_b: str, *, read_hub: HubReader = read_hub_summary) -> HeaderDiff:
    return diff_headers(read_summary(text_a, read_hub=read_hub), read_summary(text_b, read_hub=read_hub))


# --- the summary -----------------------------------------------------------------------------


def _int(value: Any) -> int | None:
    """An integer key; a per-layer array counts by its largest entry."""
    if isinstance(value, list) and value and all(isinstance(x, int) and not isinstance(x, bool) for x in value):
        value = max(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def scan_tokens(raw: bytes, source: str, texts: Iterable[str], ids: Iterable[int]
                ) -> tuple[dict[str, int], dict[int, str]]:
    """From a header's raw bytes: the ids of the tokens spelled `texts` and the text of the tokens
    `ids`, found in its token list (first occurrence); both empty when it has no token list."""
    r = _Reader(io.BytesIO(raw).read, source, limit=len(raw))
    r.take(4)
    r.u32()
    r.count("tensor count")
    for _ in range(r.count("metadata count")):
        key = r.string()
        vtype = r.u32()
        if key == TOKENS_KEY and vtype == _ARRAY_TYPE:
            item_type = r.u32()
            n = r.count("array length")
            if item_type != _STRING_TYPE:
                return {}, {}
            return _scan_strings(raw, r.pos, n, source, texts, ids)
        r.value(vtype)
    return {}, {}


def _scan_strings(raw: bytes, pos: int, n: int, source: str, texts: Iterable[str], ids: Iterable[int]
                  ) -> tuple[dict[str, int], dict[int, str]]:
    # A plain loop over the bytes: 151k tokens take tens of milliseconds; only wanted lengths are sliced.
    wanted = {t.encode("utf-8"): t for t in texts}
    lengths = {len(b) for b in wanted}
    want_ids = set(ids)
    found: dict[str, int] = {}
    names: dict[int, str] = {}
    size = len(raw)
    for i in range(n):
        if pos + 8 > size:
            raise GGUFError(f"{source}: the token list runs past the header; the header is corrupt")
        (length,) = _U64.unpack_from(raw, pos)
        pos += 8
        end = pos + length
        if end > size:
            raise GGUFError(f"{source}: the token list runs past the header; the header is corrupt")
        if length in lengths:
            text = wanted.get(raw[pos:end])
            if text is not None and text not in found:
                found[text] = i
        if i in want_ids:
            names[i] = raw[pos:end].decode("utf-8", errors="replace")
        pos = end
    return found, names


def _vocab_size(header: GGUFHeader) -> int | None:
    tokens = header.metadata.get(TOKENS_KEY)
    if isinstance(tokens, ArrayInfo):
        return tokens.count
    if isinstance(tokens, list):
        return len(tokens)
    embd = header.tensor("token_embd.weight")
    return embd.dims[1] if embd is not None and len(embd.dims) == 2 else None


def summarize(header: GGUFHeader, raw: bytes, *, source: str, location: str, file_name: str) -> HeaderSummary:
    """A HeaderSummary from a parsed header and its raw bytes (for the token list the parser skipped)."""
    md = header.metadata
    key = header.arch_key
    ref_ids = {name: _int(md.get(f"tokenizer.ggml.{name}_token_id")) for name in ("bos", "eos", "padding")}
    want_ids = [i for i in ref_ids.values() if i is not None]
    tokens = md.get(TOKENS_KEY)
    if isinstance(tokens, list):  # a short token list the parser kept whole
        texts = [str(t) for t in tokens]
        found = {t: texts.index(t) for t in SPECIAL_TOKENS if t in texts}
        names = {i: texts[i] for i in want_ids if 0 <= i < len(texts)}
    else:
        found, names = scan_tokens(raw, header.source, SPECIAL_TOKENS, want_ids)

    def ref(name: str) -> TokenRef | None:
        i = ref_ids[name]
        return None if i is None else TokenRef(i, names.get(i))

    counts: dict[str, list[int]] = {}
    for t in header.tensors:
        c = counts.setdefault(t.type_name, [0, 0])
        c[0] += 1
        c[1] += t.nbytes
    quant = tuple(sorted((QuantCount(k, n, b) for k, (n, b) in counts.items()), key=lambda q: (-q.nbytes, q.type_name)))
    template = chat_template(header)
    n_embd, n_head = _int(key("embedding_length")), _int(key("attention.head_count"))
    head_k = _int(key("attention.key_length"))
    if head_k is None and n_embd and n_head:
        head_k = n_embd // n_head  # llama.cpp's default
    tokenizer = " / ".join(x for x in (_str(md.get("tokenizer.ggml.model")), _str(md.get("tokenizer.ggml.pre"))) if x)
    variant = variant_from_template(template) or guess_variant(source, file_name)
    shard = parse_shard(file_name)
    return HeaderSummary(
        source=source, file_name=file_name, location=location, file_size=header.file_size,
        shards=shard.count if shard else 1, gguf_version=header.version, architecture=header.arch,
        model_name=_str(md.get("general.name")), variant=variant.label if variant else None,
        n_blocks=_int(key("block_count")), n_embd=n_embd,
        n_ff=_int(key("feed_forward_length")), n_ff_expert=_int(key("expert_feed_forward_length")),
        n_head=n_head, n_head_kv=_int(key("attention.head_count_kv")),
        head_dim_k=head_k, head_dim_v=_int(key("attention.value_length")) or head_k,
        n_expert=_int(key("expert_count")), n_expert_used=_int(key("expert_used_count")),
        # In a split model output.weight may sit in another shard than the first, so it is not known.
        tied_embeddings=None if shard else header.tensor("output.weight") is None,
        context_length=_int(key("context_length")), rope_freq_base=_float(key("rope.freq_base")),
        rope_scaling=_str(key("rope.scaling.type")), rope_scaling_factor=_float(key("rope.scaling.factor")),
        rope_original_context=_int(key("rope.scaling.original_context_length")),
        tokenizer=tokenizer or None, vocab_size=_vocab_size(header),
        bos=ref("bos"), eos=ref("eos"), pad=ref("padding"),
        special_tokens={t: found.get(t) for t in SPECIAL_TOKENS},
        tensor_count=len(header.tensors), quant=quant, file_type=file_type_name([header]),
        template=template,
        template_sha256=hashlib.sha256(template.encode("utf-8")).hexdigest() if template is not None else None,
    )


# --- the comparison --------------------------------------------------------------------------

NONE = "—"


def _num(v: int | None) -> str:
    return NONE if v is None else f"{v:,}"


def _rope_base(v: float | None) -> str:
    if v is None:
        return NONE
    return f"{int(v):,}" if v.is_integer() else f"{v:g}"


def _rope_scaling(s: HeaderSummary) -> str:
    if not s.rope_scaling or s.rope_scaling == "none":
        return "none"
    text = s.rope_scaling
    if s.rope_scaling_factor is not None:
        text += f" ×{s.rope_scaling_factor:g}"
    if s.rope_original_context is not None:
        text += f" (from {s.rope_original_context:,})"
    return text


def _token(ref: TokenRef | None) -> str:
    if ref is None:
        return NONE
    return f"{ref.id} {ref.text}" if ref.text is not None else f"{ref.id} (not in the vocabulary)"


def _present(s: HeaderSummary, text: str) -> str:
    i = s.special_tokens.get(text)
    return "absent" if i is None else f"id {i}"


def _fim(s: HeaderSummary) -> str:
    have = s.fim_present
    if len(have) == len(FIM_TOKENS):
        return f"all {len(FIM_TOKENS)}"
    if not have:
        return "none"
    missing = [t for t in FIM_TOKENS if t not in have]
    return f"{len(have)} of {len(FIM_TOKENS)}; no {', '.join(missing)}"


def _size(s: HeaderSummary) -> str:
    # The exact count too: two variants' files often differ by a few bytes (the template) and round alike.
    text = format_bytes(s.file_size) + (f" ({s.file_size:,} bytes)" if s.file_size is not None else "")
    return text + (f", first of {s.shards} shards" if s.shards > 1 else "")


def _template(s: HeaderSummary) -> str:
    if s.template is None or s.template_sha256 is None:
        return "none"
    return f"{len(s.template):,} characters, sha256 {s.template_sha256[:12]}"


def _quant(q: QuantCount | None) -> str:
    if q is None:
        return NONE
    return f"{q.tensors} tensor{'s' if q.tensors != 1 else ''}, {format_bytes(q.nbytes)}"


_Field = Callable[[HeaderSummary], str]
_FIELDS: tuple[tuple[str, str, _Field], ...] = (
    ("file", "file", lambda s: s.file_name),
    ("file", "where", lambda s: s.location),
    ("file", "size", _size),
    ("file", "GGUF version", lambda s: str(s.gguf_version)),
    ("file", "model name", lambda s: s.model_name or NONE),
    ("file", "variant (guess)", lambda s: s.variant or "unknown"),
    ("architecture", "architecture", lambda s: s.architecture or NONE),
    ("architecture", "blocks", lambda s: _num(s.n_blocks)),
    ("architecture", "embedding width", lambda s: _num(s.n_embd)),
    ("architecture", "feed-forward width", lambda s: _num(s.n_ff)),
    ("architecture", "expert feed-forward width", lambda s: _num(s.n_ff_expert)),
    ("architecture", "attention heads", lambda s: _num(s.n_head)),
    ("architecture", "KV heads", lambda s: _num(s.n_head_kv)),
    ("architecture", "head dim (K / V)", lambda s: f"{_num(s.head_dim_k)} / {_num(s.head_dim_v)}"),
    ("architecture", "experts (used)", lambda s: NONE if s.n_expert is None else
     f"{s.n_expert:,} ({_num(s.n_expert_used)})"),
    ("architecture", "tied embeddings", lambda s: NONE if s.tied_embeddings is None else
     "yes" if s.tied_embeddings else "no"),
    ("context", "context length", lambda s: _num(s.context_length)),
    ("context", "RoPE base", lambda s: _rope_base(s.rope_freq_base)),
    ("context", "RoPE scaling", _rope_scaling),
    ("vocabulary", "tokenizer", lambda s: s.tokenizer or NONE),
    ("vocabulary", "vocabulary size", lambda s: _num(s.vocab_size)),
    ("vocabulary", "BOS", lambda s: _token(s.bos)),
    ("vocabulary", "EOS", lambda s: _token(s.eos)),
    ("vocabulary", "padding", lambda s: _token(s.pad)),
    *(("special tokens", t, (lambda s, t=t: _present(s, t))) for t in CHAT_SPECIALS + THINK_TOKENS + TOOL_TOKENS),
    ("special tokens", "FIM tokens", _fim),
    ("quantization", "file type", lambda s: s.file_type),
    ("quantization", "tensors", lambda s: f"{s.tensor_count:,}"),
)


def _quant_rows(a: HeaderSummary, b: HeaderSummary) -> list[DiffRow]:
    """One row per GGML type in either file, the type with the most bytes first; compared by exact
    counts and bytes, not by the rounded text."""
    qa, qb = {q.type_name: q for q in a.quant}, {q.type_name: q for q in b.quant}
    names = sorted(qa.keys() | qb.keys(), key=lambda k: (-max(qa[k].nbytes if k in qa else 0,
                                                               qb[k].nbytes if k in qb else 0), k))
    return [DiffRow("quantization", f"{k} tensors", _quant(qa.get(k)), _quant(qb.get(k)), qa.get(k) != qb.get(k))
            for k in names]


def _template_diff(a: HeaderSummary, b: HeaderSummary, limit: int) -> tuple[str, str]:
    """(one-line note, unified diff) of the two chat templates."""
    ta, tb = a.template, b.template
    if ta is None and tb is None:
        return "no chat template in either file", ""
    if a.template_sha256 == b.template_sha256:
        return "identical", ""
    big = [n for n, t in (("A", ta), ("B", tb)) if t is not None and len(t.encode("utf-8")) > limit]
    if big:
        return (f"different (compared by sha256 only: the template of {' and '.join(big)} is over "
                f"{format_bytes(limit)})"), ""
    note = "only in A" if tb is None else "only in B" if ta is None else "different"
    lines = difflib.unified_diff((ta or "").splitlines(keepends=True), (tb or "").splitlines(keepends=True),
                                 fromfile=f"a/{a.file_name}", tofile=f"b/{b.file_name}")
    text = "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)
    return note, text


def diff_headers(a: HeaderSummary, b: HeaderSummary, *, template_limit: int = TEMPLATE_DIFF_LIMIT) -> HeaderDiff:
    """The rows of the comparison (fixed order; `differs` where the two values differ) and the templates'
    unified diff."""
    rows = [DiffRow(section, label, fa := fn(a), fb := fn(b), fa != fb) for section, label, fn in _FIELDS]
    rows += _quant_rows(a, b)
    va, vb = _template(a), _template(b)
    rows.append(DiffRow("chat template", "chat template", va, vb, a.template_sha256 != b.template_sha256))
    note, text = _template_diff(a, b, template_limit)
    sections = tuple(dict.fromkeys(r.section for r in rows))
    return HeaderDiff(a, b, tuple(rows), note, text, sections)

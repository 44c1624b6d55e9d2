"""Read a GGUF header: metadata and tensor table, without touching the tensor data.

The reader pulls bytes from any `read(n)` source, so the same code parses a local file or the first
megabytes of a remote one fetched with HTTP Range requests. Large arrays (the 151k-entry token list)
are skipped and kept only as their length. Corrupt or truncated input raises `GGUFError` with a
message meant for a person.
"""

from __future__ import annotations

import re
import stat
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, LlamaFileType

from explorer.gguf.shape import LayerWeights, ModelShape, recurrent_flags, recurrent_state_values
from explorer.gguf.shards import sibling_names
from explorer.units import MIB, format_bytes

MAGIC = b"GGUF"
ARRAY_KEEP_LIMIT = 64  # arrays longer than this are skipped and stored as ArrayInfo
_MAX_COUNT = 1 << 26  # sanity bound on counts read from the header (corruption guard)
_MAX_STRING = 1 << 27
# The largest real model headers are a few MiB (a 150k-260k token vocabulary, its merges and scores).
# Reading stops past this many bytes: a header of 2**26 empty strings (512 MiB) took 38 s per scan,
# and a header up to this bound takes about 2 s.
MAX_HEADER_BYTES = 32 * MIB

_SCALARS: dict[int, tuple[str, int]] = {
    0: ("<B", 1), 1: ("<b", 1), 2: ("<H", 2), 3: ("<h", 2), 4: ("<I", 4), 5: ("<i", 4),
    6: ("<f", 4), 7: ("<?", 1), 10: ("<Q", 8), 11: ("<q", 8), 12: ("<d", 8),
}
_STRING, _ARRAY = 8, 9
_U64 = struct.Struct("<Q")


class GGUFError(Exception):
    """The file is not a readable GGUF model; the message says why."""


class _EndOfData(GGUFError):
    """The data ended inside the header (a network failure is another GGUFError)."""


@dataclass(frozen=True)
class ArrayInfo:
    """A long metadata array that was skipped: its element type and length."""

    item_type: int
    count: int


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dims: tuple[int, ...]  # ggml order: dims[0] is the contiguous (row) dimension
    ggml_type: int
    offset: int  # from the start of the data section

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.dims:
            n *= d
        return n

    @property
    def type_name(self) -> str:
        try:
            return GGMLQuantizationType(self.ggml_type).name
        except ValueError:
            return f"type{self.ggml_type}"

    @property
    def nbytes(self) -> int:
        try:
            block, size = GGML_QUANT_SIZES[GGMLQuantizationType(self.ggml_type)]
        except (ValueError, KeyError):
            raise GGUFError(f"tensor {self.name!r} has unknown ggml type {self.ggml_type}") from None
        return self.n_elements // block * size


@dataclass(frozen=True)
class GGUFHeader:
    version: int
    metadata: dict[str, Any]
    tensors: tuple[TensorInfo, ...]
    header_size: int  # bytes up to the start of the (aligned) tensor data
    file_size: int | None = None  # when known
    source: str = ""
    _by_name: dict[str, TensorInfo] = field(default_factory=dict, compare=False, repr=False)

    @property
    def arch(self) -> str:
        return str(self.metadata.get("general.architecture", ""))

    @property
    def data_size(self) -> int:
        """Bytes of tensor data the header describes (end of the last tensor)."""
        return max((t.offset + t.nbytes for t in self.tensors), default=0)

    def arch_key(self, suffix: str, default: Any = None) -> Any:
        return self.metadata.get(f"{self.arch}.{suffix}", default)

    def tensor(self, name: str) -> TensorInfo | None:
        if not self._by_name:
            self._by_name.update({t.name: t for t in self.tensors})
        return self._by_name.get(name)


class _Reader:
    """Sequential little-endian reader over a `read(n)` callable, counting its position.

    It reads ahead in pieces of `CHUNK` bytes (never past `limit`) and hands out slices: a header is
    hundreds of thousands of small values (the token list and the merges are two strings per entry),
    and a call of the source per value cost ~0.1 s on a Qwen3 vocabulary."""

    CHUNK = 1 << 16

    def __init__(self, read: Callable[[int], bytes], source: str, limit: int = MAX_HEADER_BYTES) -> None:
        self._read = read
        self.pos = 0  # bytes handed out (the read-ahead not counted)
        self.source = source
        self.limit = limit
        self._buf = b""
        self._off = 0

    def _fill(self, need: int) -> None:
        """At least `need` bytes after the position in the buffer, unless the source ends first."""
        have = len(self._buf) - self._off
        parts = [self._buf[self._off:]] if have else []
        while have < need:
            want = min(max(need - have, self.CHUNK), self.limit - self.pos - have)
            chunk = self._read(want) if want > 0 else b""
            if not chunk:
                break
            parts.append(chunk)
            have += len(chunk)
        self._buf = b"".join(parts)
        self._off = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > self.limit:
            raise GGUFError(f"{self.source}: the GGUF header runs past {format_bytes(self.limit)} (at byte "
                            f"{self.pos:,}); far larger than any model's, so it is not read")
        if len(self._buf) - self._off < n:
            self._fill(n)
            have = len(self._buf) - self._off
            if have < n:
                raise _EndOfData(
                    f"{self.source}: the file ends inside the GGUF header (at byte {self.pos + have}); "
                    "it is truncated or still downloading"
                )
        out = self._buf[self._off:self._off + n]
        self._off += n
        self.pos += n
        return out

    def corrupt(self, what: str) -> GGUFError:
        return GGUFError(f"{self.source}: {what}; the header is corrupt")

    def scalar(self, fmt: str, size: int) -> Any:
        return struct.unpack(fmt, self.take(size))[0]

    def u32(self) -> int:
        return int(self.scalar("<I", 4))

    def u64(self) -> int:
        return int(self.scalar("<Q", 8))

    def count(self, what: str) -> int:
        n = self.u64()
        if n > _MAX_COUNT:
            raise self.corrupt(f"implausible {what} ({n}) at byte {self.pos - 8}")
        return n

    def string(self) -> str:
        n = self.u64()
        if n > _MAX_STRING:
            raise self.corrupt(f"implausible string length {n} at byte {self.pos - 8}")
        raw = self.take(n)
        return raw.decode("utf-8", errors="replace")

    def skip(self, n: int) -> None:
        # Read in bounded pieces: a remote source fetches on demand.
        while n > 0:
            step = min(n, 1 << 20)
            self.take(step)
            n -= step

    def value(self, vtype: int, depth: int = 0) -> Any:
        if depth > 4:
            raise self.corrupt("metadata arrays nested too deeply")
        if vtype in _SCALARS:
            return self.scalar(*_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            item_type = self.u32()
            n = self.count("array length")
            if n > ARRAY_KEEP_LIMIT:
                self.skip_items(item_type, n, depth + 1)
                return ArrayInfo(item_type, n)
            return [self.value(item_type, depth + 1) for _ in range(n)]
        raise self.corrupt(f"unknown metadata value type {vtype} at byte {self.pos - 4}")

    def skip_items(self, item_type: int, n: int, depth: int = 0) -> None:
        if item_type in _SCALARS:
            self.skip(_SCALARS[item_type][1] * n)
        elif item_type == _STRING:
            unpack = _U64.unpack_from
            for _ in range(n):
                buf, off = self._buf, self._off
                if len(buf) - off >= 8:  # the common case, without a call per value: length and text in the buffer
                    length = unpack(buf, off)[0]
                    if length <= _MAX_STRING and len(buf) - off - 8 >= length:
                        self._off = off + 8 + length
                        self.pos += 8 + length
                        continue
                length = self.u64()
                if length > _MAX_STRING:
                    raise self.corrupt(f"implausible string length {length}")
                self.skip(length)
        else:
            for _ in range(n):
                self.value(item_type, depth)


def read_header(read: Callable[[int], bytes], *, source: str = "GGUF", file_size: int | None = None,
                max_header_bytes: int = MAX_HEADER_BYTES) -> GGUFHeader:
    """Parse a GGUF header from a `read(n)` callable positioned at the start of the file.

    Raises GGUFError for anything that is not a readable header, including one longer than
    `max_header_bytes` (no more than that is ever read).
    """
    r = _Reader(read, source, max_header_bytes)
    try:
        magic = r.take(4)
    except _EndOfData:  # shorter than the magic: not "truncated", not a GGUF at all
        raise GGUFError(f"{source}: not a GGUF file (it is shorter than the 4-byte GGUF magic)") from None
    if magic != MAGIC:
        raise GGUFError(f"{source}: not a GGUF file (it starts with {magic!r}, expected b'GGUF')")
    version = r.u32()
    if version not in (2, 3):
        raise GGUFError(f"{source}: GGUF version {version} is not supported (2 and 3 are)")
    n_tensors = r.count("tensor count")
    n_kv = r.count("metadata count")
    metadata: dict[str, Any] = {}
    for _ in range(n_kv):
        key = r.string()
        metadata[key] = r.value(r.u32())
    tensors = []
    for _ in range(n_tensors):
        name = r.string()
        n_dims = r.u32()
        if n_dims > 8:
            raise GGUFError(f"{source}: tensor {name!r} claims {n_dims} dimensions; the header is corrupt")
        dims = tuple(r.u64() for _ in range(n_dims))
        tensors.append(TensorInfo(name, dims, r.u32(), r.u64()))
    align = metadata.get("general.alignment", 32)
    if not isinstance(align, int) or isinstance(align, bool) or align <= 0 or align & (align - 1):
        raise GGUFError(f"{source}: general.alignment {align!r} is not a positive power of two; the header is corrupt")
    header_size = (r.pos + align - 1) // align * align
    header = GGUFHeader(version, metadata, tuple(tensors), header_size, file_size, source)
    for t in header.tensors:
        t.nbytes  # noqa: B018 - raises GGUFError on an unknown type
    if file_size is not None and header_size + header.data_size > file_size:
        raise GGUFError(
            f"{source}: truncated: the header describes {header_size + header.data_size:,} bytes "
            f"but the file has {file_size:,}"
        )
    return header


def read_local_header(path: Path | str) -> GGUFHeader:
    path = Path(path)
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):  # a directory, a pipe or a device would block or mislead
            raise GGUFError(f"{path.name}: not a regular file")
        size = st.st_size
        with path.open("rb") as fh:
            return read_header(fh.read, source=path.name, file_size=size)
    except OSError as exc:
        raise GGUFError(f"{path.name}: cannot read the file: {exc.strerror or exc}") from exc


def split_siblings(path: Path) -> list[Path]:
    """All shards of a split GGUF given any one of them (just [path] when not split)."""
    return [path.with_name(name) for name in sibling_names(path.name)]


def read_model_headers(path: Path | str) -> list[GGUFHeader]:
    """Headers of a model file and, when split, of every shard (missing shards raise GGUFError)."""
    path = Path(path)
    try:
        if not path.exists():
            raise GGUFError(f"{path}: no such file")
        shards = split_siblings(path)
        missing = [p.name for p in shards if not p.exists()]
    except OSError as exc:
        raise GGUFError(f"{path.name}: cannot read the file: {exc.strerror or exc}") from exc
    if missing:
        raise GGUFError(f"{path.name}: split model is missing {len(missing)} shard(s): {', '.join(missing)}")
    return [read_local_header(p) for p in shards]


def file_type_name(headers: Sequence[GGUFHeader]) -> str:
    """The quant label of a model, e.g. "Q4_K_M", from general.file_type or the tensors."""
    ft = headers[0].metadata.get("general.file_type")
    if isinstance(ft, int):
        try:
            return LlamaFileType(ft).name.removeprefix("MOSTLY_").removeprefix("ALL_")
        except ValueError:
            pass
    sizes: dict[str, int] = {}
    for h in headers:
        for t in h.tensors:
            sizes[t.type_name] = sizes.get(t.type_name, 0) + t.nbytes
    return max(sizes, key=lambda k: sizes[k]) if sizes else "unknown"


_BLOCK_RE = re.compile(r"^blk\.(\d+)\.(.+)$")


def shape_from_headers(headers: Sequence[GGUFHeader]) -> ModelShape:
    """A ModelShape with the exact tensor bytes of a (possibly split) GGUF model."""
    if not headers:
        raise GGUFError("no GGUF header given")
    h0 = headers[0]
    arch = h0.arch
    if not arch:
        raise GGUFError(f"{h0.source}: general.architecture is missing")

    def count(suffix: str, default: int | None = None, low: int = 0, high: int = 1 << 20) -> int:
        """An integer hyperparameter, checked: a per-layer array counts by its largest entry."""
        v = h0.arch_key(suffix, default)
        if isinstance(v, list) and v and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
            v = max(v)
        if v is None:
            raise GGUFError(f"{h0.source}: metadata key {arch}.{suffix} is missing; cannot size this model")
        if not isinstance(v, int) or isinstance(v, bool) or not low <= v <= high:
            raise GGUFError(f"{h0.source}: metadata key {arch}.{suffix} = {v!r} is not a plausible value; "
                            "the header is corrupt")
        return v

    n_layers = count("block_count", low=1, high=4096)
    n_embd = count("embedding_length", low=1)
    n_head = count("attention.head_count", low=1, high=4096)
    n_head_kv = count("attention.head_count_kv", n_head, high=4096)
    head_k = count("attention.key_length", n_embd // n_head, low=1, high=4096)
    head_v = count("attention.value_length", head_k, high=4096)
    tokens = h0.metadata.get("tokenizer.ggml.tokens")
    n_vocab = tokens.count if isinstance(tokens, ArrayInfo) else len(tokens) if isinstance(tokens, list) else 0

    dense = [0] * n_layers
    experts = [0] * n_layers
    token_embd = output = 0
    have_output = False
    for h in headers:
        for t in h.tensors:
            m = _BLOCK_RE.match(t.name)
            if m:
                i = int(m.group(1))
                if i >= n_layers:
                    raise GGUFError(f"{h.source}: tensor {t.name} is beyond block_count {n_layers}")
                if "_exps." in m.group(2):
                    experts[i] += t.nbytes
                else:
                    dense[i] += t.nbytes
            elif t.name == "token_embd.weight":
                token_embd += t.nbytes
                if not n_vocab and len(t.dims) == 2:
                    n_vocab = t.dims[1]
            else:
                output += t.nbytes
                have_output = have_output or t.name == "output.weight"
    file_bytes = sum((h.file_size or h.header_size + h.data_size) for h in headers)
    recurrent: tuple[bool, ...] = ()
    state_values = 0
    if h0.arch_key("ssm.state_size") is not None:
        # A hybrid (Qwen3-Next): llama.cpp makes every block recurrent but each
        # full_attention_interval-th (4 when the key is absent), and sizes their state from these keys.
        recurrent = recurrent_flags(n_layers, count("full_attention_interval", 4, low=1, high=4096))
        state_values = recurrent_state_values(count("ssm.conv_kernel", high=64), count("ssm.state_size", low=1),
                                              count("ssm.group_count"), count("ssm.inner_size"))
    return ModelShape(
        arch=arch, n_layers=n_layers, n_embd=n_embd, n_head=n_head, n_head_kv=n_head_kv,
        head_dim_k=head_k, head_dim_v=head_v,
        n_ff=count("feed_forward_length", 0) or count("expert_feed_forward_length", 0),
        n_vocab=n_vocab, ctx_train=count("context_length", 0, high=1 << 26),
        layers=tuple(LayerWeights(d, e) for d, e in zip(dense, experts, strict=True)),
        token_embd_bytes=token_embd, output_bytes=output, tied_embeddings=not have_output,
        n_expert=count("expert_count", 0, high=4096), n_expert_used=count("expert_used_count", 0, high=4096),
        file_type=file_type_name(headers), file_bytes=file_bytes, exact=True,
        recurrent=recurrent, state_values_per_layer=state_values,
    )


def read_shape(path: Path | str) -> ModelShape:
    """The exact ModelShape of a local GGUF (any shard of a split model)."""
    return shape_from_headers(read_model_headers(path))


def chat_template(header: GGUFHeader) -> str | None:
    value = header.metadata.get("tokenizer.chat_template")
    return value if isinstance(value, str) else None

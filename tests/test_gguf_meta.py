"""The GGUF header reader on generated models, on damaged files, and through a trickling source."""

from __future__ import annotations

import contextlib
import io
import shutil
import struct
from pathlib import Path

import pytest
from gguf import GGUFReader

from explorer.gguf.reader import (
    ArrayInfo,
    GGUFError,
    chat_template,
    read_header,
    read_local_header,
    read_model_headers,
    read_shape,
    split_siblings,
)
from explorer.testing.models import FIT_MODELS, MERGES, SPECIAL_TOKENS, TEST_MODELS, ensure_model, template_text


@pytest.mark.parametrize("name", [*TEST_MODELS, "qwen3moe-fit-q8_0"])
def test_tensor_sizes_match_the_gguf_package(name: str) -> None:
    path = ensure_model(name)
    ours = {t.name: (t.nbytes, t.offset, t.dims) for t in read_local_header(path).tensors}
    theirs = {t.name: (int(t.n_bytes), int(t.data_offset), tuple(int(d) for d in t.shape))
              for t in GGUFReader(path).tensors}
    ref = GGUFReader(path)
    data_start = min(int(t.data_offset) for t in ref.tensors)
    assert {k: (v[0], v[1] + data_start, v[2]) for k, v in ours.items()} == theirs


def test_shape_of_a_dense_model() -> None:
    spec = TEST_MODELS["qwen3-tiny-hybrid-q8_0"]
    shape = read_shape(ensure_model(spec))
    assert (shape.arch, shape.n_layers, shape.n_embd, shape.n_head, shape.n_head_kv) == ("qwen3", 2, 64, 4, 2)
    assert shape.head_dim_k == shape.head_dim_v == 16
    assert shape.file_type == "Q8_0"
    assert shape.exact and not shape.tied_embeddings and not shape.is_moe
    assert shape.n_vocab == 256 + len(MERGES) + len(SPECIAL_TOKENS) == 273  # bytes, merges, chat and FIM tokens
    # file = header + tensor data; the tensor data is what the shape adds up
    assert 0 < shape.file_bytes - shape.weights_bytes < 64 * 1024


def test_shape_of_an_moe_model_counts_expert_bytes_apart() -> None:
    shape = read_shape(ensure_model("qwen3moe-fit-q8_0"))
    spec = FIT_MODELS["qwen3moe-fit-q8_0"]
    assert shape.is_moe and (shape.n_expert, shape.n_expert_used) == (16, 4)
    layer = shape.layers[0]
    # three expert matrices of n_ff_exp x n_embd per expert, Q8_0 = 34 bytes per 32 weights
    assert layer.experts == 3 * spec.n_expert * spec.n_ff_exp * spec.n_embd * 34 // 32
    read = shape.layer_bytes_read_per_token(0)
    assert read == pytest.approx(layer.dense + layer.experts * 4 / 16)


def test_tied_embeddings_are_detected() -> None:
    assert read_shape(ensure_model("qwen3-tiny-coder-f16")).tied_embeddings


@pytest.mark.parametrize("variant,name", [("hybrid", "qwen3-tiny-hybrid-f16"),
                                          ("thinking-2507", "qwen3-tiny-thinking-q8_0"),
                                          ("instruct-2507", "qwen3-tiny-instruct-q8_0"),
                                          ("coder", "qwen3-tiny-coder-f16")])
def test_generated_models_carry_their_variant_template(variant: str, name: str) -> None:
    header = read_local_header(ensure_model(name))
    assert chat_template(header) == template_text(variant)
    assert isinstance(header.metadata["tokenizer.ggml.tokens"], ArrayInfo)


def test_base_model_has_no_template() -> None:
    assert chat_template(read_local_header(ensure_model("qwen3-tiny-base-f16"))) is None


def test_trickling_source_gives_the_same_header() -> None:
    """A remote reader hands back a few bytes at a time; the result must not change."""
    path = ensure_model("qwen3-tiny-thinking-q8_0")
    data = path.read_bytes()
    buf = io.BytesIO(data)
    slow = read_header(lambda n: buf.read(min(n, 7)), source="remote", file_size=len(data))
    assert slow.tensors == read_local_header(path).tensors
    assert slow.metadata == read_local_header(path).metadata


def test_not_a_gguf(tmp_path: Path) -> None:
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"<html>404 not found</html>" + bytes(100))
    with pytest.raises(GGUFError, match="not a GGUF file"):
        read_local_header(bad)
    tiny = tmp_path / "hostname"
    tiny.write_bytes(b"vm\n")  # three bytes (/etc/hostname): not "truncated", not a GGUF at all
    with pytest.raises(GGUFError, match=r"not a GGUF file \(it is shorter than the 4-byte GGUF magic\)"):
        read_local_header(tiny)


def test_unsupported_version(tmp_path: Path) -> None:
    bad = tmp_path / "v9.gguf"
    bad.write_bytes(b"GGUF" + struct.pack("<I", 9) + bytes(32))
    with pytest.raises(GGUFError, match="version 9"):
        read_local_header(bad)


@pytest.mark.parametrize("cut", [3, 10, 30, 500, 5000])
def test_truncated_inside_header(tmp_path: Path, cut: int) -> None:
    data = ensure_model("qwen3-tiny-hybrid-f16").read_bytes()
    bad = tmp_path / "cut.gguf"
    bad.write_bytes(data[:cut])
    with pytest.raises(GGUFError, match=r"truncated|not a GGUF"):
        read_local_header(bad)


def test_truncated_tensor_data(tmp_path: Path) -> None:
    data = ensure_model("qwen3-tiny-hybrid-f16").read_bytes()
    bad = tmp_path / "short.gguf"
    bad.write_bytes(data[: len(data) - 1000])
    with pytest.raises(GGUFError, match=r"truncated: the header describes"):
        read_local_header(bad)


def test_corrupt_count_is_refused_quickly(tmp_path: Path) -> None:
    data = bytearray(ensure_model("qwen3-tiny-hybrid-f16").read_bytes())
    data[16:24] = struct.pack("<Q", 1 << 60)  # metadata count
    bad = tmp_path / "corrupt.gguf"
    bad.write_bytes(bytes(data))
    with pytest.raises(GGUFError, match="implausible metadata count"):
        read_local_header(bad)


def test_random_byte_flips_never_escape_as_other_errors(tmp_path: Path) -> None:
    import random

    data = ensure_model("qwen3-tiny-hybrid-f16").read_bytes()
    header_len = read_local_header(ensure_model("qwen3-tiny-hybrid-f16")).header_size
    rng = random.Random(1)
    for i in range(60):
        damaged = bytearray(data)
        for _ in range(4):
            damaged[rng.randrange(4, header_len)] = rng.randrange(256)
        p = tmp_path / f"flip{i}.gguf"
        p.write_bytes(bytes(damaged))
        with contextlib.suppress(GGUFError):  # anything else escaping fails the test
            read_shape(p)


def test_split_siblings_and_missing_shard(tmp_path: Path) -> None:
    first = tmp_path / "Qwen3-235B-A22B-Q4_K_M-00001-of-00003.gguf"
    assert [p.name for p in split_siblings(first)] == [
        "Qwen3-235B-A22B-Q4_K_M-00001-of-00003.gguf",
        "Qwen3-235B-A22B-Q4_K_M-00002-of-00003.gguf",
        "Qwen3-235B-A22B-Q4_K_M-00003-of-00003.gguf",
    ]
    assert split_siblings(tmp_path / "plain.gguf") == [tmp_path / "plain.gguf"]
    src = ensure_model("qwen3-tiny-hybrid-f16")
    shutil.copy(src, first)
    shutil.copy(src, tmp_path / "Qwen3-235B-A22B-Q4_K_M-00002-of-00003.gguf")
    with pytest.raises(GGUFError, match="missing 1 shard"):
        read_model_headers(tmp_path / "Qwen3-235B-A22B-Q4_K_M-00002-of-00003.gguf")


def _gguf(*kvs: bytes, n_tensors: int = 0) -> bytes:
    raw = b"GGUF" + struct.pack("<IQQ", 3, n_tensors, len(kvs)) + b"".join(kvs)
    return raw + bytes(-len(raw) % 32)  # padded to the default alignment, as a writer would


def _s(text: str) -> bytes:
    return struct.pack("<Q", len(text)) + text.encode()


def _kv_str(key: str, value: str) -> bytes:
    return _s(key) + struct.pack("<I", 8) + _s(value)


def _kv_u32(key: str, value: int) -> bytes:
    return _s(key) + struct.pack("<II", 4, value)


QWEN3_KEYS = (_kv_str("general.architecture", "qwen3"), _kv_u32("qwen3.embedding_length", 64),
              _kv_u32("qwen3.attention.head_count", 4))


@pytest.mark.parametrize("kvs,message", [
    ((*QWEN3_KEYS, _kv_u32("qwen3.block_count", 300_000_000)), "block_count = 300000000 is not a plausible"),
    ((*QWEN3_KEYS, _kv_u32("qwen3.block_count", 0)), "block_count = 0 is not a plausible"),
    ((*QWEN3_KEYS, _kv_str("qwen3.block_count", "two")), "block_count = 'two' is not a plausible"),
    (QWEN3_KEYS, "block_count is missing"),
    ((_kv_str("general.alignment", "32"),), "alignment '32' is not a positive power of two"),
    ((_kv_u32("general.alignment", 24),), "alignment 24 is not a positive power of two"),
])
def test_hand_built_bad_headers(tmp_path: Path, kvs: tuple[bytes, ...], message: str) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(_gguf(*kvs))
    with pytest.raises(GGUFError, match=message):
        read_shape(bad)


def test_deeply_nested_arrays_are_refused(tmp_path: Path) -> None:
    nested = _s("x") + struct.pack("<I", 9)  # an array of arrays of arrays ...
    for _ in range(50):
        nested += struct.pack("<IQ", 9, 1)
    bad = tmp_path / "nested.gguf"
    bad.write_bytes(_gguf(nested))
    with pytest.raises(GGUFError, match="nested too deeply"):
        read_local_header(bad)


def test_a_pipe_is_not_read(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "pipe.gguf"
    os.mkfifo(fifo)
    with pytest.raises(GGUFError, match="not a regular file"):
        read_local_header(fifo)  # would block forever if opened


def _huge_string_array(path: Path, n: int) -> int:
    """A header whose only metadata is an array of `n` empty strings (8 bytes each); returns its size."""
    key = b"tokenizer.ggml.tokens"
    head = b"GGUF" + struct.pack("<IQQQ", 3, 0, 1, len(key)) + key + struct.pack("<IIQ", 9, 8, n)
    path.write_bytes(head + bytes(8 * n))
    return len(head) + 8 * n


def test_a_header_larger_than_the_bound_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge-header.gguf"
    size = _huge_string_array(path, 1 << 20)  # 8 MiB of header; the real bound is 32 MiB
    read = 0

    with path.open("rb") as fh:
        def counted(n: int) -> bytes:
            nonlocal read
            data = fh.read(n)
            read += len(data)
            return data

        with pytest.raises(GGUFError, match=r"header runs past 1\.00 MiB"):
            read_header(counted, source=path.name, max_header_bytes=1 << 20)
    assert read <= 1 << 20 < size  # stopped at the bound, the rest never read
    header = read_header(io.BytesIO(path.read_bytes()).read, max_header_bytes=size)  # at its size it is read
    assert header.metadata["tokenizer.ggml.tokens"].count == 1 << 20


@pytest.mark.parametrize("piece", [1, 7, 4096, 1 << 20])
def test_a_long_string_array_is_skipped_across_read_ahead_pieces(piece: int) -> None:
    """The token list is skipped from the read-ahead buffer; strings that straddle its pieces (and a
    source that hands back `piece` bytes at a time) give the same header, the keys after it included."""
    words = [("w" * (i % 300)) + str(i) for i in range(30_000)]  # ~4.6 MB, lengths 1..304: every boundary
    array = _s("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, len(words)) + b"".join(_s(w) for w in words)
    data = _gguf(_kv_str("general.architecture", "qwen3"), array, _kv_str("after", "the list"))
    buf = io.BytesIO(data)
    header = read_header(lambda n: buf.read(min(n, piece)), source="t", file_size=len(data))
    tokens = header.metadata["tokenizer.ggml.tokens"]
    assert (tokens.item_type, tokens.count) == (8, 30_000)
    assert header.metadata["after"] == "the list" and header.header_size == len(data)


def test_a_string_array_cut_short_is_truncated_not_misread() -> None:
    words = [str(i) * 50 for i in range(2_000)]
    array = _s("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, len(words)) + b"".join(_s(w) for w in words)
    data = _gguf(_kv_str("general.architecture", "qwen3"), array)
    for cut in (len(data) // 2, len(data) - 40):
        buf = io.BytesIO(data[:cut])
        with pytest.raises(GGUFError, match="truncated"):
            read_header(buf.read, source="t")

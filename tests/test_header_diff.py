"""The header comparison (`qwen3-explorer diff`): what differs between two generated Qwen3 GGUFs, and only that."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from dataclasses import replace
from io import StringIO
from pathlib import Path

import pytest
from hub_fixtures import hub  # noqa: F401 - the fixture

from explorer.cli.main import main as cli_main
from explorer.gguf.header_diff import (
    FIM_TOKENS,
    HeaderDiff,
    HubFile,
    MissingInput,
    compare,
    diff_headers,
    parse_input,
    read_hub_summary,
    read_local_summary,
    split_hub_spec,
)
from explorer.gguf.reader import GGUFError, read_local_header
from explorer.testing.hub import HubServer
from explorer.testing.models import TEST_MODELS, ensure_model, template_text

INSTRUCT, THINKING = "qwen3-tiny-instruct-q8_0", "qwen3-tiny-thinking-q8_0"
NO_FIM = replace(TEST_MODELS["qwen3-tiny-hybrid-q8_0"], name="qwen3-tiny-nofim-q8_0", fim_tokens=False)
SHAPE_LABELS = ("architecture", "blocks", "embedding width", "feed-forward width", "attention heads", "KV heads",
                "head dim (K / V)", "context length", "RoPE base", "RoPE scaling", "tokenizer", "vocabulary size")


def rows(diff: HeaderDiff) -> dict[str, tuple[str, str, bool]]:
    return {r.label: (r.a, r.b, r.differs) for r in diff.rows}


def test_instruct_and_thinking_differ_in_template_and_variant_only() -> None:
    a, b = ensure_model(INSTRUCT), ensure_model(THINKING)
    diff = compare(str(a), str(b))
    by = rows(diff)
    for label in SHAPE_LABELS:  # same architecture, same vocabulary
        assert by[label][2] is False and by[label][0] == by[label][1], label
    for token in ("<think>", "</think>", "<|im_start|>", "<|im_end|>", "<tool_call>", "FIM tokens", "BOS", "EOS"):
        assert by[token][2] is False, token
    assert by["<think>"][0] == "id 265" and by["<tool_call>"][0] == "absent" and by["FIM tokens"][0] == "all 6"
    assert by["variant (guess)"] == ("Instruct-2507", "Thinking-2507", True)
    assert by["chat template"][2] is True
    # Nothing is marked but the names, the sizes (the templates' lengths) and the template.
    assert {r.label for r in diff.differing} == {"file", "size", "model name", "variant (guess)", "chat template"}

    assert diff.template_note == "different"
    lines = diff.template_diff.splitlines()
    assert lines[0] == f"--- a/{a.name}" and lines[1] == f"+++ b/{b.name}"
    ta, tb = template_text("instruct-2507"), template_text("thinking-2507")
    assert ta is not None and tb is not None
    only_a, only_b = set(ta.splitlines()) - set(tb.splitlines()), set(tb.splitlines()) - set(ta.splitlines())
    assert only_a and only_b
    assert all(f"-{line}" in lines for line in only_a) and all(f"+{line}" in lines for line in only_b)
    assert "+    {{- '<|im_start|>assistant\\n<think>\\n' }}" in lines  # what makes Thinking-2507 think
    head = ta.splitlines()[0]  # the templates open alike: that line is not marked
    assert head == tb.splitlines()[0] and f"-{head}" not in lines and f"+{head}" not in lines


def test_a_file_against_itself_has_no_difference() -> None:
    path = ensure_model("qwen3moe-tiny-coder-q8_0")
    diff = compare(str(path), str(path))
    assert diff.differing == ()
    assert diff.template_note == "identical" and diff.template_diff == ""
    assert [r.section for r in diff.rows][:1] == ["file"] and diff.sections[-1] == "chat template"


def test_fim_tokens_present_against_absent() -> None:
    with_fim, without = read_local_summary(ensure_model("qwen3-tiny-hybrid-q8_0")), read_local_summary(
        ensure_model(NO_FIM))
    assert with_fim.fim_present == FIM_TOKENS and without.fim_present == ()
    assert with_fim.has_think and without.has_think
    by = rows(diff_headers(with_fim, without))
    assert by["FIM tokens"] == ("all 6", "none", True)
    assert by["vocabulary size"] == ("273", "267", True)
    assert by["<think>"] == ("id 265", "id 265", False) and by["chat template"][2] is False
    # The coder's vocabulary has them too: FIM presence is the vocabulary's, not the variant's.
    by = rows(compare(str(ensure_model("qwen3-tiny-coder-f16")), str(ensure_model(NO_FIM))))
    assert by["FIM tokens"] == ("all 6", "none", True)


def test_moe_against_dense_and_the_quantization_per_type() -> None:
    dense, moe = ensure_model("qwen3-tiny-coder-f16"), ensure_model("qwen3moe-tiny-coder-q8_0")
    diff = compare(str(dense), str(moe))
    by = rows(diff)
    assert by["architecture"] == ("qwen3", "qwen3moe", True)
    assert by["experts (used)"] == ("—", "4 (2)", True)
    assert by["feed-forward width"] == ("128", "—", True) and by["expert feed-forward width"] == ("—", "64", True)
    assert by["tied embeddings"] == ("yes", "no", True)
    assert by["blocks"] == ("2", "2", False) and by["KV heads"] == ("2", "2", False)
    assert by["file type"] == ("F16", "Q8_0", True)
    assert diff.template_note == "identical"  # both Coder
    for path, side in ((dense, 0), (moe, 1)):
        counts = Counter(t.type_name for t in read_local_header(path).tensors)
        for type_name, n in counts.items():
            assert by[f"{type_name} tensors"][side].startswith(f"{n} tensors, ")
    assert by["F16 tensors"][1] == "—" and by["Q8_0 tensors"][0] == "—"
    summary = diff.b
    assert sum(q.tensors for q in summary.quant) == summary.tensor_count == len(read_local_header(moe).tensors)
    assert summary.quant[0].type_name == "Q8_0"  # the most bytes first


def test_a_model_without_template_and_the_size_bound() -> None:
    base, hybrid = read_local_summary(ensure_model("qwen3-tiny-base-f16")), read_local_summary(
        ensure_model("qwen3-tiny-hybrid-f16"))
    diff = diff_headers(base, hybrid)
    assert rows(diff)["chat template"][0] == "none" and diff.template_note == "only in B"
    body = diff.template_diff.splitlines()[3:]
    assert body and all(line.startswith("+") or line.startswith("\\") for line in body)
    bounded = diff_headers(read_local_summary(ensure_model(INSTRUCT)), read_local_summary(ensure_model(THINKING)),
                           template_limit=1000)
    assert bounded.template_diff == "" and "compared by sha256 only" in bounded.template_note
    assert rows(bounded)["chat template"][2] is True


def test_the_first_shard_describes_a_split_model(tmp_path: Path) -> None:
    first, second = tmp_path / "m-00001-of-00002.gguf", tmp_path / "m-00002-of-00002.gguf"
    shutil.copy(ensure_model(INSTRUCT), first)
    shutil.copy(ensure_model(THINKING), second)
    summary = read_local_summary(second)
    assert summary.file_name == first.name and summary.model_name == INSTRUCT and summary.shards == 2
    assert summary.tied_embeddings is None
    assert "first of 2 shards" in rows(diff_headers(summary, summary))["size"][0]
    first.unlink()
    with pytest.raises(MissingInput, match=r"first shard m-00001-of-00002\.gguf is missing"):
        read_local_summary(second)


def test_inputs_on_disk_and_on_the_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_input("Qwen/Qwen3-8B-GGUF/Qwen3-8B-Q4_K_M.gguf") == HubFile("Qwen/Qwen3-8B-GGUF",
                                                                               "Qwen3-8B-Q4_K_M.gguf")
    assert parse_input("Qwen/R/Q4_K_M/x-00002-of-00003.gguf") == HubFile("Qwen/R", "Q4_K_M/x-00002-of-00003.gguf")
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "c.gguf").write_bytes(b"x")
    assert parse_input("a/b/c.gguf") == Path("a/b/c.gguf")  # on disk wins
    for local in ("model.gguf", "./x/y/z.gguf", str(tmp_path / "q/r/s.gguf"), "dir/model.gguf"):
        assert isinstance(parse_input(local), Path), local
    with pytest.raises(MissingInput):
        parse_input("  ")
    assert split_hub_spec("/Qwen/R/f.gguf/") == ("Qwen/R", "f.gguf")
    with pytest.raises(GGUFError, match="expected REPO/FILE"):
        split_hub_spec("Qwen/f.gguf")


def test_a_hub_file_goes_through_the_same_summary(hub: HubServer) -> None:  # noqa: F811
    thinking = ensure_model(THINKING)
    hub.add_repo("Qwen/Tiny-GGUF", {"Q8_0/Tiny-Thinking-Q8_0.gguf": thinking})
    remote = read_hub_summary("Qwen/Tiny-GGUF", "Q8_0/Tiny-Thinking-Q8_0.gguf")
    local = read_local_summary(thinking)
    same = ("architecture", "n_blocks", "vocab_size", "bos", "eos", "special_tokens", "quant", "template_sha256",
            "file_size", "tied_embeddings")
    assert {k: getattr(remote, k) for k in same} == {k: getattr(local, k) for k in same}
    assert remote.location == "Hub Qwen/Tiny-GGUF" and remote.file_name == "Tiny-Thinking-Q8_0.gguf"
    assert remote.variant == "Thinking-2507"
    gets = hub.requests("GET", "Tiny-Thinking-Q8_0.gguf")
    assert gets and all(e.range for e in gets)  # Range requests only, never the whole file

    out = StringIO()
    assert cli_main(["diff", str(ensure_model(INSTRUCT)), "Qwen/Tiny-GGUF/Q8_0/Tiny-Thinking-Q8_0.gguf",
                     "--json"], out) == 0
    data = json.loads(out.getvalue())
    assert data["b"]["location"] == "Hub Qwen/Tiny-GGUF" and data["templates"] == "different"
    assert {r["label"] for r in data["rows"] if r["differs"]} >= {"where", "chat template", "variant (guess)"}


def test_a_hub_error_is_one_line(hub: HubServer, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    hub.add_repo("Qwen/Tiny-GGUF", {"README.md": "tiny"})
    assert cli_main(["diff", str(ensure_model(INSTRUCT)), "Qwen/Tiny-GGUF/nope.gguf"], StringIO()) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope.gguf" in err and "Traceback" not in err


def test_cli_table_and_template_diff() -> None:
    a, b = ensure_model(INSTRUCT), ensure_model(THINKING)
    out = StringIO()
    assert cli_main(["diff", str(a), str(b)], out) == 0
    text = out.getvalue()
    lines = text.splitlines()
    assert lines[0] == f"A  {a}" and lines[1] == f"B  {b}"
    marked = {line.split()[1] for line in lines if line.startswith("≠ ")}
    assert marked == {"file", "size", "model", "variant", "chat"}
    assert any(line.startswith("  blocks ") and line.split()[1:] == ["2", "2"] for line in lines)
    assert "chat templates: different\n" in text and f"--- a/{a.name}\n" in text
    assert "+    {{- '<|im_start|>assistant\\n<think>\\n' }}\n" in text

    out = StringIO()
    assert cli_main(["diff", str(a), str(a)], out) == 0
    assert "≠" not in out.getvalue() and out.getvalue().endswith("chat templates: identical\n")
    out = StringIO()
    assert cli_main(["diff", str(a), str(a), "--only-differences"], out) == 0
    assert "no differences" in out.getvalue()


def test_cli_json() -> None:
    a, b = ensure_model("qwen3-tiny-hybrid-q8_0"), ensure_model(NO_FIM)
    out = StringIO()
    assert cli_main(["diff", str(a), str(b), "--json"], out) == 0
    data = json.loads(out.getvalue())
    fim = next(r for r in data["rows"] if r["label"] == "FIM tokens")
    assert fim == {"section": "special tokens", "label": "FIM tokens", "a": "all 6", "b": "none", "differs": True}
    assert data["templates"] == "identical" and data["template_diff"] == ""
    assert data["a"]["fim_tokens"] == list(FIM_TOKENS) and data["b"]["fim_tokens"] == []
    assert "template" not in data["a"] and data["a"]["template_chars"] > 1000
    out = StringIO()
    assert cli_main(["diff", str(a), str(b), "--json", "--only-differences"], out) == 0
    assert all(r["differs"] for r in json.loads(out.getvalue())["rows"])


def test_bad_inputs_are_one_line_with_the_right_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    good = ensure_model(INSTRUCT)
    raw = good.read_bytes()
    cut_header = tmp_path / "cut-header.gguf"
    cut_header.write_bytes(raw[:3000])
    cut_data = tmp_path / "cut-data.gguf"
    cut_data.write_bytes(raw[: len(raw) - 1000])
    html = tmp_path / "page.gguf"
    html.write_bytes(b"<html>rate limited</html>" + bytes(100))
    cases = [(str(tmp_path / "missing.gguf"), 2, "no such file"), (str(cut_header), 1, "truncated"),
             (str(cut_data), 1, "truncated"), (str(html), 1, "not a GGUF file"), (str(tmp_path), 1, "regular file")]
    for path, code, words in cases:
        assert cli_main(["diff", str(good), path], StringIO()) == code, path
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err and "Traceback" not in err, err
        assert cli_main(["diff", path, str(good), "--json"], StringIO()) == code, path
        assert words in capsys.readouterr().err

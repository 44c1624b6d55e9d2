"""inspect_model: what a chat reads from a GGUF before loading it."""

from __future__ import annotations

from pathlib import Path

from explorer.gguf.model_info import inspect_model
from explorer.gguf.variant import Variant
from explorer.testing.models import TEST_MODELS, ensure_model


def test_variant_from_template_then_name_then_fallback(tmp_path: Path) -> None:
    hybrid = inspect_model(ensure_model("qwen3-tiny-hybrid-q8_0"))
    assert hybrid.variant is Variant.HYBRID and hybrid.template and hybrid.shape.file_type == "Q8_0"
    assert hybrid.shape.ctx_train == TEST_MODELS["qwen3-tiny-hybrid-q8_0"].ctx_train
    assert inspect_model(ensure_model("qwen3-tiny-base-f16")).variant is Variant.BASE
    # An Instruct-2507 template does not say which variant it is; an anonymous file name neither.
    anonymous = tmp_path / "model.gguf"
    anonymous.write_bytes(ensure_model("qwen3-tiny-instruct-q8_0").read_bytes())
    assert inspect_model(anonymous).variant is Variant.HYBRID
    assert inspect_model(anonymous, fallback=Variant.INSTRUCT_2507).variant is Variant.INSTRUCT_2507
    assert inspect_model(anonymous, Variant.CODER).variant is Variant.CODER  # the caller knows better

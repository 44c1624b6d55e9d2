"""What a chat needs to know about a local GGUF before loading it, read from its header(s).

Both the GUI's chat panes and `qwen3-explorer chat` start here: the variant (from the chat template,
else the file name), the template itself, the shape the fit estimate needs, the trained context.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from explorer.gguf.reader import chat_template, read_model_headers, shape_from_headers
from explorer.gguf.shape import ModelShape
from explorer.gguf.variant import Variant, variant_from_template


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    variant: Variant
    template: str | None
    shape: ModelShape  # with the quant label (file_type) and the trained context (ctx_train)


def inspect_model(path: Path, variant: Variant | None = None, *, fallback: Variant = Variant.HYBRID) -> ModelInfo:
    """Read the GGUF header(s) of `path`; raises GGUFError for a file that is not a readable GGUF.

    `variant` overrides what the file says; `fallback` is used when neither the template nor the
    file name tells (Instruct-2507 and Coder templates look alike).
    """
    from explorer.gguf.variant import guess_variant

    headers = read_model_headers(path)
    shape = shape_from_headers(headers)
    template = chat_template(headers[0])
    if variant is None:
        variant = variant_from_template(template) or guess_variant(path.name) or fallback
    return ModelInfo(path=path, variant=variant, template=template, shape=shape)

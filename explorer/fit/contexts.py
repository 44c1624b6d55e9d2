"""The context lengths the app offers, and its two defaults, which answer different questions.

- DEFAULT_FIT_CTX: the context a verdict is judged at (the Models tab, `qwen3-explorer fit`). Qwen3's
  native context, so "fits" means fits at the length the models were trained for.
- DEFAULT_CHAT_CTX: the context a chat pane (and `qwen3-explorer chat`) loads a model with: enough
  for a long conversation while keeping the KV cache small, so more panes run together.
"""

from __future__ import annotations

DEFAULT_FIT_CTX = 32768
DEFAULT_CHAT_CTX = 8192
CONTEXT_CHOICES = (4096, 8192, 16384, 32768, 40960, 65536, 131072, 262144)

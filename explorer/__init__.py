"""Qwen3 Explorer core: plain Python, no Qt."""

import os

__version__ = "0.1.0"

# A local app sends no telemetry. huggingface_hub also fetches `{endpoint}/api/agent-harnesses` once per
# process for its user agent unless telemetry is off, with no size limit on the answer (a hostile or
# broken Hub can stream it forever). Set before huggingface_hub reads its constants; a person's own
# setting wins.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

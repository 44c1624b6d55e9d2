"""Package data for Qwen3 Explorer: the offline catalog snapshot, chat templates, style and icons."""

"""GGUF files: the header reader (local and HTTP Range), model shapes, file names, which Qwen3 variant."""

"""Helpers for tests and benchmarks: generated Qwen3 GGUF models."""

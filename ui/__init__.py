"""Qwen3 Explorer user interface (PySide6)."""

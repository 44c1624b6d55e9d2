"""The command line: `qwen3-explorer <subcommand>` (no Qt)."""

"""The catalog of Qwen3 GGUFs: the shipped snapshot and its live refresh from the Hub."""

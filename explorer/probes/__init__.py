"""Probe sets: questions with optional checks, run through several model files to compare them.

`sets` reads and validates a set file (TOML, schema 1), `checks` marks an answer, `results` holds a
run's grid (questions x files) and its exports. The headless runner is `explorer.cli.probe_run`. No
Qt, no engine: this package imports only the standard library and `explorer.paths`.
"""

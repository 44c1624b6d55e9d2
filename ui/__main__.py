"""`python -m ui` starts Qwen3 Explorer (as the `qwen3-explorer` command does)."""

from ui.launcher import main

raise SystemExit(main())

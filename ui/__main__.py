"""`python -m ui` starts Qwen3 Explorer."""

from ui.app import main

raise SystemExit(main())

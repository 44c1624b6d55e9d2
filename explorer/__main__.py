"""`python -m explorer <subcommand>`: the command-line interface (no Qt)."""

from __future__ import annotations

import sys

from explorer.cli.main import main

if __name__ == "__main__":
    sys.exit(main())

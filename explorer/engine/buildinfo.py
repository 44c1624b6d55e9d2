"""The child side of the llama.cpp build check (explorer.hardware.llama_build asks, this answers).

Run as `python -m explorer.engine.buildinfo`: imports llama_cpp and prints one line, MARKER followed
by JSON. It lives in the engine because only the engine imports llama_cpp.
"""

from __future__ import annotations

import json
import sys

from explorer.hardware.llama_build import MARKER, NOT_INSTALLED


def main() -> int:
    """Child side: import llama_cpp and print what it reports as one marked JSON line."""
    try:
        import llama_cpp
    except ModuleNotFoundError as e:
        if e.name not in ("llama_cpp", None):
            raise  # llama_cpp is there but one of its own imports is missing: report it as a failure
        print(MARKER + json.dumps({"installed": False, "error": NOT_INSTALLED}), flush=True)
        return 0
    raw = llama_cpp.llama_print_system_info()
    info = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    answer = {
        "installed": True,
        "version": str(getattr(llama_cpp, "__version__", "") or "") or None,
        "gpu_offload": bool(llama_cpp.llama_supports_gpu_offload()),
        "system_info": info.strip(),
    }
    print(MARKER + json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

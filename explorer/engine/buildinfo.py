"""The child side of the llama.cpp build check (explorer.hardware.llama_build asks, this answers).

Run as `python -m explorer.engine.buildinfo`: imports llama_cpp and prints one line, MARKER followed
by JSON. It lives in the engine because only the engine imports llama_cpp.
"""

from __future__ import annotations

import ctypes
import json
import sys
from typing import Any

from explorer.hardware.llama_build import MARKER, NOT_INSTALLED

# llama.cpp's `const char * llm_arch_name(llm_arch)` (src/llama-arch.cpp): exported by libllama, not
# declared in llama.h. It names every architecture the build has, in enum order, and "(unknown)" (or
# "unknown") past the end of its table.
_ARCH_NAME_SYMBOL = "_Z13llm_arch_name8llm_arch"
_MAX_ARCHS = 4096


def architectures(lib: Any) -> list[str] | None:
    """The architecture names in the build's own table; None when the build does not export it."""
    try:
        fn = getattr(lib, _ARCH_NAME_SYMBOL)
    except AttributeError:
        return None
    fn.restype = ctypes.c_char_p
    fn.argtypes = [ctypes.c_int]
    names: list[str] = []
    for i in range(_MAX_ARCHS):
        raw = fn(i)
        name = raw.decode("utf-8", "replace") if raw else ""
        if not name or name in ("unknown", "(unknown)"):
            break
        names.append(name)
    return names or None


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
        "architectures": architectures(getattr(getattr(llama_cpp, "llama_cpp", None), "_lib", None)),
    }
    print(MARKER + json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

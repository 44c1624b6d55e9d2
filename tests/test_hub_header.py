"""A GGUF header read from the (loopback) Hub with Range requests equals the one read from disk."""

from __future__ import annotations

import pytest
from hub_fixtures import hub  # noqa: F401 - the fixture

from explorer.gguf.reader import GGUFError, read_local_header, read_shape
from explorer.gguf.remote import FIRST_CHUNK, read_remote_header, read_remote_shape
from explorer.testing.hub import HubServer
from explorer.testing.models import ensure_model


def test_remote_header_equals_local(hub: HubServer) -> None:  # noqa: F811
    path = ensure_model("qwen3-fit-dense-f16")  # 80 MiB
    hub.add_repo("Qwen/Qwen3-Fit-GGUF", {"model-F16.gguf": path})
    remote = read_remote_header("Qwen/Qwen3-Fit-GGUF", "model-F16.gguf")
    local = read_local_header(path)
    assert remote.tensors == local.tensors and remote.metadata == local.metadata
    gets = hub.requests("GET", "model-F16.gguf")
    assert sum(e.bytes_sent for e in gets) <= FIRST_CHUNK  # one 1 MiB range for an 80 MiB file
    assert all(e.range and e.range.startswith("bytes=") for e in gets)


def test_remote_estimate_equals_local(hub: HubServer) -> None:  # noqa: F811
    """The fit gets the same exact shape from the Hub, before any download, as from the file on disk."""
    path = ensure_model("qwen3moe-fit-q8_0")
    hub.add_repo("Qwen/Qwen3-MoE-GGUF", {"Q8_0/Qwen3-MoE-Q8_0.gguf": path})
    assert read_remote_shape("Qwen/Qwen3-MoE-GGUF", ["Q8_0/Qwen3-MoE-Q8_0.gguf"]) == read_shape(path)


def test_server_ignoring_range_still_works(hub: HubServer) -> None:  # noqa: F811
    path = ensure_model("qwen3-tiny-hybrid-q8_0")
    hub.add_repo("Qwen/Tiny-GGUF", {"t.gguf": path})
    hub.faults.set("ignore_range", "t.gguf", times=None)
    assert read_remote_header("Qwen/Tiny-GGUF", "t.gguf").tensors == read_local_header(path).tensors


@pytest.mark.parametrize("kind,kw,message", [
    ("status", {"status": 500}, "HTTP 500"),
    ("drop", {"after_bytes": 100}, "could not reach|truncated|HTTP"),
])
def test_hub_faults_become_clear_errors(hub: HubServer, kind: str, kw: dict, message: str) -> None:  # noqa: F811
    hub.add_repo("Qwen/Tiny-GGUF", {"t.gguf": ensure_model("qwen3-tiny-hybrid-q8_0")})
    hub.faults.set(kind, "resolve/main/t.gguf", method="GET", times=None, **kw)
    with pytest.raises(GGUFError, match=message):
        read_remote_header("Qwen/Tiny-GGUF", "t.gguf")


def test_missing_file_is_a_clear_error(hub: HubServer) -> None:  # noqa: F811
    hub.add_repo("Qwen/Tiny-GGUF", {"README.md": "tiny"})
    with pytest.raises(GGUFError, match="did not describe the file"):
        read_remote_header("Qwen/Tiny-GGUF", "nope.gguf")


def test_not_a_gguf_on_the_hub(hub: HubServer) -> None:  # noqa: F811
    hub.add_repo("Qwen/Fake-GGUF", {"fake.gguf": b"<html>rate limited</html>" + bytes(200)})
    with pytest.raises(GGUFError, match="not a GGUF file"):
        read_remote_header("Qwen/Fake-GGUF", "fake.gguf")

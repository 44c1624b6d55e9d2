"""The `hub` fixture: a loopback Hugging Face Hub (explorer.testing.hub) that the real client talks to.

Use it by importing it into a test module (`from hub_fixtures import hub`; pytest puts tests/ on
sys.path, as for fakes_hardware), then take `hub` as an argument. The fixture starts a `HubServer`
on a free port with an empty repo folder (`hub.root`; add repos with `hub.add_repo(...)`) and points
huggingface_hub at it for the test.

huggingface_hub 2.4.0 reads its settings once, at import (`huggingface_hub.constants`), so setting
environment variables inside a test is not enough. `point_client_at` therefore patches, for the test:
- env HF_ENDPOINT, HF_HUB_DISABLE_XET=1, HF_HUB_OFFLINE=0, HF_HOME, HF_HUB_CACHE (for subprocesses,
  which import afresh) and removes HF_TOKEN;
- `constants.ENDPOINT` and `constants.HUGGINGFACE_CO_URL_TEMPLATE`: hf_hub_url() builds download URLs
  from the template, which was formatted with the endpoint at import, so both must change;
- `constants.HF_HUB_DISABLE_XET`, `HF_HUB_OFFLINE`, `HF_HUB_DISABLE_TELEMETRY`, and the cache and token
  paths (HF_HOME, HF_HUB_CACHE, HF_XET_CACHE, HF_ASSETS_CACHE, HF_TOKEN_PATH, HF_STORED_TOKENS_PATH),
  so nothing reads or writes the user's real HF cache or token;
- `huggingface_hub.hf_api.api.endpoint`: the module-level functions (`huggingface_hub.model_info`,
  `list_models`, ...) are bound methods of an HfApi made at import, with the import-time endpoint.
`HfApi(endpoint=hub.endpoint)` and `hf_hub_download(..., endpoint=hub.endpoint)` work regardless.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from explorer.testing.hub import HubServer


def point_client_at(server: HubServer, monkeypatch: pytest.MonkeyPatch, hf_home: Path) -> None:
    """Make huggingface_hub (already imported or not) use `server` and a private cache under `hf_home`."""
    from huggingface_hub import constants, hf_api

    hf_home.mkdir(parents=True, exist_ok=True)
    cache = hf_home / "hub"
    env = {**server.env(), "HF_HOME": str(hf_home), "HF_HUB_CACHE": str(cache),
           "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    for k in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_ENABLE_HF_TRANSFER", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(k, raising=False)
    patches = {
        "ENDPOINT": server.endpoint,
        "HUGGINGFACE_CO_URL_TEMPLATE": server.endpoint + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_HUB_DISABLE_XET": True,
        "HF_HUB_OFFLINE": False,
        "HF_HUB_DISABLE_TELEMETRY": True,
        "HF_HOME": str(hf_home),
        "HF_HUB_CACHE": str(cache),
        "HF_XET_CACHE": str(hf_home / "xet"),
        "HF_ASSETS_CACHE": str(hf_home / "assets"),
        "HF_TOKEN_PATH": str(hf_home / "token"),
        "HF_STORED_TOKENS_PATH": str(hf_home / "stored_tokens"),
    }
    for name, value in patches.items():
        monkeypatch.setattr(constants, name, value, raising=False)
    monkeypatch.setattr(hf_api.api, "endpoint", server.endpoint)


@pytest.fixture
def hub(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    """A running loopback Hub with an empty repo folder; huggingface_hub points at it for this test."""
    base = tmp_path_factory.mktemp("hub")
    with HubServer(base / "repos") as server:
        point_client_at(server, monkeypatch, base / "hf-home")
        yield server

"""The loopback Hub (explorer.testing.hub) against the real huggingface_hub client, and its faults."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
from pathlib import Path

import httpx2
import hub_fixtures
import pytest
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from explorer.testing.hub import HubServer
from explorer.testing.hub_faults import Fault
from explorer.testing.hub_repos import commit_sha, split_file

hub = hub_fixtures.hub  # the fixture

REPO = "Qwen/Qwen3-Tiny-GGUF"
WEIGHTS = bytes(range(256)) * 1200 + b"tail"  # 307204 bytes: several 64 KiB chunks
SHARD = b"shard-bytes" * 100
README = "# Qwen3 Tiny\n"


def git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@pytest.fixture
def repo(hub: HubServer) -> str:
    hub.add_repo(REPO, {"Qwen3-Tiny-Q8_0.gguf": WEIGHTS, "README.md": README,
                        "Q4_K_M/Qwen3-Tiny-Q4_K_M-00001-of-00002.gguf": SHARD,
                        "Q4_K_M/Qwen3-Tiny-Q4_K_M-00002-of-00002.gguf": SHARD[::-1]},
                 downloads=500, likes=7)
    hub.add_repo("Qwen/Qwen3-Other-GGUF", {"Qwen3-Other-F16.gguf": b"other"}, downloads=900)
    hub.add_repo("someone/Llama-Thing", {"config.json": "{}"})
    return REPO


def raw_get(hub: HubServer, target: str, headers: dict[str, str] | None = None,
            method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """A request with the target sent exactly as given (httpx would normalise `..`)."""
    conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=5)
    try:
        conn.request(method, target, headers=headers or {})
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


# --- the real client ----------------------------------------------------------------------------


def test_list_models_search_author_filter_sort_limit(hub: HubServer, repo: str) -> None:
    api = HfApi(endpoint=hub.endpoint)
    assert [m.id for m in api.list_models(search="tiny")] == [REPO]
    assert {m.id for m in api.list_models(author="Qwen")} == {REPO, "Qwen/Qwen3-Other-GGUF"}
    assert [m.id for m in api.list_models(search="qwen3", sort="downloads", limit=1)] == ["Qwen/Qwen3-Other-GGUF"]
    assert [m.id for m in api.list_models(filter="gguf", author="someone")] == []
    m = next(iter(api.list_models(search="Qwen3-Tiny")))
    assert (m.sha, m.downloads, m.likes, m.private) == (commit_sha(REPO), 500, 7, False)
    assert m.last_modified is not None
    assert hub.requests("GET", "/api/models?")[0].status == 200


def test_model_info_files_metadata_matches_files(hub: HubServer, repo: str) -> None:
    info = HfApi(endpoint=hub.endpoint).model_info(repo, files_metadata=True)
    assert info.id == REPO and info.sha == commit_sha(REPO) and len(info.sha) == 40
    sib = {s.rfilename: s for s in info.siblings or []}
    assert set(sib) == {".gitattributes", "README.md", "Qwen3-Tiny-Q8_0.gguf",
                        "Q4_K_M/Qwen3-Tiny-Q4_K_M-00001-of-00002.gguf", "Q4_K_M/Qwen3-Tiny-Q4_K_M-00002-of-00002.gguf"}
    w = sib["Qwen3-Tiny-Q8_0.gguf"]
    assert w.size == len(WEIGHTS) and w.lfs is not None
    assert w.lfs.sha256 == hashlib.sha256(WEIGHTS).hexdigest() and w.lfs.size == len(WEIGHTS)
    assert sib["README.md"].lfs is None and sib["README.md"].blob_id == git_sha1(README.encode())
    assert sib["Q4_K_M/Qwen3-Tiny-Q4_K_M-00001-of-00002.gguf"].size == len(SHARD)
    assert hub.requests("GET", "?blobs=true")
    # without files_metadata: names only; by revision (the commit sha) as well
    plain = HfApi(endpoint=hub.endpoint).model_info(repo, revision=commit_sha(REPO))
    assert plain.siblings and plain.siblings[0].size is None


def test_model_info_errors(hub: HubServer, repo: str) -> None:
    api = HfApi(endpoint=hub.endpoint)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("Qwen/Nope")
    with pytest.raises(RevisionNotFoundError):
        api.model_info(repo, revision="v9")


def test_list_repo_tree(hub: HubServer, repo: str) -> None:
    api = HfApi(endpoint=hub.endpoint)
    flat = {e.path: e for e in api.list_repo_tree(repo)}
    assert set(flat) == {".gitattributes", "README.md", "Qwen3-Tiny-Q8_0.gguf", "Q4_K_M"}
    assert type(flat["Q4_K_M"]).__name__ == "RepoFolder"
    deep = {e.path: e for e in api.list_repo_tree(repo, recursive=True)}
    shard = deep["Q4_K_M/Qwen3-Tiny-Q4_K_M-00002-of-00002.gguf"]
    assert shard.size == len(SHARD) and shard.lfs is not None  # type: ignore[union-attr]
    assert shard.lfs.sha256 == hashlib.sha256(SHARD[::-1]).hexdigest()  # type: ignore[union-attr]
    sub = [e.path for e in api.list_repo_tree(repo, path_in_repo="Q4_K_M")]
    assert sub == ["Q4_K_M/Qwen3-Tiny-Q4_K_M-00001-of-00002.gguf", "Q4_K_M/Qwen3-Tiny-Q4_K_M-00002-of-00002.gguf"]
    with pytest.raises(EntryNotFoundError):
        list(api.list_repo_tree(repo, path_in_repo="nope"))


def test_hf_hub_download_lands_in_cache_layout(hub: HubServer, repo: str, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    path = Path(hf_hub_download(repo, "Qwen3-Tiny-Q8_0.gguf", cache_dir=cache))  # endpoint from the fixture
    sha = commit_sha(REPO)
    assert path == cache / "models--Qwen--Qwen3-Tiny-GGUF" / "snapshots" / sha / "Qwen3-Tiny-Q8_0.gguf"
    assert path.read_bytes() == WEIGHTS
    blob = cache / "models--Qwen--Qwen3-Tiny-GGUF" / "blobs" / hashlib.sha256(WEIGHTS).hexdigest()
    assert blob.exists() and (cache / "models--Qwen--Qwen3-Tiny-GGUF" / "refs" / "main").read_text() == sha
    methods = [(e.method, e.status) for e in hub.requests(contains="/resolve/")]
    assert methods == [("HEAD", 200), ("GET", 200)]
    # a file in a subfolder, into the default cache: the fixture's HF_HOME, never the user's
    sub = Path(hf_hub_download(repo, "Q4_K_M/Qwen3-Tiny-Q4_K_M-00001-of-00002.gguf"))
    assert sub.read_bytes() == SHARD
    assert str(sub).startswith(os.environ["HF_HUB_CACHE"])
    readme = Path(hf_hub_download(repo, "README.md", cache_dir=cache))
    assert readme.read_text() == README and readme.resolve().name == git_sha1(README.encode())


def test_hf_hub_download_missing_file(hub: HubServer, repo: str, tmp_path: Path) -> None:
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(repo, "nope.gguf", cache_dir=tmp_path)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("Qwen/Nope", "x.gguf", cache_dir=tmp_path)


@pytest.mark.parametrize("cdn_host", [None, "localhost"])
def test_lfs_redirect_to_cdn(hub: HubServer, repo: str, tmp_path: Path, cdn_host: str | None) -> None:
    # Same origin: the client follows the 302 on HEAD. Another host ("localhost"), as the real CDN:
    # it stops at the 302, reads X-Linked-Etag / X-Linked-Size from it, and GETs the Location.
    hub.lfs_redirect = True
    hub.cdn_host = cdn_host
    path = hf_hub_download(repo, "Qwen3-Tiny-Q8_0.gguf", cache_dir=tmp_path)
    assert Path(path).read_bytes() == WEIGHTS
    log = [(e.method, e.path.split("/")[1], e.status) for e in hub.log]
    assert log[0] == ("HEAD", "Qwen", 302) and ("GET", "cdn", 200) in log
    assert (("HEAD", "cdn", 200) in log) == (cdn_host is None)
    assert not any(e.method == "GET" and "/resolve/" in e.path for e in hub.log)


def test_range_requests(hub: HubServer, repo: str) -> None:
    url = hub.url(repo, "Qwen3-Tiny-Q8_0.gguf")
    r = httpx2.get(url, headers={"Range": "bytes=1000-1999"})
    assert r.status_code == 206 and r.content == WEIGHTS[1000:2000]
    assert r.headers["Content-Range"] == f"bytes 1000-1999/{len(WEIGHTS)}"
    assert r.headers["X-Linked-Etag"] == f'"{hashlib.sha256(WEIGHTS).hexdigest()}"'
    assert r.headers["X-Repo-Commit"] == commit_sha(REPO) and r.headers["Accept-Ranges"] == "bytes"
    r = httpx2.get(url, headers={"Range": "bytes=-4"})
    assert r.status_code == 206 and r.content == b"tail"
    r = httpx2.get(url, headers={"Range": f"bytes={len(WEIGHTS)}-"})
    assert r.status_code == 416
    h = httpx2.head(url)
    assert h.status_code == 200 and int(h.headers["Content-Length"]) == len(WEIGHTS)
    assert hub.log[0].range == "bytes=1000-1999" and hub.log[0].bytes_sent == 1000


# --- faults -------------------------------------------------------------------------------------


def test_drop_mid_body_client_resumes_with_range(hub: HubServer, repo: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # The client writes the body in DOWNLOAD_CHUNK_SIZE (10 MiB) pieces and, after a dropped
    # connection, resumes from the bytes it has written: a drop within the first 10 MiB restarts at 0.
    hub.faults.add(Fault("drop", "/resolve/", method="GET", after_bytes=100_000))
    path = hf_hub_download(repo, "Qwen3-Tiny-Q8_0.gguf", cache_dir=tmp_path / "a")  # retries after 1 s
    assert Path(path).read_bytes() == WEIGHTS
    gets = hub.requests("GET", "/resolve/")
    assert [(g.range, g.bytes_sent) for g in gets] == [(None, 100_000), (None, len(WEIGHTS))]
    assert gets[0].faults == ("drop",)
    # With small chunks it asks for the rest with a Range header and the server sends only the rest.
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 32 * 1024)
    hub.clear_log()
    hub.faults.add(Fault("drop", "/resolve/", method="GET", after_bytes=100_000))
    path = hf_hub_download(repo, "Qwen3-Tiny-Q8_0.gguf", cache_dir=tmp_path / "b")
    assert Path(path).read_bytes() == WEIGHTS
    first, second = hub.requests("GET", "/resolve/")
    assert first.bytes_sent == 100_000 and second.status == 206
    resumed_at = 3 * 32 * 1024  # the whole chunks written before the drop
    assert second.range == f"bytes={resumed_at}-" and second.bytes_sent == len(WEIGHTS) - resumed_at


def test_drop_gives_short_read_or_error(hub: HubServer, repo: str) -> None:
    url = hub.url(repo, "Qwen3-Tiny-Q8_0.gguf")
    hub.faults.set("drop", "Q8_0", after_bytes=10)
    with pytest.raises(httpx2.RemoteProtocolError):
        httpx2.get(url)
    hub.faults.set("drop", "Q8_0")  # before any response
    with pytest.raises(httpx2.RemoteProtocolError):
        httpx2.get(url)
    assert [e.status for e in hub.log] == [200, 0]
    assert httpx2.get(url).content == WEIGHTS  # faults were used up (times=1)


def test_stall_times_out(hub: HubServer, repo: str) -> None:
    url = hub.url(repo, "README.md")
    hub.faults.set("stall", "README", seconds=2)
    with pytest.raises(httpx2.ReadTimeout):
        httpx2.get(url, timeout=0.3)
    hub.faults.set("stall", "Q8_0", seconds=2, after_bytes=1000)
    with pytest.raises(httpx2.ReadTimeout):
        httpx2.get(hub.url(repo, "Qwen3-Tiny-Q8_0.gguf"), timeout=0.3)


def test_status_faults(hub: HubServer, repo: str) -> None:
    api = HfApi(endpoint=hub.endpoint)
    hub.faults.set("status", "/api/models/", status=500)
    with pytest.raises(HfHubHTTPError) as exc:
        api.model_info(repo)
    assert exc.value.response.status_code == 500
    assert api.model_info(repo).id == REPO  # used up
    hub.faults.set("status", "/resolve/", status=429, retry_after=7, times=None)
    r = httpx2.get(hub.url(repo, "README.md"))
    assert r.status_code == 429 and r.headers["Retry-After"] == "7"
    hub.faults.clear()
    hub.faults.set("status", "/resolve/", status=503, times=2)
    assert [httpx2.head(hub.url(repo, "README.md")).status_code for _ in range(3)] == [503, 503, 200]


def test_corrupt_byte(hub: HubServer, repo: str, tmp_path: Path) -> None:
    url = hub.url(repo, "Qwen3-Tiny-Q8_0.gguf")
    hub.faults.set("corrupt", "Q8_0", offset=70_000, times=2)
    body = httpx2.get(url).content
    assert len(body) == len(WEIGHTS) and body != WEIGHTS
    assert [i for i in range(len(body)) if body[i] != WEIGHTS[i]] == [70_000]
    part = httpx2.get(url, headers={"Range": "bytes=69990-70009"}).content  # offsets are file offsets
    assert part[10] != WEIGHTS[70_000] and part[:10] == WEIGHTS[69_990:70_000]
    # huggingface_hub 2.4.0 does not check the sha256: the wrong byte lands in the cache
    hub.faults.set("corrupt", "Q8_0", method="GET", offset=5)
    data = Path(hf_hub_download(repo, "Qwen3-Tiny-Q8_0.gguf", cache_dir=tmp_path)).read_bytes()
    assert data != WEIGHTS and hashlib.sha256(data).hexdigest() != hashlib.sha256(WEIGHTS).hexdigest()


def test_malformed_json(hub: HubServer, repo: str) -> None:
    hub.faults.set("malformed", "/api/models/", times=None)
    api = HfApi(endpoint=hub.endpoint)
    with pytest.raises(ValueError):  # json.JSONDecodeError
        api.model_info(repo)
    with pytest.raises(ValueError):
        list(api.list_repo_tree(repo))


def test_ignore_range(hub: HubServer, repo: str, tmp_path: Path,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 25_000)  # so that the client resumes at 50000
    url = hub.url(repo, "Qwen3-Tiny-Q8_0.gguf")
    hub.faults.set("ignore_range", "Q8_0")
    r = httpx2.get(url, headers={"Range": "bytes=10-19"})
    assert r.status_code == 200 and r.content == WEIGHTS
    # the client restarts from zero when its resume is answered 200
    hub.faults.add(Fault("drop", "Q8_0", method="GET", after_bytes=50_000))
    hub.faults.add(Fault("ignore_range", "Q8_0", method="GET", times=None))
    assert Path(hf_hub_download(repo, "Qwen3-Tiny-Q8_0.gguf", cache_dir=tmp_path)).read_bytes() == WEIGHTS
    gets = hub.requests("GET", "/resolve/")[1:]
    assert [(g.range, g.status, g.bytes_sent) for g in gets] == [(None, 200, 50_000),
                                                                  ("bytes=50000-", 200, len(WEIGHTS))]


# --- safety and odd requests ----------------------------------------------------------------------


def test_path_traversal_refused(hub: HubServer, repo: str) -> None:
    secret = hub.root.parent / "secret.txt"
    secret.write_text("nope")
    (hub.root / "Qwen" / "secret.gguf").write_text("nope")
    os.symlink(secret, hub.root / "Qwen" / "Qwen3-Tiny-GGUF" / "link.gguf")
    for target in ("/Qwen/Qwen3-Tiny-GGUF/resolve/main/../../../secret.txt",
                   "/Qwen/Qwen3-Tiny-GGUF/resolve/main/..%2F..%2F..%2Fsecret.txt",
                   "/Qwen/Qwen3-Tiny-GGUF/resolve/main/%2E%2E/secret.gguf",
                   "/Qwen/Qwen3-Tiny-GGUF/resolve/main/%2Fetc%2Fpasswd",
                   "/Qwen/Qwen3-Tiny-GGUF/resolve/main//etc/passwd",
                   "/Qwen/Qwen3-Tiny-GGUF/resolve/main/link.gguf",
                   "/Qwen/../resolve/main/secret.gguf",
                   "/cdn/Qwen/Qwen3-Tiny-GGUF/../secret.gguf",
                   "/api/models/Qwen/Qwen3-Tiny-GGUF/tree/main/..%2F..",
                   "/api/models/Qwen/..?blobs=true"):
        status, _, body = raw_get(hub, target)
        assert status == 404, target
        assert b"nope" not in body
    listed = [s["rfilename"] for s in json.loads(raw_get(hub, f"/api/models/{REPO}?blobs=true")[2])["siblings"]]
    assert "link.gguf" not in listed


def test_unknown_api_and_hidden_files(hub: HubServer, repo: str) -> None:
    status, headers, body = raw_get(hub, "/api/whoami-v2")
    assert status == 404 and headers["Content-Type"].startswith("application/json") and json.loads(body)
    status, _, _ = raw_get(hub, f"/{REPO}/resolve/main/.hub.json")
    assert status == 404
    status, headers, _ = raw_get(hub, f"/{REPO}/resolve/main/nope.gguf", method="HEAD")
    assert status == 404 and headers["X-Error-Code"] == "EntryNotFound"


def test_split_file_names_like_gguf_split(tmp_path: Path) -> None:
    src = tmp_path / "m.gguf"
    src.write_bytes(b"0123456789")
    parts = split_file(src, tmp_path / "out", "Qwen3-X-Q8_0", 3)
    assert [p.name for p in parts] == [f"Qwen3-X-Q8_0-0000{i}-of-00003.gguf" for i in (1, 2, 3)]
    assert b"".join(p.read_bytes() for p in parts) == b"0123456789"


def test_stop_is_prompt_with_a_stalled_request(tmp_path: Path) -> None:
    import threading
    import time

    server = HubServer(tmp_path).start()
    server.faults.set("stall", "", seconds=30)

    def call() -> None:
        with contextlib.suppress(OSError, http.client.HTTPException):
            raw_get(server, "/api/x")

    t = threading.Thread(target=call, daemon=True)
    t.start()
    deadline = time.monotonic() + 10
    while not server.requests("GET", "/api/x"):  # the request is in, and stalled for 30 s
        assert time.monotonic() < deadline, "the request never arrived"
        time.sleep(0.01)
    server.stop()  # returns only once the serving thread has ended (joined)
    t.join(timeout=10)
    assert not t.is_alive()  # the stalled answer was cut, not waited out
    assert not t.is_alive()

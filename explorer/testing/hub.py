"""A small Hugging Face Hub on loopback, for tests and demos (standard library only).

It serves model repos from a folder, `<root>/<owner>/<name>/<path in repo>`, with the endpoints that
huggingface_hub 2.4.0 uses to search, inspect and download (HF_HUB_DISABLE_XET=1, plain HTTP):

- `GET /api/models?search=&author=&filter=&sort=&limit=`: list_models
- `GET /api/models/{repo}[/revision/{rev}][?blobs=true]`: model_info (files_metadata=True adds sizes, lfs)
- `GET /api/models/{repo}/tree/{rev}[/{path}][?recursive=true]`: list_repo_tree
- `HEAD|GET /{repo}/resolve/{rev}/{path}`: hf_hub_download, with Range support; optionally a 302 to
  `/cdn/{repo}/{path}` for LFS files, as the real Hub redirects them to its CDN.

Files ending in `.gguf` are LFS files (ETag and X-Linked-Etag are their sha256); others are regular git
files (ETag is the git blob sha1). Each repo has a fixed commit sha (the sha1 of its id). Any other
`/api/` GET answers 404 JSON. Repo paths with `..`, empty or hidden parts never leave the root.

Tests inject faults with `server.faults.add(Fault(...))` (hub_faults) and read `server.log` (one
`LogEntry` per request: method, path, Range header, status, body bytes sent, connection number).
`rate_cap` caps each connection's bytes per second, as the Hub's CDN does (what makes parallel
Range requests pay). The repos on disk are
hub_repos', the HTTP handler hub_http's; this module runs the server and the demo. Demo:
`python -m explorer.testing.hub [--port P] [--root DIR]`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

from explorer.testing.hub_faults import Fault, Faults, LogEntry, Record
from explorer.testing.hub_http import Handler, HubHTTPServer
from explorer.testing.hub_repos import HashCache, Repo, make_repo, safe_parts, split_file


class HubServer:
    """A loopback Hub serving the repos under `root`. Use as a context manager, or start()/stop()."""

    def __init__(self, root: str | os.PathLike[str], *, host: str = "127.0.0.1", port: int = 0,
                 lfs_redirect: bool = False, cdn_host: str | None = None, verbose: bool = False,
                 rate_cap: float | None = None) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = port
        self.lfs_redirect = lfs_redirect
        self.cdn_host = cdn_host
        self.verbose = verbose
        self.rate_cap = rate_cap  # bytes per second per connection, as a CDN caps them (None: no cap)
        self.faults = Faults()
        self._log: list[Record] = []
        self._log_lock = threading.Lock()
        self._hashes = HashCache()
        self._httpd: HubHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self._accepted = 0

    # lifecycle

    def start(self) -> HubServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = HubHTTPServer((self.host, self.port), Handler)
        httpd.hub = self
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"hub-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        with self._conns_lock:
            conns = list(self._conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def cdn_base(self) -> str:
        return f"http://{self.cdn_host or self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment for a client process: this endpoint, plain HTTP downloads (no Xet)."""
        return {"HF_ENDPOINT": self.endpoint, "HF_HUB_DISABLE_XET": "1", "HF_HUB_OFFLINE": "0"}

    # repos

    def add_repo(self, repo_id: str, files: Mapping[str, str | bytes | os.PathLike[str]], **kw: Any) -> Path:
        return make_repo(self.root, repo_id, files, **kw)

    def url(self, repo_id: str, path: str, revision: str = "main") -> str:
        return f"{self.endpoint}/{repo_id}/resolve/{revision}/{quote(path)}"

    def repo_ids(self) -> list[str]:
        out = []
        for owner in sorted(self.root.iterdir()) if self.root.is_dir() else []:
            if owner.is_dir() and safe_parts(owner.name):
                out += [f"{owner.name}/{n.name}" for n in sorted(owner.iterdir())
                        if n.is_dir() and safe_parts(n.name)]
        return out

    def find_repo(self, seg: list[str]) -> Repo | None:
        if len(seg) != 2 or any(safe_parts(s) is None for s in seg):
            return None
        repo = Repo(self.root, "/".join(seg), self._hashes)
        try:
            if not repo.dir.is_dir() or not repo.dir.resolve().is_relative_to(self.root.resolve()):
                return None
        except OSError:
            return None
        return repo

    def list_models(self, q: Mapping[str, str]) -> list[dict[str, Any]]:
        search = q.get("search", "").lower()
        author = q.get("author", "").lower()
        wanted = [t for t in q.get("filter", "").split(",") if t]
        out: list[dict[str, Any]] = []
        for rid in self.repo_ids():
            repo = Repo(self.root, rid, self._hashes)
            if search and search not in rid.lower():
                continue
            if author and repo.owner.lower() != author:
                continue
            item = repo.summary()
            if any(t not in item["tags"] for t in wanted):
                continue
            if q.get("full", "").lower() in ("1", "true") or "siblings" in q.get("expand", ""):
                item["siblings"] = [{"rfilename": p} for p in repo.paths()]
            out.append(item)
        sort = q.get("sort")
        key = {"downloads": "downloads", "likes": "likes", "lastModified": "lastModified",
               "last_modified": "lastModified", "createdAt": "createdAt", "created_at": "createdAt"}.get(sort or "")
        if key:
            out.sort(key=lambda m: m[key], reverse=True)
        limit = q.get("limit", "")
        if limit.isdigit():
            out = out[: int(limit)]
        return out

    # faults, log, connections

    @property
    def log(self) -> list[LogEntry]:
        with self._log_lock:
            return [LogEntry(r.method, r.path, r.range, r.status, r.bytes_sent, r.faults, r.connection)
                    for r in self._log]

    def clear_log(self) -> None:
        with self._log_lock:
            self._log.clear()

    def requests(self, method: str | None = None, contains: str = "") -> list[LogEntry]:
        return [e for e in self.log if (method is None or e.method == method) and contains in e.path]

    def record(self, method: str, path: str, rng: str | None, faults: list[Fault], connection: int = 0) -> Record:
        rec = Record(method, path, rng, tuple(f.kind for f in faults), connection=connection)
        with self._log_lock:
            self._log.append(rec)
        return rec

    def next_connection(self) -> int:
        with self._conns_lock:
            self._accepted += 1
            return self._accepted - 1

    def sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def stopping(self) -> bool:
        return self._stopping.is_set()

    def track(self, conn: socket.socket, add: bool) -> None:
        with self._conns_lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)


# --- demo ------------------------------------------------------------------------------------------

DEMO_README = """---
library_name: gguf
tags: [gguf, qwen3, test-model]
---
# {repo}

Generated test model (random weights) served by explorer.testing.hub.
"""


def build_demo(root: Path) -> list[str]:
    """Demo repos from the generated test models; one model is also split in 3 shards."""
    from explorer.testing.models import FIT_MODELS, TEST_MODELS, ensure_model

    repos: dict[str, dict[str, str | bytes | os.PathLike[str]]] = {}
    downloads = 1000
    for spec in TEST_MODELS.values():
        src = ensure_model(spec)
        base = spec.name.replace("qwen3moe-tiny", "Qwen3-MoE-Tiny").replace("qwen3-tiny", "Qwen3-Tiny")
        stem, dtype = base.rsplit("-", 1)
        parts = stem.split("-")
        repo_id = "Qwen/" + "-".join(p.capitalize() if p.islower() else p for p in parts) + "-GGUF"
        files = repos.setdefault(repo_id, {"README.md": DEMO_README.format(repo=repo_id)})
        files[f"{repo_id.split('/')[1].removesuffix('-GGUF')}-{dtype.upper()}.gguf"] = src
    for rid, files in repos.items():
        make_repo(root, rid, files, downloads=downloads, likes=downloads // 100, link=True)
        downloads += 250
    # A larger model in three shards, under a subfolder, like the big Qwen3 GGUF repos.
    fit = next(iter(FIT_MODELS.values()))
    src = ensure_model(fit)
    rid = "Qwen/Qwen3-Fit-Dense-GGUF"
    shard_dir = root / "Qwen" / "Qwen3-Fit-Dense-GGUF" / "F16"
    split_file(src, shard_dir, "Qwen3-Fit-Dense-F16", 3)
    make_repo(root, rid, {"README.md": DEMO_README.format(repo=rid), "Qwen3-Fit-Dense-F16.gguf": src},
              downloads=5000, likes=42, link=True)
    return [*repos, rid]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m explorer.testing.hub", description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--root", type=Path, default=None, help="repos folder (default: a demo built in a temp dir)")
    ap.add_argument("--redirect", action="store_true", help="302 LFS downloads to /cdn/ like the real Hub")
    ap.add_argument("--verbose", action="store_true", help="log every request")
    ap.add_argument("--rate-cap-mib", type=float, default=None,
                    help="cap each connection at this many MiB/s, as the Hub's CDN does")
    args = ap.parse_args(argv)
    import tempfile

    tmp: tempfile.TemporaryDirectory[str] | None = None
    root: Path = args.root
    if root is None:
        tmp = tempfile.TemporaryDirectory(prefix="qwen3-hub-")
        root = Path(tmp.name)
    if not any(root.glob("*/*")):
        print(f"building demo repos in {root} ...", file=sys.stderr)
        for rid in build_demo(root):
            print(f"  {rid}", file=sys.stderr)
    cap = args.rate_cap_mib * 2**20 if args.rate_cap_mib else None
    server = HubServer(root, host=args.host, port=args.port, lfs_redirect=args.redirect, verbose=args.verbose,
                       rate_cap=cap)
    with server:
        print(f"export HF_ENDPOINT={server.endpoint} HF_HUB_DISABLE_XET=1", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    if tmp is not None:
        tmp.cleanup()
    return 0



if __name__ == "__main__":
    raise SystemExit(main())

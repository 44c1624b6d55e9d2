"""Read a GGUF header straight from the Hub with HTTP Range requests, before any download.

Only the first megabytes of a file hold its header (metadata, the token list, the tensor table), so
the fit estimate can use exact tensor sizes for a 100 GB model after fetching a few MB, as Jan does.
The bytes go through the same parser as a local file (`gguf_meta.read_header`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from huggingface_hub import get_hf_file_metadata, get_session, hf_hub_url
from huggingface_hub.utils._headers import build_hf_headers

from explorer.gguf.reader import GGUFError, GGUFHeader, read_header, shape_from_headers
from explorer.gguf.shape import ModelShape

FIRST_CHUNK = 1 << 20  # 1 MiB; each further request doubles, up to MAX_CHUNK
MAX_CHUNK = 16 << 20
MAX_HEADER = 128 << 20  # a header larger than this is not plausible (real Qwen3 ones are ~6 MB)


class RangeReader:
    """`read(n)` over a remote file, fetching growing byte ranges on demand."""

    def __init__(self, url: str, headers: dict[str, str], *, size: int | None = None,
                 session: Any = None, timeout: float = 30) -> None:
        self.url = url
        self.headers = headers
        self.size = size
        self.session = session or get_session()
        self.timeout = timeout
        self.buffer = b""
        self.fetched = 0  # bytes received so far (what the header cost)
        self.requests = 0
        self._chunk = FIRST_CHUNK

    def read(self, n: int) -> bytes:
        while len(self.buffer) < n and not self._at_end():
            self._fetch()
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def _at_end(self) -> bool:
        return self.size is not None and self.fetched >= self.size

    def _fetch(self) -> None:
        if self.fetched >= MAX_HEADER:
            raise GGUFError(f"{self.url}: no end of the GGUF header in the first {MAX_HEADER >> 20} MiB")
        start = self.fetched
        end = start + self._chunk - 1
        if self.size is not None:
            end = min(end, self.size - 1)
        headers = {**self.headers, "Range": f"bytes={start}-{end}"}
        want = end - start + 1
        try:
            # Streamed: a server that ignores Range must not make us read a whole 100 GB file.
            with self.session.stream("GET", self.url, headers=headers, follow_redirects=True,
                                     timeout=self.timeout) as resp:
                status = resp.status_code
                content_range = resp.headers.get("Content-Range", "")
                if status == 206 and not content_range.startswith(f"bytes {start}-"):
                    raise GGUFError(f"{self.url}: the server answered range {content_range!r} to bytes={start}-{end}")
                if status == 200 and start != 0:
                    raise GGUFError(f"{self.url}: the server ignores Range requests, so the header cannot be read "
                                    "without downloading the whole file")
                if status not in (200, 206):
                    raise GGUFError(f"{self.url}: HTTP {status} while reading the GGUF header")
                chunks: list[bytes] = []
                got = 0
                for chunk in resp.iter_bytes():
                    chunks.append(chunk)
                    got += len(chunk)
                    if got >= want:
                        break
                data = b"".join(chunks)[:want]
        except GGUFError:
            raise
        except Exception as exc:  # httpx's network errors, timeouts
            raise GGUFError(f"could not reach the Hub for {self.url}: {exc}") from exc
        self.requests += 1
        if not data:
            self.size = self.fetched  # nothing more to read
            return
        self.buffer += data
        self.fetched += len(data)
        self._chunk = min(self._chunk * 2, MAX_CHUNK)


def read_remote_header(repo_id: str, filename: str, *, revision: str | None = None, endpoint: str | None = None,
                       token: str | bool | None = None) -> GGUFHeader:
    """The header of `filename` in `repo_id`, read with Range requests (a few MB, not the file)."""
    url = hf_hub_url(repo_id, filename, revision=revision, endpoint=endpoint)
    try:
        meta = get_hf_file_metadata(url, token=token, endpoint=endpoint)
    except Exception as exc:
        raise GGUFError(f"{repo_id}/{filename}: the Hub did not describe the file ({exc})") from exc
    reader = RangeReader(url, build_hf_headers(token=token), size=meta.size)
    return read_header(reader.read, source=f"{repo_id}/{filename}", file_size=meta.size)


def read_remote_shape(repo_id: str, shards: Sequence[str], *, revision: str | None = None,
                      endpoint: str | None = None, token: str | bool | None = None) -> ModelShape:
    """The exact ModelShape of a (possibly split) GGUF on the Hub, from its headers alone."""
    headers = [read_remote_header(repo_id, s, revision=revision, endpoint=endpoint, token=token) for s in shards]
    return shape_from_headers(headers)

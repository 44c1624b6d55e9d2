"""Download throughput from the loopback Hub vs curl on the same file, and bytes re-sent on resume.

    .venv/bin/python bench/downloads.py [--size-mib 512] [--runs 3] [--json out.json]

The Hub runs in its own process (python -m explorer.testing.hub) so that it does not share a GIL
with the downloader. Runs alternate: curl, the app's DownloadManager, curl, ... Then one download is
paused at about 40% and resumed by a fresh manager (an app restart); the bytes received in total
minus the file size are the bytes re-sent.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def start_hub(root: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "explorer.testing.hub", "--root", str(root)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # export HF_ENDPOINT=http://127.0.0.1:PORT HF_HUB_DISABLE_XET=1
    endpoint = line.split("HF_ENDPOINT=")[1].split()[0]
    return proc, endpoint


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size-mib", type=int, default=512)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="qwen3-bench-dl-"))
    repo_dir = work / "repos" / "Qwen" / "Bench-GGUF"
    repo_dir.mkdir(parents=True)
    blob = repo_dir / "bench-Q8_0.gguf"
    with blob.open("wb") as fh:  # content does not matter for a transfer: random, so nothing compresses
        for _ in range(args.size_mib):
            fh.write(os.urandom(1 << 20))
    size = blob.stat().st_size
    hub, endpoint = start_hub(work / "repos")
    os.environ.update(HF_ENDPOINT=endpoint, HF_HUB_DISABLE_XET="1", HF_HUB_DISABLE_TELEMETRY="1")
    from explorer.store.downloads import DownloadManager, Progress, State  # after HF_ENDPOINT is set

    url = f"{endpoint}/Qwen/Bench-GGUF/resolve/main/bench-Q8_0.gguf"
    curl_s, app_s = [], []
    try:
        for i in range(args.runs):
            out = work / f"curl-{i}"
            t = time.perf_counter()
            subprocess.run(["curl", "-sfL", "-o", str(out), url], check=True)
            curl_s.append(time.perf_counter() - t)
            out.unlink()
            cache = work / f"cache-{i}"
            dm = DownloadManager(cache_dir=cache)
            t = time.perf_counter()
            job = dm.wait(dm.enqueue("Qwen/Bench-GGUF", ["bench-Q8_0.gguf"]))
            app_s.append(time.perf_counter() - t)  # includes the HEAD request and the sha256 check
            dm.close()
            assert job.state is State.DONE, job.message
            shutil.rmtree(cache)

        # pause at ~40%, then resume in a new manager, as after an app restart
        seen: list[Progress] = []
        dm = DownloadManager(cache_dir=work / "cache-resume", on_progress=seen.append)
        job_id = dm.enqueue("Qwen/Bench-GGUF", ["bench-Q8_0.gguf"])
        while not any(p.done >= 0.4 * size for p in seen):
            time.sleep(0.005)
        dm.pause(job_id)
        first = dm.wait(job_id)
        dm.close()
        received_first = first.done
        dm2 = DownloadManager(cache_dir=work / "cache-resume")
        second = dm2.wait(dm2.enqueue("Qwen/Bench-GGUF", ["bench-Q8_0.gguf"]))
        dm2.close()
        assert second.state is State.DONE, second.message
        resent = received_first + second.received - size
    finally:
        hub.terminate()
        hub.wait(5)
        shutil.rmtree(work, ignore_errors=True)
    mib = size / 2**20
    curl_rate, app_rate = mib / statistics.median(curl_s), mib / statistics.median(app_s)
    print(f"file {mib:.0f} MiB, median of {args.runs}: curl {curl_rate:.0f} MiB/s, app {app_rate:.0f} MiB/s "
          f"(ratio {app_rate / curl_rate:.2f}; the app also hashes and fsyncs)")
    print(f"resume after a pause at {received_first / size:.0%}: {second.results[0].resumed_from} bytes kept, "
          f"{second.received} received, {resent} bytes re-sent")
    if args.json:
        args.json.write_text(json.dumps({"size": size, "curl_s": curl_s, "app_s": app_s, "ratio": app_rate / curl_rate,
                                         "resume_kept": second.results[0].resumed_from, "resent": resent}))


if __name__ == "__main__":
    main()

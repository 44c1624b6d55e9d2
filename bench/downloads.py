"""Download throughput from the loopback Hub, one connection vs parallel parts vs aria2c, and bytes re-sent
after kills.

    .venv/bin/python bench/downloads.py [--size-mib 512] [--runs 3] [--cap-mib 40] [--connections 8]
                                        [--kills 10] [--json out.json]

The Hub runs in its own process (python -m explorer.testing.hub) so that it does not share a GIL with
the downloader, once with a per-connection rate cap (`--cap-mib`, as the Hub's CDN caps a connection)
and once without. On each, runs alternate (the order reversed every other round): curl (one
connection), the app with one connection, the app with `--connections` (it chooses how many it keeps:
explorer.store.transfer), `aria2c -x N -s N` (when installed; otherwise the bench says so and gives
the ratio to one connection only). The app runs in this process, warm as in the running GUI (one HEAD
before the rounds loads what huggingface_hub imports lazily); curl and aria2c start as processes
(milliseconds). The app's time includes its HEAD request, the sha256 and the fsync; aria2c's and
curl's include neither. The Hub's CPU is on the same cores as the clients: `uptime` is printed before
and after (the machine may be shared), and every figure is a ratio within one run.

Then the kills: a download in a child process, against a capped Hub in this process (its log counts
every body byte the kernel took from it), is killed with SIGKILL at a random point `--kills` times and
finally left to finish. Bytes re-sent = bytes the Hub sent in all runs - the file's size; it splits
into bytes asked for again although they were on disk (the resume's fault; should be 0) and bytes in
flight when the process died, never written. Those split again: the child is stopped (SIGSTOP) just
before each kill and its sockets read from /proc/net/tcp: bytes in the kernel's socket queues (sent,
never read by the app: what any client loses) and the rest, held by the app (read, not yet written).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO, NAME = "Qwen/Bench-GGUF", "bench-Q8_0.gguf"
MIB = 2**20
CHILD = """
import sys
from pathlib import Path
from explorer.store.downloads import DownloadManager
dm = DownloadManager(cache_dir=Path(sys.argv[1]), connections=int(sys.argv[2]))
job = dm.wait(dm.enqueue(sys.argv[3], [sys.argv[4]]))
sys.exit(0 if job.state.value == "done" else 1)
"""


def start_hub(root: Path, cap_mib: float | None) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "explorer.testing.hub", "--root", str(root)]
    if cap_mib:
        cmd += ["--rate-cap-mib", str(cap_mib)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # export HF_ENDPOINT=http://127.0.0.1:PORT HF_HUB_DISABLE_XET=1
    endpoint = line.split("HF_ENDPOINT=")[1].split()[0]
    return proc, endpoint


def uptime() -> str:
    """The load averages (1, 5, 15 min): the machine may be shared."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t


def app_run(work: Path, tag: str, connections: int) -> float:
    from explorer.store.downloads import DownloadManager, State

    cache = work / f"cache-{tag}"
    dm = DownloadManager(cache_dir=cache, connections=connections)
    t = time.perf_counter()
    job = dm.wait(dm.enqueue(REPO, [NAME]))
    took = time.perf_counter() - t
    dm.close()
    assert job.state is State.DONE, job.message
    shutil.rmtree(cache)
    return took


def throughput(work: Path, endpoint: str, runs: int, n: int, aria2c: str | None) -> dict[str, list[float]]:
    """Seconds per run for each tool, runs interleaved."""
    os.environ["HF_ENDPOINT"] = endpoint
    from huggingface_hub import constants

    constants.ENDPOINT = endpoint  # read at import; the two Hubs have different ports
    constants.HUGGINGFACE_CO_URL_TEMPLATE = endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    url = f"{endpoint}/{REPO}/resolve/main/{NAME}"
    from explorer.store.transfer import Transfer

    Transfer(REPO, NAME, cache_dir=work / "warm").metadata()  # huggingface_hub's lazy imports, the session
    dest = work / "out"
    dest.mkdir(exist_ok=True)

    def curl() -> float:
        took = timed(["curl", "-sfL", "-o", str(dest / NAME), url])
        (dest / NAME).unlink()
        return took

    def aria() -> float:
        assert aria2c is not None
        took = timed([aria2c, "-x", str(n), "-s", str(n), "-q", "-d", str(dest), "-o", NAME,
                      "--allow-overwrite=true", "--auto-file-renaming=false", url])
        (dest / NAME).unlink()
        return took

    tools: dict[str, Callable[[int], float]] = {
        "curl": lambda i: curl(),
        "app-1": lambda i: app_run(work, f"1-{i}", 1),
        f"app-{n}": lambda i: app_run(work, f"{n}-{i}", n),
    }
    if aria2c:
        tools[f"aria2c-{n}"] = lambda i: aria()
    out: dict[str, list[float]] = {tool: [] for tool in tools}
    for i in range(runs):
        for tool in (list(tools) if i % 2 == 0 else list(tools)[::-1]):  # alternate: no tool always goes first
            out[tool].append(tools[tool](i))
    return out


def queued(port: int) -> tuple[int, int]:
    """(bytes the clients of `port` have not read, bytes its server has not had taken) in loopback TCP queues."""
    unread = unsent = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as fh:
            for line in list(fh)[1:]:
                f = line.split()
                local, remote = (int(addr.rsplit(":", 1)[1], 16) for addr in f[1:3])
                tx, rx = f[4].split(":")
                if remote == port:
                    unread += int(rx, 16)
                elif local == port and f[3] == "01":  # established, on the server's side
                    unsent += int(tx, 16)
    return unread, unsent


def _overlap(asked: list[tuple[int, int]], have: list[tuple[int, int]]) -> int:
    return sum(max(0, min(b, d) - max(a, c)) for a, b in asked for c, d in have)


def kills(work: Path, src_root: Path, size: int, cap_mib: float, n: int, count: int, seed: int,
          rate_mib: float) -> dict[str, int]:
    """Kill a child download `count` times at random points, then let it finish; count the Hub's bytes."""
    from explorer.store import parts
    from explorer.testing.hub import HubServer

    rng = random.Random(seed)
    cache = work / "cache-kills"
    expected = size / (rate_mib * MIB)  # seconds a whole download takes, as measured
    totals = {"sent": 0, "asked_again": 0, "in_flight": 0, "in_sockets": 0, "while_stopped": 0,
              "kills_before_end": 0}

    def sent_now() -> int:
        return sum(e.bytes_sent for e in hub.log if e.method == "GET" and NAME in e.path)

    with HubServer(src_root, rate_cap=cap_mib * MIB) as hub:
        env = {**os.environ, **hub.env(), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        for k in range(count + 1):
            blobs = list(cache.glob("models--*/blobs/*.incomplete"))
            have: list[tuple[int, int]] = []
            if blobs:
                prefix, on = parts.scan(blobs[0], size)
                have = parts._union([(0, prefix)] + [(s, s + m) for s, m in on.items()])
            done_before = sum(b - a for a, b in have)
            hub.clear_log()
            proc = subprocess.Popen([sys.executable, "-c", CHILD, str(cache), str(n), REPO, NAME], env=env)
            at_stop: int | None = None
            if k < count:
                while proc.poll() is None and not any(e.method == "GET" and NAME in e.path for e in hub.log):
                    time.sleep(0.005)  # the child's start-up (imports, HEAD): not a point worth killing at
                time.sleep(rng.uniform(0.05, 0.3) * expected * (size - done_before) / size)  # a random point
                if proc.poll() is None:
                    proc.send_signal(signal.SIGSTOP)  # frozen: what it has read stays read, the queues stay
                    unread, unsent = queued(hub.port)  # at once: the Hub goes on sending until the window closes
                    at_stop = sent_now()
                    proc.send_signal(signal.SIGKILL)
                    totals["in_sockets"] += unread + unsent
                    totals["kills_before_end"] += 1
            proc.wait()
            log = [e for e in hub.log if e.method == "GET" and NAME in e.path]
            asked = []
            for e in log:
                a, _, b = (e.range or "bytes=0-").removeprefix("bytes=").partition("-")
                asked.append((int(a), int(b) + 1 if b else size))
            sent = sum(e.bytes_sent for e in log)
            if at_stop is not None:  # what the Hub sent to the stopped child while it was counted is no client's loss
                totals["while_stopped"] += sent - at_stop
                sent = at_stop
            blobs = list(cache.glob("models--*/blobs/*.incomplete"))
            done_after = size if not blobs else parts.bytes_on_disk(blobs[0], size)
            totals["sent"] += sent
            totals["asked_again"] += _overlap(asked, have)
            totals["in_flight"] += max(0, sent - (done_after - done_before))
            if k == count:
                assert proc.returncode == 0, "the last run did not finish"
    totals["resent"] = totals["sent"] - size
    shutil.rmtree(cache)
    return totals


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size-mib", type=int, default=512)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cap-mib", type=float, default=40)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    n = args.connections
    aria2c = shutil.which("aria2c")
    work = Path(tempfile.mkdtemp(prefix="qwen3-bench-dl-"))
    repo_dir = work / "repos" / "Qwen" / "Bench-GGUF"
    repo_dir.mkdir(parents=True)
    blob = repo_dir / NAME
    with blob.open("wb") as fh:  # content does not matter for a transfer: random, so nothing compresses
        for _ in range(args.size_mib):
            fh.write(os.urandom(MIB))
    size = blob.stat().st_size
    os.environ.update(HF_HUB_DISABLE_XET="1", HF_HUB_DISABLE_TELEMETRY="1")
    results: dict[str, dict[str, list[float]]] = {}
    load_before = uptime()
    try:
        for label, cap in (("capped", args.cap_mib), ("uncapped", None)):
            hub, endpoint = start_hub(work / "repos", cap)
            try:
                results[label] = throughput(work, endpoint, args.runs, n, aria2c)
            finally:
                hub.terminate()
                hub.wait(5)
        rate = size / MIB / statistics.median(results["capped"][f"app-{n}"])
        killed = kills(work, work / "repos", size, args.cap_mib, n, args.kills, args.seed, rate)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    mib = size / MIB
    rates = {label: {tool: mib / statistics.median(s) for tool, s in runs.items()} for label, runs in results.items()}
    print(f"file {mib:.0f} MiB, median of {args.runs} runs, MiB/s (the app also hashes and fsyncs):")
    for label, r in rates.items():
        cap = f"{args.cap_mib:g} MiB/s per connection" if label == "capped" else "no cap"
        line = "  ".join(f"{tool} {v:.0f}" for tool, v in r.items())
        print(f"  {label} ({cap}): {line}")
        par, one = r[f"app-{n}"], r["app-1"]
        if aria2c:
            print(f"    app-{n} / aria2c-{n} = {par / r[f'aria2c-{n}']:.2f}; app-{n} / app-1 = {par / one:.2f}")
        else:
            print(f"    aria2c not found: app-{n} / app-1 = {par / one:.2f}")
    in_app = killed["in_flight"] - killed["in_sockets"]
    print(f"kills: {killed['kills_before_end']} SIGKILLs at random points, then a full run: "
          f"{killed['resent']} bytes re-sent in all = {killed['asked_again']} asked for again although on disk + "
          f"{killed['in_flight']} in flight when the process died ({killed['in_sockets']} in the sockets' "
          f"queues, never read; {in_app} read by the app or in the Hub's sends, not yet written); "
          f"not counted: {killed['while_stopped']} sent while the child was stopped for the count")
    print(f"load: {load_before} -> {uptime()}")
    if args.json:
        args.json.write_text(json.dumps({"size": size, "connections": n, "cap_mib": args.cap_mib,
                                         "aria2c": aria2c, "seconds": results, "mib_s": rates, "kills": killed,
                                         "load": [load_before, uptime()]}))


if __name__ == "__main__":
    main()

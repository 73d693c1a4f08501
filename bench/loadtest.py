"""``make loadtest``: a bounded Locust run against a OneMap server (issue 16).

Starts ``onemap serve --workers N`` on ``--data-dir`` (default data/build) unless a
server already answers at ``--port`` on 127.0.0.1, runs bench/locustfile.py
headless for a fixed time and user count, stops the server it started, and
prints throughput, p50/p95/p99 per route and errors (Markdown) and writes them to
bench/results/loadtest.md. Exit status 1 when any request failed.

    python -m bench.loadtest --users 64 --time 60 --data-dir data/build
"""

from __future__ import annotations

import argparse
import csv
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench.common import wait_ready

ROOT = Path(__file__).resolve().parent.parent


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:  # 127.0.0.1 only
            return bool(r.status == 200)
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    """Run the load test; returns the exit status."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=64)
    ap.add_argument("--spawn-rate", type=float, default=16.0)
    ap.add_argument("--time", type=int, default=60, help="seconds")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--workers", type=int, default=2, help="server workers, if started here")
    ap.add_argument("--data-dir", type=Path, default=ROOT / "data" / "build")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args(argv)
    base = f"http://127.0.0.1:{args.port}"
    args.out.mkdir(parents=True, exist_ok=True)
    server = None
    if not _answers(f"{base}/health"):
        env = dict(os.environ)
        env.setdefault("ONEMAP_MQTT_EMBEDDED", "false")  # readings arrive over HTTP here
        log = (args.out / "loadtest-server.log").open("wb")
        server = subprocess.Popen(
            [sys.executable, "-m", "spatial_api.cli", "serve", "--no-packs", "--host",
             "127.0.0.1", "--port", str(args.port), "--workers", str(args.workers),
             "--data-dir", str(args.data_dir)], env=env, stdout=log, stderr=log,
            start_new_session=True)  # its workers share its process group
        deadline = time.monotonic() + 600
        while not _answers(f"{base}/health"):
            if server.poll() is not None or time.monotonic() > deadline:
                print("the server did not start; see bench/results/loadtest-server.log")
                return 2
            time.sleep(1)
        print(f"started onemap serve --workers {args.workers} on {args.data_dir}")
    # the start-up warm-ups (coverage, enterprise snapshot, perception) take the CPU
    # for a while; a load balancer would not send traffic before /health says ready
    t_ready = time.monotonic()
    if not wait_ready(f"{base}/health", args.workers):
        print("the server did not become ready (see /health tasks)")
    else:
        print(f"ready after {time.monotonic() - t_ready:.0f} s more")
    try:
        prefix = args.out / "loadtest"
        rc = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "locustfile.py"),
             "--headless", "-H", base, "-u", str(args.users), "-r", str(args.spawn_rate),
             "-t", f"{args.time}s", "--only-summary", "--csv", str(prefix)],
            check=False).returncode
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(60)
            except subprocess.TimeoutExpired:  # still draining a backlog: the whole group
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(30)
    report = summary(prefix, args.users, args.time)
    (args.out / "loadtest.md").write_text(report, encoding="utf-8")
    print(report)
    return 1 if rc else 0


def summary(prefix: Path, users: int, seconds: int) -> str:
    """A Markdown table of Locust's per-route statistics."""
    with Path(f"{prefix}_stats.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    lines = [f"{users} users, {seconds} s\n",
             "| route | requests | req/s | errors | p50 ms | p95 ms | p99 ms | max ms |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        name = "**all**" if r["Name"] == "Aggregated" else f'{r["Type"]} {r["Name"]}'
        lines.append(f'| {name} | {r["Request Count"]} | {float(r["Requests/s"]):.1f} | '
                     f'{r["Failure Count"]} | {r["50%"]} | {r["95%"]} | {r["99%"]} | '
                     f'{float(r["Max Response Time"]):.0f} |')
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())

"""A short bounded Locust run (the load test of ``make loadtest``, issue 16): 8
users for 10 s against a real server on a copy of the seeded demo. Asserts no
request failed and every route of the mix was exercised; no timing assertion
(the figures are ``make loadtest``'s, in the README)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

from bench.common import wait_ready
from tests.test_workers import _copy_store, _env, _serve

ROOT = Path(__file__).resolve().parent.parent
ROUTES = {"/tiles/{layers}/{z}/{x}/{y}.mvt", "/ogc/collections/{id}/items", "/address/geocode",
          "/ogc/processes/{id}/execution", "/sensors/{id}/readings"}


def test_bounded_locust_run(demo_dir: Path, tmp_path: Path) -> None:
    data = _copy_store(demo_dir, tmp_path)
    for base, _ in _serve(data, _env(), workers=1):
        # after the start-up warm-ups, as `make loadtest` does
        assert wait_ready(f"{base}/health", 1, timeout=600)
        done = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "locustfile.py"),
             "--headless", "-H", base, "-u", "8", "-r", "8", "-t", "10s", "--only-summary",
             "--csv", str(tmp_path / "load")],
            capture_output=True, timeout=180, cwd=tmp_path)
        out = done.stdout.decode() + done.stderr.decode()
        assert done.returncode == 0, out[-3000:]
    with (tmp_path / "load_stats.csv").open(encoding="utf-8") as f:
        rows = {r["Name"]: r for r in csv.DictReader(f)}
    assert set(rows) >= ROUTES, set(rows)
    for name in ROUTES:
        assert int(rows[name]["Request Count"]) > 0, name
    assert int(rows["Aggregated"]["Failure Count"]) == 0, rows["Aggregated"]
    assert not (tmp_path / "load_failures.csv").read_text(encoding="utf-8").strip().split(
        "\n")[1:], "failures recorded"

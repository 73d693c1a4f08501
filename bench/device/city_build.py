"""Time one Dask city build and measure the peak memory of every worker.

``python bench/device/city_build.py --area shenzhen --workers 16 --scale 1.0 --out DIR``
builds the partitions into a temporary folder (removed afterwards unless ``--keep``)
on a fresh ``LocalCluster`` of ``--workers`` single-threaded processes, and writes
``DIR/city_build-{area}-w{workers}.json``: wall time, partitions (tasks), rows, the
peak RSS of each worker (``getrusage`` inside the worker), the driver's own peak RSS,
the partition bytes on disk and the ten longest tasks. It imports only what the
build needs (see ``bench/device/README.md``); it assumes nothing about the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def peak_rss_mib() -> float:
    """Peak resident set of the calling process in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*.parquet"))


def run(area: str, workers: int, scale: float, seed: int, keep: Path | None) -> dict[str, Any]:
    """Build ``area`` on ``workers`` local workers; returns the measurements."""
    from distributed import get_task_stream

    from data.synth.city import build_city, parse_area
    from gis.batch.cluster import dask_client

    root = keep or Path(tempfile.mkdtemp(prefix="onemap-city-"))
    try:
        with dask_client(workers) as client:
            t0 = time.perf_counter()
            with get_task_stream(client) as ts:
                report = build_city(root, parse_area(area), seed=seed, scale=scale,
                                    client=client)
            wall = time.perf_counter() - t0
            rss = sorted(client.run(peak_rss_mib).values(), reverse=True)
        tasks = sorted(
            ((str(t["key"]), max(s["stop"] for s in t["startstops"])
              - min(s["start"] for s in t["startstops"])) for t in ts.data),
            key=lambda kv: -kv[1])
        size = _tree_bytes(root)
    finally:
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)
    return {
        "area": area, "workers": workers, "scale": scale, "seed": seed,
        "cpu_count": os.cpu_count(), "python": sys.version.split()[0],
        "build_s": round(wall, 1), "partitions": report.partitions,
        "rows_per_district": report.rows, "rows": sum(report.rows.values()),
        "peak_rss_mib_per_worker": [round(r) for r in rss],
        "peak_rss_mib_driver": round(peak_rss_mib()),
        "parquet_mib": round(size / 2**20, 1),
        "longest_tasks_s": [[k, round(s, 1)] for k, s in tasks[:10]],
        "task_s_sum": round(sum(s for _, s in tasks), 1),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Parse arguments, run, print and write the JSON result."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--area", default="shenzhen")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", type=Path, default=Path("."))
    ap.add_argument("--keep", type=Path, default=None, help="write partitions here, keep them")
    args = ap.parse_args(argv)
    result = run(args.area, args.workers, args.scale, args.seed, args.keep)
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"city_build-{args.area.replace(',', '+')}-w{args.workers}-s{args.scale}.json"
    (args.out / name).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "longest_tasks_s"}), flush=True)
    return result


if __name__ == "__main__":
    main()

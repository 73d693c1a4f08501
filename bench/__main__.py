"""Run every benchmark at full demo scale and write ``bench/results/latest.md``.

The demo is built from nothing into a temporary folder (that build is itself the
first figure); the other benchmarks then run on that store.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bench.bench_core import bench_build, bench_ingest, bench_queries
from bench.common import Row, table
from gis.store.gpkg import GeoPackageStore

#: Optional benchmark modules of other packages: each has ``run(store) -> list[Row]``.
EXTRA = ("bench.bench_ogc", "bench.bench_address", "bench.bench_tiles", "bench.bench_postgis",
         "bench.bench_tipg",
         "bench.bench_viewer", "bench.bench_enterprise", "bench.bench_network",
         "bench.bench_perception", "bench.bench_dispatch", "bench.bench_indicators")


def main() -> None:
    """Parse arguments, run, print and save the table."""
    ap = argparse.ArgumentParser(prog="python -m bench")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--data-dir", type=Path, default=None,
                    help="accepted for symmetry with the CLI; the bench builds its own copy")
    ap.add_argument("--out", type=Path, default=Path("bench/results/latest.md"))
    args = ap.parse_args()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="onemap-bench-") as tmp:
        build_rows, path = bench_build(Path(tmp), args.scale, args.seed)
        rows += build_rows
        store = GeoPackageStore(path)
        rows += bench_queries(store)
        rows += bench_ingest(store)
        for name in EXTRA:
            try:
                mod = importlib.import_module(name)
            except ModuleNotFoundError as exc:
                if exc.name != name:  # a missing dependency is an error, not "no module"
                    raise
                continue
            for r in mod.run(store):
                if isinstance(r, Row):
                    rows.append(r)
                elif len(r) == 3:  # (figure, value, goal)
                    rows.append(Row(str(r[0]), str(r[1]), goal=str(r[2])))
                else:  # (figure, value, anchor, goal)
                    rows.append(Row(*[str(x) for x in r]))
        store.close()
    head = (f"# OneMap benchmarks\n\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, scale {args.scale}, "
            f"seed {args.seed}, Python {platform.python_version()}, {platform.machine()}\n\n")
    text = head + table(rows) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()

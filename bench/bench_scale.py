"""``make bench-scale``: how the city build, load and aggregates grow with size.

Runs the Dask city build (:func:`data.synth.city.build_city`), the parallel PostGIS
load (:func:`gis.batch.load.load_city`) and the Dask block aggregate
(:func:`gis.batch.blocks.block_aggregate`) for growing areas — 罗湖, three
districts, and with ``--city`` all nine — at one ``--scale``, and writes a table
(``bench/results/scale.md``) and a log-log plot (``bench/results/scale.png``) of
each time and of the peak RSS per worker against the number of residents, with
the fitted growth exponent (slope of log time on log residents). It also times
the build of the first area on 1 and on ``--workers`` workers (speed-up).

Not part of ``make test`` or ``make bench``: it starts a throwaway PostGIS cluster
(tests/pg.py) unless ``ONEMAP_BENCH_PG_URL`` names an empty database server.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import Row, table

AREAS = ("luohu", "luohu,yantian,pingshan")
CITY = "shenzhen"
RESULTS = Path(__file__).resolve().parent / "results"


def _peak_rss_mib() -> float:
    """Peak resident set of this process in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _measure(area: str, scale: float, seed: int, workers: int, root: Path,
             new_db: Any) -> dict[str, Any]:
    from data.synth.city import build_city, parse_area
    from gis.batch.blocks import block_aggregate
    from gis.batch.cluster import dask_client
    from gis.batch.load import load_city
    from gis.batch.partitions import list_partitions, read_partition

    districts = parse_area(area)
    with dask_client(workers) as client:
        t0 = time.perf_counter()
        build_city(root, districts, seed=seed, scale=scale, client=client)
        build_s = time.perf_counter() - t0
        rss = max(client.run(_peak_rss_mib).values())
        residents = sum(len(read_partition(p)) for p in list_partitions(root, "person"))
        url = new_db()
        t0 = time.perf_counter()
        load_city(root, url, client=client)
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        block_aggregate(root, "person", 8, as_of="2022-01-01", by="age_band", client=client)
        agg_s = time.perf_counter() - t0
    items_p95, tile_p95 = _serving_p95(url)
    return {"area": area, "districts": len(districts), "residents": residents,
            "build_s": build_s, "load_s": load_s, "agg_s": agg_s, "rss_mib": rss,
            "items_p95_s": items_p95, "tile_p95_s": tile_p95}


#: The same place in every area (罗湖 is in each): a 500 m box and the z14 tile over
#: 东门, so a growing database is measured on the same page and the same tile.
_PAGE_BOX = (114.115, 22.545, 114.12, 22.55)
_TILE = (14, 13385, 7138)


def _serving_p95(url: str) -> tuple[float, float]:
    """p95 of an items page (100 buildings in a small bbox, as the OGC items route asks
    the store) and of an uncached buildings tile (``PostGISStore.mvt``) on ``url``."""
    from bench.common import p, timeit
    from gis.store.postgis import PostGISStore

    store = PostGISStore(url, migrate=False)
    try:
        items = timeit(lambda: store.query("building", bbox=_PAGE_BOX, limit=100), repeat=60)
        z, x, y = _TILE
        tile = timeit(lambda: store.mvt("buildings", "building", z, x, y,
                                        columns=["use", "floors"]), repeat=60)
    finally:
        store.close()
    return p(items, 0.95), p(tile, 0.95)


def _exponent(x: list[float], y: list[float]) -> float | None:
    if len(x) < 2 or len(set(x)) < 2:
        return None
    slope, _ = np.polyfit(np.log(x), np.log(y), 1)
    return float(slope)


def _plot(results: list[dict[str, Any]], exps: dict[str, float | None], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    n = [r["residents"] for r in results]
    for key, label in (("build_s", "build"), ("load_s", "load"), ("agg_s", "block aggregate"),
                       ("items_p95_s", "items page p95"), ("tile_p95_s", "tile p95")):
        e = exps.get(key)
        ax.loglog(n, [r[key] for r in results], "o-",
                  label=f"{label} (exponent {e:.2f})" if e is not None else label)
    ax.set_xlabel("residents (persons rows)")
    ax.set_ylabel("seconds")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    ax.set_title("OneMap city scale: cost against size")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> list[Row]:
    """Run the scale benchmark; returns the table rows (also written to results/)."""
    import os

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--city", action="store_true", help="also build all nine districts")
    args = ap.parse_args(argv)

    cluster = None
    url = os.environ.get("ONEMAP_BENCH_PG_URL")
    if url is None:
        from tests.pg import Cluster

        cluster = Cluster()
    made: list[str] = []

    def new_db() -> str:
        db = cluster.new_database() if cluster is not None else url
        assert db is not None
        made.append(db)
        return db

    results: list[dict[str, Any]] = []
    tmp = Path(tempfile.mkdtemp(prefix="onemap-scale-"))
    try:
        areas = [*AREAS, *([CITY] if args.city else [])]
        for k, area in enumerate(areas):
            results.append(_measure(area, args.scale, args.seed, args.workers,
                                    tmp / f"a{k}", new_db))
            print(results[-1], flush=True)
        # Speed-up of the build from 1 worker to --workers on the first multi-district area.
        from data.synth.city import build_city, parse_area
        from gis.batch.cluster import dask_client

        speed: dict[int, float] = {}
        for w in sorted({1, args.workers}):
            with dask_client(w) as client:
                t0 = time.perf_counter()
                build_city(tmp / f"w{w}", parse_area(AREAS[1]), seed=args.seed,
                           scale=args.scale, client=client)
                speed[w] = time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if cluster is not None:
            for db in made:
                cluster.drop_database(db)
            cluster.stop()

    n = [float(r["residents"]) for r in results]
    exps = {k: _exponent(n, [float(r[k]) for r in results])
            for k in ("build_s", "load_s", "agg_s", "rss_mib", "items_p95_s", "tile_p95_s")}
    rows: list[Row] = []
    for r in results:
        where = f"{r['area']} ({r['residents']:,} residents)"
        rows.append(Row(f"scale build, {where}", f"{r['build_s']:.1f} s"))
        rows.append(Row(f"scale load into PostGIS, {where}", f"{r['load_s']:.1f} s"))
        rows.append(Row(f"scale block aggregate r8 by age band, {where}", f"{r['agg_s']:.2f} s"))
        rows.append(Row(f"scale peak RSS per worker, {r['area']}", f"{r['rss_mib']:.0f} MiB"))
        rows.append(Row(f"scale items page p95 (100 buildings), {where}",
                        f"{r['items_p95_s'] * 1000:.1f} ms", "", "≤ 1.5× 罗湖's"))
        rows.append(Row(f"scale buildings tile z14 p95 (ST_AsMVT), {where}",
                        f"{r['tile_p95_s'] * 1000:.1f} ms", "", "≤ 1.5× 罗湖's"))
    for key, e in exps.items():
        if e is not None:
            rows.append(Row(f"scale growth exponent of {key}", f"{e:.2f}", "", "≤ 1.1"))
    if len(speed) == 2:
        w = max(speed)
        rows.append(Row(f"scale build speed-up 1 → {w} workers ({AREAS[1]})",
                        f"{speed[1] / speed[w]:.2f}x",
                        f"{speed[1]:.1f} s vs {speed[w]:.1f} s"))
    RESULTS.mkdir(parents=True, exist_ok=True)
    md = table(rows)
    (RESULTS / "scale.md").write_text(
        f"# bench-scale (scale {args.scale}, seed {args.seed}, {args.workers} workers)\n\n"
        + md + "\n", encoding="utf-8")
    _plot(results, exps, RESULTS / "scale.png")
    print(md)
    return rows


if __name__ == "__main__":
    main()

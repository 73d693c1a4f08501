"""Core benchmarks: demo build, ingest rate against raw H3 assignment, block aggregates,
entities within a community."""

from __future__ import annotations

import tempfile
import time
from functools import partial
from pathlib import Path

import h3.api.basic_int as h3i
import numpy as np
import shapely

from bench.common import Row, ms, p, timeit
from gis.h3cells import lnglat_to_cells
from gis.store.gpkg import GeoPackageStore


def bench_build(data_dir: Path, scale: float, seed: int) -> tuple[list[Row], Path]:
    """Build the demo from nothing and report the time per stage."""
    from data.synth.build import build_demo

    report = build_demo(data_dir, scale=scale, seed=seed)
    rows = [Row(f"demo build, scale {scale} (total)", f"{report.seconds:.1f} s",
                goal="< 180 s")]
    rows += [Row(f"  stage: {name}", f"{sec:.1f} s") for name, sec in report.stage_seconds.items()]
    return rows, report.path


def bench_ingest(store: GeoPackageStore) -> list[Row]:
    """Ingest every person again into an empty WAL store; anchor: raw H3 assignment."""
    persons = store.query("person")
    n = len(persons)
    lon = shapely.get_x(np.asarray(persons.geometry.values))
    lat = shapely.get_y(np.asarray(persons.geometry.values))
    t0 = time.perf_counter()
    for a, b in zip(lat.tolist(), lon.tolist(), strict=True):
        h3i.latlng_to_cell(a, b, 15)
    raw_loop = time.perf_counter() - t0
    t0 = time.perf_counter()
    lnglat_to_cells(lon, lat)
    raw_vec = time.perf_counter() - t0
    frame = persons.drop(columns=["fid", "h3", "block"])
    with tempfile.TemporaryDirectory() as tmp:
        target = GeoPackageStore(Path(tmp) / "ingest.gpkg", create=True)
        t0 = time.perf_counter()
        target.ingest("person", frame)
        took = time.perf_counter() - t0
        target.close()
    return [
        Row(f"ingest persons ({n:,} rows, one transaction, WAL)", f"{n / took:,.0f} rows/s",
            f"h3.latlng_to_cell loop {n / raw_loop:,.0f} cells/s; "
            f"h3ronpy vectorised {n / raw_vec:,.0f} cells/s"),
    ]


def bench_queries(store: GeoPackageStore) -> list[Row]:
    """Block aggregates and within-community queries."""
    rows: list[Row] = []
    t = timeit(lambda: store.block_aggregate("person", 9))
    rows.append(Row("block aggregate, all persons, res 9", ms(p(t, 0.5)),
                    f"p95 {ms(max(t))}", "≤ 300 ms"))
    t = timeit(lambda: store.block_aggregate("person", 9, as_of="2022-01-01"))
    rows.append(Row("block aggregate, all persons, res 9, as_of 2022-01-01", ms(p(t, 0.5)),
                    f"p95 {ms(max(t))}", "≤ 500 ms"))
    for res in (7, 11):
        t = timeit(partial(store.block_aggregate, "person", res, as_of="2022-01-01"), repeat=3)
        rows.append(Row(f"block aggregate, persons, res {res}, as_of", ms(p(t, 0.5))))
    t = timeit(lambda: store.block_aggregate("person", 9, as_of="2022-01-01", by="age_band"),
               repeat=3)
    rows.append(Row("block aggregate, persons by age band, res 9, as_of", ms(p(t, 0.5))))
    communities = store.query("community")
    areas = communities.to_crs("EPSG:4547").area.to_numpy()
    median = communities.iloc[int(np.argsort(areas)[len(areas) // 2])]
    geom = median.geometry
    for kind in ("person", "building", "enterprise"):
        n = len(store.query(kind, within=geom, columns=["id"]))
        t = timeit(partial(store.query, kind, within=geom), repeat=9)
        rows.append(Row(f"{kind}s within community {median['name']} ({n:,} found)",
                        ms(p(t, 0.5)), f"p95 {ms(p(t, 0.95))}", "≤ 50 ms"))
    t = timeit(partial(store.count, "person", within=geom), repeat=9)
    rows.append(Row(f"count persons within community {median['name']}", ms(p(t, 0.5)),
                    f"p95 {ms(p(t, 0.95))}", "≤ 50 ms"))
    t = timeit(lambda: store.nearest("facility", 114.12, 22.55, 5), repeat=9)
    rows.append(Row("nearest 5 facilities", ms(p(t, 0.5))))
    return rows

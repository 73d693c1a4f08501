"""Indicator benchmarks: all headline indicators for the district, cold and cached.

*Cold* is a :class:`IndicatorEngine` answering the cockpit's summary (every headline
indicator: value, previous month, change, 12-month series) without the answer in
memory; the road graphs are built before, as the server builds them at start-up.

- *first read*: a new engine, nothing in memory and nothing persisted (the frames are
  read from the store: persons and events by a child process through GDAL's Arrow
  stream on a GeoPackage, docs/indicators.md);
- *after a write* (a person added; an event opened), on a scratch copy of the store:
  the server's engine (its other frames in memory) and a new engine (a restart, another
  worker: the frames of the kinds not written are persisted, ``ONEMAP_INDICATORS_CACHE_DIR``);
- *persisted*: a new engine on an unchanged store;
- *cached*: the same request again (a cache hit plus the checks for other processes'
  writes). *New window* asks another as_of with the frames read.

CPU seconds count this process and its children (the Arrow reader), all threads: less
sensitive to a shared machine's load than wall time. Run alone:
``python -m bench.bench_indicators PATH/onemap.gpkg``.
"""

from __future__ import annotations

import os
import resource
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from bench.common import Row, ms, p, timeit
from gis.indicators import IndicatorEngine
from gis.network import network_service
from gis.store.base import Store

COLD_GOAL, CACHED_GOAL = "≤ 3 s", "≤ 300 ms"


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    t0, c0 = time.perf_counter(), _cpu()
    out = fn()
    return out, time.perf_counter() - t0, _cpu() - c0


def _load() -> str:
    return "load avg " + "/".join(f"{x:.1f}" for x in os.getloadavg())


def _person(pid: str) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"id": [pid], "name": ["测试"], "sex": ["F"], "birth_date": ["1950-01-01"],
         "valid_from": ["2020-01-01"], "valid_to": [None], "household_id": [f"H{pid}"]},
        geometry=[shapely.Point(114.12, 22.55)], crs="EPSG:4326")


def _event(eid: str) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"id": [eid], "occurred_at": ["2025-12-31T09:00:00Z"],
                             "closed_at": [None], "source": ["grid_patrol"],
                             "category": ["积水"], "status": ["received"]},
                            geometry=[shapely.Point(114.12, 22.55)], crs="EPSG:4326")


def _after_writes(store: Store, tmp: Path) -> list[Row]:
    """Cold after a persons write and after an events write, on a scratch copy."""
    from gis.store.gpkg import GeoPackageStore

    path = getattr(store, "path", None)
    if store.backend != "geopackage" or path is None:
        return []  # PostGIS: no scratch copy here (and no persisted frames)
    copy = tmp / "scratch.gpkg"
    with closing(sqlite3.connect(path)) as src, closing(sqlite3.connect(copy)) as dst:
        src.backup(dst)  # the WAL too
    ws = GeoPackageStore(copy)
    rows: list[Row] = []
    try:
        network_service(ws).networks()
        cache = tmp / "cache-w"
        live = IndicatorEngine(ws)  # the server's engine: everything in memory
        live.summary()
        warm = IndicatorEngine(ws, cache_dir=cache)  # persists every frame
        warm.summary()
        warm.close()
        for what, write in (("a person added", lambda: ws.ingest("person", _person("BENCHP1"))),
                            ("an event opened", lambda: ws.ingest("event", _event("BENCHE1")))):
            write()
            _, wall, cpu = _timed(live.summary)
            rows.append(Row(f"indicators: the same, cold after a write ({what}): the "
                            "server's engine", f"{wall:.2f} s",
                            anchor=f"CPU {cpu:.2f} s; {_load()}", goal=COLD_GOAL))
            eng = IndicatorEngine(ws, cache_dir=cache)
            _, wall, cpu = _timed(eng.summary)
            eng.close()
            rows.append(Row(f"indicators: the same, cold after a write ({what}): a new "
                            "engine, the other kinds' frames persisted", f"{wall:.2f} s",
                            anchor=f"CPU {cpu:.2f} s; {_load()}", goal=COLD_GOAL))
        live.close()
    finally:
        ws.close()
        copy.unlink(missing_ok=True)
    return rows


def run(store: Store) -> list[Row]:
    """The indicator figures."""
    network_service(store).networks()  # built at server start-up, not per request
    with tempfile.TemporaryDirectory(prefix="onemap-ind-") as tmpname:
        tmp = Path(tmpname)
        cache = tmp / "cache"
        # First read: nothing in memory, nothing persisted (then written to the cache).
        eng = IndicatorEngine(store, cache_dir=cache)
        body, first, first_cpu = _timed(eng.summary)
        first_load = _load()
        colds, cpus = [], []
        for _ in range(3):  # new engines (a restart, another worker): frames persisted
            eng.close()
            eng = IndicatorEngine(store, cache_dir=cache)
            body, wall, cpu = _timed(eng.summary)
            colds.append(wall)
            cpus.append(cpu)
        n = len(body["items"])
        cached = timeit(eng.summary, repeat=50, warmup=1)
        other = []
        for month in (3, 6, 9):
            t0 = time.perf_counter()
            eng.summary(as_of=f"2024-{month:02d}-30")
            other.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        blocks = eng.indicator("population", level="block", res=9)
        block_s = time.perf_counter() - t0
        eng.close()
        writes = _after_writes(store, tmp)
    return [
        Row(f"indicators: all {n} headline indicators for the district, cold, first read "
            "of the store (nothing persisted; 12-month series)", f"{first:.2f} s",
            anchor=f"CPU {first_cpu:.2f} s; {first_load}", goal=COLD_GOAL),
        *writes,
        Row("indicators: the same, cold, frames persisted for the store's version "
            "(new engine)", f"{np.median(colds):.2f} s",
            anchor=f"max {max(colds):.2f} s of 3; CPU {np.median(cpus):.2f} s; {_load()}",
            goal=COLD_GOAL),
        Row("indicators: the same, cached (p50 / p95 of 50)",
            f"{ms(p(cached, 0.5))} / {ms(p(cached, 0.95))}", goal=CACHED_GOAL),
        Row("indicators: the same for another as_of (frames read, median of 3)",
            f"{ms(float(np.median(other)))}"),
        Row(f"indicators: population per H3 block ({len(blocks['values'])} blocks, "
            "12-month series, frames read)", ms(block_s)),
    ]


if __name__ == "__main__":
    from bench.common import table
    from gis.store.gpkg import GeoPackageStore

    s = GeoPackageStore(Path(sys.argv[1]))
    try:
        print(table(run(s)))
    finally:
        s.close()

"""Indicator benchmarks: all headline indicators for the district, cold and cached.

*Cold* is a new :class:`IndicatorEngine` (nothing read from the store yet) answering the
cockpit's summary (every headline indicator: value, previous month, change, 12-month
series); the road graphs are built before, as the server builds them at start-up.
*Cached* is the same request again (a cache hit plus the checks for writes made by other
processes). *New window* asks another as_of with the frames already read (what a
cockpit's time-range change costs).

Run alone: ``python -m bench.bench_indicators PATH/onemap.gpkg``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from bench.common import Row, ms, p, timeit
from gis.indicators import IndicatorEngine
from gis.network import network_service
from gis.store.base import Store


def run(store: Store) -> list[Row]:
    """The indicator figures."""
    network_service(store).networks()  # built at server start-up, not per request
    colds, cpus = [], []
    eng = None
    for _ in range(3):
        if eng is not None:
            eng.close()
        eng = IndicatorEngine(store)
        t0, c0 = time.perf_counter(), time.process_time()
        body = eng.summary()
        colds.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)  # all threads: less sensitive to other load
    assert eng is not None
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
    return [
        Row(f"indicators: all {n} headline indicators for the district, cold "
            "(12-month series)", f"{np.median(colds):.2f} s",
            anchor=f"max {max(colds):.2f} s of 3; CPU {np.median(cpus):.2f} s", goal="≤ 3 s"),
        Row("indicators: the same, cached (p50 / p95 of 50)",
            f"{ms(p(cached, 0.5))} / {ms(p(cached, 0.95))}", goal="≤ 300 ms"),
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

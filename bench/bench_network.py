"""Network benchmarks: graph build, routes, isochrones, service coverage, fire response and
site suggestion on the store, with plain networkx for the same reach as the anchor.

Run alone: ``python -m bench.bench_network PATH/onemap.gpkg``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import shapely

from bench.common import Row, ms, p, timeit
from gis.analysis.coverage import CoverageInput, service_coverage
from gis.analysis.fire import FireResponseInput, fire_response
from gis.analysis.isochrone import IsochroneInput, isochrone
from gis.analysis.route import RouteInput, route
from gis.analysis.siting import SiteSuggestInput, site_suggest
from gis.network import NetworkService, Unreachable, network_service
from gis.store.base import Store

DAY = "2024-06-30"


def _points(store: Store, n: int, seed: int) -> list[list[float]]:
    b = store.query("building", as_of=DAY, columns=["id"])
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(b), size=min(n, len(b)), replace=False)
    pts = shapely.point_on_surface(b.geometry.to_numpy()[pick])
    return [[float(q.x), float(q.y)] for q in pts]


def _once(fn: object) -> float:
    t0 = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - t0


def run(store: Store) -> list[Row]:
    """All network figures."""
    rows: list[Row] = []
    builds = timeit(lambda: NetworkService(store).build(), repeat=3, warmup=0)
    svc = network_service(store)
    nets = svc.networks()
    rows.append(Row("network: graph build (walk + drive, from the roads layer)",
                    f"{np.median(builds):.2f} s",
                    goal=f"{nets['walk'].n_nodes} / {nets['drive'].n_nodes} nodes, "
                         f"{len(nets['walk'].arc_u)} / {len(nets['drive'].arc_u)} arcs"))
    rows.append(Row("network: drive graph pieces (weakly connected)",
                    str(nets["drive"].weakly_connected_components())))

    pts = _points(store, 400, seed=1)
    for mode in ("walk", "drive"):
        times, fails = [], 0
        for a, b in zip(pts[:200], pts[200:], strict=True):
            t0 = time.perf_counter()
            try:
                route(store, RouteInput(a, b, mode))
            except Unreachable:
                fails += 1
            times.append(time.perf_counter() - t0)
        rows.append(Row(f"network: route {mode}, p50 / p95 (200 pairs, {fails} unreachable)",
                        f"{ms(p(times, 0.5))} / {ms(p(times, 0.95))}", goal="p95 ≤ 20 ms"))

    origins = pts[:50]
    iso = [_once(lambda o=o: isochrone(store, IsochroneInput(o, 10, "walk")))
           for o in origins]
    walk = nets["walk"]
    snaps = [walk.snap(*o) for o in origins]
    reach_sp = [_once(lambda s=s: walk.reach_from([s], 600.0)) for s in snaps]
    reach_nx = [_once(lambda s=s: walk.reach_from([s], 600.0, engine="networkx"))
                for s in snaps]
    rows.append(Row("network: 10-min walking isochrone (polygon), p50 / p95",
                    f"{ms(p(iso, 0.5))} / {ms(p(iso, 0.95))}", goal="p95 ≤ 50 ms"))
    rows.append(Row("network: 10-min walking reach only, csgraph p50 / p95",
                    f"{ms(p(reach_sp, 0.5))} / {ms(p(reach_sp, 0.95))}",
                    anchor=f"networkx single_source_dijkstra_path_length "
                           f"{ms(p(reach_nx, 0.5))} / {ms(p(reach_nx, 0.95))}"))

    inp = CoverageInput("community_station", 10, "walk", DAY)
    svc.cache = {}
    cold = _once(lambda: service_coverage(store, inp))
    warm = timeit(lambda: service_coverage(store, inp), repeat=3)
    nx_cov = _once(lambda: service_coverage(store, inp, engine="networkx"))
    res = service_coverage(store, inp)
    rows.append(Row(f"network: service coverage, {res.facilities} community stations, "
                    f"10 min walk (share {res.totals['share']})",
                    f"{np.median(warm):.2f} s (first at a date, with residents: {cold:.2f} s)",
                    anchor=f"networkx reach: {nx_cov:.2f} s", goal="≤ 2 s"))
    fr_in = FireResponseInput(5, "drive", DAY)
    fire = timeit(lambda: fire_response(store, fr_in), repeat=3)
    fr = fire_response(store, fr_in)
    rows.append(Row(f"network: fire response, {fr['buildings']} buildings "
                    f"(5 min share {fr['buildings_share']})",
                    f"{np.median(fire):.2f} s", goal="≤ 2 s"))
    site = _once(lambda: site_suggest(store, SiteSuggestInput("community_station", 10, 5,
                                                              "walk", DAY)))
    rows.append(Row("network: site-suggest k=5 (default candidates, 10 min walk)",
                    f"{site:.2f} s"))
    return rows


if __name__ == "__main__":
    from bench.common import table
    from gis.store.gpkg import GeoPackageStore

    s = GeoPackageStore(Path(sys.argv[1]))
    try:
        print(table(run(s)))
    finally:
        s.close()

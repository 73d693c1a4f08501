"""Enterprise-service benchmarks: space matching, the enterprise portrait and the
at-risk list for the whole district (goals from issue 14: space-match p95 ≤ 200 ms over
all spaces and enterprises, portrait p95 ≤ 100 ms, at-risk list ≤ 2 s).

Run alone on a built store: ``python -m bench.bench_enterprise path/to/onemap.gpkg``.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from bench.common import Row, ms, p, timeit
from gis.analysis import enterprise_data
from gis.analysis.enterprise_policies import policy_table
from gis.analysis.enterprise_service import (
    enterprise_portrait,
    enterprises_at_risk,
    policy_eligible,
)
from gis.analysis.space_match import USES, match_spaces
from gis.store.base import Store

AS_OF = "2025-06-30"


def _demands(snap: enterprise_data.Snapshot, n: int = 40) -> list[dict[str, object]]:
    """Varied demands: every use, small to large areas, with and without an industry,
    move-in dates from 2020 to 2027, some with needs or a drawn area."""
    rng = np.random.default_rng(14)
    out: list[dict[str, object]] = []
    lon, lat = snap.spaces["lon"], snap.spaces["lat"]
    for i in range(n):
        lo = float(rng.choice([100, 300, 800, 2000, 5000]))
        d: dict[str, object] = {
            "area_m2": [lo, lo * float(rng.choice([2, 4, 10]))],
            "use": USES[i % len(USES)], "max_rent": float(rng.choice([60, 100, 150, 200])),
            "move_in": str(rng.choice(["2020-06-01", "2022-03-01", "2025-06-30",
                                       "2026-09-01", "2027-01-01"])),
            "limit": 20}
        if i % 2 == 0:
            d["industry"] = str(rng.choice(list("CFILM")))
        if i % 5 == 0:
            d["needs"] = ["near_arterial"]
        if i % 7 == 0 and len(lon):
            k = int(rng.integers(0, len(lon)))
            x, y = float(lon[k]), float(lat[k])
            d["area"] = {"type": "Polygon", "coordinates": [[
                [x - 0.01, y - 0.01], [x + 0.01, y - 0.01], [x + 0.01, y + 0.01],
                [x - 0.01, y + 0.01], [x - 0.01, y - 0.01]]]}
        out.append(d)
    return out


def run(store: Store) -> list[Row]:
    """The enterprise-service figures on ``store``."""
    enterprise_data._CACHE.pop(store, None)
    t0 = time.perf_counter()
    snap = enterprise_data.snapshot(store)
    load = time.perf_counter() - t0
    n_spaces = len(set(snap.spaces["id"].tolist()))
    n_ent = len(snap.enterprises)
    rows = [Row(f"enterprise snapshot load ({n_spaces:,} spaces in {len(snap.spaces):,} "
                f"quarterly versions, {n_ent:,} enterprises, {len(snap.events):,} events)",
                f"{load:.1f} s", "once per store, at first use")]

    demands = _demands(snap)
    times, offered = [], 0
    for d in demands:
        t0 = time.perf_counter()
        r = match_spaces(store, d)
        times.append(time.perf_counter() - t0)
        offered += len(r.candidates) > 0
    rows.append(Row(f"space-match p95 ({len(demands)} demands, {offered} with offers)",
                    ms(p(times, 0.95)), f"p50 {ms(p(times, 0.5))}", "≤ 200 ms"))

    table = policy_table()
    rng = np.random.default_rng(15)
    day = enterprise_data.day_number(AS_OF)
    active = np.flatnonzero(snap.enterprises.valid_at(day))
    ids = [str(snap.enterprises["id"][i]) for i in rng.choice(active, 50, replace=False)]
    enterprise_portrait(store, ids[0], table, as_of=AS_OF)  # warm the per-address index
    times = []
    for eid in ids:
        t0 = time.perf_counter()
        enterprise_portrait(store, eid, table, as_of=AS_OF)
        times.append(time.perf_counter() - t0)
    rows.append(Row("enterprise portrait p95 (50 active enterprises)", ms(p(times, 0.95)),
                    f"p50 {ms(p(times, 0.5))}", "≤ 100 ms"))

    t = timeit(lambda: enterprises_at_risk(store, table, as_of=AS_OF), repeat=3)
    n_risk = enterprises_at_risk(store, table, as_of=AS_OF)["numberMatched"]
    rows.append(Row(f"at-risk list, whole district ({len(active):,} active, {n_risk:,} at "
                    "risk)", ms(max(t)), f"median {ms(sorted(t)[1])}", "≤ 2 s"))
    pol = table.policies[1]
    t = timeit(lambda: policy_eligible(store, pol, as_of=AS_OF), repeat=3)
    n_ok = policy_eligible(store, pol, as_of=AS_OF)["numberMatched"]
    rows.append(Row(f"policy-eligible list ({pol.id}: {n_ok:,} enterprises)", ms(max(t))))
    return rows


if __name__ == "__main__":
    from bench.common import table as md
    from gis.store.gpkg import GeoPackageStore

    st = GeoPackageStore(sys.argv[1])
    try:
        print(md(run(st)))
    finally:
        st.close()

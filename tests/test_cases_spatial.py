"""Hot spots (Gi* against a hand-computed example and on H3 cells), repeat clustering
(against brute force), weekly trends."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import h3
import numpy as np
import pandas as pd
import pytest

from gis.cases import DispatchInputError
from gis.cases.spatial import gi_star, hotspots, repeat_clusters, weekly_trend
from gis.cases.workflow import haversine_m
from gis.store.gpkg import GeoPackageStore


def test_gi_star_hand_computed() -> None:
    # Path a-b-c-d, x = [1, 2, 6, 3]; binary weights with self (Gi*).
    # n = 4, mean 3, S = sqrt(50/4 - 9) = sqrt(3.5).
    # a: (1+2 - 3*2) / (S*sqrt((4*2-2**2)/3)) = -3 / 2.160247 = -1.388730
    # b: (1+2+6 - 3*3) / ...                  = 0
    # c: (2+6+3 - 3*3) / (S*sqrt((4*3-3**2)/3)) = 2 / 1.870829 = 1.069045
    # d: (6+3 - 3*2) / 2.160247                = 1.388730
    z, p = gi_star(np.array([1.0, 2.0, 6.0, 3.0]), {0: [1], 1: [0, 2], 2: [1, 3], 3: [2]})
    assert z == pytest.approx([-1.388730, 0.0, 1.069045, 1.388730], abs=1e-6)
    # two-sided normal p-values: 2 * (1 - Phi(|z|))
    expect = [2 * (1 - 0.5 * (1 + math.erf(abs(v) / math.sqrt(2)))) for v in z]
    assert p == pytest.approx(expect, abs=1e-9)


def test_hotspots_on_the_demo(demo_dir: Path) -> None:
    store = GeoPackageStore(demo_dir / "onemap.gpkg")
    try:
        r = hotspots(store, 8, "垃圾暴露", "2023-01-01", "2025-01-01")
        ev = store.query("event", columns=["h3", "occurred_at"], where={"category": "垃圾暴露"})
        with pytest.raises(DispatchInputError):
            hotspots(store, 12)
        with pytest.raises(DispatchInputError):
            hotspots(store, 9, "不存在")
        with pytest.raises(DispatchInputError):
            hotspots(store, 9, None, "2025-01-01", "2024-01-01")
    finally:
        store.close()
    feats = r["features"]
    cells = {f["properties"]["cell"] for f in feats}
    # Counts agree with h3 over the raw events (those in the district's cells).
    t = ev["occurred_at"]
    sel = ev[(t >= "2023-01-01T00:00:00Z") & (t < "2025-01-01T00:00:00Z")]
    parents = pd.Series([h3.cell_to_parent(h3.int_to_str(int(c) & (2**64 - 1)), 8)
                         for c in sel["h3"]]).value_counts()
    for f in feats:
        assert f["properties"]["count"] == parents.get(f["properties"]["cell"], 0)
    assert r["events"] == sum(parents.get(c, 0) for c in cells) > 0
    # Classes follow z and p; the hottest cell by z is a hot spot.
    for f in feats:
        pr = f["properties"]
        if pr["class"] != "none":
            assert pr["p"] < 0.05 and (pr["z"] > 0) == (pr["class"] == "hot")
    top = max(feats, key=lambda f: f["properties"]["z"] or -1e9)
    assert top["properties"]["class"] == "hot" and r["hot"] >= 1


def _frame(rows: list[tuple[str, str, str, float, float, str | None]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["id", "category", "occurred_at", "lon", "lat",
                                       "address_id"])


def test_repeat_clusters_match_brute_force() -> None:
    rng = np.random.default_rng(5)
    n = 160
    rows = []
    for i in range(n):
        day = int(rng.integers(0, 120))
        rows.append((f"E{i:03d}", ["积水", "油烟污染"][i % 2],
                     f"2025-{1 + day // 30:02d}-{1 + day % 28:02d}T10:00:00Z",
                     114.1 + rng.uniform(0, 0.003), 22.55 + rng.uniform(0, 0.003),
                     f"A{rng.integers(0, 40)}" if rng.random() < 0.3 else None))
    df = _frame(rows)
    got = repeat_clusters(df, days=10, radius_m=50.0)
    # Brute force: union-find over every pair.
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    ts = pd.to_datetime(df["occurred_at"], utc=True)
    for i, j in itertools.combinations(range(n), 2):
        a, b = df.iloc[i], df.iloc[j]
        if a["category"] != b["category"] or abs((ts[i] - ts[j]).total_seconds()) > 10 * 86400:
            continue
        near = haversine_m(a["lon"], a["lat"], b["lon"], b["lat"]) <= 50.0
        same = a["address_id"] is not None and a["address_id"] == b["address_id"]
        if near or same:
            parent[find(i)] = find(j)
    groups: dict[int, list[str]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(df["id"][i])
    expect = sorted(sorted(g) for g in groups.values() if len(g) >= 2)
    assert sorted(got["ids"].tolist()) == expect
    assert (got["count"] == got["ids"].map(len)).all()
    assert got["count"].is_monotonic_decreasing


def test_weekly_trend() -> None:
    times = pd.Series(["2025-06-02T01:00:00Z", "2025-06-04T01:00:00Z", "2025-06-10T01:00:00Z",
                       "2024-06-03T05:00:00Z", "2024-06-11T05:00:00Z", "2024-06-12T05:00:00Z"])
    rows = weekly_trend(times, "2025-06-02", "2025-06-23")
    assert rows == [
        {"week": "2025-06-02", "count": 2, "last_year": 1, "change": 1.0},
        {"week": "2025-06-09", "count": 1, "last_year": 2, "change": -0.5},
        {"week": "2025-06-16", "count": 0, "last_year": 0, "change": None},
    ]


def test_hotspot_counts_same_on_postgis(demo_dir: Path, pg_cluster: object) -> None:
    from gis.store.postgis import PostGISStore

    src = GeoPackageStore(demo_dir / "onemap.gpkg")
    url = pg_cluster.new_database()  # type: ignore[attr-defined]
    pg = PostGISStore(url)
    try:
        for kind in ("district", "event"):
            pg.ingest(kind, src.query(kind))
        args = (8, "垃圾暴露", "2023-01-01", "2025-01-01")
        a, b = hotspots(src, *args), hotspots(pg, *args)
        assert [f["properties"] for f in a["features"]] == [
            f["properties"] for f in b["features"]]
        assert a["events"] > 0
    finally:
        pg.close()
        src.close()
        pg_cluster.drop_database(url)  # type: ignore[attr-defined]

"""The hand-built enterprise-service store shared by the enterprise tests, and the snapshot.

Geography: the tiny fixture's two communities (WEST, EAST squares of 0.01°) in
subdistrict 440303003, a district polygon around them, one arterial road along
22.5505 N (the south edge of both squares).

Buildings (year built, estate, use, floors):
  B1 2020 -  office 20 floors  by the arterial (west)        "the obviously right one"
  B2 1980 -  office 30 floors  far from the arterial (west, north edge)
  B3 2010 甲园 industrial 4 floors (east)   B4 2012 甲园 industrial 4 floors (east)
  B5 2015 -  industrial 3 floors (east, north)
Spaces (use, area, vacant at 2025-10-01 → open, rent), first version 2025-10-01:
  S1 研发 1,000 m², 800 vacant, rent 80 (B1)            → fits 500-1,000 at ≤120
  S2 研发 1,000 m², 300 vacant, rent 60 (B1)            → too little vacant
  S3 研发 2,000 m², 900 vacant, rent 150 (B2)           → too dear
  S4 研发 8,000 m², 5,000 vacant, rent 100 (B2)         → far too large, old, far
  S5 办公 2,000 m², 1,500 vacant, rent 70 (B1)          → wrong use
  S6 研发 1,200 m²: vacant 0 until 2026-07-01, then 900 (rent 90, B2)
  S7 仓储 1,000 m², 800 vacant (B3), S8 仓储 1,000 m², 900 vacant (B4): one park 甲园
  S9 仓储 1,000 m², 700 vacant (B5)
Enterprises (industry, employees, social-security headcount, tax band):
  E1 I 50/48 A (B1)   E2 I 10/3 B (B1, headcount gap)   E3 I 5/5 M (B1)
  E4 C 120/110 A (B3) E5 C 30/12 C (B4, gap)            E6 F 2/2 D (B5)
  E7 I 8/8 B (B1) cancelled 2024-01-01                   E9 F 4/4 B (B2, holds 创新型产业用房)
Events at B1's address point: V1 complaint (noise) 2025-06-01, V2 inspection (fire) 2025-03-01.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from gis.analysis.enterprise_data import snapshot
from gis.store.base import Store
from gis.store.gpkg import GeoPackageStore
from tests.conftest import community_frame

DISTRICT = shapely.box(114.095, 22.545, 114.125, 22.565)
POINTS = {"B1": (114.1020, 22.5510), "B2": (114.1050, 22.5590), "B3": (114.1150, 22.5520),
          "B4": (114.1160, 22.5520), "B5": (114.1170, 22.5585)}
FIRST = "2025-10-01"


def gdf(rows: list[dict], geoms: Sequence[shapely.Geometry]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(rows, geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"))


def pt(bid: str, dx: float = 0.0) -> shapely.Point:
    x, y = POINTS[bid]
    return shapely.Point(x + 0.0001 + dx, y + 0.0001)


def build(path: Path) -> GeoPackageStore:
    """Write the hand-built store at ``path`` (see the module docstring)."""
    s = GeoPackageStore(path, create=True)
    fill(s)
    return s


def fill(s: Store) -> None:
    """Ingest the hand-built entities (see the module docstring) into ``s``."""
    vf = "2000-01-01"
    s.ingest("district", gdf([{"id": "D1", "code": "440303", "name": "罗湖区",
                               "valid_from": vf}], [shapely.MultiPolygon([DISTRICT])]))
    s.ingest("subdistrict", gdf([{"id": "SD1", "code": "440303003", "name": "东门街道",
                                  "valid_from": vf}],
                                [shapely.MultiPolygon([shapely.box(114.10, 22.55, 114.12,
                                                                   22.56)])]))
    s.ingest("community", community_frame())
    s.ingest("road", gdf([{"id": "R1", "name": "深南东路", "road_class": "arterial",
                           "valid_from": vf}],
                         [shapely.LineString([(114.095, 22.5505), (114.125, 22.5505)])]))
    blds = [("B1", 2020, None, "office", 20), ("B2", 1980, None, "office", 30),
            ("B3", 2010, "甲园", "industrial", 4), ("B4", 2012, "甲园", "industrial", 4),
            ("B5", 2015, None, "industrial", 3)]
    s.ingest("building", gdf(
        [{"id": b, "year_built": y, "estate": e, "use": u, "floors": f, "valid_from": vf,
          "address": f"{b}号", "address_id": f"A-{b}"} for b, y, e, u, f in blds],
        [shapely.box(*POINTS[b], POINTS[b][0] + 0.0004, POINTS[b][1] + 0.0004)
         for b, *_ in blds]))
    spaces = [("S1", "研发", 1000, 800, 80, "B1"), ("S2", "研发", 1000, 300, 60, "B1"),
              ("S3", "研发", 2000, 900, 150, "B2"), ("S4", "研发", 8000, 5000, 100, "B2"),
              ("S5", "办公", 2000, 1500, 70, "B1"),
              ("S7", "仓储", 1000, 800, 40, "B3"), ("S8", "仓储", 1000, 900, 40, "B4"),
              ("S9", "仓储", 1000, 700, 40, "B5")]
    rows = [{"id": i, "name": f"{b}{u}空间{i}", "space_type": "社会物业", "use": u,
             "building_id": b, "area_m2": float(a), "vacant_area_m2": float(v),
             "vacancy_rate": v / a, "rent": float(r), "valid_from": FIRST}
            for i, u, a, v, r, b in spaces]
    geoms = [pt(b, 0.00001 * k) for k, (*_, b) in enumerate(spaces)]
    rows += [{"id": "S6", "name": "B2研发空间S6", "space_type": "创新型产业用房", "use": "研发",
              "building_id": "B2", "area_m2": 1200.0, "vacant_area_m2": v,
              "vacancy_rate": v / 1200, "rent": 90.0, "valid_from": f, "valid_to": t}
             for v, f, t in ((0.0, FIRST, "2026-07-01"), (900.0, "2026-07-01", None))]
    geoms += [pt("B2", 0.0002)] * 2
    s.ingest("industrial_space", gdf(rows, geoms))
    ents = [("E1", "I", 50, 48, "A", "B1", None), ("E2", "I", 10, 3, "B", "B1", None),
            ("E3", "I", 5, 5, "M", "B1", None), ("E4", "C", 120, 110, "A", "B3", None),
            ("E5", "C", 30, 12, "C", "B4", None), ("E6", "F", 2, 2, "D", "B5", None),
            ("E7", "I", 8, 8, "B", "B1", "2024-01-01"), ("E9", "F", 4, 4, "B", "B2", None)]
    s.ingest("enterprise", gdf(
        [{"id": i, "name": f"深圳市{i}科技有限公司", "industry": ind, "employees": e,
          "social_security_headcount": ss, "tax_band": t, "building_id": b,
          "registered_capital": 100.0, "valid_from": "2015-01-01", "valid_to": vt}
         for i, ind, e, ss, t, b, vt in ents],
        [pt(b, 0.00002 * k) for k, (*_, b, _vt) in enumerate(ents)]))
    s.ingest("event", gdf(
        [{"id": "V1", "source": "hotline_12345", "category": "noise", "status": "closed",
          "occurred_at": "2025-06-01T10:00:00Z", "description": "张三投诉噪音",
          "address_id": "A-B1"},
         {"id": "V2", "source": "grid_patrol", "category": "fire_safety", "status": "closed",
          "occurred_at": "2025-03-01T10:00:00Z", "description": "消防检查",
          "address_id": "A-B1"}],
        [pt("B1"), pt("B1")]))


@pytest.fixture()
def ent_store(tmp_path: Path) -> Iterator[GeoPackageStore]:
    s = build(tmp_path / "ent" / "onemap.gpkg")
    yield s
    s.close()


def test_snapshot_reads_every_version_and_drops_on_write(ent_store: GeoPackageStore) -> None:
    snap = snapshot(ent_store)
    assert len(snap.spaces) == 10 and len(snap.enterprises) == 8
    assert snapshot(ent_store) is snap  # cached
    b1 = snap.buildings.loc["B1"]
    assert b1["year_built"] == 2020 and b1["arterial_m"] < 100  # 0.0006° ≈ 65 m north
    assert snap.buildings.loc["B2"]["arterial_m"] > 800
    ent_store.ingest("enterprise", gdf(
        [{"id": "E8", "name": "新公司", "industry": "I", "valid_from": "2025-01-01"}],
        [pt("B1")]))
    fresh = snapshot(ent_store)
    assert fresh is not snap and len(fresh.enterprises) == 9


def test_large_stores_are_read_in_the_background(ent_store: GeoPackageStore,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from gis.analysis import enterprise_data

    assert enterprise_data.warm_in_background(ent_store) is None  # 8 enterprises: on first use
    assert ent_store not in enterprise_data._CACHE
    monkeypatch.setattr(enterprise_data, "WARM_MIN_ENTERPRISES", 5)
    thread = enterprise_data.warm_in_background(ent_store)
    assert thread is not None
    thread.join(timeout=60)
    assert ent_store in enterprise_data._CACHE


def test_same_answers_on_both_backends(store_factory: Callable[[], Store]) -> None:
    from gis.analysis.enterprise_policies import load_policies
    from gis.analysis.enterprise_service import enterprise_portrait, enterprises_at_risk
    from gis.analysis.space_match import match_spaces

    s = store_factory()
    fill(s)
    demand = {"area_m2": [500, 1000], "use": "研发", "max_rent": 120, "move_in": "2026-09-01",
              "industry": "I"}
    r = match_spaces(s, demand).as_dict()
    assert [c["space_ids"] for c in r["candidates"]] == [["S1"], ["S6"], ["S4"]]
    assert r["candidates"][0]["same_industry_nearby"] == 3
    combined = match_spaces(s, {"area_m2": [1500, 2000], "use": "仓储", "max_rent": 60})
    assert [c.space_ids for c in combined.candidates] == [["S8", "S7"]]
    table = load_policies()
    p = enterprise_portrait(s, "E2", table, as_of="2026-03-01")
    assert p.headcount_gap["flag"] is True and p.events["complaints"] == 1
    risk = enterprises_at_risk(s, table, as_of="2026-09-01", min_score=21.2)
    assert {f["id"] for f in risk["features"]} == {"E2", "E9"}

"""CQL2 text/JSON parsing and the SQL the GeoPackage store runs (pushdown)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely

from gis.errors import InvalidQuery
from gis.filters import Filter, compile_sqlite, parse_cql2_json, parse_cql2_text
from gis.model import schema
from gis.store.gpkg import GeoPackageStore

WEST_POLY = "POLYGON((114.10 22.55, 114.11 22.55, 114.11 22.56, 114.10 22.56, 114.10 22.55))"


def ids(store: GeoPackageStore, text: str, kind: str = "person") -> list[str]:
    f = Filter.from_text(text)
    out = list(store.query(kind, filter=f)["id"])
    assert store.count(kind, filter=f) == len(out)
    return out


def test_text_filters_on_tiny_store(tiny_store: GeoPackageStore) -> None:
    s = tiny_store
    assert ids(s, f"S_INTERSECTS(geometry, {WEST_POLY})") == ["P1", "P2", "P3", "P4"]
    assert ids(s, "S_WITHIN(geometry, BBOX(114.11, 22.55, 114.12, 22.56))") == ["P5", "P6"]
    assert ids(s, "S_DISJOINT(geometry, BBOX(114.10, 22.55, 114.11, 22.56))") == ["P5", "P6"]
    assert ids(s, "sex = 'F' AND birth_date < DATE('1989-01-01')") == ["P1", "P3"]
    assert ids(s, "name IN ('甲', '乙')") == ["P1", "P2"]
    assert ids(s, "id NOT IN ('P1', 'P2', 'P3')") == ["P4", "P5", "P6"]
    assert ids(s, "birth_date BETWEEN '1985-01-01' AND '1990-12-31'") == ["P2", "P3", "P5"]
    assert ids(s, "NOT (sex = 'F') AND valid_to IS NULL") == ["P4"]
    assert ids(s, "sex = 'M' OR id = 'P1'") == ["P1", "P2", "P4", "P6"]
    # CQL2 LIKE is case-sensitive ('_' one character), unlike SQLite's LIKE.
    assert ids(s, "id LIKE 'P_'") == ["P1", "P2", "P3", "P4", "P5", "P6"]
    assert ids(s, "id LIKE 'p%'") == []
    # The valid interval intersecting an instant: P2 left on 2020-06-30, P4 arrived 2021.
    assert ids(s, "T_INTERSECTS(INTERVAL(valid_from, valid_to), DATE('2020-07-01'))") == [
        "P1", "P3", "P5"]
    assert ids(s, "T_INTERSECTS(valid_from, INTERVAL('2019-01-01', '..'))") == [
        "P4", "P5", "P6"]
    assert ids(s, "T_BEFORE(valid_from, DATE('2011-01-01'))") == ["P1", "P2"]


def test_json_filters_match_text(tiny_store: GeoPackageStore) -> None:
    s = tiny_store
    doc = {"op": "and", "args": [
        {"op": "s_intersects", "args": [{"property": "geometry"},
                                        {"bbox": [114.10, 22.55, 114.11, 22.56]}]},
        {"op": "between", "args": [{"property": "birth_date"}, "1980-01-01", "2020-01-01"]},
        {"op": "t_intersects", "args": [{"property": "valid_from"},
                                        {"interval": ["2015-01-01", ".."]}]},
    ]}
    f = Filter.from_json(doc)
    assert list(s.query("person", filter=f)["id"]) == ["P3", "P4"]
    g = Filter.from_json({"op": "like", "args": [{"property": "name"}, "甲%"]})
    assert list(s.query("person", filter=g)["id"]) == ["P1"]


def test_paging_applies_after_the_filter(tiny_store: GeoPackageStore) -> None:
    f = Filter.from_text("sex = 'M'")
    page = tiny_store.query("person", filter=f, limit=2, offset=1, order_by=["id"])
    assert list(page["id"]) == ["P4", "P6"]


@pytest.mark.parametrize("text", [
    "", "sex ==", "S_INTERSECTS(geometry)", "nope = 1", "h3x > 1",
    "T_INTERSECTS(valid_from, DATE('2020-13-01'))", "S_INTERSECTS(sex, POINT(1 2))",
])
def test_bad_filters_are_invalid_queries(tiny_store: GeoPackageStore, text: str) -> None:
    with pytest.raises(InvalidQuery):
        tiny_store.count("person", filter=Filter.from_text(text))


def test_bad_json_filters() -> None:
    for doc in ["{", {"op": "zz", "args": []}, {"op": "and", "args": [True]}, {"property": "a"}]:
        with pytest.raises(InvalidQuery):
            parse_cql2_json(doc)  # type: ignore[arg-type]


def test_sql_is_generated_not_python(tiny_store: GeoPackageStore) -> None:
    sql, params = compile_sqlite(parse_cql2_text(
        f"S_INTERSECTS(geometry, {WEST_POLY}) AND sex = 'F'"), schema("person"))
    assert "rtree_persons_geom" in sql and "onemap_spatial" in sql and "t.sex = ?" in sql
    assert params[-1] == "F"
    # The R-tree prefilter is visible in SQLite's plan.
    conn = tiny_store._conn()
    plan = " ".join(str(r) for r in conn.execute(
        f"EXPLAIN QUERY PLAN SELECT t.fid FROM persons t WHERE {sql}", params))
    assert "rtree_persons_geom" in plan


def test_spatial_filter_equals_shapely_on_demo(demo_dir: Path) -> None:
    store = GeoPackageStore(demo_dir / "onemap.gpkg")
    try:
        all_b = store.query("building", columns=["id"])
        area = shapely.Point(114.12, 22.55).buffer(0.01)
        expect = sorted(all_b["id"][np.asarray(shapely.intersects(area, all_b.geometry.values))])
        got = sorted(store.query("building", filter=Filter.from_text(
            f"S_INTERSECTS(geometry, {area.wkt})"))["id"])
        assert got == expect and len(got) > 0
        within = sorted(store.query("building", filter=Filter.from_text(
            f"S_WITHIN(geometry, {area.wkt})"))["id"])
        assert set(within) <= set(got)
    finally:
        store.close()

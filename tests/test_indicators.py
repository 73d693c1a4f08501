"""Indicators (issue 17): every indicator of the catalogue on the seeded demo equals a
direct query of the store written here independently (SQL over the GeoPackage's tables,
the coverage analysis for the network indicators); series lengths; k-anonymity; the HTTP
API's errors; cache invalidation by writes; threshold alerts; and PostGIS."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import geopandas as gpd
import h3
import pytest
import shapely
import yaml
from fastapi.testclient import TestClient

from gis.analysis.coverage import CoverageInput, service_coverage
from gis.cases.config import load_table
from gis.indicators import IndicatorConfigError, IndicatorEngine, load_catalog
from gis.indicators import catalog as catalog_mod
from gis.indicators.alerts import IndicatorAlerts
from gis.indicators.catalog import DEFAULT_PATH, parse_catalog
from gis.indicators.engine import periods
from gis.perception.db import PerceptionDB
from gis.store.gpkg import GeoPackageStore
from spatial_api.app import create_app
from spatial_api.settings import Settings
from tests.conftest import copy_demo

PLANNING = {"X-API-Key": "demo-planning-key"}
ADMIN = {"X-API-Key": "demo-admin-key"}
AS_OF = "2024-06-30"
CATALOG = load_catalog()


# ---------------------------------------------------------------------------
# the direct queries (independent of gis/indicators)

KEYS = {"district": "'all'", "subdistrict": "subdistrict_code", "community": "community_code"}


def _sql(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return conn.execute(sql, params).fetchall()


def _grouped(db: Path, level: str, table: str, expr: str, where: str,
             params: tuple[Any, ...] = ()) -> dict[str, float]:
    key = "block" if level == "block9" else KEYS[level]
    rows = _sql(db, f"SELECT {key}, {expr} FROM {table} WHERE {where} GROUP BY 1", params)
    if level == "block9":
        return {h3.int_to_str(k): v for k, v in rows if k is not None}
    return {str(k): v for k, v in rows if k is not None}


def _valid(d: str) -> tuple[str, tuple[str, str]]:
    return "valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)", (d, d)


def _ratio(num: dict[str, float], den: dict[str, float]) -> dict[str, float | None]:
    return {k: (100.0 * num.get(k, 0) / v if v else None) for k, v in den.items()}


def _deadline_case() -> str:
    table = load_table()
    whens = " ".join(f"WHEN '{c}' THEN {r.deadline_h}" for c, r in table.categories.items())
    return f"(CASE category {whens} ELSE 24 END)"


def direct(db: Path, ind_id: str, level: str, start: date, end: date) -> dict[str, Any]:
    """The indicator for the period [start, end) per area, straight from the tables."""
    d = (end - timedelta(days=1)).isoformat()
    d0 = (start - timedelta(days=1)).isoformat()
    s_i, e_i = start.isoformat() + "T00:00:00Z", end.isoformat() + "T00:00:00Z"
    g = lambda *a: _grouped(db, level, *a)  # noqa: E731
    w, p = _valid(d)
    if ind_id == "population":
        return g("persons", "COUNT(*)", w, p)
    if ind_id == "population_change":
        now, before = g("persons", "COUNT(*)", w, p), g("persons", "COUNT(*)", *_valid(d0))
        return {k: now.get(k, 0) - before.get(k, 0) for k in set(now) | set(before)}
    if ind_id == "households":
        return g("persons", "COUNT(DISTINCT household_id)", w + " AND household_id IS NOT NULL",
                 p)
    if ind_id == "elderly_share":
        last = end - timedelta(days=1)
        cutoff = f"{last.year - 65:04d}-{last.month:02d}-{last.day:02d}"
        return _ratio(g("persons", "SUM(birth_date <= ?)", w, (cutoff, *p)),
                      g("persons", "COUNT(*)", w, p))
    if ind_id == "enterprises":
        return g("enterprises", "COUNT(*)", w, p)
    if ind_id == "enterprise_net_change":
        a, b = start.isoformat(), end.isoformat()
        opened = g("enterprises", "COUNT(*)", "valid_from >= ? AND valid_from < ?", (a, b))
        closed = g("enterprises", "COUNT(*)", "valid_to >= ? AND valid_to < ?", (a, b))
        return {k: opened.get(k, 0) - closed.get(k, 0) for k in set(opened) | set(closed)}
    if ind_id == "industrial_vacancy":
        return _ratio(g("industrial_spaces", "SUM(vacant_area_m2)", w, p),
                      g("industrial_spaces", "SUM(area_m2)", w, p))
    if ind_id == "events_opened":
        return g("events", "COUNT(*)", "occurred_at >= ? AND occurred_at < ?", (s_i, e_i))
    if ind_id == "events_closed":
        return g("events", "COUNT(*)", "closed_at >= ? AND closed_at < ?", (s_i, e_i))
    dl = f"julianday(occurred_at) + {_deadline_case()} / 24.0"
    if ind_id == "events_overdue":
        return g("events", "COUNT(*)", f"occurred_at < ? AND (closed_at IS NULL OR "
                 f"closed_at >= ?) AND {dl} < julianday(?)", (e_i, e_i, e_i))
    if ind_id == "on_time_closure_rate":
        in_window = "closed_at >= ? AND closed_at < ?"
        return _ratio(g("events", f"SUM(julianday(closed_at) <= {dl} + 1e-9)", in_window,
                        (s_i, e_i)), g("events", "COUNT(*)", in_window, (s_i, e_i)))
    if ind_id in ("active_alerts", "sensors_offline"):
        if not _sql(db, "SELECT count(*) FROM sqlite_master WHERE name = 'alerts'")[0][0]:
            return {}
        kind = " AND a.kind = 'offline'" if ind_id == "sensors_offline" else ""
        key = "s.block" if level == "block9" else KEYS[level].replace("_code", "_code")
        key = key if key in ("'all'", "s.block") else f"s.{key}"
        rows = _sql(db, f"SELECT {key}, COUNT(*) FROM alerts a JOIN sensors s ON s.id = "
                    f"a.sensor_id WHERE a.kind <> 'indicator' AND a.started_at < ? AND "
                    f"(a.ended_at IS NULL OR a.ended_at >= ?){kind} GROUP BY 1", (e_i, e_i))
        return {(h3.int_to_str(k) if level == "block9" else str(k)): v for k, v in rows}
    raise AssertionError(ind_id)


def assert_same(got: dict[str, Any], want: dict[str, Any], what: str) -> None:
    """Every area of ``got`` equals ``want`` (areas absent from ``want`` are 0 / None)."""
    for code, v in got.items():
        w = want.get(code)
        if w is None and not isinstance(v, float):
            w = 0 if v is not None else None
        if v is None or w is None:
            assert v == w, f"{what} {code}: {v} != {w}"
        else:
            assert v == pytest.approx(w, rel=1e-9, abs=1e-9), f"{what} {code}: {v} != {w}"
    missing = [c for c, w in want.items() if w and c not in got]
    assert not missing, f"{what}: areas missing {missing[:5]}"


# ---------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def store(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GeoPackageStore]:
    """A copy of the demo with a few sensor alerts (active, ended, offline) added."""
    d = copy_demo(demo_dir, tmp_path_factory.mktemp("ind"))
    st = GeoPackageStore(d / "onemap.gpkg")
    db = PerceptionDB(st)
    db.ensure_schema()
    sensors = st.query("sensor", columns=["id"], order_by=["id"])["id"].tolist()
    for i, sid in enumerate(sensors[:12]):
        a = db.insert_alert(sid, "offline" if i % 3 == 0 else "threshold", 1, 1.0, 0.5,
                            f"2024-0{1 + i % 6}-10T08:00:00Z")
        if i % 4 == 1:
            a.ended_at = a.updated_at = "2024-06-20T00:00:00Z"
            db.update_alert(a)
    yield st
    st.close()


@pytest.fixture(scope="module")
def engine(store: GeoPackageStore) -> Iterator[IndicatorEngine]:
    eng = IndicatorEngine(store)
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def client(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    d = copy_demo(demo_dir, tmp_path_factory.mktemp("indhttp"))
    with TestClient(create_app(Settings(data_dir=d, indicator_alerts_s=0))) as c:
        yield c


# ---------------------------------------------------------------------------
# the catalogue


def test_catalogue_has_the_issue_indicators() -> None:
    ids = {i.id for i in CATALOG.indicators}
    assert {"population", "population_change", "households", "elderly_share", "enterprises",
            "enterprise_net_change", "industrial_vacancy", "events_opened", "events_closed",
            "events_overdue", "on_time_closure_rate", "active_alerts", "sensors_offline",
            "service_coverage", "fire_response_coverage"} <= ids
    assert CATALOG.headlines and all(i.title.zh and i.title.en for i in CATALOG.indicators)


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["indicators"][0].update(query="nope"), "unknown query"),
    (lambda d: d["indicators"][0].update(direction="up"), "direction"),
    (lambda d: d["indicators"].append(dict(d["indicators"][0])), "duplicate"),
    (lambda d: d["indicators"][0].update(levels=["district"], thresholds=[
        {"level": "block", "op": ">", "value": 1, "alert_level": 1}]), "not one of the levels"),
    (lambda d: d["indicators"][0].update(thresholds=[
        {"level": "district", "op": ">", "value": 1, "clear": 2, "alert_level": 1}]), "clear"),
    (lambda d: d["indicators"][0].update(params={"x": 1}), "unknown parameter"),
    (lambda d: d["indicators"][0]["title"].pop("en"), "title.en"),
])
def test_bad_catalogue_is_a_clear_error(edit: Any, message: str) -> None:
    doc = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    edit(doc)
    with pytest.raises(IndicatorConfigError, match=message):
        parse_catalog(doc)


def test_bad_catalogue_stops_start_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "indicators.yaml"
    bad.write_text("version: 1\nindicators:\n  - id: x\n", encoding="utf-8")
    monkeypatch.setattr(catalog_mod, "DEFAULT_PATH", bad)
    with pytest.raises(IndicatorConfigError, match=r"indicators\.yaml: indicators\.x"):
        create_app(Settings(data_dir=tmp_path))


# ---------------------------------------------------------------------------
# every indicator equals the direct query


NON_NETWORK = [i.id for i in CATALOG.indicators if i.query != "reach_coverage"]


@pytest.mark.parametrize("ind_id", NON_NETWORK)
@pytest.mark.parametrize("level", ["district", "subdistrict", "community"])
def test_indicator_equals_direct_query(engine: IndicatorEngine, store: GeoPackageStore,
                                       ind_id: str, level: str) -> None:
    body = engine.indicator(ind_id, level=level, as_of=AS_OF, reveal=True)
    db = store.path
    # the as_of period (one month ending on AS_OF) and the one before it
    cur = direct(db, ind_id, level, date(2024, 6, 1), date(2024, 7, 1))
    prev = direct(db, ind_id, level, date(2024, 5, 1), date(2024, 6, 1))
    if level == "district":
        cur = {body["values"][0]["code"]: cur.get("all")}
        prev = {body["values"][0]["code"]: prev.get("all")}
    assert_same({r["code"]: r["value"] for r in body["values"]}, cur, f"{ind_id} value")
    assert_same({r["code"]: r["previous"] for r in body["values"]}, prev, f"{ind_id} previous")
    for r in body["values"]:
        if r["value"] is not None and r["previous"] is not None:
            assert r["change"] == pytest.approx(r["value"] - r["previous"])
    # the numbers are not all zero (the test can fail)
    if ind_id not in ("sensors_offline", "events_overdue", "population_change"):
        assert any(r["value"] for r in body["values"]), ind_id


@pytest.mark.parametrize("ind_id", ["population", "events_opened", "industrial_vacancy",
                                    "active_alerts"])
def test_blocks_equal_direct_query(engine: IndicatorEngine, store: GeoPackageStore,
                                   ind_id: str) -> None:
    body = engine.indicator(ind_id, level="block", res=9, as_of=AS_OF, reveal=True)
    want = direct(store.path, ind_id, "block9", date(2024, 6, 1), date(2024, 7, 1))
    assert_same({r["code"]: r["value"] for r in body["values"]}, want, ind_id)
    # coarser blocks: the H3 parents of the res-9 answer (h3-py's cell_to_parent)
    b8 = engine.indicator(ind_id, level="block", res=8, as_of=AS_OF, reveal=True)
    if ind_id != "industrial_vacancy":
        sums: dict[str, float] = {}
        for code, v in want.items():
            p = h3.cell_to_parent(code, 8)
            sums[p] = sums.get(p, 0) + v
        assert_same({r["code"]: r["value"] for r in b8["values"]}, sums, ind_id + " res 8")


@pytest.mark.parametrize("ind_id", ["service_coverage", "fire_response_coverage"])
def test_coverage_equals_the_network_analysis(engine: IndicatorEngine, store: GeoPackageStore,
                                              ind_id: str) -> None:
    ind = CATALOG.get(ind_id)
    body = engine.indicator(ind_id, level="community", as_of=AS_OF, reveal=True)
    res = service_coverage(store, CoverageInput(ind.params["facility_type"],
                                                ind.params["minutes"], ind.params["mode"],
                                                AS_OF))
    want = {r["community_code"]: (100.0 * r["covered"] / r["population"]
                                  if r["population"] else None) for r in res.communities}
    assert_same({r["code"]: r["value"] for r in body["values"]}, want, ind_id)
    dist = engine.indicator(ind_id, level="district", as_of=AS_OF, reveal=True)
    t = res.totals
    assert dist["values"][0]["value"] == pytest.approx(100.0 * t["covered"] / t["population"])
    assert 0 < dist["values"][0]["value"] < 100


def test_series_points_equal_direct_queries(engine: IndicatorEngine,
                                            store: GeoPackageStore) -> None:
    body = engine.indicator("events_opened", level="subdistrict", start="2023-01-01",
                            to="2023-12-31", freq="month", reveal=True)
    assert [p["t"] for p in body["series"]] == [f"2023-{m:02d}-01" for m in range(1, 13)]
    for p in body["series"][::4]:
        s = date.fromisoformat(p["t"])
        e = date(s.year + (s.month == 12), s.month % 12 + 1, 1)
        assert_same(p["values"], direct(store.path, "events_opened", "subdistrict", s, e),
                    p["t"])
    total = sum(sum(p["values"].values()) for p in body["series"])
    assert total == _sql(store.path, "SELECT count(*) FROM events WHERE occurred_at >= "
                         "'2023-01-01' AND occurred_at < '2024-01-01' AND subdistrict_code "
                         "IS NOT NULL")[0][0]


@pytest.mark.parametrize("start, to, freq, n", [
    ("2024-01-01", "2024-12-31", "month", 12),
    ("2024-01-01", "2024-03-31", "week", 13),
    ("2024-03-01", "2024-03-10", "day", 10),
    ("2019-01-01", "2025-12-31", "year", 7),
    ("2024-01-31", "2024-05-30", "month", 4),
])
def test_series_length(engine: IndicatorEngine, start: str, to: str, freq: str,
                       n: int) -> None:
    body = engine.indicator("population", level="district", start=start, to=to, freq=freq,
                            reveal=True)
    assert len(body["series"]) == n
    # each period ends where the next begins; the last ends the day after ``to``
    ps = periods(date.fromisoformat(start), date.fromisoformat(to), freq)
    assert [a for a, _ in ps][1:] == [b for _, b in ps][:-1]
    assert ps[-1][1] == date.fromisoformat(to) + timedelta(days=1)
    # the stock at the last point is the stock at ``to``
    assert body["series"][-1]["values"][body["values"][0]["code"]] == \
        engine.indicator("population", level="district", as_of=to, reveal=True)[
            "values"][0]["value"]


def test_summary_is_the_headline_indicators(engine: IndicatorEngine) -> None:
    s = engine.summary(as_of=AS_OF, reveal=True)
    assert [i["id"] for i in s["items"]] == [i.id for i in CATALOG.headlines]
    for item in s["items"][:4]:
        one = engine.indicator(item["id"], level="district", as_of=AS_OF, reveal=True)
        assert item["value"] == one["values"][0]["value"]
        assert [p["value"] for p in item["series"]] == [
            p["values"][one["values"][0]["code"]] for p in one["series"]]
    sd = engine.summary(code="440303003", as_of=AS_OF, reveal=True)
    pop = engine.indicator("population", level="subdistrict", code="440303003", as_of=AS_OF,
                           reveal=True)
    assert sd["level"] == "subdistrict" and sd["items"][0]["value"] == pop["values"][0]["value"]


def test_drill_down_by_code(engine: IndicatorEngine, store: GeoPackageStore) -> None:
    com = engine.indicator("population", level="community", code="440303003", as_of=AS_OF)
    want = {c for (c,) in _sql(store.path, "SELECT code FROM communities WHERE "
                                           "subdistrict_code = '440303003'")}
    assert {r["code"] for r in com["values"]} == want
    blocks = engine.indicator("population", level="block", code="440303003", as_of=AS_OF,
                              reveal=True)
    sd = store.query("subdistrict", where={"code": "440303003"}).geometry.iloc[0]
    for r in blocks["values"]:  # whole blocks whose centre is in the subdistrict
        lat, lng = h3.cell_to_latlng(r["code"])
        assert sd.covers(shapely.Point(lng, lat))


# ---------------------------------------------------------------------------
# k-anonymity


def test_k_anonymity_below_admin(client: TestClient) -> None:
    q = f"/indicators/population?level=block&res=9&as_of={AS_OF}"
    admin = client.get(q, headers=ADMIN).json()
    small = [r for r in admin["values"] if r["value"] and 0 < r["value"] < 5]
    assert small, "the demo has blocks with 1-4 persons"
    for role in ("demo-planning-key", "demo-population-key", "demo-emergency-key"):
        body = client.get(q, headers={"X-API-Key": role}).json()
        for r in body["values"]:
            assert r["value"] is None or r["value"] == 0 or r["value"] >= 5, r
            for key in ("previous",):
                assert r[key] is None or r[key] == 0 or r[key] >= 5, r
        hidden = {r["code"] for r in body["values"] if r.get("suppressed")}
        assert {r["code"] for r in small} <= hidden
        assert len(hidden) != 1  # one hidden block would follow from the total
        for p in body["series"]:
            assert all(v is None or v == 0 or v >= 5 for v in p["values"].values())
    # a share of persons hides a small count of elderly too
    share = client.get(f"/indicators/elderly_share?level=block&as_of={AS_OF}",
                       headers=PLANNING).json()
    admin_share = client.get(f"/indicators/elderly_share?level=block&as_of={AS_OF}",
                             headers=ADMIN).json()
    assert sum(r["value"] is None for r in share["values"]) > sum(
        r["value"] is None for r in admin_share["values"])


# ---------------------------------------------------------------------------
# HTTP


def test_http_contract(client: TestClient) -> None:
    cat = client.get("/indicators")
    assert cat.status_code == 200
    first = cat.json()["indicators"][0]
    assert set(first) >= {"id", "title", "unit", "levels", "direction", "headline",
                          "thresholds"}
    assert client.get("/indicators", headers={"X-API-Key": "wrong"}).status_code == 401
    assert client.get("/indicators/population").status_code == 401
    assert client.get("/indicators/summary").status_code == 401
    body = client.get(f"/indicators/events_opened?level=subdistrict&as_of={AS_OF}"
                      "&from=2024-01-01&to=2024-06-30&freq=month", headers=PLANNING).json()
    assert set(body) >= {"id", "level", "unit", "freq", "from", "to", "as_of", "values",
                         "series"}
    assert len(body["values"]) == 10 and len(body["series"]) == 6
    assert set(body["values"][0]) >= {"code", "name", "value", "previous", "change"}
    fc = client.get(f"/indicators/events_opened?level=community&code=440303003&as_of={AS_OF}"
                    "&f=geojson", headers=PLANNING)
    assert fc.status_code == 200 and fc.headers["content-type"].startswith(
        "application/geo+json")
    feats = fc.json()["features"]
    assert feats and all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in feats)
    blocks = client.get("/indicators/events_opened?level=block&res=8&f=geojson",
                        headers=PLANNING).json()["features"]
    assert blocks and all(len(f["geometry"]["coordinates"][0]) == 7 for f in blocks)
    s = client.get(f"/indicators/summary?as_of={AS_OF}", headers=PLANNING).json()
    assert set(s) >= {"as_of", "from", "to", "freq", "items"}
    assert set(s["items"][0]) >= {"id", "title", "unit", "direction", "value", "previous",
                                  "change", "series"}


@pytest.mark.parametrize("query, status", [
    ("/indicators/nope", 404),
    ("/indicators/population?code=440303999", 404),
    ("/indicators/summary?code=440303999", 404),
    ("/indicators/population?level=street", 400),
    ("/indicators/population?freq=hour", 400),
    ("/indicators/population?as_of=2024-02-30", 400),
    ("/indicators/population?from=24-01-01", 400),
    ("/indicators/population?from=0001-01-01", 400),
    ("/indicators/population?as_of=9999-12-31&freq=year", 400),
    ("/indicators/population?from=2024-06-01&to=2024-01-01", 400),
    ("/indicators/population?res=12&level=block", 400),
    ("/indicators/population?freq=day&from=2000-01-01&to=2024-01-01", 400),
    ("/indicators/summary?level=block", 400),
])
def test_http_errors(client: TestClient, query: str, status: int) -> None:
    r = client.get(query, headers=PLANNING)
    assert r.status_code == status, r.text
    assert set(r.json()) >= {"code", "description"}


def test_openapi_documents_the_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("/indicators", "/indicators/summary", "/indicators/{indicator_id}"):
        assert p in paths
    op = paths["/indicators/{indicator_id}"]["get"]
    assert {"200", "400", "401", "404"} <= set(op["responses"])
    assert {p["name"] for p in op["parameters"]} >= {"level", "res", "code", "from", "to",
                                                     "freq", "as_of", "f"}


# ---------------------------------------------------------------------------
# cache invalidation


def _person(pid: str, lon: float, lat: float) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"id": [pid], "name": ["测试"], "sex": ["F"], "birth_date": ["1950-01-01"],
         "valid_from": ["2020-01-01"], "valid_to": [None], "household_id": [f"H{pid}"]},
        geometry=[shapely.Point(lon, lat)], crs="EPSG:4326")


def test_cache_is_invalidated_by_writes(demo_dir: Path, tmp_path: Path) -> None:
    d = copy_demo(demo_dir, tmp_path)
    st = GeoPackageStore(d / "onemap.gpkg")
    other = GeoPackageStore(d / "onemap.gpkg")  # another process's connection
    eng = IndicatorEngine(st)
    try:
        q: dict[str, Any] = {"level": "subdistrict", "code": "440303003", "as_of": AS_OF,
                             "reveal": True}
        before = eng.indicator("population", **q)["values"][0]["value"]
        assert eng.indicator("population", **q)["values"][0]["value"] == before  # cached
        sd = st.query("subdistrict", where={"code": "440303003"}).geometry.iloc[0]
        pt = sd.representative_point()
        st.ingest("person", _person("PX1", pt.x, pt.y))  # this process: write listener
        assert eng.indicator("population", **q)["values"][0]["value"] == before + 1
        other.ingest("person", _person("PX2", pt.x, pt.y))  # elsewhere: the write log
        assert eng.indicator("population", **q)["values"][0]["value"] == before + 2
        elderly = eng.indicator("elderly_share", **q)["values"][0]["value"]
        assert elderly > 0
    finally:
        eng.close()
        other.close()
        st.close()


def test_persisted_frames_follow_the_data_version(demo_dir: Path, tmp_path: Path) -> None:
    """Frames persisted in a cache directory give the same answers to a new engine, and a
    write (here by another connection, i.e. another process) makes a new engine read the
    store again instead of the files."""
    d = copy_demo(demo_dir, tmp_path / "store")
    cache = tmp_path / "cache"
    st = GeoPackageStore(d / "onemap.gpkg")
    other = GeoPackageStore(d / "onemap.gpkg")
    q: dict[str, Any] = {"level": "community", "as_of": AS_OF, "reveal": True}
    ids = ("population", "households", "elderly_share", "events_overdue", "enterprises")
    try:
        plain = IndicatorEngine(st, cache_dir=None)
        want = {i: plain.indicator(i, **q) for i in ids}
        plain.close()
        first = IndicatorEngine(st, cache_dir=cache)
        assert {i: first.indicator(i, **q) for i in ids} == want  # read, then persisted
        first.close()
        files = sorted(p.name for p in cache.glob("*.npy"))
        assert len(files) >= 3  # persons, households, events (and enterprises)
        second = IndicatorEngine(st, cache_dir=cache)
        assert {i: second.indicator(i, **q) for i in ids} == want  # from the files
        second.close()
        assert sorted(p.name for p in cache.glob("*.npy")) == files
        sd = st.query("subdistrict", where={"code": "440303003"}).geometry.iloc[0]
        pt = sd.representative_point()
        other.ingest("person", _person("PX9", pt.x, pt.y))
        qs: dict[str, Any] = {"level": "subdistrict", "code": "440303003", "as_of": AS_OF,
                              "reveal": True}
        before = want["population"]
        third = IndicatorEngine(st, cache_dir=cache)
        after = third.indicator("population", **qs)["values"][0]["value"]
        fresh = IndicatorEngine(st, cache_dir=None)
        assert after == fresh.indicator("population", **qs)["values"][0]["value"]
        third.close()
        fresh.close()
        sd_total = sum(v["value"] for v in before["values"]
                       if v["code"].startswith("440303003"))
        assert after == sd_total + 1
        # the person files of the old version were replaced, not kept beside the new ones
        assert len(list(cache.glob("*.npy"))) == len(files)
    finally:
        other.close()
        st.close()


# ---------------------------------------------------------------------------
# threshold alerts


def _catalog_with(threshold: dict[str, Any], ind_id: str = "events_overdue") -> Any:
    doc = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    for ind in doc["indicators"]:
        ind["thresholds"] = [threshold] if ind["id"] == ind_id else []
    return parse_catalog(doc)


def test_threshold_alerts_start_and_end(demo_dir: Path, tmp_path: Path) -> None:
    d = copy_demo(demo_dir, tmp_path)
    st = GeoPackageStore(d / "onemap.gpkg")
    cat = _catalog_with({"level": "subdistrict", "op": ">", "value": 0, "clear": 0,
                         "alert_level": 2})
    eng = IndicatorEngine(st, cat)
    seen: list[tuple[int, dict[str, Any]]] = []
    alerts = IndicatorAlerts(eng, [lambda seq, data: seen.append((seq, data))])
    try:
        # a day with overdue events in some subdistricts, and a day without any
        series = eng.indicator("events_overdue", level="subdistrict", start="2024-01-01",
                               to="2024-12-31", freq="day", reveal=True)["series"]
        busy = next(p for p in series if sum(p["values"].values()) > 0)
        calm = next(p for p in series if p["t"] > busy["t"] and sum(p["values"].values()) == 0)
        day = (date.fromisoformat(busy["t"])).isoformat()
        started = alerts.evaluate(day)
        over = {c for c, v in busy["values"].items() if v > 0}
        assert {a["code"] for a in started} == over
        assert all(a["kind"] == "indicator" and a["change"] == "start"
                   and a["indicator"] == "events_overdue" and a["level"] == 2 for a in started)
        assert [s[1] for s in seen] == started
        assert alerts.evaluate(day) == []  # still above: nothing new
        rows = PerceptionDB(st).alerts(active=True)
        assert {a.sensor_id.split(":")[2] for a in rows if a.kind == "indicator"} == over
        ended = alerts.evaluate(calm["t"])
        assert {a["code"] for a in ended} == over
        assert all(a["change"] == "end" and a["state"] == "ended" for a in ended)
        assert not [a for a in PerceptionDB(st).alerts(active=True) if a.kind == "indicator"]
        # the sensor-alert indicators do not count indicator alerts
        assert eng.indicator("active_alerts", level="district", as_of="2030-01-01",
                             reveal=True)["values"][0]["value"] == 0
    finally:
        eng.close()
        st.close()


def test_threshold_alert_reaches_the_alert_api(demo_dir: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A crossing after a write, evaluated by the background thread, appears in GET /alerts
    and is handed to the SSE hub like a sensor alert."""
    d = copy_demo(demo_dir, tmp_path)
    cat_file = tmp_path / "indicators.yaml"
    doc = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    for ind in doc["indicators"]:
        ind["thresholds"] = []
        if ind["id"] == "events_opened":
            ind["thresholds"] = [{"level": "district", "op": ">", "value": 0,
                                  "alert_level": 1}]
    cat_file.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    monkeypatch.setattr(catalog_mod, "DEFAULT_PATH", cat_file)
    app = create_app(Settings(data_dir=d, indicator_alerts_s=3600))
    with TestClient(app) as c:
        got: list[dict[str, Any]] = []
        app.state.perception.listeners.append(lambda seq, data: got.append(data))
        today = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        ev = gpd.GeoDataFrame({"id": ["EV-TODAY"], "occurred_at": [today], "closed_at": [None],
                               "source": ["grid_patrol"], "category": ["积水"],
                               "status": ["received"]},
                              geometry=[shapely.Point(114.12, 22.55)], crs="EPSG:4326")
        app.state.store.ingest("event", ev)
        deadline = time.monotonic() + 60
        while not got and time.monotonic() < deadline:
            time.sleep(0.2)
        assert got and got[0]["kind"] == "indicator" and got[0]["indicator"] == "events_opened"
        feats = c.get("/alerts?active=true", headers=PLANNING).json()["features"]
        mine = [f for f in feats if f["properties"]["kind"] == "indicator"]
        assert len(mine) == 1 and mine[0]["properties"]["value"] >= 1


# ---------------------------------------------------------------------------
# PostGIS


def test_postgis_gives_the_same_indicators(demo_dir: Path, pg_cluster: Any,
                                           engine: IndicatorEngine) -> None:
    from gis.store.postgis import PostGISStore
    from spatial_api.cli_db import copy_store

    url = pg_cluster.new_database()
    pg = PostGISStore(url)
    src = GeoPackageStore(demo_dir / "onemap.gpkg")
    try:
        copy_store(src, pg)
        gp = IndicatorEngine(src)
        eng = IndicatorEngine(pg)
        try:
            for ind in CATALOG.indicators:
                for level in ("district", "subdistrict"):
                    a = eng.indicator(ind.id, level=level, as_of=AS_OF, reveal=True)
                    b = gp.indicator(ind.id, level=level, as_of=AS_OF, reveal=True)
                    assert a["values"] == b["values"], (ind.id, level)
                    assert a["series"] == b["series"], (ind.id, level)
            # and a write through PostGIS invalidates its cache
            q: dict[str, Any] = {"level": "district", "as_of": AS_OF, "reveal": True}
            before = eng.indicator("population", **q)["values"][0]["value"]
            pg.ingest("person", _person("PGX", 114.12, 22.55))
            assert eng.indicator("population", **q)["values"][0]["value"] == before + 1
            # another process's write arrives over LISTEN/NOTIFY
            eng.listen()
            deadline = time.monotonic() + 30
            while not pg.sql_read("SELECT count(*) FROM pg_stat_activity WHERE "
                                  "query LIKE ?", ["LISTEN %"])[0][0]:
                assert time.monotonic() < deadline, "the listener did not start"
                time.sleep(0.1)
            other = PostGISStore(url)
            try:
                other.ingest("person", _person("PGY", 114.12, 22.55))
                deadline = time.monotonic() + 30
                value = before + 1
                while value == before + 1 and time.monotonic() < deadline:
                    time.sleep(0.1)
                    value = eng.indicator("population", **q)["values"][0]["value"]
                assert value == before + 2
            finally:
                other.close()
        finally:
            gp.close()
            eng.close()
    finally:
        src.close()
        pg.close()
        pg_cluster.drop_database(url)


def test_serve_warms_the_cockpit(demo_dir: Path, tmp_path: Path) -> None:
    """With ``indicators_warm`` (``onemap serve``) the default summary is computed in the
    background at start-up: the first request finds it in the cache."""
    app = create_app(Settings(data_dir=copy_demo(demo_dir, tmp_path), indicator_alerts_s=0,
                              indicators_warm=True))
    with TestClient(app) as c:
        eng: IndicatorEngine = app.state.indicators
        deadline = time.monotonic() + 120
        while not any(k[0] == "summary" for k in list(eng._cache)):
            assert time.monotonic() < deadline, "no warm-up"
            time.sleep(0.2)
        body = c.get("/indicators/summary", headers=ADMIN).json()
        assert body["items"] and body["as_of"] == eng.data_end().isoformat()


def test_dispatch_cases_count_as_events(demo_dir: Path, tmp_path: Path) -> None:
    """A case received through the dispatch workflow (its own table) is an event opened and,
    once closed, an event closed; the cache notices the case's transitions."""
    from gis.cases.workflow import CaseBook, Place

    d = copy_demo(demo_dir, tmp_path)
    st = GeoPackageStore(d / "onemap.gpkg")
    eng = IndicatorEngine(st)
    try:
        today = time.strftime("%Y-%m-%d", time.gmtime())
        q: dict[str, Any] = {"level": "subdistrict", "code": "440303003", "as_of": today,
                             "freq": "day", "reveal": True}
        opened = eng.indicator("events_opened", **q)["values"][0]["value"]
        closed = eng.indicator("events_closed", **q)["values"][0]["value"]
        sd = st.query("subdistrict", where={"code": "440303003"}).geometry.iloc[0]
        pt = sd.representative_point()
        book = CaseBook(st, load_table())
        case = book.create("东门路边占道经营", "占道经营", place=Place(
            lon=pt.x, lat=pt.y, subdistrict_code="440303003"))
        assert eng.indicator("events_opened", **q)["values"][0]["value"] == opened + 1
        for action in ("dispatch", "start", "close"):
            book.transition(case["id"], action)
        assert eng.indicator("events_closed", **q)["values"][0]["value"] == closed + 1
        blocks = eng.indicator("events_opened", level="block", as_of=today, freq="day",
                               reveal=True)["values"]
        cell = h3.latlng_to_cell(pt.y, pt.x, 9)
        assert next(r["value"] for r in blocks if r["code"] == cell) >= 1
    finally:
        eng.close()
        st.close()

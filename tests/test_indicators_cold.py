"""Indicators' cold path and live defaults (issue 17, the cockpit's "<= 3 s cold"): the
frames read through GDAL's Arrow stream in a child process equal the SQL reads row for
row (also after writes this process has not checkpointed); the persisted frames are kept
per written kind, so a write to events re-reads only events; and the live indicators
(active alerts, sensors offline) default to today, so a live alert shows with no as_of."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient

from gis.indicators import IndicatorEngine
from gis.indicators import arrow as ar
from gis.indicators.sources import Sources
from gis.store.gpkg import GeoPackageStore
from spatial_api.app import create_app
from spatial_api.settings import Settings
from tests.conftest import copy_demo

PLANNING = {"X-API-Key": "demo-planning-key"}
AS_OF = "2024-06-30"


def _person(pid: str, lon: float, lat: float, valid_from: str = "2020-01-01"
            ) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"id": [pid], "name": ["测试"], "sex": ["F"], "birth_date": ["1950-01-01"],
         "valid_from": [valid_from], "valid_to": [None], "household_id": [f"H{pid}"]},
        geometry=[shapely.Point(lon, lat)], crs="EPSG:4326")


def _event(eid: str, occurred: str, closed: str | None, category: str = "积水"
           ) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"id": [eid], "occurred_at": [occurred], "closed_at": [closed],
                             "source": ["grid_patrol"], "category": [category],
                             "status": ["received" if closed is None else "closed"]},
                            geometry=[shapely.Point(114.12, 22.55)], crs="EPSG:4326")


def _frames(src: Sources) -> dict[str, Any]:
    p, e = src.persons(), src.events()
    return {"persons": p, "events": e}


def _same_frames(a: dict[str, Any], b: dict[str, Any]) -> None:
    for name in a:
        fa, fb = a[name], b[name]
        assert len(fa) == len(fb), name
        for k in ("sd", "cc", "block"):
            assert np.array_equal(getattr(fa, k), getattr(fb, k)), (name, k)
        assert set(fa.cols) == set(fb.cols), name
        for k in fa.cols:
            assert np.array_equal(fa.cols[k], fb.cols[k]), (name, k)


@pytest.fixture()
def scratch(demo_dir: Path, tmp_path: Path) -> Iterator[GeoPackageStore]:
    st = GeoPackageStore(copy_demo(demo_dir, tmp_path / "d") / "onemap.gpkg")
    yield st
    st.close()


def test_arrow_frames_equal_the_sql_frames(scratch: GeoPackageStore,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # The child process answers on the demo (the fast path is really taken) ...
    assert ar.read_native(scratch, "persons") is not None
    # ... with the same rows as the SQL read; then again after writes this process has
    # made (in the WAL, not checkpointed): a new person, an event still open, a closed one
    # of a category the dispatch table does not know (the default deadline).
    for step in range(2):
        fast = _frames(Sources(scratch))
        with monkeypatch.context() as m:
            m.setattr(ar, "read_native", lambda *a, **k: None)
            slow = _frames(Sources(scratch))
        _same_frames(fast, slow)
        if step == 0:
            scratch.ingest("person", _person("PCOLD1", 114.12, 22.55))
            scratch.ingest("event", _event("EVCOLD1", "2024-06-03T08:15:00Z", None))
            scratch.ingest("event", _event("EVCOLD2", "2024-06-04T23:59:59Z",
                                           "2024-06-05T01:02:03Z", "未知类别"))
    ids = set(scratch.sql_read("SELECT id FROM events WHERE id LIKE 'EVCOLD%'"))
    assert len(ids) == 2 and len(fast["persons"]) == scratch.sql_read(
        "SELECT COUNT(*) FROM persons")[0][0]


def test_persisted_frames_follow_the_kind_written(scratch: GeoPackageStore, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    reads: list[str] = []
    original = ar.read_native

    def spy(store: Any, kind: str, *a: Any, **k: Any) -> Any:
        reads.append(kind)
        return original(store, kind, *a, **k)

    monkeypatch.setattr(ar, "read_native", spy)
    q: dict[str, Any] = {"as_of": AS_OF, "reveal": True}

    def summary(cache_dir: Path | None) -> dict[str, Any]:
        eng = IndicatorEngine(scratch, cache_dir=cache_dir)
        try:
            return {i["id"]: i for i in eng.summary(**q)["items"]}
        finally:
            eng.close()

    first = summary(cache)
    assert sorted(reads) == ["events", "persons"]
    reads.clear()
    assert summary(cache) == first and reads == []  # a new engine: both from the files
    # A write of events: only events are read again, and the answer is the store's.
    scratch.ingest("event", _event("EVKIND1", "2024-06-10T09:00:00Z", None))
    after_event = summary(cache)
    assert reads == ["events"]
    assert after_event["events_opened"]["value"] == first["events_opened"]["value"] + 1
    reads.clear()
    assert summary(None) == after_event  # what a new engine reads from the store
    # A write of persons: only persons are read again.
    reads.clear()
    scratch.ingest("person", _person("PKIND1", 114.12, 22.55))
    after_person = summary(cache)
    assert reads == ["persons"]
    assert after_person["population"]["value"] == first["population"]["value"] + 1
    reads.clear()
    assert summary(None) == after_person


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def test_live_alert_shows_in_the_summary_without_as_of(demo_dir: Path, tmp_path: Path
                                                       ) -> None:
    """The bug: the active-alerts tile read 0 beside a live alert, because the default
    as_of was the last day of the event history. A crossing reading posted now shows."""
    d = copy_demo(demo_dir, tmp_path)
    app = create_app(Settings(data_dir=d, offline_check_s=0, mqtt_embedded=False,
                              indicator_alerts_s=0))
    with TestClient(app) as c:
        before = c.get("/indicators/summary", headers=PLANNING).json()
        items = {i["id"]: i for i in before["items"]}
        history_end = before["as_of"]
        assert history_end < _today()  # the demo's history ends before today
        assert items["active_alerts"]["as_of"] == _today() and items["active_alerts"]["live"]
        assert items["sensors_offline"]["as_of"] == _today()
        assert items["population"]["as_of"] == history_end and "live" not in items[
            "population"]
        assert items["active_alerts"]["value"] == 0
        # a crossing reading on a waterlogging sensor starts an alert now
        svc = app.state.perception
        keys = svc.make_keys()
        sid = sorted(s for s, st in svc.sensors.items()
                     if st.place.sensor_type == "waterlogging")[0]
        rule = svc.sensors[sid].rule
        now = time.time()
        for dt, value in ((120, rule.threshold * 0.5), (60, rule.threshold * 2.5)):
            r = c.post(f"/sensors/{sid}/readings", headers={"X-Device-Key": keys[sid]},
                       json={"t": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - dt)),
                             "value": value})
            assert r.status_code == 201, r.text
        live = c.get("/alerts?active=true", headers=PLANNING).json()["features"]
        assert any(f["properties"]["sensor_id"] == sid for f in live)
        after = c.get("/indicators/summary", headers=PLANNING).json()
        items = {i["id"]: i for i in after["items"]}
        assert items["active_alerts"]["value"] >= 1
        assert items["active_alerts"]["as_of"] == _today()
        # the historical items keep their default: the last day with an event (the
        # crossing may itself have raised an event today: perception's alarms do)
        assert items["population"]["as_of"] == after["as_of"] >= history_end
        # The indicator route defaults the same way; an explicit as_of is used by all.
        one = c.get("/indicators/active_alerts?level=district", headers=PLANNING).json()
        assert one["as_of"] == _today() and one["values"][0]["value"] >= 1
        old = c.get(f"/indicators/summary?as_of={history_end}", headers=PLANNING).json()
        assert {i["as_of"] for i in old["items"]} == {history_end}
        assert {i["id"]: i for i in old["items"]}["active_alerts"]["value"] == 0
        # the catalogue says which indicators are live
        cat = {i["id"]: i for i in c.get("/indicators").json()["indicators"]}
        assert cat["active_alerts"]["live"] and not cat["population"]["live"]


def test_postgis_summary_defaults_like_the_geopackage(demo_dir: Path, pg_cluster: Any
                                                      ) -> None:
    """PostGIS reads rows with SQL (no Arrow child): its default summary (live items at
    today, the others at the history's end) equals the GeoPackage's."""
    from gis.store.postgis import PostGISStore
    from spatial_api.cli_db import copy_store

    url = pg_cluster.new_database()
    pg = PostGISStore(url)
    src = GeoPackageStore(demo_dir / "onemap.gpkg")
    try:
        copy_store(src, pg)
        a, b = IndicatorEngine(src), IndicatorEngine(pg)
        try:
            sa, sb = a.summary(reveal=True), b.summary(reveal=True)
            assert sa == sb
            live = {i["id"] for i in sa["items"] if i.get("live")}
            assert live == {"active_alerts", "sensors_offline"}
            assert {i["as_of"] for i in sa["items"] if i["id"] in live} == {_today()}
        finally:
            a.close()
            b.close()
    finally:
        src.close()
        pg.close()
        pg_cluster.drop_database(url)


def test_alarm_event_closed_by_another_process(scratch: GeoPackageStore, tmp_path: Path
                                               ) -> None:
    """Perception closes an alarm's event with an UPDATE in place (no write-log entry) and
    appends to the alert log: another process's engine, and a persisted events file,
    must follow the alert log."""
    from gis.perception.db import PerceptionDB

    scratch.ingest("event", _event("EVALARM1", "2024-06-10T08:00:00Z", None))
    cache = tmp_path / "cache-alarm"
    q: dict[str, Any] = {"level": "district", "as_of": AS_OF, "reveal": True}
    eng = IndicatorEngine(scratch, cache_dir=cache)
    other = GeoPackageStore(scratch.path)  # another process's connection: no listeners
    try:
        before = eng.indicator("events_closed", **q)["values"][0]["value"]
        db = PerceptionDB(other)
        db.ensure_schema()
        sid = other.query("sensor", columns=["id"], order_by=["id"])["id"].iloc[0]
        alert = db.insert_alert(sid, "threshold", 1, 1.0, 0.5, "2024-06-10T08:00:00Z")
        assert db.move_event("EVALARM1", status="closed", closed_at="2024-06-11T08:00:00Z",
                             description="cleared", lon=114.12, lat=22.55)
        db.log(alert.id, {"state": "ended"})
        assert eng.indicator("events_closed", **q)["values"][0]["value"] == before + 1
        fresh = IndicatorEngine(scratch, cache_dir=cache)  # the persisted file is stale
        try:
            assert fresh.indicator("events_closed", **q)["values"][0]["value"] == before + 1
        finally:
            fresh.close()
    finally:
        other.close()
        eng.close()

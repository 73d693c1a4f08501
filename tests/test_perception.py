"""Perception end to end on a real uvicorn, on both stores: readings in, rules, alerts,
the SSE stream with the impact, offline detection, bad input, duplicates, a burst."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner
from shapely.geometry import shape

from gis.perception.service import PerceptionService
from spatial_api.app import create_app
from spatial_api.cli import cli
from spatial_api.local_server import free_port, serve_in_thread
from spatial_api.settings import Settings
from tests.conftest import copy_demo

EMERGENCY = {"X-API-Key": "demo-emergency-key"}
PLANNING = {"X-API-Key": "demo-planning-key"}
WAIT_S = 60.0  # a guard against hanging, not a timing assertion


@dataclass
class Server:
    url: str
    svc: PerceptionService
    keys: dict[str, str]
    backend: str


def _instant(v: Any) -> int:
    """Unix seconds of a stored or JSON instant (text, or a timestamp on PostGIS)."""
    ts = pd.Timestamp(v)
    return int((ts if ts.tzinfo else ts.tz_localize("UTC")).timestamp())


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


@pytest.fixture(scope="module", params=["geopackage", "postgis"])
def server(request: pytest.FixtureRequest, demo_dir: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The demo copied to a scratch store of each backend, served by uvicorn."""
    d = tmp_path_factory.mktemp("perception")
    copy_demo(demo_dir, d, terrain=True)
    with pytest.MonkeyPatch.context() as mp:
        url = None
        if request.param == "postgis":
            cluster = request.getfixturevalue("pg_cluster")
            url = cluster.new_database()
            r = CliRunner().invoke(cli, ["db", "copy", "--from", f"gpkg:{d / 'onemap.gpkg'}",
                                         "--to", url])
            assert r.exit_code == 0, r.output
            mp.setenv("ONEMAP_DB_URL", url)
        else:
            mp.delenv("ONEMAP_DB_URL", raising=False)
        app = create_app(Settings(data_dir=d, offline_check_s=0, mqtt_embedded=False,
                                  sse_heartbeat_s=0.5))
        with serve_in_thread(app, free_port()) as base:
            svc: PerceptionService = app.state.perception
            assert svc.store.backend == request.param
            yield Server(base, svc, svc.make_keys(), request.param)
        if url is not None:
            cluster.drop_database(url)


def _sensor(srv: Server, sensor_type: str, n: int = 0) -> str:
    ids = sorted(s for s, st in srv.svc.sensors.items() if st.place.sensor_type == sensor_type)
    return ids[n]


def _post(srv: Server, sid: str, body: Any, headers: dict[str, str] | None = None
          ) -> httpx.Response:
    h = {"X-Device-Key": srv.keys[sid]} if headers is None else headers
    return httpx.post(f"{srv.url}/sensors/{sid}/readings", json=body, headers=h, timeout=60)


class SSEReader:
    """A real SSE client in a thread: parses frames into a queue."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.status: int | None = None
        self.ready = threading.Event()
        self.heartbeats = 0
        self._stop = False
        self._t = threading.Thread(target=self._run, args=(url, headers), daemon=True)
        self._t.start()
        assert self.ready.wait(WAIT_S)

    def _run(self, url: str, headers: dict[str, str]) -> None:
        with httpx.Client(timeout=None) as c, c.stream("GET", url, headers=headers) as r:
            self.status = r.status_code
            self.ready.set()
            frame: dict[str, Any] = {}
            for line in r.iter_lines():
                if self._stop:
                    return
                if line.startswith(": heartbeat"):
                    self.heartbeats += 1
                elif line.startswith("id: "):
                    frame["id"] = int(line[4:])
                elif line.startswith("event: "):
                    frame["event"] = line[7:]
                elif line.startswith("data: "):
                    frame["data"] = json.loads(line[6:])
                elif line == "" and "data" in frame:
                    self.events.put(frame)
                    frame = {}

    def next(self) -> dict[str, Any]:
        return self.events.get(timeout=WAIT_S)

    def close(self) -> None:
        self._stop = True


def _ogc_buildings_in(srv: Server, area: Any, at: str) -> int:
    """Independent count: every OGC building feature in the area's bbox, tested with
    shapely (intersects), as a department client would."""
    w, s, e, n = area.bounds
    r = httpx.get(f"{srv.url}/ogc/collections/buildings/items",
                  params={"bbox": f"{w},{s},{e},{n}", "limit": 10000, "datetime": at,
                          "f": "json"}, headers=PLANNING, timeout=60)
    assert r.status_code == 200, r.text
    feats = r.json()["features"]
    assert len(feats) < 10000
    geoms = [shape(f["geometry"]) for f in feats]
    return int(shapely.intersects(geoms, area).sum()) if geoms else 0


def test_crossing_raises_one_alert_with_impact_then_clears(server: Server) -> None:
    sid = _sensor(server, "waterlogging")
    rule = server.svc.sensors[sid].rule
    sse = SSEReader(f"{server.url}/alerts/stream", EMERGENCY)
    assert sse.status == 200
    now = time.time()
    assert _post(server, sid, {"t": _iso(now - 120), "value": rule.threshold * 0.5}
                 ).json() == {"accepted": 1}
    r = _post(server, sid, {"t": _iso(now - 60), "value": rule.threshold * 2.5})
    assert r.status_code == 201 and r.json() == {"accepted": 1}
    ev = sse.next()
    assert ev["event"] == "alert"
    data = ev["data"]
    assert data["sensor_id"] == sid and data["state"] == "active"
    impact = data["impact"]
    assert impact["alert_id"] == data["id"]
    for key in ("buildings", "persons", "persons_65_plus", "children_under_15", "households",
                "enterprises", "facilities", "roads", "computed_ms", "area"):
        assert key in impact
    area = shape(impact["area"])
    assert area.area > 0 and area.intersects(shapely.Point(
        server.svc.sensors[sid].place.lon, server.svc.sensors[sid].place.lat).buffer(1e-3))
    assert impact["buildings"] > 0  # the comparison below is not 0 == 0
    assert impact["buildings"] == _ogc_buildings_in(server, area, data["started_at"])
    assert impact["persons"] >= impact["persons_65_plus"] + impact["children_under_15"]
    # GET /alerts/{id}/impact answers the same document.
    again = httpx.get(f"{server.url}/alerts/{data['id']}/impact", headers=EMERGENCY).json()
    assert again["buildings"] == impact["buildings"] and again["persons"] == impact["persons"]
    # Exactly one active alert for the sensor, as GeoJSON.
    fc = httpx.get(f"{server.url}/alerts", params={"active": "true"}, headers=EMERGENCY).json()
    mine = [f for f in fc["features"] if f["properties"]["sensor_id"] == sid]
    assert len(mine) == 1 and mine[0]["properties"]["ended_at"] is None
    assert set(mine[0]["properties"]) >= {"id", "sensor_id", "level", "value", "threshold",
                                          "started_at", "ended_at"}
    # While the alert lasts its event is open.
    open_ev = server.svc.store.query("event", where={"id": f"ALERT{data['id']:08d}"},
                                     columns=["status", "closed_at"])
    assert list(open_ev["status"]) == ["received"]
    assert open_ev["closed_at"].isna().all()
    # The sensors collection is live.
    feat = httpx.get(f"{server.url}/ogc/collections/sensors/items/{sid}", params={"f": "json"}
                     ).json()
    assert feat["properties"]["alert"] >= 1
    assert feat["properties"]["last_value"] == pytest.approx(rule.threshold * 2.5)
    # Between the clear level and the threshold the alert stays; below clear it ends.
    mid = (rule.clear + rule.threshold) / 2
    assert _post(server, sid, {"t": _iso(now - 30), "value": mid}).status_code == 201
    assert _post(server, sid, {"t": _iso(now - 10), "value": rule.clear * 0.5}
                 ).status_code == 201
    end = sse.next()
    assert end["data"]["id"] == data["id"] and end["data"]["state"] == "ended"
    assert end["id"] > ev["id"]
    sse.close()
    fc = httpx.get(f"{server.url}/alerts", params={"active": "true"}, headers=EMERGENCY).json()
    assert not [f for f in fc["features"] if f["properties"]["sensor_id"] == sid]
    feat = httpx.get(f"{server.url}/ogc/collections/sensors/items/{sid}", params={"f": "json"}
                     ).json()
    assert feat["properties"]["alert"] == 0
    # The alert became an event for the case workflow, and its end closed that event
    # (attributed to the system, at the alert's end).
    ev_rows = server.svc.store.query("event", where={"sensor_id": sid, "source": "sensor_alarm"},
                                     columns=["id", "occurred_at", "closed_at", "status",
                                              "description"])
    mine_ev = ev_rows[ev_rows["id"] == f"ALERT{data['id']:08d}"]
    assert len(mine_ev) == 1
    row = mine_ev.iloc[0]
    assert row["status"] == "closed"
    assert _instant(row["closed_at"]) == _instant(end["data"]["ended_at"]) == int(now - 10)
    assert _instant(row["occurred_at"]) == _instant(data["started_at"])
    assert "closed by system" in row["description"]
    # A reconnecting client gets what it missed (Last-Event-ID).
    replay = SSEReader(f"{server.url}/alerts/stream",
                       {**EMERGENCY, "Last-Event-ID": str(ev["id"] - 1)})
    first = replay.next()
    assert first["id"] == ev["id"] and first["data"]["state"] == "active"
    assert replay.next()["id"] == end["id"]
    replay.close()


def test_stream_needs_emergency_or_admin(server: Server) -> None:
    assert httpx.get(f"{server.url}/alerts/stream").status_code == 401
    assert httpx.get(f"{server.url}/alerts/stream", headers=PLANNING).status_code == 401
    assert httpx.get(f"{server.url}/alerts").status_code == 401
    hb = SSEReader(f"{server.url}/alerts/stream", {"X-API-Key": "demo-admin-key"})
    deadline = time.monotonic() + WAIT_S
    while hb.heartbeats == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert hb.heartbeats > 0
    hb.close()


def test_bad_inputs_write_nothing(server: Server) -> None:
    sid = _sensor(server, "smoke")
    before = server.svc.db.count_readings(sid)
    now = time.time()
    ok = {"t": _iso(now - 5), "value": 1.0}
    cases = [
        ({"t": _iso(now), "value": "high"}, "value"),
        ({"t": _iso(now), "value": True}, "value"),
        ({"t": "yesterday", "value": 1}, "t"),
        ({"t": _iso(now + 600), "value": 1}, "future"),
        ([ok, ok, {"t": _iso(now), "value": None}], "value[2]"),
        ([ok, {"t": "2026-13-45T00:00:00Z", "value": 1}], "t[1]"),
        ([], "empty"),
    ]
    for body, word in cases:
        r = _post(server, sid, body)
        assert r.status_code == 400, body
        assert word in r.json()["description"], (word, r.json())
    r = httpx.post(f"{server.url}/sensors/{sid}/readings", content=b"{not json",
                   headers={"X-Device-Key": server.keys[sid]})
    assert r.status_code == 400
    assert _post(server, "NO-SUCH-SENSOR", ok, EMERGENCY).status_code == 404
    assert _post(server, sid, ok, {}).status_code == 401
    assert _post(server, sid, ok, {"X-Device-Key": "wrong"}).status_code == 401
    other = _sensor(server, "smoke", 1)
    assert _post(server, sid, ok, {"X-Device-Key": server.keys[other]}).status_code == 401
    assert _post(server, sid, ok, PLANNING).status_code == 401
    assert _post(server, sid, ok, {"X-API-Key": "not-a-key"}).status_code == 401
    assert server.svc.db.count_readings(sid) == before
    # The role key of emergency may post for any sensor.
    assert _post(server, sid, ok, EMERGENCY).status_code == 201
    assert server.svc.db.count_readings(sid) == before + 1


def test_duplicates_are_stored_once(server: Server) -> None:
    sid = _sensor(server, "temperature")
    before = server.svc.db.count_readings(sid)
    t = _iso(time.time() - 200)
    body = [{"t": t, "value": 20.0}, {"t": t, "value": 20.0}]
    assert _post(server, sid, body).json() == {"accepted": 2}
    assert _post(server, sid, {"t": t, "value": 20.0}).json() == {"accepted": 1}
    assert server.svc.db.count_readings(sid) == before + 1


def test_offline_detection(server: Server) -> None:
    sid = _sensor(server, "electrical_fire")
    rule = server.svc.sensors[sid].rule
    sse = SSEReader(f"{server.url}/alerts/stream", EMERGENCY)
    now = time.time()
    assert _post(server, sid, {"t": _iso(now - 100), "value": 10.0}).status_code == 201
    # Not yet silent for offline_after intervals: nothing starts.
    server.svc.check_offline(now)
    assert server.svc.sensors[sid].offline is None
    later = now + rule.offline_after * rule.interval_s + 1
    assert server.svc.check_offline(later) >= 1
    ev = sse.next()
    while ev["data"]["sensor_id"] != sid:
        ev = sse.next()
    assert ev["data"]["kind"] == "offline" and ev["data"]["state"] == "active"
    assert server.svc.check_offline(later) == 0  # raised once
    fc = httpx.get(f"{server.url}/alerts", params={"active": "true"}, headers=EMERGENCY).json()
    assert [f for f in fc["features"] if f["properties"]["sensor_id"] == sid
            and f["properties"]["kind"] == "offline"]
    # The next reading ends it.
    assert _post(server, sid, {"t": _iso(time.time()), "value": 10.0}).status_code == 201
    end = sse.next()
    while end["data"]["sensor_id"] != sid:
        end = sse.next()
    assert end["data"]["id"] == ev["data"]["id"] and end["data"]["state"] == "ended"
    sse.close()
    # The offline alert's event is closed at the alert's end, by the system.
    off_ev = server.svc.store.query("event", where={"id": f"ALERT{ev['data']['id']:08d}"},
                                    columns=["status", "closed_at", "description"])
    assert list(off_ev["status"]) == ["closed"]
    assert _instant(off_ev["closed_at"].iloc[0]) == _instant(end["data"]["ended_at"])
    assert off_ev["description"].iloc[0].endswith("closed by system")


def test_burst_of_10000_readings_loses_none(server: Server) -> None:
    sids = [_sensor(server, "outfall_flow", i) for i in range(10)]
    before = {s: server.svc.db.count_readings(s) for s in sids}
    start = time.time() - 10 * 86400

    def send(sid: str) -> None:
        for b in range(4):  # 4 batches of 250 per sensor, 10 sensors in parallel
            body = [{"t": _iso(start + 60 * (b * 250 + i)), "value": 0.01}
                    for i in range(250)]
            r = _post(server, sid, body)
            assert r.status_code == 201 and r.json() == {"accepted": 250}

    threads = [threading.Thread(target=send, args=(s,)) for s in sids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = sum(server.svc.db.count_readings(s) - before[s] for s in sids)
    assert total == 10_000


def test_alert_escalates_without_a_second_alert(server: Server) -> None:
    sid = _sensor(server, "outfall_flow", 20)
    rule = server.svc.sensors[sid].rule
    sse = SSEReader(f"{server.url}/alerts/stream", EMERGENCY)
    now = time.time()
    assert _post(server, sid, {"t": _iso(now - 7200), "value": rule.threshold * 0.9}
                 ).status_code == 201
    # Slow rises (no rate-of-rise bonus): level 1, then the top level.
    assert _post(server, sid, {"t": _iso(now - 3600), "value": rule.threshold * 1.05}
                 ).status_code == 201
    start = sse.next()["data"]
    assert start["change"] == "start" and start["level"] == 1
    top = rule.threshold * rule.levels[-1] * 1.01
    assert _post(server, sid, {"t": _iso(now - 60), "value": top}).status_code == 201
    esc = sse.next()["data"]
    assert esc["id"] == start["id"] and esc["change"] == "escalate"
    assert esc["level"] == len(rule.levels) and esc["state"] == "active"
    # The escalation moved the alert's event on: still open, at the new level.
    ev = server.svc.store.query("event", where={"id": f"ALERT{start['id']:08d}"},
                                columns=["status", "description"])
    assert list(ev["status"]) == ["received"]
    assert ev["description"].iloc[0].endswith(f"(level {len(rule.levels)})")
    fc = httpx.get(f"{server.url}/alerts", params={"active": "true"}, headers=EMERGENCY).json()
    mine = [f for f in fc["features"] if f["properties"]["sensor_id"] == sid]
    assert len(mine) == 1 and mine[0]["properties"]["level"] == len(rule.levels)
    assert _post(server, sid, {"t": _iso(now - 30), "value": 0.0}).status_code == 201
    assert sse.next()["data"]["state"] == "ended"
    sse.close()

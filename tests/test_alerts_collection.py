"""The ``alerts`` OGC collection (issue 11): emergency/admin only, live, datetime on the
alert's interval, on a real uvicorn over a copy of the demo."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import shapely
from shapely.geometry import shape

from gis.perception.service import PerceptionService
from spatial_api.app import create_app
from spatial_api.local_server import free_port, serve_in_thread
from spatial_api.settings import Settings
from tests.conftest import copy_demo

EMERGENCY = {"X-API-Key": "demo-emergency-key"}
PLANNING = {"X-API-Key": "demo-planning-key"}


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


@pytest.fixture(scope="module")
def served(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[str, PerceptionService]]:
    """The demo copied to a scratch GeoPackage, served by uvicorn."""
    d = tmp_path_factory.mktemp("alerts_collection")
    copy_demo(demo_dir, d, terrain=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("ONEMAP_DB_URL", raising=False)
        app = create_app(Settings(data_dir=d, offline_check_s=0, mqtt_embedded=False))
        with serve_in_thread(app, free_port()) as base:
            yield base, app.state.perception


def _items(base: str, headers: dict[str, str], **params: Any) -> httpx.Response:
    return httpx.get(f"{base}/ogc/collections/alerts/items",
                     params={"f": "json", **params}, headers=headers, timeout=60)


def test_alerts_hidden_from_public_and_other_departments(
        served: tuple[str, PerceptionService]) -> None:
    base, _ = served
    for headers in ({}, PLANNING):
        cols = httpx.get(f"{base}/ogc/collections", params={"f": "json"}, headers=headers,
                         timeout=60).json()["collections"]
        assert "alerts" not in {c["id"] for c in cols}
        assert _items(base, headers).status_code == 404
    cols = httpx.get(f"{base}/ogc/collections", params={"f": "json"}, headers=EMERGENCY,
                     timeout=60).json()["collections"]
    assert "alerts" in {c["id"] for c in cols}


def test_alert_served_live_with_interval_datetime(
        served: tuple[str, PerceptionService]) -> None:
    base, svc = served
    sid = sorted(s for s, st in svc.sensors.items()
                 if st.place.sensor_type == "waterlogging")[0]
    rule = svc.sensors[sid].rule
    now = time.time()
    url = f"{base}/sensors/{sid}/readings"
    assert httpx.post(url, json={"t": _iso(now - 600), "value": rule.threshold * 0.5},
                      headers=EMERGENCY, timeout=60).status_code == 201
    assert httpx.post(url, json={"t": _iso(now - 300), "value": rule.threshold * 2.5},
                      headers=EMERGENCY, timeout=60).status_code == 201
    r = _items(base, EMERGENCY, sensor_id=sid)
    assert r.status_code == 200, r.text
    feats = r.json()["features"]
    assert len(feats) == 1
    f = feats[0]
    p = f["properties"]
    assert set(p) >= {"id", "sensor_id", "level", "value", "threshold", "started_at",
                      "ended_at"}
    assert p["sensor_id"] == sid and p["ended_at"] is None and p["level"] >= 1
    assert p["value"] == pytest.approx(rule.threshold * 2.5)
    # The geometry is the sensor's point, as the sensors collection serves it.
    sensor = httpx.get(f"{base}/ogc/collections/sensors/items/{sid}", params={"f": "json"},
                       headers=EMERGENCY, timeout=60).json()
    assert shapely.equals(shape(f["geometry"]), shape(sensor["geometry"]))
    one = httpx.get(f"{base}/ogc/collections/alerts/items/{p['id']}", params={"f": "json"},
                    headers=EMERGENCY, timeout=60)
    assert one.status_code == 200 and one.json()["properties"]["sensor_id"] == sid

    # datetime: the active alert meets any later instant, not one before it started.
    def ids(dt: str) -> set[str]:
        r = _items(base, EMERGENCY, sensor_id=sid, datetime=dt)
        assert r.status_code == 200, r.text
        return {g["properties"]["sensor_id"] for g in r.json()["features"]}

    assert ids(_iso(now + 60)) == {sid}
    assert ids(f"{_iso(now - 3600)}/{_iso(now - 1800)}") == set()
    assert ids(f"{_iso(now - 3600)}/..") == {sid}

    # It ends below the clear level; then it has an end and no later instant meets it.
    assert httpx.post(url, json={"t": _iso(now - 60), "value": rule.clear * 0.5},
                      headers=EMERGENCY, timeout=60).status_code == 201
    p = _items(base, EMERGENCY, sensor_id=sid).json()["features"][0]["properties"]
    assert p["ended_at"] is not None
    assert ids(_iso(now + 60)) == set()
    assert ids(f"{_iso(now - 400)}/{_iso(now - 200)}") == {sid}

    # The queryables declare the interval roles.
    q = httpx.get(f"{base}/ogc/collections/alerts/queryables", params={"f": "json"},
                  headers=EMERGENCY, timeout=60).json()["properties"]
    assert q["started_at"].get("x-ogc-role") == "primary-interval-start"
    assert q["ended_at"].get("x-ogc-role") == "primary-interval-end"


def test_alerts_bad_input_is_400(served: tuple[str, PerceptionService]) -> None:
    base, _ = served
    for params in ({"datetime": "not-a-time"}, {"bbox": "1,2,3"}, {"level": "x"},
                   {"sortby": "nosuch"}, {"filter": "level > 1"}):
        r = _items(base, EMERGENCY, **params)
        assert r.status_code == 400, (params, r.status_code, r.text)

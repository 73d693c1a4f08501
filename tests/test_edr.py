"""OGC API EDR of sensor readings (issue 11) with a plain HTTP client on a real uvicorn:
post readings, read them back by position and area as CoverageJSON."""

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
EDR = "/ogc/collections/sensor-readings"


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


@pytest.fixture(scope="module")
def served(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[str, PerceptionService]]:
    """The demo copied to a scratch GeoPackage (readings are written), served by uvicorn."""
    d = tmp_path_factory.mktemp("edr")
    copy_demo(demo_dir, d, terrain=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("ONEMAP_DB_URL", raising=False)
        app = create_app(Settings(data_dir=d, offline_check_s=0, mqtt_embedded=False))
        with serve_in_thread(app, free_port()) as base:
            yield base, app.state.perception


@pytest.fixture(scope="module")
def posted(served: tuple[str, PerceptionService]) -> dict[str, Any]:
    """Five readings of one waterlogging sensor, posted with the emergency key."""
    base, svc = served
    sid = sorted(s for s, st in svc.sensors.items()
                 if st.place.sensor_type == "waterlogging")[0]
    t0 = int(time.time()) // 60 * 60 - 3600
    readings = [{"t": _iso(t0 + 600 * i), "value": 0.01 * (i + 1)} for i in range(5)]
    r = httpx.post(f"{base}/sensors/{sid}/readings", json=readings, headers=EMERGENCY,
                   timeout=60)
    assert r.status_code == 201 and r.json() == {"accepted": 5}, r.text
    feat = httpx.get(f"{base}/ogc/collections/sensors/items/{sid}", params={"f": "json"},
                     timeout=60).json()
    return {"sid": sid, "readings": readings, "t0": t0, "point": shape(feat["geometry"]),
            "unit": feat["properties"]["unit"]}


def _get(base: str, path: str, **params: str) -> httpx.Response:
    return httpx.get(f"{base}{EDR}/{path}", params=params, timeout=60)


def _check_series(cov: dict[str, Any], posted: dict[str, Any]) -> None:
    assert cov["type"] == "Coverage"
    dom = cov["domain"]
    assert dom["type"] == "Domain" and dom["domainType"] == "PointSeries"
    assert set(dom["axes"]) == {"x", "y", "t"}
    pt = shapely.Point(dom["axes"]["x"]["values"][0], dom["axes"]["y"]["values"][0])
    assert pt.distance(posted["point"]) < 1e-9
    assert dom["axes"]["t"]["values"] == [r["t"] for r in posted["readings"]]
    rng = cov["ranges"]["waterlogging"]
    assert rng["type"] == "NdArray" and rng["axisNames"] == ["t"]
    assert rng["shape"] == [len(posted["readings"])]
    assert rng["values"] == pytest.approx([r["value"] for r in posted["readings"]])


def test_position_is_a_point_series_of_what_was_posted(
        served: tuple[str, PerceptionService], posted: dict[str, Any]) -> None:
    base, _ = served
    p = posted["point"]
    window = f"{_iso(posted['t0'])}/{_iso(posted['t0'] + 3000)}"
    r = _get(base, "position", coords=f"POINT({p.x} {p.y})", datetime=window,
             **{"parameter-name": "waterlogging"})
    assert r.status_code == 200, r.text
    doc = r.json()
    _check_series(doc, posted)
    par = doc["parameters"]["waterlogging"]
    assert par["type"] == "Parameter" and par["unit"]["symbol"] == posted["unit"] == "m"
    assert {ref["system"]["type"] for ref in doc["referencing"]} == {"GeographicCRS",
                                                                      "TemporalRS"}
    # A narrower window keeps only the readings inside it (both ends inclusive).
    r = _get(base, "position", coords=f"POINT({p.x} {p.y})",
             datetime=f"{_iso(posted['t0'] + 600)}/{_iso(posted['t0'] + 1200)}")
    assert r.status_code == 200, r.text
    assert r.json()["domain"]["axes"]["t"]["values"] == [
        posted["readings"][1]["t"], posted["readings"][2]["t"]]
    # Far from any sensor (the sea south of the district): an empty collection.
    r = _get(base, "position", coords="POINT(114.0 22.3)", datetime=window)
    assert r.status_code == 200, r.text
    assert r.json()["type"] == "CoverageCollection" and r.json()["coverages"] == []


def test_area_is_a_collection_with_the_sensor(
        served: tuple[str, PerceptionService], posted: dict[str, Any]) -> None:
    base, svc = served
    p = posted["point"]
    poly = p.buffer(0.002)
    window = f"{_iso(posted['t0'])}/{_iso(posted['t0'] + 3000)}"
    r = _get(base, "area", coords=poly.wkt, datetime=window,
             **{"parameter-name": "waterlogging"})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["type"] == "CoverageCollection"
    assert doc["parameters"]["waterlogging"]["unit"]["symbol"] == "m"
    mine = [c for c in doc["coverages"] if c["id"] == posted["sid"]]
    assert len(mine) == 1
    _check_series(mine[0], posted)
    # Every coverage is a waterlogging sensor inside the polygon (shapely, client side).
    water = {s for s, st in svc.sensors.items() if st.place.sensor_type == "waterlogging"}
    for c in doc["coverages"]:
        assert c["id"] in water and set(c["ranges"]) == {"waterlogging"}
        x, y = c["domain"]["axes"]["x"]["values"][0], c["domain"]["axes"]["y"]["values"][0]
        assert poly.intersects(shapely.Point(x, y))
    # Another parameter: this sensor is not in the answer.
    r = _get(base, "area", coords=poly.wkt, datetime=window,
             **{"parameter-name": "smoke"})
    assert r.status_code == 200, r.text
    assert posted["sid"] not in {c["id"] for c in r.json()["coverages"]}


def test_collection_metadata_lists_parameters_and_queries(
        served: tuple[str, PerceptionService]) -> None:
    base, _ = served
    r = httpx.get(f"{base}{EDR}", params={"f": "json"}, timeout=60)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert {"position", "area"} <= set(doc["data_queries"])
    assert doc["parameter_names"]["waterlogging"]["unit"]["symbol"]["value"] == "m"


def test_access_follows_the_sensors_layer(served: tuple[str, PerceptionService]) -> None:
    """The collection is configured exactly for the roles that see ``sensors``."""
    base, _ = served
    for headers in ({}, EMERGENCY, {"X-API-Key": "demo-planning-key"}):
        ids = {c["id"] for c in httpx.get(f"{base}/ogc/collections", params={"f": "json"},
                                          headers=headers, timeout=60).json()["collections"]}
        assert ("sensor-readings" in ids) == ("sensors" in ids)
    assert httpx.get(f"{base}{EDR}/area", params={"coords": "POINT(1 2)"},
                     headers={"X-API-Key": "no-such-key"}, timeout=60).status_code == 401


@pytest.mark.parametrize("params", [
    {"coords": "POINT(1"},
    {"coords": "POINT(500 22.5)"},
    {"coords": "LINESTRING(114.1 22.5, 114.2 22.6)"},
    {"coords": "POINT(114.1 22.55)", "datetime": "yesterday"},
    {"coords": "POINT(114.1 22.55)", "datetime": "2026-12-04/2026-12-01"},
    {"coords": "POINT(114.1 22.55)", "parameter-name": "nosuch"},
    {},
])
def test_bad_input_is_400(served: tuple[str, PerceptionService],
                          params: dict[str, str]) -> None:
    base, _ = served
    r = _get(base, "position", **params)
    assert r.status_code == 400, (params, r.status_code, r.text)
    r = _get(base, "area", **{**params, "coords": params.get("coords", "").replace(
        "POINT(114.1 22.55)", "POLYGON((114.1 22.5,114.2 22.5,114.2 22.6,114.1 22.5))")})
    assert r.status_code == 400, (params, r.status_code, r.text)

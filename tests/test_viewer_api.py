"""The viewer's JSON API and static mount (no browser): roles, no shadowing, offline assets."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from spatial_api.app import create_app
from spatial_api.settings import Settings

VIEWER = Path(__file__).resolve().parent.parent / "viewer"


@pytest.fixture(scope="module")
def client(demo_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(data_dir=demo_dir))) as c:
        yield c


def test_index_is_served_and_routes_are_not_shadowed(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200 and "罗湖一张图" in r.text
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/styles/basemap.json").json()["version"] == 8
    assert client.get("/packs").status_code == 200
    assert client.get("/ogc/conformance?f=json").status_code == 200
    assert client.get("/address/parse", params={"q": "东门街道"}).status_code == 200
    main = client.get("/main.js")
    assert main.status_code == 200 and "javascript" in main.headers["content-type"]
    # Every module main.js imports is served too (native ES modules, no bundler).
    for name in re.findall(r"from '\./(js/[a-z]+\.js)'", main.text):
        assert client.get(f"/{name}").status_code == 200, name


def test_no_online_resource_in_the_app() -> None:
    static = VIEWER / "static"
    modules = [f"js/{p.name}" for p in (static / "js").glob("*.js")]
    names = ["index.html", "main.js", "app.css", *modules]
    assert len(names) > 10
    for name in names:
        text = (static / name).read_text(encoding="utf-8")
        urls = re.findall(r"https?://[^\s'\"<>)]+", text)
        assert all(u.startswith("http://www.w3.org/") for u in urls), (name, urls)


@pytest.mark.skipif(not (VIEWER / "node_modules" / "maplibre-gl").is_dir(),
                    reason="viewer/node_modules missing (make runs npm ci)")
def test_vendor_assets_are_served_locally(client: TestClient) -> None:
    r = client.get("/viewer/vendor/maplibre-gl/dist/maplibre-gl.mjs")
    assert r.status_code == 200 and len(r.content) > 100_000
    assert client.get("/viewer/vendor/pmtiles/dist/pmtiles.js").status_code == 200


def test_layers_follow_the_role(client: TestClient) -> None:
    public = {x["id"] for x in client.get("/layers").json()["layers"]}
    planning = client.get("/layers", headers={"X-API-Key": "demo-planning-key"}).json()
    assert planning["role"] == "planning"
    ids = {x["id"] for x in planning["layers"]}
    assert "events" not in public and "events" in ids and "persons" not in ids
    assert "persons" in {x["id"] for x in client.get(
        "/layers", params={"api_key": "demo-population-key"}).json()["layers"]}
    assert client.get("/layers", headers={"X-API-Key": "nope"}).status_code == 401


def test_blocks_metrics_and_time(client: TestClient) -> None:
    for metric in ("population", "enterprises", "events", "vacancy"):
        fc = client.get("/viewer/api/blocks", params={"metric": metric, "res": 8}).json()
        assert fc["features"], metric
        assert all(f["properties"]["cell"].startswith("88") for f in fc["features"])
    now = client.get("/viewer/api/blocks", params={"metric": "enterprises", "res": 7}).json()
    old = client.get("/viewer/api/blocks", params={"metric": "enterprises", "res": 7,
                                                   "as_of": "2016-01-01"}).json()
    total = sum(f["properties"]["value"] or 0 for f in now["features"])
    total_old = sum(f["properties"]["value"] or 0 for f in old["features"])
    assert total_old < total
    assert client.get("/viewer/api/blocks", params={"metric": "x"}).status_code == 400


def test_industrial_filters_and_events_need_a_role(client: TestClient) -> None:
    allf = client.get("/viewer/api/industrial").json()["features"]
    big = client.get("/viewer/api/industrial", params={"min_area": 2000}).json()["features"]
    assert 0 < len(big) < len(allf)
    assert all(f["properties"]["area_m2"] >= 2000 for f in big)
    assert client.get("/viewer/api/events").status_code == 404
    ev = client.get("/viewer/api/events", headers={"X-API-Key": "demo-planning-key"},
                    params={"start": "2024-01-01", "end": "2024-12-31"}).json()
    assert ev["features"] and ev["categories"]
    assert all("2024" in f["properties"]["occurred_at"] for f in ev["features"])

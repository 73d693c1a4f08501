"""The block-portrait and renewal-impact processes through /ogc/processes, by role."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import shapely
from fastapi.testclient import TestClient

from gis.analysis.portrait import BlockPortraitInput, block_portrait
from gis.analysis.renewal import RenewalImpactInput, renewal_impact
from gis.store.gpkg import GeoPackageStore
from spatial_api.app import create_app
from spatial_api.settings import Settings

AREA = shapely.box(114.11, 22.54, 114.12, 22.55)
POP = {"X-API-Key": "demo-population-key"}


@pytest.fixture(scope="module")
def client(demo_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(data_dir=demo_dir))) as c:
        yield c


def run(c: TestClient, pid: str, inputs: dict, headers: dict | None = None) -> tuple[int, dict]:
    r = c.post(f"/ogc/processes/{pid}/execution", json={"inputs": inputs},
               headers=headers or {})
    return r.status_code, r.json()


def test_process_list(client: TestClient) -> None:
    ids = {p["id"] for p in client.get("/ogc/processes").json()["processes"]}
    assert {"block-portrait", "renewal-impact"} <= ids
    desc = client.get("/ogc/processes/renewal-impact").json()
    assert "area" in desc["inputs"]


def test_renewal_impact_process(client: TestClient, demo_dir: Path) -> None:
    store = GeoPackageStore(demo_dir / "onemap.gpkg")
    try:
        direct = renewal_impact(store, RenewalImpactInput(AREA, "2024-06-30")).as_dict()
    finally:
        store.close()
    inputs = {"area": shapely.geometry.mapping(AREA), "as_of": "2024-06-30"}
    status, pop = run(client, "renewal-impact", inputs, POP)
    assert status == 200
    pop_geo = {k: v for k, v in pop.items()}
    assert pop_geo["persons"] == direct["persons"] > 0
    assert pop_geo["floor_area_m2"] == direct["floor_area_m2"]
    status, pub = run(client, "renewal-impact", inputs)
    assert status == 200 and pub["suppressed"] is True
    # public person figures are over whole H3 blocks (tests/test_privacy.py)
    assert pub["persons"] == 0 or pub["persons"] >= 5
    assert all(v is None or v == 0 or v >= 5 for v in pub["persons_by_age_band"].values())
    for bad in ({"area": {"type": "Point", "coordinates": [114.1, 22.5]}}, {"area": "x"}, {},
                {"area": shapely.geometry.mapping(AREA), "as_of": "soon"}):
        status, body = run(client, "renewal-impact", bad)
        assert status == 400, body


def test_block_portrait_process(client: TestClient, demo_dir: Path) -> None:
    store = GeoPackageStore(demo_dir / "onemap.gpkg")
    try:
        persons = store.query("person", columns=["id"], limit=1)
        pt = persons.geometry.iloc[0]
        direct = block_portrait(store, BlockPortraitInput(lon=pt.x, lat=pt.y, res=10,
                                                          as_of="2024-06-30")).as_dict()
    finally:
        store.close()
    inputs = {"lon": pt.x, "lat": pt.y, "res": 10, "as_of": "2024-06-30"}
    status, pop = run(client, "block-portrait", inputs, POP)
    assert status == 200 and pop == direct
    status, pub = run(client, "block-portrait", inputs)
    assert status == 200 and pub["suppressed"] is True
    if 0 < direct["population"] < 5:
        assert pub["population"] is None
    assert run(client, "block-portrait", {"cell": "nope"})[0] == 400
    assert run(client, "block-portrait", {"lon": 114.1})[0] == 400

"""The tile engine and OGC API Tiles: decode the MVT and check layers, counts and keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mapbox_vector_tile
import morecantile
import pytest
import shapely
from fastapi.testclient import TestClient

from gis.store.gpkg import GeoPackageStore
from layers.access import Principal
from layers.catalog import default_catalog
from spatial_api.app import create_app
from spatial_api.settings import Settings
from tiles.engine import Tile, TileOutsideBounds, check_tile, encode_features, render_tile

TMS = morecantile.tms.get("WebMercatorQuad")


def test_encode_points_lands_in_the_right_pixel() -> None:
    t = TMS.tile(114.12, 22.55, 14)
    tile = Tile(t.x, t.y, t.z)
    b = TMS.bounds(t)
    pt = shapely.Point((b.left + b.right) / 2, (b.bottom + b.top) / 2)
    data = encode_features("demo", [pt, None], [{"id": "a", "n": 1, "skip": None}, {}], tile)
    layer = mapbox_vector_tile.decode(data)["demo"]
    assert len(layer["features"]) == 1
    f = layer["features"][0]
    assert f["properties"] == {"id": "a", "n": 1}
    x, y = f["geometry"]["coordinates"]
    assert abs(x - 2048) <= 2 and abs(y - 2048) <= 2


def test_tile_bounds_checks() -> None:
    for bad in (Tile(0, 0, 23), Tile(2, 0, 1), Tile(0, -1, 3)):
        with pytest.raises(TileOutsideBounds):
            check_tile(bad)


def _today() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%d")


def test_render_counts_match_store(demo_dir: Path) -> None:
    store = GeoPackageStore(demo_dir / "onemap.gpkg")
    try:
        cat = default_catalog()
        t = TMS.tile(114.12, 22.55, 14)
        data, n = render_tile(cat["enterprises"], store, Tile(t.x, t.y, t.z), Principal())
        b = TMS.bounds(t)
        # tiles show the district as it is today (enterprises closed before are gone)
        inside = store.count("enterprise", bbox=(b.left, b.bottom, b.right, b.top),
                             as_of=_today())
        decoded = mapbox_vector_tile.decode(data)["enterprises"]["features"]
        assert len(decoded) == n >= inside > 0  # the buffer adds a few neighbours
        assert {"id", "industry", "name"} <= set(decoded[0]["properties"])
        # below the layer's minimum zoom the tile is empty
        low = TMS.tile(114.12, 22.55, 5)
        assert render_tile(cat["enterprises"], store, Tile(low.x, low.y, low.z),
                           Principal())[1] == 0
    finally:
        store.close()


@pytest.fixture(scope="module")
def client(demo_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(data_dir=demo_dir))) as c:
        yield c


def test_ogc_tiles_endpoints(client: TestClient) -> None:
    t = TMS.tile(114.12, 22.55, 15)
    meta = client.get("/ogc/collections/buildings/tiles/WebMercatorQuad")
    assert meta.status_code == 200
    url = f"/ogc/collections/buildings/tiles/WebMercatorQuad/{t.z}/{t.y}/{t.x}?f=mvt"
    r = client.get(url)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert "buildings" in mapbox_vector_tile.decode(r.content)
    assert client.get("/ogc/collections/buildings/tiles/WebMercatorQuad/30/1/1?f=mvt"
                      ).status_code == 404
    # Person tiles: hidden from the public (404); masked and audited for population.
    pt = f"/ogc/collections/persons/tiles/WebMercatorQuad/{t.z}/{t.y}/{t.x}?f=mvt"
    assert client.get(pt).status_code == 404
    r = client.get(pt, headers={"X-API-Key": "demo-population-key"})
    assert r.status_code == 200
    feats = mapbox_vector_tile.decode(r.content).get("persons", {"features": []})["features"]
    for f in feats:
        assert "*" in f["properties"].get("id_number", "*")
        assert "household_id" not in f["properties"]
    # Person tiles are H3 block aggregates at every zoom (tiles engine): no person rows.
    assert feats and all("count" in f["properties"] for f in feats)
    entries = client.app.state.ogc.audit.entries()  # type: ignore[attr-defined]
    assert entries and entries[-1]["operation"] == "tile"
    assert entries[-1]["rows"] == 0

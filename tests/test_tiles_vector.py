"""Vector tile engine and tile service: generalisation, aggregates, access, composite,
TileJSON, size cap and cache invalidation (decoded MVT, real GeoPackage store)."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import mapbox_vector_tile
import morecantile
import numpy as np
import pytest
import shapely

from gis.store.gpkg import GeoPackageStore
from layers.access import Principal
from layers.catalog import default_catalog
from tiles.cache import CacheKey, TileCache
from tiles.engine import (
    BASEMAP_LAYERS,
    EXTENT,
    PIXEL,
    Tile,
    TileEngine,
    TileOutsideBounds,
    UnknownLayer,
    generalise,
    render_tile,
    tilejson,
)
from tiles.service import TileService, TileSettings

TMS = morecantile.tms.get("WebMercatorQuad")
PUBLIC = Principal()
ADMIN = Principal("admin")
CENTRE = (114.12, 22.55)


def tile_at(z: int, lon: float = CENTRE[0], lat: float = CENTRE[1]) -> Tile:
    t = TMS.tile(lon, lat, z)
    return Tile(t.x, t.y, t.z)


@pytest.fixture(scope="module")
def engine() -> TileEngine:
    return TileEngine(default_catalog())


def decode(data: bytes) -> dict:
    return mapbox_vector_tile.decode(data)


def test_generalise_simplifies_and_drops_tiny_features() -> None:
    # A wiggly line (sub-pixel zigzag) and a polygon smaller than one pixel.
    xs = np.linspace(0, 1000, 200)
    wiggle = shapely.LineString(np.column_stack([xs, 500 + (np.arange(200) % 2) * 0.3 * PIXEL]))
    tiny = shapely.box(10, 10, 10 + PIXEL / 3, 10 + PIXEL / 3)
    big = shapely.box(100, 100, 100 + 20 * PIXEL, 100 + 20 * PIXEL)
    pt = shapely.Point(5, 5)
    out = generalise(np.array([wiggle, tiny, big, pt, None], dtype=object))
    assert len(out[0].coords) <= 3  # the zigzag is below the tolerance
    assert out[1] is None  # smaller than a pixel: dropped
    assert out[2].area == pytest.approx(big.area)
    assert out[3].equals(pt) and out[4] is None


def test_layer_tiles_have_expected_layers_and_keys(demo_store: GeoPackageStore,
                                                   engine: TileEngine) -> None:
    r = engine.render("buildings", demo_store, tile_at(15), PUBLIC)
    layer = decode(r.data)["buildings"]
    assert layer["extent"] == EXTENT
    assert len(layer["features"]) == r.features > 0
    # tiles carry the map's fields (TILE_FIELDS); the rest is in the Features API
    assert {"id", "use", "floors"} <= set(layer["features"][0]["properties"]) <= {
        "id", "name", "use", "floors", "height_m", "year_built"}
    # below the buildings' minimum zoom the tile is empty
    assert engine.render("buildings", demo_store, tile_at(12), PUBLIC).features == 0


def test_low_zoom_points_become_block_aggregates(demo_store: GeoPackageStore,
                                                 engine: TileEngine) -> None:
    z12 = decode(engine.render("enterprises", demo_store, tile_at(12), PUBLIC).data)
    feats = z12["enterprises"]["features"]
    assert feats and all(f["geometry"]["type"] == "Polygon" for f in feats)
    assert all(f["properties"]["aggregate"] and f["properties"]["res"] == 8 for f in feats)
    # The counts of the hexagons wholly inside the tile add up to the store's count there.
    total = sum(f["properties"]["count"] for f in feats)
    t = TMS.tile(*CENTRE, 12)
    b = TMS.bounds(t)
    today = datetime.now(UTC).strftime("%Y-%m-%d")  # tiles show today's district
    inside = demo_store.count("enterprise", bbox=(b.left, b.bottom, b.right, b.top),
                              as_of=today)
    assert total >= inside > 0
    # at the detail zoom (14) the same layer is points with attributes
    z14 = decode(engine.render("enterprises", demo_store, tile_at(14), PUBLIC).data)
    pts = z14["enterprises"]["features"]
    assert pts and all(f["geometry"]["type"] == "Point" for f in pts)
    assert "industry" in pts[0]["properties"]


def test_persons_are_aggregates_at_every_zoom_and_hidden_from_public(
        demo_store: GeoPackageStore, engine: TileEngine) -> None:
    population = Principal("population")
    for z in (10, 14, 16, 18):
        feats = decode(engine.render("persons", demo_store, tile_at(z), population).data
                       ).get("persons", {"features": []})["features"]
        assert all(f["geometry"]["type"] == "Polygon" for f in feats)
        assert all("name" not in f["properties"] and "count" in f["properties"] for f in feats)
    for names in ("persons", "basemap,persons", "events", "nosuchlayer"):
        with pytest.raises(UnknownLayer):
            engine.render(names, demo_store, tile_at(14), PUBLIC)
    # population_blocks is public: counts from 1 to k-1 are suppressed
    feats = decode(engine.render("population_blocks", demo_store, tile_at(13), PUBLIC).data
                   )["population_blocks"]["features"]
    counts = [f["properties"].get("count") for f in feats]
    assert counts and all(c is None or c == 0 or c >= PUBLIC.k for c in counts)


def test_composite_and_basemap(demo_store: GeoPackageStore, engine: TileEngine) -> None:
    r = engine.render("buildings,roads,water", demo_store, tile_at(15), PUBLIC)
    assert set(decode(r.data)) == {"buildings", "roads", "water"}
    base = decode(engine.render("basemap", demo_store, tile_at(14), PUBLIC).data)
    assert set(base) <= set(BASEMAP_LAYERS) and {"roads", "buildings", "labels"} <= set(base)
    assert set(base["roads"]["features"][0]["properties"]) <= {"id", "name", "road_class",
                                                               "width_m"}
    labels = [f["properties"]["name"] for f in base["labels"]["features"]]
    assert labels and all(n.endswith("社区") for n in labels)


def test_tile_outside_data_is_an_empty_mvt(demo_store: GeoPackageStore,
                                           engine: TileEngine) -> None:
    far = tile_at(14, 0.5, 0.5)
    r = engine.render("basemap", demo_store, far, PUBLIC)
    assert r.features == 0 and all(not v["features"] for v in decode(r.data).values())
    for bad in (Tile(0, 0, 23), Tile(4, 0, 2), Tile(0, -1, 3)):
        with pytest.raises(TileOutsideBounds):
            engine.render("roads", demo_store, bad, PUBLIC)


def test_size_cap_is_enforced(demo_store: GeoPackageStore) -> None:
    full = TileEngine(default_catalog()).render("buildings", demo_store, tile_at(14), PUBLIC)
    cap = len(full.data) // 3
    small = TileEngine(default_catalog(), max_bytes=cap)
    capped = small.render("buildings", demo_store, tile_at(14), PUBLIC)
    assert len(capped.data) <= cap and 0 < capped.features < full.features


def test_ogc_provider_path_gives_the_same_bytes(demo_store: GeoPackageStore,
                                               engine: TileEngine) -> None:
    cat = default_catalog()
    for name, z in (("buildings", 15), ("enterprises", 12), ("population_blocks", 11)):
        data, _ = render_tile(cat[name], demo_store, tile_at(z), PUBLIC)
        assert data == engine.render(name, demo_store, tile_at(z), PUBLIC).data


def test_tilejson(demo_store: GeoPackageStore, engine: TileEngine) -> None:
    doc = tilejson(engine, "basemap", PUBLIC, "http://h:1", (114.0, 22.5, 114.2, 22.6))
    assert doc["tilejson"] == "3.0.0"
    assert doc["tiles"] == ["http://h:1/tiles/basemap/{z}/{x}/{y}.mvt"]
    assert doc["bounds"] == [114.0, 22.5, 114.2, 22.6] and len(doc["center"]) == 3
    ids = {v["id"]: v for v in doc["vector_layers"]}
    assert set(ids) == set(BASEMAP_LAYERS)
    assert ids["roads"]["fields"]["road_class"] == "String"
    assert ids["buildings"]["fields"]["floors"] == "Number"
    ev = tilejson(engine, "events", ADMIN, "http://h:1", None)["vector_layers"][0]
    assert ev["fields"]["count"] == "Number" and ev["minzoom"] == 8


# ---------------------------------------------------------------------------
# cache and invalidation on a private copy of the demo store


@pytest.fixture()
def own_store(demo_dir: Path, tmp_path: Path) -> Iterator[GeoPackageStore]:
    src = sqlite3.connect(demo_dir / "onemap.gpkg")
    dst = sqlite3.connect(tmp_path / "onemap.gpkg")
    src.backup(dst)
    src.close()
    dst.close()
    shutil.copy(demo_dir / "terrain.tif", tmp_path / "terrain.tif")
    store = GeoPackageStore(tmp_path / "onemap.gpkg")
    yield store
    store.close()


def _event(eid: str, lon: float, lat: float) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        [{"id": eid, "source": "hotline_12345", "category": "noise", "status": "open",
          "occurred_at": "2024-05-01T10:00:00Z"}],
        geometry=gpd.GeoSeries([shapely.Point(lon, lat)], crs="EPSG:4326"))


@pytest.mark.parametrize("on_disk", [False, True])
def test_ingest_invalidates_the_cached_tile(own_store: GeoPackageStore, tmp_path: Path,
                                            on_disk: bool) -> None:
    settings = TileSettings(cache_dir=str(tmp_path / "cache") if on_disk else "")
    svc = TileService.start(own_store, default_catalog(), "http://h", tmp_path, settings)
    try:
        lon, lat = 114.1234, 22.5567
        here, far = tile_at(16, lon, lat), tile_at(16, 114.20, 22.60)
        emergency = Principal("emergency")
        before = svc.tile("events", here, emergency)
        far_before = svc.tile("events", far, emergency)
        assert svc.tile("events", here, emergency) is before or (
            svc.tile("events", here, emergency).etag == before.etag)
        hits = svc.cache.hits
        assert svc.tile("events", here, emergency).etag == before.etag
        assert svc.cache.hits == hits + 1
        own_store.ingest("event", _event("EV-TILE-1", lon, lat))
        after = svc.tile("events", here, emergency)
        assert after.etag != before.etag
        ids = [f["properties"].get("id") for f in
               decode(after.raw())["events"]["features"]]
        assert "EV-TILE-1" in ids
        # a tile far from the write stays cached
        hits = svc.cache.hits
        assert svc.tile("events", far, emergency).etag == far_before.etag
        assert svc.cache.hits == hits + 1
        # low-zoom aggregates see the new event too
        z10 = tile_at(10, lon, lat)
        total0 = sum(f["properties"]["count"] for f in decode(
            svc.tile("events", z10, emergency).raw())["events"]["features"])
        own_store.ingest("event", _event("EV-TILE-2", lon, lat))
        total1 = sum(f["properties"]["count"] for f in decode(
            svc.tile("events", z10, emergency).raw())["events"]["features"])
        assert total1 == total0 + 1
    finally:
        svc.stop()


def test_lru_evicts_by_size() -> None:
    from tiles.cache import CachedTile

    cache = TileCache(max_bytes=250)
    for i in range(5):
        cache.put(CacheKey("a", Tile(i, 0, 5), "public"),
                  CachedTile(b"x" * 100, f'"{i}"', 100, 1, frozenset({"road"}),
                             (0.0, 0.0, 1.0, 1.0)))
    assert len(cache) == 2
    assert cache.get(CacheKey("a", Tile(4, 0, 5), "public")) is not None
    assert cache.get(CacheKey("a", Tile(0, 0, 5), "public")) is None


def test_preloaded_engine_gives_the_same_tiles(demo_store: GeoPackageStore) -> None:
    plain = TileEngine(default_catalog())
    pre = TileEngine(default_catalog())
    pre.preload(demo_store, "basemap", PUBLIC, (114.0, 22.45, 114.3, 22.7))
    for z in (11, 13, 15):
        t = tile_at(z)
        assert pre.render("basemap", demo_store, t, PUBLIC).data == plain.render(
            "basemap", demo_store, t, PUBLIC).data


def test_polygons_decode_valid_with_mvt_winding(demo_store: GeoPackageStore,
                                               engine: TileEngine) -> None:
    data = engine.render("buildings,water,communities", demo_store, tile_at(15), PUBLIC).data
    decoded = mapbox_vector_tile.decode(data)  # y up, as encoded
    n = 0
    for layer in decoded.values():
        for f in layer["features"]:
            g = shapely.geometry.shape(f["geometry"])
            if g.geom_type in ("Polygon", "MultiPolygon"):
                assert g.is_valid and g.area > 0
                for part in getattr(g, "geoms", [g]):
                    # exterior clockwise in y-up = positive area in the spec's y-down frame
                    assert not part.exterior.is_ccw
                    n += 1
    assert n > 0


def test_fast_encoder_matches_mapbox_vector_tile(demo_store: GeoPackageStore,
                                                 engine: TileEngine) -> None:
    from tiles.engine import LayerData, encode_layers, encode_layers_reference

    # polygons with holes, multipolygons, lines, points, a collapsed ring, nulls
    ring = shapely.Polygon([(100, 100), (900, 100), (900, 900), (100, 900)],
                           [[(300, 300), (300, 600), (600, 600), (600, 300)]])
    odd = [ring, shapely.MultiPolygon([ring, shapely.box(2000, 2000, 2500, 2600)]),
           shapely.LineString([(0, 0), (0, 0), (10, 10), (4000, 10)]),
           shapely.MultiPoint([(1, 2), (3, 4)]), shapely.Point(4095, 0), None,
           shapely.box(5, 5, 5.2, 5.2), shapely.MultiLineString([[(1, 1), (5, 5)],
                                                                  [(9, 9), (20, 1)]])]
    props = [{"a": i, "b": -i, "c": 0.5 * i, "d": i % 2 == 0, "e": "名", "n": None}
             for i in range(len(odd))]
    sets = [[LayerData("odd", np.array(odd, dtype=object), props)]]
    for name, z in (("basemap", 13), ("basemap", 15), ("enterprises", 12),
                    ("buildings,water", 14)):
        ids = engine.resolve(name, PUBLIC)
        raw = [engine.layer_data(lid, demo_store, tile_at(z), PUBLIC, None, name == "basemap")
               for lid in ids]
        sets.append([LayerData(r.name, generalise(r.geoms), r.props) for r in raw])
    for layers in sets:
        assert decode(encode_layers(layers)) == decode(encode_layers_reference(layers))

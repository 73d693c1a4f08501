"""Vector tiles served from PostGIS's ``ST_AsMVT`` (issue 15, "Serving from PostGIS").

On a PostGIS store the tile engine lets the database encode plain entity layers
(``tiles.engine.ServerLayer`` → ``PostGISStore.mvt``). The seeded demo is copied into
a throwaway PostGIS database and every tile is rendered twice: from the GeoPackage
through the Python engine, and from PostGIS. Decoded with mapbox-vector-tile (a
client's decoder), both tiles carry the same layers, the same features (ids) with the
same properties, and geometries within a tile pixel of each other; person-level
layers never take the database path; the size cap and the tile cache still hold.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mapbox_vector_tile
import morecantile
import pytest
import shapely
from shapely.geometry import shape

from gis.store.gpkg import GeoPackageStore
from gis.store.postgis import PostGISStore
from layers.access import Principal
from layers.catalog import EntityLayer, default_catalog
from spatial_api.cli_db import copy_store
from tests.pg import Cluster
from tiles.engine import EXTENT, PIXEL, Tile, TileEngine, tile_bounds_lnglat

PUBLIC = Principal()
ADMIN = Principal(role="admin", grants=frozenset({"*"}))
#: Where the two paths may differ: each simplifies by one pixel on its own (PostGIS's
#: Douglas-Peucker on the snapped shape, GEOS's topology-preserving one before
#: snapping), and each rounds to the integer grid (half a unit diagonal).
GEOM_TOLERANCE = PIXEL + math.sqrt(2)


@pytest.fixture(scope="module")
def stores(demo_dir: Path, pg_cluster: Cluster) -> Iterator[tuple[GeoPackageStore, PostGISStore]]:
    """The seeded demo as a GeoPackage and as a copy in PostGIS (`onemap db copy`)."""
    url = pg_cluster.new_database()
    gpkg = GeoPackageStore(demo_dir / "onemap.gpkg")
    pg = PostGISStore(url)
    copy_store(gpkg, pg)
    yield gpkg, pg
    gpkg.close()
    pg.close()
    pg_cluster.drop_database(url)


def tile_at(z: int, lon: float = 114.12, lat: float = 22.55) -> Tile:
    """The tile of zoom ``z`` over central Luohu."""
    t = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, z)
    return Tile(t.x, t.y, t.z)


def _features(data: bytes) -> dict[str, dict[Any, dict[str, Any]]]:
    """Layer name → feature key (its ``id``, else its properties) → decoded feature."""
    out: dict[str, dict[Any, dict[str, Any]]] = {}
    for name, layer in mapbox_vector_tile.decode(data).items():
        assert layer["extent"] == EXTENT
        feats: dict[Any, dict[str, Any]] = {}
        for f in layer["features"]:
            p = f["properties"]
            key = p.get("id", p.get("cell", repr(sorted(p.items()))))
            assert key not in feats, (name, key)
            feats[key] = f
        out[name] = feats
    return out


def assert_same_tile(want: bytes, got: bytes, where: str) -> int:
    """Same layers, features, properties; geometry within GEOM_TOLERANCE. Returns features."""
    a, b = _features(want), _features(got)
    assert set(a) == set(b), where
    n = 0
    for name in a:
        assert set(a[name]) == set(b[name]), (where, name, set(a[name]) ^ set(b[name]))
        for key, fa in a[name].items():
            fb = b[name][key]
            assert fa["properties"] == fb["properties"], (where, name, key)
            assert fa["type"] == fb["type"], (where, name, key)
            ga, gb = shape(fa["geometry"]), shape(fb["geometry"])
            assert shapely.get_type_id(ga) == shapely.get_type_id(gb) or {
                ga.geom_type, gb.geom_type} <= {"Polygon", "MultiPolygon"} or {
                ga.geom_type, gb.geom_type} <= {"LineString", "MultiLineString"}, (where, key)
            assert ga.hausdorff_distance(gb) <= GEOM_TOLERANCE, (where, name, key)
            n += 1
    return n


# Layers with lines, polygons and points, one basemap composite (database layers and
# Python label layers in one tile), enterprises at their point zoom and below it
# (aggregates), and a BlockLayer.
CASES = [("buildings", (14, 15, 16)), ("roads", (12, 14, 16)), ("water", (10, 13)),
         ("communities", (10, 12, 15)), ("facilities", (13, 16)),
         ("enterprises", (12, 16)), ("basemap", (12, 14, 16))]


@pytest.mark.parametrize(("names", "zooms"), CASES)
def test_st_asmvt_tiles_equal_the_python_engine(stores: tuple[GeoPackageStore, PostGISStore],
                                                names: str, zooms: tuple[int, ...]) -> None:
    gpkg, pg = stores
    engine = TileEngine(default_catalog())
    compared = 0
    for z in zooms:
        for dx, dy in ((0, 0), (1, 0), (0, 1)):
            t = tile_at(z)
            tile = Tile(t.x + dx, t.y + dy, z)
            for who in (PUBLIC, ADMIN):
                want = engine.render(names, gpkg, tile, who)
                got = engine.render(names, pg, tile, who)
                compared += assert_same_tile(want.data, got.data, f"{names} {tile} {who.role}")
                assert got.features == want.features
                assert got.layers == want.layers
    assert compared > 0


def test_the_database_path_is_taken_for_plain_layers_only(
        stores: tuple[GeoPackageStore, PostGISStore]) -> None:
    """Plain entity layers render in PostGIS; person-level layers, aggregates, labels and
    block layers stay in the Python engine (masking, k-anonymity and audit counts live
    there), and never on a GeoPackage store or with ``store_tiles`` off."""
    gpkg, pg = stores
    catalog = default_catalog()
    engine = TileEngine(catalog)
    tile = tile_at(16)
    for lid in ("buildings", "roads", "facilities", "enterprises"):
        assert engine.layer_data(lid, pg, tile, ADMIN).server is not None, lid
        assert engine.layer_data(lid, gpkg, tile, ADMIN).server is None, lid
        assert TileEngine(catalog, store_tiles=False).layer_data(
            lid, pg, tile, ADMIN).server is None, lid
    personal = [lid for lid, layer in catalog.items() if layer.access.personal]
    assert "persons" in personal
    for lid in personal:
        for z in (12, 14, 16, 18):
            data = engine.layer_data(lid, pg, tile_at(z), ADMIN)
            assert data.server is None, (lid, z)
    # Aggregates below the point zoom and the labels: Python.
    assert engine.layer_data("enterprises", pg, tile_at(12), ADMIN).server is None
    assert engine.layer_data("labels", pg, tile_at(14), ADMIN).server is None
    for lid, layer in catalog.items():  # block layers, addresses, alerts...: Python
        if type(layer) is not EntityLayer and lid != "alerts" and layer.geometry is not None:
            assert engine.layer_data(lid, pg, tile_at(14), ADMIN).server is None, lid

def test_public_persons_tiles_on_postgis_are_aggregates_only(
        stores: tuple[GeoPackageStore, PostGISStore]) -> None:
    """The public never gets person-level geometry from PostGIS either: the persons
    layer is hidden (404), and the population tiles it may see are suppressed hexagons."""
    from tiles.engine import UnknownLayer

    _, pg = stores
    engine = TileEngine(default_catalog())
    with pytest.raises(UnknownLayer):
        engine.render("persons", pg, tile_at(16), PUBLIC)
    population = Principal(role="population")
    for z in (12, 16, 18):
        result = engine.render("persons", pg, tile_at(z), population)
        for f in _features(result.data).get("persons", {}).values():
            assert f["properties"].get("aggregate") is True
            assert f["geometry"]["type"] == "Polygon"


def test_size_cap_holds_on_the_database_path(
        stores: tuple[GeoPackageStore, PostGISStore]) -> None:
    """A tile over the cap is generalised harder in the database, then (still too big)
    cut in Python from the same rows: the Python engine's own result, byte for byte."""
    gpkg, pg = stores
    tile = tile_at(14)
    full = TileEngine(default_catalog()).render("roads", pg, tile, PUBLIC)
    cap = int(len(full.data) * 0.6)
    smaller = TileEngine(default_catalog(), max_bytes=cap).render("roads", pg, tile, PUBLIC)
    assert len(smaller.data) <= cap
    got = _features(smaller.data)["roads"]
    assert 0 < len(got) <= full.features
    assert set(got) <= set(_features(full.data)["roads"])
    tiny = 2_000
    a = TileEngine(default_catalog(), max_bytes=tiny).render("roads", gpkg, tile, PUBLIC)
    b = TileEngine(default_catalog(), max_bytes=tiny).render("roads", pg, tile, PUBLIC)
    assert len(b.data) <= tiny and b.features > 0
    assert a.data == b.data


def test_tile_cache_is_invalidated_by_a_postgis_write(
        demo_dir: Path, pg_cluster: Cluster, tmp_path: Path) -> None:
    """TileService on PostGIS: a cached ST_AsMVT tile is served again until a committed
    ingest touches its area; then the next request shows the new feature, and tiles
    elsewhere stay cached."""
    from tiles.cache import CacheKey
    from tiles.service import TileService, TileSettings, view_of

    url = pg_cluster.new_database()
    gpkg = GeoPackageStore(demo_dir / "onemap.gpkg")
    pg = PostGISStore(url)
    try:
        for kind in ("district", "facility"):
            pg.ingest(kind, gpkg.query(kind).drop(columns=["fid", "h3", "block"],
                                                  errors="ignore"))
        svc = TileService.start(pg, default_catalog(), "http://test", tmp_path,
                                TileSettings(cache_mb=16))
        here, far = tile_at(16), tile_at(16, 114.16, 22.58)
        first = svc.tile("facilities", here, PUBLIC)
        svc.tile("facilities", far, PUBLIC)
        assert svc.engine.layer_data("facilities", pg, here, PUBLIC).server is not None
        hits = svc.cache.hits
        assert svc.tile("facilities", here, PUBLIC) == first
        assert svc.cache.hits == hits + 1
        lon0, lat0, lon1, lat1 = tile_bounds_lnglat(here)
        row = gpkg.query("facility", limit=1).drop(columns=["fid", "h3", "block"],
                                                   errors="ignore")
        row["id"] = "FAC-NEW-TILE"
        row["name"] = "new facility"
        row = row.set_geometry([shapely.Point((lon0 + lon1) / 2, (lat0 + lat1) / 2)],
                               crs="EPSG:4326")
        pg.ingest("facility", row)
        far_key = CacheKey("facilities", far, view_of(PUBLIC), None)
        assert svc.cache.get(far_key) is not None  # untouched area: still cached
        after = svc.tile("facilities", here, PUBLIC)
        ids = set(_features(after.raw())["facilities"])
        assert "FAC-NEW-TILE" in ids
        assert "FAC-NEW-TILE" not in set(_features(first.raw()).get("facilities", {}))
        assert after.etag != first.etag
        svc.stop()
    finally:
        gpkg.close()
        pg.close()
        pg_cluster.drop_database(url)

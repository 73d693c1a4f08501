"""The same answers from both backends.

- The CQL2 filter tests of ``test_filters`` run on each backend (tiny store).
- The seeded small demo is copied GeoPackage → PostGIS → GeoPackage with
  ``onemap db copy``: counts and content hashes match, and a battery of core
  queries gives identical frames on both stores.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h3.api.basic_int as h3i
import numpy as np
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner

from gis.errors import IngestError, InvalidQuery
from gis.filters import Filter
from gis.model import KIND_ORDER
from gis.store import content_hash, open_store
from gis.store.base import Store
from gis.store.gpkg import GeoPackageStore
from gis.store.postgis import PostGISStore
from spatial_api.cli import cli
from tests import test_filters
from tests.pg import Cluster


def test_filters_on_both_backends(tiny_any: Store) -> None:
    test_filters.test_text_filters_on_tiny_store(tiny_any)  # type: ignore[arg-type]
    test_filters.test_json_filters_match_text(tiny_any)  # type: ignore[arg-type]
    test_filters.test_paging_applies_after_the_filter(tiny_any)  # type: ignore[arg-type]


def test_scan_pages_every_row_once_in_storage_order(tiny_any: Store) -> None:
    """Keyset pages (``fid > last``) of a size that does not divide the table: every
    row once, in fid order, the same rows as one whole query; a bad size is refused."""
    whole = tiny_any.query("person", columns=["sex"])
    pages = list(tiny_any.scan("person", columns=["sex"], page=4))
    assert [len(p) for p in pages] == [4, 2]
    got = pd.concat(pages)
    assert got["fid"].tolist() == sorted(whole["fid"].tolist())
    assert got["id"].tolist() == whole["id"].tolist()
    exact = list(tiny_any.scan("person", page=6))  # a full last page, then an empty read
    assert len(exact) == 1 and exact[0]["id"].tolist() == whole["id"].tolist()
    with pytest.raises(InvalidQuery):
        next(tiny_any.scan("person", page=0))


@pytest.mark.parametrize("text", [
    "", "sex ==", "S_INTERSECTS(geometry)", "nope = 1", "h3x > 1",
    "T_INTERSECTS(valid_from, DATE('2020-13-01'))", "S_INTERSECTS(sex, POINT(1 2))",
])
def test_bad_filters_on_both_backends(tiny_any: Store, text: str) -> None:
    test_filters.test_bad_filters_are_invalid_queries(tiny_any, text)  # type: ignore[arg-type]


def test_spatial_filter_uses_the_gist_index(pg_cluster: Cluster) -> None:
    from tests.conftest import community_frame, person_frame

    url = pg_cluster.new_database()
    store = PostGISStore(url)
    try:
        store.ingest("community", community_frame())
        store.ingest("person", person_frame())
        f = Filter.from_text(f"S_INTERSECTS(geometry, {test_filters.WEST_POLY}) AND sex = 'F'")
        assert list(store.query("person", filter=f)["id"]) == ["P1", "P3"]
        from gis.filters_pg import compile_postgis
        from gis.model import schema

        sql, params = compile_postgis(f.node, schema("person"))
        assert "ST_Intersects(t.geom" in sql
        with store.pool.connection() as conn:
            # six rows: the planner would scan; forbid that to see the index is usable
            conn.execute("SET enable_seqscan = off")
            plan = " ".join(r[0] for r in conn.execute(
                f"EXPLAIN SELECT t.fid FROM persons t WHERE {sql}", params))
            conn.execute("RESET enable_seqscan")
        assert "idx_persons_geom" in plan
    finally:
        store.close()
        pg_cluster.drop_database(url)


def test_open_store_selects_the_backend(pg_cluster: Cluster, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    url = pg_cluster.new_database()
    monkeypatch.setenv("ONEMAP_DB_URL", url)
    store = open_store()
    try:
        assert isinstance(store, PostGISStore) and store.schema_version() >= 1
        assert store.migrate() == []  # idempotent
    finally:
        store.close()
        pg_cluster.drop_database(url)
    monkeypatch.delenv("ONEMAP_DB_URL")
    from gis.settings import CoreSettings

    GeoPackageStore(tmp_path / "onemap.gpkg", create=True).close()
    s2 = open_store(CoreSettings(data_dir=tmp_path))
    assert isinstance(s2, GeoPackageStore)
    s2.close()


# ---------------------------------------------------------------------------
# the demo on both backends


@pytest.fixture(scope="module")
def demo_pair(demo_dir: Path, pg_cluster: Cluster,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The demo copied into PostGIS and back into a new GeoPackage with the CLI."""
    url = pg_cluster.new_database()
    back = tmp_path_factory.mktemp("back") / "back.gpkg"
    runner = CliRunner()
    r1 = runner.invoke(cli, ["db", "copy", "--from", f"gpkg:{demo_dir / 'onemap.gpkg'}",
                             "--to", url])
    r2 = runner.invoke(cli, ["db", "copy", "--from", url, "--to", f"gpkg:{back}"])
    gpkg = GeoPackageStore(demo_dir / "onemap.gpkg")
    pg = PostGISStore(url)
    yield {"gpkg": gpkg, "pg": pg, "back": back, "out": (r1, r2)}
    gpkg.close()
    pg.close()
    pg_cluster.drop_database(url)


def test_db_copy_both_ways_keeps_counts_and_hash(demo_pair: dict[str, Any]) -> None:
    r1, r2 = demo_pair["out"]
    assert r1.exit_code == 0, r1.output
    assert r2.exit_code == 0, r2.output
    assert "content hash" in r1.output and "matches" in r2.output
    gpkg, pg = demo_pair["gpkg"], demo_pair["pg"]
    back = GeoPackageStore(demo_pair["back"])
    try:
        for kind in KIND_ORDER:
            assert gpkg.count(kind) == pg.count(kind) == back.count(kind), kind
        assert gpkg.stats().counts == pg.stats().counts == back.stats().counts
        assert content_hash(gpkg) == content_hash(pg) == content_hash(back)
    finally:
        back.close()


def test_db_copy_refuses_a_filled_destination(demo_pair: dict[str, Any], tmp_path: Path) -> None:
    url = demo_pair["pg"].url
    r = CliRunner().invoke(cli, ["db", "copy", "--from", f"gpkg:{demo_pair['back']}",
                                 "--to", url])
    assert r.exit_code != 0
    assert demo_pair["pg"].count("person") == demo_pair["gpkg"].count("person")


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    a = pd.DataFrame(a).drop(columns=["fid"], errors="ignore").reset_index(drop=True)
    b = pd.DataFrame(b).drop(columns=["fid"], errors="ignore").reset_index(drop=True)
    if "geometry" in a.columns:
        assert list(shapely.to_wkb(np.asarray(a["geometry"].values))) == list(
            shapely.to_wkb(np.asarray(b["geometry"].values)))
        a, b = a.drop(columns="geometry"), b.drop(columns="geometry")
    pd.testing.assert_frame_equal(a, b, check_dtype=False)


def test_core_queries_agree_on_the_demo(demo_pair: dict[str, Any]) -> None:
    gpkg, pg = demo_pair["gpkg"], demo_pair["pg"]
    comm = gpkg.query("community", order_by=["code"], limit=3)
    area = comm.geometry.iloc[1]
    for res in (7, 9, 11):
        _same(gpkg.block_aggregate("person", res, as_of="2020-11-01"),
              pg.block_aggregate("person", res, as_of="2020-11-01"))
    _same(gpkg.block_aggregate("person", 8, by="age_band", as_of="2022-06-30", within=area),
          pg.block_aggregate("person", 8, by="age_band", as_of="2022-06-30", within=area))
    _same(gpkg.block_aggregate("enterprise", 9, by="industry", sums=["employees"]),
          pg.block_aggregate("enterprise", 9, by="industry", sums=["employees"]))
    _same(gpkg.block_aggregate("event", 9, by="category", as_of="2021-01-01/2021-12-31"),
          pg.block_aggregate("event", 9, by="category", as_of="2021-01-01/2021-12-31"))
    for kind in ("person", "building", "event"):
        _same(gpkg.query(kind, within=area, order_by=["id"]),
              pg.query(kind, within=area, order_by=["id"]))
        assert gpkg.count(kind, within=area) == pg.count(kind, within=area)
    _same(gpkg.query("building", within=area, predicate="within", limit=50, offset=5),
          pg.query("building", within=area, predicate="within", limit=50, offset=5))
    _same(gpkg.admin_counts("person", "community", as_of="2021-06-30"),
          pg.admin_counts("person", "community", as_of="2021-06-30"))
    _same(gpkg.nearest("facility", 114.12, 22.55, k=7), pg.nearest("facility", 114.12, 22.55,
                                                                   k=7))
    f = Filter.from_text("use = 'residential' AND floors >= 10 AND "
                         "S_INTERSECTS(geometry, BBOX(114.10, 22.53, 114.14, 22.57))")
    _same(gpkg.query("building", filter=f, order_by=["-floors", "id"]),
          pg.query("building", filter=f, order_by=["-floors", "id"]))
    assert gpkg.count("building", filter=f) == pg.count("building", filter=f)
    cell = h3i.latlng_to_cell(22.55, 114.12, 7)
    periods = ["2019-01-01", "2020-01-01", "2021-01-01", "2022-01-01"]
    _same(gpkg.block_timeline(cell, "person", periods, by="sex"),
          pg.block_timeline(cell, "person", periods, by="sex"))
    _same(gpkg.block_timeline(cell, "event", periods), pg.block_timeline(cell, "event", periods))
    sensors = list(gpkg.query("sensor", order_by=["id"], limit=5)["id"])
    _same(gpkg.latest_readings(sensors), pg.latest_readings(sensors))
    _same(gpkg.readings(sensors[0], "2023-01-01", "2023-02-01"),
          pg.readings(sensors[0], "2023-01-01", "2023-02-01"))
    versioned = gpkg.query("industrial_space", limit=1)["id"].iloc[0]
    _same(gpkg.get("industrial_space", versioned), pg.get("industrial_space", versioned))


def test_mvt_from_st_asmvt_keeps_the_engine_contract(demo_pair: dict[str, Any]) -> None:
    """The PostGIS tile path (ST_AsMVT) and the Python encoder over the same rows: same
    layer, extent, feature ids and property keys; same point positions to a unit."""
    import mapbox_vector_tile

    from tiles.engine import (
        BUFFER,
        EXTENT,
        LayerData,
        Tile,
        encode_layers,
        generalise,
        tile_bounds_lnglat,
        to_tile_units,
    )

    gpkg, pg = demo_pair["gpkg"], demo_pair["pg"]
    b = gpkg.query("facility", limit=1).geometry.iloc[0]
    for z, kind, cols in ((15, "facility", ["name", "facility_type"]),
                          (14, "building", ["use", "floors"]), (12, "road", ["name"])):
        import morecantile

        t = morecantile.tms.get("WebMercatorQuad").tile(b.x, b.y, z)
        tile = Tile(t.x, t.y, t.z)
        bbox = tile_bounds_lnglat(tile, BUFFER / EXTENT)
        data, n = pg.mvt(kind, kind, z, t.x, t.y, columns=cols, bbox=bbox)
        df = gpkg.query(kind, bbox=bbox, columns=["id", *cols])
        geoms = generalise(to_tile_units(np.asarray(df.geometry.values), tile))
        props = [{k: r[k] for k in ["id", *cols]} for _, r in df.iterrows()]
        ref = encode_layers([LayerData(kind, geoms, props)])
        got = mapbox_vector_tile.decode(data)[kind]
        want = mapbox_vector_tile.decode(ref)[kind]
        assert got["extent"] == want["extent"] == EXTENT
        got_ids = {f["properties"]["id"] for f in got["features"]}
        want_ids = {f["properties"]["id"] for f in want["features"]}
        assert n == len(got["features"]) and n > 0
        if kind == "facility":
            assert got_ids == want_ids
            pos = {f["properties"]["id"]: f["geometry"]["coordinates"] for f in want["features"]}
            for f in got["features"]:
                gx, gy = f["geometry"]["coordinates"]
                wx, wy = pos[f["properties"]["id"]]
                assert abs(gx - wx) <= 1 and abs(gy - wy) <= 1
        else:
            # Both drop what generalisation makes sub-pixel. PostGIS links an older GEOS
            # (3.11) than shapely (3.14), which simplifies a 1-2 pixel rectangle into a
            # triangle and then drops it: the PostGIS tile keeps those few tiny features.
            # Features at the one-pixel threshold may also fall either way after
            # ST_AsMVTGeom's integer snapping.
            local = to_tile_units(np.asarray(df.geometry.values), tile)
            size = dict(zip(df["id"], shapely.area(local) + shapely.length(local)
                            if kind == "building" else shapely.length(local), strict=True))
            px = EXTENT / 256
            limit = (4 * px) ** 2 + 16 * px if kind == "building" else 4 * px
            assert all(size[i] < limit for i in got_ids ^ want_ids)
            assert len(got_ids & want_ids) >= 0.8 * len(want_ids)
        keys = {k for f in got["features"] for k in f["properties"]}
        assert keys <= {"id", *cols} and "id" in keys


def test_ogc_features_suite_on_postgis(demo_pair: dict[str, Any], demo_dir: Path,
                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The OGC API Features tests of ``test_ogc_features``, served from PostGIS."""
    from fastapi.testclient import TestClient

    from layers.audit import AuditLog
    from spatial_api.app import create_app
    from spatial_api.settings import Settings
    from tests import test_ogc_features as ogc

    pg = demo_pair["pg"]
    monkeypatch.setenv("ONEMAP_DB_URL", pg.url)
    app = create_app(Settings(data_dir=demo_dir))
    app.state.ogc.audit = AuditLog(tmp_path / "audit.jsonl")
    with TestClient(app) as client:
        assert isinstance(app.state.store, PostGISStore)
        assert client.get("/health").json()["store"]["backend"] == "postgis"
        ogc.test_landing_conformance_collections(client)
        ogc.test_items_paging_and_number_matched(client, pg)
        ogc.test_item_by_id_and_404(client)
        ogc.test_bbox_datetime_properties_filters(client, pg)
        for query in ("limit=abc", "bbox=1,2,3", "datetime=yesterday", "filter=nope=1",
                      "sortby=nope", "floors=ten"):
            ogc.test_bad_parameters_are_400(client, query)
        ogc.test_crs_output_and_bbox_crs(client)
        ogc.test_cql2_text_and_json(client, pg)
        ogc.test_queryables_and_blocks_layer(client, pg)
        ogc.test_sensors_and_addresses(client, pg)


def test_tile_engine_gives_identical_tiles_on_both_backends(demo_pair: dict[str, Any]) -> None:
    """The Python tile engine over either store: byte-identical MVT (the stores answer
    the same rows in the same order), for entity, aggregate and basemap tiles. (With
    ``store_tiles`` on, PostGIS encodes entity layers itself: tests/test_tiles_postgis.py.)"""
    import morecantile

    from layers.access import Principal
    from layers.catalog import default_catalog
    from tiles.engine import Tile, TileEngine

    gpkg, pg = demo_pair["gpkg"], demo_pair["pg"]
    engine = TileEngine(default_catalog(), store_tiles=False)
    tms = morecantile.tms.get("WebMercatorQuad")
    checked = 0
    for names, z in (("enterprises", 14), ("enterprises", 11), ("persons", 12),
                     ("buildings", 15), ("basemap", 13), ("events", 14)):
        t = tms.tile(114.12, 22.55, z)
        tile = Tile(t.x, t.y, t.z)
        who = Principal(role="admin", grants=frozenset({"*"}))
        a = engine.render(names, gpkg, tile, who)
        b = engine.render(names, pg, tile, who)
        assert a.data == b.data, (names, z)
        checked += a.features
    assert checked > 0


def test_migrations_match_the_model(pg_cluster: Cluster) -> None:
    """Every table the migrations create has the model's columns, in order, and the
    version table records each file once."""
    from gis.model import SCHEMAS
    from gis.store.postgis import migrations

    url = pg_cluster.new_database()
    store = PostGISStore(url)
    try:
        with store.pool.connection() as conn:
            for sch in SCHEMAS.values():
                cols = [r[0] for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                    "ORDER BY ordinal_position", [sch.table])]
                geom = ["geom"] if sch.geometry is not None else []
                assert cols == ["fid", *geom, *sch.column_names], sch.kind
            versions = [r[0] for r in conn.execute(
                "SELECT version FROM onemap_schema_version ORDER BY version")]
        assert versions == [v for v, _, _ in migrations()]
        assert store.schema_version() == versions[-1]
    finally:
        store.close()
        pg_cluster.drop_database(url)


def test_unreachable_server_is_store_unavailable(pg_cluster: Cluster) -> None:
    from gis.errors import StoreUnavailable
    from spatial_api.local_server import free_port

    port = free_port()
    with pytest.raises(StoreUnavailable) as err:
        PostGISStore(f"postgresql://onemap:secret@127.0.0.1:{port}/nowhere")
    assert "secret" not in str(err.value) and "***" in str(err.value)


def test_bulk_load_rebuilds_every_index(pg_cluster: Cluster) -> None:
    """A large load into an empty table drops and rebuilds the indexes in its
    transaction: the same indexes exist afterwards, and a refused load leaves them."""
    from tests.test_store import _many_persons

    url = pg_cluster.new_database()
    store = PostGISStore(url)

    def indexes() -> list[tuple[str, str]]:
        with store.pool.connection() as conn:
            return conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE "
                                "tablename = 'persons' ORDER BY indexname").fetchall()

    try:
        before = indexes()
        assert len(before) >= 7
        bad = _many_persons(25_000)
        bad.loc[24_000, "birth_date"] = "not a date"
        with pytest.raises(IngestError):
            store.ingest("person", bad)
        assert indexes() == before and store.count("person") == 0
        store.ingest("person", _many_persons(25_000))
        assert indexes() == before
        assert store.count("person", bbox=(114.10, 22.55, 114.11, 22.56)) == len(
            store.query("person", bbox=(114.10, 22.55, 114.11, 22.56), columns=["id"]))
        assert store.get("person", "Q20000")["id"].iloc[0] == "Q20000"
    finally:
        store.close()
        pg_cluster.drop_database(url)


def test_address_service_suite_on_postgis(pg_cluster: Cluster, tmp_path: Path) -> None:
    """Every single-argument test of ``test_address_service`` on a PostGIS copy of its
    tiny store (the address service builds its registry from the store)."""
    import inspect

    from address.service import AddressService
    from spatial_api.cli_db import copy_store
    from tests import test_address_service as ta

    gpkg = ta.build_tiny_store(tmp_path / "a.gpkg")
    url = pg_cluster.new_database()
    pg = PostGISStore(url)
    try:
        copy_store(gpkg, pg)
        assert content_hash(gpkg) == content_hash(pg)
        svc = AddressService.from_store(pg)
        ran = 0
        for name, fn in inspect.getmembers(ta, inspect.isfunction):
            if name.startswith("test_") and list(inspect.signature(fn).parameters) == ["svc"]:
                fn(svc)
                ran += 1
        assert ran >= 10
    finally:
        gpkg.close()
        pg.close()
        pg_cluster.drop_database(url)

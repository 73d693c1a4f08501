"""City scale: Dask-built partitions, their PostGIS load, Dask block aggregates.

Two small districts (罗湖 and 盐田) at scale 0.001 on a LocalCluster of two
workers, built once for the module; 盐田 is built as a large district would be
(geography, then one piece per H3 res-6 parent), 罗湖 whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import shapely

from data.synth import city
from gis.batch.partitions import list_partitions, partition_path, read_partition, write_partition

#: ``content_hash`` of ``build_demo(scale=0.005, seed=7)``, pinned when the city build
#: landed: the Luohu demo must not move when other districts are generated. (Built
#: afresh here: the session's shared demo store receives writes from other tests.)
LUOHU_HASH_0_005_SEED_7 = "984dd6e6e5ce552d7eacfd3acbff4152253a5a6354901415e6a2818ec295d0c5"

SCALE = 0.001
SEED = 7
AREA = "luohu,yantian"
#: Split every district above 100,000 residents (盐田 has 214,916; 罗湖 is never split).
SPLIT = 100_000


def test_luohu_demo_content_is_unchanged(tmp_path: Path) -> None:
    from data.synth.build import build_demo
    from gis.store import content_hash
    from gis.store.gpkg import GeoPackageStore

    build_demo(tmp_path, scale=0.005, seed=7)
    store = GeoPackageStore(tmp_path / "onemap.gpkg")
    try:
        assert content_hash(store) == LUOHU_HASH_0_005_SEED_7
    finally:
        store.close()


def test_parse_area() -> None:
    assert [d.code for d in city.parse_area("shenzhen")] == [d.code for d in city.DISTRICTS]
    assert [d.key for d in city.parse_area("Futian, 440303,盐田区")] == [
        "futian", "luohu", "yantian"]
    with pytest.raises(city.CityError):
        city.parse_area("luohu,atlantis")
    assert city.partition_seed(SEED, city.DISTRICTS[0]) == SEED
    assert city.partition_seed(SEED, city.DISTRICTS[5]) != SEED


@pytest.fixture(scope="module")
def dask2() -> Iterator[Any]:
    """One LocalCluster of two single-threaded worker processes for the module."""
    from gis.batch.cluster import dask_client

    with dask_client(2) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        yield client


@pytest.fixture(scope="module")
def city_root(tmp_path_factory: pytest.TempPathFactory, dask2: Any) -> Path:
    root = tmp_path_factory.mktemp("city")
    report = city.build_city(root, city.parse_area(AREA), seed=SEED, scale=SCALE,
                             client=dask2, split_above=SPLIT)
    assert set(report.rows) == {"440303", "440308"}
    pieces = list_partitions(root, "person", ["440308"])
    assert len(pieces) >= 2 and all(p.name != "part-0.parquet" for p in pieces)
    assert report.partitions == 2 + len(pieces)
    return root


def _frames_equal(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    assert len(a) == len(b)
    for col in a.columns:
        if col == "geometry":
            assert list(shapely.to_wkb(a[col].to_numpy())) == list(
                shapely.to_wkb(b[col].to_numpy()))
        else:
            pd.testing.assert_series_equal(a[col].reset_index(drop=True),
                                           b[col].reset_index(drop=True), check_dtype=False)


def test_partitions_written_and_deterministic(city_root: Path, tmp_path: Path) -> None:
    """Each district has every kind; rebuilding 盐田's geography and then one of its
    res-6 pieces alone (in this process, not on the cluster) gives the same bytes;
    census totals follow the districts; ids are unique city-wide."""
    for kind in city.KINDS:
        assert sorted({p.parent.name for p in list_partitions(city_root, kind)}) == [
            "district=440303", "district=440308"], kind
    assert not any((city_root / ".tmp").iterdir())
    yantian = city.parse_area("yantian")[0]
    code = yantian.code
    pieces = [p.stem[5:] for p in list_partitions(city_root, "person", [code])]
    _, _, cells = city.build_partition(str(tmp_path), code, SEED, SCALE, "0")
    assert [format(c, "x") for c in cells] == pieces
    city.build_partition(str(tmp_path), code, SEED, SCALE, pieces[-1])
    for kind in city.GEO_KINDS:
        assert partition_path(tmp_path, kind, code).read_bytes() == partition_path(
            city_root, kind, code).read_bytes(), kind
    for kind in ("house", "person", "enterprise", "event"):
        alone = partition_path(tmp_path, kind, code, pieces[-1])
        assert alone.read_bytes() == partition_path(city_root, kind, code,
                                                    pieces[-1]).read_bytes(), kind
    # Splitting changes the population side only: the geography is the whole build's.
    whole = city.generate_district(yantian, SEED, SCALE)
    for kind in ("building", "road", "water", "sensor"):
        _frames_equal(whole[kind], read_partition(partition_path(city_root, kind, code)))
    persons = pd.concat([read_partition(p) for p in list_partitions(city_root, "person",
                                                                    [code])])
    day = "2020-11-01"  # census day: exactly the district's census total x scale
    for frame in (persons, whole["person"]):
        on_day = (frame["valid_from"] <= day) & (frame["valid_to"].isna()
                                                 | (frame["valid_to"] > day))
        assert int(on_day.sum()) == round(city.population(yantian) * SCALE) == 214
    # Ids are unique city-wide: 盐田 ids carry its code (and a piece's own ids the
    # piece's tag), references stay resolvable; 罗湖 keeps its own.
    assert persons["id"].str.match(r"^440308\d\dP\d{7}$").all() and persons["id"].is_unique
    houses = pd.concat([read_partition(p) for p in list_partitions(city_root, "house",
                                                                   [code])])
    assert set(persons["house_id"]) <= set(houses["id"])
    buildings = read_partition(partition_path(city_root, "building", code))
    assert set(houses["building_id"]) <= set(buildings["id"])
    assert buildings["id"].str.startswith("440308B").all()
    luohu = read_partition(partition_path(city_root, "person", "440303"))
    assert luohu["id"].str.match(r"^P\d+$").all()
    comm = read_partition(partition_path(city_root, "community", code))
    assert comm["code"].str.startswith("440308").all()
    assert shapely.is_valid(read_partition(
        partition_path(city_root, "water", code)).geometry.to_numpy()).all()


def test_failed_partition_leaves_nothing(tmp_path: Path) -> None:
    """A frame that cannot be written (a column of mixed types) fails the task: no
    partition file of that district appears and no temporary folder is left."""
    good = pd.DataFrame({"sensor_id": ["N1"], "ts": [1], "value": [0.5], "alert": [0]})
    bad = pd.DataFrame({"x": [1, "two", 3.0]})
    with pytest.raises(Exception):  # noqa: B017 - pyarrow's own error type
        write_partition(tmp_path, "440308", {"reading": good, "sensor": bad})
    assert not partition_path(tmp_path, "reading", "440308").exists()
    assert not partition_path(tmp_path, "sensor", "440308").exists()
    assert not any((tmp_path / ".tmp").iterdir())


@pytest.fixture(scope="module")
def loaded_city(city_root: Path, pg_cluster: Any) -> Iterator[str]:
    import json

    from click.testing import CliRunner

    from spatial_api.cli import cli

    url = pg_cluster.new_database()
    res = CliRunner().invoke(cli, ["db", "load", "--from", str(city_root), "--to", url,
                                   "--workers", "2"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output[res.output.index("{"):])
    assert report["rows"]["person"] == sum(
        len(read_partition(p)) for p in list_partitions(city_root, "person"))
    yield url
    pg_cluster.drop_database(url)


def test_postgis_load_serves_both_districts(city_root: Path, loaded_city: str,
                                           monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    """After ``db load`` the OGC API on PostGIS counts every partition row of each
    district, and the indexes dropped for the load are back."""
    from fastapi.testclient import TestClient

    from gis.store.postgis import PostGISStore
    from spatial_api.app import create_app
    from spatial_api.settings import Settings

    expected: dict[str, dict[str, int]] = {}
    for kind in ("building", "community", "enterprise"):
        per = expected.setdefault(kind, {})
        for p in list_partitions(city_root, kind):  # 盐田's enterprises: one file a piece
            per[p.parent.name[9:]] = per.get(p.parent.name[9:], 0) + len(read_partition(p))
    monkeypatch.setenv("ONEMAP_DB_URL", loaded_city)
    app = create_app(Settings(data_dir=tmp_path))
    with TestClient(app) as client:
        assert isinstance(app.state.store, PostGISStore)
        for kind, coll in (("building", "buildings"), ("community", "communities"),
                           ("enterprise", "enterprises")):
            # every row ever (without datetime a layer serves only today's state)
            r = client.get(f"/ogc/collections/{coll}/items?limit=1&datetime=1900-01-01/..")
            assert r.status_code == 200, r.text
            assert r.json()["numberMatched"] == sum(expected[kind].values()), kind
        for kind, coll in (("building", "buildings"), ("enterprise", "enterprises")):
            for code, n in expected[kind].items():
                r = client.get(f"/ogc/collections/{coll}/items",
                               params={"limit": 1, "filter": f"community_code LIKE '{code}%'",
                                       "datetime": "1900-01-01/.."})
                assert r.status_code == 200, r.text
                assert r.json()["numberMatched"] == n, (kind, code)
        # addresses per district: each district's buildings geocode back to themselves
        # with their own district in the standard address (address.city)
        from address.city import CityAddressService

        assert isinstance(app.state.address, CityAddressService)
        # a store of several districts starts with the small warm-ups only (auto)
        assert app.state.settings.warmups == "coverage,tiles"
        buildings = pd.concat([read_partition(p) for p in list_partitions(city_root,
                                                                          "building")])
        for code, name in (("440303", "罗湖区"), ("440308", "盐田区")):
            row = buildings[buildings["subdistrict_code"].str[:6] == code].iloc[0]
            r = client.get("/address/geocode", params={"q": row["address"], "limit": 1})
            assert r.status_code == 200, r.text
            top = r.json()["features"][0]["properties"]
            assert top["address_id"] == row["address_id"]
            assert top["address"].startswith(f"广东省深圳市{name}")
            pt = shapely.point_on_surface(row["geometry"])
            r = client.get("/address/reverse", params={"lon": pt.x, "lat": pt.y})
            assert r.json()["context"]["district"]["name"] == name
    store = PostGISStore(loaded_city)
    try:
        idx = store._fetch("SELECT count(*) FROM pg_indexes WHERE tablename = 'persons'")
        assert idx[0][0] > 1
    finally:
        store.close()


@pytest.mark.parametrize(("kind", "res", "as_of", "by"), [
    ("person", 8, "2022-01-01", "age_band"),
    ("person", 9, None, None),
    ("building", 7, "2021-06-30", "use"),
    ("event", 10, "2022-01-01/2022-06-30", None),
])
def test_dask_blocks_equal_the_store(city_root: Path, tmp_path: Path, dask2: Any, kind: str,
                                     res: int, as_of: str | None, by: str | None) -> None:
    """The Dask aggregate over 罗湖's partitions equals the GeoPackage store's own
    ``block_aggregate`` after ingesting the same partitions."""
    from gis.batch.blocks import block_aggregate, write_blocks
    from gis.store.gpkg import GeoPackageStore

    store = GeoPackageStore(tmp_path / "luohu.gpkg", create=True)
    try:
        for k in ("district", "subdistrict", "community", kind):
            store.ingest(k, read_partition(partition_path(city_root, k, "440303")))
        want = store.block_aggregate(kind, res, as_of=as_of, by=by)
    finally:
        store.close()
    got = block_aggregate(city_root, kind, res, as_of=as_of, by=by, districts=["440303"],
                          client=dask2)
    assert want["count"].sum() > 0
    assert list(got.columns) == list(want.columns)
    key = ["cell", *([by] if by else [])]
    got = got.sort_values(key).reset_index(drop=True)
    want = want.sort_values(key).reset_index(drop=True)
    assert got["cell"].tolist() == want["cell"].tolist()
    assert got["count"].tolist() == want["count"].tolist()
    if by:
        assert [str(v) for v in got[by]] == [str(v) for v in want[by]]
    out = write_blocks(got, tmp_path / "blocks.parquet", res, by)
    back = read_partition(out)
    assert len(back) == len(got) and back.geometry.geom_type.eq("Polygon").all()


def test_dask_community_counts_equal_the_store(city_root: Path, tmp_path: Path,
                                               dask2: Any) -> None:
    from gis.batch.blocks import admin_counts
    from gis.store.gpkg import GeoPackageStore

    store = GeoPackageStore(tmp_path / "luohu.gpkg", create=True)
    try:
        for k in ("district", "subdistrict", "community", "person"):
            store.ingest(k, read_partition(partition_path(city_root, k, "440303")))
        want = store.admin_counts("person", "community", as_of="2022-01-01")
    finally:
        store.close()
    got = admin_counts(city_root, "person", "community", as_of="2022-01-01",
                       districts=["440303"], client=dask2)
    assert want["count"].sum() > 0
    assert dict(zip(got["code"], got["count"], strict=True)) == dict(
        zip(want["code"], want["count"], strict=True))


def test_cli_batch_blocks_and_bad_area(city_root: Path, tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from spatial_api.cli import cli

    out = tmp_path / "b.parquet"
    res = CliRunner().invoke(cli, ["batch", "blocks", "--from", str(city_root), "--area",
                                   "luohu,yantian", "--res", "8", "--kind", "person",
                                   "--as-of", "2022-01-01", "--by", "age_band",
                                   "--workers", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output[res.output.index("{"):])
    blocks = read_partition(out)
    assert summary["count"] == int(blocks["count"].sum()) > 0
    assert set(blocks["age_band"]) <= {0, 10, 20, 30, 40, 50, 60, 70, 80}
    bad = CliRunner().invoke(cli, ["batch", "blocks", "--from", str(city_root), "--area",
                                   "atlantis"])
    assert bad.exit_code == 2 and "unknown area" in bad.output
    bad = CliRunner().invoke(cli, ["demo", "build", "--area", "luohu,atlantis",
                                   "--data-dir", str(tmp_path)])
    assert bad.exit_code == 2 and "unknown area" in bad.output
    bad = CliRunner().invoke(cli, ["batch", "blocks", "--from", str(city_root), "--area",
                                   "luohu", "--kind", "reading", "--workers", "1"])
    assert bad.exit_code == 1 and "no geometry" in bad.output


@pytest.mark.parametrize(("res", "category", "start", "end"), [
    (9, None, None, None),
    (8, None, "2021-01-01", "2023-01-01"),
])
def test_dask_hotspots_equal_the_store(city_root: Path, tmp_path: Path, dask2: Any, res: int,
                                       category: str | None, start: str | None,
                                       end: str | None) -> None:
    """Gi* over 罗湖's event partitions on Dask equals the in-process analysis of the
    GeoPackage store holding the same partitions: same cells, counts, classes, z, p."""
    from gis.batch.hotspots import hotspots
    from gis.cases.spatial import hotspots as store_hotspots
    from gis.store.gpkg import GeoPackageStore

    store = GeoPackageStore(tmp_path / "luohu.gpkg", create=True)
    try:
        for k in ("district", "subdistrict", "community", "event"):
            store.ingest(k, read_partition(partition_path(city_root, k, "440303")))
        want = store_hotspots(store, res, category, start, end)
    finally:
        store.close()
    got = hotspots(city_root, res, category=category, start=start, end=end,
                   districts=["440303"], client=dask2)
    assert want["events"] > 0 and want["hot"] > 0
    props = [f["properties"] for f in want["features"]]
    assert got["cell"].tolist() == [p["cell"] for p in props]
    assert got["count"].tolist() == [p["count"] for p in props]
    assert got["class"].tolist() == [p["class"] for p in props]
    for zi, pi, p in zip(got["z"], got["p"], props, strict=True):
        assert p["z"] is not None and abs(zi - p["z"]) < 1e-4 and abs(pi - p["p"]) < 1e-6
    # The hexagons are the cells' own (shapely: every hexagon holds its cell's centre).
    import h3

    centres = shapely.points([h3.cell_to_latlng(c)[::-1] for c in got["cell"]])
    assert shapely.contains(got.geometry.to_numpy(), centres).all()


def test_cli_batch_hotspots_writes_a_layer(city_root: Path, tmp_path: Path) -> None:
    """``onemap batch hotspots`` over both districts writes GeoParquet that reads back as a
    polygon layer holding every event inside the districts' cells; bad input is exit 1/2."""
    import json

    import geopandas as gpd
    from click.testing import CliRunner

    from spatial_api.cli import cli

    out = tmp_path / "hot.parquet"
    res = CliRunner().invoke(cli, ["batch", "hotspots", "--from", str(city_root), "--area",
                                   "luohu,yantian", "--res", "9", "--workers", "2",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output[res.output.index("{"):])
    layer = gpd.read_parquet(out)
    assert layer.crs.to_epsg() == 4326 and layer.geometry.geom_type.eq("Polygon").all()
    assert summary["cells"] == len(layer) and summary["events"] == int(layer["count"].sum())
    assert summary["hot"] == int((layer["class"] == "hot").sum()) > 0
    n_events = sum(len(read_partition(p)) for p in list_partitions(city_root, "event"))
    assert 0 < summary["events"] <= n_events
    assert layer["cell"].is_unique
    bad = CliRunner().invoke(cli, ["batch", "hotspots", "--from", str(city_root), "--area",
                                   "luohu", "--category", "nonsense", "--workers", "1"])
    assert bad.exit_code == 1 and "unknown category" in bad.output
    assert not (city_root / "hotspots").exists()


def test_subdistrict_short_names_match_their_names() -> None:
    """The source's short names and pinyin are shifted by a row for 15 subdistricts
    (福保街道 carried 华强北's, 观湖街道 龙华's); the build derives them from the NBS name."""
    for district in city.DISTRICTS:
        subs = city._district_real(district, SEED).subs
        for name, short, pinyin in zip(subs["subdistrict_name"], subs["short_name"],
                                       subs["pinyin"], strict=True):
            assert short in name, (district.name, name, short)
            if name == "观湖街道":
                assert (short, pinyin) == ("观湖", "guan hu")

"""The stores on the tiny hand-made data (expected numbers worked out by hand from the
docstring of ``person_frame`` in conftest). Every test of the Store protocol runs on both
backends (GeoPackage and a throwaway PostGIS cluster); the GeoPackage file-format tests
run on the GeoPackage store only."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from collections.abc import Iterator

import geopandas as gpd
import h3.api.basic_int as h3i
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from gis.crs import to_metric
from gis.errors import EntityNotFound, IngestError, InvalidGeometry, InvalidQuery
from gis.store import content_hash
from gis.store.base import Store
from gis.store.gpkg import GeoPackageStore
from tests.conftest import EAST, WEST, community_frame, person_frame


@pytest.fixture()
def tiny_store(tiny_any: Store) -> Store:
    """The tiny store, once per backend (conftest's ``tiny_store`` is GeoPackage only)."""
    return tiny_any


@pytest.fixture()
def tiny_gpkg(tmp_path) -> Iterator[GeoPackageStore]:
    store = GeoPackageStore(tmp_path / "tiny.gpkg", create=True)
    store.ingest("community", community_frame())
    store.ingest("person", person_frame())
    yield store
    store.close()


def test_admin_codes_filled_at_ingest(tiny_store: Store) -> None:
    df = tiny_store.query("person", order_by=["id"])
    assert df["community_code"].tolist() == ["440303003001"] * 4 + ["440303003002"] * 2
    assert set(df["subdistrict_code"]) == {"440303003"}


def test_h3_and_block_derived(tiny_store: Store) -> None:
    df = tiny_store.query("person", order_by=["id"])
    p1 = df.iloc[0]
    assert p1["h3"] == h3i.latlng_to_cell(22.551, 114.101, 15)
    assert p1["block"] == h3i.cell_to_parent(p1["h3"], 9)


@pytest.mark.parametrize(("as_of", "expected"), [
    (None, 6), ("2020-01-01", 4), ("2020-06-30", 3), ("2022-06-01", 5), ("2023-01-01", 4),
    ("2009-12-31", 0), ("2020-01-01/2020-12-31", 4), ("2022-01-01/..", 5),
])
def test_count_as_of(tiny_store: Store, as_of: str | None, expected: int) -> None:
    assert tiny_store.count("person", as_of=as_of) == expected


def test_within_polygon_as_of(tiny_store: Store) -> None:
    got = tiny_store.query("person", within=WEST, as_of="2020-01-01", order_by=["id"])
    assert got["id"].tolist() == ["P1", "P2", "P3"]
    got = tiny_store.query("person", within=EAST)
    assert sorted(got["id"]) == ["P5", "P6"]
    assert tiny_store.count("person", within=EAST, as_of="2023-06-01") == 1


def test_bbox_and_paging(tiny_store: Store) -> None:
    assert len(tiny_store.query("person", bbox=(114.10, 22.55, 114.106, 22.56))) == 3
    page = tiny_store.query("person", order_by=["-id"], limit=2, offset=1)
    assert page["id"].tolist() == ["P5", "P4"]


def test_get(tiny_store: Store) -> None:
    p = tiny_store.get("person", "P2")
    assert p["birth_date"].iloc[0] == "1985-07-15"
    with pytest.raises(EntityNotFound):
        tiny_store.get("person", "P2", as_of="2021-01-01")
    with pytest.raises(EntityNotFound):
        tiny_store.get("person", "nobody")


def test_nearest_uses_metric_distance(tiny_store: Store) -> None:
    got = tiny_store.nearest("person", 114.1015, 22.5515, k=2)
    assert got["id"].tolist() == ["P1", "P2"]
    x0, y0 = to_metric([114.1015], [22.5515])
    x1, y1 = to_metric([114.101], [22.551])
    assert got["distance_m"].iloc[0] == pytest.approx(np.hypot(x1 - x0, y1 - y0)[0], abs=0.01)
    far = tiny_store.nearest("person", 114.2, 22.6, k=1)
    assert far["id"].tolist() == ["P6"]
    assert tiny_store.nearest("person", 114.2, 22.6, k=1, max_distance_m=100).empty


def test_admin_counts(tiny_store: Store) -> None:
    df = tiny_store.admin_counts("person", "community", as_of="2022-06-01")
    assert dict(zip(df["code"], df["count"], strict=True)) == {
        "440303003001": 3, "440303003002": 2}


def test_block_aggregate_by_age_band(tiny_store: Store) -> None:
    df = tiny_store.block_aggregate("person", 7, as_of="2022-06-01", by="age_band")
    bands = df.groupby("age_band")["count"].sum().to_dict()
    # ages in 2022: P1 72, P3 34, P4 7, P5 32, P6 60
    assert bands == {0: 1, 30: 2, 60: 1, 70: 1}


def test_block_aggregate_cells_match_h3(tiny_store: Store) -> None:
    frame = person_frame()
    for res in (7, 9, 12):
        df = tiny_store.block_aggregate("person", res)
        # Parents of the stored res-15 cell (H3 is not geometrically nested, so this
        # can differ from the cell containing the point at ``res``).
        expected = pd.Series([h3i.cell_to_parent(h3i.latlng_to_cell(p.y, p.x, 15), res)
                              for p in frame.geometry]).value_counts().to_dict()
        assert dict(zip(df["cell"], df["count"], strict=True)) == expected


def test_block_aggregate_within(tiny_store: Store) -> None:
    df = tiny_store.block_aggregate("person", 9, within=EAST, as_of="2022-06-01")
    assert df["count"].sum() == 2


def test_cell_filter_any_resolution(tiny_store: Store) -> None:
    p5 = h3i.latlng_to_cell(22.555, 114.115, 15)
    for res in (7, 9, 11, 15):
        cell = h3i.cell_to_parent(p5, res)
        expected = {pid for pid, g in zip(person_frame()["id"], person_frame().geometry,
                                          strict=True)
                    if h3i.cell_to_parent(h3i.latlng_to_cell(g.y, g.x, 15), res) == cell}
        assert set(tiny_store.query("person", cell=cell)["id"]) == expected


def test_block_timeline(tiny_store: Store) -> None:
    # a coarse cell holding all six persons
    cell = h3i.cell_to_parent(h3i.latlng_to_cell(22.555, 114.110, 15), 3)
    df = tiny_store.block_timeline(cell, "person", ["2009-01-01", "2020-01-01", "2022-06-01",
                                                    "2024-01-01"])
    assert df["count"].tolist() == [0, 4, 5, 4]


@pytest.mark.parametrize("bad", [
    {"bbox": (114.2, 22.5, 114.1, 22.6)}, {"bbox": (0, 0, 200, 1)},
    {"as_of": "soon"}, {"where": {"salary": 1}}, {"order_by": ["nope"]},
    {"within": shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])},
])
def test_bad_queries(tiny_store: Store, bad: dict) -> None:
    with pytest.raises(InvalidQuery):
        tiny_store.query("person", **bad)


def test_bad_aggregate_parameters(tiny_store: Store) -> None:
    with pytest.raises(InvalidQuery):
        tiny_store.block_aggregate("person", 13)
    with pytest.raises(InvalidQuery):
        tiny_store.block_aggregate("person", 9, by="id_number")  # personal field
    with pytest.raises(InvalidGeometry):
        tiny_store.block_aggregate("person", 9, within=shapely.Polygon())


def _many_persons(n: int, start: int = 100) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(5)
    return gpd.GeoDataFrame(
        {"id": [f"Q{i}" for i in range(start, start + n)], "sex": ["F"] * n,
         "birth_date": ["1990-01-01"] * n, "valid_from": ["2020-01-01"] * n},
        geometry=gpd.GeoSeries(shapely.points(rng.uniform(114.10, 114.12, n),
                                              rng.uniform(22.55, 22.56, n)), crs="EPSG:4326"))


def test_bad_row_at_90_percent_is_named_and_nothing_written(tiny_store: Store) -> None:
    before = content_hash(tiny_store)
    frame = _many_persons(1000)
    frame.loc[900, "birth_date"] = "1990-02-30"
    with pytest.raises(IngestError) as err:
        tiny_store.ingest("person", frame)
    assert err.value.row == 900 and err.value.column == "birth_date"
    assert content_hash(tiny_store) == before


def test_failure_while_writing_rolls_back(tiny_store: Store) -> None:
    """Row 900 reuses an id already in the store: only the database can see that, after
    900 rows were already written inside the transaction."""
    before = content_hash(tiny_store)
    frame = _many_persons(1000)
    frame.loc[900, "id"] = "P3"
    with pytest.raises(IngestError) as err:
        tiny_store.ingest("person", frame)
    assert err.value.row == 900 and "already exists" in str(err.value)
    assert tiny_store.count("person") == 6
    assert content_hash(tiny_store) == before
    if isinstance(tiny_store, GeoPackageStore):
        # the R-tree was rolled back with the rows
        conn = sqlite3.connect(tiny_store.path)
        assert conn.execute("SELECT COUNT(*) FROM rtree_persons_geom").fetchone()[0] == 6
    else:
        # the GiST index answers a bbox query with the six old rows only
        assert tiny_store.count("person", bbox=(114.0, 22.0, 114.2, 22.7)) == 6


@pytest.mark.parametrize(("change", "column"), [
    ({"sex": None}, "sex"),
    ({"geometry": shapely.Point(500, 22)}, "geometry"),
    ({"geometry": None}, "geometry"),
    ({"valid_to": "2019-12-31"}, "valid_to"),
    ({"id": "Q100"}, "id"),
])
def test_validation_errors(tiny_store: Store, change: dict, column: str) -> None:
    frame = _many_persons(10)
    for key, value in change.items():
        frame.loc[7, key] = value
    if column == "id":
        frame.loc[3, "id"] = "Q100"
    with pytest.raises(IngestError) as err:
        tiny_store.ingest("person", frame)
    assert err.value.column == column
    assert tiny_store.count("person") == 6


def test_invalid_polygon_refused(store_factory) -> None:
    store = store_factory()
    bowtie = shapely.Polygon([(114.1, 22.5), (114.11, 22.51), (114.11, 22.5), (114.1, 22.51)])
    frame = gpd.GeoDataFrame({"id": ["B1"], "use": ["office"], "floors": [3],
                              "valid_from": ["2000-01-01"]}, geometry=[bowtie], crs=4326)
    with pytest.raises(IngestError, match="invalid geometry"):
        store.ingest("building", frame)
    unknown = frame.assign(colour="red")
    with pytest.raises(IngestError, match="unknown column"):
        store.ingest("building", unknown)


def test_append_then_replace(tiny_store: Store) -> None:
    tiny_store.ingest("person", _many_persons(50))
    assert tiny_store.count("person") == 56
    assert tiny_store.stats().counts["person"] == 56
    tiny_store.ingest("person", _many_persons(5), replace=True)
    assert tiny_store.count("person") == 5
    assert len(tiny_store.query("person", bbox=(114.0, 22.0, 114.2, 22.7))) == 5


def test_rtree_triggers_follow_plain_sql_edits(tiny_gpkg: GeoPackageStore) -> None:
    """An edit made by another program (QGIS) through SQL keeps the R-tree right,
    because the store registers the ST_* functions the GeoPackage triggers call."""
    conn = tiny_gpkg._conn()
    blob = conn.execute("SELECT geom FROM persons WHERE id='P6'").fetchone()[0]
    conn.execute("INSERT INTO persons (geom, id, sex, birth_date, valid_from) "
                 "VALUES (?, 'P7', 'F', '2000-01-01', '2020-01-01')", (blob,))
    conn.execute("DELETE FROM persons WHERE id='P1'")
    n = conn.execute("SELECT COUNT(*) FROM rtree_persons_geom").fetchone()[0]
    assert n == 6
    assert sorted(tiny_gpkg.query("person", bbox=(114.118, 22.557, 114.12, 22.559))["id"]) == [
        "P6", "P7"]


def test_gdal_reads_the_geopackage(tiny_gpkg: GeoPackageStore) -> None:
    layers = dict(pyogrio.list_layers(tiny_gpkg.path).tolist())
    assert layers["persons"] == "Point" and layers["communities"] == "MultiPolygon"
    df = pyogrio.read_dataframe(tiny_gpkg.path, layer="persons", bbox=(114.10, 22.55, 114.11,
                                                                         22.56))
    assert sorted(df["id"]) == ["P1", "P2", "P3", "P4"]
    info = pyogrio.read_info(tiny_gpkg.path, layer="persons")
    assert info["crs"] == "EPSG:4326" and info["features"] == 6


def test_ogrinfo_lists_layers(tiny_gpkg: GeoPackageStore) -> None:
    ogrinfo = shutil.which("ogrinfo")
    if ogrinfo is None:
        pytest.skip("gdal-bin not installed (make test installs it)")
    out = subprocess.run([ogrinfo, "-ro", "-so", str(tiny_gpkg.path), "persons"],
                         capture_output=True, text=True, check=True).stdout
    assert "Feature Count: 6" in out and "Geometry: Point" in out
    listing = subprocess.run([ogrinfo, "-ro", "-q", str(tiny_gpkg.path)],
                             capture_output=True, text=True, check=True).stdout
    for table in ("persons", "buildings", "events", "communities", "readings"):
        assert table in listing

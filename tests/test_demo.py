"""The seeded small demo (scale 0.01) end to end: build, determinism, counts, time, GDAL."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pyogrio
import pytest
import rasterio
from click.testing import CliRunner

from data.synth.build import build_demo
from gis.model import KIND_ORDER
from gis.store import content_hash
from gis.store.gpkg import GeoPackageStore
from spatial_api.cli import cli

SCALE = 0.01


def test_counts_at_small_scale(demo_store: GeoPackageStore) -> None:
    c = demo_store.stats().counts
    assert c["district"] == 1
    assert c["subdistrict"] == 10
    assert c["community"] == 109
    assert c["grid"] >= 109 * 5
    assert c["road"] >= 1500
    # Person rows: the census day's residents (exactly the census figure) plus the
    # earlier residents who left before it and the in-movers after it.
    assert demo_store.count("person", as_of="2020-11-01") == round(1_143_801 * SCALE)
    assert c["person"] > round(1_143_801 * SCALE)
    for kind in ("building", "house", "enterprise", "industrial_space", "facility", "event",
                 "sensor", "reading"):
        assert c[kind] > 0, kind
    assert c["sensor"] >= 170 + 100 + 21 + 11


def test_every_entity_has_block_and_admin_codes(demo_store: GeoPackageStore) -> None:
    conn = demo_store._conn()
    for table in ("buildings", "houses", "persons", "enterprises", "facilities", "sensors"):
        missing = conn.execute(
            f"SELECT COUNT(*) FROM {table} WHERE block IS NULL OR community_code IS NULL"
        ).fetchone()[0]
        assert missing == 0, table
    # every community code used exists
    unknown = conn.execute(
        "SELECT COUNT(*) FROM persons WHERE community_code NOT IN (SELECT code FROM communities)"
    ).fetchone()[0]
    assert unknown == 0


def test_time_queries_change_answers(demo_store: GeoPackageStore) -> None:
    days = ("2019-01-01", "2020-11-01", "2023-01-01", "2025-06-30")
    counts = [demo_store.count("person", as_of=d) for d in days]
    # The total stays near the census figure (tests/test_demo_realism.py), but who
    # lives here changes: the residents of each date differ.
    residents = {frozenset(demo_store.query("person", as_of=d, columns=["id"])["id"])
                 for d in days}
    assert len(residents) == 4
    census_day = counts[1]
    assert abs(census_day - 1_143_801 * SCALE) / (1_143_801 * SCALE) < 0.15
    blocks = demo_store.block_aggregate("person", 9, as_of="2020-11-01")
    assert blocks["count"].sum() == census_day
    ev_2020 = demo_store.count("event", as_of="2020-01-01/2020-12-31")
    ev_2024 = demo_store.count("event", as_of="2024-01-01/2024-12-31")
    assert ev_2020 > 0 and ev_2024 > 0


def test_within_a_community_equals_its_code(demo_store: GeoPackageStore) -> None:
    com = demo_store.query("community", order_by=["code"]).iloc[5]
    by_geom = set(demo_store.query("building", within=com.geometry, predicate="intersects",
                                   columns=["community_code"])["community_code"])
    assert com["code"] in by_geom
    inside = demo_store.query("person", within=com.geometry)
    assert (inside["community_code"] == com["code"]).mean() > 0.95


def test_terrain_geotiff(demo_dir: Path) -> None:
    with rasterio.open(demo_dir / "terrain.tif") as src:
        assert src.crs.to_epsg() == 4326
        band = src.read(1, masked=True)
        assert band.max() > 500  # Wutong mountain
        assert abs(src.res[0] - 0.0003) < 1e-4


def test_gdal_opens_the_demo(demo_dir: Path) -> None:
    layers = dict(pyogrio.list_layers(demo_dir / "onemap.gpkg").tolist())
    for table in ("districts", "subdistricts", "communities", "grids", "roads", "water",
                  "buildings", "houses", "persons", "enterprises", "industrial_spaces",
                  "facilities", "events", "sensors", "readings"):
        assert table in layers
    ogrinfo = shutil.which("ogrinfo")
    if ogrinfo is not None:
        out = subprocess.run([ogrinfo, "-ro", "-so", str(demo_dir / "onemap.gpkg"), "buildings"],
                             capture_output=True, text=True, check=True).stdout
        assert "Geometry: Polygon" in out


def test_stats_cli_on_demo(demo_dir: Path) -> None:
    res = CliRunner().invoke(cli, ["stats", "--json", "--data-dir", str(demo_dir)])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert set(out["counts"]) == set(KIND_ORDER)
    assert out["meta"]["seed"] == "7" and out["meta"]["scale"] == "0.01"


def test_build_is_deterministic(demo_dir: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    build_demo(again, scale=SCALE, seed=7)
    a = GeoPackageStore(demo_dir / "onemap.gpkg")
    b = GeoPackageStore(again / "onemap.gpkg")
    assert content_hash(a) == content_hash(b)
    assert (demo_dir / "terrain.tif").read_bytes() == (again / "terrain.tif").read_bytes()
    other = tmp_path / "other"
    build_demo(other, scale=SCALE, seed=8)
    c = GeoPackageStore(other / "onemap.gpkg")
    assert content_hash(c) != content_hash(a)
    for s in (a, b, c):
        s.close()


def test_failed_build_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        build_demo(tmp_path, scale=-1)
    assert not (tmp_path / "onemap.gpkg").exists()
    assert not list(tmp_path.glob("*.building*"))

"""The ``onemap`` CLI on the tiny store (real GeoPackage, real commands)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from click.testing import CliRunner

from gis.store.gpkg import GeoPackageStore
from spatial_api.cli import cli
from tests.conftest import EAST, community_frame, person_frame


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    store = GeoPackageStore(tmp_path / "onemap.gpkg", create=True)
    store.ingest("community", community_frame())
    store.ingest("person", person_frame())
    store.set_meta({"build_time": "2026-01-01T00:00:00Z"})
    store.close()
    return tmp_path


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_stats_json(data_dir: Path) -> None:
    out = json.loads(run("stats", "--json", "--data-dir", str(data_dir)))
    assert out["counts"]["person"] == 6 and out["counts"]["community"] == 2
    assert out["counts"]["subdistrict"] == 0
    assert out["meta"]["build_time"] == "2026-01-01T00:00:00Z"


def test_blocks_geojson(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "blocks.geojson"
    run("blocks", "--res", "9", "--kind", "person", "--as-of", "2022-06-01", "--out", str(out),
        "--data-dir", str(data_dir))
    fc = json.loads(out.read_text(encoding="utf-8"))
    assert sum(f["properties"]["count"] for f in fc["features"]) == 5
    gdf = gpd.read_file(out)
    assert (gdf.geometry.geom_type == "Polygon").all()
    # Blocks are parents of each person's res-15 cell (H3 parents do not nest exactly,
    # so a point may sit just outside its block's outline, never far from it).
    import h3.api.basic_int as h3i

    persons = person_frame()
    persons = persons[persons["id"] != "P2"]  # moved out by 2022
    by_cell = {f["properties"]["cell"]: f for f in fc["features"]}
    metric = gdf.set_index("cell").to_crs("EPSG:4547")
    for pt in persons.geometry:
        block = h3i.cell_to_parent(h3i.latlng_to_cell(pt.y, pt.x, 15), 9)
        key = format(block, "x")
        assert key in by_cell
        p_m = gpd.GeoSeries([pt], crs=4326).to_crs("EPSG:4547").iloc[0]
        assert metric.loc[key].geometry.distance(p_m) < 50


def test_blocks_by_age_band(data_dir: Path) -> None:
    fc = json.loads(run("blocks", "--res", "7", "--kind", "person", "--as-of", "2022-06-01",
                        "--by", "age_band", "--data-dir", str(data_dir)))
    total = {}
    for f in fc["features"]:
        for k, v in f["properties"].items():
            if k.startswith("age_band_"):
                total[k] = total.get(k, 0) + v
    assert total == {"age_band_0": 1, "age_band_30": 2, "age_band_60": 1, "age_band_70": 1}


def test_within_nearest_get_counts_timeline(data_dir: Path, tmp_path: Path) -> None:
    area = tmp_path / "east.geojson"
    gpd.GeoDataFrame(geometry=[EAST], crs=4326).to_file(area)
    assert run("within", "--kind", "person", "--area", str(area), "--count",
               "--data-dir", str(data_dir)).strip() == "2"
    near = json.loads(run("nearest", "--kind", "person", "--lon", "114.1015", "--lat", "22.5515",
                          "-k", "1", "--data-dir", str(data_dir)))
    assert near["features"][0]["properties"]["id"] == "P1"
    one = json.loads(run("get", "person", "P5", "--data-dir", str(data_dir)))
    assert one["features"][0]["geometry"]["coordinates"] == [114.115, 22.555]
    csv = run("counts", "--kind", "person", "--level", "community", "--as-of", "2022-06-01",
              "--data-dir", str(data_dir))
    assert "440303003001,3" in csv and "440303003002,2" in csv
    import h3

    cell = h3.latlng_to_cell(22.555, 114.110, 3)
    tl = run("timeline", "--cell", cell, "--kind", "person", "--from", "2019-01-01",
             "--to", "2023-12-31", "--data-dir", str(data_dir))
    assert tl.splitlines() == ["period,count", "2019-01-01,4", "2020-01-01,4", "2021-01-01,3",
                               "2022-01-01,5", "2023-01-01,4"]


def test_ingest_csv_and_broken_row(data_dir: Path, tmp_path: Path) -> None:
    good = tmp_path / "events.csv"
    good.write_text(
        "id,source,category,status,occurred_at,lon,lat,address_text\n"
        "V1,hotline_12345,占道经营,closed,2023-05-01T10:00:00Z,114.105,22.555,东门中路1号\n"
        "V2,grid_patrol,垃圾暴露,open,2023-05-02 08:30:00,114.115,22.556,\n",
        encoding="utf-8")
    out = json.loads(run("ingest", str(good), "--kind", "event", "--data-dir", str(data_dir)))
    assert out["rows"] == 2
    store = GeoPackageStore(data_dir / "onemap.gpkg")
    ev = store.query("event", order_by=["id"])
    assert ev["community_code"].tolist() == ["440303003001", "440303003002"]
    assert ev["occurred_at"].tolist() == ["2023-05-01T10:00:00Z", "2023-05-02T08:30:00Z"]
    store.close()

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "id,source,category,status,occurred_at,lon,lat\n"
        "V3,hotline_12345,积水,open,2023-06-01T00:00:00Z,114.105,22.555\n"
        "V4,hotline_12345,积水,open,last tuesday,114.105,22.555\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "spatial_api.cli", "ingest", str(bad),
                           "--kind", "event", "--data-dir", str(data_dir)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "row 1" in proc.stderr and "occurred_at" in proc.stderr
    assert "Traceback" not in proc.stderr
    store = GeoPackageStore(data_dir / "onemap.gpkg")
    assert store.count("event") == 2  # nothing of the bad file landed
    store.close()


def test_ingest_geojson(data_dir: Path, tmp_path: Path) -> None:
    f = tmp_path / "sensors.geojson"
    gpd.GeoDataFrame({"id": ["N1"], "name": ["积水点1"], "sensor_type": ["waterlogging"],
                      "valid_from": ["2024-01-01"]},
                     geometry=[shapely.Point(114.11, 22.555)], crs=4326).to_file(f)
    assert json.loads(run("ingest", str(f), "--kind", "sensor", "--data-dir",
                          str(data_dir)))["rows"] == 1


def test_unknown_kind_and_missing_store(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "spatial_api.cli", "stats", "--data-dir",
                           str(tmp_path / "nothing")], capture_output=True, text=True)
    assert proc.returncode == 2 and "demo build" in proc.stderr

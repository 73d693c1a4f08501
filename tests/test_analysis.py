"""Block portrait and renewal impact on hand-made stores whose numbers are worked out by hand."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import h3.api.basic_int as h3i
import pytest
import shapely

from gis.analysis.portrait import BlockPortraitInput, block_portrait
from gis.analysis.renewal import RenewalImpactInput, renewal_impact
from gis.errors import InvalidGeometry, InvalidQuery
from gis.h3cells import cell_to_str
from gis.store.gpkg import GeoPackageStore
from tests.conftest import EAST, WEST, community_frame, person_frame


def gdf(rows: list[dict], geoms: list[shapely.Geometry]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(rows, geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"))


def square(x: float, y: float, d: float = 0.0004) -> shapely.Polygon:
    return shapely.box(x, y, x + d, y + d)


@pytest.fixture()
def renewal_store(tmp_path: Path) -> Iterator[GeoPackageStore]:
    """West square (the renewal area) and east square, as_of 2022-06-30:

    buildings  B1 residential 5,000 m² (west), B2 office 8,000 m² (west),
               B3 residential 3,000 m² (east), B4 residential demolished 2019 (west)
    houses     H1, H2 in B1 (west), H3 in B3 (east)
    persons    tiny fixture P1..P6; in the west on 2022-06-30: P1 (b. 1950), P3 (1988),
               P4 (2015) -> 3 persons, households F1 (P1) and F2 (P3, P4) -> 2
    enterprises E1 C 10, E2 C 5, E3 I 20 (west); E4 C 7 (east)
    spaces     S1 1,000 m², 200 vacant (west)
    facilities school (west), hospital (east)
    events     V1 noise 2022-05-01, V2 noise 2021-08-01, V3 road 2022-06-01 (west, in the
               12 months to 2022-06-30); V4 noise 2021-06-01 (west, too old); V5 (east)
    """
    s = GeoPackageStore(tmp_path / "renewal" / "onemap.gpkg", create=True)
    s.ingest("community", community_frame())
    vf = "2000-01-01"
    s.ingest("building", gdf([
        {"id": "B1", "use": "residential", "floors": 10, "floor_area_m2": 5000.0,
         "valid_from": vf},
        {"id": "B2", "use": "office", "floors": 20, "floor_area_m2": 8000.0, "valid_from": vf},
        {"id": "B3", "use": "residential", "floors": 5, "floor_area_m2": 3000.0,
         "valid_from": vf},
        {"id": "B4", "use": "residential", "floors": 3, "floor_area_m2": 900.0,
         "valid_from": vf, "valid_to": "2019-01-01"},
    ], [square(114.101, 22.551), square(114.105, 22.555), square(114.115, 22.555),
        square(114.107, 22.552)]))
    s.ingest("house", gdf([
        {"id": f"H{i}", "building_id": b, "use": "dwelling", "valid_from": vf}
        for i, b in ((1, "B1"), (2, "B1"), (3, "B3"))],
        [shapely.Point(114.1012, 22.5512), shapely.Point(114.1013, 22.5513),
         shapely.Point(114.1152, 22.5552)]))
    people = person_frame()
    people["household_id"] = ["F1", "F9", "F2", "F2", "F3", "F4"]
    s.ingest("person", people)
    s.ingest("enterprise", gdf([
        {"id": "E1", "name": "甲公司", "industry": "C", "employees": 10, "valid_from": vf},
        {"id": "E2", "name": "乙公司", "industry": "C", "employees": 5, "valid_from": vf},
        {"id": "E3", "name": "丙公司", "industry": "I", "employees": 20, "valid_from": vf},
        {"id": "E4", "name": "丁公司", "industry": "C", "employees": 7, "valid_from": vf},
    ], [shapely.Point(114.1021, 22.5521), shapely.Point(114.1022, 22.5522),
        shapely.Point(114.1051, 22.5551), shapely.Point(114.1151, 22.5551)]))
    s.ingest("industrial_space", gdf([
        {"id": "S1", "name": "园区", "space_type": "factory", "area_m2": 1000.0,
         "vacant_area_m2": 200.0, "valid_from": vf}], [shapely.Point(114.1052, 22.5552)]))
    s.ingest("facility", gdf([
        {"id": "F1", "name": "学校", "facility_type": "school", "valid_from": vf},
        {"id": "F2", "name": "医院", "facility_type": "hospital", "valid_from": vf}],
        [shapely.Point(114.103, 22.553), shapely.Point(114.113, 22.553)]))
    ev = [("V1", "noise", "2022-05-01T10:00:00Z", (114.1025, 22.5525)),
          ("V2", "noise", "2021-08-01T10:00:00Z", (114.1035, 22.5535)),
          ("V3", "road", "2022-06-01T10:00:00Z", (114.1045, 22.5545)),
          ("V4", "noise", "2021-06-01T10:00:00Z", (114.1055, 22.5555)),
          ("V5", "noise", "2022-05-01T10:00:00Z", (114.1155, 22.5555))]
    s.ingest("event", gdf([
        {"id": i, "source": "hotline_12345", "category": c, "status": "closed",
         "occurred_at": t} for i, c, t, _ in ev], [shapely.Point(*xy) for *_, xy in ev]))
    yield s
    s.close()


def test_renewal_impact_by_hand(renewal_store: GeoPackageStore) -> None:
    r = renewal_impact(renewal_store, RenewalImpactInput(WEST, "2022-06-30"))
    assert r.buildings == 2 and r.buildings_by_use == {"office": 1, "residential": 1}
    assert r.floor_area_m2 == 13000.0
    assert r.floor_area_by_use_m2 == {"office": 8000.0, "residential": 5000.0}
    assert r.houses == 2
    assert r.persons == 3 and r.households == 2
    bands = r.persons_by_age_band
    assert bands["70-79"] == 1 and bands["30-39"] == 1 and bands["0-9"] == 1
    assert sum(v for v in bands.values() if v) == 3
    assert r.enterprises == 3 and r.enterprises_by_industry == {"C": 2, "I": 1}
    assert r.employees == 35 and r.employees_by_industry == {"C": 15.0, "I": 20.0}
    assert r.industrial_spaces == 1 and r.industrial_area_m2 == 1000.0
    assert r.industrial_vacant_m2 == 200.0
    assert r.facilities == 1 and r.facilities_by_type == {"school": 1}
    assert r.events_last_12_months == 3 and r.events_by_category == {"noise": 2, "road": 1}
    assert 1.1 < r.area_km2 < 1.2  # 0.01° x 0.01° at 22.5° N
    # k-anonymity for the public: 3 persons and 2 households are below k = 5.
    sup = r.suppressed_copy(5)
    assert sup.persons is None and sup.households is None
    assert sup.persons_by_age_band["70-79"] is None and sup.persons_by_age_band["20-29"] == 0
    assert sup.buildings == 2  # not person-level
    # Both squares: 5,000 + 8,000 + 3,000 m².
    both = renewal_impact(renewal_store, RenewalImpactInput(WEST.union(EAST), "2022-06-30"))
    assert both.floor_area_m2 == 16000.0 and both.persons == 5 and both.employees == 42


def test_renewal_impact_rejects_bad_areas(renewal_store: GeoPackageStore) -> None:
    for geom in (shapely.Point(114.1, 22.5), shapely.Polygon(),
                 shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)]),
                 shapely.box(113, 22, 115, 23)):
        with pytest.raises(InvalidGeometry):
            renewal_impact(renewal_store, RenewalImpactInput(geom, "2022-06-30"))
    with pytest.raises(InvalidQuery):
        renewal_impact(renewal_store, RenewalImpactInput(WEST, "2022-01-01/2022-02-01"))


@pytest.fixture()
def portrait_store(tmp_path: Path) -> Iterator[tuple[GeoPackageStore, int]]:
    """Everything within ~30 m of the centre of one res-9 block, as_of 2023-01-01:

    persons  Q1 F b.1990, Q2 M b.1992, Q3 F b.2020 (household K1 x2, K2), Q4 left 2022
    building R1 mixed 2,000 m²; houses U1 dwelling, U2 shop
    enterprises G1 F 3 employees, G2 F 4 employees, G3 M 1 employee
    events   W1 fire 2022-03-01, W2 fire 2022-12-31, W3 noise 2021-12-31 (too old)
    space    T1 500 m², 100 vacant
    """
    cell = h3i.latlng_to_cell(22.555, 114.105, 9)
    lat, lon = h3i.cell_to_latlng(cell)

    def near(i: int) -> shapely.Point:
        return shapely.Point(lon + 0.00005 * (i % 5), lat + 0.00005 * (i // 5))

    s = GeoPackageStore(tmp_path / "p.gpkg", create=True)
    s.ingest("community", community_frame())
    vf = "2000-01-01"
    s.ingest("person", gdf([
        {"id": "Q1", "sex": "F", "birth_date": "1990-03-01", "household_id": "K1",
         "valid_from": vf},
        {"id": "Q2", "sex": "M", "birth_date": "1992-03-01", "household_id": "K1",
         "valid_from": vf},
        {"id": "Q3", "sex": "F", "birth_date": "2020-03-01", "household_id": "K2",
         "valid_from": vf},
        {"id": "Q4", "sex": "M", "birth_date": "1950-03-01", "household_id": "K3",
         "valid_from": vf, "valid_to": "2022-01-01"},
    ], [near(i) for i in range(4)]))
    s.ingest("building", gdf([{"id": "R1", "use": "mixed", "floors": 8,
                               "floor_area_m2": 2000.0, "valid_from": vf}],
                             [near(5).buffer(0.00005)]))
    s.ingest("house", gdf([
        {"id": "U1", "building_id": "R1", "use": "dwelling", "valid_from": vf},
        {"id": "U2", "building_id": "R1", "use": "shop", "valid_from": vf}],
        [near(6), near(7)]))
    s.ingest("enterprise", gdf([
        {"id": f"G{i}", "name": f"企业{i}", "industry": ind, "employees": n, "valid_from": vf}
        for i, ind, n in ((1, "F", 3), (2, "F", 4), (3, "M", 1))],
        [near(8), near(9), near(10)]))
    s.ingest("event", gdf([
        {"id": i, "source": "grid_patrol", "category": c, "status": "open", "occurred_at": t}
        for i, c, t in (("W1", "fire", "2022-03-01T00:00:00Z"),
                        ("W2", "fire", "2022-12-31T12:00:00Z"),
                        ("W3", "noise", "2021-12-31T12:00:00Z"))],
        [near(11), near(12), near(13)]))
    s.ingest("industrial_space", gdf([
        {"id": "T1", "name": "空间", "space_type": "office", "area_m2": 500.0,
         "vacant_area_m2": 100.0, "valid_from": vf}], [near(14)]))
    yield s, cell
    s.close()


def test_block_portrait_by_hand(portrait_store: tuple[GeoPackageStore, int]) -> None:
    store, cell = portrait_store
    p = block_portrait(store, BlockPortraitInput(cell=cell_to_str(cell), as_of="2023-01-01"))
    assert p.cell == cell_to_str(cell) and p.res == 9
    assert p.population == 3 and p.households == 2
    assert p.population_by_sex == {"F": 2, "M": 1}
    assert p.population_by_age_band["30-39"] == 2 and p.population_by_age_band["0-9"] == 1
    assert p.buildings == 1 and p.buildings_by_use == {"mixed": 1}
    assert p.floor_area_by_use_m2 == {"mixed": 2000.0}
    assert p.houses == 2 and p.houses_by_use == {"dwelling": 1, "shop": 1}
    assert p.enterprises == 3 and p.enterprises_by_industry == {"F": 2, "M": 1}
    assert p.employees == 8
    assert p.events_last_12_months == 2 and p.events_by_category == {"fire": 2}
    assert p.industrial_area_m2 == 500.0 and p.industrial_vacancy_rate == 0.2
    # The same block by a point; and the res-8 parent holds at least as much.
    lat, lon = h3i.cell_to_latlng(cell)
    by_point = block_portrait(store, BlockPortraitInput(lon=lon, lat=lat, res=9,
                                                        as_of="2023-01-01"))
    assert by_point.cell == p.cell and by_point.population == 3
    parent = block_portrait(store, BlockPortraitInput(cell=cell_to_str(h3i.cell_to_parent(
        cell, 8)), as_of="2023-01-01"))
    assert parent.population == 3 and parent.res == 8
    # On 2021-06-01 Q4 still lived there.
    assert block_portrait(store, BlockPortraitInput(cell=cell_to_str(cell),
                                                    as_of="2021-06-01")).population == 4
    sup = p.suppressed_copy(5)
    assert sup.population is None and sup.population_by_sex == {"F": None, "M": None}
    assert sup.enterprises == 3


def test_block_portrait_bad_inputs(portrait_store: tuple[GeoPackageStore, int]) -> None:
    store, _ = portrait_store
    for inp in (BlockPortraitInput(), BlockPortraitInput(cell="zz"),
                BlockPortraitInput(cell=cell_to_str(h3i.latlng_to_cell(22.5, 114.1, 3))),
                BlockPortraitInput(lon=114.1, lat=22.5, res=14),
                BlockPortraitInput(lon=514.1, lat=22.5)):
        with pytest.raises(InvalidQuery):
            block_portrait(store, inp)


def test_cli_renewal_impact_and_portrait(renewal_store: GeoPackageStore, tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from spatial_api.cli import cli

    area = tmp_path / "area.geojson"
    area.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": shapely.geometry.mapping(WEST)}]}))
    data_dir = str(renewal_store.path.parent)
    runner = CliRunner()
    r = runner.invoke(cli, ["analysis", "renewal-impact", "--area", str(area), "--as-of",
                            "2022-06-30", "--data-dir", data_dir])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["persons"] == 3 and out["floor_area_m2"] == 13000.0 and out["employees"] == 35
    r = runner.invoke(cli, ["analysis", "renewal-impact", "--area", str(area), "--as-of",
                            "2022-06-30", "--public", "--data-dir", data_dir])
    assert json.loads(r.output)["persons"] is None
    r = runner.invoke(cli, ["analysis", "block-portrait", "--lon", "114.1015", "--lat",
                            "22.5515", "--res", "7", "--as-of", "2022-06-30",
                            "--data-dir", data_dir])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["res"] == 7

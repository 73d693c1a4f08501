"""The synthetic geography of the Luohu demo (data/synth/geography.py, terrain.py, names.py).

Most tests share one small build (scale 0.01: every admin unit, road and water
body, 240 buildings); one slower test builds the full scale.
"""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely

from data.synth import names as nm
from data.synth.geography import (
    REAL_DIR,
    Geography,
    build_geography,
    building_count,
    frame_columns,
    parking_count,
)

SEED = 7
SCALE = 0.01
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@pytest.fixture(scope="module")
def geo() -> Geography:
    return build_geography(SEED, SCALE)


@pytest.fixture(scope="module")
def subs_csv() -> pd.DataFrame:
    return pd.read_csv(REAL_DIR / "admin_divisions" / "luohu_subdistricts_nbs2023.csv", dtype=str)


@pytest.fixture(scope="module")
def coms_csv() -> pd.DataFrame:
    return pd.read_csv(REAL_DIR / "admin_divisions" / "luohu_communities_nbs2023.csv", dtype=str)


def metric(frame: gpd.GeoDataFrame) -> gpd.GeoSeries:
    return frame.geometry.to_crs(4547)


# ---------------------------------------------------------------- frames


def test_frames_follow_the_schema(geo: Geography) -> None:
    for kind, frame in geo.frames().items():
        assert list(frame.columns) == frame_columns(kind), kind
        assert "h3" not in frame.columns and "block" not in frame.columns
        assert frame.crs.to_epsg() == 4326, kind
        assert isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0, kind
        assert frame["id"].is_unique, kind
        assert frame["valid_from"].notna().all(), kind
        assert frame["valid_from"].str.match(DATE).all(), kind
        vt = frame["valid_to"].dropna()
        assert vt.str.match(DATE).all(), kind
        assert (vt > frame.loc[vt.index, "valid_from"]).all(), kind
        assert frame.geometry.is_valid.all(), kind
        bounds = frame.total_bounds
        assert 114.0 < bounds[0] < bounds[2] < 114.3 and 22.4 < bounds[1] < bounds[3] < 22.7
        if kind not in ("building", "facility"):
            assert frame["address_id"].isna().all(), kind


def test_coordinates_are_rounded_to_7_decimals(geo: Geography) -> None:
    for kind, frame in geo.frames().items():
        xy = shapely.get_coordinates(frame.geometry.to_numpy())
        assert np.allclose(xy, np.round(xy, 7), rtol=0, atol=1e-12), kind


# ---------------------------------------------------------------- admin units


def test_district_is_the_real_outline(geo: Geography) -> None:
    d = geo.district
    assert len(d) == 1
    assert d["code"].iloc[0] == "440303" and d["name"].iloc[0] == "罗湖区"
    assert d["subdistrict_code"].isna().all() and d["community_code"].isna().all()
    real = gpd.read_file(REAL_DIR / "boundaries" / "luohu_district_wgs84.geojson")
    a, b = d.geometry.iloc[0], real.geometry.iloc[0]
    # The outline gains vertices where the subdistrict borders meet it (1e-7° grid).
    assert shapely.symmetric_difference(a, b).area < 1e-5 * b.area
    assert 78.5 < metric(d).area.iloc[0] / 1e6 < 79.5


@pytest.mark.parametrize("attr", ["subdistricts", "communities", "grids"])
def test_admin_level_partitions_the_district_exactly(geo: Geography, attr: str) -> None:
    units = getattr(geo, attr).geometry.to_numpy()
    district = geo.district.geometry.iloc[0]
    area = district.area
    tol = 1e-9 * area
    assert abs(shapely.area(units).sum() - area) < tol
    assert shapely.symmetric_difference(shapely.union_all(units), district).area < tol
    i, j = shapely.STRtree(units).query(units, predicate="intersects")
    pairs = i < j
    overlap = shapely.area(shapely.intersection(units[i[pairs]], units[j[pairs]])).sum()
    assert overlap < tol
    # Contiguous: one polygon each.
    assert (shapely.get_num_geometries(units) == 1).all()


def test_admin_levels_nest(geo: Geography) -> None:
    subs = geo.subdistricts.set_index("code").geometry
    coms = geo.communities.set_index("code").geometry
    for code, g in geo.communities.set_index("code").geometry.items():
        parent = subs[code[:9]]
        assert shapely.difference(g, parent).area < 1e-9 * g.area, code
    for _, row in geo.grids.iterrows():
        parent = coms[row["community_code"]]
        assert shapely.difference(row.geometry, parent).area < 1e-9 * row.geometry.area


def test_subdistricts_carry_the_real_codes_and_names(geo: Geography,
                                                     subs_csv: pd.DataFrame) -> None:
    s = geo.subdistricts
    assert len(s) == 10
    exp = subs_csv.sort_values("subdistrict_code").reset_index(drop=True)
    assert s["code"].tolist() == exp["subdistrict_code"].tolist()
    assert s["name"].tolist() == exp["subdistrict_name"].tolist()
    assert s["short_name"].tolist() == exp["short_name"].tolist()
    assert s["pinyin"].tolist() == exp["pinyin"].tolist()
    assert (s["subdistrict_code"] == s["code"]).all()
    assert s["community_code"].isna().all()
    assert abs(s["area_km2"].sum() - metric(geo.district).area.iloc[0] / 1e6) < 0.01
    np.testing.assert_allclose(s["area_km2"], metric(s).area / 1e6, atol=1e-3)
    # Each subdistrict lies around its anchor centre: the anchor is inside it or close by.
    anchors = pd.read_csv(REAL_DIR / "admin_divisions" / "luohu_anchor_points_approx.csv")
    for _, row in s.iterrows():
        a = anchors.loc[anchors["name"] == row["name"]].iloc[0]
        assert row.geometry.distance(shapely.Point(a["lon"], a["lat"])) < 0.01, row["name"]


def test_communities_carry_the_real_codes_and_names(geo: Geography,
                                                    coms_csv: pd.DataFrame) -> None:
    c = geo.communities
    assert len(c) == 109
    exp = coms_csv.sort_values("community_code").reset_index(drop=True)
    assert c["code"].tolist() == exp["community_code"].tolist()
    assert c["name"].tolist() == exp["community_name"].tolist()
    assert c["short_name"].tolist() == exp["community_short_name"].tolist()
    assert c["subdistrict_code"].tolist() == exp["subdistrict_code"].tolist()
    assert (c["community_code"] == c["code"]).all()
    assert (c["area_km2"] > 0.02).all()


def test_grids_number_5_to_15_per_community(geo: Geography) -> None:
    g = geo.grids
    per = g.groupby("community_code").size()
    assert len(per) == 109
    assert per.between(5, 15).all()
    assert g["code"].str.match(r"^\d{14}$").all()
    assert (g["code"].str[:12] == g["community_code"]).all()
    assert (g["subdistrict_code"] == g["community_code"].str[:9]).all()
    shorts = geo.communities.set_index("code")["short_name"]
    expected = [f"{shorts[cc]}第{code[-2:]}网格" for cc, code in zip(g["community_code"],
                                                                      g["code"], strict=True)]
    assert g["name"].tolist() == expected
    first = g.groupby("community_code")["code"].min()
    assert (first.str[-2:] == "01").all()


# ---------------------------------------------------------------- roads


def test_roads_form_one_connected_network(geo: Geography) -> None:
    r = geo.roads
    assert len(r) >= 1500
    assert set(r["road_class"]) == {"arterial", "secondary", "branch", "footpath"}
    g = nx.Graph()
    g.add_edges_from(zip(r["from_node"], r["to_node"], strict=True))
    assert nx.is_connected(g)
    # Node ids stand for coordinates: one id, one point, and the reverse.
    a = shapely.get_coordinates(shapely.get_point(r.geometry.to_numpy(), 0))
    b = shapely.get_coordinates(shapely.get_point(r.geometry.to_numpy(), -1))
    nodes = pd.DataFrame({"id": np.r_[r["from_node"], r["to_node"]],
                          "x": np.r_[a[:, 0], b[:, 0]], "y": np.r_[a[:, 1], b[:, 1]]})
    per_id = nodes.drop_duplicates().groupby("id").size()
    assert (per_id == 1).all()
    per_xy = nodes.drop_duplicates().groupby(["x", "y"]).size()
    assert (per_xy == 1).all()
    assert (r["from_node"] != r["to_node"]).all()


def test_roads_are_noded(geo: Geography) -> None:
    """No two segments meet except at shared end points (checked on a sample)."""
    geoms = geo.roads.geometry.to_numpy()
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(len(geoms), size=400, replace=False))
    si, oi = shapely.STRtree(geoms).query(geoms[sample], predicate="intersects")
    si = sample[si]
    keep = si != oi
    si, oi = si[keep], oi[keep]
    assert len(si) > 0
    inter = shapely.intersection(geoms[si], geoms[oi])
    ends_a = shapely.boundary(geoms[si])
    ends_b = shapely.boundary(geoms[oi])
    assert shapely.get_type_id(inter).max() <= 4  # points only (Point/MultiPoint), no overlap
    assert shapely.covers(ends_a, inter).all()
    assert shapely.covers(ends_b, inter).all()


def test_roads_lie_in_the_district_and_not_in_the_reservoir(geo: Geography) -> None:
    district = geo.district.geometry.iloc[0]
    assert shapely.covered_by(geo.roads.geometry.to_numpy(), district).all()
    reservoir = geo.water.loc[geo.water["water_type"] == "reservoir"].geometry.iloc[0]
    assert not geo.roads.intersects(reservoir).any()


def test_road_attributes(geo: Geography) -> None:
    r = geo.roads
    m = metric(r)
    np.testing.assert_allclose(r["length_m"], m.length, rtol=1e-3, atol=0.05)
    widths = r.groupby("road_class")["width_m"].agg(["min", "max"])
    assert widths.loc["arterial", "min"] > widths.loc["secondary", "max"]
    assert widths.loc["secondary", "min"] > widths.loc["branch", "max"]
    assert widths.loc["branch", "min"] > widths.loc["footpath", "max"]
    assert r["id"].str.match(r"^R\d{6}$").all()
    assert r["community_code"].notna().all()
    assert (r["subdistrict_code"] == r["community_code"].str[:9]).all()


def test_named_roads_use_real_names_one_line_each(geo: Geography) -> None:
    assert len(nm.ROAD_NAMES) >= 60 and len(set(nm.ROAD_NAMES)) == len(nm.ROAD_NAMES)
    r = geo.roads
    upper = r[r["road_class"].isin(["arterial", "secondary"])]
    assert upper["name"].notna().all()
    assert r[r["road_class"] == "footpath"]["name"].isna().all()
    named = r.dropna(subset=["name"])
    assert set(named["name"]) <= set(nm.ROAD_NAMES)
    # One logical line per name: one class and one width for all its segments.
    per = named.groupby("name").agg(classes=("road_class", "nunique"),
                                    widths=("width_m", "nunique"))
    assert (per["classes"] == 1).all() and (per["widths"] == 1).all()
    for name in ("深南东路", "人民南路", "人民北路", "沿河北路", "红岭中路"):
        assert name in set(named["name"]), name
    # 深南东路 runs east-west through the south-west; 人民南路 runs north-south.
    for name, ew in (("深南东路", True), ("人民北路", False)):
        minx, miny, maxx, maxy = named[named["name"] == name].total_bounds
        assert ((maxx - minx) > (maxy - miny)) == ew, name


# ---------------------------------------------------------------- water


def test_water_bodies(geo: Geography) -> None:
    w = geo.water.set_index("name")
    assert set(w.index) == {"深圳河", "布吉河", "深圳水库"}
    assert w.loc["深圳水库", "water_type"] == "reservoir"
    assert w.loc["深圳河", "water_type"] == "river" and w.loc["布吉河", "water_type"] == "river"
    areas = metric(geo.water).set_axis(geo.water["name"]).area / 1e6
    assert 2.0 < areas["深圳水库"] < 3.0
    res = w.loc["深圳水库"].geometry
    assert res.distance(shapely.Point(114.150, 22.577)) == 0
    # 深圳河 runs along the southern boundary, 布吉河 crosses north → south into it.
    minx, miny, maxx, maxy = w.loc["深圳河"].geometry.bounds
    assert maxx - minx > 0.07 and miny < 22.535
    assert w.loc["深圳河"].geometry.distance(shapely.Point(114.1145, 22.5306)) < 0.001
    minx, miny, maxx, maxy = w.loc["布吉河"].geometry.bounds
    assert maxy - miny > 0.05 and 114.10 < minx < maxx < 114.13
    assert w.loc["布吉河"].geometry.intersects(w.loc["深圳河"].geometry.buffer(1e-5))
    district = geo.district.geometry.iloc[0].buffer(1e-6)
    assert shapely.covered_by(geo.water.geometry.to_numpy(), district).all()


# ---------------------------------------------------------------- buildings


def check_buildings(geo: Geography) -> None:
    b = geo.buildings
    geoms = b.geometry.to_numpy()
    assert shapely.is_valid(geoms).all()
    assert (shapely.get_type_id(geoms) == 3).all()  # Polygon
    district = geo.district.geometry.iloc[0]
    assert shapely.covered_by(geoms, district).all()
    # Non-overlapping (touching would be allowed; a gap is kept anyway).
    i, j = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pairs = i < j
    if pairs.any():
        assert shapely.area(shapely.intersection(geoms[i[pairs]], geoms[j[pairs]])).max() == 0
    # Not on roads or water.
    hit, _ = shapely.STRtree(geo.roads.geometry.to_numpy()).query(geoms, predicate="intersects")
    assert len(hit) == 0
    hit, _ = shapely.STRtree(geo.water.geometry.to_numpy()).query(geoms, predicate="intersects")
    assert len(hit) == 0
    c = shapely.get_coordinates(shapely.centroid(geoms))
    assert (geo.terrain.elevation_at(c[:, 0], c[:, 1]) <= 155.0).all()


def test_buildings_are_valid_apart_and_off_roads(geo: Geography) -> None:
    assert len(geo.buildings) == building_count(SCALE) == 240
    check_buildings(geo)


def test_building_attributes(geo: Geography) -> None:
    b = geo.buildings
    assert b["id"].tolist() == [f"B{k:06d}" for k in range(1, len(b) + 1)]
    assert set(b["use"]) <= {"residential", "office", "commercial", "industrial", "public",
                             "mixed"}
    assert b["floors"].between(1, 60).all()
    assert (np.abs(b["height_m"] - 3.2 * b["floors"]) <= 2.0).all()
    np.testing.assert_allclose(b["floor_area_m2"], b["footprint_m2"] * b["floors"], rtol=1e-3)
    # Rounding the corners to 1e-7° moves the area by a few tenths of a square metre.
    np.testing.assert_allclose(b["footprint_m2"], metric(b).area, rtol=1e-3, atol=0.5)
    assert b["year_built"].between(1980, 2025).all()
    assert (b["valid_from"].str[:4].astype(int) == b["year_built"]).all()
    letter = b["building_no"].str.match(r"^[A-Z]$")
    assert (letter | b["building_no"].str.match(r"^\d+$")).all()
    expected = b["estate"] + b["building_no"] + np.where(letter, "座", "栋")
    assert (b["name"] == expected).all()


def test_building_addresses(geo: Geography) -> None:
    b = geo.buildings
    assert b["address"].is_unique
    assert b["address_id"].is_unique and b["address_id"].str.match(r"^A\d{10}$").all()
    assert b["house_number"].str.match(r"^\d+$").all()
    assert not b.duplicated(["road", "house_number"]).any()
    assert set(b["road"]) <= set(geo.roads["name"].dropna())
    subs = geo.subdistricts.set_index("code")["name"]
    shorts = geo.communities.set_index("code")["short_name"]
    unit = np.where(b["building_no"].str.match(r"^[A-Z]$"), "座", "栋")
    expected = ("广东省深圳市罗湖区" + b["subdistrict_code"].map(subs)
                + b["community_code"].map(shorts) + b["road"] + b["house_number"] + "号"
                + b["estate"] + b["building_no"] + unit)
    assert (b["address"] == expected).all()
    # The community code is the community containing the building's interior point.
    rp = shapely.point_on_surface(b.geometry.to_numpy())
    coms = geo.communities.set_index("code").geometry
    inside = shapely.contains(coms.loc[b["community_code"]].to_numpy(), rp)
    assert inside.all()
    assert (b["subdistrict_code"] == b["community_code"].str[:9]).all()
    # The road is the nearest named road (in metres).
    named = geo.roads.dropna(subset=["name"])
    rp_m = gpd.GeoSeries(rp, crs=4326).to_crs(4547).to_numpy()
    tree = shapely.STRtree(metric(named).to_numpy())
    bi, ri = tree.query_nearest(rp_m, all_matches=True)
    hit = named["name"].to_numpy()[ri] == b["road"].to_numpy()[bi]
    assert pd.Series(hit).groupby(bi).any().mean() > 0.99  # near-equal distances aside


def test_house_numbers_run_along_the_road_odd_and_even(geo: Geography) -> None:
    b = geo.buildings
    num = b["house_number"].astype(int)
    assert (num % 2 == 1).any() and (num % 2 == 0).any()


# ---------------------------------------------------------------- facilities


def test_facilities(geo: Geography) -> None:
    f = geo.facilities
    assert f["id"].tolist() == [f"F{k:05d}" for k in range(1, len(f) + 1)]
    counts = f["facility_type"].value_counts()
    assert counts["district_service_centre"] == 1
    assert counts["subdistrict_service_centre"] == 10
    assert counts["community_station"] == 109
    assert counts["hospital"] == 3
    assert 6 <= counts["fire_station"] <= 10
    assert 30 <= counts["health_centre"] <= 50
    assert 60 <= counts["school"] <= 100
    assert counts["parking"] == parking_count(SCALE)
    assert f["capacity"].dtype.kind == "i" and (f["capacity"] > 0).all()
    park = f[f["facility_type"] == "parking"]["capacity"]
    assert park.between(50, 1500).all()
    assert set(f.loc[f["facility_type"] == "hospital", "name"]) == {
        "罗湖区人民医院", "罗湖区中医院", "罗湖区妇幼保健院"}
    centre = f.loc[f["facility_type"] == "district_service_centre", "name"]
    assert centre.tolist() == ["罗湖区政务服务中心"]
    assert f["community_code"].notna().all()
    # Every point lies in the community of its code.
    coms = geo.communities.set_index("code").geometry
    assert shapely.covers(coms.loc[f["community_code"]].to_numpy(),
                          f.geometry.to_numpy()).all()
    # Service centres sit in their own unit.
    subs = geo.subdistricts.set_index("name")["code"]
    sc = f[f["facility_type"] == "subdistrict_service_centre"]
    assert (sc["name"].str.removesuffix("党群服务中心").map(subs) == sc["subdistrict_code"]).all()
    shorts = geo.communities.set_index("short_name")["code"]
    cs = f[f["facility_type"] == "community_station"]
    assert (cs["name"].str.removesuffix("党群服务中心").map(shorts) == cs["community_code"]).all()
    # Facilities in a building are inside it and share its address.
    inb = f.dropna(subset=["building_id"])
    assert len(inb) > 0
    b = geo.buildings.set_index("id")
    assert shapely.covers(b.loc[inb["building_id"]].geometry.to_numpy(),
                          inb.geometry.to_numpy()).all()
    b_addr = b.loc[inb["building_id"], "address_id"].to_numpy()
    assert (inb["address_id"].to_numpy() == b_addr).all()
    assert f.loc[f["building_id"].isna(), "address_id"].isna().all()


# ---------------------------------------------------------------- terrain


def test_terrain_has_wutong_mountain_and_low_rivers(geo: Geography) -> None:
    t = geo.terrain
    z = t.elevation
    assert z.dtype == np.float32
    assert abs(t.transform.a - 0.0003) < 1e-12 and abs(t.transform.e + 0.0003) < 1e-12
    west, south, east, north = t.bounds
    assert west < 114.061 and east > 114.215 and south < 22.530 and north > 22.619
    r, c = np.unravel_index(int(np.argmax(z)), z.shape)
    lon, lat = t.transform @ (c + 0.5, r + 0.5)
    assert abs(lon - 114.2075) < 0.006 and abs(lat - 22.5825) < 0.006
    assert 900.0 < float(z.max()) < 1000.0
    assert abs(float(t.elevation_at(114.2075, 22.5825)) - 944.0) < 60.0
    # Low ground by 深圳河 and 布吉河 in the south-west.
    low = t.elevation_at(np.array([114.118, 22.540, 114.105]), np.array([22.536, 22.560, 22.545]))
    assert low.shape == (3,)
    assert (t.elevation_at([114.118, 114.105], [22.536, 22.545]) < 15.0).all()
    # Smooth: neighbouring pixels differ by far less than a cliff.
    assert np.abs(np.diff(z, axis=0)).max() < 120.0 and np.abs(np.diff(z, axis=1)).max() < 120.0


def test_terrain_geotiff(geo: Geography, tmp_path: Path) -> None:
    path = geo.terrain.write_geotiff(tmp_path / "terrain.tif")
    with rasterio.open(path) as src:
        assert src.crs.to_epsg() == 4326
        assert src.count == 1 and src.dtypes[0] == "float32"
        assert src.nodata is not None
        assert src.compression is not None and src.compression.value.lower() == "deflate"
        assert abs(src.res[0] - 0.0003) < 1e-9
        np.testing.assert_array_equal(src.read(1), geo.terrain.elevation)
    again = geo.terrain.write_geotiff(tmp_path / "again.tif")
    assert path.read_bytes() == again.read_bytes()


# ---------------------------------------------------------------- determinism


def frames_equal(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame) -> bool:
    if not a.drop(columns="geometry").equals(b.drop(columns="geometry")):
        return False
    return bool((shapely.to_wkb(a.geometry.to_numpy()) == shapely.to_wkb(b.geometry.to_numpy()))
                .all())


def test_same_seed_same_frames_other_seed_differs(geo: Geography) -> None:
    again = build_geography(SEED, SCALE)
    for kind, frame in geo.frames().items():
        pd.testing.assert_frame_equal(frame.drop(columns="geometry"),
                                      again.frames()[kind].drop(columns="geometry"))
        assert frames_equal(frame, again.frames()[kind]), kind
    np.testing.assert_array_equal(geo.terrain.elevation, again.terrain.elevation)
    other = build_geography(SEED + 1, SCALE)
    for kind in ("community", "road", "building", "facility"):
        a, b = geo.frames()[kind], other.frames()[kind]
        assert len(a) != len(b) or not frames_equal(a, b), kind
    # The outline stays the real one (it only gains vertices where other borders meet it).
    a, b = geo.district.geometry.iloc[0], other.district.geometry.iloc[0]
    assert shapely.symmetric_difference(a, b).area < 1e-5 * a.area


# ---------------------------------------------------------------- full scale


@pytest.mark.slow
def test_full_scale_buildings() -> None:
    geo = build_geography(SEED, 1.0, progress=lambda _msg: None)
    b = geo.buildings
    assert len(b) == building_count(1.0) == 24000
    check_buildings(geo)
    assert b["address"].is_unique and b["address_id"].is_unique
    share = b["use"].value_counts(normalize=True)
    assert 0.5 < share["residential"] < 0.7
    for use in ("office", "commercial", "industrial", "public", "mixed"):
        assert share[use] > 0.02, use
    # Industrial is concentrated in 笋岗/清水河; offices along 深南东路/人民南路.
    ind = b[b["use"] == "industrial"]["subdistrict_code"].isin(["440303006", "440303010"])
    assert ind.mean() > 0.5
    # Denser in the old town (west) than in the east.
    per_km2 = (b.groupby("subdistrict_code").size()
               / geo.subdistricts.set_index("code")["area_km2"])
    assert per_km2["440303003"] > 3 * per_km2["440303008"]  # 东门 vs 莲塘
    assert (b["valid_to"].notna().mean()) < 0.03
    assert (b["year_built"] >= 2019).mean() > 0.02
    assert len(geo.facilities[geo.facilities["facility_type"] == "parking"]) == 300

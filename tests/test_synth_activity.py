"""Synthetic enterprises, industrial space, events, sensors and readings (data/synth/activity.py).

Runs on the fake geography of ``tests/test_synth_people.py`` (loaded by path, so
it works whether or not ``tests`` is a package).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from data.synth.activity import (
    SECTIONS,
    SENSOR_TYPES,
    build_enterprises,
    build_events,
    build_industrial_spaces,
    build_readings,
    build_sensors,
    storm_calendar,
    uscc_check_index,
)
from data.synth.people import build_houses

_spec = importlib.util.spec_from_file_location(
    "_synth_people_fixtures", Path(__file__).with_name("test_synth_people.py"))
assert _spec is not None and _spec.loader is not None
_people_tests = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_people_tests)
fake_geography = _people_tests.fake_geography
assert_schema = _people_tests.assert_schema

SEED = 11
USCC = "0123456789ABCDEFGHJKLMNPQRTUWXY"


@pytest.fixture(scope="module")
def geo() -> dict[str, gpd.GeoDataFrame]:
    return fake_geography(60)


@pytest.fixture(scope="module")
def houses(geo) -> gpd.GeoDataFrame:
    return build_houses(geo["buildings"], SEED, 0.01)


@pytest.fixture(scope="module")
def enterprises(geo, houses) -> gpd.GeoDataFrame:
    return build_enterprises(geo["buildings"], houses, SEED, 0.02)


@pytest.fixture(scope="module")
def spaces(geo) -> gpd.GeoDataFrame:
    return build_industrial_spaces(geo["buildings"], SEED, 0.01)


@pytest.fixture(scope="module")
def events(geo) -> gpd.GeoDataFrame:
    return build_events(geo["buildings"], geo["roads"], geo["communities"], SEED, 0.01)


@pytest.fixture(scope="module")
def sensors(geo) -> gpd.GeoDataFrame:
    return build_sensors(geo["roads"], geo["water"], geo["buildings"], SEED, 0.01)


@pytest.fixture(scope="module")
def readings(sensors) -> pd.DataFrame:
    return build_readings(sensors, SEED, 0.01)


def _same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    cols = [c for c in a.columns if c != "geometry"]
    same = pd.util.hash_pandas_object(a[cols], index=False).equals(
        pd.util.hash_pandas_object(b[cols], index=False))
    if "geometry" in a.columns:
        same = same and bool(shapely.equals(a.geometry.to_numpy(), b.geometry.to_numpy()).all())
    return same


# --------------------------------------------------------------------------
# enterprises
# --------------------------------------------------------------------------

def test_enterprises_schema_and_count(enterprises):
    assert_schema(enterprises, "enterprise")
    assert len(enterprises) == round(250_000 * 0.02)
    assert enterprises["id"].is_unique and enterprises["id"].iloc[0] == "E0000001"
    assert enterprises["name"].str.fullmatch(r"深圳.+(有限公司|（有限合伙）)").all()
    assert enterprises["name"].nunique() > 0.9 * len(enterprises)


def test_enterprises_in_work_buildings(enterprises, geo, houses):
    b = geo["buildings"].set_index("id")
    use = b.loc[enterprises["building_id"], "use"]
    assert use.isin(["office", "commercial", "industrial", "mixed"]).all()
    assert use.value_counts().idxmax() == "office"
    h = houses.set_index("id")
    with_house = enterprises["house_id"].notna()
    assert with_house.mean() > 0.9
    eh = h.loc[enterprises.loc[with_house, "house_id"]]
    assert eh["use"].isin(["office", "shop"]).all()
    assert (eh["building_id"].to_numpy() == enterprises.loc[with_house, "building_id"]).all()
    assert (eh["address_id"].to_numpy() == enterprises.loc[with_house, "address_id"]).all()
    bb = b.loc[enterprises["building_id"]]
    assert shapely.contains(bb.geometry.to_numpy(), enterprises.geometry.to_numpy()).all()
    assert (bb["community_code"].to_numpy() == enterprises["community_code"]).all()


def test_enterprise_codes_and_figures(enterprises):
    cc = enterprises["credit_code"]
    assert cc.str.fullmatch(r"91440300[0-9A-HJ-NPQRTUWXY]{10}").all()
    assert cc.is_unique
    idx = np.array([[USCC.index(ch) for ch in code] for code in cc])
    assert (uscc_check_index(idx[:, :17]) != idx[:, 17]).all()
    names = {s.letter: s.name for s in SECTIONS}
    assert enterprises["industry"].isin(list(names)).all()
    assert (enterprises["industry_name"] == enterprises["industry"].map(names)).all()
    shares = enterprises["industry"].value_counts(normalize=True)
    assert shares.index[0] == "F" and shares["F"] > 0.2
    assert (enterprises["social_security_headcount"] <= enterprises["employees"]).all()
    assert (enterprises["social_security_headcount"] >= 0).all()
    assert (enterprises["employees"] >= 1).all()
    assert 0.6 < (enterprises["employees"] <= 10).mean() < 0.95
    assert enterprises["employees"].max() >= 100
    assert (enterprises["registered_capital"] > 0).all()
    assert enterprises["tax_band"].isin(["A", "B", "C", "D", "M"]).all()


def test_uscc_check_known_value():
    # 91350100M000100Y43 is the worked example of GB 32100-2015: its check is 3.
    idx = np.array([[USCC.index(ch) for ch in "91350100M000100Y4"]])
    assert USCC[int(uscc_check_index(idx)[0])] == "3"


def test_enterprise_lifetimes(enterprises, geo):
    vf, vt = enterprises["valid_from"], enterprises["valid_to"]
    assert vf.between("1990-01-01", "2025-12-31").all()
    ended = vt.notna()
    assert (vt[ended] > vf[ended]).all()
    assert (vt[ended] <= "2025-12-31").all()
    assert 0.15 < ended.mean() < 0.26
    years = vf.str.slice(0, 4).astype(int)
    assert (years >= 2015).mean() > 0.5  # more recent registrations are more frequent
    b = geo["buildings"].set_index("id").loc[enterprises["building_id"]]
    assert (vf.to_numpy() >= b["valid_from"].to_numpy()).all()


def test_enterprises_deterministic(enterprises, geo, houses):
    assert _same(enterprises, build_enterprises(geo["buildings"], houses, SEED, 0.02))
    assert not _same(enterprises, build_enterprises(geo["buildings"], houses, SEED + 1, 0.02))


# --------------------------------------------------------------------------
# industrial space
# --------------------------------------------------------------------------

def test_spaces_schema(spaces, geo):
    assert_schema(spaces, "industrial_space")
    assert spaces["id"].nunique() == 20
    assert spaces["id"].iloc[0] == "S00001"
    assert spaces["space_type"].isin(["创新型产业用房", "政府物业", "产业园区", "社会物业"]).all()
    assert spaces["use"].isin(["研发", "办公", "生产", "仓储", "商业"]).all()
    use = geo["buildings"].set_index("id").loc[spaces["building_id"], "use"]
    assert use.isin(["industrial", "office", "mixed"]).all()
    small = build_industrial_spaces(geo["buildings"], SEED, 0.0001)
    assert small["id"].nunique() == 5


def test_space_versions_contiguous(spaces):
    quarters = {f"{y}-{m:02d}-01" for y in range(2019, 2026) for m in (1, 4, 7, 10)}
    assert spaces["valid_from"].isin(quarters).all()
    for _, g in spaces.groupby("id"):
        g = g.sort_values("valid_from")
        assert g["valid_from"].is_unique
        assert g["valid_to"].iloc[-1] is None or pd.isna(g["valid_to"].iloc[-1])
        assert (g["valid_to"].iloc[:-1].to_numpy() == g["valid_from"].iloc[1:].to_numpy()).all()
        assert g["valid_from"].iloc[-1] == "2025-10-01"
        assert g[["name", "building_id", "area_m2", "space_type"]].nunique().max() == 1
    counts = spaces.groupby("id").size()
    assert counts.max() == 28


def test_space_figures(spaces):
    assert spaces["vacancy_rate"].between(0, 1).all()
    assert np.allclose(spaces["vacant_area_m2"], spaces["area_m2"] * spaces["vacancy_rate"],
                       atol=0.06)
    assert spaces["rent"].between(40, 200).all()
    # Smooth: quarter-to-quarter changes are small; COVID years higher than 2019.
    s = spaces.sort_values(["id", "valid_from"])
    step = s.groupby("id")["vacancy_rate"].diff().abs().dropna()
    assert step.quantile(0.9) < 0.1
    by_year = s.groupby(s["valid_from"].str.slice(0, 4))["vacancy_rate"].mean()
    assert by_year["2022"] > by_year["2019"]


# --------------------------------------------------------------------------
# events
# --------------------------------------------------------------------------

def test_events_schema_and_times(events):
    assert_schema(events, "event")
    assert len(events) == round(520_000 * 0.01)
    assert events["id"].is_unique and events["id"].iloc[0] == "V00000001"
    occ = events["occurred_at"]
    assert occ.between("2019-01-01T00:00:00Z", "2025-12-31T23:59:59Z").all()
    assert occ.is_monotonic_increasing
    closed = events["closed_at"].notna()
    assert (events.loc[closed, "closed_at"] > occ[closed]).all()
    assert (events.loc[closed, "closed_at"] <= "2025-12-31T23:59:59Z").all()
    assert (closed == (events["status"] == "closed")).all()
    assert closed.mean() > 0.95
    assert (occ[events["status"] == "open"] >= "2025-12-01").all()
    assert (events["geocode_status"] == "resolved").all()
    assert events["sensor_id"].isna().all()
    assert events["source"].isin(["hotline_12345", "grid_patrol", "sensor_alarm"]).all()
    assert events["community_code"].notna().all()
    years = occ.str.slice(0, 4).value_counts()
    assert sorted(years.index) == [str(y) for y in range(2019, 2026)]


def test_events_seasonal_and_daily(events):
    local = pd.to_datetime(events["occurred_at"]) + pd.Timedelta(hours=8)
    hours = local.dt.hour.value_counts()
    assert hours.loc[[9, 10, 16, 17]].sum() > 3 * hours.loc[[2, 3, 4, 5]].sum()
    summer = local.dt.month.isin([6, 7, 8]).mean()
    winter = local.dt.month.isin([12, 1, 2]).mean()
    assert summer > winter


def test_waterlogging_on_storm_days(events):
    cal = storm_calendar(SEED)
    days = set(cal["date"]) | set(
        (pd.to_datetime(cal["date"]) + pd.Timedelta(days=1)).dt.strftime("%Y-%m-%d"))
    w = events[events["category"] == "积水"]
    local = (pd.to_datetime(w["occurred_at"]) + pd.Timedelta(hours=8)).dt.strftime("%Y-%m-%d")
    assert len(w) > 50
    assert local.isin(days).mean() > 0.8
    month = pd.to_datetime(local).dt.month
    assert month.between(4, 10).mean() > 0.9


def test_event_places(events, geo):
    at_b = events["address_id"].notna()
    assert 0.5 < at_b.mean() < 0.9
    by_aid = geo["buildings"].set_index("address_id")
    bb = by_aid.loc[events.loc[at_b, "address_id"]]
    d = shapely.distance(bb.geometry.to_numpy(), events.loc[at_b].geometry.to_numpy())
    assert (d * 111_000 < 40).all()
    assert (bb["community_code"].to_numpy() == events.loc[at_b, "community_code"]).all()
    # Road events lie on (or within a few tens of metres of) a road.
    roads = shapely.union_all(geo["roads"].geometry.to_numpy())
    rd = shapely.distance(events.loc[~at_b].geometry.to_numpy(), roads) * 111_000
    assert np.quantile(rd, 0.99) < 60


def test_address_text_messy_but_real(events, geo):
    text = events["address_text"]
    assert text.str.len().min() >= 2
    full_width = text.str.contains("[０-９Ａ-Ｚ]")
    cn_digits = text.str.contains("[零〇一二三四五六七八九]{3,}")
    spaces_ = text.str.contains("[ 　]")
    crossing = text.str.contains("交叉口|交汇处|路口")
    hotline_words = text.str.contains("市民|来电|投诉|反映")
    for share in (full_width, cn_digits, spaces_, crossing):
        assert 0.01 < share.mean() < 0.6
    assert hotline_words[events["source"] == "hotline_12345"].mean() > 0.6
    assert hotline_words[events["source"] == "grid_patrol"].mean() == 0
    # Levels appear in several spellings and are often missing.
    assert 0.05 < text.str.contains("罗湖区").mean() < 0.8
    assert text.str.contains("罗湖(?!区)").mean() > 0.02
    assert 0.05 < text.str.contains("街道").mean() < 0.6
    # Building events mention the real road, estate or building name (typos aside).
    by_aid = geo["buildings"].set_index("address_id")
    at_b = events["address_id"].notna()
    bb = by_aid.loc[events.loc[at_b, "address_id"]]
    hits = [any(part and part in t for part in parts) for t, parts in zip(
        text[at_b], zip(bb["road"], bb["estate"], bb["name"], strict=True), strict=True)]
    assert np.mean(hits) > 0.93
    assert np.mean(hits) < 1.0  # some have a typo in the road and no estate
    assert events["description"].str.len().between(2, 120).all()


def test_events_deterministic(events, geo):
    again = build_events(geo["buildings"], geo["roads"], geo["communities"], SEED, 0.01)
    assert _same(events, again)
    other = build_events(geo["buildings"], geo["roads"], geo["communities"], SEED + 1, 0.01)
    assert not _same(events, other)


# --------------------------------------------------------------------------
# sensors and readings
# --------------------------------------------------------------------------

def test_sensors(sensors, geo):
    assert_schema(sensors, "sensor")
    counts = sensors["sensor_type"].value_counts()
    assert counts["outfall_flow"] == 170
    assert counts["rainwater_pipe_flow"] == 100
    assert counts["waterlogging"] == 21
    assert counts["water_quality"] == 11
    fire = counts.reindex(["smoke", "temperature", "electrical_fire"]).fillna(0)
    assert fire.sum() == 15 and (fire >= 4).all()
    assert sensors["id"].iloc[0] == "N0001" and sensors["id"].is_unique
    assert (sensors["unit"] == sensors["sensor_type"].map(
        {k: v.unit for k, v in SENSOR_TYPES.items()})).all()
    assert (sensors["threshold"] > 0).all()
    water_names = set(geo["water"]["name"])
    water = sensors["sensor_type"].isin(["outfall_flow", "rainwater_pipe_flow", "water_quality"])
    assert sensors.loc[water, "water_body"].isin(water_names).all()
    quality = sensors[sensors["sensor_type"] == "water_quality"]
    assert (quality["water_body"] == "深圳水库").sum() == 3
    # Outfalls sit on the river banks.
    rivers = geo["water"][geo["water"]["water_type"] == "river"].geometry.to_numpy()
    out = sensors[sensors["sensor_type"] == "outfall_flow"].geometry.to_numpy()
    d = shapely.distance(out[:, None], rivers[None, :]).min(axis=1) * 111_000
    assert (d < 1).all()
    big = build_sensors(geo["roads"], geo["water"], geo["buildings"], SEED, 1.0)
    assert len(big) == 302 + 150


def test_readings_schema_and_alerts(readings, sensors):
    assert_schema(readings, "reading")
    assert readings["sensor_id"].isin(sensors["id"]).all()
    per = readings.groupby("sensor_id").size()
    assert per.nunique() == 1 and len(per) == len(sensors)
    assert (readings["ts"] % 3600 == 0).all()
    thr = readings["sensor_id"].map(sensors.set_index("id")["threshold"])
    assert (readings["alert"] == (readings["value"] > thr).astype(int)).all()
    assert readings["value"].notna().all()


def test_readings_cross_thresholds_in_storms(readings, sensors):
    cal = storm_calendar(SEED, 2024, 2024)
    storm_days = set(cal["date"]) | set(
        (pd.to_datetime(cal["date"]) + pd.Timedelta(days=1)).dt.strftime("%Y-%m-%d"))
    local_day = pd.to_datetime(readings["ts"] + 8 * 3600, unit="s").dt.strftime("%Y-%m-%d")
    stype = readings["sensor_id"].map(sensors.set_index("id")["sensor_type"])
    in_storm = local_day.isin(storm_days)
    for kind in ("outfall_flow", "rainwater_pipe_flow", "waterlogging"):
        m = stype == kind
        alerts = readings.loc[m, "alert"]
        assert alerts[in_storm[m]].sum() > 0, kind
        # Every sensor of the kind alarms at least once in a storm.
        assert readings.loc[m & in_storm].groupby("sensor_id")["alert"].max().mean() > 0.9
        assert alerts[~in_storm[m]].mean() < 0.01, kind
    wq = readings[stype == "water_quality"]
    hour = pd.to_datetime(wq["ts"] + 8 * 3600, unit="s").dt.hour
    by_hour = wq[~in_storm[stype == "water_quality"].to_numpy()].groupby(hour)["value"].mean()
    assert by_hour.max() > by_hour.min() * 1.1  # diurnal cycle


def test_readings_full_year_and_sampling(sensors):
    few = sensors.iloc[[0, 200, 301, 310]]
    full = build_readings(few, SEED, 1.0)
    assert len(full) == 4 * 8784  # 2024 is a leap year
    assert full["ts"].min() == int(pd.Timestamp("2023-12-31T16:00:00Z").timestamp())
    y2023 = build_readings(few, SEED, 1.0, year=2023)
    assert len(y2023) == 4 * 8760
    sampled = build_readings(few, SEED, 0.1)
    assert 4 * 24 * 37 <= len(sampled) < 4 * 24 * 70


def test_readings_deterministic(readings, sensors):
    assert _same(readings, build_readings(sensors, SEED, 0.01))
    assert not _same(readings, build_readings(sensors, SEED + 1, 0.01))

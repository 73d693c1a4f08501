"""Parking occupancy of the demo: one occupancy sensor per parking lot and its hourly counts.

Each ``parking`` facility gets a sensor (kind ``sensor``, ``sensor_type``
``parking_occupancy``, id ``PK-<facility id>``, ``threshold`` = the lot's
capacity) and hourly readings of the occupied spaces over the last eight weeks
of the demo year. Lots under buildings (estates, offices) fill at night and
empty by day; surface public lots do the opposite, busier on weekdays; at the
peak some lots are full. ``alert`` is 1 when the lot is full. Deterministic
for a seed.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from data.synth.people import day_number, finish_frame, rng_for

STAGE_PARKING = 1301
#: Prefix of the sensor id of a parking lot (followed by the facility id).
SENSOR_PREFIX = "PK-"
SENSOR_TYPE = "parking_occupancy"
#: The readings cover these days (local time).
FIRST_DAY, LAST_DAY = "2024-11-04", "2024-12-31"
_LOCAL_OFFSET_S = 8 * 3600  # China Standard Time


def build_parking_sensors(facilities: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One occupancy sensor at each parking lot (kind ``sensor``)."""
    lots = facilities[facilities["facility_type"] == "parking"].reset_index(drop=True)
    n = len(lots)
    pts = lots.geometry.to_numpy()
    columns = {
        "id": np.array([SENSOR_PREFIX + str(i) for i in lots["id"]], dtype=object),
        "address_id": lots["address_id"].to_numpy(dtype=object) if "address_id" in lots
        else np.full(n, None, dtype=object),
        "subdistrict_code": lots["subdistrict_code"].to_numpy(dtype=object),
        "community_code": lots["community_code"].to_numpy(dtype=object),
        "valid_from": np.array([max(str(v), "2018-01-01") for v in lots["valid_from"]],
                               dtype=object),
        "valid_to": np.full(n, None, dtype=object),
        "name": np.array([f"{name}车位监测" for name in lots["name"]], dtype=object),
        "sensor_type": np.full(n, SENSOR_TYPE, dtype=object),
        "unit": np.full(n, "spaces", dtype=object),
        "threshold": lots["capacity"].to_numpy(dtype=np.float64),
        "water_body": np.full(n, None, dtype=object),
    }
    x = np.array([p.x for p in pts], dtype=np.float64)
    y = np.array([p.y for p in pts], dtype=np.float64)
    out = finish_frame("sensor", columns, x, y)
    assert isinstance(out, gpd.GeoDataFrame)
    return out


def occupancy_profile(hour: np.ndarray, weekday: np.ndarray, under_building: np.ndarray
                      ) -> np.ndarray:
    """Expected share of spaces taken (lots × hours) by local hour and weekday (0 = Monday)."""
    h = hour[None, :].astype(np.float64)
    work = (weekday[None, :] < 5).astype(np.float64)
    night = 0.5 + 0.5 * np.cos(2 * np.pi * (h - 1.0) / 24.0)  # 1 at 01:00, 0 at 13:00
    day = np.clip(np.sin(np.pi * (h - 7.0) / 13.0), 0.0, None)  # 07:00-20:00
    resident = 0.35 + 0.7 * night
    public = 0.15 + (0.75 + 0.25 * work) * day
    return np.where(under_building[:, None], resident, public)


def build_parking_readings(sensors: pd.DataFrame, facilities: gpd.GeoDataFrame,
                           seed: int) -> pd.DataFrame:
    """Hourly occupied spaces of every parking sensor from FIRST_DAY to LAST_DAY (kind reading)."""
    s = sensors[sensors["sensor_type"] == SENSOR_TYPE].reset_index(drop=True)
    rng = rng_for(seed, STAGE_PARKING)
    lots = facilities.set_index(facilities["id"].astype(str))
    fac_id = [str(i)[len(SENSOR_PREFIX):] for i in s["id"]]
    under = np.array([lots.loc[f, "building_id"] is not None
                      and not pd.isna(lots.loc[f, "building_id"]) for f in fac_id], dtype=bool)
    cap = s["threshold"].to_numpy(dtype=np.float64)
    d0, d1 = day_number(FIRST_DAY), day_number(LAST_DAY)
    hours = np.arange((d1 - d0 + 1) * 24)
    day = d0 + hours // 24
    hod = hours % 24
    weekday = (day + 3) % 7  # day 0 = 1970-01-01, a Thursday
    level = rng.uniform(0.75, 1.15, len(s))[:, None]
    share = occupancy_profile(hod, weekday, under) * level
    share = share + rng.normal(0.0, 0.05, share.shape)
    occupied = np.clip(np.round(share * cap[:, None]), 0, cap[:, None])
    ts = d0 * 86400 - _LOCAL_OFFSET_S + hours.astype(np.int64) * 3600
    columns = {
        "sensor_id": np.repeat(s["id"].to_numpy(dtype=object), len(hours)),
        "ts": np.tile(ts, len(s)),
        "value": occupied.ravel(),
        "alert": (occupied >= cap[:, None]).astype(np.int64).ravel(),
    }
    return finish_frame("reading", columns)

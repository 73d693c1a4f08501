"""Inputs and shared data of the network analyses: checked points, minutes, modes,
facility types, facilities and the residents of each building at a date."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from gis.crs import to_metric
from gis.errors import InvalidQuery
from gis.network import MODES, Mode, RoadNetwork
from gis.store.base import Store

#: Facility types of the store (``facility.facility_type``).
FACILITY_TYPES = ("community_station", "subdistrict_service_centre", "district_service_centre",
                  "fire_station", "hospital", "health_centre", "school", "parking")
#: Other names accepted for a facility type.
FACILITY_ALIASES = {"subdistrict_centre": "subdistrict_service_centre",
                    "district_centre": "district_service_centre"}
#: Longest travel time an analysis accepts (minutes).
MAX_MINUTES = 120.0


def check_mode(value: Any) -> Mode:
    """``walk`` or ``drive``."""
    if value not in MODES:
        raise InvalidQuery(f"unknown mode {value!r}; use one of {', '.join(MODES)}")
    return value  # type: ignore[no-any-return]


def check_point(value: Any, name: str) -> tuple[float, float]:
    """A ``[lon, lat]`` pair of finite numbers in range."""
    if isinstance(value, dict) and value.get("type") == "Point":
        value = value.get("coordinates")
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        raise InvalidQuery(f"{name} must be [lon, lat]")
    try:
        lon, lat = float(value[0]), float(value[1])
    except (TypeError, ValueError):
        raise InvalidQuery(f"{name} must be [lon, lat] numbers") from None
    if not (np.isfinite(lon) and np.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidQuery(f"{name} is out of the lon/lat range")
    return lon, lat


def check_minutes(value: Any, name: str = "minutes") -> list[float]:
    """One or more travel times in minutes, each in (0, MAX_MINUTES]."""
    values = value if isinstance(value, list | tuple) else [value]
    if not values:
        raise InvalidQuery(f"{name} must not be empty")
    out = []
    for v in values:
        if isinstance(v, bool):
            raise InvalidQuery(f"{name} must be numbers")
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise InvalidQuery(f"{name} must be numbers") from None
        if not np.isfinite(f) or f <= 0 or f > MAX_MINUTES:
            raise InvalidQuery(f"{name} must be more than 0 and at most {MAX_MINUTES:g}")
        out.append(f)
    return sorted(set(out))


def check_k(value: Any, name: str = "k", hi: int = 50) -> int:
    """A whole number from 1 to ``hi``."""
    if isinstance(value, bool):
        raise InvalidQuery(f"{name} must be an integer")
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise InvalidQuery(f"{name} must be an integer") from None
    if not np.isfinite(f) or f != int(f):
        raise InvalidQuery(f"{name} must be an integer")
    if not 1 <= int(f) <= hi:
        raise InvalidQuery(f"{name} must be from 1 to {hi}")
    return int(f)


def check_facility_type(value: Any) -> str:
    """A known facility type (aliases accepted)."""
    name = FACILITY_ALIASES.get(str(value), value)
    if name not in FACILITY_TYPES:
        raise InvalidQuery(f"unknown facility_type {value!r}; use one of "
                           f"{', '.join(FACILITY_TYPES)}")
    return str(name)


def metric_xy(geoms: npt.NDArray[Any]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Metric coordinates of a point inside each geometry (WGS84 in)."""
    if len(geoms) == 0:
        return np.zeros(0), np.zeros(0)
    pts = shapely.point_on_surface(np.asarray(geoms, dtype=object))
    c = shapely.get_coordinates(pts)
    return to_metric(c[:, 0], c[:, 1])


def facilities(store: Store, ftype: str, day: str) -> gpd.GeoDataFrame:
    """Facilities of one type open at ``day``."""
    return store.query("facility", as_of=day, where={"facility_type": ftype},
                       columns=["id", "name", "facility_type", "capacity", "building_id"],
                       order_by=["id"])


@dataclass(frozen=True)
class Located:
    """Points joined to a network: segment and fraction (segment -1: none)."""

    seg: npt.NDArray[np.int64]
    t: npt.NDArray[np.float64]
    distance_m: npt.NDArray[np.float64]

    def ok(self) -> npt.NDArray[np.bool_]:
        """Points that reached a segment."""
        return self.seg >= 0


def locate(net: RoadNetwork, geoms: npt.NDArray[Any]) -> Located:
    """Join points (or polygons, through a point inside) to the nearest segment."""
    x, y = metric_xy(geoms)
    seg, t, d = net.snap_many(x, y)
    return Located(seg, t, d)


@dataclass(frozen=True)
class Residents:
    """Buildings standing at a date with their residents."""

    buildings: gpd.GeoDataFrame  # id, community_code, block, geometry, population


def residents(store: Store, day: str) -> Residents:
    """Buildings at ``day`` with the number of persons registered in each.

    The persons are counted inside the store (an aggregate grouped by
    ``building_id`` over res-7 blocks, then summed), not read row by row: on
    the full-scale demo reading a million persons through ``query`` took about
    10 s, the grouped count about half of that.
    """
    b = store.query("building", as_of=day, columns=["id", "community_code", "block", "use"])
    agg = store.block_aggregate("person", res=7, as_of=day, by="building_id")
    counts = agg.groupby("building_id")["count"].sum() if len(agg) else pd.Series(dtype=int)
    b = b.reset_index(drop=True)
    b["population"] = b["id"].map(counts).fillna(0).astype(np.int64)
    return Residents(b)

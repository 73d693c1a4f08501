"""Renewal impact: what an urban-renewal area holds at a date.

Buildings and their floor area by use, households and persons by age band,
enterprises by industry with employees, industrial spaces, facilities, and
events in the 12 months up to the date. Entities are selected by the store
(R-tree candidates, exact intersection with the area).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from gis.analysis.common import (
    age_bands,
    as_of_date,
    grouped_sum,
    suppress_counts,
    value_counts,
    year_before,
)
from gis.crs import METRIC_CRS, transformer
from gis.errors import InvalidGeometry
from gis.store.base import Store

#: Largest area accepted (km²): the whole district is about 79 km².
MAX_AREA_KM2 = 100.0


@dataclass(frozen=True)
class RenewalImpactInput:
    """A renewal area (WGS84 polygon) and the date of the assessment."""

    area: BaseGeometry
    as_of: str | date | None = None


@dataclass(frozen=True)
class RenewalImpact:
    """Impact figures of a renewal area; person-derived figures may be suppressed (None)."""

    as_of: str
    area_km2: float
    buildings: int
    buildings_by_use: dict[str, int]
    floor_area_m2: float
    floor_area_by_use_m2: dict[str, float]
    houses: int
    households: int | None
    persons: int | None
    persons_by_age_band: dict[str, int | None]
    enterprises: int
    enterprises_by_industry: dict[str, int]
    employees: int
    employees_by_industry: dict[str, float]
    industrial_spaces: int
    industrial_area_m2: float
    industrial_vacant_m2: float
    facilities: int
    facilities_by_type: dict[str, int]
    events_last_12_months: int
    events_by_category: dict[str, int]
    suppressed: bool = False
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    def suppressed_copy(self, k: int) -> RenewalImpact:
        """The result with person-derived counts below k hidden (k-anonymity)."""
        def one(v: int | None) -> int | None:
            return None if v is not None and 0 < v < k else v

        return replace(self, persons=one(self.persons), households=one(self.households),
                       persons_by_age_band=suppress_counts(self.persons_by_age_band, k),
                       suppressed=True,
                       notes=[*self.notes, f"person counts from 1 to {k - 1} are suppressed"])


def area_km2(geom: BaseGeometry) -> float:
    """Area of a WGS84 geometry in km² (in EPSG:4547)."""
    fwd = transformer("EPSG:4326", METRIC_CRS)
    metric = shapely.transform(geom, lambda xy: np.column_stack(
        fwd.transform(xy[:, 0], xy[:, 1])))
    return float(metric.area) / 1e6


def renewal_impact(store: Store, inp: RenewalImpactInput) -> RenewalImpact:
    """Impact of a renewal area at ``as_of`` (today by default)."""
    geom = inp.area
    if not isinstance(geom, shapely.Geometry) or geom.is_empty:
        raise InvalidGeometry("the renewal area must be a non-empty polygon")
    if shapely.get_type_id(geom) not in (3, 6):
        raise InvalidGeometry("the renewal area must be a Polygon or MultiPolygon")
    if not geom.is_valid:
        raise InvalidGeometry(f"invalid renewal area: {shapely.is_valid_reason(geom)}")
    km2 = area_km2(geom)
    if km2 > MAX_AREA_KM2:
        raise InvalidGeometry(f"the renewal area is larger than {MAX_AREA_KM2:.0f} km²")
    day = as_of_date(inp.as_of)
    year = int(day[:4])
    b = store.query("building", within=geom, as_of=day, columns=["use", "floor_area_m2"])
    b = b.assign(floor_area_m2=pd.to_numeric(b["floor_area_m2"], errors="coerce").fillna(0.0))
    houses = store.count("house", within=geom, as_of=day)
    p = store.query("person", within=geom, as_of=day, columns=["birth_date", "household_id"])
    e = store.query("enterprise", within=geom, as_of=day, columns=["industry", "employees"])
    e = e.assign(employees=pd.to_numeric(e["employees"], errors="coerce").fillna(0))
    s = store.query("industrial_space", within=geom, as_of=day,
                    columns=["area_m2", "vacant_area_m2"])
    f = store.query("facility", within=geom, as_of=day, columns=["facility_type"])
    ev = store.query("event", within=geom, as_of=year_before(day), columns=["category"])
    return RenewalImpact(
        as_of=day, area_km2=round(km2, 4),
        buildings=len(b), buildings_by_use=value_counts(b["use"]),
        floor_area_m2=round(float(b["floor_area_m2"].sum()), 2),
        floor_area_by_use_m2=grouped_sum(b, "use", "floor_area_m2"),
        houses=int(houses),
        households=int(p["household_id"].dropna().nunique()),
        persons=len(p), persons_by_age_band=dict(age_bands(p["birth_date"], year)),
        enterprises=len(e), enterprises_by_industry=value_counts(e["industry"]),
        employees=int(e["employees"].sum()),
        employees_by_industry=grouped_sum(e, "industry", "employees"),
        industrial_spaces=len(s),
        industrial_area_m2=round(float(pd.to_numeric(s["area_m2"]).fillna(0).sum()), 2),
        industrial_vacant_m2=round(float(pd.to_numeric(s["vacant_area_m2"]).fillna(0).sum()), 2),
        facilities=len(f), facilities_by_type=value_counts(f["facility_type"]),
        events_last_12_months=len(ev), events_by_category=value_counts(ev["category"]),
    )

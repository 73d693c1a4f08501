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


# ---------------------------------------------------------------------------
# the public view: person figures over whole H3 blocks (issue 16, differencing)

#: Resolution of the blocks public person figures are computed over (~0.1 km²).
PUBLIC_BLOCK_RES = 9


def touched_blocks(area: BaseGeometry, res: int = PUBLIC_BLOCK_RES) -> list[int]:
    """The H3 cells at ``res`` that the area overlaps (by geometry only, never by data)."""
    import h3

    shape = h3.geo_to_h3shape(shapely.geometry.mapping(area))
    return sorted(h3.str_to_int(c) for c in
                  h3.h3shape_to_cells_experimental(shape, res, contain="overlap"))


def whole_block_cover(area: BaseGeometry, res: int) -> tuple[list[int], BaseGeometry]:
    """The cells at ``res`` that ``area`` overlaps and a polygon covering them whole.

    The cover is a hair wider than the cells: a person on a block's edge is then
    inside it, and belongs to exactly one block by its own cell.
    """
    import h3
    from shapely.geometry import Polygon

    cells = touched_blocks(area, res)
    polys = [Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(h3.int_to_str(c))])
             for c in cells]
    return cells, shapely.union_all(polys).buffer(1e-7)


def public_impact(store: Store, inp: RenewalImpactInput, result: RenewalImpact,
                  k: int) -> RenewalImpact:
    """The impact as the public may see it: person figures that resist differencing.

    k-anonymity per answer is not enough: two nested areas that differ by one
    building give its residents by subtraction. For the public, persons,
    households and age bands are therefore counted over the *whole* H3 res-9
    blocks the area overlaps (chosen from the area's geometry alone), and each
    block's figure below ``k`` is left out (each age band per block likewise).
    Every answer is then a sum of per-block figures that are 0 or ≥ k, and any
    two answers differ by whole blocks: nested areas inside the same blocks get
    identical answers and a difference is at best a block figure (≥ k), which
    the public block aggregates show anyway. Non-person figures stay exact.
    docs/security.md, "The public never sees a person".
    """

    from gis.h3cells import lnglat_to_cells

    cells, cover = whole_block_cover(inp.area, PUBLIC_BLOCK_RES)
    p = store.query("person", within=cover, as_of=result.as_of,
                    columns=["birth_date", "household_id"])
    year = int(result.as_of[:4])
    persons = households = 0
    bands = dict.fromkeys(age_bands(p["birth_date"].iloc[:0], year), 0)
    hidden: set[str] = set()  # figures with a block left out (0 would then be a lie)
    if len(p):
        xy = shapely.get_coordinates(np.asarray(p.geometry.values))
        own = lnglat_to_cells(xy[:, 0], xy[:, 1], PUBLIC_BLOCK_RES)
        p = p.assign(_cell=own)[np.isin(own, np.asarray(cells, dtype=np.int64))]
        for _, grp in p.groupby("_cell"):
            n = len(grp)
            if n >= k:
                persons += n
            elif n:
                hidden.add("persons")
            hh = int(grp["household_id"].dropna().nunique())
            if hh >= k:
                households += hh
            elif hh:
                hidden.add("households")
            for band, m in age_bands(grp["birth_date"], year).items():
                if m >= k:
                    bands[band] += m
                elif m:
                    hidden.add(band)

    def shown(name: str, total: int) -> int | None:
        # all of it left out: suppressed (None), as a per-answer rule would say
        return None if total == 0 and name in hidden else total

    return replace(result, persons=shown("persons", persons),
                   households=shown("households", households),
                   persons_by_age_band={b: shown(b, v) for b, v in bands.items()},
                   suppressed=True,
                   notes=[*result.notes,
                          f"public: persons and households are counted over the {len(cells)} "
                          f"whole H3 res-{PUBLIC_BLOCK_RES} blocks the area overlaps; "
                          f"block figures below {k} are left out"])

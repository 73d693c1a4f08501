"""Block portrait: what one H3 block holds at a date (population, enterprises, buildings...)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from gis.analysis.common import (
    age_bands,
    as_of_date,
    grouped_sum,
    suppress_counts,
    value_counts,
    year_before,
)
from gis.errors import InvalidQuery
from gis.h3cells import (
    AGGREGATE_RES,
    cell_parent,
    cell_resolution,
    cell_to_str,
    lnglat_to_cells,
    str_to_cell,
)
from gis.store.base import Store


@dataclass(frozen=True)
class BlockPortraitInput:
    """A block by H3 id (``cell``, hex) or by a point (``lon``/``lat`` and ``res``)."""

    cell: str | None = None
    lon: float | None = None
    lat: float | None = None
    res: int = 9
    as_of: str | date | None = None

    def resolve_cell(self) -> int:
        """The integer cell this input designates."""
        if self.cell is not None:
            try:
                cell = str_to_cell(self.cell)
            except ValueError:
                raise InvalidQuery(f"not an H3 cell: {self.cell!r}") from None
            if int(cell_resolution(np.int64(cell))) not in AGGREGATE_RES:
                raise InvalidQuery("the block's resolution must be 7-12")
            return cell
        if self.lon is None or self.lat is None:
            raise InvalidQuery("give a block id (cell) or a point (lon, lat)")
        if self.res not in AGGREGATE_RES:
            raise InvalidQuery("res must be 7-12")
        if not (-180 <= self.lon <= 180 and -90 <= self.lat <= 90):
            raise InvalidQuery("lon/lat out of range")
        # Blocks are parents of the stored res-15 cells (docs/core-decisions.md).
        return int(cell_parent(lnglat_to_cells([self.lon], [self.lat]), self.res)[0])


@dataclass(frozen=True)
class BlockPortrait:
    """Counts and breakdowns of one block at ``as_of``.

    Person-derived figures (``population``, ``population_by_age_band``,
    ``population_by_sex``, ``households``) may be None when suppressed.
    """

    cell: str
    res: int
    as_of: str
    population: int | None
    population_by_age_band: dict[str, int | None]
    population_by_sex: dict[str, int | None]
    households: int | None
    houses: int
    houses_by_use: dict[str, int]
    buildings: int
    buildings_by_use: dict[str, int]
    floor_area_by_use_m2: dict[str, float]
    enterprises: int
    enterprises_by_industry: dict[str, int]
    employees: int
    events_last_12_months: int
    events_by_category: dict[str, int]
    industrial_spaces: int
    industrial_area_m2: float
    industrial_vacant_m2: float
    industrial_vacancy_rate: float | None
    suppressed: bool = False
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    def suppressed_copy(self, k: int) -> BlockPortrait:
        """The portrait with person-derived counts below k hidden (k-anonymity)."""
        def one(v: int | None) -> int | None:
            return None if v is not None and 0 < v < k else v

        return replace(
            self, population=one(self.population), households=one(self.households),
            population_by_age_band=suppress_counts(self.population_by_age_band, k),
            population_by_sex=suppress_counts(self.population_by_sex, k), suppressed=True,
            notes=[*self.notes, f"person counts from 1 to {k - 1} are suppressed"])


def block_portrait(store: Store, inp: BlockPortraitInput) -> BlockPortrait:
    """The portrait of one block (every figure from the store, by the block's cell range)."""
    cell = inp.resolve_cell()
    day = as_of_date(inp.as_of)
    year = int(day[:4])
    persons = store.query("person", cell=cell, as_of=day,
                          columns=["sex", "birth_date", "household_id"])
    houses = store.query("house", cell=cell, as_of=day, columns=["use"])
    buildings = store.query("building", cell=cell, as_of=day, columns=["use", "floor_area_m2"])
    ents = store.query("enterprise", cell=cell, as_of=day, columns=["industry", "employees"])
    events = store.query("event", cell=cell, as_of=year_before(day), columns=["category"])
    spaces = store.query("industrial_space", cell=cell, as_of=day,
                         columns=["area_m2", "vacant_area_m2"])
    area = float(pd.to_numeric(spaces["area_m2"], errors="coerce").fillna(0).sum())
    vacant = float(pd.to_numeric(spaces["vacant_area_m2"], errors="coerce").fillna(0).sum())
    return BlockPortrait(
        cell=cell_to_str(cell), res=int(cell_resolution(np.int64(cell))), as_of=day,
        population=len(persons),
        population_by_age_band=dict(age_bands(persons["birth_date"], year)),
        population_by_sex={"F": int((persons["sex"] == "F").sum()),
                           "M": int((persons["sex"] == "M").sum())},
        households=int(persons["household_id"].dropna().nunique()),
        houses=len(houses), houses_by_use=value_counts(houses["use"]),
        buildings=len(buildings), buildings_by_use=value_counts(buildings["use"]),
        floor_area_by_use_m2=grouped_sum(buildings.fillna({"floor_area_m2": 0.0}), "use",
                                         "floor_area_m2"),
        enterprises=len(ents), enterprises_by_industry=value_counts(ents["industry"]),
        employees=int(pd.to_numeric(ents["employees"], errors="coerce").fillna(0).sum()),
        events_last_12_months=len(events), events_by_category=value_counts(events["category"]),
        industrial_spaces=len(spaces), industrial_area_m2=round(area, 2),
        industrial_vacant_m2=round(vacant, 2),
        industrial_vacancy_rate=round(vacant / area, 4) if area > 0 else None,
    )

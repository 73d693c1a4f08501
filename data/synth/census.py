"""The 2020 census figures (7th national census) that the synthetic population follows.

The table ``data/real/statistics/shenzhen_districts_census2020.csv`` is the
county-level census table of Shenzhen (see ``data/real/SOURCES.md``). This
module reads one district row of it (罗湖区 by default) into a small typed
value: the totals, the household figures and the population by sex in the
census' 5-year age bands (0, 1-4, 5-9, ..., 80-84, 85+).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

#: The census table shipped with the project.
CENSUS_CSV = (
    Path(__file__).resolve().parent.parent / "real" / "statistics"
    / "shenzhen_districts_census2020.csv"
)

#: The census' standard time (标准时点): 2020-11-01 00:00.
CENSUS_DATE = "2020-11-01"

#: Oldest age given to the open 85+ band.
MAX_AGE = 100

_BAND = re.compile(r"^(\d+)(?:到(\d+))?岁(以上)?$")


class CensusError(ValueError):
    """The census table is missing, or has no row or column that is needed."""


@dataclass(frozen=True)
class AgeBand:
    """One census age band: ages ``lo``..``hi`` inclusive (completed years at the census date)."""

    lo: int
    hi: int
    male: int
    female: int

    @property
    def label(self) -> str:
        """The band as the census writes it, e.g. ``"25-29"``, ``"0"`` or ``"85+"``."""
        if self.hi >= MAX_AGE:
            return f"{self.lo}+"
        return str(self.lo) if self.lo == self.hi else f"{self.lo}-{self.hi}"

    @property
    def total(self) -> int:
        """Males plus females."""
        return self.male + self.female


@dataclass(frozen=True)
class Census:
    """The 2020 census figures of one district."""

    code: str
    district: str
    total: int
    male: int
    female: int
    households: int
    household_population: int
    household_size: float
    one_person_households: int
    bands: tuple[AgeBand, ...]
    census_date: str = CENSUS_DATE

    @property
    def band_total(self) -> int:
        """Sum of the age bands (equals ``total`` in the published table)."""
        return sum(b.total for b in self.bands)


def _int(row: dict[str, str], column: str) -> int:
    try:
        return round(float(row[column]))
    except KeyError:
        raise CensusError(f"census table has no column {column!r}") from None
    except ValueError:
        raise CensusError(f"census column {column!r} is not a number: {row[column]!r}") from None


def load_census(district: str = "罗湖区", path: Path | None = None) -> Census:
    """Read the 2020 census row of ``district`` (区县 name, e.g. ``"罗湖区"``).

    Raises :class:`CensusError` when the file, the row or a needed column is missing.
    """
    path = path or CENSUS_CSV
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except FileNotFoundError:
        raise CensusError(f"census table not found: {path}") from None
    match = [r for r in rows if r.get("区县") == district]
    if not match:
        raise CensusError(f"no census row for {district!r}")
    row = match[0]

    bands: list[AgeBand] = []
    # The header lists the bands in age order, 男_ and 女_ interleaved.
    for column in row:
        if not column.startswith("男_"):
            continue
        m = _BAND.match(column[2:])
        if m is None:
            continue
        lo = int(m.group(1))
        hi = MAX_AGE if m.group(3) else int(m.group(2) or lo)
        bands.append(AgeBand(lo, hi, _int(row, column), _int(row, "女_" + column[2:])))
    if not bands:
        raise CensusError("census table has no age-band columns")
    bands.sort(key=lambda b: b.lo)

    return Census(
        code=row.get("区划代码", ""),
        district=district,
        total=_int(row, "人口数_合计"),
        male=_int(row, "人口数_男"),
        female=_int(row, "人口数_女"),
        households=_int(row, "家庭户数"),
        household_population=_int(row, "家庭户人口数"),
        household_size=float(row["户规模"]),
        one_person_households=_int(row, "一人户数"),
        bands=tuple(bands),
    )

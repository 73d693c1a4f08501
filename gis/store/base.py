"""The ``Store`` protocol: what every backend (GeoPackage, PostGIS) provides.

All geometry crosses this interface as WGS84 lon/lat. Every read takes an
optional ``as_of`` (an instant or interval, see :mod:`gis.timeaxis`). Writes are
transactions: an ingest either lands whole or leaves the store as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol, runtime_checkable

import geopandas as gpd
import pandas as pd
from shapely.geometry.base import BaseGeometry

from gis.filters import Filter
from gis.timeaxis import TimeFilter

AsOf = str | date | datetime | TimeFilter | None
BBox = tuple[float, float, float, float]
#: Progress callback: (rows done, rows total).
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class IngestReport:
    """What an ingest wrote."""

    kind: str
    rows: int
    seconds: float
    replaced: bool = False


@dataclass(frozen=True)
class StoreStats:
    """Counts per kind and provenance of the data."""

    backend: str
    location: str
    counts: dict[str, int]
    rows: dict[str, int]
    meta: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (``counts`` are entities, ``rows`` include versions)."""
        return {
            "backend": self.backend,
            "location": self.location,
            "counts": dict(self.counts),
            "rows": dict(self.rows),
            "meta": dict(self.meta),
        }


@runtime_checkable
class Store(Protocol):
    """A spatio-temporal entity store."""

    backend: str

    def close(self) -> None:
        """Release connections."""

    def ingest(
        self,
        kind: str,
        frame: pd.DataFrame,
        *,
        replace: bool = False,
        progress: Progress | None = None,
    ) -> IngestReport:
        """Validate and write ``frame`` (schema columns, ``geometry`` in WGS84) in one
        transaction. ``h3``/``block`` are derived when absent; admin codes are filled
        from stored communities when absent. Raises :class:`gis.errors.IngestError`
        naming the first bad row; the store is then unchanged."""

    def count(
        self,
        kind: str,
        *,
        as_of: AsOf = None,
        bbox: BBox | None = None,
        within: BaseGeometry | None = None,
        where: Mapping[str, Any] | None = None,
        filter: Filter | None = None,
    ) -> int:
        """Number of entities (rows) matching the filters (``filter``: a CQL2 filter,
        see :mod:`gis.filters`, executed inside the store)."""

    def get(self, kind: str, entity_id: str, *, as_of: AsOf = None) -> gpd.GeoDataFrame:
        """The entity ``entity_id`` (the version valid at ``as_of`` for versioned kinds,
        else the latest); raises :class:`gis.errors.EntityNotFound`."""

    def query(
        self,
        kind: str,
        *,
        bbox: BBox | None = None,
        within: BaseGeometry | None = None,
        predicate: str = "intersects",
        cell: int | None = None,
        as_of: AsOf = None,
        where: Mapping[str, Any] | None = None,
        columns: Sequence[str] | None = None,
        order_by: Sequence[str] | None = None,
        limit: int | None = None,
        offset: int = 0,
        filter: Filter | None = None,
    ) -> gpd.GeoDataFrame:
        """Entities matching every filter given: bbox, geometry (``intersects`` or
        ``within``), H3 cell of any resolution, valid time, equality filters, and a
        CQL2 ``filter`` (:class:`gis.filters.Filter`) compiled into the backend's SQL."""

    def scan(self, kind: str, *, columns: Sequence[str] | None = None,
             page: int = 100_000) -> Iterator[gpd.GeoDataFrame]:
        """Every row of ``kind`` in storage order, in pages of ``page`` rows (keyset
        paging: each page costs the same however deep it is)."""

    def nearest(
        self,
        kind: str,
        lon: float,
        lat: float,
        k: int = 5,
        *,
        as_of: AsOf = None,
        max_distance_m: float | None = None,
        where: Mapping[str, Any] | None = None,
    ) -> gpd.GeoDataFrame:
        """The ``k`` entities nearest to a point, with ``distance_m``, nearest first."""

    def block_aggregate(
        self,
        kind: str,
        res: int = 9,
        *,
        as_of: AsOf = None,
        within: BaseGeometry | None = None,
        by: str | None = None,
        sums: Sequence[str] = (),
    ) -> pd.DataFrame:
        """Counts (and sums) per H3 cell at ``res`` (7–12), optionally per attribute
        ``by`` and inside a geometry. Columns: ``cell``, [``by``], ``count``, sums."""

    def admin_counts(self, kind: str, level: str, *, as_of: AsOf = None) -> pd.DataFrame:
        """Counts per ``subdistrict`` or ``community`` (columns ``code``, ``count``)."""

    def block_timeline(
        self, cell: int, kind: str, periods: Sequence[str], *, by: str | None = None
    ) -> pd.DataFrame:
        """The history of one H3 cell: per period boundary (ISO dates, ascending),
        the entities valid at that instant (or, for events, occurring in the period
        ending there). Columns ``period``, [``by``], ``count``."""

    def readings(
        self, sensor_id: str, start: str | None = None, end: str | None = None
    ) -> pd.DataFrame:
        """Readings of one sensor in ``[start, end)`` (ISO instants)."""

    def latest_readings(self, sensor_ids: Sequence[str] | None = None) -> pd.DataFrame:
        """The last reading of each sensor (columns sensor_id, ts, value, alert)."""

    def stats(self) -> StoreStats:
        """Counts per kind and metadata."""

    def get_meta(self) -> dict[str, str]:
        """Key/value metadata of the store (build time, seed, scale...)."""

    def set_meta(self, values: Mapping[str, str]) -> None:
        """Write metadata keys."""

    def audit_append(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Append one record to the chained, append-only audit trail; returns it sealed."""

    def audit_entries(self, *, key_id: str | None = None, role: str | None = None,
                      layer: str | None = None, since: str | None = None,
                      until: str | None = None, limit: int | None = None
                      ) -> list[dict[str, Any]]:
        """Audit records in sequence order, filtered."""

    def audit_high_water(self) -> int:
        """The highest sequence number ever given to an audit record."""

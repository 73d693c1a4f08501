"""What both store backends share: argument checks and the queries that are written
in terms of a backend's ``_where``/``_select`` (so the GeoPackage and PostGIS stores
answer them identically, down to ties)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from gis.crs import METRIC_CRS, transformer
from gis.errors import EntityNotFound, InvalidGeometry, InvalidQuery
from gis.ingest import Prepared
from gis.model import schema
from gis.store.base import AsOf, BBox
from gis.store.timing import QueryObserver
from gis.timeaxis import parse_as_of

#: A write listener: (kind, written (w, s, e, n) bounds or None for "everywhere").
WriteListener = Callable[[str, tuple[float, float, float, float] | None], None]


def check_bbox(bbox: BBox) -> BBox:
    """A valid WGS84 bbox (minlon, minlat, maxlon, maxlat); InvalidQuery otherwise."""
    if len(bbox) != 4:
        raise InvalidQuery("bbox needs 4 numbers: minlon, minlat, maxlon, maxlat")
    x0, y0, x1, y1 = (float(v) for v in bbox)
    if not all(np.isfinite([x0, y0, x1, y1])):
        raise InvalidQuery("bbox values must be finite numbers")
    if not (-180 <= x0 <= 180 and -180 <= x1 <= 180 and -90 <= y0 <= 90 and -90 <= y1 <= 90):
        raise InvalidQuery("bbox out of range: lon -180..180, lat -90..90")
    if x0 > x1 or y0 > y1:
        raise InvalidQuery("bbox minimum is greater than its maximum")
    return x0, y0, x1, y1


def check_geometry(geom: BaseGeometry) -> None:
    """Raise InvalidGeometry unless ``geom`` is a valid, non-empty geometry."""
    if not isinstance(geom, shapely.Geometry) or geom.is_empty:
        raise InvalidGeometry("the area must be a non-empty geometry")
    if not geom.is_valid:
        raise InvalidGeometry(f"invalid geometry: {shapely.is_valid_reason(geom)}")


def to_epoch(text: str) -> int:
    """Unix seconds of an ISO date or date-time (dates are midnight UTC)."""
    tf = parse_as_of(text)
    assert tf is not None and tf.start is not None
    s = tf.start if len(tf.start) > 10 else tf.start + "T00:00:00Z"
    return int(datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp())


def written_area(prep: Prepared, replace: bool) -> tuple[float, float, float, float] | None:
    """The (w, s, e, n) bounds a write touched; None means everywhere (a replace)."""
    if replace or prep.bounds is None or not len(prep.bounds):
        return None
    b = prep.bounds
    if np.isnan(b).all():
        return None
    return (float(np.nanmin(b[:, 0])), float(np.nanmin(b[:, 1])),
            float(np.nanmax(b[:, 2])), float(np.nanmax(b[:, 3])))


class SharedQueries:
    """Queries both backends answer the same way, from their ``_where``/``_select``."""

    write_listeners: list[WriteListener]
    #: Told (backend, operation, seconds) after each timed operation (gis.store.timing).
    query_observer: QueryObserver | None = None
    _communities: gpd.GeoDataFrame | None

    # Provided by each backend (declared here for the type checker).
    _where: Callable[..., tuple[list[str], list[Any]]]
    _select: Callable[..., gpd.GeoDataFrame]
    query: Callable[..., gpd.GeoDataFrame]
    count: Callable[..., int]

    #: The driver's parameter marker ("?" for sqlite3, "%s" for psycopg).
    _param: str

    def scan(self, kind: str, *, columns: Sequence[str] | None = None,
             page: int = 100_000) -> Iterator[gpd.GeoDataFrame]:
        """Every row of ``kind`` in storage order, in pages of ``page`` rows.

        Keyset paging (``fid > last``) rather than ``OFFSET``: a page costs the same at
        any depth, where ``OFFSET k`` re-reads the ``k`` rows before it (reading the
        8.3 M houses of the whole city by ``OFFSET`` took longer than the city's load).
        """
        if page <= 0:
            raise InvalidQuery("page must be positive")
        sch = schema(kind)
        after: int | None = None
        while True:
            clauses, params = (([f"t.fid > {self._param}"], [after]) if after is not None
                               else ([], []))
            df = self._select(sch, clauses, params, columns, None, page, 0)
            if df.empty:
                return
            yield df
            if len(df) < page:
                return
            after = int(df["fid"].iloc[-1])

    def communities(self) -> gpd.GeoDataFrame:
        """Current community polygons (cached; refreshed after an ingest of communities)."""
        if self._communities is None:
            self._communities = self.query("community", columns=["code", "subdistrict_code"])
        return self._communities

    def _notify_write(self, kind: str, prep: Prepared, replace: bool) -> None:
        # Listeners (the tile cache) drop what the written area touches.
        area = written_area(prep, replace)
        for fn in list(self.write_listeners):
            fn(kind, area)

    def get(self, kind: str, entity_id: str, *, as_of: AsOf = None) -> gpd.GeoDataFrame:
        """One entity by id (the version valid at ``as_of``, else the latest)."""
        sch = schema(kind)
        clauses, params = self._where(sch, as_of=as_of, where={"id": entity_id})
        order = [f"-{sch.start_col}"] if sch.start_col else None
        df = self._select(sch, clauses, params, None, order, limit=1)
        if df.empty:
            when = f" at {as_of}" if as_of is not None else ""
            raise EntityNotFound(f"no {kind} with id {entity_id!r}{when}")
        return df

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
        """k nearest by metric distance (EPSG:4547), nearest first, with ``distance_m``."""
        sch = schema(kind)
        if sch.geometry is None:
            raise InvalidQuery(f"kind {kind!r} has no geometry")
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise InvalidQuery("lon/lat out of range")
        if k < 1:
            raise InvalidQuery("k must be at least 1")
        fwd = transformer("EPSG:4326", METRIC_CRS)
        px, py = fwd.transform(lon, lat)
        origin = shapely.Point(px, py)
        # Grow a search window until it holds k candidates whose k-th distance
        # fits inside the window (then no closer entity can lie outside it).
        radius = 200.0 if max_distance_m is None else min(200.0, max_distance_m)
        total = self.count(kind, as_of=as_of, where=where)
        while True:
            dlat = radius / 110_574.0
            dlon = radius / (111_320.0 * np.cos(np.radians(lat)))
            box = (lon - dlon, lat - dlat, lon + dlon, lat + dlat)
            clauses, params = self._where(sch, as_of=as_of, bbox=box, where=where)
            df = self._select(sch, clauses, params, None)
            if len(df):
                metric = shapely.transform(np.asarray(df.geometry.values),
                                           lambda xy: np.column_stack(fwd.transform(
                                               xy[:, 0], xy[:, 1])))
                dist = shapely.distance(metric, origin)
                df = df.assign(distance_m=np.round(dist, 2))
                df = df.sort_values(["distance_m", "fid"], kind="stable").reset_index(drop=True)
                if max_distance_m is not None:
                    df = df[df["distance_m"] <= max_distance_m]
            enough = len(df) >= k and df["distance_m"].iloc[k - 1] <= radius
            capped = max_distance_m is not None and radius >= max_distance_m
            if enough or capped or len(df) >= total or radius > 50_000:
                return df.head(k).reset_index(drop=True)
            radius = radius * 3 if len(df) < k else float(df["distance_m"].iloc[k - 1]) + 1.0
            if max_distance_m is not None:
                radius = min(radius, max_distance_m)

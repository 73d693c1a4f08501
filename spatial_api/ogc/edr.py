"""OGC API EDR of the sensor readings: a pygeoapi EDR provider answering CoverageJSON.

``/ogc/collections/sensor-readings/position`` and ``/area`` (OGC API EDR 1.0,
Part 1 §8.2.1 and §8.2.3) with ``coords`` (WKT in CRS84), ``datetime`` and
``parameter-name``. Each sensor type is one parameter (``waterlogging``,
``rainwater_pipe_flow``, ...) in its sensors' unit, so a department asks for
"water levels in this polygon over the storm" without OneMap's own dialect.

Answers are CoverageJSON (OGC CoverageJSON 1.0, §9 domain types): one
``PointSeries`` coverage per sensor — axes ``x``, ``y`` (its point) and ``t``
(the times of its readings) and one range, the readings' values. ``position``
answers one ``Coverage`` when one sensor with readings stands at the point, else a
``CoverageCollection`` (empty when none); ``area`` always a ``CoverageCollection``.

The readings come from the readings store (``PerceptionDB.series``, one index range
scan per sensor). The collection is configured only for roles that see the
``sensors`` layer (``config.py``), so it is hidden (404) exactly where that layer is.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import shapely
from pygeoapi.provider.base import ProviderInvalidQueryError
from pygeoapi.provider.base_edr import BaseEDRProvider
from pyproj import Geod
from shapely.geometry.base import BaseGeometry

from gis.errors import InvalidQuery
from gis.perception.db import PerceptionDB
from gis.perception.rules import load_rules
from gis.timeaxis import parse_as_of
from spatial_api.ogc.context import RequestContext, current
from spatial_api.ogc.provider import core_errors

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
#: A position matches the sensors within this distance of it (metres): clients copy
#: a sensor's coordinates with fewer decimals than the store holds.
POSITION_TOLERANCE_M = 10.0
#: Without ``datetime``, each sensor's last week of readings (up to its latest one).
DEFAULT_WINDOW = timedelta(days=7)
#: Most values one answer carries; a wider request is a 400 asking to narrow it.
MAX_VALUES = 500_000
_GEOD = Geod(ellps="WGS84")
_REFERENCING = [
    {"coordinates": ["x", "y"], "system": {"type": "GeographicCRS", "id": CRS84}},
    {"coordinates": ["t"], "system": {"type": "TemporalRS", "calendar": "Gregorian"}},
]


def _iso(ts: np.ndarray) -> list[str]:
    return [datetime.fromtimestamp(int(t), UTC).strftime("%Y-%m-%dT%H:%M:%SZ") for t in ts]


def _epoch(text: str, end: bool) -> int:
    """Unix seconds of an RFC 3339 instant or date (a date end: the end of that day)."""
    if len(text) == 10:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
        return int((day + timedelta(days=1)).timestamp()) if end else int(day.timestamp())
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def time_window(datetime_: str | None) -> tuple[int, int] | None:
    """``[lo, hi)`` in Unix seconds of an EDR ``datetime`` (None: the default window).

    An instant selects the readings at that second; ``a/b`` both ends inclusive;
    ``..`` an open end.
    """
    tf = parse_as_of(datetime_)
    if tf is None:
        return None
    if tf.is_instant and tf.start is not None:
        lo = _epoch(tf.start, False)
        return lo, (_epoch(tf.start, True) if len(tf.start) == 10 else lo + 1)
    lo = 0 if tf.start is None else _epoch(tf.start, False)
    hi = 2**62 if tf.end is None else _epoch(tf.end, True) + (0 if len(tf.end) == 10 else 1)
    return lo, hi


def _coords(wkt: Any, kinds: tuple[str, ...]) -> BaseGeometry:
    """The ``coords`` geometry (pygeoapi parsed the WKT), checked: kind, lon/lat range."""
    if not isinstance(wkt, BaseGeometry) or wkt.is_empty:
        raise InvalidQuery("coords must be a WKT geometry")
    if wkt.geom_type not in kinds:
        raise InvalidQuery(f"coords must be a {' or '.join(kinds)}")
    x0, y0, x1, y1 = wkt.bounds
    if not np.all(np.isfinite([x0, y0, x1, y1])) or x0 < -180 or x1 > 180 \
            or y0 < -90 or y1 > 90:
        raise InvalidQuery("coords must be longitude/latitude (CRS84)")
    if wkt.geom_type in ("Polygon", "MultiPolygon") and not wkt.is_valid:
        raise InvalidQuery("coords polygon is not valid (self-intersecting?)")
    return wkt


class SensorReadingsProvider(BaseEDRProvider):  # type: ignore[misc]
    """EDR ``position`` and ``area`` over the sensors and their readings."""

    def __init__(self, provider_def: dict[str, Any]) -> None:
        super().__init__(provider_def)
        self.ctx: RequestContext | None = current()
        self._sensors: pd.DataFrame | None = None

    # -- metadata -----------------------------------------------------------

    def _table(self) -> pd.DataFrame:
        """Today's sensors: id, sensor_type, unit, geometry (cached for the request)."""
        if self._sensors is None:
            if self.ctx is None or self.ctx.runtime.store is None:
                self._sensors = pd.DataFrame(columns=["id", "sensor_type", "unit", "geometry"])
            else:
                store = self.ctx.runtime.store
                today = datetime.now(UTC).strftime("%Y-%m-%d")
                df = store.query("sensor", columns=["id", "sensor_type", "unit"], as_of=today)
                self._sensors = pd.DataFrame({
                    "id": df["id"].to_numpy(), "sensor_type": df["sensor_type"].to_numpy(),
                    "unit": df["unit"].to_numpy(), "geometry": df.geometry.to_numpy()})
        return self._sensors

    def get_fields(self) -> dict[str, Any]:
        """One EDR parameter per sensor type, with its unit (``x-ogc-unit``)."""
        df = self._table()
        out: dict[str, Any] = {}
        if len(df):
            for stype, grp in df.groupby("sensor_type", sort=True):
                units = grp["unit"].dropna().unique()
                out[str(stype)] = {"type": "number", "title": str(stype),
                                   "x-ogc-unit": str(units[0]) if len(units) else ""}
        else:  # outside a request (bootstrap): the rule file names the types
            for stype in sorted(load_rules().doc.types):
                out[stype] = {"type": "number", "title": stype, "x-ogc-unit": ""}
        return out

    # -- queries ------------------------------------------------------------

    def position(self, **kwargs: Any) -> dict[str, Any]:
        """Series of the sensors at ``coords`` (a POINT or MULTIPOINT)."""
        with core_errors():
            geom = _coords(kwargs.get("wkt"), ("Point", "MultiPoint"))
            df = self._selected(kwargs.get("select_properties"))
            pts = list(getattr(geom, "geoms", [geom]))
            near = np.zeros(len(df), dtype=bool)
            if len(df):
                xs = shapely.get_x(df["geometry"].to_numpy())
                ys = shapely.get_y(df["geometry"].to_numpy())
                for p in pts:
                    _, _, dist = _GEOD.inv(np.full(len(df), p.x), np.full(len(df), p.y), xs, ys)
                    near |= dist <= POSITION_TOLERANCE_M
            covs = self._coverages(df[near], kwargs.get("datetime_"))
        # No sensor or no reading there: an empty collection (pygeoapi 0.21 answers
        # ProviderNoDataError's 204 with a body, which HTTP forbids, RFC 9110 §15.3.5).
        if len(covs) == 1:
            cov = covs[0]
            return {**cov, "parameters": self._parameters([cov]), "referencing": _REFERENCING}
        return self._collection(covs)

    def area(self, **kwargs: Any) -> dict[str, Any]:
        """Series of every sensor inside ``coords`` (a POLYGON or MULTIPOLYGON)."""
        with core_errors():
            geom = _coords(kwargs.get("wkt"), ("Polygon", "MultiPolygon"))
            df = self._selected(kwargs.get("select_properties"))
            inside = (shapely.intersects(df["geometry"].to_numpy(), geom) if len(df)
                      else np.zeros(0, dtype=bool))
            covs = self._coverages(df[np.asarray(inside, dtype=bool)], kwargs.get("datetime_"))
        return self._collection(covs)

    # -- helpers ------------------------------------------------------------

    def _selected(self, names: Any) -> pd.DataFrame:
        """Sensors of the asked parameters (every parameter when none); 400 on unknown."""
        df = self._table()
        if not names:
            return df
        wanted = [str(n).strip() for n in names]
        unknown = sorted(set(wanted) - set(self.get_fields()))
        if unknown:
            raise ProviderInvalidQueryError(
                user_msg=f"unknown parameter-name: {', '.join(unknown)} "
                         f"(one of {', '.join(self.get_fields())})")
        return df[df["sensor_type"].isin(wanted)]

    def _coverages(self, df: pd.DataFrame, datetime_: str | None) -> list[dict[str, Any]]:
        if self.ctx is None:
            return []
        db = PerceptionDB(self.ctx.runtime.require_store())
        window = time_window(datetime_)
        if window is None and len(df):
            latest = db.latest(df["id"].tolist()).set_index("sensor_id")["ts"]
        covs: list[dict[str, Any]] = []
        total = 0
        for sid, stype, geom in zip(df["id"], df["sensor_type"], df["geometry"], strict=True):
            if window is not None:
                lo, hi = window
            elif sid in latest.index:
                hi = int(latest.loc[sid]) + 1
                lo = hi - int(DEFAULT_WINDOW.total_seconds())
            else:
                continue
            s = db.series(str(sid), lo, hi)
            if s.empty:
                continue
            total += len(s)
            if total > MAX_VALUES:
                raise InvalidQuery(f"more than {MAX_VALUES} readings: narrow datetime or "
                                   "the area")
            values = s["value"].to_numpy(dtype=float)
            covs.append({
                "type": "Coverage",
                "id": str(sid),
                "domain": {
                    "type": "Domain",
                    "domainType": "PointSeries",
                    "axes": {"x": {"values": [float(geom.x)]},
                             "y": {"values": [float(geom.y)]},
                             "t": {"values": _iso(s["ts"].to_numpy())}},
                },
                "ranges": {str(stype): {
                    "type": "NdArray", "dataType": "float", "axisNames": ["t"],
                    "shape": [len(values)],
                    # A NaN is not JSON (RFC 8259 §6): a missing value is null.
                    "values": [float(v) if np.isfinite(v) else None for v in values]}},
            })
        return covs

    def _parameters(self, covs: list[dict[str, Any]]) -> dict[str, Any]:
        fields = self.get_fields()
        out: dict[str, Any] = {}
        for cov in covs:
            for name in cov["ranges"]:
                unit = fields.get(name, {}).get("x-ogc-unit", "")
                out[name] = {
                    "type": "Parameter",
                    "description": {"en": f"{name} reading"},
                    "unit": {"label": {"en": unit}, "symbol": unit},
                    "observedProperty": {"id": name, "label": {"en": name}},
                }
        return out

    def _collection(self, covs: list[dict[str, Any]]) -> dict[str, Any]:
        return {"type": "CoverageCollection", "domainType": "PointSeries",
                "parameters": self._parameters(covs), "referencing": _REFERENCING,
                "coverages": covs}

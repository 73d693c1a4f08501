"""The layer catalog: each layer is a named query over the core, with style and access rule.

Every layer answers :meth:`Layer.features` (a page of GeoJSON features and the
number matched) and :meth:`Layer.feature` through the core ``Store`` protocol
only, so the OGC APIs, the tile engine and the viewer work unchanged on any
backend. No web framework is imported here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import numpy as np
import orjson
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry

from gis.blocks import cell_polygon
from gis.errors import EntityNotFound, InvalidQuery
from gis.filters import Filter, Queryable
from gis.h3cells import AGGREGATE_RES, cell_to_str, str_to_cell
from gis.model import ColType, GeomType, KindSchema, schema
from gis.perception.db import PerceptionDB, active_alert_levels
from gis.store.base import AsOf, BBox, Store
from gis.store.common import check_bbox
from gis.timeaxis import TimeFilter, parse_as_of
from layers.access import AccessRule, Principal, mask_value, masked_fields, suppress

_JSON_TYPES = {ColType.TEXT: "string", ColType.INTEGER: "integer", ColType.REAL: "number",
               ColType.DATE: "string", ColType.DATETIME: "string"}
_FORMATS = {ColType.DATE: "date", ColType.DATETIME: "date-time"}
#: Internal columns never exposed as properties.
_HIDDEN = ("h3",)


@dataclass
class FeatureQuery:
    """What a client asked for, already parsed (OGC API Features Part 1-3)."""

    limit: int = 10
    offset: int = 0
    bbox: BBox | None = None
    as_of: str | None = None
    where: dict[str, Any] = field(default_factory=dict)
    filter: Any = None  # pygeofilter AST
    sortby: list[str] = field(default_factory=list)  # "+name" / "-name"
    properties: list[str] | None = None
    skip_geometry: bool = False
    target_crs: str | None = None  # any pyproj CRS string; None = CRS84
    params: dict[str, Any] = field(default_factory=dict)  # layer parameters (res, kind)
    count: bool = True
    #: Geometries as pre-written GeoJSON text (``orjson.Fragment``), for a response that
    #: only orjson serialises (the OGC JSON body): parsing shapely's GeoJSON into dicts
    #: to write it out again was a fifth of a 1,000-building page.
    geometry_text: bool = False


@dataclass
class FeaturePage:
    """A page of GeoJSON features and how many match in all."""

    features: list[dict[str, Any]]
    number_matched: int
    personal_rows: int = 0  # person-level rows served (for the audit log)


@dataclass(frozen=True)
class Style:
    """Default style for the viewer (MapLibre paint properties, kept simple)."""

    color: str = "#3388ff"
    fill_opacity: float = 0.3
    line_width: float = 1.0
    circle_radius: float = 3.0

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"color": self.color, "fill_opacity": self.fill_opacity,
                "line_width": self.line_width, "circle_radius": self.circle_radius}


@dataclass(frozen=True)
class Parameter:
    """A declared layer parameter (query parameter of the items request)."""

    name: str
    type: str  # "integer" or "string"
    default: Any
    choices: tuple[Any, ...] = ()
    description: str = ""

    def parse(self, raw: Any) -> Any:
        """The typed value of a raw query value; :class:`InvalidQuery` if not allowed."""
        if raw is None:
            return self.default
        try:
            value = int(raw) if self.type == "integer" else str(raw)
        except (TypeError, ValueError):
            raise InvalidQuery(f"parameter {self.name!r} must be an integer") from None
        if self.choices and value not in self.choices:
            allowed = ", ".join(str(c) for c in self.choices)
            raise InvalidQuery(f"parameter {self.name!r} must be one of {allowed}")
        return value


class Layer:
    """Base class of catalog layers."""

    id: str
    title_zh: str
    title_en: str
    description: str
    geometry: GeomType
    access: AccessRule
    style: Style
    minzoom: int
    maxzoom: int
    time_field: str | None
    parameters: tuple[Parameter, ...] = ()
    keywords: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        """Bilingual title."""
        return f"{self.title_zh} {self.title_en}"

    @property
    def kinds(self) -> tuple[str, ...]:
        """Entity kinds the layer reads."""
        raise NotImplementedError

    def property_types(self) -> dict[str, dict[str, Any]]:
        """JSON-schema types of the exposed properties (name → {type, format?})."""
        raise NotImplementedError

    def queryables(self, principal: Principal) -> dict[str, Queryable]:
        """Properties ``principal`` may filter and sort on (masked ones are not)."""
        raise NotImplementedError

    def features(self, store: Store, q: FeatureQuery, principal: Principal) -> FeaturePage:
        """One page of features."""
        raise NotImplementedError

    def feature(self, store: Store, fid: str, principal: Principal,
                target_crs: str | None = None) -> tuple[dict[str, Any], int]:
        """One feature by id (and the number of person-level rows it holds)."""
        raise NotImplementedError

    def temporal_extent(self, store: Store) -> tuple[str | None, str | None]:
        """(begin, end) of the valid or event time; None = open."""
        return None, None

    def temporal_roles(self) -> dict[str, str]:
        """``x-ogc-role`` of the properties ``datetime`` filters on (docs/ogc.md).

        OGC API Features Part 3 (queryables, "temporal properties"): a valid time
        ``[start, end)`` is ``primary-interval-start``/``primary-interval-end``, an
        occurrence is ``primary-instant``. Empty when ``datetime`` does not filter.
        """
        return {}

    def as_dict(self) -> dict[str, Any]:
        """Catalog entry as JSON (for the viewer and docs)."""
        return {
            "id": self.id, "title_zh": self.title_zh, "title_en": self.title_en,
            "description": self.description, "kinds": list(self.kinds),
            "geometry": self.geometry.value, "properties": list(self.property_types()),
            "time_field": self.time_field, "style": self.style.as_dict(),
            "minzoom": self.minzoom, "maxzoom": self.maxzoom,
            "access": {"roles": sorted(self.access.roles), "masked": list(self.access.masked),
                       "personal": self.access.personal},
            "parameters": [{"name": p.name, "type": p.type, "default": p.default,
                            "choices": list(p.choices)} for p in self.parameters],
        }


# ---------------------------------------------------------------------------
# helpers: geometry to GeoJSON, CRS transforms


def _transformer(target: str | None) -> Transformer | None:
    if target is None:
        return None
    crs = CRS.from_user_input(target)
    if crs.equals(CRS.from_user_input("OGC:CRS84")):
        return None
    # Authority axis order (OGC API Features Part 2): EPSG:4326 is lat/lon.
    return Transformer.from_crs(CRS.from_user_input("OGC:CRS84"), crs, always_xy=False)


def geometries_to_geojson(geoms: Any, target_crs: str | None = None,
                          as_text: bool = False) -> list[Any]:
    """GeoJSON geometry dicts of shapely geometries (vectorised; None stays None).

    ``as_text``: ``orjson.Fragment`` objects holding the GeoJSON text instead of dicts
    (only orjson can write them; see :attr:`FeatureQuery.geometry_text`).
    """
    arr = np.asarray(geoms, dtype=object)
    if len(arr) == 0:
        return []
    tr = _transformer(target_crs)
    if tr is not None:
        present = ~shapely.is_missing(arr)
        arr = arr.copy()
        arr[present] = shapely.transform(
            arr[present], lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))
    texts = shapely.to_geojson(arr)
    if as_text:
        return [None if t is None else orjson.Fragment(t) for t in texts.tolist()]
    # orjson parses the texts about three times faster than ``json.loads``.
    text = "[" + ",".join("null" if t is None else t for t in texts.tolist()) + "]"
    return orjson.loads(text)  # type: ignore[no-any-return]


def _records(df: pd.DataFrame, cols: Sequence[str],
             ints: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Row dicts of ``cols`` with Python values (NaN → None), built column-wise.

    ``ints``: integer columns that pandas turned into floats because of NULLs.
    Missing values become None in every column: a text column read with NULLs
    holds float NaN among its strings, which ``json.dumps`` would write as a bare
    ``NaN`` token (not JSON, RFC 8259 §6); non-finite floats are not JSON either.

    ``DataFrame.to_dict`` boxes every cell separately and is ten times slower.
    """
    if not cols:
        return [{} for _ in range(len(df))]
    lists = []
    for c in cols:
        values = df[c].to_numpy()
        if values.dtype.kind == "f":
            nan = ~np.isfinite(values)
            obj = values.astype(object)
            if c in ints:
                obj[~nan] = values[~nan].astype(np.int64).astype(object)
            obj[nan] = None
            lists.append(obj.tolist())
        elif values.dtype.kind == "O":
            obj = values.copy()
            obj[pd.isna(values)] = None
            lists.append(obj.tolist())
        else:
            lists.append(values.tolist())
    names = list(cols)
    return [dict(zip(names, row, strict=True)) for row in zip(*lists, strict=True)]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


# ---------------------------------------------------------------------------
# entity layers


@dataclass
class EntityLayer(Layer):
    """One entity kind served row by row (optionally a subset of its columns)."""

    id: str
    kind: str
    title_zh: str
    title_en: str
    access: AccessRule
    description: str = ""
    columns: tuple[str, ...] | None = None  # None: every column except internal ones
    style: Style = field(default_factory=Style)
    minzoom: int = 10
    maxzoom: int = 22
    keywords: tuple[str, ...] = ()
    parameters: tuple[Parameter, ...] = ()

    @property
    def schema(self) -> KindSchema:
        """The kind's declaration."""
        return schema(self.kind)

    @property
    def kinds(self) -> tuple[str, ...]:
        """The one kind."""
        return (self.kind,)

    @property
    def geometry(self) -> GeomType:  # type: ignore[override]
        """Geometry type of the kind."""
        g = self.schema.geometry
        return g if g is not None else GeomType.GEOMETRY

    @property
    def time_field(self) -> str | None:  # type: ignore[override]
        """The start column of the kind's time axis."""
        return self.schema.start_col

    @property
    def column_list(self) -> list[str]:
        """Exposed columns, in declaration order."""
        names = self.schema.column_names
        if self.columns is not None:
            return [c for c in names if c in self.columns]
        return [c for c in names if c not in _HIDDEN]

    def property_types(self) -> dict[str, dict[str, Any]]:
        """JSON types of the exposed columns."""
        out: dict[str, dict[str, Any]] = {}
        for name in self.column_list:
            col = self.schema.column(name)
            t: dict[str, Any] = {"type": _JSON_TYPES[col.type]}
            if col.type in _FORMATS:
                t["format"] = _FORMATS[col.type]
            if col.description:
                t["description"] = col.description
            out[name] = t
        return out

    def _masked(self, principal: Principal) -> list[str]:
        return masked_fields(self.id, self.access.masked, principal)

    def queryables(self, principal: Principal) -> dict[str, Queryable]:
        """Exposed, unmasked columns (filtering on a masked field would reveal it)."""
        hidden = set(self._masked(principal))
        return {n: Queryable(n, self.schema.column(n).type)
                for n in self.column_list if n not in hidden}

    def _default_as_of(self, q: FeatureQuery) -> str | None:
        # Without a datetime a layer shows the district as it is today: the current
        # version of versioned kinds (unique ids), and no demolished building or
        # departed resident, as the addresses layer, the tiles and the blocks do.
        # ``datetime=../..`` asks for the whole history (docs/ogc.md).
        sch = self.schema
        if q.as_of is None and (sch.versioned or (sch.end_col is not None
                                                  and not sch.instantaneous)):
            return _now()
        return q.as_of

    def temporal_roles(self) -> dict[str, str]:
        """Instant kinds (events): the start column; others: the valid interval's ends."""
        sch = self.schema
        if sch.start_col is None:
            return {}
        if sch.instantaneous:
            roles = {sch.start_col: "primary-instant"}
        else:
            roles = {sch.start_col: "primary-interval-start",
                     str(sch.end_col): "primary-interval-end"}
        return {k: v for k, v in roles.items() if k in self.column_list}

    def _time_filter(self, q: FeatureQuery) -> AsOf:
        """The store filter of ``datetime``: for an instant kind, an instant is a moment.

        ``primary-instant`` (OGC API Features Part 3): an instant intersects an
        occurrence only when they coincide (a date: any time that day), so an
        instant on events selects those that occurred then, not those still open.
        """
        as_of = self._default_as_of(q)
        if as_of is not None and self.schema.instantaneous:
            tf = parse_as_of(as_of)
            if tf is not None and tf.is_instant:
                return _Occurrence(tf.start, tf.end)
        return as_of

    def _select_columns(self, q: FeatureQuery, principal: Principal) -> list[str]:
        cols = self.column_list
        if q.properties is not None:
            unknown = [p for p in q.properties if p not in cols]
            if unknown:
                raise InvalidQuery(f"unknown properties: {', '.join(unknown)}")
            cols = [c for c in cols if c in q.properties]
        return cols

    def _check_sort(self, q: FeatureQuery, principal: Principal) -> list[str]:
        allowed = self.queryables(principal)
        for s in q.sortby:
            if s.lstrip("+-") not in allowed:
                raise InvalidQuery(f"cannot sort by {s.lstrip('+-')!r}")
        return [s.lstrip("+") for s in q.sortby]

    def _where(self, q: FeatureQuery, principal: Principal) -> dict[str, Any]:
        allowed = self.queryables(principal)
        out: dict[str, Any] = {}
        for k, v in q.where.items():
            if k not in allowed:
                raise InvalidQuery(f"unknown or not queryable property {k!r}")
            out[k] = _typed(v, allowed[k].type)
        return out

    def _filter(self, q: FeatureQuery, principal: Principal) -> Filter | None:
        if q.filter is None:
            return None
        return Filter(q.filter, self.queryables(principal))

    def _to_features(self, df: pd.DataFrame, cols: list[str], principal: Principal,
                     q_skip: bool, target_crs: str | None,
                     as_text: bool = False) -> list[dict[str, Any]]:
        ints = [c for c in cols if self.schema.column(c).type is ColType.INTEGER]
        props = _records(df, cols, ints)
        for name in self._masked(principal):
            if name in cols:
                for p in props:
                    p[name] = mask_value(name, p.get(name))
        ids = df["id"].tolist() if "id" in df.columns else df["fid"].tolist()
        if q_skip or "geometry" not in df.columns:
            geoms: list[Any] = [None] * len(df)
        else:
            geoms = geometries_to_geojson(df.geometry.values, target_crs, as_text)
        return [{"type": "Feature", "id": i, "geometry": g, "properties": p}
                for i, g, p in zip(ids, geoms, props, strict=True)]

    def features(self, store: Store, q: FeatureQuery, principal: Principal) -> FeaturePage:
        """A page of rows of the kind."""
        cols = self._select_columns(q, principal)
        order = self._check_sort(q, principal)
        where = self._where(q, principal)
        flt = self._filter(q, principal)
        as_of = self._time_filter(q)
        read_cols = list(dict.fromkeys(["id", *cols]))
        counting = None
        if q.count and getattr(store, "backend", "") == "postgis":
            # numberMatched on a second pooled connection while the page is read: the
            # count of a large layer takes longer than the page itself (issue 15).
            counting = _count_pool().submit(store.count, self.kind, bbox=q.bbox,
                                            as_of=as_of, where=where or None, filter=flt)
        df = store.query(self.kind, bbox=q.bbox, as_of=as_of, where=where or None,
                         columns=read_cols, order_by=order or None, limit=q.limit,
                         offset=q.offset, filter=flt)
        if counting is not None:
            matched = counting.result()
        else:
            matched = (store.count(self.kind, bbox=q.bbox, as_of=as_of, where=where or None,
                                   filter=flt) if q.count else -1)
        feats = self._to_features(df, cols, principal, q.skip_geometry, q.target_crs,
                                  q.geometry_text)
        return FeaturePage(feats, matched, len(feats) if self.access.personal else 0)

    def feature(self, store: Store, fid: str, principal: Principal,
                target_crs: str | None = None) -> tuple[dict[str, Any], int]:
        """One entity by id (the current version for versioned kinds)."""
        df = store.get(self.kind, fid)
        cols = self.column_list
        feats = self._to_features(df, cols, principal, False, target_crs)
        return feats[0], (1 if self.access.personal else 0)

    def temporal_extent(self, store: Store) -> tuple[str | None, str | None]:
        """Earliest start; open end (entities are still valid) or latest event."""
        sch = self.schema
        if sch.start_col is None:
            return None, None
        first = store.query(self.kind, columns=[sch.start_col], order_by=[sch.start_col],
                            limit=1)
        begin = None if first.empty else str(first[sch.start_col].iloc[0])
        end = None
        if sch.instantaneous:
            last = store.query(self.kind, columns=[sch.start_col],
                               order_by=[f"-{sch.start_col}"], limit=1)
            end = None if last.empty else str(last[sch.start_col].iloc[0])
        return begin, end


class _Occurrence(TimeFilter):
    """One instant as the closed interval [t, t] (a date: that whole day) for instant kinds.

    :meth:`TimeFilter.sql` reads an instant on any kind as "valid at t"; for an
    occurrence the interval form (start and end inclusive, a date end meaning the
    whole day) is the intersection the ``primary-instant`` role declares.
    """

    @property
    def is_instant(self) -> bool:
        """Never: filter as the interval of the instant."""
        return False


def _typed(value: Any, t: ColType) -> Any:
    if isinstance(value, str) and t in (ColType.INTEGER, ColType.REAL):
        try:
            return int(value) if t is ColType.INTEGER else float(value)
        except ValueError:
            raise InvalidQuery(f"{value!r} is not a number") from None
    return value


@dataclass
class SensorLayer(EntityLayer):
    """Sensors with their latest reading and alert state."""

    def property_types(self) -> dict[str, dict[str, Any]]:
        """Sensor columns plus ``last_ts``, ``last_value``, ``alert``."""
        out = super().property_types()
        out["last_ts"] = {"type": "string", "format": "date-time"}
        out["last_value"] = {"type": "number"}
        out["alert"] = {"type": "integer",
                        "description": "current alert level (0 none; see docs/perception.md)"}
        return out

    def _attach(self, store: Store, feats: list[dict[str, Any]]) -> None:
        ids = [f["id"] for f in feats]
        if not ids:
            return
        last = store.latest_readings(ids).set_index("sensor_id")
        # Live alert state from the perception alerts (issue 11); stores where
        # perception never ran fall back to the stored flag of the latest reading.
        levels = active_alert_levels(store, ids)
        for f in feats:
            p = f["properties"]
            # Sensor types leave different columns empty (address_id, water_body...):
            # pandas hands them over as NaN, which is not JSON (RFC 8259 §6); send null.
            for k, v in p.items():
                if isinstance(v, float) and v != v:
                    p[k] = None
            if f["id"] in last.index:
                row = last.loc[f["id"]]
                p["last_ts"] = datetime.fromtimestamp(int(row["ts"]), UTC).strftime(
                    "%Y-%m-%dT%H:%M:%SZ")
                p["last_value"] = float(row["value"])
                p["alert"] = int(row["alert"]) if pd.notna(row["alert"]) else 0
            else:
                p["last_ts"], p["last_value"], p["alert"] = None, None, 0
            if levels is not None:
                p["alert"] = levels.get(f["id"], 0)

    def features(self, store: Store, q: FeatureQuery, principal: Principal) -> FeaturePage:
        """Sensors page with latest readings attached."""
        extra = {"last_ts", "last_value", "alert"}
        props = q.properties
        if props is not None:
            q = replace(q, properties=[p for p in props if p not in extra])
        page = super().features(store, q, principal)
        self._attach(store, page.features)
        if props is not None:
            keep = set(props)
            for f in page.features:
                f["properties"] = {k: v for k, v in f["properties"].items() if k in keep}
        return page

    def feature(self, store: Store, fid: str, principal: Principal,
                target_crs: str | None = None) -> tuple[dict[str, Any], int]:
        """One sensor with its latest reading."""
        feat, n = super().feature(store, fid, principal, target_crs)
        self._attach(store, [feat])
        return feat, n


@dataclass
class AlertLayer(Layer):
    """Perception alerts (issue 11) as features: the sensor's point, alert properties.

    Alerts are few (one per threshold crossing) and live in the perception tables,
    not in an entity kind, so a page is filtered in memory. ``datetime`` selects the
    alerts whose ``[started_at, ended_at)`` meets the instant or interval (an active
    alert has no end), as for other valid-time layers (docs/ogc.md).
    """

    id: str
    title_zh: str
    title_en: str
    access: AccessRule
    description: str = ""
    style: Style = field(default_factory=Style)
    minzoom: int = 11
    maxzoom: int = 22
    time_field: str | None = "started_at"
    geometry: GeomType = GeomType.POINT  # type: ignore[assignment]
    #: Alerts change with every reading: never cached as tiles (config.py).
    tiles: bool = False

    _TYPES: tuple[tuple[str, ColType], ...] = (
        ("sensor_id", ColType.TEXT), ("kind", ColType.TEXT), ("level", ColType.INTEGER),
        ("value", ColType.REAL), ("threshold", ColType.REAL),
        ("started_at", ColType.DATETIME), ("ended_at", ColType.DATETIME))

    @property
    def kinds(self) -> tuple[str, ...]:
        """The sensors give the geometry."""
        return ("sensor",)

    def property_types(self) -> dict[str, dict[str, Any]]:
        """``id`` and the alert columns (``ended_at`` null while active)."""
        out: dict[str, dict[str, Any]] = {"id": {"type": "integer"}}
        for name, t in self._TYPES:
            out[name] = {"type": _JSON_TYPES[t]}
            if t in _FORMATS:
                out[name]["format"] = _FORMATS[t]
        return out

    def queryables(self, principal: Principal) -> dict[str, Queryable]:
        """Every alert property."""
        return {n: Queryable(n, t) for n, t in (("id", ColType.INTEGER), *self._TYPES)}

    def temporal_roles(self) -> dict[str, str]:
        """An alert is valid from its start until its end."""
        return {"started_at": "primary-interval-start", "ended_at": "primary-interval-end"}

    def temporal_extent(self, store: Store) -> tuple[str | None, str | None]:
        """From the first alert's start; open end."""
        df = self._table(store)
        return (None if df.empty else str(df["started_at"].min())), None

    def _table(self, store: Store) -> pd.DataFrame:
        cols = ["id", *(n for n, _ in self._TYPES)]
        db = PerceptionDB(store)
        rows = [a.as_dict() for a in db.alerts(limit=1_000_000)] if db.has_tables() else []
        df = pd.DataFrame.from_records(rows, columns=[*cols, "updated_at"])[cols]
        if df.empty:
            df["geometry"] = pd.Series([], dtype=object)
            return df
        sensors = store.query("sensor", columns=["id"], where={"id": sorted(set(df.sensor_id))})
        pts = dict(zip(sensors["id"], sensors.geometry.values, strict=True))
        df["geometry"] = [pts.get(s) for s in df["sensor_id"]]
        return df

    def _select(self, df: pd.DataFrame, q: FeatureQuery, principal: Principal) -> pd.DataFrame:
        if q.filter is not None:
            raise InvalidQuery("the alerts collection has no CQL2 filter; use its "
                               "properties as query parameters, bbox and datetime")
        allowed = self.queryables(principal)
        for k, v in q.where.items():
            if k not in allowed:
                raise InvalidQuery(f"unknown or not queryable property {k!r}")
            df = df[df[k] == _typed(v, allowed[k].type)]
        if q.bbox is not None:
            box = check_bbox(q.bbox)
            keep = shapely.intersects(np.asarray(df.geometry.values, dtype=object),
                                      shapely.box(*box[:4]))
            df = df[np.asarray(keep, dtype=bool)]
        tf = parse_as_of(q.as_of)
        if tf is not None:
            # started_at <= end and (ended_at null or ended_at > start): the valid
            # interval meets the instant or interval (TimeFilter.sql, same texts).
            start, end = tf.start, tf.end
            if end is not None:
                df = df[df["started_at"] <= (end + "T23:59:59Z" if len(end) == 10 else end)]
            if start is not None:
                df = df[df["ended_at"].isna() | (df["ended_at"] > start)]
        order = [s.lstrip("+") for s in q.sortby]
        for s in order:
            if s.lstrip("-") not in allowed:
                raise InvalidQuery(f"cannot sort by {s.lstrip('-')!r}")
        if order:
            df = df.sort_values([s.lstrip("-") for s in order],
                                ascending=[not s.startswith("-") for s in order],
                                kind="stable")
        return df

    def _to_features(self, df: pd.DataFrame, q_props: list[str] | None, skip: bool,
                     target_crs: str | None) -> list[dict[str, Any]]:
        cols = [n for n, _ in self._TYPES]
        if q_props is not None:
            unknown = [p for p in q_props if p not in cols and p != "id"]
            if unknown:
                raise InvalidQuery(f"unknown properties: {', '.join(unknown)}")
            cols = [c for c in cols if c in q_props]
        props = _records(df, cols, [c for c in cols if c == "level"])
        geoms = ([None] * len(df) if skip or df.empty else
                 geometries_to_geojson(df.geometry.values, target_crs))
        return [{"type": "Feature", "id": int(i), "geometry": g, "properties": {"id": int(i), **p}}
                for i, g, p in zip(df["id"].tolist(), geoms, props, strict=True)]

    def features(self, store: Store, q: FeatureQuery, principal: Principal) -> FeaturePage:
        """A page of alerts, newest first unless sorted."""
        df = self._select(self._table(store), q, principal)
        page = df.iloc[q.offset:q.offset + q.limit]
        return FeaturePage(self._to_features(page, q.properties, q.skip_geometry,
                                             q.target_crs), len(df))

    def feature(self, store: Store, fid: str, principal: Principal,
                target_crs: str | None = None) -> tuple[dict[str, Any], int]:
        """One alert by id."""
        df = self._table(store)
        try:
            row = df[df["id"] == int(fid)]
        except ValueError:
            raise EntityNotFound(f"no alert {fid!r}") from None
        if row.empty:
            raise EntityNotFound(f"no alert {fid!r}")
        return self._to_features(row, None, False, target_crs)[0], 0


# ---------------------------------------------------------------------------
# aggregate layers


@dataclass
class BlockLayer(Layer):
    """H3 aggregates of a kind: one polygon per cell with counts (k-anonymity aware).

    ``kind``/``res`` are fixed, or declared parameters (the ``blocks`` layer).
    Counts of person-level kinds below k are suppressed for roles that may not
    see those persons individually.
    """

    id: str
    title_zh: str
    title_en: str
    access: AccessRule
    description: str = ""
    kind: str | None = None
    res: int | None = None
    by: str | None = None
    style: Style = field(default_factory=Style)
    minzoom: int = 8
    maxzoom: int = 16
    keywords: tuple[str, ...] = ()
    kind_choices: tuple[str, ...] = ()
    personal_kinds: tuple[str, ...] = ("person",)
    persons_access: AccessRule | None = None

    geometry: GeomType = GeomType.POLYGON
    time_field: str | None = None

    @property
    def parameters(self) -> tuple[Parameter, ...]:  # type: ignore[override]
        """``kind`` and ``res`` when not fixed."""
        out = []
        if self.kind is None:
            out.append(Parameter("kind", "string", "building", self.kind_choices,
                                 "entity kind to aggregate"))
        if self.res is None:
            out.append(Parameter("res", "integer", 9, tuple(AGGREGATE_RES),
                                 "H3 resolution (7-12)"))
        return tuple(out)

    @property
    def kinds(self) -> tuple[str, ...]:
        """Aggregated kinds."""
        return (self.kind,) if self.kind else self.kind_choices

    def property_types(self) -> dict[str, dict[str, Any]]:
        """cell, res, kind, count, suppressed."""
        return {"cell": {"type": "string", "description": "H3 cell (hex)"},
                "res": {"type": "integer"}, "kind": {"type": "string"},
                "count": {"type": "integer", "description": "null when suppressed (k-anonymity)"},
                "suppressed": {"type": "boolean"}}

    def queryables(self, principal: Principal) -> dict[str, Queryable]:
        """Aggregates are filtered by bbox, datetime and spatial filters on the hexagon."""
        return {}

    def _suppress_for(self, kind: str, principal: Principal) -> bool:
        if kind not in self.personal_kinds:
            return False
        return self.persons_access is None or not self.persons_access.allows(principal)

    def _table(self, store: Store, q: FeatureQuery, principal: Principal
               ) -> tuple[pd.DataFrame, str, int]:
        params = {p.name: p for p in self.parameters}
        kind = self.kind if self.kind is not None else str(
            params["kind"].parse(q.params.get("kind")))
        res = self.res if self.res is not None else int(params["res"].parse(q.params.get("res")))
        as_of = q.as_of if q.as_of is not None else _now()
        # The same bbox check as the stores' (a 6-number bbox is a 400, not a crash).
        within = shapely.box(*check_bbox(q.bbox)) if q.bbox is not None else None
        if within is not None and q.filter is None and self._suppress_for(kind, principal):
            # a bbox must not clip person counts (differencing, issue 16): whole
            # blocks it overlaps only (docs/security.md)
            cells = touched_blocks_of(within, res)
            table = store.block_aggregate(kind, res, as_of=as_of)
            return table[table["cell"].isin(cells)].reset_index(drop=True), kind, res
        if q.filter is not None:
            # a CQL2 spatial filter selects whole hexagons by their own geometry and
            # never clips a count (differencing, issue 16; docs/security.md)
            from gis.filters import spatial_mask

            table = store.block_aggregate(kind, res, as_of=as_of)
            if within is not None:  # bbox and filter: both on the hexagon
                table = table[table["cell"].isin(touched_blocks_of(within, res))]
            polys = [shapely.Polygon(cell_polygon(int(c))) for c in table["cell"]]
            keep = spatial_mask(q.filter, polys) if polys else np.zeros(0, dtype=bool)
            return table[keep].reset_index(drop=True), kind, res
        table = store.block_aggregate(kind, res, as_of=as_of, within=within)
        return table, kind, res

    def _page(self, table: pd.DataFrame, kind: str, res: int, principal: Principal,
              skip: bool, target_crs: str | None) -> list[dict[str, Any]]:
        sup = self._suppress_for(kind, principal)
        cells = table["cell"].to_numpy(dtype=np.int64)
        counts = table["count"].to_numpy(dtype=np.int64)
        if skip:
            geoms: list[Any] = [None] * len(cells)
        else:
            polys = [shapely.Polygon(cell_polygon(int(c))) for c in cells]
            geoms = geometries_to_geojson(polys, target_crs)
        feats = []
        for c, n, g in zip(cells.tolist(), counts.tolist(), geoms, strict=True):
            value = suppress(n, principal.k) if sup else int(n)
            hexid = cell_to_str(c)
            feats.append({"type": "Feature", "id": hexid, "geometry": g,
                          "properties": {"cell": hexid, "res": res, "kind": kind,
                                         "count": value, "suppressed": value is None}})
        return feats

    def features(self, store: Store, q: FeatureQuery, principal: Principal) -> FeaturePage:
        """Aggregate table → one page of cell polygons."""
        if q.where:
            raise InvalidQuery("aggregate layers take bbox, datetime and spatial filters "
                               "only")
        if q.sortby:
            raise InvalidQuery("aggregate layers are sorted by cell")
        table, kind, res = self._table(store, q, principal)
        matched = len(table)
        page = table.iloc[q.offset:q.offset + q.limit]
        feats = self._page(page, kind, res, principal, q.skip_geometry, q.target_crs)
        if q.properties is not None:
            keep = set(q.properties)
            for f in feats:
                f["properties"] = {k: v for k, v in f["properties"].items() if k in keep}
        return FeaturePage(feats, matched, 0)

    def feature(self, store: Store, fid: str, principal: Principal,
                target_crs: str | None = None) -> tuple[dict[str, Any], int]:
        """One cell (hex id) of the default aggregate."""
        try:
            cell = str_to_cell(fid)
        except ValueError:
            raise EntityNotFound(f"no cell {fid!r}") from None
        table, kind, res = self._table(store, FeatureQuery(), principal)
        row = table[table["cell"] == cell]
        if row.empty:
            raise EntityNotFound(f"no cell {fid!r} in {self.id}")
        return self._page(row, kind, res, principal, False, target_crs)[0], 0


def touched_blocks_of(area: BaseGeometry, res: int) -> list[int]:
    """The H3 cells at ``res`` that ``area`` overlaps (whole blocks, by geometry only)."""
    from gis.analysis.renewal import touched_blocks

    return touched_blocks(area, res)


# ---------------------------------------------------------------------------
# addresses: the union of the buildings' and houses' standard addresses


@dataclass
class AddressLayer(Layer):
    """The standard address registry: ``address_id`` and ``address`` of buildings and houses.

    Read from the store as the union of the two kinds (what the address
    registry is built from); a later address service may replace the source.
    """

    id: str
    title_zh: str
    title_en: str
    access: AccessRule
    description: str = ""
    sources: tuple[str, ...] = ("building", "house")
    style: Style = field(default_factory=Style)
    minzoom: int = 14
    maxzoom: int = 22
    keywords: tuple[str, ...] = ()
    geometry: GeomType = GeomType.POINT
    time_field: str | None = None

    @property
    def kinds(self) -> tuple[str, ...]:
        """Buildings and houses."""
        return self.sources

    def property_types(self) -> dict[str, dict[str, Any]]:
        """address_id, address, source kind and entity id."""
        return {"address_id": {"type": "string"}, "address": {"type": "string"},
                "source": {"type": "string"}, "entity_id": {"type": "string"}}

    def queryables(self, principal: Principal) -> dict[str, Queryable]:
        """address_id and address."""
        return {"address_id": Queryable("address_id", ColType.TEXT),
                "address": Queryable("address", ColType.TEXT)}

    def _parts(self, store: Store, q: FeatureQuery, principal: Principal
               ) -> list[tuple[str, dict[str, Any], Filter | None, int]]:
        qb = self.queryables(principal)
        where = {k: v for k, v in q.where.items()}
        for k in where:
            if k not in qb:
                raise InvalidQuery(f"unknown or not queryable property {k!r}")
        where["address_id"] = where.get("address_id")
        flt = Filter(q.filter, qb) if q.filter is not None else None
        parts: list[tuple[str, dict[str, Any], Filter | None, int]] = []
        for kind in self.sources:
            w = {k: v for k, v in where.items() if v is not None}
            f_notnull = Filter.from_text("address_id IS NOT NULL", qb)
            combined = f_notnull if flt is None else Filter(
                _and(f_notnull.node, flt.node), qb)
            n = store.count(kind, bbox=q.bbox, as_of=q.as_of or _now(), where=w or None,
                            filter=combined)
            parts.append((kind, w, combined, n))
        return parts

    def features(self, store: Store, q: FeatureQuery, principal: Principal) -> FeaturePage:
        """Buildings' addresses first, then houses', in id order within each."""
        if q.sortby:
            raise InvalidQuery("the address layer is sorted by source and id")
        parts = self._parts(store, q, principal)
        matched = sum(p[3] for p in parts)
        feats: list[dict[str, Any]] = []
        offset, remaining = q.offset, q.limit
        for kind, w, flt, n in parts:
            if remaining <= 0:
                break
            if offset >= n:
                offset -= n
                continue
            df = store.query(kind, bbox=q.bbox, as_of=q.as_of or _now(), where=w or None,
                             columns=["id", "address_id", "address"], order_by=["id"],
                             limit=remaining, offset=offset, filter=flt)
            offset = 0
            remaining -= len(df)
            feats.extend(self._to_features(df, kind, q.skip_geometry, q.target_crs))
        if q.properties is not None:
            keep = set(q.properties)
            for f in feats:
                f["properties"] = {k: v for k, v in f["properties"].items() if k in keep}
        return FeaturePage(feats, matched, 0)

    def _to_features(self, df: pd.DataFrame, kind: str, skip: bool,
                     target_crs: str | None) -> list[dict[str, Any]]:
        if skip:
            geoms: list[Any] = [None] * len(df)
        else:
            pts = shapely.point_on_surface(np.asarray(df.geometry.values, dtype=object))
            geoms = geometries_to_geojson(pts, target_crs)
        out = []
        for rec, g in zip(_records(df, ["id", "address_id", "address"]), geoms, strict=True):
            out.append({"type": "Feature", "id": rec["address_id"], "geometry": g,
                        "properties": {"address_id": rec["address_id"],
                                       "address": rec["address"], "source": kind,
                                       "entity_id": rec["id"]}})
        return out

    def feature(self, store: Store, fid: str, principal: Principal,
                target_crs: str | None = None) -> tuple[dict[str, Any], int]:
        """One address by its id."""
        for kind in self.sources:
            df = store.query(kind, where={"address_id": fid}, as_of=_now(),
                             columns=["id", "address_id", "address"], limit=1)
            if len(df):
                return self._to_features(df, kind, False, target_crs)[0], 0
        raise EntityNotFound(f"no address {fid!r}")


@lru_cache(maxsize=1)
def _count_pool() -> ThreadPoolExecutor:
    """Threads that count matches concurrently with the page (PostGIS stores)."""
    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="onemap-count")


def _and(a: Any, b: Any) -> Any:
    from pygeofilter import ast

    return ast.And(a, b)


# ---------------------------------------------------------------------------
# the catalog

EVERYONE = AccessRule(AccessRule.everyone())
DEPTS = AccessRule(AccessRule.departments())
#: The emergency department (and admin, who sees every layer).
EMERGENCY = AccessRule(frozenset({"emergency"}))
#: Who sees person-level rows.
PERSONS_ACCESS = AccessRule(
    frozenset({"population"}),
    masked=tuple(c.name for c in schema("person").columns if c.personal),
    personal=True)

_AGG_KINDS = ("person", "building", "house", "enterprise", "industrial_space", "facility",
              "event", "sensor")


def default_catalog() -> dict[str, Layer]:
    """The layers of OneMap, by id."""
    from layers.hotspots import HotspotLayer  # its own module (it builds on this one)

    layers: list[Layer] = [
        EntityLayer("district", "district", "罗湖区", "District", EVERYONE,
                    "District outline (real, converted from GCJ-02).",
                    style=Style("#444444", 0.0, 2.0), minzoom=8, maxzoom=22),
        EntityLayer("subdistricts", "subdistrict", "街道", "Subdistricts", EVERYONE,
                    "The 10 subdistricts (real names and codes; synthetic outlines).",
                    style=Style("#666666", 0.05, 1.5), minzoom=8),
        EntityLayer("communities", "community", "社区", "Communities", EVERYONE,
                    "The 109 communities (real names and codes; synthetic outlines).",
                    style=Style("#888888", 0.05, 1.0), minzoom=10),
        EntityLayer("grids", "grid", "网格", "Grids", EVERYONE,
                    "Grid-management cells (synthetic).", style=Style("#aaaaaa", 0.0, 0.5),
                    minzoom=13),
        EntityLayer("roads", "road", "道路", "Roads", EVERYONE,
                    "Road segments with real Luohu road names (synthetic geometry).",
                    style=Style("#f2a541", 0.0, 2.0), minzoom=11),
        EntityLayer("water", "water", "水系", "Water", EVERYONE,
                    "Rivers and the Shenzhen reservoir (synthetic).",
                    style=Style("#4a90d9", 0.6, 1.0), minzoom=8),
        EntityLayer("buildings", "building", "楼栋", "Buildings", EVERYONE,
                    "Buildings with standard addresses.", style=Style("#b07aa1", 0.5, 0.5),
                    minzoom=14),
        EntityLayer("houses", "house", "房屋", "Houses", DEPTS,
                    "Dwelling and office units (departments only).",
                    style=Style("#9c755f", 0.8, 0.5, 2.0), minzoom=16),
        EntityLayer("persons", "person", "人口", "Persons", PERSONS_ACCESS,
                    "Person-level population records (population department only; audited).",
                    style=Style("#e15759", 0.8, 0.5, 2.0), minzoom=16),
        BlockLayer("population_blocks", "人口网格", "Population per H3 block", EVERYONE,
                   "Residents per res-9 H3 block; counts below k are suppressed.",
                   kind="person", res=9, persons_access=None,
                   style=Style("#e15759", 0.5, 0.5), minzoom=8, maxzoom=16),
        EntityLayer("enterprises", "enterprise", "商事主体", "Enterprises", EVERYONE,
                    "Registered enterprises (legal persons).",
                    style=Style("#59a14f", 0.8, 0.5, 3.0), minzoom=13),
        EntityLayer("industrial_spaces", "industrial_space", "产业空间", "Industrial spaces",
                    EVERYONE, "Industrial space and vacancy (current version by default).",
                    style=Style("#edc948", 0.8, 0.5, 3.0), minzoom=12),
        EntityLayer("facilities", "facility", "公共设施", "Facilities", EVERYONE,
                    "Service halls, fire stations, hospitals, schools, parking.",
                    style=Style("#76b7b2", 0.9, 0.5, 4.0), minzoom=11),
        EntityLayer("events", "event", "事件", "Events", DEPTS,
                    "Hotline, grid patrol and sensor alarm events (departments only).",
                    style=Style("#ff9da7", 0.9, 0.5, 3.0), minzoom=12),
        HotspotLayer("event_hotspots", "事件热点", "Event hot spots (Gi*)", DEPTS,
                     "Getis-Ord Gi* hot and cold spots of events per H3 cell (parameters "
                     "res 7-10, category; datetime: a period, or an instant for the 12 "
                     "months up to it); z, p and class hot/cold/none at p < 0.05."),
        SensorLayer("sensors", "sensor", "物联感知设备", "Sensors", EVERYONE,
                    "Sensors with their latest reading and alert state.",
                    style=Style("#4e79a7", 0.9, 0.5, 4.0), minzoom=11),
        AlertLayer("alerts", "预警", "Alerts", EMERGENCY,
                   "Sensor alerts: started when a reading crosses its threshold, ended "
                   "below the clear level (emergency and admin only).",
                   style=Style("#d62728", 0.9, 0.5, 5.0)),
        AddressLayer("addresses", "标准地址", "Standard addresses", EVERYONE,
                     "The standard address registry (buildings' and houses' addresses)."),
        BlockLayer("blocks", "H3网格汇总", "H3 block aggregates", EVERYONE,
                   "Counts per H3 cell of any kind at res 7-12 (parameters kind, res); "
                   "person counts below k are suppressed.", kind_choices=_AGG_KINDS,
                   persons_access=PERSONS_ACCESS, style=Style("#bab0ac", 0.4, 0.5),
                   minzoom=7, maxzoom=16),
    ]
    # population_blocks has no persons_access: its counts are always suppressed.
    return {lyr.id: lyr for lyr in layers}


def visible_layers(catalog: Mapping[str, Layer], principal: Principal) -> list[Layer]:
    """The layers ``principal`` may see, in catalog order."""
    return [lyr for lyr in catalog.values() if lyr.access.allows(principal)]

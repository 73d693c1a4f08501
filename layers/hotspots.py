"""The ``event_hotspots`` catalog layer: Getis-Ord Gi* hot and cold spots of events as a map
layer (OGC API Features items, vector tiles, the viewer's layer list), not only as the
output of the ``hotspots`` process.

Items are the district's H3 cells with ``count``, ``z``, ``p`` and ``class`` (hot, cold,
none at alpha 0.05, two-sided), computed by :func:`gis.cases.spatial.hotspots`. Parameters:
``res`` (7-10), ``category`` (one of the taxonomy, or all) and the period through
``datetime``: an interval ``a/b`` is the period (a date-only end includes that day); an
instant ``t`` is the twelve months up to ``t`` (what the viewer's time slider sends: "hot
spots as of t"); no ``datetime`` is every event. A result is cached per parameters and
dropped when the store's data version moves (another worker's or the CLI's ingest
included); stores without a version keep it :data:`TTL_S` seconds.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import shapely

from gis.cases.config import CATEGORIES
from gis.errors import EntityNotFound, InvalidQuery
from gis.filters import Queryable
from gis.model import ColType
from gis.store.base import Store
from gis.store.common import check_bbox
from gis.timeaxis import parse_as_of
from layers.access import Principal
from layers.catalog import BlockLayer, FeaturePage, FeatureQuery, Parameter, Style

#: Seconds a result is kept for a store that has no data version.
TTL_S = 60.0
CACHE_SIZE = 32
RES_CHOICES = (7, 8, 9, 10)
CLASSES = ("hot", "cold", "none")


def period_of(as_of: str | None) -> tuple[str | None, str | None]:
    """``[start, end)`` of the hot-spot period for a ``datetime`` value (module doc)."""
    tf = parse_as_of(as_of)
    if tf is None:
        return None, None

    def after(day: str) -> str:
        return (date.fromisoformat(day) + timedelta(days=1)).isoformat()

    if tf.is_instant and tf.end is not None:
        end = after(tf.end) if len(tf.end) == 10 else tf.end
        start = (date.fromisoformat(end[:10]) - timedelta(days=365)).isoformat()
        return start + end[10:], end
    last = tf.end
    if last is not None and len(last) == 10:
        last = after(last)
    return tf.start, last


class _Cache:
    """Small LRU of hot-spot results, keyed by store, data version and parameters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[Any, ...], tuple[float, dict[str, Any]]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, store: Store, res: int, category: str | None, start: str | None,
            end: str | None) -> dict[str, Any]:
        from gis.cases.spatial import hotspots

        version_of = getattr(store, "data_version", None)
        version = version_of() if callable(version_of) else None
        key = (id(store), version, res, category, start, end)
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and (version is not None or now - hit[0] < TTL_S):
                self._items.move_to_end(key)
                self.hits += 1
                return hit[1]
        result = hotspots(store, res, category, start, end)
        with self._lock:
            self.misses += 1
            self._items[key] = (now, result)
            while len(self._items) > CACHE_SIZE:
                self._items.popitem(last=False)
        return result

    def clear(self) -> None:
        """Forget every result."""
        with self._lock:
            self._items.clear()


CACHE = _Cache()


@dataclass
class HotspotLayer(BlockLayer):
    """Gi* hot spots of events per H3 cell (an aggregate layer with its own parameters).

    A :class:`BlockLayer` (H3 cell polygons with counts) so that the tile engine and the
    viewer draw it as they draw the other cell layers.
    """

    style: Style = field(default_factory=lambda: Style("#d7301f", 0.55, 0.3))
    minzoom: int = 9
    maxzoom: int = 16
    keywords: tuple[str, ...] = ("Getis-Ord Gi*", "hot spots", "热点", "events")

    @property
    def parameters(self) -> tuple[Parameter, ...]:  # type: ignore[override]
        """``res`` and ``category`` (the period is ``datetime``)."""
        return (Parameter("res", "integer", 9, RES_CHOICES, "H3 resolution (7-10)"),
                Parameter("category", "string", "", ("", *CATEGORIES),
                          "event category (empty: all)"))

    @property
    def kinds(self) -> tuple[str, ...]:
        """Computed from events (tiles are invalidated by event writes)."""
        return ("event",)

    def property_types(self) -> dict[str, dict[str, Any]]:
        """cell, res, category, count, z, p, class."""
        return {"cell": {"type": "string", "description": "H3 cell (hex)"},
                "res": {"type": "integer"},
                "category": {"type": "string", "description": "empty: all categories"},
                "count": {"type": "integer", "description": "events in the cell and period"},
                "z": {"type": "number", "description": "Gi* z-score"},
                "p": {"type": "number", "description": "two-sided normal p-value"},
                "class": {"type": "string", "enum": list(CLASSES),
                          "description": "hot / cold where p < 0.05, else none"}}

    def queryables(self, principal: Principal) -> dict[str, Queryable]:
        """``class`` (e.g. ``class=hot``)."""
        return {"class": Queryable("class", ColType.TEXT)}

    def _result(self, store: Store, q: FeatureQuery) -> tuple[dict[str, Any], int, str]:
        params = {p.name: p for p in self.parameters}
        res = int(params["res"].parse(q.params.get("res")))
        category = str(params["category"].parse(q.params.get("category")))
        start, end = period_of(q.as_of)
        return CACHE.get(store, res, category or None, start, end), res, category

    def features(self, store: Store, q: FeatureQuery, principal: Principal) -> FeaturePage:
        """The cells (filtered by bbox and ``class``), paged."""
        if q.filter is not None:
            raise InvalidQuery("the hot-spot layer takes bbox, datetime, res, category and "
                               "class only")
        if q.sortby:
            raise InvalidQuery("the hot-spot layer is sorted by cell")
        unknown = set(q.where) - {"class"}
        if unknown:
            raise InvalidQuery(f"unknown or not queryable property {sorted(unknown)[0]!r}")
        wanted = q.where.get("class")
        if wanted is not None and wanted not in CLASSES:
            raise InvalidQuery(f"class must be one of {', '.join(CLASSES)}")
        result, res, category = self._result(store, q)
        feats = result["features"]
        if wanted is not None:
            feats = [f for f in feats if f["properties"]["class"] == wanted]
        if q.bbox is not None:
            box = shapely.box(*check_bbox(q.bbox)[:4])
            polys = shapely.polygons([f["geometry"]["coordinates"][0] for f in feats]) \
                if feats else np.zeros(0, dtype=object)
            keep = shapely.intersects(polys, box)
            feats = [f for f, k in zip(feats, keep.tolist(), strict=True) if k]
        matched = len(feats)
        page = feats[q.offset:q.offset + q.limit]
        out = [self._feature(f, res, category, q) for f in page]
        return FeaturePage(out, matched, 0)

    def _feature(self, f: dict[str, Any], res: int, category: str,
                 q: FeatureQuery) -> dict[str, Any]:
        from layers.catalog import geometries_to_geojson

        props = {"cell": f["id"], "res": res, "category": category,
                 **{k: f["properties"][k] for k in ("count", "z", "p", "class")}}
        if q.properties is not None:
            props = {k: v for k, v in props.items() if k in set(q.properties)}
        ring = f["geometry"]["coordinates"][0]
        geom: Any = None
        if q.skip_geometry:
            pass
        elif q.target_crs is None:
            # A copy: the cached result is shared by every request.
            geom = {"type": "Polygon", "coordinates": [[list(pt) for pt in ring]]}
        else:
            geom = geometries_to_geojson([shapely.Polygon(ring)], q.target_crs)[0]
        return {"type": "Feature", "id": f["id"], "geometry": geom, "properties": props}

    def feature(self, store: Store, fid: str, principal: Principal,
                target_crs: str | None = None) -> tuple[dict[str, Any], int]:
        """One cell (hex id) of the default parameters (res 9, all categories, all time)."""
        result, res, category = self._result(store, FeatureQuery())
        for f in result["features"]:
            if f["id"] == fid:
                return self._feature(f, res, category, FeatureQuery(target_crs=target_crs)), 0
        raise EntityNotFound(f"no cell {fid!r} in {self.id}")

"""Reverse geocoding: a point → the nearest standard addresses and what contains it.

Input points may be WGS84 (default), GCJ-02 or BD-09; they are converted
once, at this boundary (:func:`gis.crs.to_wgs84`). Distances are measured in
the district's metric CRS (CGCS2000 / 3-degree GK CM 114E) with shapely's
STRtree over the building address points, built once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely

from address.errors import AddressInputError
from address.gazetteer import DISTRICT, DISTRICTS
from address.geocoder import Candidate
from address.registry import AddressRegistry, AdminUnit
from gis.crs import COORDSYS, to_metric, to_wgs84
from gis.h3cells import BLOCK_RES, cell_to_str, lnglat_to_cells

#: Largest search radius accepted (metres).
MAX_RADIUS_M = 5000.0
#: Most results per request.
MAX_LIMIT = 100


@dataclass
class ReverseResult:
    """Nearest addresses (with ``distance_m``) and the admin units, grid and block
    containing the point."""

    lon: float
    lat: float
    results: list[tuple[Candidate, float]] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)

    def as_geojson(self) -> dict[str, Any]:
        """A FeatureCollection, nearest first, with a top-level ``context`` member."""
        return {
            "type": "FeatureCollection",
            "features": [c.as_feature(distance_m=d) for c, d in self.results],
            "numberReturned": len(self.results),
            "query": {"lon": round(self.lon, 7), "lat": round(self.lat, 7)},
            "context": self.context,
        }


class ReverseGeocoder:
    """Nearest-address search over the buildings of one registry."""

    def __init__(self, registry: AddressRegistry) -> None:
        self.registry = registry
        x, y = to_metric(registry.b_lon, registry.b_lat)
        self._pts: npt.NDArray[np.object_] = np.asarray(
            shapely.points(np.asarray(x), np.asarray(y)), dtype=object).reshape(-1)
        self._tree = shapely.STRtree(self._pts)
        self._admin: dict[str, tuple[shapely.STRtree, list[AdminUnit]]] = {}
        for level, units in registry.admin.items():
            geoms = np.asarray([u.geometry for u in units], dtype=object)
            self._admin[level] = (shapely.STRtree(geoms), units)

    def reverse(self, lon: float, lat: float, radius: float = 100.0, limit: int = 5,
                coordsys: str = "wgs84") -> ReverseResult:
        """Standard addresses within ``radius`` metres of the point, nearest first."""
        lon, lat = _check_point(lon, lat, coordsys)
        if not (isinstance(radius, int | float) and math.isfinite(radius)
                and 0 < radius <= MAX_RADIUS_M):
            raise AddressInputError(f"radius must be a number in (0, {MAX_RADIUS_M:g}] metres")
        if not 1 <= int(limit) <= MAX_LIMIT:
            raise AddressInputError(f"limit must be 1-{MAX_LIMIT}")
        x, y = to_metric(lon, lat)
        origin = shapely.Point(float(x), float(y))
        idx = self._tree.query(origin, predicate="dwithin", distance=radius)
        out: list[tuple[Candidate, float]] = []
        if len(idx):
            dist = shapely.distance(self._pts[idx], origin)
            order = np.lexsort((idx, dist))[: int(limit)]
            reg = self.registry
            for k in order:
                e = reg.buildings[int(idx[k])]
                cand = Candidate(e.address_id, e.address, e.level, e.lon, e.lat, 1.0,
                                 e.subdistrict_code, e.community_code, e.block)
                out.append((cand, round(float(dist[k]), 1)))
        return ReverseResult(lon, lat, out, self.context(lon, lat))

    def context(self, lon: float, lat: float) -> dict[str, Any]:
        """The district, subdistrict, community, grid and H3 block containing the point."""
        pt = shapely.Point(lon, lat)
        ctx: dict[str, Any] = {}
        inside_any = False
        for level in ("subdistrict", "community", "grid"):
            tree_units = self._admin.get(level)
            unit = None
            if tree_units is not None:
                tree, units = tree_units
                hits = tree.query(pt, predicate="intersects")
                if len(hits):
                    unit = units[int(min(hits))]
            ctx[level] = None if unit is None else {"code": unit.code, "name": unit.name}
            inside_any = inside_any or unit is not None
        reg = self.registry
        code = reg.district.address_id[1:]
        ctx["district"] = ({"code": code, "name": DISTRICTS.get(code, DISTRICT)}
                           if inside_any else None)
        cell = int(lnglat_to_cells([lon], [lat], BLOCK_RES)[0])
        ctx["block"] = cell_to_str(cell) if cell else None
        return ctx


def _check_point(lon: Any, lat: Any, coordsys: str) -> tuple[float, float]:
    cs = str(coordsys).lower()
    if cs not in COORDSYS:
        raise AddressInputError(f"coordsys must be one of {', '.join(COORDSYS)}")
    try:
        lon_f, lat_f = float(lon), float(lat)
    except (TypeError, ValueError):
        raise AddressInputError("lon and lat must be numbers") from None
    if not (math.isfinite(lon_f) and math.isfinite(lat_f)
            and -180 <= lon_f <= 180 and -90 <= lat_f <= 90):
        raise AddressInputError("lon must be in -180..180 and lat in -90..90")
    x, y = to_wgs84(lon_f, lat_f, cs)
    return float(x), float(y)

"""Route: the fastest path between two points on the walk or drive network."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import shapely

from gis.analysis.netinputs import check_mode, check_point
from gis.network import network_service
from gis.network.graph import to_wgs84
from gis.store.base import Store


@dataclass(frozen=True)
class RouteInput:
    """``origin``/``target`` as [lon, lat] and a ``mode`` (walk or drive)."""

    origin: Any
    target: Any
    mode: Any = "walk"


def route(store: Store, inp: RouteInput, engine: str = "scipy") -> dict[str, Any]:
    """A GeoJSON Feature LineString with ``distance_m``, ``duration_s`` and ``mode``.

    Both points are snapped to the nearest segment of the mode (``snap_m``
    reports how far); the path runs from the snapped origin to the snapped
    target. Raises :class:`gis.network.SnapError` or :class:`gis.network.Unreachable`.
    """
    mode = check_mode(inp.mode)
    o = check_point(inp.origin, "from")
    t = check_point(inp.target, "to")
    net = network_service(store).get(mode)
    a, b = net.snap(*o), net.snap(*t)
    path = net.route(a, b, engine=engine)
    return {
        "type": "Feature",
        "geometry": shapely.geometry.mapping(to_wgs84(path.geometry_m)),
        "properties": {
            "mode": mode,
            "distance_m": round(path.distance_m, 1),
            "duration_s": round(path.duration_s, 1),
            "from_snap_m": a.distance_m,
            "to_snap_m": b.distance_m,
            "from_snapped": [round(v, 7) for v in a.lonlat()],
            "to_snapped": [round(v, 7) for v in b.lonlat()],
        },
    }

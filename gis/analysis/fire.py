"""Fire response (智慧消防): drive time from the nearest fire station to every building."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from gis.analysis.coverage import facility_reach
from gis.analysis.netinputs import check_minutes, check_mode
from gis.errors import InvalidQuery
from gis.store.base import Store


@dataclass(frozen=True)
class FireResponseInput:
    """``minutes`` (the response goal, default 5), ``mode`` (drive), ``as_of``,
    ``include_buildings`` (every building's time as features, for the map layer)."""

    minutes: Any = 5
    mode: Any = "drive"
    as_of: Any = None
    include_buildings: bool = False


def fire_response(store: Store, inp: FireResponseInput) -> dict[str, Any]:
    """Response time per building, the covered shares and the uncovered buildings.

    The time runs from the station's street point to the building's street
    point on the drive network (no turn-out time). Buildings never reached
    have ``response_s`` None.
    """
    mins = check_minutes(inp.minutes)
    if len(mins) != 1:
        raise InvalidQuery("minutes must be one number")
    minutes = mins[0]
    mode = check_mode(inp.mode)
    r = facility_reach(store, "fire_station", mode, inp.as_of, np.inf)
    day, tt = r.day, r.times_s
    b = r.demand.res.buildings
    pop = b["population"].to_numpy()
    ok = tt <= minutes * 60.0
    pts = shapely.point_on_surface(b.geometry.to_numpy())
    xy = np.round(shapely.get_coordinates(pts), 7)

    def feature(i: int) -> dict[str, Any]:
        v = float(tt[i])
        return {"type": "Feature", "id": str(b["id"].iloc[i]),
                "geometry": {"type": "Point", "coordinates": [float(xy[i, 0]), float(xy[i, 1])]},
                "properties": {"id": str(b["id"].iloc[i]),
                               "response_s": round(v, 1) if np.isfinite(v) else None,
                               "covered": bool(ok[i])}}

    n = len(b)
    out: dict[str, Any] = {
        "minutes": minutes, "mode": mode, "as_of": day, "stations": r.facilities,
        "buildings": n, "buildings_covered": int(ok.sum()),
        "buildings_share": round(float(ok.mean()), 4) if n else None,
        "residents": int(pop.sum()), "residents_covered": int(pop[ok].sum()),
        "residents_share": round(float(pop[ok].sum() / pop.sum()), 4) if pop.sum() else None,
        "response_s_p50": _pct(tt, 50), "response_s_p95": _pct(tt, 95),
        "uncovered": {"type": "FeatureCollection",
                      "features": [feature(i) for i in np.flatnonzero(~ok).tolist()]},
    }
    if inp.include_buildings:
        out["buildings_layer"] = {"type": "FeatureCollection",
                                  "features": [feature(i) for i in range(n)]}
    return out


def _pct(values: np.ndarray, q: float) -> float | None:
    v = values[np.isfinite(values)]
    return round(float(np.percentile(v, q)), 1) if len(v) else None

"""Nearest facility by network travel time (就近办事, nearest free parking)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from gis.analysis.common import as_of_date
from gis.analysis.netinputs import (
    check_facility_type,
    check_k,
    check_mode,
    check_point,
    facilities,
    locate,
)
from gis.errors import InvalidQuery
from gis.network import Snap, network_service
from gis.store.base import Store
from gis.timeaxis import parse_as_of

#: Sensor id of a parking lot's occupancy counter (data/synth/parking.py).
PARKING_SENSOR_PREFIX = "PK-"


@dataclass(frozen=True)
class NearestInput:
    """``origin`` [lon, lat], ``facility_type``, ``k``, ``mode`` and (parking) ``as_of``."""

    origin: Any
    facility_type: Any
    k: Any = 3
    mode: Any = "walk"
    as_of: Any = None


def _instant(as_of: Any) -> datetime | None:
    if as_of is None:
        return None
    tf = parse_as_of(str(as_of))
    if tf is None or not tf.is_instant or tf.start is None:
        raise InvalidQuery("as_of must be one instant (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)")
    text = tf.start
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def free_spaces(store: Store, lot_ids: list[str], at: datetime | None) -> dict[str, int | None]:
    """Free spaces of each parking lot at ``at`` (the last occupancy reading at or before it,
    at most two hours old); None when the lot has no such reading. ``at`` None: the
    time of the latest reading of the lots."""
    ids = [PARKING_SENSOR_PREFIX + i for i in lot_ids]
    if at is None:
        latest = store.latest_readings(ids)
        if len(latest) == 0:
            return dict.fromkeys(lot_ids)
        at = datetime.fromtimestamp(int(pd.to_numeric(latest["ts"]).max()), UTC)
    # readings() is [start, end): end one second after ``at`` so a reading at ``at`` counts.
    end = datetime.fromtimestamp(at.timestamp() + 1, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    start = datetime.fromtimestamp(at.timestamp() - 7200, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    sensors = store.query("sensor", where={"sensor_type": "parking_occupancy"},
                          columns=["id", "threshold"])
    cap = dict(zip(sensors["id"], pd.to_numeric(sensors["threshold"]), strict=True))
    out: dict[str, int | None] = {}
    for lot, sid in zip(lot_ids, ids, strict=True):
        r = store.readings(sid, start, end) if sid in cap else pd.DataFrame()
        if len(r) == 0:
            out[lot] = None
            continue
        last = r.sort_values("ts").iloc[-1]
        out[lot] = int(max(0.0, float(cap[sid]) - float(last["value"])))
    return out


def nearest_facility(store: Store, inp: NearestInput) -> dict[str, Any]:
    """The ``k`` facilities of a type reached soonest from ``origin`` (FeatureCollection).

    Travel time runs on the network from the snapped origin to each facility's
    snapped point. For ``parking`` only lots with free spaces at ``as_of`` count.
    """
    mode = check_mode(inp.mode)
    o = check_point(inp.origin, "origin")
    ftype = check_facility_type(inp.facility_type)
    k = check_k(inp.k)
    at = _instant(inp.as_of) if ftype == "parking" else None
    day = as_of_date(at.date() if at else inp.as_of if ftype != "parking" else None)
    net = network_service(store).get(mode)
    snap = net.snap(*o)
    fac = facilities(store, ftype, day).reset_index(drop=True)
    free: dict[str, int | None] = {}
    if ftype == "parking" and len(fac):
        free = free_spaces(store, [str(i) for i in fac["id"]], at)
        fac = fac[[(free.get(str(i)) or 0) > 0 for i in fac["id"]]].reset_index(drop=True)
    loc = locate(net, fac.geometry.to_numpy())
    node_time = net.reach_from([snap])
    tt = net.arrival(node_time, loc.seg, loc.t,
                     sources=(np.array([snap.seg]), np.array([snap.t])))
    # Distance along the network: the same path's length is not tracked by the
    # reach, so each of the k answers is routed (k is small).
    order = [i for i in np.argsort(tt, kind="stable") if np.isfinite(tt[i])][:k]
    features = []
    for i in order:
        seg, t = int(loc.seg[i]), float(loc.t[i])
        g = net.seg_geom[seg].interpolate(t, normalized=True)
        path = net.route(snap, Snap(seg, t, float(loc.distance_m[i]), g.x, g.y))
        row = fac.iloc[int(i)]
        props: dict[str, Any] = {
            "id": row["id"], "name": row["name"], "facility_type": ftype,
            "distance_m": round(path.distance_m, 1), "duration_s": round(float(tt[i]), 1),
            "mode": mode, "capacity": None if pd.isna(row["capacity"]) else int(row["capacity"]),
        }
        if ftype == "parking":
            props["free_spaces"] = free.get(str(row["id"]))
        features.append({"type": "Feature", "properties": props,
                         "geometry": row.geometry.__geo_interface__})
    return {"type": "FeatureCollection", "features": features,
            "origin_snap_m": snap.distance_m}

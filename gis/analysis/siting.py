"""Site suggestion: k new facility sites that add the most covered residents.

A greedy maximal-covering solution (Church & ReVelle's MCLP, solved greedily):
each round takes the candidate covering the most residents not yet covered by
the existing facilities or the sites already chosen. Greedy is within 1 - 1/e
of the optimum for this objective (it is submodular) and needs no solver;
spopt's MCLP would need an integer-programming solver installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from gis.analysis.common import as_of_date
from gis.analysis.coverage import building_times, demand, source_points
from gis.analysis.netinputs import (
    check_facility_type,
    check_k,
    check_minutes,
    check_mode,
    check_point,
    facilities,
)
from gis.crs import from_metric
from gis.errors import InvalidQuery
from gis.network import RoadNetwork, network_service
from gis.store.base import Store

#: Default candidates: one road node per cell of this size (m), so the set is
#: spread over the district and small enough to evaluate in a second.
CANDIDATE_CELL_M = 250.0
MAX_CANDIDATES = 2000
#: Candidates searched per csgraph call.
CHUNK = 200


@dataclass(frozen=True)
class SiteSuggestInput:
    """``facility_type``, ``minutes``, ``k`` new sites, ``mode``, ``as_of`` and optional
    ``candidates`` ([[lon, lat], ...]; default: road junctions spread over the district)."""

    facility_type: Any
    minutes: Any = 10
    k: Any = 3
    mode: Any = "walk"
    as_of: Any = None
    candidates: Any = None


def default_candidates(net: RoadNetwork) -> tuple[npt.NDArray[np.int64],
                                                   list[tuple[float, float]]]:
    """Junction nodes (degree ≥ 3), the first of each CANDIDATE_CELL_M cell, and their lon/lat."""
    deg = np.bincount(np.r_[net.arc_u, net.arc_v], minlength=net.n_nodes)
    idx = np.flatnonzero(deg >= 6)  # arcs counted both ways: degree 3 in the street graph
    xy = net.node_xy[idx]
    cell = np.floor(xy / CANDIDATE_CELL_M).astype(np.int64)
    _u, first = np.unique(cell, axis=0, return_index=True)
    keep = np.sort(first)
    sel = xy[keep]
    lon, lat = from_metric(sel[:, 0], sel[:, 1])
    ll = np.round(np.column_stack([lon, lat]), 7)
    return idx[keep].astype(np.int64), [(float(a), float(b)) for a, b in ll]


def site_suggest(store: Store, inp: SiteSuggestInput) -> dict[str, Any]:
    """The k sites chosen greedily, each with its gain, and the coverage before and after."""
    ftype = check_facility_type(inp.facility_type)
    mins = check_minutes(inp.minutes)
    if len(mins) != 1:
        raise InvalidQuery("minutes must be one number")
    limit = mins[0] * 60.0
    k = check_k(inp.k, hi=20)
    mode = check_mode(inp.mode)
    day = as_of_date(inp.as_of)
    net = network_service(store).get(mode)
    nodes: npt.NDArray[np.int64] | None = None
    if inp.candidates is None:
        nodes, cands = default_candidates(net)
    else:
        if not isinstance(inp.candidates, list) or not inp.candidates:
            raise InvalidQuery("candidates must be a non-empty list of [lon, lat]")
        if len(inp.candidates) > MAX_CANDIDATES:
            raise InvalidQuery(f"at most {MAX_CANDIDATES} candidates")
        cands = [check_point(c, "candidate") for c in inp.candidates]
        for c in cands:
            net.snap(*c)  # refuses a candidate off the network or outside the district
    dem = demand(store, net, day)
    pop = dem.res.buildings["population"].to_numpy()
    fac = facilities(store, ftype, day)
    seg, t = source_points(net, fac.geometry.to_numpy())
    covered = building_times(net, dem, seg, t, limit) <= limit
    before = int(pop[covered].sum())
    live = np.flatnonzero(pop > 0)
    # Coverage matrix: candidate → buildings with residents it reaches in time.
    cover = np.zeros((len(cands), len(live)), dtype=bool)
    sub = type(dem)(dem.res, type(dem.loc)(dem.loc.seg[live], dem.loc.t[live],
                                           dem.loc.distance_m[live]))
    if nodes is not None:
        # Candidates on junctions: one bounded multi-source csgraph call per chunk
        # gives every candidate's node times (a candidate is a node, so the
        # buildings are reached through the end nodes of their segments).
        for lo in range(0, len(nodes), CHUNK):
            times = net.reach_from_nodes(nodes[lo:lo + CHUNK], limit)
            for j in range(times.shape[0]):
                cover[lo + j] = net.arrival(times[j], sub.loc.seg, sub.loc.t) <= limit
    else:
        for j, c in enumerate(cands):
            sn = net.snap(*c)
            cover[j] = building_times(net, sub, np.array([sn.seg]), np.array([sn.t]),
                                      limit) <= limit
    w = pop[live]
    done = covered[live].copy()
    sites: list[dict[str, Any]] = []
    total = before
    for _ in range(min(k, len(cands))):
        gains = (cover & ~done) @ w
        j = int(np.argmax(gains))
        if gains[j] <= 0 and sites:
            break
        done |= cover[j]
        total += int(gains[j])
        sites.append({"rank": len(sites) + 1, "candidate": j,
                      "lon": round(cands[j][0], 7), "lat": round(cands[j][1], 7),
                      "gain": int(gains[j]), "covered_after": total})
    all_pop = int(pop.sum())
    return {
        "facility_type": ftype, "minutes": mins[0], "mode": mode, "as_of": day,
        "candidates": len(cands), "population": all_pop,
        "before": {"covered": before, "share": round(before / all_pop, 4) if all_pop else None},
        "after": {"covered": total, "share": round(total / all_pop, 4) if all_pop else None},
        "sites": {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [s["lon"], s["lat"]]},
             "properties": s} for s in sites]},
    }

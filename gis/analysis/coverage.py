"""Service coverage (十分钟政务服务圈): residents within reach of a facility type.

Every building standing at ``as_of`` is joined to the network at its nearest
street (the walk from the door to the street is not counted); a building is
covered when a facility of the type reaches its street point within
``minutes``. Residents are the persons registered in the building at
``as_of``. Gaps are the res-9 H3 blocks of the residents outside reach.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import h3
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from gis.analysis.common import as_of_date
from gis.analysis.netinputs import (
    Located,
    Residents,
    check_facility_type,
    check_minutes,
    check_mode,
    facilities,
    locate,
    residents,
)
from gis.crs import to_metric
from gis.errors import InvalidQuery
from gis.h3cells import cell_parent, cell_to_str
from gis.network import MODES, RoadNetwork, network_service
from gis.store.base import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CoverageInput:
    """``facility_type``, ``minutes`` (one number), ``mode`` and ``as_of``."""

    facility_type: Any
    minutes: Any = 10
    mode: Any = "walk"
    as_of: Any = None


@dataclass
class Demand:
    """Buildings with residents at a date, joined to one mode's network."""

    res: Residents
    loc: Located


def demand(store: Store, net: RoadNetwork, day: str) -> Demand:
    """The buildings at ``day`` with their residents and street points (cached per day)."""
    svc = network_service(store)
    key = ("demand", net.mode, day, id(net))
    hit = svc.cache.get(key)
    if isinstance(hit, Demand):
        return hit
    res = residents(store, day)
    out = Demand(res, locate(net, res.buildings.geometry.to_numpy()))
    svc.cache_put(key, out)
    return out


def warm(store: Store, day: str | None = None) -> None:
    """Join the buildings standing at ``day`` (today by default) to both graphs and count
    their residents, so the first coverage of the day answers at once.

    Run in a background thread at start-up: a failure (the store closing under it,
    say) is logged and dropped, never raised.
    """
    when = as_of_date(day)
    try:
        svc = network_service(store)
        for mode in MODES:
            demand(store, svc.get(mode), when)
    except Exception as exc:  # a warm-up must never break the app
        log.info("coverage warm-up stopped: %s", exc)


def source_points(net: RoadNetwork, geoms: npt.NDArray[Any],
                  extra: Sequence[tuple[float, float]] = ()) -> tuple[npt.NDArray[np.int64],
                                                                      npt.NDArray[np.float64]]:
    """(segment, fraction) of facility geometries plus extra [lon, lat] points."""
    loc = locate(net, geoms)
    seg, t = loc.seg[loc.ok()], loc.t[loc.ok()]
    if extra:
        lon = np.array([p[0] for p in extra])
        lat = np.array([p[1] for p in extra])
        x, y = to_metric(lon, lat)
        s2, t2, _d = net.snap_many(x, y)
        seg, t = np.r_[seg, s2[s2 >= 0]], np.r_[t, t2[s2 >= 0]]
    return seg, t


def building_times(net: RoadNetwork, dem: Demand, seg: npt.NDArray[np.int64],
                   t: npt.NDArray[np.float64], limit_s: float,
                   engine: str = "scipy") -> npt.NDArray[np.float64]:
    """Travel time (s) from the nearest source to each building (inf beyond ``limit_s``)."""
    node_time = net.reach_from((seg, t), limit_s, engine=engine)
    tt = np.full(len(dem.loc.seg), np.inf)
    ok = dem.loc.ok()
    tt[ok] = net.arrival(node_time, dem.loc.seg[ok], dem.loc.t[ok], sources=(seg, t))
    return tt


@dataclass(frozen=True)
class FacilityReach:
    """Travel time from the nearest facility of a type to every building standing at a date."""

    day: str
    demand: Demand
    facilities: int
    times_s: npt.NDArray[np.float64]  # per building of ``demand``; inf: not reached


def facility_reach(store: Store, facility_type: str, mode: str, as_of: Any, limit_s: float,
                   extra_sites: Sequence[tuple[float, float]] = (),
                   engine: str = "scipy") -> FacilityReach:
    """The reach shared by coverage, fire response and site suggestion (checked inputs)."""
    day = as_of_date(as_of)
    net = network_service(store).get(mode)
    dem = demand(store, net, day)
    fac = facilities(store, facility_type, day)
    seg, t = source_points(net, fac.geometry.to_numpy(), extra_sites)
    return FacilityReach(day, dem, len(fac),
                         building_times(net, dem, seg, t, limit_s, engine))


def covered_population(store: Store, facility_type: str, minutes: float, mode: str,
                       as_of: Any = None, extra_sites: Sequence[tuple[float, float]] = (),
                       engine: str = "scipy") -> tuple[int, int]:
    """(covered residents, all residents) with the facilities plus ``extra_sites``."""
    r = facility_reach(store, check_facility_type(facility_type), check_mode(mode), as_of,
                       minutes * 60.0, extra_sites, engine)
    pop = r.demand.res.buildings["population"].to_numpy()
    return int(pop[r.times_s <= minutes * 60.0].sum()), int(pop.sum())


def _share(a: int | None, b: int | None) -> float | None:
    return None if a is None or not b else round(a / b, 4)


@dataclass(frozen=True)
class CoverageResult:
    """Coverage per community, totals and the uncovered blocks."""

    facility_type: str
    minutes: float
    mode: str
    as_of: str
    facilities: int
    communities: list[dict[str, Any]]
    totals: dict[str, Any]
    gaps: dict[str, Any]
    suppressed: bool = False
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    def suppressed_copy(self, k: int) -> CoverageResult:
        """Only k-anonymous figures: blocks with fewer than k uncovered residents are left
        out of the gaps and community counts from 1 to k-1 are hidden."""
        def one(v: int | None) -> int | None:
            return None if v is not None and 0 < v < k else v

        rows = []
        for r in self.communities:
            pop, cov = one(r["population"]), one(r["covered"])
            rows.append({**r, "population": pop, "covered": cov,
                         "share": r["share"] if pop is not None and cov is not None else None})
        feats = [f for f in self.gaps["features"] if f["properties"]["uncovered"] >= k]
        dropped = len(self.gaps["features"]) - len(feats)
        return replace(self, communities=rows, gaps={**self.gaps, "features": feats},
                       suppressed=True,
                       notes=[*self.notes, f"person counts from 1 to {k - 1} are suppressed; "
                                           f"{dropped} gap blocks with fewer than {k} "
                                           "residents are not shown"])


def _gap_features(b: pd.DataFrame, uncovered: npt.NDArray[np.bool_]) -> list[dict[str, Any]]:
    sel = b[uncovered & (b["population"].to_numpy() > 0)]
    if len(sel) == 0:
        return []
    blocks = cell_parent(sel["block"].to_numpy(dtype=np.int64), 9)
    counts = pd.Series(sel["population"].to_numpy(), index=blocks).groupby(level=0).sum()
    feats = []
    for cell, n in zip(counts.index.tolist(), counts.tolist(), strict=True):
        hexid = cell_to_str(int(cell))
        ring = [(round(lng, 7), round(lat, 7)) for lat, lng in h3.cell_to_boundary(hexid)]
        ring.append(ring[0])
        feats.append({"type": "Feature", "id": hexid,
                      "geometry": shapely.geometry.mapping(shapely.Polygon(ring)),
                      "properties": {"block": hexid, "uncovered": int(n)}})
    return feats


def service_coverage(store: Store, inp: CoverageInput, engine: str = "scipy") -> CoverageResult:
    """Residents within ``minutes`` of a facility of the type, per community and in total."""
    ftype = check_facility_type(inp.facility_type)
    mins = check_minutes(inp.minutes)
    if len(mins) != 1:
        raise InvalidQuery("minutes must be one number for a coverage")
    minutes = mins[0]
    mode = check_mode(inp.mode)
    r = facility_reach(store, ftype, mode, inp.as_of, minutes * 60.0, engine=engine)
    day = r.day
    covered = r.times_s <= minutes * 60.0
    b = r.demand.res.buildings
    pop = b["population"].to_numpy()
    frame = pd.DataFrame({"community_code": b["community_code"].astype(str), "population": pop,
                          "covered": np.where(covered, pop, 0)})
    per = frame.groupby("community_code")[["population", "covered"]].sum()
    coms = store.query("community", as_of=day, columns=["code", "name"], order_by=["code"])
    rows = []
    for code, name in zip(coms["code"].astype(str), coms["name"], strict=True):
        p = int(per.loc[code, "population"]) if code in per.index else 0
        c = int(per.loc[code, "covered"]) if code in per.index else 0
        rows.append({"community_code": code, "name": name, "population": p, "covered": c,
                     "share": _share(c, p)})
    # Buildings outside every community (none in the demo) still count in the totals.
    tp, tc = int(pop.sum()), int(pop[covered].sum())
    return CoverageResult(
        facility_type=ftype, minutes=minutes, mode=mode, as_of=day, facilities=r.facilities,
        communities=rows, totals={"population": tp, "covered": tc, "share": _share(tc, tp)},
        gaps={"type": "FeatureCollection", "features": _gap_features(b, ~covered)},
    )


"""Space matching (招商引资 / 稳商): where can this enterprise go?

A :class:`Demand` (area range, use, maximum rent, where, when, needs) is
matched against the industrial spaces *as they are at the move-in date* (the
quarterly version valid that day; after the last reported quarter, the last
one). A space is offered only when its vacant area at that date reaches the
demand's minimum. Each candidate carries a score (0-100) and its parts, each
in [0, 1], so the ranking can be explained to the enterprise:

==============  ======  =====================================================
part            weight  meaning
==============  ======  =====================================================
area_fit        0.25    1 when the offered vacant area lies in [min, max];
                        max/vacant when the offer is larger than wanted
rent            0.20    share of the budget left: 1 - rent / max_rent
vacancy         0.15    vacant area at the move-in date / the wanted maximum
cluster         0.15    same-industry enterprises in the H3 res-9 ring (k=1)
                        around the space: n / (n + 20); skipped when the
                        demand names no industry and no enterprise
accessibility   0.15    distance to the nearest arterial road: 1 at 100 m or
                        less, 0 at 1,500 m or more (the demo has no metro
                        layer; Luohu's metro lines run under its arterials)
building_age    0.10    1 for a new building, 0 at 50 years or older
==============  ======  =====================================================

The score is the weighted mean of the parts that apply, times 100. When no
single unit has enough vacant area, units of one building or park (the
buildings of one estate) are combined, largest vacancy first, until the
minimum is reached; such offers say ``combined: true`` and their area fit is
multiplied by 0.8 (a split tenancy is less convenient). See docs/enterprise.md.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any, Literal

import numpy as np
import shapely
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from gis.analysis.enterprise_data import Snapshot, day_number, snapshot
from gis.errors import InvalidQuery
from gis.store.base import Store

#: The uses of industrial space in the data (data/synth/activity.py SPACE_USES).
USES = ("研发", "办公", "生产", "仓储", "商业")
#: Types of industrial space.
SPACE_TYPES = ("创新型产业用房", "政府物业", "产业园区", "社会物业")
#: Weights of the score's parts (module docstring).
WEIGHTS: dict[str, float] = {"area_fit": 0.25, "rent": 0.20, "vacancy": 0.15, "cluster": 0.15,
                             "accessibility": 0.15, "building_age": 0.10}
#: Needs a demand may state, and what each requires of a space.
NEEDS: dict[str, str] = {
    "near_arterial": "within 300 m of an arterial road (metro-served in Luohu)",
    "near_similar": "at least 3 enterprises of the same industry in the H3 ring",
    "ground_floor": "in an industrial building of at most 6 floors (demo proxy for "
                    "ground-floor access and floor load for production)",
}
NEAR_ARTERIAL_M = 300.0
NEAR_SIMILAR_MIN = 3
GROUND_FLOOR_MAX_FLOORS = 6
COMBINED_FIT_FACTOR = 0.8
INDUSTRIES = tuple("ABCDEFGHIJKLMNOPQRST")


class InvalidDemand(InvalidQuery):
    """A demand that cannot be matched as given (bad area, use, date, place...)."""


class Reach(BaseModel):
    """The need "within ``minutes`` of ``origin`` by ``mode``" on the road network."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    origin: tuple[float, float] = Field(description="[lon, lat] of the place to reach from")
    minutes: float = Field(gt=0, le=120)
    mode: Literal["walk", "drive"] = "drive"


class Demand(BaseModel):
    """A space demand, validated (bounds here; date and place against the data later)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    area_m2: tuple[float, float] = Field(description="[min, max] floor area wanted, m²")
    use: Literal["研发", "办公", "生产", "仓储", "商业"]
    max_rent: float = Field(gt=0, le=10_000, description="CNY per m² per month")
    subdistricts: tuple[str, ...] = ()
    area: dict[str, Any] | None = Field(default=None, description="GeoJSON (Multi)Polygon")
    move_in: date | None = None
    needs: tuple[Literal["near_arterial", "near_similar", "ground_floor"], ...] = ()
    reach: Reach | None = Field(default=None, description="within N minutes of a place")
    enterprise_id: str | None = None
    industry: str | None = Field(default=None, description="GB/T 4754 section letter")
    space_types: tuple[Literal["创新型产业用房", "政府物业", "产业园区", "社会物业"], ...] = ()
    limit: int = Field(default=20, ge=1, le=200)

    @field_validator("area_m2")
    @classmethod
    def _range(cls, v: tuple[float, float]) -> tuple[float, float]:
        lo, hi = v
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo <= 0 or hi <= 0:
            raise ValueError("area_m2 must be two positive numbers [min, max]")
        if lo > hi:
            raise ValueError("area_m2: min is larger than max")
        if hi > 1_000_000:
            raise ValueError("area_m2: max is larger than 1,000,000 m²")
        return v

    @field_validator("industry")
    @classmethod
    def _industry(cls, v: str | None) -> str | None:
        if v is not None and v not in INDUSTRIES:
            raise ValueError("industry must be a GB/T 4754 section letter A-T")
        return v


def parse_demand(data: dict[str, Any]) -> Demand:
    """A :class:`Demand` from JSON-like input; raises :class:`InvalidDemand` (→ 400)."""
    if not isinstance(data, dict):
        raise InvalidDemand("the demand must be a JSON object")
    try:
        return Demand.model_validate(data)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            loc = ".".join(str(x) for x in err.get("loc", ()))
            msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            parts.append(f"{loc}: {msg}" if loc else msg)
        raise InvalidDemand("; ".join(parts)) from None


@dataclass(frozen=True)
class Candidate:
    """One offer: a space, or units of one building/park combined."""

    space_ids: list[str]
    building_id: str | None
    name: str
    space_type: str
    use: str
    subdistrict_code: str | None
    score: float
    parts: dict[str, float | None]
    rent: float
    vacant_m2: float
    area_m2: float
    vacancy_rate: float
    lon: float
    lat: float
    combined: bool = False
    same_industry_nearby: int | None = None
    arterial_m: float | None = None
    year_built: int | None = None
    explanation: list[str] = field(default_factory=list)
    #: Minutes from the demand's ``reach.origin`` on the road network (None: not asked).
    travel_min: float | None = None


@dataclass(frozen=True)
class MatchResult:
    """Ranked candidates (highest score first) and how they were found."""

    move_in: str
    data_quarter: str
    candidates: list[Candidate]
    combined: bool
    considered: int
    notes: list[str]
    weights: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def _iso(day: int) -> str:
    return str(np.datetime64(int(day), "D"))


def _area_geometry(snap: Snapshot, area: dict[str, Any]) -> BaseGeometry:
    try:
        geom = shape(area.get("geometry", area) if area.get("type") == "Feature" else area)
    except Exception:
        raise InvalidDemand("area is not a valid GeoJSON geometry") from None
    if geom.is_empty or shapely.get_type_id(geom) not in (3, 6):
        raise InvalidDemand("area must be a GeoJSON Polygon or MultiPolygon")
    if not geom.is_valid:
        raise InvalidDemand(f"area is not valid: {shapely.is_valid_reason(geom)}")
    if snap.district is not None and not geom.intersects(snap.district):
        raise InvalidDemand("area lies outside the district")
    return geom


def _float(v: Any) -> float:
    return float(v) if isinstance(v, int | float) else math.nan


def _clip01(x: float) -> float:
    return float(min(1.0, max(0.0, x)))


def match_spaces(store: Store, demand: Demand | dict[str, Any]) -> MatchResult:
    """Ranked candidate spaces for ``demand`` (see the module docstring)."""
    d = demand if isinstance(demand, Demand) else parse_demand(demand)
    snap = snapshot(store)
    sp = snap.spaces
    if len(sp) == 0:
        raise InvalidDemand("the store holds no industrial space")
    today = datetime.now(UTC).date()
    move_in = d.move_in or today
    day = day_number(move_in.isoformat())
    if day < snap.first_day:
        raise InvalidDemand(f"move_in {move_in} is before the space data begins "
                            f"({_iso(snap.first_day)})")
    for code in d.subdistricts:
        if snap.subdistricts and code not in snap.subdistricts:
            raise InvalidDemand(f"unknown subdistrict code {code!r}")
    industry = d.industry
    notes: list[str] = []
    if d.enterprise_id is not None:
        row = snap.enterprise_row.get(d.enterprise_id)
        if row is None:
            raise InvalidDemand(f"unknown enterprise {d.enterprise_id!r}")
        industry = industry or str(snap.enterprises["industry"][row])
    if "near_similar" in d.needs and industry is None:
        raise InvalidDemand("need near_similar requires industry or enterprise_id")

    lo = d.area_m2[0]
    mask = sp.valid_at(day) & (sp["use"] == d.use) & (sp["rent"] <= d.max_rent)
    if d.space_types:
        mask &= np.isin(sp["space_type"], list(d.space_types))
    if d.subdistricts:
        mask &= np.isin(sp["subdistrict_code"], list(d.subdistricts))
    if d.area is not None:
        geom = _area_geometry(snap, d.area)
        mask &= shapely.contains_xy(geom, sp["lon"], sp["lat"])
    if day > snap.last_start:
        notes.append(f"vacancy and rent after {_iso(snap.last_start)} are those of the last "
                     "reported quarter")
    idx = np.flatnonzero(mask & (sp["vacant_m2"] > 0))
    counts = snap.industry_counts(day, industry) if industry else {}

    def bval(bid: Any, col: str) -> float:
        info = snap.building(bid)
        value = None if info is None else info.get(col)
        return float(value) if isinstance(value, int | float) else math.nan

    def need_ok(i: int) -> bool:
        bid = sp["building_id"][i]
        if "near_arterial" in d.needs and not bval(bid, "arterial_m") <= NEAR_ARTERIAL_M:
            return False
        if "near_similar" in d.needs and snap.ring_count(counts, int(sp["block"][i])) \
                < NEAR_SIMILAR_MIN:
            return False
        if "ground_floor" in d.needs:
            info = snap.building(bid)
            use = None if info is None else info.get("use")
            if use != "industrial" or not bval(bid, "floors") <= GROUND_FLOOR_MAX_FLOORS:
                return False
        return True

    idx = np.array([i for i in idx.tolist() if need_ok(i)], dtype=np.int64)
    travel: dict[int, float] = {}
    if d.reach is not None and len(idx):
        minutes = _travel_minutes(store, d.reach, sp["lon"][idx], sp["lat"][idx])
        keep = minutes <= d.reach.minutes
        travel = {int(i): float(m) for i, m in zip(idx[keep], minutes[keep], strict=True)}
        idx = idx[keep]
        notes.append(f"only spaces within {d.reach.minutes:g} minutes ({d.reach.mode}) of "
                     f"{list(d.reach.origin)} on the road network")
    single = idx[sp["vacant_m2"][idx] >= lo] if len(idx) else idx
    combined = False
    groups: list[list[int]] = [[int(i)] for i in single]
    if len(groups) == 0 and len(idx):
        groups = _combine(snap, idx, lo)
        combined = bool(groups)
        if combined:
            notes.append("no single unit has enough vacant area: offers combine vacant units "
                         "of one building or park")
    cands = [_candidate(snap, g, d, day, counts, industry, combined) for g in groups]
    if travel:  # a combined offer is as far as its farthest unit
        row_of = {str(sp["id"][i]): i for i in travel}
        cands = [replace(c, travel_min=round(max(travel[row_of[str(s)]] for s in c.space_ids),
                                             1)) for c in cands]
    cands.sort(key=lambda c: (-c.score, c.rent, c.space_ids[0]))
    if not cands:
        notes.append("no space has enough vacant area at the move-in date under these "
                     "conditions")
    q = sp.vf[sp.valid_at(day)]
    return MatchResult(move_in=move_in.isoformat(),
                       data_quarter=_iso(int(q.max())) if len(q) else "",
                       candidates=cands[: d.limit], combined=combined, considered=len(idx),
                       notes=notes, weights=dict(WEIGHTS))


def _travel_minutes(store: Store, reach: Reach, lon: np.ndarray, lat: np.ndarray
                    ) -> np.ndarray:
    """Minutes from ``reach.origin`` to each point on the mode's road network (inf: none).

    The same snapping and reach as the network processes (gis.network): an origin
    outside the district or far from a road is a 400 there and here.
    """
    from gis.analysis.netinputs import check_point, locate
    from gis.network import network_service

    o = check_point(list(reach.origin), "reach.origin")
    net = network_service(store).get(reach.mode)
    start = net.snap(*o)
    loc = locate(net, np.asarray(shapely.points(lon, lat), dtype=object))
    node_time = net.reach_from([start])
    tt = net.arrival(node_time, loc.seg, loc.t,
                     sources=(np.array([start.seg]), np.array([start.t])))
    return np.asarray(tt, dtype=np.float64) / 60.0


def _combine(snap: Snapshot, idx: np.ndarray, lo: float) -> list[list[int]]:
    """Units of one building or park (estate) whose vacant areas together reach ``lo``."""
    sp = snap.spaces
    by: dict[str, list[int]] = {}
    for i in idx.tolist():
        bid = sp["building_id"][i]
        info = snap.building(bid)
        estate = None if info is None else info.get("estate")
        key = f"estate:{estate!s}" if estate else f"building:{bid!s}"
        by.setdefault(key, []).append(int(i))
    out = []
    for units in by.values():
        units.sort(key=lambda i: (-float(sp["vacant_m2"][i]), str(sp["id"][i])))
        total, take = 0.0, []
        for i in units:
            take.append(i)
            total += float(sp["vacant_m2"][i])
            if total >= lo:
                out.append(take)
                break
    return out


def _candidate(snap: Snapshot, rows: list[int], d: Demand, day: int, counts: dict[int, int],
               industry: str | None, combined: bool) -> Candidate:
    sp = snap.spaces
    lo, hi = d.area_m2
    vac = np.array([float(sp["vacant_m2"][i]) for i in rows])
    area = float(sum(float(sp["area_m2"][i]) for i in rows))
    vacant = float(vac.sum())
    rent = float(np.average([float(sp["rent"][i]) for i in rows], weights=vac))
    first = rows[0]
    bid = sp["building_id"][first]
    binfo = snap.building(bid)
    parts: dict[str, float | None] = {}
    why: list[str] = []
    fit = 1.0 if vacant <= hi else hi / vacant
    if combined:
        fit *= COMBINED_FIT_FACTOR
    parts["area_fit"] = round(fit, 3)
    why.append(f"{vacant:.0f} m² vacant for {lo:.0f}-{hi:.0f} m² wanted"
               + (f" ({len(rows)} units combined)" if combined else ""))
    parts["rent"] = round(_clip01(1.0 - rent / d.max_rent), 3)
    why.append(f"rent {rent:.1f} CNY/m²/month of at most {d.max_rent:.1f}")
    parts["vacancy"] = round(_clip01(vacant / hi), 3)
    near = None
    if industry:
        near = snap.ring_count(counts, int(sp["block"][first]))
        parts["cluster"] = round(near / (near + 20.0), 3)
        why.append(f"{near} enterprises of industry {industry} in the surrounding blocks")
    else:
        parts["cluster"] = None
    art = _float(None if binfo is None else binfo.get("arterial_m"))
    if math.isfinite(art):
        parts["accessibility"] = round(_clip01(1.0 - (art - 100.0) / 1400.0), 3)
        why.append(f"{art:.0f} m to the nearest arterial road")
    else:
        parts["accessibility"] = None
    yb = _float(None if binfo is None else binfo.get("year_built"))
    if math.isfinite(yb):
        age = max(0.0, int(_iso(day)[:4]) - yb)
        parts["building_age"] = round(_clip01(1.0 - age / 50.0), 3)
        why.append(f"building completed in {int(yb)}")
    else:
        parts["building_age"] = None
    used = {k: v for k, v in parts.items() if v is not None}
    wsum = sum(WEIGHTS[k] for k in used)
    score = 100.0 * sum(WEIGHTS[k] * v for k, v in used.items()) / wsum if wsum else 0.0
    names = [str(sp["name"][i]) for i in rows]
    return Candidate(
        space_ids=[str(sp["id"][i]) for i in rows], building_id=bid,
        name=" + ".join(dict.fromkeys(names)), space_type=str(sp["space_type"][first]),
        use=str(sp["use"][first]), subdistrict_code=sp["subdistrict_code"][first],
        score=round(score, 1), parts=parts, rent=round(rent, 1), vacant_m2=round(vacant, 1),
        area_m2=round(area, 1), vacancy_rate=round(vacant / area, 4) if area > 0 else 0.0,
        lon=round(float(sp["lon"][first]), 6), lat=round(float(sp["lat"][first]), 6),
        combined=combined, same_industry_nearby=near,
        arterial_m=round(art, 1) if math.isfinite(art) else None,
        year_built=int(yb) if math.isfinite(yb) else None, explanation=why)

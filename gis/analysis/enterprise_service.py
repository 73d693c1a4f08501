"""The enterprise portrait (企业画像) and the lists of the enterprise service centre.

- :func:`enterprise_portrait`: who is this enterprise? Registration and status
  over time, industry, size, the headcount gap, tax band, its address,
  building and the industrial space there, the events at its address, its
  neighbourhood (same-industry density, competitors and suppliers in its H3
  ring) and the policies it may match (config/policies.yaml).
- :func:`enterprises_at_risk`: enterprises that may be about to leave.
- :func:`policy_eligible`: enterprises eligible for one policy.

Privacy (DESIGN.md, access and privacy): enterprises are legal persons and
their data is not personal, but the people behind them are. Nothing here
outputs a natural person's name; the one field that may hold one (an event's
free-text description, written from a citizen's words) is returned only when
``reveal_personal`` is set, which the HTTP layer does for ``admin`` alone.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from gis.analysis.common import as_of_date
from gis.analysis.enterprise_data import (
    OPEN_END,
    RING_K,
    RING_RES,
    Snapshot,
    day_number,
    snapshot,
)
from gis.analysis.enterprise_policies import Policy, PolicyTable, condition_masks
from gis.crs import to_metric
from gis.errors import EntityNotFound, InvalidQuery
from gis.store.base import Store

#: Window of "recent" events and of the vacancy trend (days).
WINDOW_DAYS = 365
#: Event sources counted as complaints and as inspections.
COMPLAINT_SOURCES = ("hotline_12345",)
INSPECTION_SOURCES = ("grid_patrol",)
#: Sections that typically supply a section (a demo reading of input-output
#: tables: goods come from manufacturing, trade and logistics, services from
#: IT, business and technical services). Sections not listed get the default.
SUPPLIERS: dict[str, tuple[str, ...]] = {
    "C": ("C", "F", "G", "M"), "F": ("C", "G", "L"), "G": ("C", "F", "I"),
    "H": ("A", "F", "G"), "I": ("I", "L", "M"), "J": ("I", "L", "M"),
    "K": ("E", "J", "L"), "L": ("I", "J", "M"), "M": ("C", "I", "L"), "E": ("C", "F", "G"),
}
DEFAULT_SUPPLIERS = ("I", "L")
#: At-risk score weights (0-100): rising vacancy in its building, the headcount
#: gap (the demo holds one headcount per enterprise, so a social-security
#: headcount well below the declared employees stands in for a falling one),
#: and complaints at its address in the last 12 months.
RISK_WEIGHTS = {"vacancy_rise": 40.0, "headcount_gap": 35.0, "complaints": 25.0}
VACANCY_RISE_FULL = 0.15  # a rise of 15 points of vacancy rate scores the full weight
COMPLAINTS_FULL = 3


def _iso(day: int) -> str:
    return str(np.datetime64(int(day), "D"))


def _day(as_of: str | date | None) -> tuple[str, int]:
    iso = as_of_date(as_of)
    return iso, day_number(iso)


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _clean(v: Any) -> Any:
    """None for missing values (NaN from pandas) so the JSON has nulls."""
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


def _int(v: Any) -> int | None:
    f = _num(v)
    return None if f is None else int(f)


@dataclass(frozen=True)
class EnterprisePortrait:
    """The portrait of one enterprise at a date."""

    id: str
    as_of: str
    name: str
    credit_code: str | None
    industry: str
    industry_name: str | None
    status: str
    registration: dict[str, Any]
    registered_capital: float | None
    employees: int | None
    social_security_headcount: int | None
    headcount_gap: dict[str, Any]
    tax_band: str | None
    tax_band_history: list[dict[str, Any]]
    address: dict[str, Any]
    building: dict[str, Any] | None
    spaces: list[dict[str, Any]]
    events: dict[str, Any]
    neighbourhood: dict[str, Any]
    policies: list[dict[str, Any]]
    notes: list[str]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def headcount_gap(employees: float | None, headcount: float | None,
                  threshold: float) -> dict[str, Any]:
    """Employees vs social-security headcount: the gap, the ratio and the flag."""
    if employees is None or headcount is None or employees <= 0:
        return {"gap": None, "ratio": None, "threshold": threshold, "flag": False}
    ratio = headcount / employees
    return {"gap": int(employees - headcount), "ratio": round(ratio, 3),
            "threshold": threshold, "flag": bool(ratio < threshold)}


def policy_matches(snap: Snapshot, table: PolicyTable, row: int, day: int) -> list[dict[str, Any]]:
    """Every policy with, per condition, whether enterprise ``row`` meets it."""
    e = snap.enterprises
    active = bool(e.vf[row] <= day < e.vt[row])
    out = []
    for p in table.policies:
        masks = condition_masks(snap, p, day, np.array([row], dtype=np.int64))
        conds = {k: bool(v[0]) for k, v in masks.items()}
        out.append({"id": p.id, "name": p.name, "eligible": active and all(conds.values()),
                    "conditions": conds, "description": p.description})
    return out


def _history(vf: str, vt: str | None, day: int) -> tuple[str, list[dict[str, Any]]]:
    hist = [{"from": vf, "to": vt, "status": "registered"}]
    if vt:
        hist.append({"from": vt, "to": None, "status": "cancelled"})
    if day < day_number(vf):
        return "not yet registered", hist
    if vt and day >= day_number(vt):
        return "cancelled", hist
    return "active", hist


def enterprise_portrait(store: Store, enterprise_id: str, table: PolicyTable, *,
                        as_of: str | date | None = None,
                        reveal_personal: bool = False) -> EnterprisePortrait:
    """The portrait of ``enterprise_id`` at ``as_of`` (today by default)."""
    iso, day = _day(as_of)
    snap = snapshot(store)
    row = snap.enterprise_row.get(enterprise_id)
    if row is None:
        raise EntityNotFound(f"no enterprise with id {enterprise_id!r}")
    e = snap.enterprises
    rec = {k: _clean(v[row]) for k, v in e.cols.items()}
    vf = _iso(int(e.vf[row]))
    vt = None if int(e.vt[row]) == OPEN_END else _iso(int(e.vt[row]))
    status, hist = _history(vf, vt, day)
    emp, ss = _num(rec.get("employees")), _num(rec.get("ss"))
    bid = rec.get("building_id") if isinstance(rec.get("building_id"), str) else None
    binfo = snap.building(bid)
    building = None if binfo is None else {
        "id": bid, "name": _clean(binfo["name"]), "use": _clean(binfo["use"]),
        "floors": _int(binfo["floors"]), "year_built": _int(binfo["year_built"]),
        "estate": _clean(binfo["estate"]),
        "arterial_m": None if _num(binfo["arterial_m"]) is None
        else round(float(binfo["arterial_m"]), 1)}
    address = {"address_id": _clean(rec.get("address_id")), "house_id": _clean(rec.get("house_id")),
               "building_id": bid, "address": None if binfo is None else _clean(binfo["address"]),
               "subdistrict_code": _clean(rec.get("subdistrict_code")),
               "community_code": _clean(rec.get("community_code")),
               "lon": round(float(e["lon"][row]), 6), "lat": round(float(e["lat"][row]), 6)}
    return EnterprisePortrait(
        id=enterprise_id, as_of=iso, name=str(rec["name"]),
        credit_code=_clean(rec.get("credit_code")), industry=str(rec["industry"]),
        industry_name=_clean(rec.get("industry_name")), status=status,
        registration={"registered_on": vf, "cancelled_on": vt, "history": hist},
        registered_capital=_num(rec.get("capital")),
        employees=_int(emp), social_security_headcount=_int(ss),
        headcount_gap=headcount_gap(emp, ss, table.headcount_gap_ratio),
        tax_band=_clean(rec.get("tax_band")),
        tax_band_history=[{"from": vf, "to": vt, "band": _clean(rec.get("tax_band"))}],
        address=address, building=building,
        spaces=spaces_in_building(snap, bid, day),
        events=_events_at(store, snap, None if binfo is None else _clean(binfo["address_id"]), day,
                          reveal_personal),
        neighbourhood=_neighbourhood(snap, row, day),
        policies=policy_matches(snap, table, row, day),
        notes=["the store holds one tax band and one headcount per enterprise: their "
               "history is the registration period",
               "names of natural persons are never shown" + (
                   "" if not reveal_personal else " except to admin (event descriptions)")])


def spaces_in_building(snap: Snapshot, bid: str | None, day: int) -> list[dict[str, Any]]:
    """The industrial spaces in the building at ``day``, each with its quarterly history."""
    if bid is None:
        return []
    sp = snap.spaces
    rows = snap.space_rows(bid)
    out = []
    for sid in dict.fromkeys(sp["id"][rows].tolist()):
        r = rows[sp["id"][rows] == sid]
        r = r[np.argsort(sp.vf[r])]
        now = r[(sp.vf[r] <= day) & (day < sp.vt[r])]
        cur = int(now[0]) if len(now) else int(r[-1])
        out.append({"id": sid, "name": sp["name"][cur], "space_type": sp["space_type"][cur],
                    "use": sp["use"][cur], "area_m2": _num(sp["area_m2"][cur]),
                    "vacant_m2": _num(sp["vacant_m2"][cur]),
                    "vacancy_rate": _num(sp["vacancy_rate"][cur]), "rent": _num(sp["rent"][cur]),
                    "history": [{"from": _iso(sp.vf[i]), "rent": _num(sp["rent"][i]),
                                 "vacancy_rate": _num(sp["vacancy_rate"][i])} for i in r]})
    return out


def _events_at(store: Store, snap: Snapshot, address_id: str | None, day: int,
               reveal_personal: bool) -> dict[str, Any]:
    """Events geocoded to the building's address in the 12 months up to ``day``."""
    ev = snap.events
    rows = snap.events_at(address_id)
    rows = rows[(ev.vf[rows] > day - WINDOW_DAYS) & (ev.vf[rows] <= day)]
    src = ev["source"][rows]
    out: dict[str, Any] = {
        "window": f"{_iso(day - WINDOW_DAYS + 1)}/{_iso(day)}", "total": len(rows),
        "complaints": sum(x in COMPLAINT_SOURCES for x in src),
        "inspections": sum(x in INSPECTION_SOURCES for x in src),
        "by_category": {str(k): int(v) for k, v in
                        pd.Series(ev["category"][rows]).value_counts().sort_index().items()},
        "items": []}
    # Newest first, at most 50; descriptions (citizens' words) only when allowed.
    rows = rows[np.argsort(ev["occurred_at"][rows].astype(str), kind="stable")[::-1]][:50]
    items = [{"id": ev["id"][i], "occurred_at": ev["occurred_at"][i], "source": ev["source"][i],
              "category": ev["category"][i], "status": ev["status"][i]} for i in rows]
    if reveal_personal and items:
        full = store.query("event", where={"id": [str(it["id"]) for it in items]},
                           columns=["id", "description"])
        text = dict(zip(full["id"].astype(str), full["description"], strict=True))
        for it in items:
            it["description"] = _clean(text.get(str(it["id"])))
    out["items"] = items
    return out


def _neighbourhood(snap: Snapshot, row: int, day: int) -> dict[str, Any]:
    """Enterprises in the H3 ring around this one: same industry, competitors, suppliers."""
    e = snap.enterprises
    near = snap.rows_in_blocks(snap.ring(int(e["block"][row])))
    near = near[(e.vf[near] <= day) & (day < e.vt[near]) & (near != row)]
    ind = str(e["industry"][row])
    same = near[e["industry"][near] == ind]
    x0, y0 = to_metric(np.array([e["lon"][row]]), np.array([e["lat"][row]]))
    xs, ys = to_metric(e["lon"][same], e["lat"][same])
    dist = np.hypot(xs - x0[0], ys - y0[0])
    order = np.argsort(dist, kind="stable")[:10]
    sup = SUPPLIERS.get(ind, DEFAULT_SUPPLIERS)
    by_sec = pd.Series(e["industry"][near]).value_counts()
    return {"ring_res": RING_RES, "ring_k": RING_K, "enterprises": len(near),
            "same_industry": len(same),
            "competitors": [{"id": str(e["id"][same[i]]), "name": e["name"][same[i]],
                             "distance_m": round(float(dist[i]), 1)} for i in order],
            "suppliers_by_section": {s: int(by_sec.get(s, 0)) for s in sup}}


# ---------------------------------------------------------------------------
# lists of the enterprise service centre


def _feature(snap: Snapshot, row: int, props: dict[str, Any]) -> dict[str, Any]:
    e = snap.enterprises
    return {"type": "Feature", "id": str(e["id"][row]),
            "geometry": {"type": "Point", "coordinates": [round(float(e["lon"][row]), 6),
                                                          round(float(e["lat"][row]), 6)]},
            "properties": {"id": str(e["id"][row]), "name": e["name"][row],
                           "industry": str(e["industry"][row]),
                           "building_id": e["building_id"][row],
                           "subdistrict_code": e["subdistrict_code"][row], **props}}


def building_vacancy(snap: Snapshot, day: int) -> pd.Series:
    """Area-weighted vacancy rate of each building's spaces at ``day`` (index: building)."""
    sp = snap.spaces
    m = sp.valid_at(day)
    f = pd.DataFrame({"b": sp["building_id"][m], "v": sp["vacant_m2"][m],
                      "a": sp["area_m2"][m]}).dropna(subset=["b"])
    g = f.groupby("b")[["v", "a"]].sum()
    return (g["v"] / g["a"].where(g["a"] > 0)).dropna()


def enterprises_at_risk(store: Store, table: PolicyTable, *, as_of: str | date | None = None,
                        min_score: float = 40.0, limit: int = 1000) -> dict[str, Any]:
    """Enterprises that may be about to leave, as GeoJSON (highest risk first).

    The risk (0-100) adds, with ``RISK_WEIGHTS``: the rise of its building's
    vacancy rate over the last 12 months (from the building's first quarter
    in the data when that is later), full at 15 points; its headcount gap
    (full when nobody is insured); complaints at its building's address in the
    last 12 months (full at 3).
    """
    if not 0 <= min_score <= 100:
        raise InvalidQuery("min_score must be between 0 and 100")
    if not 1 <= limit <= 100_000:
        raise InvalidQuery("limit must be between 1 and 100000")
    iso, day = _day(as_of)
    snap = snapshot(store)
    e = snap.enterprises
    active = np.flatnonzero(e.valid_at(day))
    bids = pd.Series(e["building_id"][active], dtype=object)

    now = building_vacancy(snap, day)
    before_day = max(day - WINDOW_DAYS, snap.first_day)
    before = building_vacancy(snap, before_day)
    # A building whose spaces start later than a year ago: compare with its first quarter.
    sp = snap.spaces
    f = pd.DataFrame({"b": sp["building_id"], "vf": sp.vf, "v": sp["vacant_m2"],
                      "a": sp["area_m2"]}).dropna(subset=["b"])
    f = f[f["vf"] <= day]
    f0 = f[f["vf"] == f.groupby("b")["vf"].transform("min")]
    g0 = f0.groupby("b").agg(vf=("vf", "min"), v=("v", "sum"), a=("a", "sum"))
    g0 = g0[g0["vf"] > before_day]
    first = (g0["v"] / g0["a"].where(g0["a"] > 0)).dropna()
    before = pd.concat([before.drop(first.index, errors="ignore"), first])
    rise = (now - before.reindex(now.index)).fillna(0.0)
    e_rise = bids.map(rise).fillna(0.0).to_numpy(dtype=float)

    emp, ss = e["employees"][active], e["ss"][active]
    thr = table.headcount_gap_ratio
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(emp > 0, ss / emp, np.nan)
    gap = np.where(ratio < thr, 1.0 - ratio, 0.0)
    gap = np.nan_to_num(gap)

    ev = snap.events
    w = (ev.vf > day - WINDOW_DAYS) & (ev.vf <= day) & np.isin(ev["source"], COMPLAINT_SOURCES)
    per_addr = pd.Series(ev["address_id"][w], dtype=object).value_counts()
    per_building = snap.buildings["address_id"].map(per_addr).fillna(0)
    complaints = bids.map(per_building).fillna(0).to_numpy(dtype=float)

    parts = {
        "vacancy_rise": RISK_WEIGHTS["vacancy_rise"]
        * np.clip(e_rise / VACANCY_RISE_FULL, 0, 1),
        "headcount_gap": RISK_WEIGHTS["headcount_gap"] * np.clip(gap, 0, 1),
        "complaints": RISK_WEIGHTS["complaints"] * np.clip(complaints / COMPLAINTS_FULL, 0, 1),
    }
    score = parts["vacancy_rise"] + parts["headcount_gap"] + parts["complaints"]
    pick = np.flatnonzero(score >= min_score)
    pick = pick[np.lexsort((e["id"][active][pick].astype(str), -score[pick]))]
    feats = [_feature(snap, int(active[i]), {
        "risk": round(float(score[i]), 1),
        "signals": {"vacancy_rise": round(float(e_rise[i]), 4),
                    "headcount_ratio": None if math.isnan(ratio[i]) else round(float(ratio[i]), 3),
                    "complaints_12m": int(complaints[i])},
        "parts": {k: round(float(v[i]), 1) for k, v in parts.items()}})
        for i in pick[:limit]]
    return {"type": "FeatureCollection", "as_of": iso, "min_score": min_score,
            "numberMatched": len(pick), "numberReturned": len(feats), "weights": RISK_WEIGHTS,
            "features": feats}


def policy_eligible(store: Store, policy: Policy, *, as_of: str | date | None = None,
                    limit: int = 1000) -> dict[str, Any]:
    """Enterprises eligible for ``policy`` at ``as_of``, as GeoJSON (by id)."""
    if not 1 <= limit <= 100_000:
        raise InvalidQuery("limit must be between 1 and 100000")
    from gis.analysis.enterprise_policies import eligible_mask

    iso, day = _day(as_of)
    snap = snapshot(store)
    rows = np.flatnonzero(eligible_mask(snap, policy, day))
    e = snap.enterprises
    rows = rows[np.argsort(e["id"][rows].astype(str), kind="stable")]
    feats = [_feature(snap, int(r), {
        "employees": _int(e["employees"][r]), "social_security_headcount": _int(e["ss"][r]),
        "tax_band": e["tax_band"][r]}) for r in rows[:limit]]
    return {"type": "FeatureCollection", "as_of": iso, "policy": policy.id,
            "policy_name": policy.name, "conditions": policy.conditions(),
            "numberMatched": len(rows), "numberReturned": len(feats), "features": feats}


"""The industrial-space one map: a building's spaces over time, supply and demand.

Supply is the vacant area of the industrial spaces; demand the area that
enterprises occupy. The store knows each space's occupied area (area minus
vacant) but not which enterprise rents it, so the occupied area of a building
is shared among the enterprises registered there in proportion to their
declared employees (an estimate, said so in the result); buildings without a
registered enterprise count as "unknown" industry.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from gis.analysis.common import as_of_date
from gis.analysis.enterprise_data import day_number, snapshot
from gis.analysis.enterprise_service import spaces_in_building
from gis.errors import EntityNotFound, InvalidQuery
from gis.store.base import Store

USES = ("研发", "办公", "生产", "仓储", "商业")


def building_spaces(store: Store, building_id: str,
                    as_of: str | date | None = None) -> dict[str, Any]:
    """The spaces of one building at ``as_of``, each with its quarterly rent and vacancy."""
    iso = as_of_date(as_of)
    snap = snapshot(store)
    spaces = spaces_in_building(snap, building_id, day_number(iso))
    if not spaces:
        raise EntityNotFound(f"no industrial space in building {building_id!r}")
    return {"building_id": building_id, "as_of": iso, "spaces": spaces}


def supply_demand(store: Store, as_of: str | date | None = None,
                  use: str | None = None) -> dict[str, Any]:
    """Vacant vs occupied industrial area per subdistrict (and by industry) at ``as_of``,
    and the district's quarterly series of both."""
    if use is not None and use not in USES:
        raise InvalidQuery(f"use must be one of {', '.join(USES)}")
    iso = as_of_date(as_of)
    day = day_number(iso)
    snap = snapshot(store)
    sp, e = snap.spaces, snap.enterprises
    base = np.ones(len(sp), dtype=bool) if use is None else sp["use"] == use
    m = base & sp.valid_at(day)
    f = pd.DataFrame({"sub": sp["subdistrict_code"][m], "b": sp["building_id"][m],
                      "area": sp["area_m2"][m], "vacant": sp["vacant_m2"][m]}).fillna(
        {"area": 0.0, "vacant": 0.0})
    f["occupied"] = (f["area"] - f["vacant"]).clip(lower=0)

    # Occupied area of each building shared among its enterprises by employees.
    em = e.valid_at(day)
    ents = pd.DataFrame({"b": e["building_id"][em], "ind": e["industry"][em],
                         "emp": np.nan_to_num(e["employees"][em], nan=1.0)})
    ents = ents[ents["b"].isin(set(f["b"].dropna()))]
    occ_b = f.groupby("b")["occupied"].sum()
    sub_b = f.groupby("b")["sub"].first()
    share = ents.groupby(["b", "ind"])["emp"].sum()
    share = share / share.groupby(level=0).transform("sum")
    by_ind = (share * occ_b.reindex(share.index.get_level_values(0)).to_numpy()).rename("m2")
    by_ind = by_ind.reset_index()
    by_ind["sub"] = sub_b.reindex(by_ind["b"]).to_numpy()
    known = set(share.index.get_level_values(0))
    unknown = f[~f["b"].isin(known)].groupby("sub")["occupied"].sum()

    rows: list[dict[str, Any]] = []
    for code, g in f.groupby("sub"):
        ind = by_ind[by_ind["sub"] == code].groupby("ind")["m2"].sum()
        occupied_by = {str(k): round(float(v), 1) for k, v in ind.sort_values(
            ascending=False).items() if v > 0}
        if float(unknown.get(code, 0.0)) > 0:
            occupied_by["unknown"] = round(float(unknown.get(code, 0.0)), 1)
        area, vacant = float(g["area"].sum()), float(g["vacant"].sum())
        rows.append({"subdistrict_code": str(code),
                     "name": snap.subdistricts.get(str(code), str(code)),
                     "spaces": len(g), "area_m2": round(area, 1), "vacant_m2": round(vacant, 1),
                     "occupied_m2": round(area - vacant, 1),
                     "vacancy_rate": round(vacant / area, 4) if area > 0 else None,
                     "occupied_by_industry_m2": occupied_by})
    rows.sort(key=lambda r: str(r["subdistrict_code"]))

    # Per subdistrict and quarter: vacancy rate over time (one vectorised pass).
    quarters = np.unique(sp.vf[base])
    sub_series: dict[str, list[float | None]] = {r["subdistrict_code"]: [] for r in rows}
    for q in quarters.tolist():
        qm = base & sp.valid_at(int(q))
        g = pd.DataFrame({"sub": sp["subdistrict_code"][qm], "a": sp["area_m2"][qm],
                          "v": sp["vacant_m2"][qm]}).groupby("sub")[["a", "v"]].sum()
        for code, vals in sub_series.items():
            a = float(g["a"].get(code, 0.0))
            vals.append(round(float(g["v"].get(code, 0.0)) / a, 4) if a > 0 else None)
    for r in rows:
        r["vacancy_series"] = sub_series[r["subdistrict_code"]]

    series = []
    for q in quarters.tolist():
        qm = base & sp.valid_at(int(q))
        area = float(np.nansum(sp["area_m2"][qm]))
        vacant = float(np.nansum(sp["vacant_m2"][qm]))
        series.append({"quarter": str(np.datetime64(int(q), "D")), "area_m2": round(area, 1),
                       "vacant_m2": round(vacant, 1), "occupied_m2": round(area - vacant, 1),
                       "vacancy_rate": round(vacant / area, 4) if area > 0 else None})
    return {"as_of": iso, "use": use, "subdistricts": rows, "series": series,
            "notes": ["occupied area is shared among a building's enterprises by employees "
                      "(an estimate: the data do not say which enterprise rents which space)"]}

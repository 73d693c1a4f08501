"""The core queries an indicator of the catalogue names (``query:`` in indicators.yaml).

A query evaluates one period ``[start, end)`` (dates; ``end`` exclusive) and returns a
frame of rows with weights: ``num`` (and ``den`` for a ratio, shown as a percentage),
plus the person counts whose small values k-anonymity must hide. The engine sums the
weights per area with ``bincount``; so every level (district, subdistrict, community,
H3 block) is a sum of the same rows, and levels always add up.

Time conventions (docs/indicators.md): a *stock* (population, enterprises, overdue
events...) is read at the period's last day, with the store's ``as_of`` semantics
(``valid_from <= day < valid_to``); for events and alerts (instants) at the end
instant ``end 00:00Z``. A *flow* (events opened, enterprises opened minus closed...)
counts what happened inside ``[start, end)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from gis.indicators.sources import Frame, Sources

#: float weights, or boolean masks counting their rows (``_m``)
Weights = dict[str, npt.NDArray[Any]]
Compute = Callable[[Sources, date, date, Mapping[str, Any]], tuple[Frame, Weights]]


@dataclass(frozen=True)
class Query:
    """One core query: how to compute, whether it is a ratio, which weights are person
    counts (k-anonymity), and which parameters it takes."""

    compute: Compute
    ratio: bool = False
    persons: tuple[str, ...] = ()  # weights that count persons
    params: Mapping[str, type] | None = None
    #: Reads live data (the sensors' alerts): without as_of/to its default is today,
    #: not the last day of the event history (docs/indicators.md, "Time").
    live: bool = False

    def check_params(self, params: Mapping[str, Any]) -> None:
        """Raise ValueError on unknown or mistyped parameters (catalogue validation)."""
        allowed = self.params or {}
        for k, v in params.items():
            if k not in allowed:
                raise ValueError(f"unknown parameter {k!r}")
            want = allowed[k]
            if want is float and isinstance(v, int) and not isinstance(v, bool):
                continue
            if not isinstance(v, want) or isinstance(v, bool):
                raise ValueError(f"parameter {k!r} must be {want.__name__}")
        if "facility_type" in params:
            from gis.analysis.netinputs import check_facility_type, check_minutes, check_mode
            from gis.errors import InvalidQuery

            try:
                check_facility_type(params["facility_type"])
                check_minutes(params.get("minutes", 10))
                check_mode(params.get("mode", "walk"))
            except InvalidQuery as exc:
                raise ValueError(exc.message) from None


def _day(d: date) -> int:
    """The day number ``YYYYMMDD`` of the frames' date columns (sources.day_sql)."""
    return d.year * 10000 + d.month * 100 + d.day


def _instant(d: date) -> int:
    """Unix seconds of the day's start (UTC)."""
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp())


def _valid_at_end(f: Frame, end: date) -> npt.NDArray[np.bool_]:
    """Rows valid on the last day of the period: ``valid_from <= end-1 < valid_to``."""
    e = _day(end)
    return f.mask(("valid", e), lambda: (f.cols["valid_from"] < e) & (f.cols["valid_to"] >= e))


def _f(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    return mask.astype(np.float64)


def _m(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """A 0/1 weight kept as the boolean mask: the engine counts it (``count_nonzero``,
    ``bincount`` of the selected rows) instead of summing a float copy, a third of a
    cold summary's arithmetic on 1.35 M persons."""
    return mask


# -- persons ------------------------------------------------------------------


def population(src: Sources, start: date, end: date, p: Mapping[str, Any]
               ) -> tuple[Frame, Weights]:
    """Persons registered on the period's last day."""
    f = src.persons()
    return f, {"num": _m(_valid_at_end(f, end))}


def population_change(src: Sources, start: date, end: date, p: Mapping[str, Any]
                      ) -> tuple[Frame, Weights]:
    """Persons at the period's last day minus persons the day before it began."""
    f = src.persons()
    now, before = _valid_at_end(f, end), _valid_at_end(f, start)
    return f, {"num": _f(now) - _f(before), "k_now": _f(now), "k_before": _f(before)}


def households(src: Sources, start: date, end: date, p: Mapping[str, Any]
               ) -> tuple[Frame, Weights]:
    """Households with a member registered on the period's last day (each counted once,
    in the area of its first member row, so that levels add up)."""
    f = src.persons()
    hh = src.households()
    valid = _valid_at_end(f, end) & (hh >= 0)
    rows = np.flatnonzero(valid)
    _, first = np.unique(hh[rows], return_index=True)
    w = np.zeros(len(f), dtype=np.float64)
    w[rows[first]] = 1.0
    return f, {"num": w, "k_persons": _m(valid)}


def age_share(src: Sources, start: date, end: date, p: Mapping[str, Any]
              ) -> tuple[Frame, Weights]:
    """Share of the persons registered on the period's last day aged ``min_age`` or more
    on that day (birthday reached)."""
    f = src.persons()
    last = end - timedelta(days=1)
    age = int(p.get("min_age", 65))
    cutoff = (last.year - age) * 10000 + last.month * 100 + last.day
    valid = _valid_at_end(f, end)
    old = valid & (f.cols["birth_date"] > 0) & (f.cols["birth_date"] <= cutoff)
    return f, {"num": _m(old), "den": _m(valid)}


# -- enterprises and space ------------------------------------------------------


def enterprises(src: Sources, start: date, end: date, p: Mapping[str, Any]
                ) -> tuple[Frame, Weights]:
    """Enterprises registered on the period's last day."""
    f = src.enterprises()
    return f, {"num": _m(_valid_at_end(f, end))}


def enterprise_net_change(src: Sources, start: date, end: date, p: Mapping[str, Any]
                          ) -> tuple[Frame, Weights]:
    """Enterprises opened (valid_from in the period) minus closed (valid_to in it)."""
    f = src.enterprises()
    s, e = _day(start), _day(end)
    vf, vt = f.cols["valid_from"], f.cols["valid_to"]
    return f, {"num": _f((vf >= s) & (vf < e)) - _f((vt >= s) & (vt < e))}


def industrial_vacancy(src: Sources, start: date, end: date, p: Mapping[str, Any]
                       ) -> tuple[Frame, Weights]:
    """Vacant over total area of the industrial spaces on the period's last day."""
    f = src.industrial_spaces()
    valid = _valid_at_end(f, end)
    return f, {"num": np.where(valid, f.cols["vacant_area_m2"], 0.0),
               "den": np.where(valid, f.cols["area_m2"], 0.0)}


# -- events -------------------------------------------------------------------


def events_opened(src: Sources, start: date, end: date, p: Mapping[str, Any]
                  ) -> tuple[Frame, Weights]:
    """Events (and cases) received in the period."""
    f = src.events()
    o = f.cols["occurred_at"]
    return f, {"num": _m((o >= _instant(start)) & (o < _instant(end)))}


def events_closed(src: Sources, start: date, end: date, p: Mapping[str, Any]
                  ) -> tuple[Frame, Weights]:
    """Events closed in the period."""
    f = src.events()
    c = f.cols["closed_at"]
    return f, {"num": _m((c >= _instant(start)) & (c < _instant(end)))}


def events_overdue(src: Sources, start: date, end: date, p: Mapping[str, Any]
                   ) -> tuple[Frame, Weights]:
    """Events open at the end of the period and past their deadline then (deadline:
    receipt plus the dispatch table's hours for the category)."""
    f = src.events()
    e = _instant(end)
    open_ = (f.cols["occurred_at"] < e) & (f.cols["closed_at"] >= e)
    return f, {"num": _m(open_ & (f.cols["deadline_at"] < e))}


def on_time_closure(src: Sources, start: date, end: date, p: Mapping[str, Any]
                    ) -> tuple[Frame, Weights]:
    """Share of the events closed in the period that were closed by their deadline."""
    f = src.events()
    c = f.cols["closed_at"]
    closed = (c >= _instant(start)) & (c < _instant(end))
    return f, {"num": _m(closed & (c <= f.cols["deadline_at"])), "den": _m(closed)}


# -- perception -----------------------------------------------------------------


def _alerts_active(src: Sources, end: date, kind: str | None) -> tuple[Frame, Weights]:
    f = src.alerts()
    e = _instant(end)
    m = (f.cols["started_at"] < e) & (f.cols["ended_at"] >= e)
    if kind is not None:
        m &= f.cols["kind"] == kind
    return f, {"num": _m(m)}


def active_alerts(src: Sources, start: date, end: date, p: Mapping[str, Any]
                  ) -> tuple[Frame, Weights]:
    """Sensor alerts (threshold and offline) active at the end of the period."""
    return _alerts_active(src, end, None)


def sensors_offline(src: Sources, start: date, end: date, p: Mapping[str, Any]
                    ) -> tuple[Frame, Weights]:
    """Sensors with an offline alert active at the end of the period."""
    return _alerts_active(src, end, "offline")


# -- network reach ----------------------------------------------------------------


def reach_coverage(src: Sources, start: date, end: date, p: Mapping[str, Any]
                   ) -> tuple[Frame, Weights]:
    """Share of residents (persons registered in a building standing on the period's last
    day) whose building a facility of ``facility_type`` open that day reaches within
    ``minutes`` by ``mode`` (the network analyses of gis/analysis/coverage.py)."""
    from gis.indicators.reach import building_covered

    bf, _ = src.buildings()
    day = end - timedelta(days=1)
    covered = building_covered(src, str(p["facility_type"]), float(p.get("minutes", 10)),
                               str(p.get("mode", "walk")), day)
    pop = residents(src, end)
    return bf, {"num": np.where(covered, pop, 0.0), "den": pop}


def residents(src: Sources, end: date) -> npt.NDArray[np.float64]:
    """Residents per row of the buildings frame on the period's last day (0 where the
    building does not stand then), from the persons frame: the same count as
    netinputs.residents (persons grouped by building_id). Cached per day: both coverage
    indicators of a summary read the same days."""
    cache: dict[date, npt.NDArray[np.float64]] = src.cache("residents", dict)
    hit = cache.get(end)
    if hit is None:
        bf, _ = src.buildings()
        pf = src.persons()
        bidx = src.person_buildings()
        valid = _valid_at_end(pf, end) & (bidx >= 0)
        pop = np.bincount(bidx[valid], minlength=len(bf)).astype(np.float64)
        hit = np.where(_valid_at_end(bf, end), pop, 0.0)
        cache[end] = hit
    return hit


_PARAMS_NET: Mapping[str, type] = {"facility_type": str, "minutes": float, "mode": str}

QUERIES: dict[str, Query] = {
    "population": Query(population, persons=("num",)),
    "population_change": Query(population_change, persons=("k_now", "k_before")),
    "households": Query(households, persons=("num", "k_persons")),
    "age_share": Query(age_share, ratio=True, persons=("num", "den"),
                       params={"min_age": int}),
    "enterprises": Query(enterprises),
    "enterprise_net_change": Query(enterprise_net_change),
    "industrial_vacancy": Query(industrial_vacancy, ratio=True),
    "events_opened": Query(events_opened),
    "events_closed": Query(events_closed),
    "events_overdue": Query(events_overdue),
    "on_time_closure": Query(on_time_closure, ratio=True),
    "active_alerts": Query(active_alerts, live=True),
    "sensors_offline": Query(sensors_offline, live=True),
    "reach_coverage": Query(reach_coverage, ratio=True, persons=("num", "den"),
                            params=_PARAMS_NET),
}

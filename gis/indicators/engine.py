"""The indicator engine: values per area, previous period, change and time series.

``IndicatorEngine.indicator(...)`` answers ``GET /indicators/{id}``, ``summary(...)``
answers ``GET /indicators/summary``. Results are cached per store generation
(:class:`gis.indicators.sources.Sources` bumps it on every write it notices), so a
repeated request costs a dictionary lookup plus the few indexed reads that check for
writes made by other processes.

k-anonymity (DESIGN.md, "Access and privacy"): for every caller below admin, an area
whose person counts (the query's ``persons`` weights) are between 1 and k-1 gets
``value`` None and ``suppressed`` True; when exactly one area of an answer would be
hidden, the next smallest is hidden too, so that the hidden value cannot be
recovered by subtracting the others from the parent's total. Blocks filtered by an
area are whole blocks (those whose centre lies in it), never a block cut by the
area's edge, so that nested answers cannot be subtracted either.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import h3
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from gis.cases.config import DispatchTable
from gis.h3cells import cell_to_str
from gis.indicators.catalog import LEVELS, Catalog, Indicator, load_catalog
from gis.indicators.errors import IndicatorInputError, UnknownArea
from gis.indicators.queries import QUERIES
from gis.indicators.sources import Frame, Sources
from gis.store.base import Store

log = logging.getLogger(__name__)

FREQS: tuple[str, ...] = ("day", "week", "month", "year")
#: Longest series answered (a day series of almost three years).
MAX_POINTS = 1000
BLOCK_RES = range(7, 10)
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2199, 12, 31)
DEFAULT_K = 5


def _offset(freq: str, n: int) -> pd.DateOffset:
    return {"day": pd.DateOffset(days=n), "week": pd.DateOffset(weeks=n),
            "month": pd.DateOffset(months=n), "year": pd.DateOffset(years=n)}[freq]


def shift(d: date, freq: str, n: int) -> date:
    """``d`` moved by ``n`` periods of ``freq`` (months and years from the calendar)."""
    return (pd.Timestamp(d) + _offset(freq, n)).date()  # type: ignore[no-any-return]


def parse_day(value: str | date | None, name: str) -> date | None:
    """A ``YYYY-MM-DD`` parameter (None stays None); :class:`IndicatorInputError` else."""
    if value is None or isinstance(value, date):
        return value
    text = str(value).strip()
    try:
        if len(text) != 10:
            raise ValueError
        d = date.fromisoformat(text)
    except ValueError:
        raise IndicatorInputError(f"{name} must be a date YYYY-MM-DD") from None
    if not FIRST_DAY <= d <= LAST_DAY:
        # pandas' calendar arithmetic (shift) covers 1677-2262; keep well inside it
        raise IndicatorInputError(f"{name} must be from {FIRST_DAY} to {LAST_DAY}")
    return d


def periods(start: date, to: date, freq: str) -> list[tuple[date, date]]:
    """The periods ``[t_i, e_i)`` of a series: ``t_i = start + i·freq`` while ``t_i <= to``,
    each ending at the next start or the day after ``to``, whichever is first."""
    if freq not in FREQS:
        raise IndicatorInputError(f"freq must be one of {', '.join(FREQS)}")
    if start > to:
        raise IndicatorInputError("from must not be after to")
    out: list[tuple[date, date]] = []
    stop = to + timedelta(days=1)
    i = 0
    while True:
        t = shift(start, freq, i)
        if t > to:
            return out
        if len(out) >= MAX_POINTS:
            raise IndicatorInputError(f"the series would have more than {MAX_POINTS} points; "
                                      "use a coarser freq or a shorter range")
        out.append((t, min(shift(start, freq, i + 1), stop)))
        i += 1


@dataclass(frozen=True)
class Window:
    """A request's time frame: the series periods, the as_of period and its previous."""

    start: date
    to: date
    freq: str
    as_of: date

    @property
    def current(self) -> tuple[date, date]:
        """The period of one ``freq`` ending with ``as_of`` (inclusive)."""
        end = self.as_of + timedelta(days=1)
        return shift(end, self.freq, -1), end

    @property
    def previous(self) -> tuple[date, date]:
        """The period before :attr:`current`."""
        s, _ = self.current
        return shift(self.as_of + timedelta(days=1), self.freq, -2), s


@dataclass
class AreaSums:
    """Sums of a query's weights per area of one level, for one period."""

    codes: list[str]
    names: list[str]
    sums: dict[str, npt.NDArray[np.float64]]


class IndicatorEngine:
    """Indicators over one store (built once at start-up)."""

    def __init__(self, store: Store, catalog: Catalog | None = None,
                 dispatch: DispatchTable | None = None, k: int = DEFAULT_K,
                 cache_size: int = 512, cache_dir: Path | str | None = None) -> None:
        self.store = store
        self.catalog = catalog or load_catalog()
        # cache_dir: where the frames persist across engines (None: the environment's
        # ONEMAP_INDICATORS_CACHE_DIR, if set; sources.Sources._persisted)
        self.sources = Sources(store, dispatch, cache_dir)
        self.k = k
        self._cache: OrderedDict[Any, Any] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._stop_listening: Callable[[], None] | None = None

    def listen(self) -> None:
        """Also hear the writes of other processes on a PostGIS store (its LISTEN/NOTIFY
        channel, as the tile cache does); the GeoPackage store's write log is read per
        request instead (:meth:`Sources.refresh`)."""
        listen = getattr(self.store, "listen_writes", None)
        if callable(listen) and self._stop_listening is None:
            self._stop_listening = listen(self.sources.on_write)

    def close(self) -> None:
        """Stop listening to the store."""
        self.sources.detach()
        if self._stop_listening is not None:
            self._stop_listening()
            self._stop_listening = None

    def warm(self) -> None:
        """Read the frames and answer the default summary, so the first cockpit after
        start-up is served from the cache (run in a background thread; errors are logged
        and dropped, never raised)."""
        try:
            self.summary()
        except Exception as exc:  # a warm-up must never break the app
            log.info("indicator warm-up stopped: %s", exc)

    # -- caching ----------------------------------------------------------------

    def _cached(self, key: Any, build: Any) -> Any:
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        value = build()
        with self._lock:
            self._cache[key] = value
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return value

    # -- parameters ---------------------------------------------------------------

    def data_end(self) -> date:
        """The default ``as_of``: the day of the last event received, at most today (the
        demo's history ends before today; a live store's last event is today)."""
        today = datetime.now(UTC).date()

        def last() -> date:
            occ = self.sources.events().cols["occurred_at"]
            if len(occ) == 0:
                return today
            return datetime.fromtimestamp(int(occ.max()), UTC).date()

        return min(self._cached(("data_end", self.sources.generation), last), today)  # type: ignore[no-any-return]

    def window(self, start: str | date | None = None, to: str | date | None = None,
               freq: str | None = None, as_of: str | date | None = None,
               live: bool = False) -> Window:
        """Parse and default ``from``/``to``/``freq``/``as_of`` (as_of: ``to``, else the
        data's last day, or today for a ``live`` indicator; to: as_of; from: one year
        before ``to``)."""
        f = freq or "month"
        if f not in FREQS:
            raise IndicatorInputError(f"freq must be one of {', '.join(FREQS)}")
        a, t, s = parse_day(as_of, "as_of"), parse_day(to, "to"), parse_day(start, "from")
        if a is None:
            # A live indicator (active alerts...) defaults to now: the event history's
            # last day (the demo's 2025-12-31) would show 0 beside a live alert.
            a = t if t is not None else (datetime.now(UTC).date() if live
                                         else self.data_end())
        if t is None:
            t = a
        if s is None:
            s = shift(t + timedelta(days=1), "year", -1)
        if s > t:
            raise IndicatorInputError("from must not be after to")
        periods(s, t, f)  # checks the number of points
        return Window(s, t, f, a)

    def _level(self, level: str | None, res: int | None) -> tuple[str, int]:
        lv = level or "subdistrict"
        if lv not in LEVELS:
            raise IndicatorInputError(f"level must be one of {', '.join(LEVELS)}")
        r = 9 if res is None else res
        if r not in BLOCK_RES:
            raise IndicatorInputError("res must be 7, 8 or 9")
        return lv, r

    # -- sums per area ----------------------------------------------------------------

    def _sums(self, ind: Indicator, level: str, res: int, start: date, end: date) -> AreaSums:
        gen = self.sources.generation
        key = ("sums", gen, ind.id, level, res, start, end)
        return self._cached(key, lambda: self._compute_sums(ind, level, res, start, end))  # type: ignore[no-any-return]

    def _compute_sums(self, ind: Indicator, level: str, res: int, start: date,
                      end: date) -> AreaSums:
        q = QUERIES[ind.query]
        frame, weights = q.compute(self.sources, start, end, ind.params)
        a = self.sources.areas()
        if level == "district":
            return AreaSums([a.district_code], [a.district_name],
                            {n: np.array([_total(w)]) for n, w in weights.items()})
        if level in ("subdistrict", "community"):
            idx = frame.sd if level == "subdistrict" else frame.cc
            codes = a.sd_codes if level == "subdistrict" else a.cc_codes
            names = a.sd_names if level == "subdistrict" else a.cc_names
            ok = idx >= 0
            return AreaSums(list(codes), list(names),
                            {n: _per_area(idx, ok, w, len(codes))
                             for n, w in weights.items()})
        cells = self._block_list(frame, res)
        uniq, inv = frame.blocks_at(res)
        ok = inv >= 0
        pos = pd.Index(cells).get_indexer(pd.Index(uniq))
        sums = {}
        for n, w in weights.items():
            per = _per_area(inv, ok, w, len(uniq))
            full = np.zeros(len(cells))
            full[pos] = per
            sums[n] = full
        codes_s = [cell_to_str(c) for c in cells]
        return AreaSums(codes_s, codes_s, sums)

    def _block_list(self, frame: Frame, res: int) -> npt.NDArray[np.int64]:
        """The blocks of a block-level answer: every block with a building ever, plus any
        other block the query's rows lie in (stable across periods)."""
        bf, _ = self.sources.buildings()
        b, _ = bf.blocks_at(res)
        f, _ = frame.blocks_at(res)
        return np.union1d(b, f).astype(np.int64)

    # -- areas selected by ``code`` ----------------------------------------------------

    def _select(self, level: str, codes: list[str], code: str | None) -> list[int]:
        """Indexes of the areas of ``codes`` (at ``level``) inside the area ``code``."""
        a = self.sources.areas()
        if code is None or code == a.district_code:
            return list(range(len(codes)))
        if code in a.sd_codes:
            kind, geom = "subdistrict", a.sd_geoms[a.sd_codes.index(code)]
        elif code in a.cc_codes:
            kind, geom = "community", a.cc_geoms[a.cc_codes.index(code)]
        else:
            raise UnknownArea(f"no subdistrict or community with code {code!r}")
        if level == "district":
            return [0]
        if level == "subdistrict":
            sd = code if kind == "subdistrict" else a.cc_parent[a.cc_codes.index(code)]
            return [codes.index(sd)] if sd in codes else []
        if level == "community":
            if kind == "community":
                return [codes.index(code)]
            return [i for i, c in enumerate(codes) if a.cc_parent[a.cc_codes.index(c)] == code]
        # Blocks whose centre lies in the area: whole blocks, never cut ones.
        centres = [h3.cell_to_latlng(c) for c in codes]
        pts = shapely.points([(lng, lat) for lat, lng in centres])
        inside = shapely.covers(geom, pts) if len(pts) else np.zeros(0, dtype=bool)
        return [int(i) for i in np.flatnonzero(inside)]

    # -- values -------------------------------------------------------------------------

    def _values(self, ind: Indicator, s: AreaSums, sel: Sequence[int], reveal: bool,
                k: int) -> list[tuple[float | None, bool]]:
        """(value, suppressed) per selected area."""
        q = QUERIES[ind.query]
        num = s.sums["num"]
        out: list[tuple[float | None, bool]] = []
        hidden: list[int] = []
        for j, i in enumerate(sel):
            if q.ratio:
                den = float(s.sums["den"][i])
                v: float | None = 100.0 * float(num[i]) / den if den > 0 else None
            else:
                v = float(num[i])
                if not np.isnan(v) and float(v).is_integer():
                    v = int(v)
            small = any(0 < s.sums[n][i] < k for n in q.persons)
            if small and not reveal:
                hidden.append(j)
                v = None
            out.append((v, small and not reveal))
        if len(hidden) == 1 and q.persons and not reveal:
            # Secondary suppression: one hidden area could be recovered from the total.
            size = s.sums[q.persons[-1]]
            rest = [j for j, i in enumerate(sel) if j not in hidden and size[i] > 0]
            if rest:
                j = min(rest, key=lambda jj: (size[sel[jj]], jj))
                out[j] = (None, True)
        return out

    def indicator(self, indicator_id: str, *, level: str | None = None, res: int | None = None,
                  code: str | None = None, start: str | date | None = None,
                  to: str | date | None = None, freq: str | None = None,
                  as_of: str | date | None = None, reveal: bool = False,
                  k: int | None = None) -> dict[str, Any]:
        """Values per area (at ``as_of``, with the previous period and the change) and the
        series over ``[from, to]`` by ``freq``. ``reveal``: no k-anonymity (admin); ``k``:
        the k of k-anonymity (default the engine's)."""
        ind = self.catalog.get(indicator_id)
        lv, r = self._level(level, res)
        if lv not in ind.levels:
            raise IndicatorInputError(f"{ind.id} is not available at level {lv}")
        gen = self.sources.refresh()
        w = self.window(start, to, freq, as_of, live=QUERIES[ind.query].live)
        kk = k or self.k
        key = ("ind", gen, ind.id, lv, r, code, w, reveal, kk)
        return self._cached(key, lambda: self._indicator(ind, lv, r, code, w, reveal, kk))  # type: ignore[no-any-return]

    def _indicator(self, ind: Indicator, lv: str, res: int, code: str | None, w: Window,
                   reveal: bool, k: int) -> dict[str, Any]:
        cur = self._sums(ind, lv, res, *w.current)
        prev = self._sums(ind, lv, res, *w.previous)
        sel = self._select(lv, cur.codes, code)
        vals = self._values(ind, cur, sel, reveal, k)
        pvals = self._values(ind, prev, sel, reveal, k)
        rows = []
        for j, i in enumerate(sel):
            (v, sup), (p, psup) = vals[j], pvals[j]
            row: dict[str, Any] = {"code": cur.codes[i], "name": cur.names[i], "value": v,
                                   "previous": p,
                                   "change": _change(v, p)}
            if sup or psup:
                row["suppressed"] = True
            rows.append(row)
        series = []
        for ps, pe in periods(w.start, w.to, w.freq):
            s = self._sums(ind, lv, res, ps, pe)
            pv = self._values(ind, s, sel, reveal, k)
            series.append({"t": ps.isoformat(),
                           "values": {s.codes[i]: pv[j][0] for j, i in enumerate(sel)}})
        return {"id": ind.id, "level": lv, **({"res": res} if lv == "block" else {}),
                "code": code, "unit": ind.unit, "freq": w.freq, "from": w.start.isoformat(),
                "to": w.to.isoformat(), "as_of": w.as_of.isoformat(), "values": rows,
                "series": series}

    def summary(self, *, level: str | None = None, code: str | None = None,
                start: str | date | None = None, to: str | date | None = None,
                freq: str | None = None, as_of: str | date | None = None,
                reveal: bool = False, k: int | None = None) -> dict[str, Any]:
        """Every headline indicator for one area (``code``, else the district)."""
        lv = level or "district"
        if lv not in ("district", "subdistrict", "community"):
            raise IndicatorInputError("level must be district, subdistrict or community")
        a_ = self.sources.areas()
        if code is not None and code != a_.district_code:
            if code in a_.sd_codes:
                lv = "subdistrict"
            elif code in a_.cc_codes:
                lv = "community"
            else:
                raise UnknownArea(f"no subdistrict or community with code {code!r}")
        else:
            code, lv = None, "district"
        gen = self.sources.refresh()
        # every frame a headline needs, and the coverage indicators' network joins, in
        # parallel (a cold engine)
        self.sources.prefetch(extra=self._demand_jobs())
        w = self.window(start, to, freq, as_of)
        # live indicators (active alerts, sensors offline) default to today, the others
        # to the data's last day; each item says which as_of it used
        w_live = self.window(start, to, freq, as_of, live=True)
        kk = k or self.k
        key = ("summary", gen, lv, code, w, w_live, reveal, kk)

        def build() -> dict[str, Any]:
            items = []
            for ind in self.catalog.headlines:
                if lv not in ind.levels:
                    continue
                wi = w_live if QUERIES[ind.query].live else w
                body = self._indicator(ind, lv, 9, code, wi, reveal, kk)
                row = body["values"][0] if body["values"] else {}
                name = row.get("code")
                items.append({"id": ind.id, "title": ind.title.model_dump(), "unit": ind.unit,
                              "direction": ind.direction, "value": row.get("value"),
                              "previous": row.get("previous"), "change": row.get("change"),
                              **({"suppressed": True} if row.get("suppressed") else {}),
                              "as_of": wi.as_of.isoformat(), "from": wi.start.isoformat(),
                              "to": wi.to.isoformat(),
                              **({"live": True} if QUERIES[ind.query].live else {}),
                              "series": [{"t": p["t"], "value": p["values"].get(name)}
                                         for p in body["series"]]})
            return {"level": lv, "code": code, "as_of": w.as_of.isoformat(),
                    "from": w.start.isoformat(), "to": w.to.isoformat(), "freq": w.freq,
                    "items": items}

        return self._cached(key, build)  # type: ignore[no-any-return]

    def _demand_jobs(self) -> list[Callable[[], Any]]:
        """The network joins of the headline coverage indicators not done yet."""
        from gis.indicators.reach import demand

        modes = sorted({str(i.params.get("mode", "walk")) for i in self.catalog.headlines
                        if i.query == "reach_coverage"})
        if not modes:
            return []

        def job(mode: str) -> Callable[[], Any]:
            def run() -> Any:
                try:
                    return demand(self.sources, mode)
                except Exception as exc:  # the request itself reports it
                    log.debug("coverage join of %s not prefetched: %s", mode, exc)
                    return None
            return run
        return [job(m) for m in modes]

    def geojson(self, body: dict[str, Any]) -> dict[str, Any]:
        """The areas of an :meth:`indicator` answer as a FeatureCollection (admin polygons,
        H3 cell polygons for blocks) whose properties are the ``values`` rows."""
        a = self.sources.areas()
        feats = []
        for row in body["values"]:
            c = row["code"]
            if body["level"] == "block":
                ring = [(lng, lat) for lat, lng in h3.cell_to_boundary(c)]
                geom: Any = shapely.Polygon(ring)
            elif body["level"] == "subdistrict":
                geom = a.sd_geoms[a.sd_codes.index(c)]
            elif body["level"] == "community":
                geom = a.cc_geoms[a.cc_codes.index(c)]
            else:
                geom = shapely.union_all(a.sd_geoms) if len(a.sd_geoms) else None
            feats.append({"type": "Feature", "id": c,
                          "geometry": shapely.geometry.mapping(geom) if geom is not None
                          else None, "properties": dict(row)})
        return {"type": "FeatureCollection", "features": feats,
                "properties": {k: body[k] for k in ("id", "level", "unit", "freq", "from", "to",
                                                    "as_of")}}


def _total(w: npt.NDArray[Any]) -> float:
    """The sum of a weight (a boolean mask: its count)."""
    return float(np.count_nonzero(w)) if w.dtype == np.bool_ else float(w.sum())


def _per_area(idx: npt.NDArray[np.int64], ok: npt.NDArray[np.bool_], w: npt.NDArray[Any],
              n: int) -> npt.NDArray[np.float64]:
    """The sum of a weight per area index (``ok``: rows with an area); a boolean mask is
    counted over its rows (the same integers, without a float copy of every row)."""
    if w.dtype == np.bool_:
        return np.bincount(idx[ok & w], minlength=n).astype(np.float64)
    return np.bincount(idx[ok], weights=w[ok], minlength=n).astype(np.float64)


def _change(v: float | None, p: float | None) -> float | None:
    if v is None or p is None:
        return None
    d = v - p
    return int(d) if isinstance(v, int) and isinstance(p, int) else d

"""Where and when: hot spots (Getis-Ord Gi*), repeat complaints, weekly trends.

Hot spots use PySAL's ``esda.G_Local`` with ``star=True`` (the cell itself is in its own
neighbourhood, Getis & Ord 1995) over H3 cells: every cell of the district at the chosen
resolution is a unit (cells without events count 0), neighbours are the cells sharing an
edge (``grid_disk(cell, 1)``), weights binary. A cell is a hot (cold) spot when its z-score
is positive (negative) and the two-sided normal p-value is below ``alpha``.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import h3
import numpy as np
import pandas as pd
import shapely

from gis.cases.config import CATEGORIES
from gis.cases.errors import DispatchInputError
from gis.cases.workflow import parse_instant
from gis.h3cells import cell_parent, cell_to_str

_EARTH_M_PER_DEG = 111_320.0


def gi_star(values: np.ndarray, neighbours: dict[int, list[int]] | Any,
            ) -> tuple[np.ndarray, np.ndarray]:
    """Gi* z-scores and two-sided normal p-values of ``values`` over the graph
    ``neighbours`` (unit index -> adjacent unit indexes, self excluded; binary weights), or
    over a libpysal ``W`` from :func:`star_weights`. Units whose neighbourhood is every
    unit have no variance: z and p are NaN."""
    import esda
    from scipy.stats import norm

    w = neighbours if not isinstance(neighbours, dict) else star_weights(
        len(values), neighbours)
    with np.errstate(invalid="ignore", divide="ignore"):
        # permutations=0: the analytical (normal) inference only; the conditional
        # permutations esda would otherwise draw (999 by default) are not used here.
        g = esda.G_Local(np.asarray(values, dtype=np.float64), w, transform="B", star=None,
                         permutations=0)
    z = np.asarray(g.Zs, dtype=np.float64)
    # esda's p_norm is one-sided; the classes below use the two-sided test.
    p = 2.0 * norm.sf(np.abs(z))
    return z, p


def star_weights(n: int, neighbours: dict[int, list[int]]) -> Any:
    """The binary libpysal ``W`` of Gi*: each unit's neighbours and the unit itself (the
    diagonal esda would otherwise add on every call, Getis & Ord 1995)."""
    from libpysal.weights import W

    return W({i: [i, *neighbours.get(i, [])] for i in range(n)}, silence_warnings=True)


@dataclass(frozen=True)
class CellGrid:
    """The district's H3 cells at one resolution, their Gi* weights and outlines (the
    same for every hot-spot request at that resolution: built once, kept)."""

    res: int
    cells: np.ndarray  # int64, sorted
    weights: Any  # libpysal W with the diagonal
    rings: list[list[list[float]]]  # GeoJSON rings, lon/lat rounded to 7 decimals

    @classmethod
    def build(cls, cells: list[int], res: int) -> CellGrid:
        """Neighbours (cells sharing an edge) and outlines of ``cells``."""
        arr = np.asarray(sorted(cells), dtype=np.int64)
        index = {int(c): i for i, c in enumerate(arr)}
        neighbours = {i: [index[h3.str_to_int(x)] for x in h3.grid_ring(h3.int_to_str(int(c)), 1)
                          if h3.str_to_int(x) in index] for i, c in enumerate(arr)}
        rings = []
        for c in arr:
            ring = [[round(lon, 7), round(lat, 7)]
                    for lat, lon in h3.cell_to_boundary(h3.int_to_str(int(c)))]
            ring.append(ring[0])
            rings.append(ring)
        return cls(res, arr, star_weights(len(arr), neighbours), rings)


_GRIDS: dict[tuple[int, str], CellGrid] = {}
_GRIDS_LOCK = threading.Lock()


@dataclass
class Period:
    """A half-open period of ISO instants (either end may be open)."""

    start: str | None = None
    end: str | None = None

    @classmethod
    def parse(cls, start: str | None, end: str | None) -> Period:
        """From ISO dates or instants; raises :class:`DispatchInputError`."""
        s = parse_instant(start, "start").strftime("%Y-%m-%dT%H:%M:%SZ") if start else None
        e = parse_instant(end, "end").strftime("%Y-%m-%dT%H:%M:%SZ") if end else None
        if s and e and s >= e:
            raise DispatchInputError("start must be before end")
        return cls(s, e)


def _check_category(category: str | None) -> None:
    if category is not None and category not in CATEGORIES:
        raise DispatchInputError(f"unknown category {category!r}")


def _events(store: Any, category: str | None, period: Period,
            columns: list[str]) -> pd.DataFrame:
    where = {"category": category} if category else None
    df = store.query("event", columns=columns, where=where)
    t = df["occurred_at"]
    keep = np.ones(len(df), dtype=bool)
    if period.start:
        keep &= (t >= period.start).to_numpy()
    if period.end:
        keep &= (t < period.end).to_numpy()
    return df[keep]


def _cell_counts(store: Any, res: int, category: str | None,
                 period: Period) -> tuple[np.ndarray, np.ndarray]:
    """Events per H3 cell at ``res`` (cells, counts): one GROUP BY in the store (the same
    SQL runs on SQLite and PostgreSQL) instead of reading every event; stores without
    plain SQL fall back on reading the events.

    At res <= 9 the store groups by the stored res-9 ``block`` (its ``(block,
    occurred_at)`` index covers the query: ~0.1 s for 520,000 events against ~1 s for
    the parent computed from ``h3`` per row) and the coarser parents are taken of the
    ~700 block counts in numpy.
    """
    if not hasattr(store, "sql_read"):
        ev = _events(store, category, period, ["h3", "occurred_at"])
        u, n = np.unique(cell_parent(ev["h3"].to_numpy(dtype=np.int64), res),
                         return_counts=True)
        return u, n
    from gis.h3cells import BLOCK_RES, parent_sql
    from gis.model import SCHEMAS

    col = "block" if res <= BLOCK_RES else parent_sql("h3", res)
    if category and res <= BLOCK_RES:
        # ``block + 0``: SQLite would otherwise walk the (block, occurred_at) index for
        # the grouping and look every row up for its category (1 s on the full demo); so
        # it picks the category or time index and sorts the few groups (0.15 s).
        col = "block + 0"
    sql = (f"SELECT {col} AS cell, COUNT(*) FROM {SCHEMAS['event'].table} "
           f"WHERE {'block' if res <= BLOCK_RES else 'h3'} IS NOT NULL")
    params: list[Any] = []
    if category:
        sql += " AND category = ?"
        params.append(category)
    if period.start:
        sql += " AND occurred_at >= ?"
        params.append(period.start)
    if period.end:
        sql += " AND occurred_at < ?"
        params.append(period.end)
    rows = store.sql_read(sql + " GROUP BY cell", params)
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    cells = np.fromiter((int(r[0]) for r in rows), dtype=np.int64, count=len(rows))
    counts = np.fromiter((int(r[1]) for r in rows), dtype=np.int64, count=len(rows))
    if res < BLOCK_RES:
        cells, inverse = np.unique(cell_parent(cells, res), return_inverse=True)
        counts = np.bincount(inverse, weights=counts).astype(np.int64)
    return cells, counts


def _district_shape(store: Any) -> Any:
    d = store.query("district", columns=["id"])
    if d.empty:
        raise DispatchInputError("no district in the store")
    return shapely.union_all(np.asarray(d.geometry.values, dtype=object))


def district_cells(store: Any, res: int) -> list[int]:
    """Every H3 cell at ``res`` whose centre is inside the district (sorted)."""
    return [int(c) for c in cell_grid(store, res).cells]


def cell_grid(store: Any, res: int) -> CellGrid:
    """The district's :class:`CellGrid` at ``res``, built once per district outline."""
    geom = _district_shape(store)
    key = (res, hashlib.sha1(shapely.to_wkb(geom)).hexdigest())
    grid = _GRIDS.get(key)
    if grid is None:
        shape = h3.geo_to_h3shape(shapely.geometry.mapping(geom))
        grid = CellGrid.build([h3.str_to_int(c) for c in h3.h3shape_to_cells(shape, res)],
                              res)
        with _GRIDS_LOCK:
            if len(_GRIDS) > 16:
                _GRIDS.clear()
            _GRIDS[key] = grid
    return grid


def hotspots(store: Any, res: int = 9, category: str | None = None, start: str | None = None,
             end: str | None = None, alpha: float = 0.05) -> dict[str, Any]:
    """Gi* hot and cold spots of events over the district's H3 cells at ``res``."""
    if not 7 <= res <= 10:
        raise DispatchInputError("res must be 7-10")
    if not 0 < alpha < 0.5:
        raise DispatchInputError("alpha must be in (0, 0.5)")
    _check_category(category)
    period = Period.parse(start, end)
    grid = cell_grid(store, res)
    cells = grid.cells
    counts = np.zeros(len(cells))
    got, k = _cell_counts(store, res, category, period)
    if len(got):
        # events just outside the district's cells are left out
        pos = np.clip(np.searchsorted(cells, got), 0, max(len(cells) - 1, 0))
        inside = cells[pos] == got if len(cells) else np.zeros(len(got), dtype=bool)
        np.add.at(counts, pos[inside], k[inside])
    if counts.sum() > 0:
        z, p = gi_star(counts, grid.weights)
    else:
        z = p = np.full(len(cells), np.nan)
    sig = np.isfinite(p) & (p < alpha)
    cls = np.where(sig, np.where(z > 0, "hot", "cold"), "none")
    zs = [round(float(v), 4) if np.isfinite(v) else None for v in z]
    ps = [round(float(v), 6) if np.isfinite(v) else None for v in p]
    features: list[dict[str, Any]] = []
    for i, c in enumerate(cells.tolist()):
        hexid = cell_to_str(c)
        features.append({"type": "Feature", "id": hexid,
                         "geometry": {"type": "Polygon", "coordinates": [grid.rings[i]]},
                         "properties": {"cell": hexid, "count": int(counts[i]),
                                        "z": zs[i], "p": ps[i], "class": str(cls[i])}})
    return {"type": "FeatureCollection", "features": features,
            "res": res, "category": category, "start": period.start, "end": period.end,
            "alpha": alpha, "events": int(counts.sum()),
            "hot": int((cls == "hot").sum()), "cold": int((cls == "cold").sum())}


def repeat_clusters(frame: pd.DataFrame, days: int = 30, radius_m: float = 50.0,
                    ) -> pd.DataFrame:
    """Group reports of the same category at the same address or within ``radius_m``
    metres and within ``days`` days of another report of the group (single linkage).

    ``frame`` has ``id, category, occurred_at, lon, lat`` and optionally ``address_id``.
    Returns one row per cluster of two or more: ``cluster, category, count, first, last,
    lon, lat, address_id, ids``, largest first.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    if days < 1 or radius_m <= 0:
        raise DispatchInputError("days must be >= 1 and radius positive")
    out = []
    window = np.int64(days) * 86400
    for cat, g in frame.groupby("category", sort=True):
        n = len(g)
        if n < 2:
            continue
        # Seconds whatever pandas' datetime unit (ns before pandas 3, us after).
        t = (pd.to_datetime(g["occurred_at"], utc=True).dt.tz_localize(None).to_numpy()
             .astype("datetime64[s]").astype(np.int64))
        lat0 = float(np.nanmean(g["lat"]))
        xy = np.column_stack([g["lon"].to_numpy() * _EARTH_M_PER_DEG * np.cos(np.radians(lat0)),
                              g["lat"].to_numpy() * _EARTH_M_PER_DEG])
        pairs = cKDTree(xy).query_pairs(radius_m, output_type="ndarray")
        if "address_id" in g:
            aid = g["address_id"].to_numpy(dtype=object)
            order = np.lexsort((t, aid.astype(str)))
            same = (aid[order][1:] == aid[order][:-1]) & pd.notna(aid[order][1:])
            extra = np.column_stack([order[:-1][same], order[1:][same]])
            pairs = np.vstack([pairs.reshape(-1, 2), extra]) if len(extra) else pairs
        pairs = pairs.reshape(-1, 2)
        pairs = pairs[np.abs(t[pairs[:, 0]] - t[pairs[:, 1]]) <= window]
        if not len(pairs):
            continue
        graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
        _, label = connected_components(graph, directed=False)
        sizes = np.bincount(label)
        ids = g["id"].to_numpy(dtype=object)
        for lab in np.flatnonzero(sizes >= 2):
            m = label == lab
            a = g["address_id"][m].dropna() if "address_id" in g else pd.Series([], dtype=object)
            out.append({"category": cat, "count": int(m.sum()),
                        "first": g["occurred_at"].to_numpy()[m].min(),
                        "last": g["occurred_at"].to_numpy()[m].max(),
                        "lon": round(float(g["lon"].to_numpy()[m].mean()), 7),
                        "lat": round(float(g["lat"].to_numpy()[m].mean()), 7),
                        "address_id": a.mode().iloc[0] if len(a) else None,
                        "ids": sorted(str(x) for x in ids[m])})
    df = pd.DataFrame(out, columns=["category", "count", "first", "last", "lon", "lat",
                                    "address_id", "ids"])
    df = df.sort_values(["count", "category", "first"], ascending=[False, True, True],
                        kind="stable").reset_index(drop=True)
    df.insert(0, "cluster", np.arange(1, len(df) + 1))
    return df


def repeats(store: Any, category: str | None = None, start: str | None = None,
            end: str | None = None, days: int = 30, radius_m: float = 50.0) -> pd.DataFrame:
    """:func:`repeat_clusters` over the stored events of a period."""
    _check_category(category)
    period = Period.parse(start, end)
    ev = _events(store, category, period, ["id", "category", "occurred_at", "address_id"])
    frame = pd.DataFrame({"id": ev["id"], "category": ev["category"],
                          "occurred_at": ev["occurred_at"], "address_id": ev["address_id"],
                          "lon": ev.geometry.x, "lat": ev.geometry.y})
    return repeat_clusters(frame, days, radius_m)


def weekly_trend(times: pd.Series, start: str, end: str) -> list[dict[str, Any]]:
    """Counts per ISO week (Monday start) in ``[start, end)`` with the count of the same
    week a year earlier (52 weeks before) and the relative change (None when that is 0)."""
    s = parse_instant(start, "start")
    e = parse_instant(end, "end")
    if s >= e:
        raise DispatchInputError("start must be before end")
    t = pd.to_datetime(times, utc=True)
    week = (t - pd.to_timedelta(t.dt.day_of_week, unit="D")).dt.floor("D")
    counts = week.value_counts()
    first = (pd.Timestamp(s) - pd.Timedelta(days=s.weekday())).floor("D")
    weeks = pd.date_range(first, pd.Timestamp(e), freq="7D", inclusive="left")
    rows = []
    for w in weeks:
        now = int(counts.get(w, 0))
        before = int(counts.get(w - timedelta(weeks=52), 0))
        rows.append({"week": w.strftime("%Y-%m-%d"), "count": now, "last_year": before,
                     "change": round((now - before) / before, 4) if before else None})
    return rows


def trends(store: Any, start: str, end: str, category: str | None = None,
           community_code: str | None = None, cell: str | None = None) -> dict[str, Any]:
    """Weekly counts per category (or one) for the district, a community or an H3 block,
    with the change against the same weeks a year earlier."""
    _check_category(category)
    s = parse_instant(start, "start")
    lo = (s - timedelta(weeks=53)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ev = _events(store, category, Period(lo, Period.parse(start, end).end),
                 ["h3", "category", "occurred_at", "community_code"])
    if community_code:
        ev = ev[ev["community_code"] == community_code]
    if cell:
        from gis.h3cells import cell_resolution, str_to_cell

        c = str_to_cell(cell)
        r = int(cell_resolution([c])[0])
        ev = ev[cell_parent(ev["h3"].to_numpy(dtype=np.int64), r) == c]
    cats = [category] if category else list(CATEGORIES)
    series = {cat: weekly_trend(ev.loc[ev["category"] == cat, "occurred_at"], start, end)
              for cat in cats}
    return {"start": start, "end": end, "community_code": community_code, "cell": cell,
            "series": series}

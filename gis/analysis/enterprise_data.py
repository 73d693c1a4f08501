"""In-memory snapshot of the enterprise-service data: spaces, enterprises, buildings.

Space matching, the enterprise portrait and the at-risk list all ask the same
few tens of thousands of space versions and the 250,000 enterprises many
times a second. Reading them from the store per request costs hundreds of
milliseconds (one SQL scan with a valid-time filter), so they are read once
per store into numpy arrays and answered by vectorised masks (DESIGN.md:
expensive state is built once). The snapshot is dropped when the store
reports a write to one of the kinds it holds (the store's write listeners).
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

import h3.api.basic_int as h3i
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from gis.crs import to_metric
from gis.store.base import Store

#: Kinds whose writes invalidate the snapshot.
KINDS = ("industrial_space", "enterprise", "building", "road", "event", "district",
         "subdistrict")
#: Day number used for "no end" (open valid_to).
OPEN_END = np.iinfo(np.int64).max
#: Resolution and ring of the "nearby" neighbourhood (a res-9 block and its 6
#: neighbours, about 0.7 km²).
RING_RES = 9
RING_K = 1

Ints = npt.NDArray[np.int64]


def day_numbers(values: Any) -> Ints:
    """ISO dates (or None) as days since 1970-01-01; missing → ``OPEN_END``."""
    s = pd.to_datetime(pd.Series(values, dtype=object), errors="coerce")
    days = (s.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")).astype(np.int64)
    out = np.where(s.isna().to_numpy(), OPEN_END, days)
    return out.astype(np.int64)


def day_number(iso: str) -> int:
    """One ISO date as days since 1970-01-01."""
    return int(np.datetime64(iso[:10], "D").astype(np.int64))


def _text(frame: pd.DataFrame, col: str) -> npt.NDArray[np.object_]:
    if col not in frame:
        return np.full(len(frame), None, dtype=object)
    return frame[col].astype(object).where(frame[col].notna(), None).to_numpy(dtype=object)


def _cells(frame: pd.DataFrame, col: str) -> Ints:
    # Not through float64: a 64-bit H3 cell does not survive it.
    if col not in frame:
        return np.zeros(len(frame), dtype=np.int64)
    return np.asarray(frame[col].fillna(0).astype(np.int64).to_numpy(), dtype=np.int64)


def _num(frame: pd.DataFrame, col: str) -> npt.NDArray[np.float64]:
    if col not in frame:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64)


@dataclass
class Table:
    """Columns of one kind as numpy arrays, with the valid interval as day numbers."""

    cols: dict[str, np.ndarray]
    vf: Ints
    vt: Ints

    def __len__(self) -> int:
        return len(self.vf)

    def valid_at(self, day: int) -> npt.NDArray[np.bool_]:
        """Rows whose half-open valid interval ``[vf, vt)`` contains ``day``."""
        return (self.vf <= day) & (day < self.vt)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.cols[name]


@dataclass
class Snapshot:
    """Everything the enterprise-service analyses read, for one store."""

    spaces: Table
    enterprises: Table
    enterprise_row: dict[str, int]
    events: Table  # id, address_id, source, category, status, occurred_at (vf: its day)
    buildings: pd.DataFrame  # index: building id; year_built, estate, use, floors,
    # arterial_m, address_id, name, address
    district: BaseGeometry | None
    subdistricts: dict[str, str]  # code -> name
    first_day: int  # first day of the space data
    last_start: int  # start of the last reported quarter
    _rings: dict[int, list[int]] = field(default_factory=dict)
    _events_at: dict[str, np.ndarray] | None = None
    _by_block: tuple[Ints, Ints] | None = None
    _building: dict[str, dict[str, Any]] | None = None
    _space_rows: dict[str, Ints] | None = None

    def building(self, bid: Any) -> dict[str, Any] | None:
        """One building's attributes as a plain dict (missing values None), or None.

        Plain dicts, built once: a pandas row lookup costs tens of microseconds, and
        matching looks up every candidate's building."""
        if self._building is None:
            recs = self.buildings.astype(object).where(self.buildings.notna(), None)
            self._building = {str(k): {str(c): v for c, v in r.items()} for k, r in
                               zip(recs.index, recs.to_dict("records"), strict=True)}
        return self._building.get(str(bid)) if bid is not None else None

    def space_rows(self, bid: Any) -> Ints:
        """Rows of ``spaces`` (every version) in building ``bid``."""
        if self._space_rows is None:
            ids = pd.Series(self.spaces["building_id"])
            self._space_rows = {str(k): np.asarray(v, dtype=np.int64)
                                for k, v in ids.groupby(ids).indices.items()}
        return self._space_rows.get(str(bid), np.zeros(0, dtype=np.int64))

    def rows_in_blocks(self, blocks: list[int]) -> Ints:
        """Enterprise rows in any of ``blocks`` (res 9), by binary search over a sorted
        copy of the block column (built once) instead of a scan of every enterprise."""
        if self._by_block is None:
            order = np.argsort(self.enterprises["block"], kind="stable")
            self._by_block = (order.astype(np.int64), self.enterprises["block"][order])
        order, sorted_blocks = self._by_block
        parts = [order[np.searchsorted(sorted_blocks, b, "left"):
                       np.searchsorted(sorted_blocks, b, "right")] for b in blocks]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    def events_at(self, address_id: str | None) -> np.ndarray:
        """Rows of ``events`` geocoded to ``address_id`` (grouped once, on first use)."""
        if self._events_at is None:
            ids = pd.Series(self.events["address_id"])
            self._events_at = {str(k): np.asarray(v, dtype=np.int64)
                               for k, v in ids.groupby(ids).indices.items()}
        if not address_id:
            return np.zeros(0, dtype=np.int64)
        return self._events_at.get(address_id, np.zeros(0, dtype=np.int64))

    def ring(self, block: int) -> list[int]:
        """The res-9 block and its ``RING_K`` neighbours (cached)."""
        got = self._rings.get(block)
        if got is None:
            got = [int(c) for c in h3i.grid_disk(int(block), RING_K)] if block > 0 else []
            self._rings[block] = got
        return got

    def industry_counts(self, day: int, industry: str) -> dict[int, int]:
        """Enterprises of ``industry`` valid at ``day`` per res-9 block."""
        e = self.enterprises
        m = e.valid_at(day) & (e["industry"] == industry)
        cells, counts = np.unique(e["block"][m], return_counts=True)
        return dict(zip(cells.tolist(), counts.tolist(), strict=True))

    def ring_count(self, counts: dict[int, int], block: int) -> int:
        """Sum of ``counts`` over the ring around ``block``."""
        return int(sum(counts.get(c, 0) for c in self.ring(block)))


_CACHE: weakref.WeakKeyDictionary[Any, Snapshot] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def snapshot(store: Store) -> Snapshot:
    """The snapshot of ``store`` (read on first use, dropped on writes to its kinds)."""
    with _LOCK:
        snap = _CACHE.get(store)
        if snap is None:
            snap = _load(store)
            _CACHE[store] = snap
            listeners = getattr(store, "write_listeners", None)
            if isinstance(listeners, list) and not any(
                    getattr(fn, "onemap_snapshot", False) for fn in listeners):
                listeners.append(_drop_for(store))
        return snap


#: Stores with more enterprises than this are read in the background at start-up.
WARM_MIN_ENTERPRISES = 20_000


def warm_in_background(store: Store) -> threading.Thread | None:
    """Read the snapshot of a large store in a daemon thread (app start-up), so the first
    enterprise request does not pay the load (about 20 s at full demo scale). Small
    stores (tests, small demos) are read on first use instead."""
    try:
        n = int(store.stats().counts.get("enterprise") or 0)
    except Exception:  # a store that cannot say: read on first use
        return None
    if n < WARM_MIN_ENTERPRISES:
        return None

    def run() -> None:
        try:
            snapshot(store)
        except Exception:  # closed while loading: the next request loads it again
            _CACHE.pop(store, None)

    t = threading.Thread(target=run, name="onemap-enterprise-snapshot", daemon=True)
    t.start()
    return t


def _drop_for(store: Store) -> Any:
    ref = weakref.ref(store)

    def drop(kind: str, area: Any) -> None:
        s = ref()
        if s is not None and kind in KINDS:
            with _LOCK:
                _CACHE.pop(s, None)

    drop.onemap_snapshot = True  # type: ignore[attr-defined]
    return drop


def _points(frame: pd.DataFrame) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    if len(frame) == 0:
        return np.zeros(0), np.zeros(0)
    geoms = np.asarray(frame.geometry.values, dtype=object)
    pts = shapely.point_on_surface(geoms)
    return shapely.get_x(pts), shapely.get_y(pts)


def _load(store: Store) -> Snapshot:
    sp = store.query("industrial_space", columns=[
        "id", "building_id", "name", "space_type", "use", "area_m2", "vacant_area_m2",
        "vacancy_rate", "rent", "subdistrict_code", "community_code", "block",
        "valid_from", "valid_to"])
    sx, sy = _points(sp)
    spaces = Table(
        cols={"id": _text(sp, "id"), "building_id": _text(sp, "building_id"),
              "name": _text(sp, "name"), "space_type": _text(sp, "space_type"),
              "use": _text(sp, "use"), "area_m2": _num(sp, "area_m2"),
              "vacant_m2": _num(sp, "vacant_area_m2"), "vacancy_rate": _num(sp, "vacancy_rate"),
              "rent": _num(sp, "rent"), "subdistrict_code": _text(sp, "subdistrict_code"),
              "community_code": _text(sp, "community_code"),
              "block": _cells(sp, "block"),
              "lon": sx, "lat": sy},
        vf=day_numbers(sp["valid_from"]), vt=day_numbers(sp["valid_to"]))
    en = store.query("enterprise", columns=[
        "id", "name", "industry", "building_id", "block", "employees", "social_security_headcount",
        "registered_capital", "tax_band", "subdistrict_code", "valid_from", "valid_to",
        "credit_code", "industry_name", "address_id", "house_id", "community_code"])
    ex, ey = _points(en)
    enterprises = Table(
        cols={"id": _text(en, "id"), "name": _text(en, "name"),
              "industry": _text(en, "industry").astype(str),
              "building_id": _text(en, "building_id"),
              "block": _cells(en, "block"),
              "employees": _num(en, "employees"), "ss": _num(en, "social_security_headcount"),
              "capital": _num(en, "registered_capital"), "tax_band": _text(en, "tax_band"),
              "subdistrict_code": _text(en, "subdistrict_code"), "lon": ex, "lat": ey,
              "credit_code": _text(en, "credit_code"),
              "industry_name": _text(en, "industry_name"),
              "address_id": _text(en, "address_id"), "house_id": _text(en, "house_id"),
              "community_code": _text(en, "community_code")},
        vf=day_numbers(en["valid_from"]), vt=day_numbers(en["valid_to"]))
    row = {str(k): i for i, k in enumerate(enterprises["id"])}

    # Buildings that hold a space or an enterprise: the latest version of each.
    bids = sorted({b for b in (*spaces["building_id"], *enterprises["building_id"]) if b})
    b = store.query("building", where={"id": bids}, columns=[
        "id", "year_built", "estate", "use", "floors", "valid_from", "address_id", "name",
        "address"]) if bids else None
    if b is not None and len(b):
        b = b.sort_values("valid_from").drop_duplicates("id", keep="last")
        bx, by = _points(b)
        buildings = pd.DataFrame({
            "year_built": _num(b, "year_built"), "estate": _text(b, "estate"),
            "use": _text(b, "use"), "floors": _num(b, "floors"),
            "arterial_m": _arterial_m(store, bx, by), "address_id": _text(b, "address_id"),
            "name": _text(b, "name"), "address": _text(b, "address")}, index=_text(b, "id"))
    else:
        buildings = pd.DataFrame(columns=["year_built", "estate", "use", "floors", "arterial_m",
                                          "address_id", "name", "address"])

    d = store.query("district")
    district = shapely.union_all(np.asarray(d.geometry.values)) if len(d) else None
    s = store.query("subdistrict", columns=["code", "name"])
    subs = {str(c): str(n) for c, n in zip(s["code"], s["name"], strict=True)} if len(s) else {}
    if district is None and len(s):
        district = shapely.union_all(np.asarray(s.geometry.values))
    first = int(spaces.vf.min()) if len(spaces) else 0
    last = int(spaces.vf.max()) if len(spaces) else 0
    ev = store.query("event", columns=["id", "address_id", "source", "category",
                                       "occurred_at", "status"])
    ev = ev[ev["address_id"].notna()] if len(ev) else ev
    events = Table(
        cols={"id": _text(ev, "id"), "address_id": _text(ev, "address_id"),
              "source": _text(ev, "source"), "category": _text(ev, "category"),
              "status": _text(ev, "status"), "occurred_at": _text(ev, "occurred_at")},
        vf=day_numbers(ev["occurred_at"].astype(str).str[:10]) if len(ev)
        else np.zeros(0, dtype=np.int64),
        vt=np.full(len(ev), OPEN_END, dtype=np.int64))
    return Snapshot(spaces, enterprises, row, events, buildings, district, subs, first, last)


def _arterial_m(store: Store, lon: npt.NDArray[np.float64],
                lat: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Distance (m, EPSG:4547) from each point to the nearest arterial road (NaN: none)."""
    roads = store.query("road", where={"road_class": "arterial"}, columns=["id"])
    if len(roads) == 0 or len(lon) == 0:
        return np.full(len(lon), np.nan)
    from gis.crs import METRIC_CRS

    metric = roads.to_crs(METRIC_CRS) if roads.crs is not None else roads.set_crs(
        "EPSG:4326").to_crs(METRIC_CRS)
    tree = shapely.STRtree(np.asarray(metric.geometry.values))
    x, y = to_metric(lon, lat)
    pts = shapely.points(x, y)
    idx, dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
    out = np.full(len(lon), np.nan)
    out[idx[0]] = dist
    return out

"""What the indicators read from the store: columnar frames of the entities, cached.

Each frame is read once with one plain ``SELECT`` (the same SQL on the GeoPackage and
PostGIS stores: both hold dates as canonical ISO text, so string comparison is time
comparison) and kept as numpy arrays; an indicator for a period is then a vectorised
mask and a ``bincount`` over area indexes, so a 12-month series costs twelve masks,
not twelve scans of the store. Frames are cached per entity kind and dropped when
that kind is written: by the store's in-process write listeners, by the GeoPackage
write log (other processes' ingests, :meth:`GeoPackageStore.data_version`), by the
alert log (alerts are not entities) and by the case transitions (the dispatch
workflow's cases).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd

from gis.cases.config import DispatchTable, load_table
from gis.h3cells import cell_parent
from gis.store.base import Store

#: Valid-time end of current rows (compares after every ISO date and instant).
OPEN_END = "9999-12-31T23:59:59Z"
#: Deadline of event categories the dispatch table does not know (sensor alarms).
DEFAULT_DEADLINE_H = 24.0

Arr = npt.NDArray[Any]


@dataclass
class Areas:
    """The admin areas: district, subdistricts and communities (current versions)."""

    district_code: str
    district_name: str
    sd_codes: list[str]
    sd_names: list[str]
    cc_codes: list[str]
    cc_names: list[str]
    cc_parent: list[str]  # subdistrict code of each community
    sd_geoms: Arr
    cc_geoms: Arr

    def sd_index(self, codes: Arr) -> npt.NDArray[np.int64]:
        """Index of each subdistrict code in :attr:`sd_codes` (-1: none)."""
        return pd.Index(self.sd_codes).get_indexer(pd.Index(codes, dtype=object)).astype(
            np.int64)

    def cc_index(self, codes: Arr) -> npt.NDArray[np.int64]:
        """Index of each community code in :attr:`cc_codes` (-1: none)."""
        return pd.Index(self.cc_codes).get_indexer(pd.Index(codes, dtype=object)).astype(
            np.int64)


@dataclass
class Frame:
    """Rows of one entity kind: area keys plus named columns."""

    sd: npt.NDArray[np.int64]  # subdistrict index (-1: none)
    cc: npt.NDArray[np.int64]  # community index (-1: none)
    block: npt.NDArray[np.int64]  # res-9 cell (0: none)
    cols: dict[str, Arr]
    _parents: dict[int, tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]] = field(
        default_factory=dict)

    def __len__(self) -> int:
        return len(self.sd)

    def blocks_at(self, res: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(unique cells at ``res``, index of each row's cell; -1 where none), cached."""
        hit = self._parents.get(res)
        if hit is None:
            has = self.block > 0
            cells = np.zeros(len(self.block), dtype=np.int64)
            if has.any():
                cells[has] = cell_parent(self.block[has], res) if res < 9 else self.block[has]
            uniq, inv = np.unique(cells[has], return_inverse=True)
            idx = np.full(len(self.block), -1, dtype=np.int64)
            idx[has] = inv
            hit = (uniq.astype(np.int64), idx)
            self._parents[res] = hit
        return hit


def _text(values: Sequence[Any], null: str = "") -> Arr:
    """A numpy unicode array of ISO text (``null`` for missing values)."""
    return np.array([null if v is None else str(v) for v in values], dtype=str)


def _blocks(values: Sequence[Any]) -> npt.NDArray[np.int64]:
    return np.array([0 if v is None else int(v) for v in values], dtype=np.int64)


def table_exists(store: Store, name: str) -> bool:
    """Whether the plain table ``name`` exists in the store (both backends)."""
    sql = ("SELECT to_regclass(?) IS NOT NULL" if store.backend == "postgis" else
           "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?")
    return bool(store.sql_read(sql, [name])[0][0])  # type: ignore[attr-defined]


class Sources:
    """The cached frames of one store."""

    #: entity kind -> the frames built from it
    KIND_FRAMES: ClassVar[dict[str, tuple[str, ...]]] = {
        "person": ("person", "person_building_index"), "enterprise": ("enterprise",),
        "industrial_space": ("industrial_space",), "event": ("event",),
        "sensor": ("alert",),
        "building": ("building", "coverage", "person_building_index"),
        "facility": ("coverage",), "road": ("coverage",),
        "district": ("*",), "subdistrict": ("*",), "community": ("*",),
    }

    def __init__(self, store: Store, dispatch: DispatchTable | None = None) -> None:
        self.store = store
        self.dispatch = dispatch or load_table()
        self._lock = threading.RLock()
        self._frames: dict[str, Any] = {}
        self.generation = 0  # bumped on every change seen (the result cache's key)
        self._data_version = self._store_data_version()
        self._alert_mark: tuple[int, int] | None = None
        self._case_mark: int | None = None
        self.listeners: list[Callable[[str], None]] = []
        store_listeners = getattr(store, "write_listeners", None)
        if isinstance(store_listeners, list):
            store_listeners.append(self.on_write)

    def detach(self) -> None:
        """Stop listening to the store's writes."""
        store_listeners = getattr(self.store, "write_listeners", None)
        if isinstance(store_listeners, list) and self.on_write in store_listeners:
            store_listeners.remove(self.on_write)

    # -- invalidation ---------------------------------------------------------

    def on_write(self, kind: str, _area: Any = None) -> None:
        """A write listener (the store calls it after each committed ingest)."""
        with self._lock:
            names = self.KIND_FRAMES.get(kind, ())
            if "*" in names:
                self._frames.clear()
            for n in names:
                self._frames.pop(n, None)
            if kind in ("sensor",):
                self._frames.pop("alert", None)
            self.generation += 1
        for fn in list(self.listeners):
            fn(kind)

    def _store_data_version(self) -> int | None:
        fn = getattr(self.store, "data_version", None)
        return int(fn()) if callable(fn) else None

    def refresh(self) -> int:
        """Notice writes made elsewhere (other processes, the alert and case tables);
        returns the generation to key results with. A few indexed reads."""
        dv = self._store_data_version()
        if dv is not None and dv != self._data_version:
            since = getattr(self.store, "writes_since", None)
            writes = since(self._data_version) if callable(since) and self._data_version \
                is not None else None
            self._data_version = dv
            if writes is None:
                with self._lock:
                    self._frames.clear()
                    self.generation += 1
            else:
                for kind, _ in writes:
                    self.on_write(kind)
        mark = self._alerts_mark()
        if mark != self._alert_mark:
            with self._lock:
                self._alert_mark = mark
                self._frames.pop("alert", None)
                self.generation += 1
        cmark = self._cases_mark()
        if cmark != self._case_mark:
            with self._lock:
                self._case_mark = cmark
                self._frames.pop("event", None)
                self.generation += 1
        return self.generation

    def _alerts_mark(self) -> tuple[int, int]:
        # Every alert change appends to alert_log (gis/perception/db.py): its last
        # sequence number moves with every start, escalation and end.
        if not table_exists(self.store, "alert_log"):
            return (0, 0)
        row = self.store.sql_read(  # type: ignore[attr-defined]
            "SELECT COALESCE(MAX(seq), 0), COUNT(*) FROM alert_log")[0]
        return (int(row[0]), int(row[1]))

    def _cases_mark(self) -> int:
        # Every case change appends a transition (gis/cases/workflow.py).
        if not table_exists(self.store, "case_transitions"):
            return 0
        return int(self.store.sql_read(  # type: ignore[attr-defined]
            "SELECT COUNT(*) FROM case_transitions")[0][0])

    def _get(self, name: str, build: Callable[[], Any]) -> Any:
        with self._lock:
            hit = self._frames.get(name)
            if hit is None:
                hit = build()
                self._frames[name] = hit
            return hit

    # -- frames -----------------------------------------------------------------

    def areas(self) -> Areas:
        """The admin areas (cached)."""
        return self._get("areas", self._build_areas)  # type: ignore[no-any-return]

    def _build_areas(self) -> Areas:
        d = self.store.query("district", columns=["code", "name"], order_by=["code"])
        s = self.store.query("subdistrict", columns=["code", "name"], order_by=["code"])
        c = self.store.query("community", columns=["code", "name", "subdistrict_code"],
                             order_by=["code"])
        s = s.drop_duplicates("code", keep="last")
        c = c.drop_duplicates("code", keep="last")
        dcode = str(d["code"].iloc[0]) if len(d) else (str(s["code"].iloc[0])[:6] if len(s)
                                                        else "")
        dname = str(d["name"].iloc[0]) if len(d) else ""
        return Areas(dcode, dname, s["code"].astype(str).tolist(), s["name"].astype(str).tolist(),
                     c["code"].astype(str).tolist(), c["name"].astype(str).tolist(),
                     c["subdistrict_code"].astype(str).tolist(),
                     np.asarray(s.geometry.values), np.asarray(c.geometry.values))

    def _rows(self, table: str, cols: Sequence[str]) -> list[tuple[Any, ...]]:
        return self.store.sql_read(  # type: ignore[attr-defined, no-any-return]
            f"SELECT {', '.join(cols)} FROM {table}")

    def _frame(self, rows: list[tuple[Any, ...]], names: Sequence[str],
               text: dict[str, str]) -> Frame:
        """A frame from rows whose first three columns are subdistrict, community, block;
        ``text`` names the columns kept as ISO text with their null value."""
        a = self.areas()
        cols = list(zip(*rows, strict=True)) if rows else [() for _ in range(3 + len(names))]
        out: dict[str, Arr] = {}
        for i, n in enumerate(names):
            values = cols[3 + i]
            if n in text:
                out[n] = _text(values, text[n])
            else:
                out[n] = np.array(values, dtype=object)
        return Frame(a.sd_index(np.array(cols[0], dtype=object)),
                     a.cc_index(np.array(cols[1], dtype=object)), _blocks(cols[2]), out)

    _KEYS = ("subdistrict_code", "community_code", "block")

    def persons(self) -> Frame:
        """Persons (every version): valid_from, valid_to, birth_date, household, building."""
        def build() -> Frame:
            names = ("valid_from", "valid_to", "birth_date", "household_id", "building_id")
            f = self._frame(self._rows("persons", [*self._KEYS, *names]), names,
                            {"valid_from": "", "valid_to": OPEN_END, "birth_date": ""})
            hh = f.cols.pop("household_id")
            codes, _ = pd.factorize(pd.Series(hh, dtype=object), use_na_sentinel=True)
            f.cols["household"] = codes.astype(np.int64)  # -1: no household
            return f
        return self._get("person", build)  # type: ignore[no-any-return]

    def enterprises(self) -> Frame:
        """Enterprises: valid_from, valid_to."""
        return self._get("enterprise", lambda: self._frame(  # type: ignore[no-any-return]
            self._rows("enterprises", [*self._KEYS, "valid_from", "valid_to"]),
            ("valid_from", "valid_to"), {"valid_from": "", "valid_to": OPEN_END}))

    def industrial_spaces(self) -> Frame:
        """Industrial space versions: valid_from, valid_to, area_m2, vacant_area_m2."""
        def build() -> Frame:
            names = ("valid_from", "valid_to", "area_m2", "vacant_area_m2")
            f = self._frame(self._rows("industrial_spaces", [*self._KEYS, *names]), names,
                            {"valid_from": "", "valid_to": OPEN_END})
            for n in ("area_m2", "vacant_area_m2"):
                f.cols[n] = pd.to_numeric(pd.Series(f.cols[n]), errors="coerce").fillna(
                    0.0).to_numpy(dtype=np.float64)
            return f
        return self._get("industrial_space", build)  # type: ignore[no-any-return]

    def events(self) -> Frame:
        """Events of the event layer and cases of the dispatch workflow (one row per id):
        occurred_at, closed_at, deadline_at (ISO instants)."""
        return self._get("event", self._build_events)  # type: ignore[no-any-return]

    def _build_events(self) -> Frame:
        rows = self._rows("events", [*self._KEYS, "id", "occurred_at", "closed_at",
                                     "category"])
        ev = pd.DataFrame.from_records(rows, columns=["sd", "cc", "block", "id", "occ", "clo",
                                                      "category"])
        hours = ev["category"].map(
            {c: r.deadline_h for c, r in self.dispatch.categories.items()}).fillna(
            DEFAULT_DEADLINE_H)
        occ = pd.to_datetime(ev["occ"], utc=True, format="ISO8601")
        ev["deadline"] = (occ + pd.to_timedelta(hours.to_numpy(), unit="h")).dt.strftime(
            "%Y-%m-%dT%H:%M:%SZ")
        ev = ev.drop(columns="category")
        if table_exists(self.store, "cases"):
            # Cases received through the dispatch workflow live in their own table
            # (gis/cases); they are events too. Their block comes from lon/lat.
            crow = self.store.sql_read(  # type: ignore[attr-defined]
                "SELECT subdistrict_code, community_code, lon, lat, id, received_at, "
                "closed_at, deadline_at FROM cases")
            cs = pd.DataFrame.from_records(crow, columns=["sd", "cc", "lon", "lat", "id", "occ",
                                                          "clo", "deadline"])
            if len(cs):
                from gis.h3cells import lnglat_to_cells

                ok = cs["lon"].notna() & cs["lat"].notna()
                blk = np.zeros(len(cs), dtype=np.int64)
                if ok.any():
                    blk[ok.to_numpy()] = lnglat_to_cells(
                        cs.loc[ok, "lon"].to_numpy(dtype=np.float64),
                        cs.loc[ok, "lat"].to_numpy(dtype=np.float64), 9)
                cs["block"] = blk
                cs = cs.drop(columns=["lon", "lat"])
                cs = cs[~cs["id"].isin(set(ev["id"]))]
                ev = pd.concat([ev, cs[ev.columns]], ignore_index=True)
        a = self.areas()
        blocks = ev["block"].to_numpy(dtype=object)
        return Frame(a.sd_index(ev["sd"].to_numpy(dtype=object)),
                     a.cc_index(ev["cc"].to_numpy(dtype=object)), _blocks(list(blocks)),
                     {"occurred_at": _text(ev["occ"].tolist()),
                      "closed_at": _text(ev["clo"].tolist(), OPEN_END),
                      "deadline_at": _text(ev["deadline"].tolist())})

    def alerts(self) -> Frame:
        """Sensor alerts (threshold and offline; not indicator alerts), placed at their
        sensor: started_at, ended_at, kind."""
        return self._get("alert", self._build_alerts)  # type: ignore[no-any-return]

    def _build_alerts(self) -> Frame:
        names = ("started_at", "ended_at", "kind")
        if not table_exists(self.store, "alerts"):
            return self._frame([], names, {"started_at": "", "ended_at": OPEN_END})
        rows = self.store.sql_read(  # type: ignore[attr-defined]
            "SELECT s.subdistrict_code, s.community_code, s.block, a.started_at, a.ended_at, "
            "a.kind FROM alerts a LEFT JOIN sensors s ON s.id = a.sensor_id "
            "WHERE a.kind <> 'indicator'")
        return self._frame(rows, names, {"started_at": "", "ended_at": OPEN_END})

    def buildings(self) -> tuple[Frame, gpd.GeoDataFrame]:
        """Buildings (every version) with their geometry: valid_from, valid_to, id."""
        def build() -> tuple[Frame, gpd.GeoDataFrame]:
            g = self.store.query("building", columns=[*self._KEYS, "valid_from", "valid_to"],
                                 order_by=["id"])
            g = g.reset_index(drop=True)
            a = self.areas()
            f = Frame(a.sd_index(g["subdistrict_code"].to_numpy(dtype=object)),
                      a.cc_index(g["community_code"].to_numpy(dtype=object)),
                      _blocks(g["block"].tolist()),
                      {"valid_from": _text(g["valid_from"].tolist()),
                       "valid_to": _text(g["valid_to"].tolist(), OPEN_END),
                       "id": g["id"].to_numpy(dtype=object)})
            return f, g
        return self._get("building", build)  # type: ignore[no-any-return]

    def cache(self, name: str, build: Callable[[], Any]) -> Any:
        """A derived object cached with the frames (dropped with ``name``'s kind)."""
        return self._get(name, build)

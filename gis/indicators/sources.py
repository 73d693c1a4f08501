"""What the indicators read from the store: columnar frames of the entities, cached.

Each frame is read once with one plain ``SELECT`` (the same SQL on the GeoPackage and
PostGIS stores: both hold dates as canonical ISO text, so string comparison is time
comparison) and kept as numpy arrays; on a GeoPackage the two big frames (persons,
events) are read instead through GDAL's Arrow stream in a child process, into the same
matrix (gis/indicators/arrow.py: a cold read's main cost). An indicator for a period is
then a vectorised mask and a ``bincount`` over area indexes, so a 12-month series costs
twelve masks, not twelve scans of the store. Frames are cached per entity kind and
dropped when that kind is written: by the store's in-process write listeners, by the
GeoPackage write log (other processes' ingests, :meth:`GeoPackageStore.data_version`),
by the alert log (alerts are not entities) and by the case transitions (the dispatch
workflow's cases). Persisted copies are keyed per kind written (:meth:`_version_key`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd

from gis.cases.config import DispatchTable, load_table
from gis.h3cells import cell_parent
from gis.indicators import arrow as ar
from gis.store.base import Store

log = logging.getLogger(__name__)

#: Valid-time end of current rows, as a day number ``YYYYMMDD`` and as Unix seconds.
OPEN_DAY = 99991231
OPEN_S = 2**62
#: Deadline of event categories the dispatch table does not know (sensor alarms).
DEFAULT_DEADLINE_H = 24.0
#: Directory of the persisted frames (unset or empty: none; docs/indicators.md).
CACHE_DIR_ENV = "ONEMAP_INDICATORS_CACHE_DIR"

Arr = npt.NDArray[Any]
#: Entity kind written (the store's write log) of each table a frame reads.
TABLE_KINDS = {"persons": "person", "buildings": "building", "events": "event",
               "enterprises": "enterprise", "industrial_spaces": "industrial_space"}


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

    def sd_index_int(self, codes: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Index of each subdistrict code given as an integer (0: none; -1 out)."""
        return _int_index(self.sd_codes, codes)

    def cc_index_int(self, codes: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Index of each community code given as an integer (0: none; -1 out)."""
        return _int_index(self.cc_codes, codes)

    def cc_index(self, codes: Arr) -> npt.NDArray[np.int64]:
        """Index of each community code in :attr:`cc_codes` (-1: none)."""
        return pd.Index(self.cc_codes).get_indexer(pd.Index(codes, dtype=object)).astype(
            np.int64)


def _int_index(codes: list[str], values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    known = pd.Index([int(c) if c.isdigit() else -2 for c in codes])
    return known.get_indexer(pd.Index(values)).astype(np.int64)


def _stamp_to_epoch(v: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Unix seconds of integers YYYYMMDDHHMMSS (UTC), vectorised (calendar months through
    numpy's datetime64[M])."""
    v = np.where(v > 0, v, 19700101000000)
    day, hms = np.divmod(v, 1_000_000)
    y, md = np.divmod(day, 10_000)
    mo, d = np.divmod(md, 100)
    months = ((y - 1970) * 12 + (mo - 1)).astype("datetime64[M]")
    days = months.astype("datetime64[D]").astype(np.int64) + (d - 1)
    h, ms = np.divmod(hms, 10_000)
    mi, sec = np.divmod(ms, 100)
    return (days * 86400 + h * 3600 + mi * 60 + sec).astype(np.int64)


@dataclass
class Frame:
    """Rows of one entity kind: area keys plus named columns."""

    sd: npt.NDArray[np.int64]  # subdistrict index (-1: none)
    cc: npt.NDArray[np.int64]  # community index (-1: none)
    block: npt.NDArray[np.int64]  # res-9 cell (0: none)
    cols: dict[str, Arr]
    _parents: dict[int, tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]] = field(
        default_factory=dict)
    _masks: dict[Any, npt.NDArray[np.bool_]] = field(default_factory=dict)

    def mask(self, key: Any, build: Callable[[], npt.NDArray[np.bool_]]
             ) -> npt.NDArray[np.bool_]:
        """A row mask cached on the frame (several indicators share the persons valid on
        a day); at most 64 kept."""
        hit = self._masks.get(key)
        if hit is None:
            hit = build()
            if len(self._masks) >= 64:
                try:
                    self._masks.pop(next(iter(self._masks)), None)
                except (RuntimeError, StopIteration):  # another request thread's insert
                    self._masks.clear()
            self._masks[key] = hit
        return hit

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


def day_sql(col: str, null: int) -> str:
    """SQL of a date column as the integer ``YYYYMMDD`` (``null`` when missing), the same
    on SQLite and PostgreSQL (both hold the canonical ISO text). Integers compare like the
    dates and cost an eighth of numpy unicode strings."""
    return f"COALESCE(CAST(REPLACE({col}, '-', '') AS INTEGER), {null})"


def epoch_s(values: Sequence[Any], null: int) -> npt.NDArray[np.int64]:
    """Unix seconds of ISO instants (``null`` for missing values)."""
    t = pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601")
    out = np.full(len(t), null, dtype=np.int64)
    ok = t.notna().to_numpy()
    out[ok] = t[ok].to_numpy(dtype="datetime64[s]").astype(np.int64)
    return out


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
        "person": ("person", "person_building_index", "person_household", "residents"),
        "enterprise": ("enterprise",),
        "industrial_space": ("industrial_space",), "event": ("event",),
        "sensor": ("alert",),
        "building": ("building", "coverage", "person_building_index", "residents",
                     "building_xy"),
        "facility": ("coverage",), "road": ("coverage",),
        "district": ("*",), "subdistrict": ("*",), "community": ("*",),
    }

    def __init__(self, store: Store, dispatch: DispatchTable | None = None,
                 cache_dir: Path | str | None = None) -> None:
        self.store = store
        if cache_dir is None:
            cache_dir = os.environ.get(CACHE_DIR_ENV) or None
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.dispatch = dispatch or load_table()
        self._lock = threading.RLock()
        self._frames: dict[str, Any] = {}
        self._epochs: dict[str, int] = {}
        self._build_locks: dict[str, threading.Lock] = {}
        self.generation = 0  # bumped on every change seen (the result cache's key)
        self._data_version = self._store_data_version()
        self._alert_mark: tuple[int, int] | None = None
        self._case_mark: int | None = None
        self._persisting: list[threading.Thread] = []  # frames being written (_persist)
        self.listeners: list[Callable[[str], None]] = []
        store_listeners = getattr(store, "write_listeners", None)
        if isinstance(store_listeners, list):
            store_listeners.append(self.on_write)

    def detach(self) -> None:
        """Stop listening to the store's writes (after the frames being persisted are
        written)."""
        self.flush()
        store_listeners = getattr(self.store, "write_listeners", None)
        if isinstance(store_listeners, list) and self.on_write in store_listeners:
            store_listeners.remove(self.on_write)

    # -- invalidation ---------------------------------------------------------

    def on_write(self, kind: str, _area: Any = None) -> None:
        """A write listener (the store calls it after each committed ingest)."""
        with self._lock:
            names = self.KIND_FRAMES.get(kind, ())
            if "*" in names:
                self._drop_all()
            for n in names:
                self._drop(n)
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
                    self._drop_all()
                    self.generation += 1
            else:
                for kind, _ in writes:
                    self.on_write(kind)
        mark = self._alerts_mark()
        if mark != self._alert_mark:
            with self._lock:
                if self._alert_mark is not None:
                    # perception closes an alarm's event with an UPDATE that only this
                    # process's listeners hear (PerceptionDB.move_event), never the
                    # write log; the alert log moves with it, for every process
                    self._drop("event")
                self._alert_mark = mark
                self._drop("alert")
                self.generation += 1
        cmark = self._cases_mark()
        if cmark != self._case_mark:
            with self._lock:
                self._case_mark = cmark
                self._drop("event")
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
        # One lock per frame: different frames are read in parallel (prefetch), the same
        # frame once. A frame dropped by a write while it was being read is returned to
        # this caller but not kept (its epoch moved on).
        with self._lock:
            hit = self._frames.get(name)
            if hit is not None:
                return hit
            lock = self._build_locks.setdefault(name, threading.Lock())
        with lock:
            with self._lock:
                hit = self._frames.get(name)
                epoch = self._epochs.get(name, 0)
            if hit is not None:
                return hit
            value = build()
            with self._lock:
                if self._epochs.get(name, 0) == epoch:
                    self._frames[name] = value
            return value

    def _drop(self, name: str) -> None:
        """Forget one frame (the caller holds ``_lock``)."""
        self._frames.pop(name, None)
        self._epochs[name] = self._epochs.get(name, 0) + 1

    def _drop_all(self) -> None:
        for name in list(self._frames) + list(self._build_locks):
            self._drop(name)

    def prefetch(self, names: Sequence[str] = ("person", "event", "enterprise",
                                               "industrial_space", "alert", "building"),
                 extra: Sequence[Callable[[], Any]] = ()) -> None:
        """Read the frames ``names`` in parallel threads (each store connection is per
        thread; SQLite steps, GDAL's Arrow reader, numpy and shapely work outside the
        GIL), instead of one after another inside the first request. ``extra``: more
        work for the same pool (the coverage indicators' network joins)."""
        from concurrent.futures import ThreadPoolExecutor

        getters = {"person": self.persons, "event": self.events, "enterprise": self.enterprises,
                   "industrial_space": self.industrial_spaces, "alert": self.alerts,
                   "building": self.buildings}
        todo = [getters[n] for n in names if n not in self._frames] + list(extra)
        if len(todo) < 2:
            for fn in todo:
                fn()
            return
        with ThreadPoolExecutor(max_workers=min(4, len(todo)),
                                thread_name_prefix="indicator-read") as pool:
            for fut in [pool.submit(fn) for fn in todo]:
                fut.result()

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

    def _frame(self, rows: list[tuple[Any, ...]], names: Sequence[str],
               instants: dict[str, int]) -> Frame:
        """A frame from rows whose first three columns are subdistrict, community, block;
        ``instants`` are ISO instants turned into Unix seconds (with their null value),
        other columns stay objects."""
        a = self.areas()
        cols = list(zip(*rows, strict=True)) if rows else [() for _ in range(3 + len(names))]
        out: dict[str, Arr] = {}
        for i, n in enumerate(names):
            values = cols[3 + i]
            out[n] = (epoch_s(values, instants[n]) if n in instants else
                      np.array(values, dtype=object))
        return Frame(a.sd_index(np.array(cols[0], dtype=object)),
                     a.cc_index(np.array(cols[1], dtype=object)), _blocks(cols[2]), out)

    def _ints(self, table: str, exprs: Sequence[str], order: bool = False,
              tables: Sequence[str] = (),
              native: Callable[[], npt.NDArray[np.int64] | None] | None = None
              ) -> npt.NDArray[np.int64]:
        """An (n, len(exprs)) int64 matrix of a table: every column is an integer (codes
        cast, dates as day numbers, NULLs replaced in SQL), so numpy builds the matrix
        from the rows in one C pass; reading persons this way is several times faster
        than turning a million rows of text into arrays. ``native``: the same matrix read
        through GDAL's Arrow stream (gis/indicators/arrow.py), tried first; None from it
        falls back to the SQL rows."""
        alias = table.split()[-1] + "." if " " in table else ""
        sql = f"SELECT {', '.join(exprs)} FROM {table}" + (
            f" ORDER BY {alias}fid" if order else "")

        def read() -> npt.NDArray[np.int64]:
            fast = native() if native is not None else None
            if fast is not None:
                return fast
            rows = self.store.sql_read(sql)  # type: ignore[attr-defined]
            if not rows:
                return np.zeros((0, len(exprs)), dtype=np.int64)
            return np.array(rows, dtype=np.int64)
        return self._persisted(sql, tables or (table.split()[0],), read)

    # -- persisted frames -------------------------------------------------------------

    def _version_key(self, tables: Sequence[str]) -> str | None:
        """What the persisted arrays of ``tables`` are valid for: the store's build stamp
        (a rebuilt store restarts the log), the last write of the tables' *own kinds* in
        the write log (every committed ingest of any process logs its kind), and each
        table's row count and last fid (a guard against writes outside the log). Per
        kind, so a write to events keeps the persons file of another engine valid. A kind
        with no write left in the log (pruned, or never written) is keyed by the log's
        first version instead: it cannot have been written since unless that moved.
        None where the store has no data version (PostGIS) or has never logged a write."""
        dv = self._store_data_version()
        path = getattr(self.store, "path", None)
        if not dv or path is None:
            return None
        from gis.store.gpkg import WRITE_LOG

        kinds = sorted({TABLE_KINDS.get(t, t) for t in tables})
        marks = ", ".join("?" for _ in kinds)
        row = self.store.sql_read(  # type: ignore[attr-defined]
            f"SELECT (SELECT MAX(version) FROM {WRITE_LOG} WHERE kind IN ({marks})), "
            f"(SELECT MIN(version) FROM {WRITE_LOG})", kinds)[0]
        written = f"w{int(row[0])}" if row[0] is not None else f"before{int(row[1] or 0)}"
        parts = [str(Path(path).resolve()), str(self.store.get_meta().get("build_time", "")),
                 f"{'+'.join(kinds)}:{written}"]
        for t in tables:
            row = self.store.sql_read(  # type: ignore[attr-defined]
                f"SELECT COUNT(*), COALESCE(MAX(fid), 0) FROM {t}")[0]
            parts.append(f"{t}:{int(row[0])}:{int(row[1])}")
        if "events" in tables:  # alarms' events are closed in place (see refresh)
            parts.append("alert_log:{}:{}".format(*self._alerts_mark()))
        return "|".join(parts)

    def _persisted(self, sql: str, tables: Sequence[str],
                   read: Callable[[], npt.NDArray[np.int64]]) -> npt.NDArray[np.int64]:
        """The array ``read`` returns for ``sql``, kept in :attr:`cache_dir` as ``.npy``
        under a key of the SQL and the store's data version (:meth:`_version_key`), so a
        new engine on an unchanged store (a restart, another worker process) loads it in
        milliseconds instead of turning a million rows into Python tuples again. Written
        only when the version did not move during the read; older files of the same SQL
        and store are removed. A file that cannot be read or written is ignored: the
        cache is an optimisation, the store stays the truth.

        The check and the write run in a background thread, after the array is handed
        back: on the full-scale demo they were a third of a first read (counting 1.35 M
        rows again, 100 MB to disk) that the answer waits for for nothing. :meth:`flush`
        waits for them (``detach`` does)."""
        if self.cache_dir is None:
            return read()
        key = self._version_key(tables)
        if key is None:
            return read()
        store_id = hashlib.sha1(key.split("|", 1)[0].encode()).hexdigest()[:12]
        stem = f"{store_id}-{hashlib.sha1(sql.encode()).hexdigest()[:12]}"
        path = self.cache_dir / f"{stem}-{hashlib.sha1(key.encode()).hexdigest()[:16]}.npy"
        try:
            arr = np.load(path, allow_pickle=False)
            if arr.dtype == np.int64:
                return arr  # type: ignore[no-any-return]
        except (OSError, ValueError):
            pass
        arr = read()
        writer = threading.Thread(target=self._persist, args=(arr, path, stem, key, tables),
                                  name="indicator-persist", daemon=True)
        with self._lock:
            self._persisting = [t for t in self._persisting if t.is_alive()]
            self._persisting.append(writer)
        writer.start()
        return arr

    def _persist(self, arr: npt.NDArray[np.int64], path: Path, stem: str, key: str,
                 tables: Sequence[str]) -> None:
        """Write ``arr`` as ``path`` if the tables' version is still ``key``."""
        assert self.cache_dir is not None
        try:
            if self._version_key(tables) != key:  # written meanwhile: not kept
                return
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            with open(tmp, "wb") as fh:
                np.save(fh, arr, allow_pickle=False)
            os.replace(tmp, path)  # atomic: a reader sees the whole file or none
            for old in self.cache_dir.glob(f"{stem}-*.npy"):
                if old != path:
                    old.unlink(missing_ok=True)
        except Exception:  # an optimisation: a failed write leaves the store the truth
            log.debug("indicator frame not persisted", exc_info=True)

    def flush(self, timeout: float = 60.0) -> None:
        """Wait for the frames being persisted in the background."""
        with self._lock:
            pending, self._persisting = self._persisting, []
        for t in pending:
            t.join(timeout)

    #: area keys as integers (NBS codes are digits; 0: none)
    _INT_KEYS = ("COALESCE(CAST(subdistrict_code AS BIGINT), 0)",
                 "COALESCE(CAST(community_code AS BIGINT), 0)", "COALESCE(block, 0)")
    _VALID = (day_sql("valid_from", 0), day_sql("valid_to", OPEN_DAY))

    def _int_frame(self, m: npt.NDArray[np.int64], names: Sequence[str]) -> Frame:
        """A frame from an integer matrix: subdistrict, community, block, then ``names``."""
        a = self.areas()
        return Frame(a.sd_index_int(m[:, 0]), a.cc_index_int(m[:, 1]),
                     np.ascontiguousarray(m[:, 2]),
                     {n: np.ascontiguousarray(m[:, 3 + i]) for i, n in enumerate(names)})

    def persons(self) -> Frame:
        """Persons (every version, in fid order): valid_from, valid_to, birth_date (days),
        building_fid (the fid of the person's building, looked up by the indexed id inside
        the store in the same scan; -1: none)."""
        return self._get("person", lambda: self._int_frame(  # type: ignore[no-any-return]
            self._ints("persons p", [
                *self._INT_KEYS, *self._VALID, day_sql("birth_date", 0),
                "COALESCE((SELECT MAX(b.fid) FROM buildings b WHERE b.id = p.building_id), -1)"],
                order=True, tables=("persons", "buildings"),
                native=lambda: ar.read_native(self.store, "persons")),
            ("valid_from", "valid_to", "birth_date", "building_fid")))

    def households(self) -> npt.NDArray[np.int64]:
        """The household of each row of :meth:`persons` as a number (-1: none)."""
        hh = self._households()
        if len(hh) != len(self.persons()):  # a write between the two reads: read both again
            self.on_write("person")
            hh = self._households()
        return hh

    def _households(self) -> npt.NDArray[np.int64]:
        def build() -> npt.NDArray[np.int64]:
            sql = "SELECT household_id FROM persons ORDER BY fid"

            def read() -> npt.NDArray[np.int64]:
                rows = self.store.sql_read(sql)  # type: ignore[attr-defined]
                codes, _ = pd.factorize(pd.Series([r[0] for r in rows], dtype=object),
                                        use_na_sentinel=True)
                return codes.astype(np.int64)
            return self._persisted(sql, ("persons",), read)
        return self._get("person_household", build)  # type: ignore[no-any-return]

    def person_buildings(self) -> npt.NDArray[np.int64]:
        """The row in :meth:`buildings` of each person's building (-1: none)."""
        def build() -> npt.NDArray[np.int64]:
            # the building's fid, looked up by the indexed id inside the store
            fids = self.persons().cols["building_fid"]
            _, g = self.buildings()
            order = pd.Index(g["fid"].to_numpy(dtype=np.int64))
            return order.get_indexer(pd.Index(fids)).astype(np.int64)
        return self._get("person_building_index", build)  # type: ignore[no-any-return]

    def enterprises(self) -> Frame:
        """Enterprises: valid_from, valid_to (days)."""
        return self._get("enterprise", lambda: self._int_frame(  # type: ignore[no-any-return]
            self._ints("enterprises", [*self._INT_KEYS, *self._VALID]),
            ("valid_from", "valid_to")))

    def industrial_spaces(self) -> Frame:
        """Industrial space versions: valid_from, valid_to, area_m2, vacant_area_m2."""
        def build() -> Frame:
            f = self._int_frame(self._ints("industrial_spaces", [*self._INT_KEYS, *self._VALID],
                                           order=True), ("valid_from", "valid_to"))
            rows = self.store.sql_read(  # type: ignore[attr-defined]
                "SELECT area_m2, vacant_area_m2 FROM industrial_spaces ORDER BY fid")
            area = np.array([(r[0], r[1]) for r in rows], dtype=np.float64).reshape(-1, 2)
            area = np.nan_to_num(area, nan=0.0)
            f.cols["area_m2"], f.cols["vacant_area_m2"] = area[:, 0].copy(), area[:, 1].copy()
            return f
        return self._get("industrial_space", build)  # type: ignore[no-any-return]

    def events(self) -> Frame:
        """Events of the event layer and cases of the dispatch workflow (one row per id):
        occurred_at, closed_at, deadline_at (Unix seconds)."""
        return self._get("event", self._build_events)  # type: ignore[no-any-return]

    def _build_events(self) -> Frame:
        # Instants as the integer YYYYMMDDHHMMSS (portable SQL on the canonical text), the
        # deadline's hours from the dispatch table as a CASE: all integers, one matrix.
        def stamp(col: str, null: int) -> str:
            return (f"COALESCE(CAST(REPLACE(REPLACE(REPLACE(REPLACE({col}, '-', ''), 'T', ''),"
                    f" ':', ''), 'Z', '') AS BIGINT), {null})")

        secs = {c: round(r.deadline_h * 3600) for c, r in self.dispatch.categories.items()
                if "'" not in c}
        whens = " ".join(f"WHEN '{c}' THEN {v}" for c, v in secs.items())
        default = round(DEFAULT_DEADLINE_H * 3600)

        m = self._ints("events", [*self._INT_KEYS, stamp("occurred_at", 0),
                                  stamp("closed_at", -1),
                                  f"CASE category {whens} ELSE {default} END"],
                       native=lambda: ar.read_native(self.store, "events",
                                                     {"secs": secs, "default": default}))
        occ, clo = _stamp_to_epoch(m[:, 3]), _stamp_to_epoch(m[:, 4])
        clo[m[:, 4] < 0] = OPEN_S
        f = self._int_frame(m[:, :3], ())
        f.cols.update({"occurred_at": occ, "closed_at": clo, "deadline_at": occ + m[:, 5]})
        if table_exists(self.store, "cases"):
            self._add_cases(f)
        return f

    def _add_cases(self, f: Frame) -> None:
        """Append the cases of the dispatch workflow (gis/cases) not in the event layer;
        their block comes from lon/lat."""
        crow = self.store.sql_read(  # type: ignore[attr-defined]
            "SELECT subdistrict_code, community_code, lon, lat, received_at, closed_at, "
            "deadline_at FROM cases c WHERE NOT EXISTS (SELECT 1 FROM events e "
            "WHERE e.id = c.id)")
        if not crow:
            return
        from gis.h3cells import lnglat_to_cells

        cs = pd.DataFrame.from_records(crow, columns=["sd", "cc", "lon", "lat", "occ", "clo",
                                                      "deadline"])
        lon = pd.to_numeric(cs["lon"], errors="coerce").to_numpy(dtype=np.float64)
        lat = pd.to_numeric(cs["lat"], errors="coerce").to_numpy(dtype=np.float64)
        a = self.areas()
        f.sd = np.concatenate([f.sd, a.sd_index(cs["sd"].to_numpy(dtype=object))])
        f.cc = np.concatenate([f.cc, a.cc_index(cs["cc"].to_numpy(dtype=object))])
        f.block = np.concatenate([f.block, lnglat_to_cells(lon, lat, 9)])
        for n, col, null in (("occurred_at", "occ", 0), ("closed_at", "clo", OPEN_S),
                             ("deadline_at", "deadline", OPEN_S)):
            f.cols[n] = np.concatenate([f.cols[n], epoch_s(cs[col].tolist(), null)])

    def alerts(self) -> Frame:
        """Sensor alerts (threshold and offline; not indicator alerts), placed at their
        sensor: started_at, ended_at, kind."""
        return self._get("alert", self._build_alerts)  # type: ignore[no-any-return]

    def _build_alerts(self) -> Frame:
        names = ("started_at", "ended_at", "kind")
        if not table_exists(self.store, "alerts"):
            return self._frame([], names, {"started_at": 0, "ended_at": OPEN_S})
        rows = self.store.sql_read(  # type: ignore[attr-defined]
            "SELECT s.subdistrict_code, s.community_code, s.block, a.started_at, a.ended_at, "
            "a.kind FROM alerts a LEFT JOIN sensors s ON s.id = a.sensor_id "
            "WHERE a.kind <> 'indicator'")
        return self._frame(rows, names, {"started_at": 0, "ended_at": OPEN_S})

    _KEYS = ("subdistrict_code", "community_code", "block")

    def buildings(self) -> tuple[Frame, gpd.GeoDataFrame]:
        """Buildings (every version) with their geometry: valid_from, valid_to, id."""
        def build() -> tuple[Frame, gpd.GeoDataFrame]:
            g = self.store.query("building", columns=[*self._KEYS, "valid_from", "valid_to"],
                                 )  # in fid order (person_buildings maps fids)
            vf = pd.to_numeric(g["valid_from"].astype(str).str.replace("-", ""))
            vt = pd.to_numeric(g["valid_to"].astype(object).where(g["valid_to"].notna(), None)
                               .astype(str).str.replace("-", ""), errors="coerce")
            g = g.reset_index(drop=True)
            a = self.areas()
            f = Frame(a.sd_index(g["subdistrict_code"].to_numpy(dtype=object)),
                      a.cc_index(g["community_code"].to_numpy(dtype=object)),
                      _blocks(g["block"].tolist()),
                      {"valid_from": vf.to_numpy(dtype=np.int64),
                       "valid_to": vt.fillna(OPEN_DAY).to_numpy(dtype=np.int64),
                       "id": g["id"].to_numpy(dtype=object)})
            return f, g
        return self._get("building", build)  # type: ignore[no-any-return]

    def cache(self, name: str, build: Callable[[], Any]) -> Any:
        """A derived object cached with the frames (dropped with ``name``'s kind)."""
        return self._get(name, build)

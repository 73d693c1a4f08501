"""The embedded store: one GeoPackage file (SQLite in WAL mode, R-tree indexes).

The file follows OGC GeoPackage 1.3 so that QGIS and GDAL open it as it is:
``gpkg_contents``, ``gpkg_geometry_columns``, ``gpkg_spatial_ref_sys``,
geometry blobs with the GeoPackage header (spec clause 2.1.3) and the
``gpkg_rtree_index`` extension (spec annex F.3) with its triggers.

SpatiaLite cannot be loaded in this Python, so the SQL functions the R-tree
triggers call (``ST_IsEmpty``, ``ST_MinX``...) are registered on every
connection this module opens; bulk ingest maintains the R-tree itself from
vectorised bounds and restores the triggers before it commits.
"""

from __future__ import annotations

import json
import os
import sqlite3
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from gis.errors import IngestError, InvalidQuery, StoreUnavailable
from gis.filters import (
    Filter,
    compile_sqlite,
    register_sqlite_functions,
    sqlite_box_clause,
    sqlite_box_count,
)
from gis.h3cells import (
    AGGREGATE_RES,
    BLOCK_RES,
    CELL_RES,
    cell_parent,
    cell_resolution,
    child_range,
    parent_sql,
)
from gis.ingest import Prepared, prepare
from gis.model import KIND_ORDER, SCHEMAS, ColType, KindSchema, schema
from gis.store.base import AsOf, BBox, IngestReport, Progress, StoreStats
from gis.store.box_index import Answer, BoxTimeIndex
from gis.store.common import (
    SharedQueries,
    check_bbox,
    check_geometry,
    to_epoch,
    written_area,
)
from gis.store.timing import timed_operations
from gis.timeaxis import TimeFilter, parse_as_of

SRS_ID = 4326
_APPLICATION_ID = 0x47504B47  # "GPKG"
_USER_VERSION = 10300  # GeoPackage 1.3.0
_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}
_CHUNK = 100_000

_WGS84_WKT = (
    'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,'
    'AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,'
    'AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],'
    'AUTHORITY["EPSG","4326"]]'
)

# ---------------------------------------------------------------------------
# GeoPackage geometry blobs (clause 2.1.3): "GP", version, flags, srs_id,
# optional envelope, then ISO WKB. Points carry no envelope (as GDAL writes
# them); other geometries carry the [minx, maxx, miny, maxy] envelope.


def encode_geometries(
    geoms: npt.NDArray[np.object_], bounds: npt.NDArray[np.float64]
) -> list[bytes | None]:
    """GeoPackage blobs of shapely geometries (None stays None), vectorised."""
    n = len(geoms)
    if n == 0:
        return []
    present = ~shapely.is_missing(geoms)
    wkb = shapely.to_wkb(geoms, byte_order=1, flavor="iso")
    is_point = shapely.get_type_id(geoms) == 0
    head_pt = np.zeros(n, dtype=np.dtype([("gp", "S2"), ("v", "u1"), ("f", "u1"),
                                         ("srs", "<i4")]))
    head_pt["gp"] = b"GP"
    head_pt["f"] = 0x01  # little endian, no envelope
    head_pt["srs"] = SRS_ID
    env = np.zeros(n, dtype=np.dtype([("gp", "S2"), ("v", "u1"), ("f", "u1"), ("srs", "<i4"),
                                      ("minx", "<f8"), ("maxx", "<f8"), ("miny", "<f8"),
                                      ("maxy", "<f8")]))
    env["gp"] = b"GP"
    env["f"] = 0x03  # little endian, envelope [minx, maxx, miny, maxy]
    env["srs"] = SRS_ID
    env["minx"], env["maxx"] = bounds[:, 0], bounds[:, 2]
    env["miny"], env["maxy"] = bounds[:, 1], bounds[:, 3]
    # Void views keep trailing zero bytes (an "S" view would strip them).
    pt_bytes = head_pt.view(np.dtype((np.void, 8))).ravel().tolist()
    env_bytes = env.view(np.dtype((np.void, 40))).ravel().tolist()
    heads = np.where(is_point, np.asarray(pt_bytes, dtype=object),
                     np.asarray(env_bytes, dtype=object))
    blobs = np.asarray(list(map(bytes.__add__, heads[present].tolist(),
                                wkb[present].tolist())), dtype=object)
    out = np.full(n, None, dtype=object)
    out[present] = blobs
    return out.tolist()


def decode_geometries(blobs: Sequence[bytes | None]) -> npt.NDArray[np.object_]:
    """Shapely geometries of GeoPackage blobs (None for NULL or empty)."""
    wkb = [
        None if b is None or (b[3] & 0x10) else b[8 + _ENVELOPE_BYTES[(b[3] >> 1) & 7]:]
        for b in blobs
    ]
    return np.asarray(shapely.from_wkb(wkb), dtype=object)


def _envelope(blob: bytes | None) -> tuple[float, float, float, float] | None:
    if blob is None or len(blob) < 8 or blob[:2] != b"GP" or blob[3] & 0x10:
        return None
    flags = blob[3]
    fmt = "<" if flags & 1 else ">"
    if (flags >> 1) & 7:
        minx, maxx, miny, maxy = struct.unpack_from(fmt + "4d", blob, 8)
        return minx, maxx, miny, maxy
    g = decode_geometries([blob])[0]
    if g is None:
        return None
    b = g.bounds
    return b[0], b[2], b[1], b[3]


def _st(index: int) -> Any:
    def fn(blob: bytes | None) -> float | None:
        env = _envelope(blob)
        return None if env is None else env[index]

    return fn


def _st_is_empty(blob: bytes | None) -> int | None:
    if blob is None:
        return None
    return 1 if _envelope(blob) is None else 0


# ---------------------------------------------------------------------------


@timed_operations
class GeoPackageStore(SharedQueries):
    """The GeoPackage backend of :class:`gis.store.base.Store`.

    One SQLite connection per thread (readers never block each other in WAL
    mode); writes are serialised by a lock and run in one transaction each.
    """

    _param = "?"

    backend = "geopackage"

    def __init__(self, path: str | Path, *, create: bool = False, bulk: bool = False) -> None:
        self.path = Path(path)
        if not create and not self.path.exists():
            raise StoreUnavailable(f"no store at {self.path.name}; run 'onemap demo build'")
        self._bulk = bulk
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._communities: gpd.GeoDataFrame | None = None
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        #: Called after each committed ingest with (kind, (w, s, e, n) or None = everywhere).
        self.write_listeners: list[Callable[[str, tuple[float, float, float, float] | None],
                                            None]] = []
        #: bbox / valid-time answers in numpy (numberMatched "as of today", issue ogccount)
        self._box_index = BoxTimeIndex()
        if create:
            self._create_schema()

    # -- connections --------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=30.0)
            if self._bulk:
                conn.execute("PRAGMA journal_mode=OFF")
                conn.execute("PRAGMA synchronous=OFF")
            else:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA cache_size=-262144")
            conn.execute("PRAGMA temp_store=MEMORY")
            conn.execute("PRAGMA mmap_size=1073741824")
            for i, name in enumerate(("ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY")):
                conn.create_function(name, 1, _st(i), deterministic=True)
            conn.create_function("ST_IsEmpty", 1, _st_is_empty, deterministic=True)
            register_sqlite_functions(conn, decode_geometries)
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        """Close every connection this store opened."""
        with self._all_lock:
            for c in self._all:
                c.close()
            self._all.clear()
        self._local = threading.local()

    def finish_bulk(self) -> None:
        """Switch a bulk-built file to WAL mode and compact statistics."""
        conn = self._conn()
        conn.execute("ANALYZE")
        conn.execute("PRAGMA journal_mode=WAL")
        self.close()
        self._bulk = False

    # -- schema -------------------------------------------------------------

    def _create_schema(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._conn()
        conn.execute(f"PRAGMA application_id={_APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version={_USER_VERSION}")
        conn.execute("BEGIN")
        for stmt in _GPKG_CORE_DDL:
            conn.execute(stmt)
        conn.executemany(
            "INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES (?,?,?,?,?,?)",
            [
                ("Undefined cartesian SRS", -1, "NONE", -1, "undefined", "undefined"),
                ("Undefined geographic SRS", 0, "NONE", 0, "undefined", "undefined"),
                ("WGS 84 geodetic", SRS_ID, "EPSG", 4326, _WGS84_WKT,
                 "longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid"),
            ],
        )
        for kind in KIND_ORDER:
            self._create_table(conn, SCHEMAS[kind])
        conn.execute("CREATE TABLE IF NOT EXISTS onemap_meta (key TEXT PRIMARY KEY, value TEXT)")
        conn.execute("COMMIT")
        # The header fields live on page 1; in WAL mode they would stay in the WAL
        # file, where readers that check the raw header (GDAL) do not look.
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _create_table(self, conn: sqlite3.Connection, sch: KindSchema) -> None:
        cols = ["fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL"]
        if sch.geometry is not None:
            cols.append(f"geom {sch.geometry.value}")
        for c in sch.columns:
            cols.append(f"{c.name} {c.type.value}" + (" NOT NULL" if c.required else ""))
        conn.execute(f"CREATE TABLE {sch.table} ({', '.join(cols)})")
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        data_type = "features" if sch.geometry is not None else "attributes"
        conn.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, "
            "last_change, srs_id) VALUES (?,?,?,?,?,?)",
            (sch.table, data_type, sch.table, sch.title, now,
             SRS_ID if sch.geometry is not None else None),
        )
        if sch.geometry is not None:
            conn.execute(
                "INSERT INTO gpkg_geometry_columns VALUES (?, 'geom', ?, ?, 0, 0)",
                (sch.table, sch.geometry.value, SRS_ID),
            )
            conn.execute(
                f"CREATE VIRTUAL TABLE rtree_{sch.table}_geom "
                "USING rtree(id, minx, maxx, miny, maxy)")
            conn.execute(
                "INSERT INTO gpkg_extensions VALUES (?, 'geom', 'gpkg_rtree_index', "
                "'http://www.geopackage.org/spec120/#extension_rtree', 'write-only')",
                (sch.table,),
            )
            for trig in _rtree_triggers(sch.table):
                conn.execute(trig)
        for idx in _index_ddl(sch):
            conn.execute(idx)

    # -- ingest -------------------------------------------------------------

    def ingest(
        self,
        kind: str,
        frame: pd.DataFrame,
        *,
        replace: bool = False,
        progress: Progress | None = None,
    ) -> IngestReport:
        """Validate and write ``frame`` in one transaction (see :class:`Store`)."""
        t0 = time.perf_counter()
        comm = None if kind in ("district", "subdistrict", "community") else self.communities()
        prep = prepare(kind, frame, comm if comm is not None and len(comm) else None)
        with self._write_lock:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                self._write(conn, prep, replace, progress)
                # In the same transaction: other processes (server workers) see the
                # data and its write-log entry together or not at all.
                _log_write(conn, kind, written_area(prep, replace))
                conn.execute("COMMIT")
            except sqlite3.IntegrityError as exc:
                conn.execute("ROLLBACK")
                raise self._integrity_error(prep, exc) from None
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        if kind == "community":
            self._communities = None
        self._notify_write(kind, prep, replace)
        return IngestReport(kind, prep.n, time.perf_counter() - t0, replace)

    def _integrity_error(self, prep: Prepared, exc: sqlite3.IntegrityError) -> IngestError:
        sch = prep.schema
        if "UNIQUE" in str(exc) and "id" in prep.columns:
            ids = prep.columns["id"]
            conn = self._conn()
            existing: set[str] = set()
            for i in range(0, len(ids), 900):
                chunk = ids[i:i + 900]
                q = f"SELECT id FROM {sch.table} WHERE id IN ({','.join('?' * len(chunk))})"
                existing.update(r[0] for r in conn.execute(q, chunk))
            for i, v in enumerate(ids):
                if v in existing:
                    return IngestError(f"id {v!r} already exists in the store", row=i, column="id")
        return IngestError(f"rejected by the store: {exc}")

    def _write(self, conn: sqlite3.Connection, prep: Prepared, replace: bool,
               progress: Progress | None) -> None:
        sch = prep.schema
        table = sch.table
        has_geom = sch.geometry is not None
        if replace:
            if has_geom:
                conn.execute(f"DELETE FROM rtree_{table}_geom")
                for name in _TRIGGER_NAMES:
                    conn.execute(f"DROP TRIGGER IF EXISTS rtree_{table}_geom_{name}")
            conn.execute(f"DELETE FROM {table}")
        empty = conn.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {table})").fetchone()[0]
        if empty:
            # Building indexes after a bulk load is several times faster than
            # maintaining them row by row.
            for name in _index_names(sch):
                conn.execute(f"DROP INDEX IF EXISTS {name}")
        if has_geom:
            conn.execute(f"DROP TRIGGER IF EXISTS rtree_{table}_geom_insert")
        start = conn.execute(f"SELECT COALESCE(MAX(fid), 0) FROM {table}").fetchone()[0] + 1
        fids = np.arange(start, start + prep.n, dtype=np.int64)
        names = ["fid", *(["geom"] if has_geom else []), *sch.column_names]
        sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
        cols = [prep.columns[c] for c in sch.column_names]
        for lo in range(0, max(prep.n, 1), _CHUNK):
            hi = min(prep.n, lo + _CHUNK)
            if hi <= lo:
                break
            parts: list[Iterable[Any]] = [fids[lo:hi].tolist()]
            if has_geom and prep.geometry is not None and prep.bounds is not None:
                parts.append(encode_geometries(prep.geometry[lo:hi], prep.bounds[lo:hi]))
            parts.extend(c[lo:hi] for c in cols)
            conn.executemany(sql, zip(*parts, strict=True))
            if has_geom and prep.bounds is not None:
                b = prep.bounds[lo:hi]
                ok = np.isfinite(b).all(axis=1)
                conn.executemany(
                    f"INSERT INTO rtree_{table}_geom VALUES (?,?,?,?,?)",
                    zip(fids[lo:hi][ok].tolist(), b[ok, 0].tolist(), b[ok, 2].tolist(),
                        b[ok, 1].tolist(), b[ok, 3].tolist(), strict=True),
                )
            if progress is not None:
                progress(hi, prep.n)
        if has_geom:
            for trig in _rtree_triggers(table):
                conn.execute(trig)
        for idx in _index_ddl(sch):
            conn.execute(idx)
        self._update_contents(conn, sch)

    def _update_contents(self, conn: sqlite3.Connection, sch: KindSchema) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        if sch.geometry is not None:
            ext = conn.execute(
                f"SELECT MIN(minx), MIN(miny), MAX(maxx), MAX(maxy) FROM rtree_{sch.table}_geom"
            ).fetchone()
            conn.execute(
                "UPDATE gpkg_contents SET min_x=?, min_y=?, max_x=?, max_y=?, last_change=? "
                "WHERE table_name=?", (*ext, now, sch.table))
        else:
            conn.execute("UPDATE gpkg_contents SET last_change=? WHERE table_name=?",
                         (now, sch.table))
        rows = conn.execute(f"SELECT COUNT(*) FROM {sch.table}").fetchone()[0]
        entities = rows
        if sch.versioned:
            entities = conn.execute(
                f"SELECT COUNT(DISTINCT id) FROM {sch.table}").fetchone()[0]
        conn.executemany(
            "INSERT OR REPLACE INTO onemap_meta VALUES (?, ?)",
            [(f"rows:{sch.kind}", str(rows)), (f"count:{sch.kind}", str(entities)),
             ("last_write", now)],
        )

    # -- filters ------------------------------------------------------------

    def _where(
        self,
        sch: KindSchema,
        *,
        as_of: AsOf = None,
        bbox: BBox | None = None,
        within: BaseGeometry | None = None,
        cell: int | None = None,
        where: Mapping[str, Any] | None = None,
        filter: Filter | None = None,
        alias: str = "t",
        bbox_plan: str = "in",
    ) -> tuple[list[str], list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        tf = parse_as_of(as_of)
        if tf is not None:
            frag, p = tf.sql(sch, alias)
            clauses.append(frag)
            params.extend(p)
        if (bbox is not None or within is not None) and sch.geometry is None:
            raise InvalidQuery(f"kind {sch.kind!r} has no geometry")
        if bbox is not None:
            # Exact: the R-tree prefilters, shapely decides (sqlite_box_clause).
            frag, p = sqlite_box_clause(sch.table, alias, check_bbox(bbox), bbox_plan)
            clauses.append(frag)
            params.extend(p)
        if within is not None:
            # The R-tree envelope test only: callers test ``within`` exactly.
            check_geometry(within)
            wb = within.bounds
            clauses.append(
                f"{alias}.fid IN (SELECT id FROM rtree_{sch.table}_geom WHERE "
                "maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?)")
            params.extend([wb[0], wb[2], wb[1], wb[3]])
        if cell is not None:
            if sch.geometry is None:
                raise InvalidQuery(f"kind {sch.kind!r} has no geometry")
            res = int(cell_resolution(np.int64(cell)))
            if res <= BLOCK_RES:
                lo, hi = child_range(cell, BLOCK_RES)
                clauses.append(f"{alias}.block BETWEEN ? AND ?")
                params.extend([lo, hi])
            else:
                lo, hi = child_range(cell, CELL_RES)
                clauses.append(f"{alias}.block = ? AND {alias}.h3 BETWEEN ? AND ?")
                params.extend([_parent(cell, BLOCK_RES), lo, hi])
        for key, value in (where or {}).items():
            try:
                sch.column(key)
            except KeyError:
                raise InvalidQuery(f"unknown property {key!r} for kind {sch.kind!r}") from None
            if isinstance(value, list | tuple | set):
                vals = list(value)
                if not vals:
                    clauses.append("0")
                    continue
                clauses.append(f"{alias}.{key} IN ({','.join('?' * len(vals))})")
                params.extend(vals)
            elif value is None:
                clauses.append(f"{alias}.{key} IS NULL")
            else:
                clauses.append(f"{alias}.{key} = ?")
                params.append(value)
        if filter is not None:
            frag, fparams = compile_sqlite(filter.node, sch, filter.queryables, alias)
            clauses.append(frag)
            params.extend(fparams)
        return clauses, params

    # -- reads --------------------------------------------------------------

    def _select(
        self,
        sch: KindSchema,
        clauses: list[str],
        params: list[Any],
        columns: Sequence[str] | None,
        order_by: Sequence[str] | None = None,
        limit: int | None = None,
        offset: int = 0,
        with_geometry: bool = True,
    ) -> gpd.GeoDataFrame:
        names = list(columns) if columns is not None else sch.column_names
        for c in names:
            if c not in sch.column_names:
                raise InvalidQuery(f"unknown property {c!r} for kind {sch.kind!r}")
        if "id" not in names and "id" in sch.column_names:
            names = ["id", *names]
        sel = ["t.fid"] + [f"t.{c}" for c in names]
        geom = with_geometry and sch.geometry is not None
        if geom:
            sel.append("t.geom")
        sql = f"SELECT {', '.join(sel)} FROM {sch.table} t"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY " + _order_sql(sch, order_by)
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params = [*params, int(limit), int(offset)]
        elif offset:
            sql += " LIMIT -1 OFFSET ?"
            params = [*params, int(offset)]
        rows = self._conn().execute(sql, params).fetchall()
        cols = ["fid", *names] + (["geom"] if geom else [])
        df = pd.DataFrame.from_records(rows, columns=cols) if rows else pd.DataFrame(
            {c: pd.Series(dtype=object) for c in cols})
        if geom:
            g = decode_geometries(df.pop("geom").tolist())
            return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(g, crs=_wgs84()))
        return gpd.GeoDataFrame(df)

    def query(
        self,
        kind: str,
        *,
        bbox: BBox | None = None,
        within: BaseGeometry | None = None,
        predicate: str = "intersects",
        cell: int | None = None,
        as_of: AsOf = None,
        where: Mapping[str, Any] | None = None,
        columns: Sequence[str] | None = None,
        order_by: Sequence[str] | None = None,
        limit: int | None = None,
        offset: int = 0,
        filter: Filter | None = None,
    ) -> gpd.GeoDataFrame:
        """Entities matching the filters (see :class:`Store`)."""
        sch = schema(kind)
        if (limit is not None and limit < 0) or offset < 0:
            raise InvalidQuery("limit and offset must not be negative")
        if predicate not in ("intersects", "within"):
            raise InvalidQuery(f"unknown spatial predicate {predicate!r}")
        plan = "in"
        if (bbox is not None and sch.geometry is not None and within is None
                and limit is not None and not order_by and not where and filter is None
                and cell is None):
            answer = self._indexed(sch, bbox, as_of)
            if answer is not None:
                # The page's fids from the numpy columns (the count of the same request
                # reuses the answer), then just those rows.
                page = answer.fids()[offset:offset + limit]
                return self._select(sch, ["t.fid IN (SELECT value FROM json_each(?))"],
                                    [json.dumps(page.tolist())], columns)
            plan = self._bbox_page_plan(sch, check_bbox(bbox), offset + limit)
        clauses, params = self._where(sch, as_of=as_of, bbox=bbox, within=within, cell=cell,
                                      where=where, filter=filter, bbox_plan=plan)
        if within is not None:
            # Exact spatial test first (on fid + geometry only), then fetch just the
            # matching rows, so paging and sorting run in SQL on the exact result.
            fids = self._within_fids(sch, clauses, params, within, predicate)
            clauses = ["t.fid IN (SELECT value FROM json_each(?))"]
            params = [json.dumps(fids.tolist())]
        return self._select(sch, clauses, params, columns, order_by, limit, offset)

    def _indexed(self, sch: KindSchema, bbox: BBox | None, as_of: AsOf) -> Answer | None:
        """The rows matching ``bbox`` and an instant ``as_of`` alone, from the numpy
        columns (:mod:`gis.store.box_index`); None where that index does not apply."""
        if self._bulk:
            return None
        tf = parse_as_of(as_of)
        box = check_bbox(bbox) if bbox is not None else None
        if not BoxTimeIndex.supports(sch, box, tf):
            return None
        return self._box_index.matching(self._conn(), sch, box, tf, self.data_version(),
                                        self._kinds_written_since, decode_geometries)

    def _kinds_written_since(self, version: int) -> set[str] | None:
        writes = self.writes_since(version)
        return None if writes is None else {kind for kind, _ in writes}

    def _bbox_page_plan(self, sch: KindSchema, box: BBox, wanted: int) -> str:
        """The plan for one page of a bbox query: ``"in"`` or ``"exists"``
        (:func:`gis.filters.sqlite_box_clause`).

        ``fid IN (R-tree search)`` materialises every candidate first: right for a
        small box, slow for a box holding most of the table. There, scanning the
        table in fid order with a per-row R-tree lookup stops after one page. The
        estimated candidate count decides: scanning reads about
        ``wanted * total / candidates`` rows at ~4 µs each, the search touches every
        candidate at ~0.6 µs (measured on the demo). Both plans give the same rows.
        """
        total = int(self.get_meta().get(f"rows:{sch.kind}", "0"))
        ext = self._conn().execute(
            "SELECT min_x, max_x, min_y, max_y FROM gpkg_contents WHERE table_name = ?",
            (sch.table,)).fetchone()
        if not total or ext is None or None in ext or ext[1] <= ext[0] or ext[3] <= ext[2]:
            return "in"
        # For a box over most of the layer the candidate count is estimated from the
        # share of the extent it covers (counting on the R-tree would cost as much as
        # the slow plan).
        bx0, by0, bx1, by1 = box
        ox = max(0.0, min(bx1, ext[1]) - max(bx0, ext[0])) / (ext[1] - ext[0])
        oy = max(0.0, min(by1, ext[3]) - max(by0, ext[2])) / (ext[3] - ext[2])
        candidates = total * ox * oy
        if ox * oy < 0.25:
            # Below a quarter of the extent, count on the R-tree: data are not
            # uniform, and this count costs only a few ms at that size.
            candidates = self._conn().execute(
                f"SELECT COUNT(*) FROM rtree_{sch.table}_geom WHERE "
                "maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?",
                (bx0, bx1, by0, by1)).fetchone()[0]
        if candidates and wanted * total * 6.7 < candidates * candidates:
            return "exists"
        return "in"

    def _within_fids(
        self, sch: KindSchema, clauses: list[str], params: list[Any],
        within: BaseGeometry, predicate: str,
    ) -> npt.NDArray[np.int64]:
        """Fids of the rows passing ``clauses`` (which hold the R-tree envelope test)
        whose geometry passes the exact ``predicate`` against ``within``."""
        sql = f"SELECT t.fid, t.geom FROM {sch.table} t WHERE " + " AND ".join(clauses)
        rows = self._conn().execute(sql, params).fetchall()
        if not rows:
            return np.zeros(0, dtype=np.int64)
        fids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        geoms = decode_geometries([r[1] for r in rows])
        return fids[_spatial_mask(geoms, within, predicate)]

    def count(
        self,
        kind: str,
        *,
        as_of: AsOf = None,
        bbox: BBox | None = None,
        within: BaseGeometry | None = None,
        where: Mapping[str, Any] | None = None,
        filter: Filter | None = None,
    ) -> int:
        """Number of rows matching the filters."""
        sch = schema(kind)
        if within is not None:
            clauses, params = self._where(sch, as_of=as_of, bbox=bbox, within=within,
                                          where=where, filter=filter)
            return len(self._within_fids(sch, clauses, params, within, "intersects"))
        if not where and filter is None:
            answer = self._indexed(sch, bbox, as_of)
            if answer is not None:
                return answer.count
        if bbox is not None and as_of is None and not where and filter is None:
            # A bbox alone is answered by the R-tree itself (ten times faster than
            # joining its ids back to the table), exactly: only the candidates that
            # straddle an edge are tested on their geometry (sqlite_box_count).
            if sch.geometry is None:
                raise InvalidQuery(f"kind {kind!r} has no geometry")
            sql, params = sqlite_box_count(sch.table, check_bbox(bbox))
            return int(self._conn().execute(sql, params).fetchone()[0])
        clauses, params = self._where(sch, as_of=as_of, bbox=bbox, where=where, filter=filter)
        if not self._bulk and (where or filter is not None):
            # An attribute filter is counted in SQL once per version of the kind's data
            # (a client paging through one query asks the same count on every page).
            key = _count_key(kind, bbox, as_of, where, filter)
            return self._box_index.count(
                key, self.data_version(), self._kinds_written_since,
                lambda: self._sql_count(sch, clauses, params))
        if not clauses:
            meta = self.get_meta().get(f"rows:{kind}")
            if meta is not None:
                return int(meta)
        return self._sql_count(sch, clauses, params)

    def _sql_count(self, sch: KindSchema, clauses: list[str], params: list[Any]) -> int:
        sql = f"SELECT COUNT(*) FROM {sch.table} t"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        return int(self._conn().execute(sql, params).fetchone()[0])

    # -- aggregates ---------------------------------------------------------

    def _by_expr(self, sch: KindSchema, by: str | None, tf: TimeFilter | None) -> str | None:
        if by is None:
            return None
        if by in sch.derived:
            year = tf.year if tf is not None else datetime.now(UTC).year
            return sch.derived[by].format(as_of_year=year)
        try:
            col = sch.column(by)
        except KeyError:
            raise InvalidQuery(f"cannot group {sch.kind!r} by {by!r}") from None
        if col.personal or col.type is ColType.REAL:
            raise InvalidQuery(f"cannot group {sch.kind!r} by {by!r}")
        return by

    def _sum_cols(self, sch: KindSchema, sums: Sequence[str]) -> list[str]:
        out = []
        for s in sums:
            try:
                col = sch.column(s)
            except KeyError:
                raise InvalidQuery(f"unknown property {s!r} for kind {sch.kind!r}") from None
            if col.type not in (ColType.INTEGER, ColType.REAL) or s in ("h3", "block"):
                raise InvalidQuery(f"cannot sum {s!r}: not a numeric property")
            out.append(s)
        return out

    def block_aggregate(
        self,
        kind: str,
        res: int = 9,
        *,
        as_of: AsOf = None,
        within: BaseGeometry | None = None,
        by: str | None = None,
        sums: Sequence[str] = (),
    ) -> pd.DataFrame:
        """Counts and sums per H3 cell (see :class:`Store`)."""
        sch = schema(kind)
        if sch.geometry is None:
            raise InvalidQuery(f"kind {kind!r} has no geometry")
        if res not in AGGREGATE_RES:
            raise InvalidQuery(f"resolution must be {AGGREGATE_RES.start}-{AGGREGATE_RES.stop - 1}")
        tf = parse_as_of(as_of)
        by_expr = self._by_expr(sch, by, tf)
        sum_cols = self._sum_cols(sch, sums)
        # Resolutions up to the block's come from the indexed res-9 column.
        # Coarser resolutions group by the indexed block (index order, no sort) and
        # take parents in numpy afterwards; finer ones need the res-15 cell.
        cell_expr = "t.block" if res <= BLOCK_RES else parent_sql("t.h3", res)
        clauses, params = self._where(sch, as_of=tf, within=within)
        # (``block`` is in the covering index; ``h3`` would force a table lookup)
        clauses.append("t.block IS NOT NULL")
        sel = [f"{cell_expr} AS cell"]
        group = ["cell"]
        if by_expr is not None:
            sel.append(f"{by_expr.replace('birth_date', 't.birth_date')} AS grp")
            group.append("grp")
        if within is not None:
            # Exact geometry test in Python on the R-tree candidates.
            geo_sel = sel + ["t.geom"] + [f"t.{s}" for s in sum_cols]
            sql = (f"SELECT {', '.join(geo_sel)} FROM {sch.table} t WHERE "
                   + " AND ".join(clauses))
            rows = self._conn().execute(sql, params).fetchall()
            cols = ["cell", *(["grp"] if by_expr else []), "geom", *sum_cols]
            df = pd.DataFrame.from_records(rows, columns=cols)
            if len(df):
                mask = _spatial_mask(decode_geometries(df["geom"].tolist()), within,
                                     "intersects")
                df = df[mask]
            df = df.drop(columns="geom")
            agg: dict[str, tuple[str, str]] = {"count": ("cell", "size")}
            agg.update({s: (s, "sum") for s in sum_cols})
            out = df.groupby(group, sort=True).agg(**agg).reset_index() if len(df) else (
                pd.DataFrame(columns=[*group, "count", *sum_cols]))
        else:
            sel.append("COUNT(*) AS count")
            sel.extend(f"SUM(t.{s}) AS {s}" for s in sum_cols)
            sql = (f"SELECT {', '.join(sel)} FROM {sch.table} t WHERE "
                   + " AND ".join(clauses) + f" GROUP BY {', '.join(group)} ORDER BY "
                   + ", ".join(group))
            rows = self._conn().execute(sql, params).fetchall()
            out = pd.DataFrame.from_records(
                rows, columns=["cell", *(["grp"] if by_expr else []), "count", *sum_cols])
        if res < BLOCK_RES and len(out):
            out["cell"] = cell_parent(out["cell"].to_numpy(dtype=np.int64), res)
            out = out.groupby(group, sort=True).sum().reset_index()
        if by is not None:
            out = out.rename(columns={"grp": by})
        out["cell"] = out["cell"].astype(np.int64)
        out["count"] = out["count"].astype(np.int64)
        return out.reset_index(drop=True)

    def admin_counts(self, kind: str, level: str, *, as_of: AsOf = None) -> pd.DataFrame:
        """Counts per subdistrict or community code."""
        sch = schema(kind)
        if level not in ("subdistrict", "community"):
            raise InvalidQuery("level must be 'subdistrict' or 'community'")
        col = f"{level}_code"
        if col not in sch.column_names:
            raise InvalidQuery(f"kind {kind!r} has no admin codes")
        clauses, params = self._where(sch, as_of=as_of)
        sql = f"SELECT t.{col}, COUNT(*) FROM {sch.table} t"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += f" GROUP BY t.{col} ORDER BY t.{col}"
        rows = self._conn().execute(sql, params).fetchall()
        return pd.DataFrame.from_records(rows, columns=["code", "count"])

    def block_timeline(
        self, cell: int, kind: str, periods: Sequence[str], *, by: str | None = None
    ) -> pd.DataFrame:
        """Counts at each period boundary for one cell (see :class:`Store`)."""
        sch = schema(kind)
        if sch.start_col is None:
            raise InvalidQuery(f"kind {kind!r} has no time axis")
        bounds = [parse_as_of(p) for p in periods]
        marks = [b.start for b in bounds if b is not None and b.is_instant and b.start]
        if len(marks) != len(periods) or not marks:
            raise InvalidQuery("periods must be a non-empty list of instants")
        if marks != sorted(marks):
            raise InvalidQuery("periods must be ascending")
        by_expr = self._by_expr(sch, by, parse_as_of(marks[-1]))
        clauses, params = self._where(sch, cell=int(cell))
        sel = [f"t.{sch.start_col}", f"t.{sch.end_col}"]
        if by_expr is not None:
            sel.append(by_expr.replace("birth_date", "t.birth_date"))
        sql = f"SELECT {', '.join(sel)} FROM {sch.table} t WHERE " + " AND ".join(clauses)
        rows = self._conn().execute(sql, params).fetchall()
        df = pd.DataFrame.from_records(rows, columns=["s", "e", *(["grp"] if by_expr else [])])
        s = df["s"].astype(str).to_numpy()
        e = df["e"].to_numpy(dtype=object)
        has_e = np.array([v is not None for v in e], dtype=bool)
        e_str = np.where(has_e, e, "").astype(str)
        records: list[dict[str, Any]] = []
        prev: str | None = None
        for mark in marks:
            if sch.instantaneous:
                end_mark = mark + "T00:00:00Z" if len(mark) == 10 else mark
                m = s < end_mark
                if prev is not None:
                    prev_mark = prev + "T00:00:00Z" if len(prev) == 10 else prev
                    m &= s >= prev_mark
            else:
                m = (s <= mark) & (~has_e | (e_str > mark))
            prev = mark
            if by_expr is not None:
                counts = df.loc[m, "grp"].value_counts().sort_index()
                records.extend({"period": mark, by or "grp": key, "count": int(v)}
                               for key, v in counts.items())
            else:
                records.append({"period": mark, "count": int(m.sum())})
        cols = ["period", *([by] if by else []), "count"]
        return pd.DataFrame.from_records(records, columns=cols)

    # -- readings -----------------------------------------------------------

    def readings(
        self, sensor_id: str, start: str | None = None, end: str | None = None
    ) -> pd.DataFrame:
        """Readings of one sensor in [start, end)."""
        lo = to_epoch(start) if start else -(2**62)
        hi = to_epoch(end) if end else 2**62
        rows = self._conn().execute(
            "SELECT sensor_id, ts, value, alert FROM readings WHERE sensor_id = ? AND ts >= ? "
            "AND ts < ? ORDER BY ts", (sensor_id, lo, hi)).fetchall()
        return pd.DataFrame.from_records(rows, columns=["sensor_id", "ts", "value", "alert"])

    def latest_readings(self, sensor_ids: Sequence[str] | None = None) -> pd.DataFrame:
        """Last reading per sensor, using the (sensor_id, ts) index."""
        ids = list(sensor_ids) if sensor_ids is not None else [
            r[0] for r in self._conn().execute("SELECT id FROM sensors ORDER BY id")]
        out = []
        q = ("SELECT sensor_id, ts, value, alert FROM readings WHERE sensor_id = ? "
             "ORDER BY ts DESC LIMIT 1")
        conn = self._conn()
        for sid in ids:
            row = conn.execute(q, (sid,)).fetchone()
            if row is not None:
                out.append(row)
        return pd.DataFrame.from_records(out, columns=["sensor_id", "ts", "value", "alert"])

    # -- cross-process write log (issue 16: several server workers) --------

    def log_write(self, conn: sqlite3.Connection, kind: str,
                  area: tuple[float, float, float, float] | None) -> None:
        """Record a write of ``kind`` over ``area`` made outside :meth:`ingest` (readings),
        inside the caller's transaction on ``conn``, so every process's tile cache
        (and a restarted server's disk cache) sees it once it commits."""
        _log_write(conn, kind, area)

    def data_version(self) -> int:
        """The number of the last committed ingest (0: none logged yet).

        One indexed ``max`` on the write log: cheap enough to run on every tile
        request, so a worker sees what another process (a worker, ``onemap
        ingest``) committed. ``PRAGMA data_version`` would be cheaper still but
        says only *that* another connection committed, not what or where; each
        thread's connection would also need its own baseline.
        """
        try:
            row = self._conn().execute(f"SELECT MAX(version) FROM {WRITE_LOG}").fetchone()
        except sqlite3.OperationalError:  # a store written before the log existed
            return 0
        return int(row[0] or 0)

    def writes_since(self, version: int
                     ) -> list[tuple[str, tuple[float, float, float, float] | None]] | None:
        """(kind, bounds or None) of each ingest after ``version``, oldest first.

        None when the log no longer reaches back that far (pruned): the caller
        must then drop everything it derived from the store.
        """
        conn = self._conn()
        try:
            first = conn.execute(f"SELECT MIN(version) FROM {WRITE_LOG}").fetchone()[0]
            if first is not None and first > version + 1:
                return None
            rows = conn.execute(
                f"SELECT kind, minx, miny, maxx, maxy FROM {WRITE_LOG} WHERE version > ? "
                "ORDER BY version", (version,)).fetchall()
        except sqlite3.OperationalError:
            return []
        return [(k, None if w is None else (w, s, e, n)) for k, w, s, e, n in rows]

    # -- metadata -----------------------------------------------------------

    def get_meta(self) -> dict[str, str]:
        """All metadata keys."""
        return dict(self._conn().execute("SELECT key, value FROM onemap_meta").fetchall())

    def set_meta(self, values: Mapping[str, str]) -> None:
        """Write metadata keys in one transaction."""
        with self._write_lock:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT OR REPLACE INTO onemap_meta VALUES (?, ?)",
                             [(k, str(v)) for k, v in values.items()])
            conn.execute("COMMIT")

    # -- audit trail (issue 16; gis/security/audit_chain.py) ---------------

    def _ensure_audit(self, conn: sqlite3.Connection) -> None:
        if getattr(self, "_audit_ready", False):
            return
        for stmt in _AUDIT_DDL:
            conn.execute(stmt)
        self._audit_ready = True

    def audit_append(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Append one audit record, chained to the previous one; returns it sealed.

        ``BEGIN IMMEDIATE`` serialises appends across processes, so two workers
        never chain to the same predecessor.
        """
        from gis.security.audit_chain import GENESIS, seal

        with self._write_lock:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                self._ensure_audit(conn)
                row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name='onemap_audit'"
                                   ).fetchone()
                last = conn.execute("SELECT hash FROM onemap_audit ORDER BY seq DESC LIMIT 1"
                                    ).fetchone()
                rec = {**record, "seq": (int(row[0]) if row else 0) + 1,
                       "prev_hash": last[0] if last else GENESIS}
                rec["hash"] = seal(rec["prev_hash"], rec)
                conn.execute(f"INSERT INTO onemap_audit ({', '.join(_AUDIT_COLS)}) "
                             f"VALUES ({', '.join('?' * len(_AUDIT_COLS))})",
                             [rec.get(c) for c in _AUDIT_COLS])
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return rec

    def audit_entries(self, *, key_id: str | None = None, role: str | None = None,
                      layer: str | None = None, since: str | None = None,
                      until: str | None = None, limit: int | None = None
                      ) -> list[dict[str, Any]]:
        """Audit records in sequence order, filtered (``since``/``until``: ISO times)."""
        conn = self._conn()
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name='onemap_audit'").fetchone() is None:
            return []
        where, params = _audit_where(key_id, role, layer, since, until)
        sql = f"SELECT {', '.join(_AUDIT_COLS)} FROM onemap_audit{where} ORDER BY seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [dict(zip(_AUDIT_COLS, r, strict=True)) for r in conn.execute(sql, params)]

    def audit_high_water(self) -> int:
        """The highest sequence number ever given to an audit record."""
        conn = self._conn()
        try:
            row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name='onemap_audit'"
                               ).fetchone()
        except sqlite3.OperationalError:  # no AUTOINCREMENT table at all yet
            return 0
        return int(row[0]) if row else 0
    # -- plain tables of other packages (gis.cases) ---------------------------

    @contextmanager
    def sql_transaction(self) -> Iterator[Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]]:
        """One write transaction over plain (non-entity) tables: yields ``run(sql,
        params)`` (``?`` placeholders) returning the rows; commits on success, rolls back
        on any exception. Writes are serialised with the store's other writes."""
        with self._write_lock:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")

            def run(sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
                return conn.execute(sql, list(params)).fetchall()

            try:
                yield run
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def sql_read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read-only query over plain tables (``?`` placeholders)."""
        return self._conn().execute(sql, list(params)).fetchall()

    def stats(self) -> StoreStats:
        """Counts per kind (entities and rows) and provenance."""
        meta = self.get_meta()
        counts: dict[str, int] = {}
        rows: dict[str, int] = {}
        for kind in KIND_ORDER:
            counts[kind] = int(meta.get(f"count:{kind}", 0))
            rows[kind] = int(meta.get(f"rows:{kind}", 0))
        info = {k: v for k, v in meta.items() if ":" not in k}
        return StoreStats(self.backend, self.path.name, counts, rows, info)


# ---------------------------------------------------------------------------
# helpers


def _parent(cell: int, res: int) -> int:
    return int(cell_parent(np.int64(cell), res))


@lru_cache(maxsize=1)
def _wgs84() -> CRS:
    # One CRS object for every frame: parsing "EPSG:4326" again cost a few hundred µs
    # per query (a fifth of a one-row items request).
    return CRS.from_epsg(4326)


def _count_key(kind: str, bbox: BBox | None, as_of: AsOf, where: Mapping[str, Any] | None,
               filter: Filter | None) -> tuple[Any, ...]:
    """What a count depends on besides the data (the kind first)."""
    tf = parse_as_of(as_of)
    when = None if tf is None else (type(tf).__name__, tf.start, tf.end)
    cond = repr(sorted((k, repr(v)) for k, v in (where or {}).items()))
    flt = None if filter is None else (repr(filter.node), repr(filter.queryables))
    return (kind, None if bbox is None else tuple(float(v) for v in bbox), when, cond, flt)


def _order_sql(sch: KindSchema, order_by: Sequence[str] | None) -> str:
    if not order_by:
        return "t.fid"
    parts = []
    for item in order_by:
        desc = item.startswith("-")
        name = item.lstrip("+-")
        if name not in sch.column_names:
            raise InvalidQuery(f"cannot sort by unknown property {name!r}")
        parts.append(f"t.{name} {'DESC' if desc else 'ASC'}")
    parts.append("t.fid")
    return ", ".join(parts)


def _spatial_mask(geoms: Any, area: BaseGeometry, predicate: str) -> npt.NDArray[np.bool_]:
    arr = np.asarray(geoms, dtype=object)
    if len(arr) == 0:
        return np.zeros(0, dtype=bool)
    shapely.prepare(area)
    is_point = shapely.get_type_id(arr) == 0
    mask = np.zeros(len(arr), dtype=bool)
    if is_point.all():
        return np.asarray(shapely.intersects_xy(area, shapely.get_x(arr), shapely.get_y(arr))
                          if predicate == "intersects" else
                          shapely.contains_xy(area, shapely.get_x(arr), shapely.get_y(arr)))
    if predicate == "intersects":
        mask = shapely.intersects(area, arr)
    else:
        mask = shapely.contains(area, arr)
    return np.asarray(mask, dtype=bool)


_TRIGGER_NAMES = ("insert", "update1", "update2", "update3", "update4", "update5", "update6",
                  "update7", "delete")


def _rtree_triggers(t: str) -> list[str]:
    """The R-tree maintenance triggers of the GeoPackage 1.3 extension (annex F.3)."""
    r = f"rtree_{t}_geom"
    env = "ST_MinX(NEW.geom), ST_MaxX(NEW.geom), ST_MinY(NEW.geom), ST_MaxY(NEW.geom)"
    not_empty = "NEW.geom NOT NULL AND NOT ST_IsEmpty(NEW.geom)"
    c = "CREATE TRIGGER IF NOT EXISTS"
    return [
        f"{c} {r}_insert AFTER INSERT ON {t} WHEN ({not_empty}) BEGIN "
        f"INSERT OR REPLACE INTO {r} VALUES (NEW.fid, {env}); END",
        f"{c} {r}_update5 AFTER UPDATE ON {t} WHEN OLD.fid = NEW.fid AND "
        f"({not_empty}) BEGIN INSERT OR REPLACE INTO {r} VALUES (NEW.fid, {env}); END",
        f"{c} {r}_update6 AFTER UPDATE OF geom ON {t} WHEN OLD.fid = NEW.fid AND "
        f"(NEW.geom IS NULL OR ST_IsEmpty(NEW.geom)) BEGIN "
        f"DELETE FROM {r} WHERE id = OLD.fid; END",
        f"{c} {r}_update7 AFTER UPDATE ON {t} WHEN OLD.fid != NEW.fid AND "
        f"({not_empty}) BEGIN DELETE FROM {r} WHERE id = OLD.fid; "
        f"INSERT OR REPLACE INTO {r} VALUES (NEW.fid, {env}); END",
        f"{c} {r}_update4 AFTER UPDATE ON {t} WHEN OLD.fid != NEW.fid AND "
        f"(NEW.geom IS NULL OR ST_IsEmpty(NEW.geom)) BEGIN DELETE FROM {r} WHERE id IN "
        f"(OLD.fid, NEW.fid); END",
        f"{c} {r}_delete AFTER DELETE ON {t} WHEN old.geom NOT NULL BEGIN "
        f"DELETE FROM {r} WHERE id = OLD.fid; END",
    ]


def _index_names(sch: KindSchema) -> list[str]:
    return [name for name, _ in _indexes(sch)]


def _indexes(sch: KindSchema) -> list[tuple[str, str]]:
    t = sch.table
    out: list[tuple[str, str]] = []
    if "id" in sch.column_names:
        if sch.versioned and sch.start_col:
            out.append((f"idx_{t}_id", f"UNIQUE INDEX idx_{t}_id ON {t} (id, {sch.start_col})"))
        else:
            out.append((f"idx_{t}_id", f"UNIQUE INDEX idx_{t}_id ON {t} (id)"))
    if sch.geometry is not None and sch.start_col:
        # Covering index: block aggregates with a valid-time filter never touch the table.
        out.append((f"idx_{t}_block_time",
                    f"INDEX idx_{t}_block_time ON {t} (block, {sch.start_col}, {sch.end_col})"))
    if "subdistrict_code" in sch.column_names:
        out.append((f"idx_{t}_sub", f"INDEX idx_{t}_sub ON {t} (subdistrict_code)"))
        out.append((f"idx_{t}_com", f"INDEX idx_{t}_com ON {t} (community_code)"))
    for cols in sch.indexes:
        name = f"idx_{t}_{'_'.join(cols)}"
        out.append((name, f"INDEX {name} ON {t} ({', '.join(cols)})"))
    return out


def _index_ddl(sch: KindSchema) -> list[str]:
    return [f"CREATE {ddl.replace('INDEX ', 'INDEX IF NOT EXISTS ', 1)}"
            for _, ddl in _indexes(sch)]


_GPKG_CORE_DDL = [
    """CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (
        srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL,
        organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT)""",
    """CREATE TABLE IF NOT EXISTS gpkg_contents (
        table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL,
        identifier TEXT UNIQUE, description TEXT DEFAULT '',
        last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
        min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
        CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id))""",
    """CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (
        table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
        srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
        CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
        CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
        CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id))""",
    """CREATE TABLE IF NOT EXISTS gpkg_extensions (
        table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL,
        definition TEXT NOT NULL, scope TEXT NOT NULL,
        CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name))""",
]


#: Columns of the audit table, in order.
_AUDIT_COLS = ("seq", "ts", "role", "key_id", "holder", "layer", "operation", "rows", "params",
               "prev_hash", "hash")
#: The audit table: append-only by triggers; AUTOINCREMENT keeps the high-water
#: mark in sqlite_sequence (deleted trailing records show).
_AUDIT_DDL = (
    "CREATE TABLE IF NOT EXISTS onemap_audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
    "ts TEXT NOT NULL, role TEXT NOT NULL, key_id TEXT, holder TEXT, layer TEXT NOT NULL, "
    "operation TEXT NOT NULL, rows INTEGER NOT NULL, params TEXT NOT NULL, "
    "prev_hash TEXT NOT NULL, hash TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS onemap_audit_ts ON onemap_audit (ts)",
    "CREATE TRIGGER IF NOT EXISTS onemap_audit_no_update BEFORE UPDATE ON onemap_audit "
    "BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS onemap_audit_no_delete BEFORE DELETE ON onemap_audit "
    "BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END",
)


def _audit_where(key_id: str | None, role: str | None, layer: str | None,
                 since: str | None, until: str | None) -> tuple[str, list[Any]]:
    """WHERE clause (``?`` placeholders) of an audit query; shared with PostGIS."""
    clauses: list[str] = []
    params: list[Any] = []
    for col, value in (("key_id", key_id), ("role", role), ("layer", layer)):
        if value is not None:
            clauses.append(f"{col} = ?")
            params.append(value)
    if since is not None:
        clauses.append("ts >= ?")
        params.append(since)
    if until is not None:
        clauses.append("ts < ?")
        params.append(until)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def open_gpkg(path: str | Path, *, create: bool = False) -> GeoPackageStore:
    """Open (or create) a GeoPackage store."""
    return GeoPackageStore(path, create=create)


def remove_store_files(path: str | Path) -> None:
    """Delete a store file and its WAL/SHM side files if present."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        p = Path(str(path) + suffix)
        if p.exists():
            os.remove(p)


#: The write log: one row per committed ingest, read by the other processes that
#: serve this file (their tile caches drop what the write touched).
WRITE_LOG = "onemap_writes"
#: Rows kept in the write log; a reader further behind drops its whole cache.
WRITE_LOG_KEEP = 1000


def _log_write(conn: sqlite3.Connection, kind: str,
               area: tuple[float, float, float, float] | None) -> None:
    """Append one write-log row inside the caller's transaction (and prune old ones)."""
    conn.execute(f"CREATE TABLE IF NOT EXISTS {WRITE_LOG} (version INTEGER PRIMARY KEY "
                 "AUTOINCREMENT, kind TEXT NOT NULL, minx REAL, miny REAL, maxx REAL, "
                 "maxy REAL, at TEXT NOT NULL)")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    cur = conn.execute(f"INSERT INTO {WRITE_LOG} (kind, minx, miny, maxx, maxy, at) "
                       "VALUES (?,?,?,?,?,?)", (kind, *(area or (None,) * 4), now))
    if cur.lastrowid is not None and cur.lastrowid > WRITE_LOG_KEEP:
        conn.execute(f"DELETE FROM {WRITE_LOG} WHERE version <= ?",
                     (cur.lastrowid - WRITE_LOG_KEEP,))

"""The server store: PostgreSQL with PostGIS, through psycopg 3 and a connection pool.

The schema comes from the numbered SQL files in ``gis/store/migrations``,
applied in order inside one transaction each and recorded in
``onemap_schema_version``; an advisory lock keeps two processes from migrating
at once. Tables mirror the GeoPackage store column for column (see
``0001_schema.sql``), so every query answers the same rows in the same order:

- DATE/DATETIME columns hold the same canonical ISO text, so the time filters of
  :mod:`gis.timeaxis` apply unchanged; text columns use the ``C`` collation
  (SQLite's byte order) and sorts put NULLs first ascending, as SQLite does.
- Spatial filters are ``ST_Intersects``/``ST_Within`` on a GiST index (exact:
  ``&&`` alone is only the index's single-precision prefilter);
  H3 parents are the same bit arithmetic (:func:`gis.h3cells.parent_sql`) on
  ``bigint``.
- Ingest validates with :func:`gis.ingest.prepare`, then streams the rows
  through ``COPY`` inside one transaction: any failure rolls everything back.

Readers run in their own pooled connections at READ COMMITTED: each statement
sees a committed snapshot, so an ingest is seen whole or not at all.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict, Unpack

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import shapely
from psycopg import errors as pg_errors
from psycopg_pool import ConnectionPool
from shapely.geometry.base import BaseGeometry

from gis.errors import IngestError, InvalidQuery, StoreUnavailable
from gis.filters import Filter, bbox_geometry
from gis.filters_pg import compile_postgis
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
from gis.store.common import (
    SharedQueries,
    check_bbox,
    check_geometry,
    to_epoch,
    written_area,
)
from gis.store.timing import timed_operations
from gis.timeaxis import TimeFilter, parse_as_of

MIGRATIONS = Path(__file__).with_name("migrations")
_MIGRATION_LOCK = 0x4F4E454D  # advisory lock key ("ONEM")
_COPY_CHUNK = 50_000
#: Loads of at least this many rows into an empty table rebuild the indexes afterwards.
_REBUILD_MIN_ROWS = 20_000


def migrations() -> list[tuple[int, str, Path]]:
    """The migration files ``NNNN_name.sql`` in version order."""
    out = []
    for p in sorted(MIGRATIONS.glob("*.sql")):
        m = re.match(r"(\d+)_(.+)\.sql$", p.name)
        if m:
            out.append((int(m.group(1)), m.group(2), p))
    return out


def _pg(sql: str) -> str:
    """Turn the ``?`` placeholders of shared SQL fragments into psycopg's ``%s``."""
    return sql.replace("?", "%s")


def redact(url: str) -> str:
    """A connection URL without its password (safe to print)."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


#: NOTIFY channel of committed ingests (payload: JSON kind and bounds).
WRITE_CHANNEL = "onemap_writes"


class MvtOptions(TypedDict, total=False):
    """The options of :meth:`PostGISStore.mvt` (defaults in :meth:`PostGISStore.mvt_query`)."""

    columns: Sequence[str] | None
    bbox: BBox | None
    as_of: AsOf
    where: Mapping[str, Any] | None
    filter: Filter | None
    limit: int
    extent: int
    buffer: int
    tolerance_px: float
    min_size_px: float


@timed_operations
class PostGISStore(SharedQueries):
    """The PostGIS backend of :class:`gis.store.base.Store`."""

    _param = "%s"

    backend = "postgis"

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10,
                 migrate: bool = True) -> None:
        self.url = url
        self._communities: gpd.GeoDataFrame | None = None
        self._write_lock = threading.Lock()
        #: Called after each committed ingest with (kind, (w, s, e, n) or None = everywhere),
        #: as on the GeoPackage store (the tile cache subscribes).
        self.write_listeners: list[Callable[[str, tuple[float, float, float, float] | None],
                                            None]] = []
        try:
            # One direct attempt first: a wrong URL or a server that is down fails at
            # once with a clear message instead of after the pool's retries.
            psycopg.connect(url, connect_timeout=5).close()
        except psycopg.Error as exc:
            raise StoreUnavailable(f"cannot connect to the PostGIS server at {redact(url)} "
                                   f"({type(exc).__name__})") from None
        try:
            self.pool = ConnectionPool(url, min_size=min_size, max_size=max_size, open=True,
                                       kwargs={"autocommit": True}, timeout=30.0,
                                       configure=_configure)
            self.pool.wait(timeout=10.0)
        except Exception as exc:  # psycopg errors, or the pool's PoolTimeout
            raise StoreUnavailable(f"cannot connect to the PostGIS server at "
                                   f"{redact(url)} ({type(exc).__name__})") from None
        if migrate:
            self.migrate()

    # -- connections and schema --------------------------------------------

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[Any]]:
        with self.pool.connection() as conn:
            yield conn

    def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._conn() as conn:
            return conn.execute(sql, list(params)).fetchall()  # type: ignore[arg-type]

    def close(self) -> None:
        """Close the pool."""
        self.pool.close()

    def schema_version(self) -> int:
        """The highest migration applied (0 on an empty database)."""
        rows = self._fetch("SELECT to_regclass('onemap_schema_version') IS NOT NULL")
        if not rows[0][0]:
            return 0
        return int(self._fetch("SELECT COALESCE(MAX(version), 0) FROM onemap_schema_version")
                   [0][0])

    def migrate(self) -> list[int]:
        """Apply the migrations not applied yet, each in its own transaction."""
        applied: list[int] = []
        with self._conn() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [_MIGRATION_LOCK])
            conn.execute("CREATE TABLE IF NOT EXISTS onemap_schema_version ("
                         "version integer PRIMARY KEY, name text NOT NULL, "
                         "applied_at timestamptz NOT NULL DEFAULT now())")
            done = {r[0] for r in conn.execute("SELECT version FROM onemap_schema_version")}
            for version, name, path in migrations():
                if version in done:
                    continue
                with conn.transaction():
                    conn.execute(path.read_text(encoding="utf-8"))  # type: ignore[call-overload]
                    conn.execute("INSERT INTO onemap_schema_version (version, name) "
                                 "VALUES (%s, %s)", [version, name])
                applied.append(version)
        return applied

    # -- ingest -------------------------------------------------------------

    def ingest(
        self,
        kind: str,
        frame: pd.DataFrame,
        *,
        replace: bool = False,
        progress: Progress | None = None,
    ) -> IngestReport:
        """Validate and COPY ``frame`` in one transaction (see :class:`Store`)."""
        t0 = time.perf_counter()
        comm = None if kind in ("district", "subdistrict", "community") else self.communities()
        prep = prepare(kind, frame, comm if comm is not None and len(comm) else None)
        with self._write_lock, self._conn() as conn:
            try:
                with conn.transaction():
                    self._write(conn, prep, replace, progress)
                    # Delivered at COMMIT only (PostgreSQL NOTIFY): the other server
                    # processes drop their cached tiles of this area (listen_writes).
                    area = written_area(prep, replace)
                    conn.execute("SELECT pg_notify(%s, %s)", (WRITE_CHANNEL, json.dumps(
                        {"kind": kind, "bounds": None if area is None else list(area)})))
            except pg_errors.UniqueViolation as exc:
                raise self._unique_error(prep, exc) from None
            except psycopg.Error as exc:
                raise IngestError(f"rejected by the store: {type(exc).__name__}") from None
            # After the commit (VACUUM cannot run in a transaction): fresh planner
            # statistics, and a visibility map so block aggregates run index-only.
            conn.execute(f"VACUUM (ANALYZE) {prep.schema.table}")
        if kind == "community":
            self._communities = None
        self._notify_write(kind, prep, replace)
        return IngestReport(kind, prep.n, time.perf_counter() - t0, replace)

    def log_write(self, conn: Any, kind: str,
                  area: tuple[float, float, float, float] | None) -> None:
        """Announce a write of ``kind`` over ``area`` made outside :meth:`ingest`
        (readings) inside the caller's transaction: NOTIFY is delivered at COMMIT."""
        conn.execute("SELECT pg_notify(%s, %s)", (WRITE_CHANNEL, json.dumps(
            {"kind": kind, "bounds": None if area is None else list(area)})))

    def listen_writes(self, on_write: Callable[[str, tuple[float, float, float, float] | None],
                                               None]) -> Callable[[], None]:
        """Call ``on_write`` for every ingest any process commits; returns a stopper.

        A daemon thread holds one connection outside the pool with ``LISTEN`` on
        :data:`WRITE_CHANNEL`; the ingest of this or another process sends a NOTIFY
        in its transaction, which PostgreSQL delivers only once it commits. If the
        connection drops, the thread reconnects and reports a write of every kind
        everywhere (it may have missed some meanwhile).
        """
        stop = threading.Event()

        def run() -> None:
            missed = False
            while not stop.is_set():
                try:
                    with psycopg.connect(self.url, autocommit=True,
                                         connect_timeout=5) as conn:
                        conn.execute(f"LISTEN {WRITE_CHANNEL}")
                        if missed:
                            for kind in KIND_ORDER:
                                on_write(kind, None)
                        while not stop.is_set():
                            for note in conn.notifies(timeout=1.0):
                                msg = json.loads(note.payload)
                                b = msg.get("bounds")
                                on_write(str(msg["kind"]), None if b is None else (
                                    float(b[0]), float(b[1]), float(b[2]), float(b[3])))
                except (psycopg.Error, OSError, ValueError, KeyError):
                    missed = True
                    stop.wait(1.0)

        thread = threading.Thread(target=run, name="onemap-listen-writes", daemon=True)
        thread.start()

        def stopper() -> None:
            stop.set()
            thread.join(timeout=5)

        return stopper

    def _unique_error(self, prep: Prepared, exc: Exception) -> IngestError:
        sch = prep.schema
        if "id" in prep.columns:
            ids = prep.columns["id"]
            rows = self._fetch(f"SELECT id FROM {sch.table} WHERE id = ANY(%s)", [list(ids)])
            existing = {r[0] for r in rows}
            for i, v in enumerate(ids):
                if v in existing:
                    return IngestError(f"id {v!r} already exists in the store", row=i, column="id")
        return IngestError("rejected by the store: duplicate key")

    def _write(self, conn: psycopg.Connection[Any], prep: Prepared, replace: bool,
               progress: Progress | None) -> None:
        sch = prep.schema
        table = sch.table
        has_geom = sch.geometry is not None
        if replace:
            # DELETE, not TRUNCATE: readers keep seeing the old rows until COMMIT.
            conn.execute(f"DELETE FROM {table}")
        rebuild: list[str] = []
        if not replace and prep.n >= _REBUILD_MIN_ROWS:
            row = conn.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {table})").fetchone()
            if row and row[0]:
                # Loading an empty table: building the indexes afterwards is about twice
                # as fast as maintaining them row by row. Their definitions come from the
                # catalog (so they follow the migrations) and are restored in the same
                # transaction. The table is empty, so no reader waits on the lock.
                defs = conn.execute(
                    "SELECT i.indexname, i.indexdef FROM pg_indexes i "
                    "JOIN pg_class c ON c.relname = i.indexname "
                    "JOIN pg_index x ON x.indexrelid = c.oid "
                    "WHERE i.schemaname = current_schema() AND i.tablename = %s "
                    "AND NOT x.indisprimary", [table]).fetchall()
                for name, ddl in defs:
                    conn.execute(f'DROP INDEX "{name}"')
                    rebuild.append(ddl)
        names = [*(["geom"] if has_geom else []), *sch.column_names]
        cols = [prep.columns[c] for c in sch.column_names]
        geoms: list[Any] | None = None
        if has_geom and prep.geometry is not None:
            g = shapely.set_srid(prep.geometry, 4326)
            geoms = shapely.to_wkb(g, hex=True, include_srid=True, flavor="extended").tolist()
        with conn.cursor() as cur:
            for lo in range(0, prep.n, _COPY_CHUNK):
                hi = min(prep.n, lo + _COPY_CHUNK)
                parts: list[list[Any]] = []
                if geoms is not None:
                    parts.append(geoms[lo:hi])
                parts.extend(c[lo:hi] for c in cols)
                with cur.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as cp:
                    for row in zip(*parts, strict=True):
                        cp.write_row(row)
                if progress is not None:
                    progress(hi, prep.n)
        for ddl in rebuild:
            conn.execute(ddl)  # type: ignore[call-overload]
        self._update_meta(conn, sch)

    def _update_meta(self, conn: psycopg.Connection[Any], sch: KindSchema) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        row = conn.execute(f"SELECT COUNT(*) FROM {sch.table}").fetchone()
        rows = int(row[0]) if row else 0
        entities = rows
        if sch.versioned:
            row = conn.execute(f"SELECT COUNT(DISTINCT id) FROM {sch.table}").fetchone()
            entities = int(row[0]) if row else 0
        self._put_meta(conn, {f"rows:{sch.kind}": str(rows), f"count:{sch.kind}": str(entities),
                              "last_write": now})

    @staticmethod
    def _put_meta(conn: psycopg.Connection[Any], values: Mapping[str, str]) -> None:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO onemap_meta (key, value) VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                [(k, str(v)) for k, v in values.items()])

    # -- filters ------------------------------------------------------------

    def _where(
        self,
        sch: KindSchema,
        *,
        as_of: AsOf = None,
        bbox: BBox | None = None,
        within: BaseGeometry | None = None,
        predicate: str = "intersects",
        cell: int | None = None,
        where: Mapping[str, Any] | None = None,
        filter: Filter | None = None,
        alias: str = "t",
    ) -> tuple[list[str], list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        tf = parse_as_of(as_of)
        if tf is not None and sch.start_col is not None:
            frag, p = tf.sql(sch, alias)
            if frag != "1":
                clauses.append(_pg(frag))
                params.extend(p)
        if bbox is not None:
            box = check_bbox(bbox)
            if sch.geometry is None:
                raise InvalidQuery(f"kind {sch.kind!r} has no geometry")
            # Exact: ``&&`` alone compares the GiST index's single-precision boxes
            # (points up to ~0.13 m outside pass). It stays the index prefilter; a
            # geometry whose float box lies inside the box shrunk by two float32
            # steps (``@``: PostGIS rounds both boxes outwards, so this is only ever
            # true inside) is in, and only the others, straddling an edge, go
            # through ST_Intersects (onemap_meets_box, migration 0002). ST_Intersects
            # on every row made a count of 773,792 persons 2.5x slower, and its
            # declared cost made the planner gather a parallel scan for one page
            # (45 ms instead of 0.9 ms). The box is closed (a geometry on an edge is
            # in), a degenerate one a line or point.
            g = alias + ".geom"
            x0, y0, x1, y1 = box
            ix0, iy0, ix1, iy1 = x0 + _f32(x0), y0 + _f32(y0), x1 - _f32(x1), y1 - _f32(y1)
            inside = "FALSE"
            if ix0 <= ix1 and iy0 <= iy1:
                inside = f"{g} @ ST_MakeEnvelope(%s, %s, %s, %s, 4326)"
            clauses.append(
                f"{g} && ST_MakeEnvelope(%s, %s, %s, %s, 4326) AND ({inside} OR "
                f"onemap_meets_box({g}, ST_GeomFromWKB(%s, 4326)))")
            params.extend([x0, y0, x1, y1])
            if inside != "FALSE":
                params.extend([ix0, iy0, ix1, iy1])
            params.append(shapely.to_wkb(bbox_geometry(box)))
        if within is not None:
            check_geometry(within)
            if sch.geometry is None:
                raise InvalidQuery(f"kind {sch.kind!r} has no geometry")
            fn = "ST_Intersects" if predicate == "intersects" else "ST_Within"
            clauses.append(f"{fn}({alias}.geom, ST_GeomFromWKB(%s, 4326))")
            params.append(shapely.to_wkb(within))
        if cell is not None:
            if sch.geometry is None:
                raise InvalidQuery(f"kind {sch.kind!r} has no geometry")
            res = int(cell_resolution(np.int64(cell)))
            if res <= BLOCK_RES:
                lo, hi = child_range(cell, BLOCK_RES)
                clauses.append(f"{alias}.block BETWEEN %s AND %s")
                params.extend([lo, hi])
            else:
                lo, hi = child_range(cell, CELL_RES)
                clauses.append(f"{alias}.block = %s AND {alias}.h3 BETWEEN %s AND %s")
                params.extend([int(cell_parent(np.int64(cell), BLOCK_RES)), lo, hi])
        for key, value in (where or {}).items():
            try:
                sch.column(key)
            except KeyError:
                raise InvalidQuery(f"unknown property {key!r} for kind {sch.kind!r}") from None
            if isinstance(value, list | tuple | set):
                vals = list(value)
                if not vals:
                    clauses.append("FALSE")
                    continue
                clauses.append(f"{alias}.{key} = ANY(%s)")
                params.append(vals)
            elif value is None:
                clauses.append(f"{alias}.{key} IS NULL")
            else:
                clauses.append(f"{alias}.{key} = %s")
                params.append(value)
        if filter is not None:
            frag, fparams = compile_postgis(filter.node, sch, filter.queryables, alias)
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
    ) -> gpd.GeoDataFrame:
        names = list(columns) if columns is not None else sch.column_names
        for c in names:
            if c not in sch.column_names:
                raise InvalidQuery(f"unknown property {c!r} for kind {sch.kind!r}")
        if "id" not in names and "id" in sch.column_names:
            names = ["id", *names]
        sel = ["t.fid"] + [f"t.{c}" for c in names]
        geom = sch.geometry is not None
        if geom:
            sel.append("ST_AsBinary(t.geom)")
        sql = f"SELECT {', '.join(sel)} FROM {sch.table} t"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY " + _order_sql(sch, order_by)
        if limit is not None:
            sql += " LIMIT %s"
            params = [*params, int(limit)]
        if offset:
            sql += " OFFSET %s"
            params = [*params, int(offset)]
        rows = self._fetch(sql, params)
        cols = ["fid", *names] + (["geom"] if geom else [])
        df = pd.DataFrame.from_records(rows, columns=cols) if rows else pd.DataFrame(
            {c: pd.Series(dtype=object) for c in cols})
        if geom:
            wkb = df.pop("geom").tolist()
            g = np.asarray(shapely.from_wkb([None if b is None else bytes(b) for b in wkb]),
                           dtype=object)
            return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(g, crs="EPSG:4326"))
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
        """Entities matching the filters (see :class:`Store`), all in one SQL query."""
        sch = schema(kind)
        if (limit is not None and limit < 0) or offset < 0:
            raise InvalidQuery("limit and offset must not be negative")
        if predicate not in ("intersects", "within"):
            raise InvalidQuery(f"unknown spatial predicate {predicate!r}")
        clauses, params = self._where(sch, as_of=as_of, bbox=bbox, within=within,
                                      predicate=predicate, cell=cell, where=where,
                                      filter=filter)
        return self._select(sch, clauses, params, columns, order_by, limit, offset)

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
        clauses, params = self._where(sch, as_of=as_of, bbox=bbox, within=within, where=where,
                                      filter=filter)
        sql = f"SELECT COUNT(*) FROM {sch.table} t"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        return int(self._fetch(sql, params)[0][0])

    # -- aggregates ---------------------------------------------------------

    def _by_expr(self, sch: KindSchema, by: str | None, tf: TimeFilter | None) -> str | None:
        if by is None:
            return None
        if by in sch.derived:
            year = tf.year if tf is not None else datetime.now(UTC).year
            # The model's derived expressions are written for SQLite, whose
            # two-argument MIN is PostgreSQL's LEAST.
            expr = sch.derived[by].format(as_of_year=year)
            return re.sub(r"\bMIN\(", "LEAST(", expr)
        try:
            col = sch.column(by)
        except KeyError:
            raise InvalidQuery(f"cannot group {sch.kind!r} by {by!r}") from None
        if col.personal or col.type is ColType.REAL:
            raise InvalidQuery(f"cannot group {sch.kind!r} by {by!r}")
        return by

    def _sum_cols(self, sch: KindSchema, sums: Sequence[str]) -> list[tuple[str, ColType]]:
        out: list[tuple[str, ColType]] = []
        for s in sums:
            try:
                col = sch.column(s)
            except KeyError:
                raise InvalidQuery(f"unknown property {s!r} for kind {sch.kind!r}") from None
            if col.type not in (ColType.INTEGER, ColType.REAL) or s in ("h3", "block"):
                raise InvalidQuery(f"cannot sum {s!r}: not a numeric property")
            out.append((s, col.type))
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
        """Counts and sums per H3 cell (see :class:`Store`), grouped in SQL."""
        sch = schema(kind)
        if sch.geometry is None:
            raise InvalidQuery(f"kind {kind!r} has no geometry")
        if res not in AGGREGATE_RES:
            raise InvalidQuery(f"resolution must be {AGGREGATE_RES.start}-{AGGREGATE_RES.stop - 1}")
        tf = parse_as_of(as_of)
        by_expr = self._by_expr(sch, by, tf)
        sum_cols = self._sum_cols(sch, sums)
        if res == BLOCK_RES:
            cell_expr = "t.block"
        elif res < BLOCK_RES:
            cell_expr = parent_sql("t.block", res)
        else:
            cell_expr = parent_sql("t.h3", res)
        clauses, params = self._where(sch, as_of=tf, within=within)
        clauses.append("t.block IS NOT NULL")
        sel = [f"{cell_expr} AS cell"]
        group = ["cell"]
        if by_expr is not None:
            sel.append(f"{by_expr.replace('birth_date', 't.birth_date')} AS grp")
            group.append("grp")
        sel.append("COUNT(*) AS count")
        for s, ctype in sum_cols:
            cast = "bigint" if ctype is ColType.INTEGER else "double precision"
            sel.append(f"SUM(t.{s})::{cast} AS {s}")
        sql = (f"SELECT {', '.join(sel)} FROM {sch.table} t WHERE " + " AND ".join(clauses)
               + f" GROUP BY {', '.join(group)} ORDER BY "
               + ", ".join(f"{g} NULLS FIRST" for g in group))
        rows = self._fetch(sql, params)
        names = [s for s, _ in sum_cols]
        out = pd.DataFrame.from_records(
            rows, columns=["cell", *(["grp"] if by_expr else []), "count", *names])
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
        sql += f" GROUP BY t.{col} ORDER BY t.{col} NULLS FIRST"
        return pd.DataFrame.from_records(self._fetch(sql, params), columns=["code", "count"])

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
        rows = self._fetch(sql, params)
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
        rows = self._fetch(
            "SELECT sensor_id, ts, value, alert FROM readings WHERE sensor_id = %s "
            "AND ts >= %s AND ts < %s ORDER BY ts", [sensor_id, lo, hi])
        return pd.DataFrame.from_records(rows, columns=["sensor_id", "ts", "value", "alert"])

    def latest_readings(self, sensor_ids: Sequence[str] | None = None) -> pd.DataFrame:
        """Last reading per sensor (one index probe per sensor, in a LATERAL join)."""
        ids = list(sensor_ids) if sensor_ids is not None else [
            r[0] for r in self._fetch("SELECT id FROM sensors ORDER BY id")]
        rows = self._fetch(
            "SELECT r.sensor_id, r.ts, r.value, r.alert FROM unnest(%s::text[]) "
            "WITH ORDINALITY AS s(id, n) CROSS JOIN LATERAL (SELECT * FROM readings x "
            "WHERE x.sensor_id = s.id ORDER BY x.ts DESC LIMIT 1) r ORDER BY s.n", [ids])
        return pd.DataFrame.from_records(rows, columns=["sensor_id", "ts", "value", "alert"])

    # -- vector tiles ---------------------------------------------------------

    def mvt(self, layer: str, kind: str, z: int, x: int, y: int,
            **options: Unpack[MvtOptions]) -> tuple[bytes, int]:
        """One MVT layer of ``kind`` for tile ``z/x/y`` from ``ST_AsMVT``; (bytes, features).

        The output contract of the tile engine (``tiles/engine.py``): layer ``layer``,
        ``extent`` 4096, geometries clipped to the tile plus ``buffer`` units, properties
        ``id`` and ``columns`` (nulls omitted), lines and polygons simplified by
        ``tolerance_px`` pixels (``extent / 256`` units each) after dropping those below
        ``min_size_px`` pixel of length (``min_size_px``² of area) as they were before
        simplification (the default is ``tiles.engine.MIN_SIZE_PX``); points kept as
        they are. ``bbox`` (WGS84)
        selects the rows (default: the buffered tile), so the engine can pass its own.

        Simplification is PostGIS's own Douglas-Peucker (``ST_Simplify``, collapsed
        rings kept, with the engine's fall-backs) rather than GEOS's
        topology-preserving simplifier the Python engine uses: it avoids a GEOS round
        trip per feature (2.5× faster on z12 building tiles); in tile units after
        integer snapping the two differ only on features at the one-pixel threshold.
        """
        sql, args = self.mvt_query(layer, kind, z, x, y, **options)
        with self._conn() as conn:
            # Binary results: the tile comes back as bytes, not as hex text to decode.
            row = conn.execute(sql, args, binary=True).fetchone()  # type: ignore[arg-type]
        if row is None:  # an aggregate always answers one row
            return b"", 0
        return (bytes(row[0]) if row[0] is not None else b""), int(row[1])

    def mvt_query(
        self,
        layer: str,
        kind: str,
        z: int,
        x: int,
        y: int,
        *,
        columns: Sequence[str] | None = None,
        bbox: BBox | None = None,
        as_of: AsOf = None,
        where: Mapping[str, Any] | None = None,
        filter: Filter | None = None,
        limit: int = 50_000,
        extent: int = 4096,
        buffer: int = 64,
        tolerance_px: float = 1.0,
        min_size_px: float = 0.5,
    ) -> tuple[str, list[Any]]:
        """The SQL statement and parameters :meth:`mvt` sends (tests EXPLAIN it); the
        options (:class:`MvtOptions`) and their defaults are :meth:`mvt`'s."""
        sch = schema(kind)
        if sch.geometry is None:
            raise InvalidQuery(f"kind {kind!r} has no geometry")
        if not (0 <= z <= 30 and 0 <= x < (1 << z) and 0 <= y < (1 << z)):
            raise InvalidQuery(f"tile {z}/{x}/{y} is outside the matrix")
        names = [c for c in (columns if columns is not None else []) if c != "id"]
        for c in names:
            if c not in sch.column_names:
                raise InvalidQuery(f"unknown property {c!r} for kind {kind!r}")
        clauses, params = self._where(sch, as_of=as_of, where=where, filter=filter,
                                      bbox=bbox)
        if bbox is None:
            clauses.append("t.geom && ST_Transform(ST_TileEnvelope(%s, %s, %s, "
                           "margin => %s), 4326)")
            params.extend([z, x, y, buffer / extent])
        pixel = extent / 256
        # Tile units per EPSG:3857 metre at this zoom (the world is 2 * pi * 6378137 m wide).
        scale = extent * (1 << z) / (2 * math.pi * 6378137.0)
        props = ", ".join(f"t.{c}" for c in ["id", *names])
        plain = ", ".join(["id", *names])
        # The rows are chosen first, in a MATERIALIZED CTE that holds only the stored
        # columns: a GiST bitmap scan bounded by the tile ("fid + 0" keeps the planner
        # from walking the primary key in order). Left in one query level with the
        # per-row functions, their declared cost (ST_AsMVTGeom, ST_Transform) made the
        # planner gather a parallel sequential scan of the whole table instead (a z14
        # buildings tile: 28 ms instead of 6 ms on the full demo, and growing with the
        # table; tests/test_tiles_postgis.py checks the plan on a grown table).
        dim = _GEOM_DIM.get(sch.geometry)
        sql = (f"WITH r AS MATERIALIZED (SELECT {props}, t.geom FROM {sch.table} t WHERE "
               + " AND ".join(clauses or ["TRUE"]) + " ORDER BY t.fid + 0 LIMIT %s) "
               + _mvt_steps(plain, dim))
        args = [*params, int(limit), layer, extent]
        if dim != 0:
            args += [tolerance_px * pixel / 4, tolerance_px * pixel]
        args += [z, x, y, extent, buffer]
        if dim != 0:
            # The size test's scale and threshold: of length (lines), of area (polygons).
            length = [scale, min_size_px * pixel]
            area = [scale * scale, (min_size_px * pixel) ** 2]
            args += [z, x, y, buffer / extent,
                     *(length if dim == 1 else area if dim == 2 else length + area)]
        return sql, args

    # -- metadata -----------------------------------------------------------

    def get_meta(self) -> dict[str, str]:
        """All metadata keys."""
        return {k: v for k, v in self._fetch("SELECT key, value FROM onemap_meta")}

    def set_meta(self, values: Mapping[str, str]) -> None:
        """Write metadata keys in one transaction."""
        with self._conn() as conn, conn.transaction():
            self._put_meta(conn, values)

    # -- audit trail (issue 16; migration 0016_audit.sql) -----------------

    def audit_append(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Append one audit record, chained to the previous one; returns it sealed.

        The table lock serialises appends across processes and connections.
        """
        from gis.security.audit_chain import GENESIS, seal
        from gis.store.gpkg import _AUDIT_COLS

        with self._conn() as conn, conn.transaction():
            conn.execute("LOCK TABLE onemap_audit IN EXCLUSIVE MODE")
            seq = int(conn.execute("SELECT nextval('onemap_audit_seq')").fetchone()[0])  # type: ignore[index]
            last = conn.execute("SELECT hash FROM onemap_audit ORDER BY seq DESC LIMIT 1"
                                ).fetchone()
            rec = {**record, "seq": seq, "prev_hash": last[0] if last else GENESIS}
            rec["hash"] = seal(rec["prev_hash"], rec)
            conn.execute(f"INSERT INTO onemap_audit ({', '.join(_AUDIT_COLS)}) "  # type: ignore[call-overload]
                         f"VALUES ({', '.join(['%s'] * len(_AUDIT_COLS))})",
                         [rec.get(c) for c in _AUDIT_COLS])
        return rec

    def audit_entries(self, *, key_id: str | None = None, role: str | None = None,
                      layer: str | None = None, since: str | None = None,
                      until: str | None = None, limit: int | None = None
                      ) -> list[dict[str, Any]]:
        """Audit records in sequence order, filtered (``since``/``until``: ISO times)."""
        from gis.store.gpkg import _AUDIT_COLS, _audit_where

        where, params = _audit_where(key_id, role, layer, since, until)
        sql = f"SELECT {', '.join(_AUDIT_COLS)} FROM onemap_audit{where} ORDER BY seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [dict(zip(_AUDIT_COLS, r, strict=True)) for r in self._fetch(_pg(sql), params)]

    def audit_high_water(self) -> int:
        """The highest sequence number ever given to an audit record."""
        last, called = self._fetch("SELECT last_value, is_called FROM onemap_audit_seq")[0]
        return int(last) if called else 0
    # -- plain tables of other packages (gis.cases) ---------------------------

    @contextmanager
    def sql_transaction(self) -> Iterator[Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]]:
        """One transaction over plain (non-entity) tables: yields ``run(sql, params)``
        (``?`` placeholders, as on the GeoPackage store) returning the rows (empty for
        statements without a result); commits on success, rolls back on an exception."""
        with self._conn() as conn, conn.transaction():
            def run(sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
                cur = conn.execute(_pg(sql), list(params))  # type: ignore[arg-type]
                return cur.fetchall() if cur.description is not None else []

            yield run

    def sql_read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read-only query over plain tables (``?`` placeholders)."""
        return self._fetch(_pg(sql), params)

    def stats(self) -> StoreStats:
        """Counts per kind (entities and rows) and provenance."""
        meta = self.get_meta()
        counts = {kind: int(meta.get(f"count:{kind}", 0)) for kind in KIND_ORDER}
        rows = {kind: int(meta.get(f"rows:{kind}", 0)) for kind in KIND_ORDER}
        info = {k: v for k, v in meta.items() if ":" not in k}
        return StoreStats(self.backend, redact(self.url), counts, rows, info)

    def tables(self) -> dict[str, str]:
        """Kind -> table name (all kinds of the model)."""
        return {k: SCHEMAS[k].table for k in KIND_ORDER}


# ---------------------------------------------------------------------------
# helpers


#: Topological dimension of each declared geometry type (``GEOMETRY``: any, asked per row).
_GEOM_DIM = {"POINT": 0, "LINESTRING": 1, "POLYGON": 2, "MULTIPOLYGON": 2}


def _mvt_steps(plain: str, dim: int | None) -> str:
    """The steps of :meth:`PostGISStore.mvt` after the rows are chosen (CTE ``r``).

    Generalisation as in ``tiles.engine.generalise``; ``dim`` is the dimension of the
    kind's declared geometry type (the column is typed, and ``ST_AsMVTGeom`` returns a
    shape of that dimension or NULL), so the SQL carries only the branch it needs
    (``None``: tested per row). Points are kept as they are: no size test, no
    simplification. Parameters, in order: layer name, extent; for lines and polygons
    the quarter and the full tolerance; the tile z, x, y, extent and buffer of
    ``ST_AsMVTGeom``; for lines and polygons the buffered tile (z, x, y, margin), the
    length scale and threshold and the area scale and threshold of the size test.

    The steps stream through subqueries fenced by OFFSET 0 (never flattened, and no
    outer filter is pushed into them), so each function runs once per row, as in a
    MATERIALIZED CTE, without writing every intermediate geometry to a tuple store.
    With the SQL by dimension, the backend's CPU per z14 buildings tile of the tipg
    benchmark went from 11.7 to 8.6 ms (docs/postgis.md).
    """
    head = "SELECT ST_AsMVT(s, %s, %s, 'g'), COUNT(*) FROM ("
    mvt = (f"SELECT {plain}, ST_AsMVTGeom(m, ST_TileEnvelope(%s, %s, %s), %s, %s, true) AS g "
           f"FROM (SELECT {plain}, ST_Transform(r.geom, 3857) AS m FROM r OFFSET 0) m")
    if dim == 0:
        return head + mvt + " OFFSET 0) s WHERE g IS NOT NULL AND NOT ST_IsEmpty(g)"

    def by_dim(d: str, line: str, polygon: str, point: str = "TRUE") -> str:
        if dim == 1:
            return line
        if dim == 2:
            return polygon
        return f"CASE ST_Dimension({d}) WHEN 0 THEN {point} WHEN 1 THEN {line} ELSE {polygon} END"

    def kept(s: str) -> str:
        # A line is valid when it has length (OGC: self-crossing lines are valid),
        # so only polygons take the GEOS validity test.
        return f"NOT ST_IsEmpty({s}) AND " + by_dim(
            "g", f"ST_Length({s}) > 0",
            f"ST_IsValid({s}) AND abs(ST_Area({s}) - ST_Area(g)) <= 0.2 * ST_Area(g)")

    part = "CASE WHEN m @ b.e THEN m ELSE ST_ClipByBox2D(m, b.e::box2d) END"
    # A segment or a four-corner ring has no vertex to remove without collapsing it
    # (Douglas-Peucker keeps the ends; GEOS's simplifier keeps a quadrilateral above a
    # pixel and the fall-backs keep it below): it is kept as it is, with no
    # simplification and no validity test (every building of the demo).
    few = by_dim("g", "ST_NPoints(g) <= 2", "ST_NPoints(g) <= 5")
    return (
        head
        # A kept shape is simplified; where that collapses it (empty, invalid, or a
        # polygon whose area moved by more than 20 %) a quarter of the tolerance is
        # tried, then the shape is kept as it was (tiles.engine.MAX_AREA_CHANGE). The
        # quarter tolerance is computed only for those few shapes.
        + f"SELECT {plain}, CASE WHEN s1 IS NULL THEN g WHEN {kept('s1')} THEN s1 "
        f"ELSE (SELECT CASE WHEN {kept('s2')} THEN s2 ELSE g END "
        "FROM (SELECT ST_Simplify(g, %s, true) AS s2) t2) END AS g FROM ("
        f"SELECT {plain}, g, CASE WHEN {few} THEN NULL "
        "ELSE ST_Simplify(g, %s, true) END AS s1 FROM ("
        + mvt + ", (SELECT ST_TileEnvelope(%s, %s, %s, margin => %s) AS e) b "
        # The size test runs on each shape's part in the buffered tile before it is
        # snapped to the tile grid or simplified, in unrounded tile units, exactly as
        # the Python engine's generalise() measures it (clip_by_rect is GEOS's
        # ClipByRect, as ST_ClipByBox2D): the two paths keep the same features.
        # Measured after snapping, shapes at the threshold fell either way. A shape
        # whose box lies inside the buffered tile is its own part in it (no clipping
        # needed: most shapes of a tile).
        "WHERE " + by_dim("m", f"ST_Length({part}) * %s >= %s", f"ST_Area({part}) * %s >= %s")
        + " OFFSET 0) v "
        "WHERE g IS NOT NULL AND NOT ST_IsEmpty(g) OFFSET 0) w) s")


def _f32(v: float) -> float:
    """Two float32 steps at ``v`` (PostGIS keeps boxes as float32 rounded outwards)."""
    return 2.0 * float(np.spacing(np.float32(abs(v))))


def _configure(conn: psycopg.Connection[Any]) -> None:
    """Session settings of every pooled connection.

    psycopg prepares a statement once it has run five times, and PostgreSQL then
    may switch to a generic plan that ignores the parameter values. Here the
    values decide the plan (a bbox holding 20 % of a layer wants the primary key
    walked in fid order and stopped after the page; a small one wants the GiST
    index): a generic plan read all 188,493 matching enterprises for a page of
    1,000 (227 ms instead of 0.7 ms in the database, issue 15). Every statement
    is planned for its own values; preparing still saves the parse.
    """
    conn.execute("SET plan_cache_mode = force_custom_plan")


def _order_sql(sch: KindSchema, order_by: Sequence[str] | None) -> str:
    """ORDER BY with SQLite's NULL placement (first ascending, last descending)."""
    if not order_by:
        return "t.fid"
    parts = []
    for item in order_by:
        desc = item.startswith("-")
        name = item.lstrip("+-")
        if name not in sch.column_names:
            raise InvalidQuery(f"cannot sort by unknown property {name!r}")
        parts.append(f"t.{name} {'DESC NULLS LAST' if desc else 'ASC NULLS FIRST'}")
    parts.append("t.fid")
    return ", ".join(parts)



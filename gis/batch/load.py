"""Load GeoParquet city partitions into PostGIS in parallel.

Each partition is one Dask task that opens its own store connection and runs the
store's own validated ``COPY`` ingest (:meth:`gis.store.postgis.PostGISStore.ingest`),
so a bad partition is rejected whole. The secondary indexes of every target table
are dropped before the load and built once at the end (building an index over a
full table is faster than maintaining it row by row); kinds load in build order
(admin units first: later kinds are checked against the communities).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gis.batch.partitions import list_partitions, read_partition


@dataclass
class LoadReport:
    """Rows loaded per kind and the time taken."""

    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    index_seconds: float = 0.0


def load_partition(url: str, kind: str, path: str) -> int:
    """One Dask task: ingest one partition file into the store at ``url``."""
    from gis.store.postgis import PostGISStore

    frame = read_partition(Path(path))
    store = PostGISStore(url, min_size=1, max_size=1, migrate=False)
    try:
        return store.ingest(kind, frame).rows
    finally:
        store.close()


def _index_defs(store: Any, table: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in store._fetch(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i "
        "JOIN pg_class c ON c.relname = i.indexname "
        "JOIN pg_index x ON x.indexrelid = c.oid "
        "WHERE i.schemaname = current_schema() AND i.tablename = %s "
        "AND NOT x.indisprimary", [table])]


def load_city(root: Path, url: str, *, workers: int | None = None,
              scheduler: str | None = None, progress: bool = False,
              client: Any = None) -> LoadReport:
    """Load every partition under ``root`` into the (empty) PostGIS database ``url``."""
    from distributed import progress as dask_progress
    from distributed import wait

    from gis.batch.cluster import dask_client
    from gis.errors import StoreUnavailable
    from gis.model import KIND_ORDER, SCHEMAS
    from gis.store.postgis import PostGISStore

    t0 = time.perf_counter()
    report = LoadReport()
    store = PostGISStore(url)  # migrates the schema once, before the workers connect
    try:
        filled = [k for k in KIND_ORDER if store.count(k) > 0]
        if filled:
            raise StoreUnavailable(f"the destination already holds data ({', '.join(filled)})")
        saved: list[str] = []
        with store._conn() as conn:
            for kind in KIND_ORDER:
                for name, ddl in _index_defs(store, SCHEMAS[kind].table):
                    conn.execute(f'DROP INDEX "{name}"')  # type: ignore[arg-type]
                    saved.append(ddl)
        try:
            with contextlib.ExitStack() as stack:
                if client is None:
                    client = stack.enter_context(dask_client(workers, scheduler))
                for kind in KIND_ORDER:
                    parts = list_partitions(root, kind)
                    if not parts:
                        continue
                    futures = [client.submit(load_partition, url, kind, str(p), pure=False)
                               for p in parts]
                    if progress:
                        dask_progress(futures)
                    wait(futures)
                    report.rows[kind] = sum(client.gather(futures))
        finally:
            t1 = time.perf_counter()
            with store._conn() as conn:
                for ddl in saved:
                    conn.execute(ddl)  # type: ignore[arg-type]
                for kind in report.rows:
                    conn.execute(f"ANALYZE {SCHEMAS[kind].table}")  # type: ignore[arg-type]
            report.index_seconds = round(time.perf_counter() - t1, 3)
    finally:
        store.close()
    report.seconds = round(time.perf_counter() - t0, 3)
    return report

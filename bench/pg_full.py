"""A PostGIS database holding the full-scale demo, kept between benchmark runs.

``make bench`` compares OneMap with tipg on PostGIS (``bench/bench_tipg.py``). Loading
takes minutes, so the cluster lives in a directory that
survives the run (``ONEMAP_BENCH_PG_DIR``, default ``<temp dir>/onemap-bench-pg``) and
the database is reloaded only when it does not hold the same demo as the GeoPackage
(row counts of :data:`KINDS`, seed and scale compared). ``ONEMAP_BENCH_PG_URL`` names
an existing database instead (overwritten with the demo unless it holds it already).
The server is stopped after the run; its data stay.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from spatial_api.local_server import free_port
from tests.pg import PG_BIN, ClusterUnavailable, _as_postgres

DB = "onemap_full"


def _start(root: Path) -> tuple[str, Path]:
    data = root / "data"
    if not (data / "PG_VERSION").exists():
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o777)
        if os.geteuid() == 0:
            import shutil

            shutil.chown(root, "postgres")
        r = _as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres",
                          "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8"])
        if r.returncode != 0:
            raise ClusterUnavailable(f"initdb failed: {r.stderr.strip()[-400:]}")
    port = free_port()
    # The settings docs/postgis.md recommends for serving (jit=off); fsync is off because
    # the database is a throwaway copy that a crash would simply reload.
    opts = (f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c jit=off "
            "-c shared_buffers=512MB -c max_connections=100")
    r = _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", opts, "-l",
                      str(root / "log"), "-w", "start"])
    if r.returncode != 0:
        raise ClusterUnavailable(f"pg_ctl start failed: {r.stderr.strip()}")
    return f"postgresql://postgres@127.0.0.1:{port}", data


def _stop(data: Path) -> None:
    _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"])


#: The kinds the PostGIS benchmarks serve, loaded at full scale: the items and tiles
#: measured read only these (and the outlines the server reads at start-up). The
#: person-level and history tables (about 7 M rows with the sensor readings) would
#: take most of an hour to copy on a small shared machine and are loaded empty.
KINDS = ("district", "subdistrict", "community", "road", "building", "enterprise",
         "facility")


def _same_demo(url: str, store: Any) -> bool:
    """Whether the database at ``url`` holds :data:`KINDS` of ``store``'s demo."""
    from gis.store.postgis import PostGISStore

    try:
        pg = PostGISStore(url)
    except Exception:  # no schema yet, or not a OneMap database
        return False
    try:
        # The bench rebuilds the demo each run: same seed and scale give the same rows
        # (tests/test_demo.py), only the build time differs.
        want = {k: v for k, v in store.get_meta().items() if k in ("seed", "scale", "generator")}
        have = pg.get_meta()
        return bool(all(have.get(k) == v for k, v in want.items())
                    and all(pg.count(k) == store.count(k) for k in KINDS))
    finally:
        pg.close()


def load(url: str, store: Any) -> None:
    """Copy :data:`KINDS` of the GeoPackage demo into the database at ``url`` (the
    other kinds emptied), chunk by chunk as ``onemap db copy`` does."""
    from gis.model import KIND_ORDER, SCHEMAS
    from gis.store.postgis import PostGISStore
    from spatial_api.cli_db import CHUNK

    pg = PostGISStore(url)
    try:
        for kind in KIND_ORDER:
            done, first = 0, True
            while True:
                df = store.query(kind, limit=CHUNK if kind in KINDS else 0, offset=done)
                frame = df.drop(columns=["fid", "h3", "block"], errors="ignore")
                if SCHEMAS[kind].geometry is None and "geometry" in frame.columns:
                    frame = frame.drop(columns="geometry")
                if len(frame) or first:
                    pg.ingest(kind, frame, replace=first)
                first = False
                done += len(df)
                if len(df) < CHUNK:
                    break
        pg.set_meta({k: v for k, v in store.get_meta().items()
                     if ":" not in k and k != "last_write"})
    finally:
        pg.close()


@contextmanager
def full_database(store: Any) -> Iterator[str]:
    """URL of a PostGIS database holding the demo of ``store`` (loaded once, then reused)."""
    url = os.environ.get("ONEMAP_BENCH_PG_URL", "")
    if url:
        if not _same_demo(url, store):
            load(url, store)
        yield url
        return
    root = Path(os.environ.get("ONEMAP_BENCH_PG_DIR", "")
                or Path(tempfile.gettempdir()) / "onemap-bench-pg")
    base, data = _start(root)
    try:
        with psycopg.connect(base + "/postgres", autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            [DB]).fetchone() is None:
                conn.execute(f"CREATE DATABASE {DB}")
        with psycopg.connect(f"{base}/{DB}", autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        url = f"{base}/{DB}"
        if not _same_demo(url, store):
            load(url, store)
        yield url
    finally:
        _stop(data)

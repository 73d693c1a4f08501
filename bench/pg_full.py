"""A PostGIS database holding the full-scale demo, kept between benchmark runs.

``make bench`` compares OneMap with tipg on PostGIS (``bench/bench_tipg.py``). Loading
the full demo (about 8 M rows) takes minutes, so the cluster lives in a directory that
survives the run (``ONEMAP_BENCH_PG_DIR``, default ``<temp dir>/onemap-bench-pg``) and
the database is reloaded only when it does not hold the same demo as the GeoPackage
(row counts and the build's metadata compared). ``ONEMAP_BENCH_PG_URL`` names an
existing database instead (loaded if empty). The server is stopped after the run; its
data stay.
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


def _same_demo(url: str, store: Any) -> bool:
    """Whether the database at ``url`` holds the demo of ``store`` (counts and metadata)."""
    from gis.store.postgis import PostGISStore

    try:
        pg = PostGISStore(url)
    except Exception:  # no schema yet, or not a OneMap database
        return False
    try:
        want = {k: v for k, v in store.get_meta().items()
                if ":" not in k and k != "last_write"}  # what `onemap db copy` copies
        have = pg.get_meta()
        return bool(all(have.get(k) == v for k, v in want.items())
                    and pg.stats().counts == store.stats().counts)
    finally:
        pg.close()


def load(url: str, store: Any) -> None:
    """Copy the whole GeoPackage demo into the (empty or stale) database at ``url``."""
    from gis.store.postgis import PostGISStore
    from spatial_api.cli_db import copy_store

    pg = PostGISStore(url)
    try:
        copy_store(store, pg, replace=True)  # what `onemap db copy --replace` runs
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

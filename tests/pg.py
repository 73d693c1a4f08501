"""A throwaway PostgreSQL/PostGIS cluster for the tests.

``initdb`` in a temporary directory, a free port, ``pg_ctl start`` as user
``postgres`` (the tests run as root, and the server refuses to run as root);
stopped and deleted at the end of the session. About two seconds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg

from spatial_api.local_server import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")


class ClusterUnavailable(RuntimeError):
    """The cluster could not be started (PostgreSQL/PostGIS missing, no user postgres)."""


def _as_postgres(args: list[str]) -> subprocess.CompletedProcess[str]:
    cmd = args
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        cmd = [runuser, "-u", "postgres", "--", *args] if runuser else [
            "su", "postgres", "-c", " ".join(args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


class Cluster:
    """One running cluster; :meth:`new_database` hands out empty PostGIS databases."""

    def __init__(self) -> None:
        if not (PG_BIN / "initdb").exists():
            raise ClusterUnavailable("PostgreSQL 15 is not installed "
                                     "(apt-get install postgresql-15-postgis-3)")
        if not Path("/usr/share/postgresql/15/extension/postgis.control").exists():
            raise ClusterUnavailable("PostGIS is not installed (postgresql-15-postgis-3)")
        self.dir = Path(tempfile.mkdtemp(prefix="onemap-pg-"))
        os.chmod(self.dir, 0o777)
        self.data = self.dir / "data"
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        r = _as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                          "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8"])
        if r.returncode != 0:
            raise ClusterUnavailable(f"initdb failed: {r.stderr.strip()[-400:]}")
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=100 -c jit=off")
        r = _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", opts,
                          "-l", str(self.dir / "log"), "-w", "start"])
        if r.returncode != 0:
            log = (self.dir / "log").read_text() if (self.dir / "log").exists() else ""
            raise ClusterUnavailable(f"pg_ctl start failed: {r.stderr.strip()} {log[-400:]}")
        self.base = f"postgresql://postgres@127.0.0.1:{self.port}"
        with psycopg.connect(self.base + "/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE onemap_template")
        with psycopg.connect(self.base + "/onemap_template", autocommit=True) as conn:
            conn.execute("CREATE EXTENSION postgis")

    def url(self, db: str) -> str:
        """Connection URL of database ``db``."""
        return f"{self.base}/{db}"

    def new_database(self) -> str:
        """A new empty database with PostGIS; returns its URL."""
        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.base + "/postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE onemap_template")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop the database of ``url`` (closing its other sessions)."""
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.base + "/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        """Stop the server and delete its directory."""
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                      "-w", "stop"])
        shutil.rmtree(self.dir, ignore_errors=True)

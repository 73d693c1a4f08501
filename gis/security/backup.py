"""Backup and restore of a whole store, each verified by content hash.

GeoPackage: SQLite's online backup API (``sqlite3.Connection.backup``) copies a
consistent snapshot while the server keeps reading and writing; a restore uses
the same API in the other direction, so connections already open on the target
see the restored pages (no file swapped under them). PostGIS: ``pg_dump -Fc`` /
``pg_restore`` of the client whose major version matches the server's (an older
pg_dump refuses a newer server; a newer one may write archives an older
pg_restore cannot read). Each backup gets a ``OUT.json`` sidecar with the
content hash (:func:`gis.store.content_hash`), checked after a restore.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from gis.errors import CoreError
from gis.model import KIND_ORDER
from gis.store import Store, content_hash


class BackupError(CoreError):
    """A backup or restore could not be made or did not verify."""


@dataclass(frozen=True)
class BackupReport:
    """What a backup or restore did: backend, file, content hash, rows, seconds."""

    backend: str
    path: str
    content_hash: str
    rows: int
    seconds: float

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return asdict(self)


def sidecar(path: Path) -> Path:
    """The JSON file next to a backup that records its content hash."""
    return path.with_name(path.name + ".json")


def _rows(store: Store) -> int:
    return sum(store.count(k) for k in KIND_ORDER)


def backup(store: Store, out: Path) -> BackupReport:
    """Back ``store`` up to ``out`` and check the copy's content hash."""
    t0 = time.perf_counter()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    tmp.unlink(missing_ok=True)
    if store.backend == "geopackage":
        src = sqlite3.connect(store.path)  # type: ignore[attr-defined]
        dst = sqlite3.connect(tmp)
        try:
            # pages=4096 a step: other connections keep writing between steps and
            # the backup restarts on its own when they do (sqlite3_backup_step)
            src.backup(dst, pages=4096)
        finally:
            dst.close()
            src.close()
        from gis.store.gpkg import GeoPackageStore

        copy = GeoPackageStore(tmp)
        try:
            digest, rows = content_hash(copy), _rows(copy)
        finally:
            copy.close()
    else:
        url: str = store.url  # type: ignore[attr-defined]
        _pg_tool("pg_dump", store, ["-Fc", "--no-owner", "-f", str(tmp), url])
        digest, rows = content_hash(store), _rows(store)
    tmp.replace(out)
    report = BackupReport(store.backend, out.name, digest, rows,
                          round(time.perf_counter() - t0, 3))
    sidecar(out).write_text(json.dumps(report.as_dict(), indent=1), encoding="utf-8")
    return report


def restore(store: Store, src: Path, *, replace: bool = False) -> BackupReport:
    """Restore the backup ``src`` into ``store`` and check the content hash.

    Refuses a store that holds data unless ``replace``.
    """
    t0 = time.perf_counter()
    src = Path(src)
    if not src.exists():
        raise BackupError(f"no backup at {src.name}")
    meta_path = sidecar(src)
    if not meta_path.exists():
        raise BackupError(f"{meta_path.name} (the backup's content hash) is missing")
    expected = json.loads(meta_path.read_text(encoding="utf-8"))
    if expected.get("backend") != store.backend:
        raise BackupError(f"a {expected.get('backend')} backup cannot be restored into "
                          f"a {store.backend} store (use `onemap db copy`)")
    filled = [k for k in KIND_ORDER if store.count(k) > 0]
    if filled and not replace:
        raise BackupError(f"the store already holds data ({', '.join(filled)}); "
                          "use --replace")
    if store.backend == "geopackage":
        src_conn = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
        dst = sqlite3.connect(store.path, timeout=30.0)  # type: ignore[attr-defined]
        try:
            src_conn.backup(dst)
        finally:
            dst.close()
            src_conn.close()
    else:
        url: str = store.url  # type: ignore[attr-defined]
        _pg_tool("pg_restore", store, ["--clean", "--if-exists", "--no-owner",
                                       "--single-transaction", "-d", url, str(src)])
    digest = content_hash(store)
    if digest != expected.get("content_hash"):
        raise BackupError("the restored store's content hash differs from the backup's")
    return BackupReport(store.backend, src.name, digest, _rows(store),
                        round(time.perf_counter() - t0, 3))


def _pg_tool(name: str, store: Store, args: list[str]) -> None:
    """Run pg_dump/pg_restore of the server's major version."""
    rows = store._fetch("SHOW server_version_num")  # type: ignore[attr-defined]
    major = int(rows[0][0]) // 10000
    exe = Path(f"/usr/lib/postgresql/{major}/bin/{name}")  # Debian's versioned clients
    tool = str(exe) if exe.exists() else shutil.which(name)
    if tool is None:
        raise BackupError(f"{name} is not installed (postgresql-client-{major})")
    out = subprocess.run([tool, "--version"], capture_output=True, text=True, timeout=30)
    m = re.search(r"(\d+)\.", out.stdout)
    if not m or int(m.group(1)) != major:
        raise BackupError(f"{name} {out.stdout.strip()} does not match the server "
                          f"(PostgreSQL {major}); install postgresql-client-{major}")
    proc = subprocess.run([tool, *args], capture_output=True, text=True, timeout=6 * 3600)
    if proc.returncode != 0:
        raise BackupError(f"{name} failed: {proc.stderr.strip()[-500:]}")

"""``onemap db``: move a whole store between backends.

``onemap db copy --from gpkg:PATH --to postgresql://…`` (or the other way) copies
every kind in build order through the destination's own ingest (validated, one
transaction per chunk), with a progress bar, then checks that the row counts
and the :func:`gis.store.content_hash` of both stores match.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

#: Rows per ingest chunk (bounds the memory of a copy of millions of rows).
CHUNK = 200_000


def open_target(url: str, *, create: bool) -> Any:
    """Open a store named by ``gpkg:PATH`` or a ``postgresql://`` URL (creating a file)."""
    from gis.errors import StoreUnavailable
    from gis.store import open_store
    from gis.store.gpkg import GeoPackageStore

    if url.startswith("gpkg:"):
        path = Path(url[5:])
        if create and not path.exists():
            return GeoPackageStore(path, create=True)
        return GeoPackageStore(path)
    if url.startswith(("postgresql://", "postgres://")):
        return open_store(url=url)
    raise StoreUnavailable("a store is named gpkg:PATH or postgresql://…")


def copy_store(source: Any, dest: Any, *, replace: bool = False,
               progress: Any = None) -> dict[str, int]:
    """Copy every kind of ``source`` into ``dest``; returns rows copied per kind.

    ``progress(kind, done, total)`` is called after each chunk. Without ``replace``
    the destination must be empty.
    """
    from gis.errors import StoreUnavailable
    from gis.model import KIND_ORDER, SCHEMAS

    if not replace:
        filled = [k for k in KIND_ORDER if dest.count(k) > 0]
        if filled:
            raise StoreUnavailable(
                f"the destination already holds data ({', '.join(filled)}); use --replace")
    copied: dict[str, int] = {}
    for kind in KIND_ORDER:
        sch = SCHEMAS[kind]
        total = source.count(kind)
        done = 0
        first = True
        while True:
            df = source.query(kind, limit=CHUNK, offset=done)
            if df.empty and not first:
                break
            frame = df.drop(columns=["fid", "h3", "block"], errors="ignore")
            if sch.geometry is None and "geometry" in frame.columns:
                frame = frame.drop(columns="geometry")
            if len(frame) or (first and replace):
                dest.ingest(kind, frame, replace=first and replace)
            first = False
            done += len(df)
            if progress is not None:
                progress(kind, done, total)
            if len(df) < CHUNK:
                break
        copied[kind] = done
    meta = {k: v for k, v in source.get_meta().items() if ":" not in k and k != "last_write"}
    if meta:
        dest.set_meta(meta)
    return copied


@click.group()
def db() -> None:
    """Store administration (copy between GeoPackage and PostGIS)."""


@db.command("copy")
@click.option("--from", "src", required=True, help="Source store: gpkg:PATH or postgresql://…")
@click.option("--to", "dst", required=True, help="Destination: gpkg:PATH or postgresql://…")
@click.option("--replace", is_flag=True, help="Replace the data already in the destination.")
@click.option("--verify/--no-verify", default=True, show_default=True,
              help="Compare counts and content hashes afterwards.")
def copy_cmd(src: str, dst: str, replace: bool, verify: bool) -> None:
    """Copy a whole store from one backend to another."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from gis.model import KIND_ORDER
    from gis.store import content_hash

    source = open_target(src, create=False)
    dest = open_target(dst, create=True)
    try:
        with Progress(TextColumn("{task.description:>16}"), BarColumn(),
                      MofNCompleteColumn(), transient=False) as bar:
            tasks = {k: bar.add_task(k, total=None) for k in KIND_ORDER}

            def step(kind: str, done: int, total: int) -> None:
                bar.update(tasks[kind], completed=done, total=max(total, done))

            copied = copy_store(source, dest, replace=replace, progress=step)
        click.echo(f"copied {sum(copied.values())} rows in {len(copied)} kinds")
        if verify:
            bad = [k for k in KIND_ORDER if source.count(k) != dest.count(k)]
            if bad:
                raise click.ClickException(f"row counts differ for {', '.join(bad)}")
            h1, h2 = content_hash(source), content_hash(dest)
            if h1 != h2:
                raise click.ClickException("content hashes differ after the copy")
            click.echo(f"counts match; content hash {h1[:16]}… matches")
    finally:
        source.close()
        dest.close()


def _configured(store_url: str | None, data_dir: Path | None, *, create: bool) -> Any:
    """The store named by ``--store``, else the configured one (ONEMAP_DB_URL / data dir)."""
    if store_url:
        return open_target(store_url, create=create)
    from gis.settings import CoreSettings, DbSettings
    from gis.store import open_store

    core = CoreSettings(data_dir=data_dir) if data_dir else CoreSettings()
    if create and not DbSettings().url and not core.store_path.exists():
        return open_target(f"gpkg:{core.store_path}", create=True)
    return open_store(core)


STORE_OPT = click.option("--store", "store_url", default=None,
                         help="gpkg:PATH or postgresql://… (default: the configured store).")
DATA_DIR_OPT = click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
                            default=None, help="Data directory (default: $ONEMAP_DATA_DIR).")


@db.command("backup")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@STORE_OPT
@DATA_DIR_OPT
def backup_cmd(out: Path, store_url: str | None, data_dir: Path | None) -> None:
    """Back the store up to OUT (safe while the server runs), verified by content hash.

    Writes OUT.json with the content hash. Nightly, e.g. from cron:
    ``onemap db backup /backups/onemap-$(date +%F).gpkg``.
    """
    import json

    from gis.security.backup import backup
    from spatial_api.cli_audit import audit_cli_operation

    store = _configured(store_url, data_dir, create=False)
    try:
        report = backup(store, out)
        audit_cli_operation("backup", layer="*", rows=report.rows, store=store,
                            params={"file": out.name, "content_hash": report.content_hash})
    finally:
        store.close()
    click.echo(json.dumps(report.as_dict()))


@db.command("restore")
@click.argument("src", metavar="IN", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--replace", is_flag=True, help="Replace the data already in the store.")
@STORE_OPT
@DATA_DIR_OPT
def restore_cmd(src: Path, replace: bool, store_url: str | None, data_dir: Path | None) -> None:
    """Restore a backup made by `onemap db backup`; refuses a non-empty store unless --replace."""
    import json

    from gis.security.backup import restore
    from spatial_api.cli_audit import audit_cli_operation

    store = _configured(store_url, data_dir, create=True)
    try:
        report = restore(store, src, replace=replace)
        audit_cli_operation("restore", layer="*", rows=report.rows, store=store,
                            params={"file": src.name, "replace": replace,
                                    "content_hash": report.content_hash})
    finally:
        store.close()
    click.echo(json.dumps(report.as_dict()))


@db.command("load")
@click.option("--from", "src", required=True, type=click.Path(exists=True, file_okay=False,
                                                              path_type=Path),
              help="Root of the GeoParquet partitions (onemap demo build --area …).")
@click.option("--to", "dst", required=True, help="Destination: postgresql://…")
@click.option("--workers", type=click.IntRange(1, 512), default=None,
              help="Local Dask workers (default: CPU count; ONEMAP_DASK_SCHEDULER wins).")
def load_cmd(src: Path, dst: str, workers: int | None) -> None:
    """Load city partitions into an empty PostGIS database, in parallel (see docs/scale.md)."""
    import json
    import sys

    from gis.batch.load import load_city

    if not dst.startswith(("postgresql://", "postgres://")):
        raise click.BadParameter("the destination is a postgresql:// URL", param_hint="--to")
    report = load_city(src, dst, workers=workers, progress=sys.stderr.isatty())
    click.echo(json.dumps({"rows": report.rows, "seconds": report.seconds,
                           "index_seconds": report.index_seconds}, indent=1))

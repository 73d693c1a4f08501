"""``onemap audit``: list and verify the store's chained audit trail.

Privileged command-line operations (ingest, key changes, restore) are recorded
with :func:`audit_cli_operation`: the operator is the ``admin`` role (whoever can
run the CLI on the server can write the store directly), the holder the OS user.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def audit_cli_operation(operation: str, *, layer: str, rows: int,
                        params: Mapping[str, Any], data_dir: Path | None = None,
                        store: Any = None) -> None:
    """Record a privileged CLI operation in the configured store's audit trail.

    Without a store (keys managed before any data exists) a warning says so.
    """
    from gis.errors import StoreUnavailable
    from gis.settings import CoreSettings
    from gis.store import open_store
    from layers.audit import record_operation

    if store is not None:
        record_operation(store, operation=operation, layer=layer, rows=rows, params=params,
                         holder=_operator())
        return
    try:
        opened = open_store(CoreSettings(data_dir=data_dir) if data_dir else CoreSettings())
    except StoreUnavailable:
        click.echo(f"warning: no store to audit {operation!r} in", err=True)
        return
    try:
        record_operation(opened, operation=operation, layer=layer, rows=rows, params=params,
                         holder=_operator())
    finally:
        opened.close()


@click.group()
def audit() -> None:
    """The audit trail (append-only, hash-chained, in the store)."""


def _open(data_dir: Path | None) -> Any:
    from gis.settings import CoreSettings
    from gis.store import open_store

    return open_store(CoreSettings(data_dir=data_dir) if data_dir else CoreSettings())


DATA_DIR = click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
                        default=None, help="Data directory (default: $ONEMAP_DATA_DIR).")


@audit.command("verify")
@click.option("--head", default=None, help="A head hash noted earlier that must still be "
              "in the chain.")
@DATA_DIR
def verify_cmd(head: str | None, data_dir: Path | None) -> None:
    """Check that no audit record was changed, deleted or reordered (exit 1 if so)."""
    from layers.audit import verify_store

    store = _open(data_dir)
    try:
        report = verify_store(store, head)
    finally:
        store.close()
    for p in report.problems:
        click.echo(p, err=True)
    if not report.ok:
        raise click.ClickException(f"audit chain broken ({len(report.problems)} problems)")
    click.echo(f"audit chain intact: {report.records} records, head {report.head}")


@audit.command("list")
@click.option("--key", "key_id", default=None)
@click.option("--role", default=None)
@click.option("--layer", default=None)
@click.option("--since", default=None, help="ISO time (inclusive).")
@click.option("--until", default=None, help="ISO time (exclusive).")
@click.option("--limit", type=click.IntRange(1), default=None)
@DATA_DIR
def list_cmd(key_id: str | None, role: str | None, layer: str | None, since: str | None,
             until: str | None, limit: int | None, data_dir: Path | None) -> None:
    """Print audit records as JSON lines."""
    from layers.audit import _readable

    store = _open(data_dir)
    try:
        rows = store.audit_entries(key_id=key_id, role=role, layer=layer, since=since,
                                   until=until, limit=limit)
    finally:
        store.close()
    for r in rows:
        click.echo(json.dumps(_readable(r), ensure_ascii=False))

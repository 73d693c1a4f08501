"""``onemap keys``: add, revoke and list API keys without restarting the server.

Keys are written to the roles file as their SHA-256 only; a new key is shown
once. A running server re-reads the file within a second (layers/auth.py).
"""

from __future__ import annotations

from pathlib import Path

import click

from spatial_api.cli_audit import DATA_DIR, audit_cli_operation

ROLES_FILE_HELP = "Roles file (default: ONEMAP_OGC_ROLES_FILE or config/roles.yaml)."


def _roles_file(path: Path | None) -> Path:
    from spatial_api.ogc.settings import OgcSettings

    return Path(path) if path else Path(OgcSettings().roles_file)


@click.group()
def keys() -> None:
    """API keys (stored hashed; the server reloads them without restart)."""


@keys.command("add")
@click.option("--id", "key_id", required=True, help="A name for the key (used to revoke it).")
@click.option("--role", required=True, help="Role the key grants.")
@click.option("--holder", default="", help="Who holds the key (written to the audit log).")
@click.option("--rate-limit", type=click.IntRange(0), default=None,
              help="Requests a minute for this key (0 = unlimited).")
@click.option("--roles-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help=ROLES_FILE_HELP)
@DATA_DIR
def add_cmd(key_id: str, role: str, holder: str, rate_limit: int | None,
            roles_file: Path | None, data_dir: Path | None) -> None:
    """Create a key; prints it once (only its SHA-256 is stored)."""
    from layers.auth import add_key

    key = add_key(_roles_file(roles_file), key_id, role, holder, rate_limit)
    _audit("key-add", key_id, role, data_dir)
    click.echo(key)


@keys.command("revoke")
@click.argument("key_id")
@click.option("--roles-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help=ROLES_FILE_HELP)
@DATA_DIR
def revoke_cmd(key_id: str, roles_file: Path | None, data_dir: Path | None) -> None:
    """Remove a key by its id."""
    from layers.auth import revoke_key

    revoke_key(_roles_file(roles_file), key_id)
    _audit("key-revoke", key_id, "", data_dir)
    click.echo(f"revoked {key_id}")


@keys.command("list")
@click.option("--roles-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help=ROLES_FILE_HELP)
def list_cmd(roles_file: Path | None) -> None:
    """Key ids, roles and holders (never the keys)."""
    import yaml

    doc = yaml.safe_load(_roles_file(roles_file).read_text(encoding="utf-8")) or {}
    for entry in doc.get("keys") or []:
        click.echo(f"{entry.get('id')}\t{entry.get('role')}\t{entry.get('holder', '')}")


def _audit(operation: str, key_id: str, role: str, data_dir: Path | None) -> None:
    """Record a key change in the store's audit trail when a store is configured."""
    audit_cli_operation(operation, layer="keys", rows=1, params={"key_id": key_id, "role": role},
                        data_dir=data_dir)

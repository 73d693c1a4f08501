"""The audit trail: an append-only, hash-chained table in the store (both backends);
`onemap audit verify` catches changed and deleted records; GET /audit for the admin."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from gis.store import Store
from layers.access import Principal
from layers.audit import AuditLog, verify_store
from spatial_api.app import create_app
from spatial_api.cli import cli
from spatial_api.settings import Settings
from tests.conftest import copy_demo

ADMIN = {"X-API-Key": "demo-admin-key"}
POP = {"X-API-Key": "demo-population-key"}


def fill(store: Store, n: int = 6) -> AuditLog:
    log = AuditLog(use_store=True)
    log.attach(store)
    for i in range(n):
        who = Principal("population", f"k{i % 2}", "holder") if i % 3 else Principal("admin")
        log.record(who, "persons" if i % 2 else "houses", "items", i, {"limit": i,
                                                                       "api_key": "secret"})
    return log


def tamper(store: Store, sql: str) -> None:
    """Edit the table behind the store's back, as someone with file/superuser access."""
    if store.backend == "geopackage":
        conn = sqlite3.connect(store.path)  # type: ignore[attr-defined]
        conn.execute("DROP TRIGGER onemap_audit_no_update")
        conn.execute("DROP TRIGGER onemap_audit_no_delete")
        conn.execute(sql)
        conn.commit()
        conn.close()
    else:
        url: str = store.url  # type: ignore[attr-defined]
        with psycopg.connect(url, autocommit=True) as pg:
            pg.execute("SET session_replication_role = replica")  # triggers off
            pg.execute(sql)  # type: ignore[call-overload]


def test_chain_detects_change_and_deletion(store_factory: Callable[[], Store]) -> None:
    for attack, expected in [
        ("UPDATE onemap_audit SET rows = 0 WHERE seq = 3", "contents changed"),
        ("DELETE FROM onemap_audit WHERE seq = 2", "missing (deleted)"),
        ("DELETE FROM onemap_audit WHERE seq = 6", "deleted at the end"),
        ("UPDATE onemap_audit SET role = 'planning'", "contents changed"),
    ]:
        store = store_factory()
        log = fill(store)
        entries = log.entries()
        assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5, 6]
        assert all("api_key" not in e["params"] for e in entries)
        report = verify_store(store)
        assert report.ok and report.records == 6, report.problems
        head = report.head
        # the triggers refuse ordinary edits
        with pytest.raises(Exception, match="append-only"):
            if store.backend == "geopackage":
                store._conn().execute("DELETE FROM onemap_audit")  # type: ignore[attr-defined]
            else:
                store._fetch("DELETE FROM onemap_audit")  # type: ignore[attr-defined]
        tamper(store, attack)
        bad = verify_store(store, expect_head=head)
        assert not bad.ok and any(expected in p for p in bad.problems), (attack, bad.problems)
        # appending after the tamper does not heal the chain
        log.record(Principal("admin"), "persons", "items", 1)
        assert not verify_store(store).ok


def test_filters(store_factory: Callable[[], Store]) -> None:
    store = store_factory()
    log = fill(store)
    assert {e["role"] for e in log.entries(role="admin")} == {"admin"}
    assert {e["layer"] for e in log.entries(layer="persons")} == {"persons"}
    assert {e["key_id"] for e in log.entries(key_id="k1")} == {"k1"}
    everything = log.entries()
    mid = everything[3]["ts"]
    assert [e["seq"] for e in log.entries(since=mid)] == [4, 5, 6]
    assert [e["seq"] for e in log.entries(until=mid)] == [1, 2, 3]
    assert len(log.entries(limit=2)) == 2


@pytest.fixture(scope="module")
def copy_dir(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("auditdemo")
    copy_demo(demo_dir, d)
    return d


@pytest.fixture(scope="module")
def client(copy_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(data_dir=copy_dir))) as c:
        yield c


def test_http_reads_are_audited_in_the_store(client: TestClient, copy_dir: Path) -> None:
    r = client.get("/ogc/collections/persons/items?limit=3&f=json", headers=POP)
    assert r.status_code == 200
    got = client.get("/audit", params={"layer": "persons", "role": "population"}, headers=ADMIN)
    assert got.status_code == 200
    recs = got.json()["records"]
    assert recs and recs[-1]["operation"] == "items" and recs[-1]["rows"] == 3
    assert recs[-1]["key_id"] == "demo-population"
    assert client.get("/audit").status_code == 401
    assert client.get("/audit", headers=POP).status_code == 403
    assert client.get("/audit", headers={"X-API-Key": "nope"}).status_code == 401
    # reading the audit trail is itself audited
    reads = client.get("/audit", params={"layer": "audit"}, headers=ADMIN).json()["records"]
    assert reads and reads[-1]["operation"] == "audit-read"
    res = CliRunner().invoke(cli, ["audit", "verify", "--data-dir", str(copy_dir)])
    assert res.exit_code == 0 and "intact" in res.output, res.output


def test_cli_key_changes_and_ingest_are_audited(copy_dir: Path, tmp_path: Path) -> None:
    roles = tmp_path / "roles.yaml"
    shutil.copy(Path(__file__).resolve().parent.parent / "config" / "roles.yaml", roles)
    runner = CliRunner()
    res = runner.invoke(cli, ["keys", "add", "--id", "aud", "--role", "planning",
                              "--roles-file", str(roles), "--data-dir", str(copy_dir)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["keys", "revoke", "aud", "--roles-file", str(roles),
                              "--data-dir", str(copy_dir)])
    assert res.exit_code == 0, res.output
    ev = tmp_path / "events.csv"
    ev.write_text("id,source,category,status,occurred_at,lon,lat,address_text\n"
                  "AUD1,hotline_12345,占道经营,closed,2023-05-01T10:00:00Z,114.105,22.555,\n"
                  "AUD2,grid_patrol,垃圾暴露,open,2023-05-02T08:30:00Z,114.115,22.556,\n",
                  encoding="utf-8")
    res = runner.invoke(cli, ["ingest", str(ev), "--kind", "event", "--data-dir", str(copy_dir)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["audit", "list", "--layer", "event", "--data-dir", str(copy_dir)])
    assert '"operation": "ingest"' in res.output and '"rows": 2' in res.output, res.output
    res = runner.invoke(cli, ["audit", "list", "--layer", "keys", "--data-dir", str(copy_dir)])
    ops = [line for line in res.output.splitlines() if line.strip()]
    assert any('"key-add"' in o for o in ops) and any('"key-revoke"' in o for o in ops)
    assert all(demo not in res.output for demo in ("demo-admin-key",))


def test_ogc_answers_vary_with_the_credentials_and_keyed_ones_are_not_stored(
        client: TestClient) -> None:
    """A cache keyed by URL (Qt's, under QGIS) must not hand a department's answer to a
    request without the key: every OGC answer varies with the credentials, and an answer
    to a key is private and not stored."""
    for path in ("/ogc/collections/persons", "/ogc/collections/persons/items?limit=2"):
        keyed = client.get(path, headers=POP)
        assert keyed.status_code == 200
        assert keyed.headers["cache-control"] == "private, no-store"
        assert {"authorization", "x-api-key"} <= {
            v.strip().lower() for v in keyed.headers["vary"].split(",")}
    public = client.get("/ogc/collections/buildings?f=json")
    assert public.status_code == 200
    assert "no-store" not in public.headers.get("cache-control", "")
    assert "x-api-key" in public.headers["vary"].lower()
    assert client.get("/ogc/collections/persons?f=json").status_code == 404
    # The same rule for the app's other routes (one middleware, spatial_api/cache_headers).
    summary = client.get("/indicators/summary", headers=ADMIN)
    assert summary.status_code == 200
    assert summary.headers["cache-control"] == "private, no-store"
    # A route's own Cache-Control is kept, and Vary names each credential once.
    tile = client.get("/tiles/buildings/14/13385/7138.mvt", headers=POP)
    assert tile.status_code == 200
    assert "max-age" in tile.headers["cache-control"]  # the tile route's own choice
    vary = [v.strip().lower() for v in tile.headers["vary"].split(",")]
    assert vary.count("x-api-key") == 1 and vary.count("authorization") == 1

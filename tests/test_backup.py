"""`onemap db backup|restore` on both stores, verified by content hash; `stats --json`
reports the content hash; a restore into a non-empty store needs --replace."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
from click.testing import CliRunner

from gis.store import Store, content_hash
from gis.store.gpkg import GeoPackageStore
from spatial_api.app import create_app
from spatial_api.cli import cli
from spatial_api.cli_db import copy_store
from spatial_api.local_server import free_port, serve_in_thread
from spatial_api.settings import Settings
from tests.conftest import copy_demo

EVENTS = ("id,source,category,status,occurred_at,lon,lat,address_text\n"
          "BK1,hotline_12345,占道经营,closed,2023-05-01T10:00:00Z,114.105,22.555,\n")


def run(*args: str) -> str:
    res = CliRunner().invoke(cli, list(args))
    assert res.exit_code == 0, res.output
    return res.output


def fails(*args: str) -> str:
    res = CliRunner().invoke(cli, list(args))
    assert res.exit_code != 0
    return res.output + str(res.exception or "")


def test_gpkg_backup_while_serving_and_restore(demo_dir: Path, tmp_path: Path) -> None:
    live = tmp_path / "live"
    live.mkdir()
    copy_demo(demo_dir, live)
    before = json.loads(run("stats", "--json", "--data-dir", str(live)))["content_hash"]
    assert len(before) == 64
    out = tmp_path / "bk" / "onemap-backup.gpkg"
    with serve_in_thread(create_app(Settings(data_dir=live)), free_port()) as base:
        assert httpx.get(f"{base}/health", timeout=30).status_code == 200
        report = json.loads(run("db", "backup", str(out), "--data-dir", str(live)).splitlines()[-1])
        assert httpx.get(f"{base}/ogc/collections/buildings/items?limit=2&f=json",
                         timeout=30).status_code == 200
    assert report["content_hash"] == before
    assert json.loads((tmp_path / "bk" / "onemap-backup.gpkg.json").read_text())[
        "content_hash"] == before
    # into an empty data directory
    fresh = tmp_path / "fresh"
    run("db", "restore", str(out), "--data-dir", str(fresh))
    assert json.loads(run("stats", "--json", "--data-dir", str(fresh)))["content_hash"] == before
    # a change, then restore: refused without --replace, back to the backup with it
    (tmp_path / "ev.csv").write_text(EVENTS, encoding="utf-8")
    run("ingest", str(tmp_path / "ev.csv"), "--kind", "event", "--data-dir", str(live))
    changed = json.loads(run("stats", "--json", "--data-dir", str(live)))["content_hash"]
    assert changed != before
    assert "--replace" in fails("db", "restore", str(out), "--data-dir", str(live))
    assert json.loads(run("stats", "--json", "--data-dir", str(live)))["content_hash"] == changed
    run("db", "restore", str(out), "--replace", "--data-dir", str(live))
    store = GeoPackageStore(live / "onemap.gpkg")
    try:
        assert content_hash(store) == before
        ops = [e["operation"] for e in store.audit_entries(layer="*")]
        assert "restore" in ops
    finally:
        store.close()
    # a damaged backup does not verify
    bad = tmp_path / "bad.gpkg"
    shutil.copy(out, bad)
    side = json.loads((tmp_path / "bk" / "onemap-backup.gpkg.json").read_text())
    side["content_hash"] = "0" * 64
    (tmp_path / "bad.gpkg.json").write_text(json.dumps(side))
    assert "differs" in fails("db", "restore", str(bad), "--data-dir", str(tmp_path / "other"))


def test_postgis_backup_and_restore(demo_dir: Path, pg_cluster: object, tmp_path: Path) -> None:
    from gis.store.postgis import PostGISStore

    cluster = pg_cluster
    url = cluster.new_database()  # type: ignore[attr-defined]
    url2 = cluster.new_database()  # type: ignore[attr-defined]
    src = GeoPackageStore(demo_dir / "onemap.gpkg")
    pg: Store = PostGISStore(url)
    try:
        copy_store(src, pg)
        expected = content_hash(src)
    finally:
        src.close()
        pg.close()
    out = tmp_path / "onemap.dump"
    report = json.loads(run("db", "backup", str(out), "--store", url).splitlines()[-1])
    assert report["content_hash"] == expected and report["backend"] == "postgis"
    run("db", "restore", str(out), "--store", url2)
    restored = PostGISStore(url2)
    try:
        assert content_hash(restored) == expected
    finally:
        restored.close()
    assert "--replace" in fails("db", "restore", str(out), "--store", url2)
    run("db", "restore", str(out), "--replace", "--store", url2)
    restored = PostGISStore(url2)
    try:
        assert content_hash(restored) == expected
        assert "restore" in [e["operation"] for e in restored.audit_entries()]
    finally:
        restored.close()
    for u in (url, url2):
        cluster.drop_database(u)  # type: ignore[attr-defined]



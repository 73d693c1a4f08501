"""``onemap sensors keys | ingest | simulate`` (real store, real server for simulate)."""

from __future__ import annotations

import hashlib
import html
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from gis.perception.db import PerceptionDB
from gis.store import open_store
from gis.store.gpkg import GeoPackageStore
from spatial_api.app import create_app
from spatial_api.cli import cli
from spatial_api.local_server import free_port, serve_in_thread
from spatial_api.settings import Settings
from tests.conftest import copy_demo
from viewer.report import _EXTERNAL


@pytest.fixture()
def data(demo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    copy_demo(demo_dir, tmp_path, terrain=True)
    monkeypatch.delenv("ONEMAP_DB_URL", raising=False)
    return tmp_path


def test_keys_are_stored_hashed(data: Path) -> None:
    r = CliRunner().invoke(cli, ["sensors", "keys", "--data-dir", str(data)])
    assert r.exit_code == 0, r.output
    lines = (data / "sensor_keys.csv").read_text().splitlines()[1:]
    keys = dict(line.split(",") for line in lines)
    store = GeoPackageStore(data / "onemap.gpkg")
    try:
        hashes = PerceptionDB(store).key_hashes()
        assert set(hashes) == set(keys) and len(keys) == store.count("sensor")
        for sid, key in keys.items():
            assert hashes[sid] == hashlib.sha256(key.encode()).hexdigest() != key
    finally:
        store.close()


@pytest.mark.parametrize("backend", ["geopackage", "postgis"])
def test_ingest_csv_one_transaction(backend: str, data: Path, request: pytest.FixtureRequest,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    url = None
    if backend == "postgis":
        cluster = request.getfixturevalue("pg_cluster")
        url = cluster.new_database()
        assert runner.invoke(cli, ["db", "copy", "--from", f"gpkg:{data / 'onemap.gpkg'}",
                                   "--to", url]).exit_code == 0
        monkeypatch.setenv("ONEMAP_DB_URL", url)
    store = open_store(url=url) if url else GeoPackageStore(data / "onemap.gpkg")
    try:
        sid = sorted(store.query("sensor", columns=["id"])["id"])[0]
        db = PerceptionDB(store)
        before = db.count_readings()
        good = data / "good.csv"
        rows = [f"{sid},2030-01-01T00:{m:02d}:00Z,{m / 10}" for m in range(50)]
        good.write_text("sensor_id,t,value\n" + "\n".join(rows + rows[:5]) + "\n")
        r = runner.invoke(cli, ["sensors", "ingest", str(good), "--data-dir", str(data)])
        # 2030 is in the future: every row refused, nothing written.
        assert r.exit_code != 0 and "future" in r.output
        rows = [f"{sid},2020-01-01T00:{m:02d}:00Z,{m / 10}" for m in range(50)]
        good.write_text("sensor_id,t,value\n" + "\n".join(rows + rows[:5]) + "\n")
        r = runner.invoke(cli, ["sensors", "ingest", str(good), "--data-dir", str(data)])
        assert r.exit_code == 0, r.output
        assert db.count_readings() == before + 50  # the 5 repeated rows stored once
        bad = data / "bad.csv"
        bad.write_text("sensor_id,t,value\n"
                       f"{sid},2020-02-01T00:00:00Z,1\n"
                       f"{sid},2020-02-01T00:01:00Z,abc\n"
                       f"NOPE,2020-02-01T00:02:00Z,1\n"
                       f"{sid},not-a-time,1\n")
        r = runner.invoke(cli, ["sensors", "ingest", str(bad), "--data-dir", str(data)])
        assert r.exit_code != 0
        for part in ("row 2: non-numeric value", "row 3: unknown sensor",
                     "row 4: unparsable time"):
            assert part in r.output, r.output
        assert db.count_readings() == before + 50
    finally:
        store.close()
        if url is not None:
            request.getfixturevalue("pg_cluster").drop_database(url)


def test_simulated_storm_raises_and_clears_alerts(data: Path) -> None:
    app = create_app(Settings(data_dir=data, offline_check_s=0, mqtt_embedded=False))
    with serve_in_thread(app, free_port()) as base:
        r = CliRunner().invoke(cli, ["sensors", "simulate", "--storm", "--url", base,
                                     "--speed", "0", "--minutes", "240"])
        assert r.exit_code == 0, r.output
        fc = httpx.get(f"{base}/alerts", headers={"X-API-Key": "demo-emergency-key"}).json()
        started = [f for f in fc["features"] if f["properties"]["kind"] == "threshold"]
        assert started, "the storm crossed no threshold"
        # The cell has moved past by the end: most alerts have ended again.
        ended = [f for f in started if f["properties"]["ended_at"] is not None]
        assert len(ended) >= len(started) // 2


def test_alert_report_is_offline_and_has_counts(data: Path, tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=data, offline_check_s=0, mqtt_embedded=False))
    with serve_in_thread(app, free_port()) as base:
        svc = app.state.perception
        sid = sorted(s for s, st in svc.sensors.items() if st.place.sensor_type == "smoke")[0]
        r = httpx.post(f"{base}/sensors/{sid}/readings", headers={"X-API-Key": "demo-admin-key"},
                       json={"t": "2026-01-01T00:00:00Z", "value": 50.0})
        assert r.status_code == 201
        fc = httpx.get(f"{base}/alerts", headers={"X-API-Key": "demo-admin-key"}).json()
        alert = next(f["properties"] for f in fc["features"] if f["properties"]["sensor_id"] == sid)
        impact = httpx.get(f"{base}/alerts/{alert['id']}/impact",
                           headers={"X-API-Key": "demo-admin-key"}).json()
    out = tmp_path / "alert.html"
    r = CliRunner().invoke(cli, ["report", "alert", str(alert["id"]), "--out", str(out),
                                 "--data-dir", str(data)])
    assert r.exit_code == 0, r.output
    page = out.read_text(encoding="utf-8")
    assert not _EXTERNAL.search(page) and not _EXTERNAL.search(html.unescape(page))
    assert f"<td>{impact['persons_65_plus']}</td>" in page
    for f in impact["facilities"]:
        assert f["id"] in page
    r = CliRunner().invoke(cli, ["report", "alert", "999999", "--out", str(out),
                                 "--data-dir", str(data)])
    assert r.exit_code != 0 and "no alert" in r.output

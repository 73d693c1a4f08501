"""Crash safety: a real server and a large ingest are SIGKILLed midway; after a
restart the store's content hash is the one before the ingest, the file passes
SQLite's integrity check, the audit chain is intact and the server answers.
The server is also SIGKILLed in the middle of a readings burst (both stores):
acknowledged batches survive whole, no batch is half written, no tile is stale."""

from __future__ import annotations

import itertools
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from gis.store import content_hash
from gis.store.gpkg import GeoPackageStore
from layers.audit import verify_store
from spatial_api.local_server import free_port
from tests.conftest import copy_demo

ROOT = Path(__file__).resolve().parent.parent
ROWS = 300_000


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("ONEMAP_DB_URL", None)
    return env


def start_server(data_dir: Path, port: int,
                 env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "spatial_api.cli", "serve", "--no-packs",
                             "--data-dir", str(data_dir), "--port", str(port)],
                            env=env or _env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise AssertionError("the server did not start")


def test_sigkill_midway_through_an_ingest(demo_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()

    copy_demo(demo_dir, data)
    big = tmp_path / "events.csv"
    rnd = random.Random(3)
    with big.open("w", encoding="utf-8") as fh:
        fh.write("id,source,category,status,occurred_at,lon,lat,address_text\n")
        for i in range(ROWS):
            fh.write(f"CR{i},hotline_12345,占道经营,closed,2023-05-01T10:00:00Z,"
                     f"{114.10 + rnd.random() * 0.03:.6f},{22.54 + rnd.random() * 0.02:.6f},\n")
    store = GeoPackageStore(data / "onemap.gpkg")
    before = content_hash(store)
    store.close()

    port = free_port()
    env = _env()
    env["ONEMAP_TILES_CACHE_DIR"] = str(tmp_path / "tilecache")  # survives the restart
    server = start_server(data, port, env)
    base = f"http://127.0.0.1:{port}"
    assert httpx.get(f"{base}/ogc/collections/events?f=json", timeout=30).status_code in (200,
                                                                                          404)
    from tiles.engine import tiles_covering

    t = next(iter(tiles_covering((114.115, 22.55, 114.115, 22.55), 16)))
    tile_url = f"{base}/tiles/events/{t.z}/{t.x}/{t.y}.mvt"
    key = {"X-API-Key": "demo-emergency-key"}
    tile_before = httpx.get(tile_url, headers=key, timeout=60).content
    ingest = subprocess.Popen([sys.executable, "-m", "spatial_api.cli", "ingest", str(big),
                               "--kind", "event", "--data-dir", str(data)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # midway: the ingest holds SQLite's write lock (its one transaction is open)
    # and none of its rows is committed yet
    probe = sqlite3.connect(data / "onemap.gpkg", timeout=0, isolation_level=None)
    while True:
        assert ingest.poll() is None, "the ingest ended before it was killed"
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
        except sqlite3.OperationalError:  # "database is locked": the ingest is writing
            break
        time.sleep(0.02)
    assert probe.execute("SELECT count(*) FROM events WHERE id = 'CR0'").fetchone()[0] == 0
    probe.close()
    os.kill(ingest.pid, signal.SIGKILL)
    os.kill(server.pid, signal.SIGKILL)
    assert ingest.wait(30) == -signal.SIGKILL and server.wait(30) == -signal.SIGKILL

    server = start_server(data, port, env)
    try:
        r = httpx.get(f"{base}/ogc/collections/buildings/items?limit=2&f=json", timeout=30)
        assert r.status_code == 200 and r.json()["features"]
        assert httpx.get(tile_url, headers=key, timeout=60).content == tile_before
        conn = sqlite3.connect(data / "onemap.gpkg")
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
        store = GeoPackageStore(data / "onemap.gpkg")
        try:
            assert content_hash(store) == before
            assert store.count("event", where={"id": "CR0"}) == 0
            assert verify_store(store).ok
        finally:
            store.close()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)


def test_sigkill_midway_through_an_ingest_on_postgis(pg_cluster: object, demo_dir: Path,
                                                      tmp_path: Path) -> None:
    # The same on PostGIS: the ingest's one transaction dies with its connection; the
    # tile (cached in memory and on disk before the crash) shows nothing of it after.
    import psycopg

    from gis.store.postgis import PostGISStore
    from spatial_api.cli_db import copy_store
    from tiles.engine import tiles_covering

    url = pg_cluster.new_database()  # type: ignore[attr-defined]
    try:
        src, dst = GeoPackageStore(demo_dir / "onemap.gpkg"), PostGISStore(url)
        try:
            copy_store(src, dst)
            before = content_hash(dst)
        finally:
            src.close()
            dst.close()
        data = tmp_path / "data"
        data.mkdir()
        big = tmp_path / "events.csv"
        rnd = random.Random(3)
        with big.open("w", encoding="utf-8") as fh:
            fh.write("id,source,category,status,occurred_at,lon,lat,address_text\n")
            for i in range(ROWS):
                fh.write(f"CR{i},hotline_12345,占道经营,closed,2023-05-01T10:00:00Z,"
                         f"{114.10 + rnd.random() * 0.03:.6f},"
                         f"{22.54 + rnd.random() * 0.02:.6f},\n")
        env = _env()
        env["ONEMAP_DB_URL"] = url
        env["ONEMAP_TILES_CACHE_DIR"] = str(tmp_path / "tilecache")
        t = next(iter(tiles_covering((114.115, 22.55, 114.115, 22.55), 16)))
        tile_url = f"/tiles/events/{t.z}/{t.x}/{t.y}.mvt"
        key = {"X-API-Key": "demo-emergency-key"}
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_server(data, port, env)
        tile_before = httpx.get(base + tile_url, headers=key, timeout=60).content
        ingest = subprocess.Popen([sys.executable, "-m", "spatial_api.cli", "ingest", str(big),
                                   "--kind", "event", "--data-dir", str(data)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # midway: the ingest's COPY into events holds its lock; nothing is committed
        with psycopg.connect(url, autocommit=True) as probe:
            while True:
                assert ingest.poll() is None, "the ingest ended before it was killed"
                copying = probe.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'COPY events%' "
                    "AND state IN ('active', 'idle in transaction')").fetchone()
                if copying and copying[0]:
                    break
                time.sleep(0.02)
            assert probe.execute(
                "SELECT count(*) FROM events WHERE id = 'CR0'").fetchone() == (0,)
        os.kill(ingest.pid, signal.SIGKILL)
        os.kill(server.pid, signal.SIGKILL)
        assert ingest.wait(30) == -signal.SIGKILL and server.wait(30) == -signal.SIGKILL

        server = start_server(data, port, env)
        try:
            r = httpx.get(f"{base}/ogc/collections/buildings/items?limit=2&f=json", timeout=30)
            assert r.status_code == 200 and r.json()["features"]
            assert httpx.get(base + tile_url, headers=key, timeout=60).content == tile_before
            store = PostGISStore(url)
            try:
                assert content_hash(store) == before
                assert store.count("event", where={"id": "CR0"}) == 0
            finally:
                store.close()
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
    finally:
        pg_cluster.drop_database(url)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------
# SIGKILL in the middle of a readings burst (POST /sensors/{id}/readings batches)
#
# Rule tested: every batch the server acknowledged (201) is in the store whole, every
# other batch is in it whole or not at all, and nothing else changed. The content hash
# cannot equal the one before the burst: batches committed (and acknowledged) before
# the kill must stay — losing them would be the failure. So the check is per batch
# (atomicity and durability of each acknowledged write) plus the rows outside the
# burst (unchanged), which together say the same as a hash of "before + the batches
# present".

BATCH = 300   # readings per POST
THREADS = 6   # concurrent posters
MAX_BATCHES = 400


def _burst(base: str, sensors: list[str], t0: int, status: dict[int, int | None],
           stop: threading.Event, counter: Iterator[int]) -> None:
    key = {"X-API-Key": "demo-emergency-key"}
    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            i = next(counter)
            if i >= MAX_BATCHES:
                return
            sid = sensors[i % len(sensors)]
            body = [{"t": _iso(t0 + i * BATCH + j), "value": 0.01} for j in range(BATCH)]
            status[i] = None  # sent; no answer yet
            try:
                status[i] = client.post(f"{base}/sensors/{sid}/readings", json=body,
                                        headers=key).status_code
            except httpx.HTTPError:
                return  # the server is gone


def _iso(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _readings_burst_crash(data: Path, env: dict[str, str], open_store: Any,
                          readings_in: Any) -> None:
    """Shared by both backends: burst, SIGKILL, restart, check (see the rule above)."""
    from layers.access import Principal
    from layers.catalog import default_catalog
    from tiles.engine import TileEngine, tiles_covering

    store = open_store()
    try:
        sensors = store.query("sensor", columns=["id"], order_by=["id"])
        ids = [str(v) for v in sensors["id"]][:12]
        first = sensors.geometry.iloc[0]
        before_total = readings_in(store, None)
    finally:
        store.close()
    # the burst's instants: the last day, after every demo reading, so they are each
    # sensor's latest (the sensors' tiles show it) and run through the rules
    t0 = int(time.time()) - MAX_BATCHES * BATCH - 600
    t = next(iter(tiles_covering((first.x, first.y, first.x, first.y), 15)))
    tile_path = f"/tiles/sensors/{t.z}/{t.x}/{t.y}.mvt"
    env = dict(env, ONEMAP_MQTT_EMBEDDED="false")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(data, port, env)
    tile_before = httpx.get(base + tile_path, timeout=60).content  # cached, on disk too
    assert tile_before
    status: dict[int, int | None] = {}
    stop = threading.Event()
    counter = itertools.count()
    threads = [threading.Thread(target=_burst, args=(base, ids, t0, status, stop, counter))
               for _ in range(THREADS)]
    for th in threads:
        th.start()
    try:
        deadline = time.monotonic() + 300
        while sum(1 for s in list(status.values()) if s == 201) < 8:
            assert time.monotonic() < deadline, "the burst did not get going"
            assert server.poll() is None
            time.sleep(0.01)
        in_flight = [i for i, s in list(status.items()) if s is None]
        os.kill(server.pid, signal.SIGKILL)
        assert server.wait(30) == -signal.SIGKILL
    finally:
        stop.set()
        for th in threads:
            th.join(60)
    assert in_flight, "no batch was in flight when the server was killed"
    assert all(s in (201, None) for s in status.values()), status

    server = start_server(data, port, env)
    try:
        r = httpx.get(f"{base}/ogc/collections/buildings/items?limit=2&f=json", timeout=30)
        assert r.status_code == 200 and r.json()["features"]
        tile_after = httpx.get(base + tile_path, timeout=60).content
        store = open_store()
        try:
            present = 0
            for i, s in status.items():
                lo = t0 + i * BATCH
                n = readings_in(store, (ids[i % len(ids)], lo, lo + BATCH - 1))
                assert n in (0, BATCH), f"batch {i} half written: {n} of {BATCH}"
                if s == 201:
                    assert n == BATCH, f"acknowledged batch {i} lost"
                present += n // BATCH
            # nothing else was written or lost
            assert readings_in(store, None) == before_total + present * BATCH
            assert present >= 8
            # no stale tile: the one served now is the one the store gives now
            fresh = TileEngine(default_catalog()).render("sensors", store, t, Principal())
            assert tile_after == fresh.data
            assert tile_after != tile_before  # the sensor's latest reading moved
        finally:
            store.close()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)


def test_sigkill_midway_through_a_readings_burst(demo_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    copy_demo(demo_dir, data)
    env = _env()
    env["ONEMAP_TILES_CACHE_DIR"] = str(tmp_path / "tilecache")  # survives the restart

    def readings_in(store: Any, batch: tuple[str, int, int] | None) -> int:
        if batch is None:
            return int(store.sql_read("SELECT count(*) FROM readings")[0][0])
        return int(store.sql_read("SELECT count(*) FROM readings WHERE sensor_id = ? AND "
                                  "ts BETWEEN ? AND ?", batch)[0][0])

    _readings_burst_crash(data, env, lambda: GeoPackageStore(data / "onemap.gpkg"),
                          readings_in)
    conn = sqlite3.connect(data / "onemap.gpkg")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_sigkill_midway_through_a_readings_burst_on_postgis(pg_cluster: object,
                                                            demo_dir: Path,
                                                            tmp_path: Path) -> None:
    from gis.store.postgis import PostGISStore
    from spatial_api.cli_db import copy_store

    url = pg_cluster.new_database()  # type: ignore[attr-defined]
    try:
        src, dst = GeoPackageStore(demo_dir / "onemap.gpkg"), PostGISStore(url)
        try:
            copy_store(src, dst)
        finally:
            src.close()
            dst.close()
        data = tmp_path / "data"
        data.mkdir()
        env = _env()
        env["ONEMAP_DB_URL"] = url
        env["ONEMAP_TILES_CACHE_DIR"] = str(tmp_path / "tilecache")

        def readings_in(store: Any, batch: tuple[str, int, int] | None) -> int:
            if batch is None:
                return int(store.sql_read("SELECT count(*) FROM readings")[0][0])
            return int(store.sql_read("SELECT count(*) FROM readings WHERE sensor_id = ? "
                                      "AND ts BETWEEN ? AND ?", batch)[0][0])

        _readings_burst_crash(data, env, lambda: PostGISStore(url), readings_in)
    finally:
        pg_cluster.drop_database(url)  # type: ignore[attr-defined]

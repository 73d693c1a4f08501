"""Several server workers (``onemap serve --workers 2``) over one store: a write by
another process (``onemap ingest``) reaches every worker's tile cache, so no
worker keeps serving the tile it cached before the write (issue 16)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import mapbox_vector_tile
import pytest

from spatial_api.local_server import free_port
from tiles.engine import tiles_covering

ROOT = Path(__file__).resolve().parent.parent
KEY = {"X-API-Key": "demo-emergency-key"}
LON, LAT = 114.1234, 22.5567


def _env(db_url: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("ONEMAP_DB_URL", None)
    if db_url is not None:
        env["ONEMAP_DB_URL"] = db_url
    env["ONEMAP_MQTT_EMBEDDED"] = "false"  # one broker per worker is not what is tested
    return env


def _copy_store(demo_dir: Path, dst: Path) -> Path:
    src = sqlite3.connect(demo_dir / "onemap.gpkg")
    out = sqlite3.connect(dst / "onemap.gpkg")
    src.backup(out)
    src.close()
    out.close()
    return dst


@pytest.fixture()
def workers(demo_dir: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    data = _copy_store(demo_dir, tmp_path)
    yield from _serve(data, _env())


def _serve(data: Path, env: dict[str, str], workers: int = 2) -> Iterator[tuple[str, Path]]:
    """A ``onemap serve --workers N`` subprocess on ``data``; yields its base URL."""
    port = free_port()
    log = (data / "server.log").open("wb")  # a file, not a pipe nobody reads while it runs
    proc = subprocess.Popen([sys.executable, "-m", "spatial_api.cli", "serve", "--workers",
                             str(workers), "--no-packs", "--data-dir", str(data),
                             "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            assert proc.poll() is None, (data / "server.log").read_text()[-3000:]
            try:
                if httpx.get(f"{base}/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.5)
        yield base, data
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def _event_ids(body: bytes) -> set[str]:
    layers = mapbox_vector_tile.decode(body)
    return {str(f["properties"].get("id")) for f in layers.get("events", {}).get("features", [])}


def _cache_counts(base: str) -> tuple[int, int]:
    """(hits, misses) of the tile cache of whichever worker answers."""
    values = {}
    for line in httpx.get(f"{base}/metrics", timeout=30).text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("onemap_tile_cache_hits_total", "onemap_tile_cache_misses_total"):
            values[name] = int(float(value))
    return values["onemap_tile_cache_hits_total"], values["onemap_tile_cache_misses_total"]


def _check_write_reaches_every_worker(base: str, data: Path, tmp_path: Path,
                                      env: dict[str, str]) -> None:
    t = next(iter(tiles_covering((LON, LAT, LON, LAT), 16)))
    url = f"{base}/tiles/events/{t.z}/{t.x}/{t.y}.mvt"
    # Fresh connections, so the kernel hands them to either worker; each worker
    # renders the tile once and then answers from its cache.
    n = 30
    before: set[str] = set()
    for _ in range(n):
        r = httpx.get(url, headers=KEY, timeout=60)
        assert r.status_code == 200
        before |= _event_ids(r.content)
    assert "EV-WORKERS-1" not in before
    # No single worker answered every request, so both hold the tile in their cache.
    for _ in range(10):
        hits, misses = _cache_counts(base)
        assert misses >= 1 and 0 < hits + misses < n, (hits, misses)
    geojson = tmp_path / "event.geojson"
    geojson.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "geometry": {"type": "Point", "coordinates": [LON, LAT]},
        "properties": {"id": "EV-WORKERS-1", "source": "hotline_12345",
                       "category": "noise", "status": "open",
                       "occurred_at": "2024-05-01T10:00:00Z"}}]}), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "spatial_api.cli", "ingest", str(geojson),
                           "--kind", "event", "--data-dir", str(data)],
                          env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    for _ in range(20):
        r = httpx.get(url, headers=KEY, timeout=60)
        assert r.status_code == 200
        assert "EV-WORKERS-1" in _event_ids(r.content), "a worker served a stale tile"


def test_two_workers_see_another_process_write(workers: tuple[str, Path],
                                               tmp_path: Path) -> None:
    base, data = workers
    _check_write_reaches_every_worker(base, data, tmp_path, _env())


def test_two_workers_on_postgis_see_another_process_write(
        pg_cluster: object, demo_dir: Path, tmp_path: Path) -> None:
    from gis.store.gpkg import GeoPackageStore
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
        data = _copy_store(demo_dir, tmp_path)  # terrain and the like; the store is PostGIS
        env = _env(url)
        for base, _ in _serve(data, env):
            _check_write_reaches_every_worker(base, data, tmp_path, env)
    finally:
        pg_cluster.drop_database(url)  # type: ignore[attr-defined]


def test_disk_cache_filled_before_a_write_is_emptied_at_restart(
        demo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A server with an on-disk tile cache stops; another process writes; at the next
    # start the cached files of the old data must not be served.
    import geopandas as gpd
    import shapely

    from gis.store.gpkg import GeoPackageStore
    from layers.access import Principal
    from layers.catalog import default_catalog
    from spatial_api.tile_routes import start_tiles

    data = _copy_store(demo_dir, tmp_path)
    monkeypatch.setenv("ONEMAP_TILES_CACHE_DIR", str(tmp_path / "tilecache"))
    t = next(iter(tiles_covering((LON, LAT, LON, LAT), 16)))
    who = Principal("emergency")

    def events_in_tile() -> set[str]:
        store = GeoPackageStore(data / "onemap.gpkg")
        state = start_tiles(store, default_catalog(), "http://h", data)
        try:
            return _event_ids(state.service.tile("events", t, who).raw())
        finally:
            state.stop()
            store.close()

    assert "EV-RESTART-1" not in events_in_tile()
    assert any((tmp_path / "tilecache").rglob("*.mvt.gz"))  # cached on disk
    writer = GeoPackageStore(data / "onemap.gpkg")
    writer.ingest("event", gpd.GeoDataFrame(
        [{"id": "EV-RESTART-1", "source": "hotline_12345", "category": "noise",
          "status": "open", "occurred_at": "2024-05-01T10:00:00Z"}],
        geometry=gpd.GeoSeries([shapely.Point(LON, LAT)], crs="EPSG:4326")))
    writer.close()
    assert "EV-RESTART-1" in events_in_tile()

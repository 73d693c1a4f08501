"""Eight API clients read while an ingest writes, on both backends.

A real HTTP server (uvicorn in a thread) serves the demo; eight threads with
their own HTTP clients page through OGC API Features items inside a small box
while the main thread ingests 3,000 facilities into that box in one
transaction. Every response must be 200, and every ``numberMatched`` must be
the count before or after the ingest, never one in between.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import httpx
import numpy as np
import pytest
import shapely

from gis.store.gpkg import GeoPackageStore
from gis.store.postgis import PostGISStore
from spatial_api.app import create_app
from spatial_api.cli_db import copy_store
from spatial_api.local_server import free_port, serve_in_thread
from spatial_api.settings import Settings
from tests.pg import Cluster

BOX = (114.1000, 22.5600, 114.1050, 22.5650)
N_NEW = 3000
CLIENTS = 8


def _facilities(n: int) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(11)
    pts = shapely.points(rng.uniform(BOX[0], BOX[2], n), rng.uniform(BOX[1], BOX[3], n))
    return gpd.GeoDataFrame(
        {"id": [f"CONC{i:05d}" for i in range(n)], "name": [f"站点{i}" for i in range(n)],
         "facility_type": ["parking"] * n, "valid_from": ["2024-01-01"] * n},
        geometry=gpd.GeoSeries(pts, crs="EPSG:4326"))


@pytest.fixture(params=["geopackage", "postgis"])
def served(request: pytest.FixtureRequest, demo_dir: Path, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, object]]:
    """A server on a private copy of the demo; yields (base URL, the server's writer store)."""
    data = tmp_path / "data"
    shutil.copytree(demo_dir, data)
    url = None
    cluster: Cluster | None = None
    if request.param == "postgis":
        cluster = request.getfixturevalue("pg_cluster")
        url = cluster.new_database()
        src = GeoPackageStore(data / "onemap.gpkg")
        dst = PostGISStore(url)
        copy_store(src, dst)
        src.close()
        dst.close()
        monkeypatch.setenv("ONEMAP_DB_URL", url)
    else:
        monkeypatch.delenv("ONEMAP_DB_URL", raising=False)
    port = free_port()
    app = create_app(Settings(data_dir=data, port=port))
    try:
        with serve_in_thread(app, port, log_level="error") as base:
            yield base, app.state.store
    finally:
        if cluster is not None and url is not None:
            cluster.drop_database(url)


def test_readers_see_old_or_new_never_half(served: tuple[str, object]) -> None:
    base, store = served
    box = ",".join(str(v) for v in BOX)
    items = f"{base}/ogc/collections/facilities/items?bbox={box}&limit=50&skipGeometry=true"
    before = httpx.get(items, timeout=30).json()["numberMatched"]
    seen: list[int] = []
    errors: list[str] = []
    writing = threading.Event()
    done = threading.Event()
    during = [0]
    lock = threading.Lock()

    def reader() -> None:
        with httpx.Client(timeout=60) as client:
            while not done.is_set():
                r = client.get(items)
                if r.status_code != 200:
                    errors.append(f"{r.status_code} {r.text[:200]}")
                    return
                n = r.json()["numberMatched"]
                with lock:
                    seen.append(n)
                    if writing.is_set():
                        during[0] += 1

    threads = [threading.Thread(target=reader) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    writing.set()
    store.ingest("facility", _facilities(N_NEW))  # type: ignore[attr-defined]
    writing.clear()
    time.sleep(0.5)
    done.set()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors[:3]
    assert set(seen) <= {before, before + N_NEW}, sorted(set(seen))
    assert seen[-1] == before + N_NEW
    assert before in seen and during[0] > 0
    after = httpx.get(items, timeout=30).json()["numberMatched"]
    assert after == before + N_NEW

"""A newcomer's server lists offline packs without ``make packs``, never stale ones.

A fresh data directory holding only the seeded demo store is served (uvicorn, real
HTTP) as ``onemap serve`` does (``packs_on_start``): ``/packs`` fills in the
background with the district and every subdistrict, and a pack downloaded from the
server reads with the ``pmtiles`` reader into a vector tile with buildings. After
the store is rebuilt, the previous packs are not listed, and are rebuilt.
"""

from __future__ import annotations

import gzip
import time
from pathlib import Path
from typing import Any

import httpx
import mapbox_vector_tile
import morecantile
import pytest
from click.testing import CliRunner
from pmtiles.reader import MmapSource, Reader

from gis.store.gpkg import GeoPackageStore
from spatial_api.app import create_app
from spatial_api.cli import cli
from spatial_api.local_server import free_port, serve_in_thread
from spatial_api.settings import Settings
from tests.conftest import copy_demo
from tiles.packs import pack_areas, pack_store_id, store_identity

TMS = morecantile.tms.get("WebMercatorQuad")
#: A guard against a hung build, not a speed requirement.
GUARD_S = 600


@pytest.fixture()
def fresh(demo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data directory with the demo store only (no packs, no terrain)."""
    monkeypatch.delenv("ONEMAP_TILES_PACKS_DIR", raising=False)
    d = tmp_path / "data"
    d.mkdir()
    copy_demo(demo_dir, d)
    return d


def _serve(data: Path, packs_on_start: bool) -> Any:
    port = free_port()
    app = create_app(Settings(data_dir=data, port=port, packs_on_start=packs_on_start))
    return serve_in_thread(app, port)


def _wait_ready(client: httpx.Client) -> dict[str, Any]:
    deadline = time.monotonic() + GUARD_S
    while True:
        doc: dict[str, Any] = client.get("/packs").json()
        if doc["status"] != "building" or time.monotonic() > deadline:
            return doc
        assert client.get("/health").status_code == 200  # requests are not blocked
        time.sleep(0.2)


def _store_id(data: Path) -> tuple[str, list[str]]:
    store = GeoPackageStore(data / "onemap.gpkg")
    try:
        return store_identity(store), pack_areas(store)
    finally:
        store.close()


def test_first_run_lists_readable_packs(fresh: Path, tmp_path: Path) -> None:
    store_id, areas = _store_id(fresh)
    assert len(areas) == 11  # the district and its 10 subdistricts
    with _serve(fresh, True) as base, httpx.Client(base_url=base, timeout=60) as client:
        doc = _wait_ready(client)
        assert doc["status"] == "ready"
        assert sorted(p["name"] for p in doc["packs"]) == sorted(areas)
        district = next(p for p in doc["packs"] if p["name"] == "district")
        assert district["minzoom"] == 10 and district["maxzoom"] == 16
        r = client.get(district["url"].removeprefix(base))
        assert r.status_code == 200
        part = client.get(district["url"].removeprefix(base), headers={"Range": "bytes=0-126"})
        assert part.status_code == 206 and len(part.content) == 127
    path = tmp_path / "district.pmtiles"
    path.write_bytes(r.content)
    with path.open("rb") as f:
        reader = Reader(MmapSource(f))
        assert reader.metadata()["store_id"] == store_id
        lon, lat = (district["center"][0], district["center"][1])
        t = TMS.tile(lon, lat, 14)
        data = reader.get(14, t.x, t.y)
    assert data is not None
    layers = mapbox_vector_tile.decode(gzip.decompress(data))
    assert layers["buildings"]["features"]
    assert not list((fresh / "packs").glob("*.tmp")) and not list((fresh / "packs").glob(".*"))


def test_a_rebuilt_store_gets_new_packs_never_the_old(fresh: Path) -> None:
    # packs of the demo as it is, built on the command line (as `make packs` does)
    r = CliRunner().invoke(cli, ["tiles", "packs-all", "--minzoom", "12", "--maxzoom", "13",
                                 "--data-dir", str(fresh)])
    assert r.exit_code == 0, r.output
    old_id, areas = _store_id(fresh)
    assert pack_store_id(fresh / "packs" / "district.pmtiles") == old_id
    # the demo is rebuilt (a new build time)
    store = GeoPackageStore(fresh / "onemap.gpkg")
    store.set_meta({"build_time": "2099-01-01T00:00:00Z"})
    store.close()
    new_id, _ = _store_id(fresh)
    assert new_id != old_id
    with _serve(fresh, False) as base, httpx.Client(base_url=base, timeout=60) as client:
        doc = client.get("/packs").json()
        assert doc["packs"] == []  # the old demo's packs are not offered
    with _serve(fresh, True) as base, httpx.Client(base_url=base, timeout=60) as client:
        doc = _wait_ready(client)
        assert doc["status"] == "ready"
        assert sorted(p["name"] for p in doc["packs"]) == sorted(areas)
        assert doc["packs"][0]["minzoom"] == 10
    assert all(pack_store_id(fresh / "packs" / f"{a}.pmtiles") == new_id for a in areas)


def test_a_write_during_a_build_does_not_split_its_identity(fresh: Path) -> None:
    """Every pack of one build records the identity it was started for: a write while
    the packs render (a start-up task, a reading) used to give the last ones the new
    identity, and the server, listing by the identity it started with, hid them."""
    from layers.catalog import default_catalog
    from tiles.packs import PackBuilder, build_pack, list_packs

    store = GeoPackageStore(fresh / "onemap.gpkg")
    try:
        before, areas = store_identity(store), pack_areas(store)
        writes = iter(range(10**6))

        def write_meanwhile(done: int, total: int) -> None:
            if done == 1:
                store.set_meta({"last_write": f"2099-01-01T00:00:{next(writes):02d}Z"})

        out = fresh / "packs" / "one.pmtiles"
        build_pack(store, default_catalog(), out, area=areas[1], minzoom=12, maxzoom=13,
                   progress=write_meanwhile)
        assert store_identity(store) != before
        assert pack_store_id(out) == before  # the identity when the build started
        out.unlink()
        # a whole build: every pack carries the identity the builder was given
        builder = PackBuilder(store, default_catalog(), fresh / "packs", minzoom=12,
                              maxzoom=12, store_id="server-start")
        builder._progress = write_meanwhile  # type: ignore[method-assign]
        builder._run()
        assert builder.state == "ready"
        listed = sorted(p["name"] for p in list_packs(fresh / "packs", "server-start"))
        assert listed == sorted(areas)
    finally:
        store.close()

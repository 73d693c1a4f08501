"""OneMap on PostGIS against tipg 1.6 on the same database (issue 15, "Serving from PostGIS").

tipg (Development Seed's OGC Features and Tiles server for PostGIS, from PyPI) is the
peer: both serve the full-scale demo from one PostGIS database (``bench/pg_full.py``:
loaded once with ``onemap db copy``, kept between runs), each in its own process on
a local port, over real HTTP with the same client. tipg runs in its own virtual
environment, ``ONEMAP_BENCH_TIPG_PYTHON`` (default ``.venv-tipg/bin/python``), which
``make bench`` creates with ``pip install tipg==1.6.*``; without it the anchor column
says so.

Figures (p50 of ``REPEAT`` requests after a warm-up, ratios OneMap/tipg, below 1 is
OneMap ahead):

- items ``limit=1000`` of buildings and enterprises, all and with a bbox over 20 % of
  the district, with the bytes on the wire (``Accept-Encoding: gzip``; both compress);
- uncached tiles: every request asks for a tile neither server has served before
  (distinct tiles over central Luohu, the same list for both), roads at z12/z14/z16
  and buildings at z14/z16 (OneMap draws buildings from z14). tipg gets the same
  properties, extent (4096) and buffer (64) as OneMap's tiles; it encodes every row
  without generalisation, OneMap drops sub-pixel shapes and simplifies by a pixel.

Timed figures are printed, never asserted.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import morecantile

from bench.bench_ogc import _fifth_of_district, _wait
from bench.common import ms, p
from bench.pg_full import full_database
from spatial_api.local_server import free_port
from tiles.engine import TILE_FIELDS

TIPG_PYTHON = os.environ.get("ONEMAP_BENCH_TIPG_PYTHON", ".venv-tipg/bin/python")
REPEAT = 9
#: Centre of the tile grids (central Luohu, where buildings are densest).
CENTRE = (114.118, 22.548)
GZIP = {"Accept-Encoding": "gzip"}
TILE_CASES = [("roads", 12), ("roads", 14), ("roads", 16), ("buildings", 14),
              ("buildings", 16)]


def tile_props(layer_id: str) -> list[str]:
    """The properties of OneMap's tiles of a layer (tiles.engine.TILE_FIELDS), for tipg."""
    from layers.catalog import EntityLayer, default_catalog

    layer = default_catalog()[layer_id]
    assert isinstance(layer, EntityLayer)
    cols = layer.column_list
    keep = TILE_FIELDS.get(layer_id)
    return list(dict.fromkeys(["id", *(c for c in cols if keep is None or c in keep)]))


@contextmanager
def onemap_pg_server(url: str) -> Iterator[str]:
    """``onemap serve`` on the PostGIS database ``url`` (public, no packs, no broker)."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="onemap-bench-") as data_dir:
        env = {**os.environ, "ONEMAP_DB_URL": url, "ONEMAP_MQTT_EMBEDDED": "false",
               "ONEMAP_OFFLINE_CHECK_S": "0"}
        proc = subprocess.Popen([sys.executable, "-m", "spatial_api.cli", "serve", "--host",
                                 "127.0.0.1", "--port", str(port), "--no-packs",
                                 "--data-dir", data_dir], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            _wait(base + "/health", seconds=300)
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=30)


@contextmanager
def tipg_server(url: str, tables: list[str]) -> Iterator[str | None]:
    """tipg 1.6 on ``url`` in its own Python (None when that Python is missing)."""
    if not Path(TIPG_PYTHON).exists():
        yield None
        return
    port = free_port()
    import json

    env = {**os.environ, "DATABASE_URL": url, "TIPG_DB_SCHEMAS": '["public"]',
           "TIPG_DB_TABLES": json.dumps(tables), "TIPG_TILE_BUFFER": "64",
           "TIPG_TILE_RESOLUTION": "4096", "TIPG_MAX_FEATURES_PER_TILE": "50000",
           "TIPG_ADD_TILES_VIEWER": "false"}
    proc = subprocess.Popen([TIPG_PYTHON, "-m", "uvicorn", "tipg.main:app", "--host",
                             "127.0.0.1", "--port", str(port), "--log-level", "error"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(base + "/collections", seconds=300)
        yield base
    except RuntimeError:
        yield None
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _timed(client: httpx.Client, url: str, params: dict[str, Any]) -> tuple[float, int, int]:
    """(seconds, bytes on the wire, features or tile bytes) of one GET."""
    t0 = time.perf_counter()
    r = client.get(url, params=params, headers=GZIP)
    took = time.perf_counter() - t0
    r.raise_for_status()
    wire = r.num_bytes_downloaded
    if "json" in r.headers.get("content-type", ""):
        return took, wire, len(r.json()["features"])
    return took, wire, len(r.content)


def _items(client: httpx.Client, url: str, params: dict[str, Any]
           ) -> tuple[float, int, int]:
    """p50 seconds, bytes on the wire and features of an items page."""
    _, wire, n = _timed(client, url, params)
    times = [_timed(client, url, params)[0] for _ in range(REPEAT)]
    return p(times, 0.5), wire, n


def tile_list(z: int, n: int) -> list[tuple[int, int]]:
    """``n`` distinct tiles of zoom ``z`` in a square spiral around :data:`CENTRE`."""
    t = morecantile.tms.get("WebMercatorQuad").tile(*CENTRE, z)
    out: list[tuple[int, int]] = []
    ring = 0
    while len(out) < n:
        for dx in range(-ring, ring + 1):
            for dy in range(-ring, ring + 1):
                if max(abs(dx), abs(dy)) == ring and len(out) < n:
                    out.append((t.x + dx, t.y + dy))
        ring += 1
    return out


def _tiles(client: httpx.Client, make_url: Callable[[int, int, int], str],
           params: dict[str, Any], z: int, tiles: list[tuple[int, int]]) -> tuple[float, int]:
    """p50 seconds of one request per tile (each tile asked once) and the mean bytes."""
    times, sizes = [], []
    for x, y in tiles:
        took, wire, _ = _timed(client, make_url(z, x, y), params)
        times.append(took)
        sizes.append(wire)
    return p(times, 0.5), int(sum(sizes) / max(len(sizes), 1))


def _kb(n: int) -> str:
    return f"{n / 1000:,.1f} kB"


def run(store: Any) -> list[tuple[str, str, str, str]]:
    """Rows (figure, OneMap, tipg and ratio, goal) on the full demo in PostGIS."""
    rows: list[tuple[str, str, str, str]] = []
    big = ",".join(map(str, _fifth_of_district(store)))
    cases = [("buildings", "all", {}), ("buildings", "bbox over 20 % of the district",
                                        {"bbox": big}),
             ("enterprises", "all", {}), ("enterprises", "bbox over 20 % of the district",
                                          {"bbox": big})]
    with full_database(store) as url, onemap_pg_server(url) as om, \
            tipg_server(url, ["buildings", "enterprises", "roads"]) as tg, \
            httpx.Client(timeout=300) as client:
        for coll, label, params in cases:
            o50, owire, on = _items(client, f"{om}/ogc/collections/{coll}/items",
                                    {"limit": 1000, **params})
            anchor = "tipg not installed (make bench creates .venv-tipg)"
            if tg is not None:
                t50, twire, tn = _items(client, f"{tg}/collections/public.{coll}/items",
                                        {"limit": 1000, **params})
                anchor = (f"tipg {ms(t50)}, {_kb(twire)} gzip ({tn} features); "
                          f"OneMap/tipg time {o50 / t50:.2f}×, size {owire / twire:.2f}×")
            rows.append((f"PostGIS items limit=1000, {coll}, {label} ({on} features)",
                         f"{ms(o50)}, {_kb(owire)} gzip", anchor,
                         "time < 1× tipg; size ≤ 1.2× tipg"))
        for layer, z in TILE_CASES:
            # Warm both servers on a tile outside the measured list, then each tile once.
            tiles = tile_list(z, REPEAT + 1)
            warm, measured = tiles[-1:], tiles[:-1]
            om_url = lambda z, x, y, lyr=layer: f"{om}/tiles/{lyr}/{z}/{x}/{y}.mvt"  # noqa: E731
            _tiles(client, om_url, {}, z, warm)
            o50, osize = _tiles(client, om_url, {}, z, measured)
            anchor = "tipg not installed"
            if tg is not None:
                tg_url = lambda z, x, y, lyr=layer: (  # noqa: E731
                    f"{tg}/collections/public.{lyr}/tiles/WebMercatorQuad/{z}/{x}/{y}")
                props = {"properties": ",".join(tile_props(layer))}
                _tiles(client, tg_url, props, z, warm)
                t50, tsize = _tiles(client, tg_url, props, z, measured)
                anchor = (f"tipg {ms(t50)}, {_kb(tsize)} on the wire; "
                          f"OneMap/tipg {o50 / t50:.2f}×")
            rows.append((f"PostGIS uncached tile {layer} z{z} ({len(measured)} tiles)",
                         f"{ms(o50)}, {_kb(osize)} on the wire", anchor, "< 1× tipg"))
    return rows


if __name__ == "__main__":  # python -m bench.bench_tipg path/to/onemap.gpkg
    from bench.common import Row, table
    from gis.store.gpkg import GeoPackageStore

    st = GeoPackageStore(sys.argv[1])
    print(table([Row(*r) for r in run(st)]))
    st.close()

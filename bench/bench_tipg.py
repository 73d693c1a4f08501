"""OneMap on PostGIS against tipg 1.6 on the same database (issue 15, "Serving from PostGIS").

tipg (Development Seed's OGC Features and Tiles server for PostGIS, from PyPI) is the
peer: both serve the full-scale demo from one PostGIS database (``bench/pg_full.py``:
loaded once with ``onemap db copy``, kept between runs), each in its own process on
a local port, over real HTTP with the same client. tipg runs in its own virtual
environment, ``ONEMAP_BENCH_TIPG_PYTHON`` (default ``.venv-tipg/bin/python``), which
``make bench`` creates with ``pip install tipg==1.6.*``; without it the anchor column
says so.

Figures (p50 and p95 of ``REPEAT`` requests after a warm-up, ratios OneMap/tipg, below 1
is OneMap ahead):

- items ``limit=1000`` of buildings and enterprises, all and with a bbox over 20 % of
  the district, with the bytes on the wire (``Accept-Encoding: gzip``; both compress);
  requests alternate between the servers (a, b, b, a...) so that the noise of a shared
  machine falls on both alike;
- uncached tiles: OneMap runs without its tile cache (``ONEMAP_TILES_CACHE_MB=0``;
  tipg has none), so every request renders; the tiles over the district nearest its
  centre (the same list for both), roads at z12/z14/z16 and buildings at z14/z16
  (OneMap draws buildings from z14). tipg gets the same
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
from collections.abc import Iterator
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
REPEAT = 15
#: Distinct tiles per zoom (each asked once of each server).
TILE_COUNT = 15
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


def settle(pid: int, idle_share: float = 0.05, step: float = 2.0, limit: float = 300) -> None:
    """Wait until process ``pid`` uses under ``idle_share`` of a core (Linux ``/proc``).

    OneMap warms caches in background threads after it starts answering (road graphs,
    residents per building, the enterprise snapshot); measuring during those would
    charge their CPU to the first requests. Both servers are measured settled.
    """
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        return
    tick = os.sysconf("SC_CLK_TCK")

    def cpu() -> float:
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick  # utime + stime

    deadline = time.time() + limit
    while time.time() < deadline:
        before = cpu()
        time.sleep(step)
        if cpu() - before < idle_share * step:
            return


@contextmanager
def onemap_pg_server(url: str) -> Iterator[str]:
    """``onemap serve`` on the PostGIS database ``url`` (public, no packs, no broker)."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="onemap-bench-") as data_dir:
        # No tile cache: every tile request renders (tipg has no cache either).
        env = {**os.environ, "ONEMAP_DB_URL": url, "ONEMAP_MQTT_EMBEDDED": "false",
               "ONEMAP_OFFLINE_CHECK_S": "0", "ONEMAP_TILES_CACHE_MB": "0"}
        proc = subprocess.Popen([sys.executable, "-m", "spatial_api.cli", "serve", "--host",
                                 "127.0.0.1", "--port", str(port), "--no-packs",
                                 "--data-dir", data_dir], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            _wait(base + "/health", seconds=300)
            settle(proc.pid)
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
           "TIPG_DB_TABLES": json.dumps([f"public.{t}" for t in tables]), "TIPG_TILE_BUFFER": "64",
           "TIPG_TILE_RESOLUTION": "4096", "TIPG_MAX_FEATURES_PER_TILE": "50000",
           "TIPG_ADD_TILES_VIEWER": "false"}
    proc = subprocess.Popen([TIPG_PYTHON, "-m", "uvicorn", "tipg.main:app", "--host",
                             "127.0.0.1", "--port", str(port), "--log-level", "error"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(base + "/collections", seconds=300)
        settle(proc.pid)
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


def _pair(client: httpx.Client, a: tuple[str, dict[str, Any]],
          b: tuple[str, dict[str, Any]] | None, times: int
          ) -> tuple[list[float], list[float], int, int, int, int]:
    """Requests to ``a`` and ``b`` in alternation (a, b, b, a, ...), so that the noise of
    a shared machine falls on both alike: (a's seconds, b's seconds, a's and b's bytes
    on the wire of the last request, a's and b's features or tile bytes)."""
    ta: list[float] = []
    tb: list[float] = []
    wa = wb = na = nb = 0
    for i in range(times):
        order = [(a, ta), (b, tb)] if i % 2 == 0 else [(b, tb), (a, ta)]
        for target, out in order:
            if target is None:
                continue
            took, wire, n = _timed(client, *target)
            out.append(took)
            if out is ta:
                wa, na = wire, n
            else:
                wb, nb = wire, n
    return ta, tb, wa, wb, na, nb


def tile_list(z: int, n: int, bounds: tuple[float, float, float, float] | None = None
              ) -> list[tuple[int, int]]:
    """``n`` tiles of zoom ``z`` nearest :data:`CENTRE` among those over ``bounds`` (the
    district; default: around the centre), repeated in turn when there are fewer."""
    tms = morecantile.tms.get("WebMercatorQuad")
    if bounds is None:
        bounds = (CENTRE[0] - 0.05, CENTRE[1] - 0.05, CENTRE[0] + 0.05, CENTRE[1] + 0.05)
    c = tms.tile(*CENTRE, z)
    tiles = sorted(((t.x, t.y) for t in tms.tiles(*bounds, zooms=[z])),
                   key=lambda t: ((t[0] - c.x) ** 2 + (t[1] - c.y) ** 2, t))
    return [tiles[i % len(tiles)] for i in range(n)]


def _kb(n: int) -> str:
    return f"{n / 1000:,.1f} kB"


def run(store: Any) -> list[tuple[str, str, str, str]]:
    """Rows (figure, OneMap, tipg and ratio, goal) on the full demo in PostGIS."""
    rows: list[tuple[str, str, str, str]] = []
    big = ",".join(map(str, _fifth_of_district(store)))
    x0, y0, x1, y1 = (float(v) for v in store.query("district").total_bounds)
    district = (x0, y0, x1, y1)
    cases = [("buildings", "all", {}), ("buildings", "bbox over 20 % of the district",
                                        {"bbox": big}),
             ("enterprises", "all", {}), ("enterprises", "bbox over 20 % of the district",
                                          {"bbox": big})]
    with full_database(store) as url, onemap_pg_server(url) as om, \
            tipg_server(url, ["buildings", "enterprises", "roads"]) as tg, \
            httpx.Client(timeout=300) as client:
        for coll, label, params in cases:
            om_t = (f"{om}/ogc/collections/{coll}/items", {"limit": 1000, **params})
            tg_t = (f"{tg}/collections/public.{coll}/items", {"limit": 1000, **params}
                    ) if tg is not None else None
            _pair(client, om_t, tg_t, 1)  # warm-up
            ot, tt, owire, twire, on, tn = _pair(client, om_t, tg_t, REPEAT)
            o50 = p(ot, 0.5)
            anchor = "tipg not installed (make bench creates .venv-tipg)"
            if tt:
                t50 = p(tt, 0.5)
                anchor = (f"tipg {ms(t50)} (p95 {ms(p(tt, 0.95))}), {_kb(twire)} gzip "
                          f"({tn} features); OneMap/tipg time {o50 / t50:.2f}× "
                          f"(p95 {p(ot, 0.95) / p(tt, 0.95):.2f}×), size {owire / twire:.2f}×")
            rows.append((f"PostGIS items limit=1000, {coll}, {label} ({on} features)",
                         f"{ms(o50)} (p95 {ms(p(ot, 0.95))}), {_kb(owire)} gzip", anchor,
                         "time < 1× tipg; size ≤ 1.2× tipg"))
        for layer, z in TILE_CASES:
            # Tiles over the district nearest its centre, after one warm-up request.
            tiles = tile_list(z, TILE_COUNT + 1, district)
            props: dict[str, Any] = {"properties": ",".join(tile_props(layer))}
            ot, tt = [], []
            osizes: list[int] = []
            tsizes: list[int] = []
            for i, (x, y) in enumerate(tiles):
                targets: list[tuple[str, dict[str, Any], list[float], list[int]]] = [
                    (f"{om}/tiles/{layer}/{z}/{x}/{y}.mvt", {}, ot, osizes)]
                if tg is not None:
                    targets.append((f"{tg}/collections/public.{layer}/tiles/WebMercatorQuad/"
                                    f"{z}/{x}/{y}", props, tt, tsizes))
                for url, params, times, sizes in (targets if i % 2 else targets[::-1]):
                    took, wire, _ = _timed(client, url, params)
                    if i:  # the first tile warms both servers up
                        times.append(took)
                        sizes.append(wire)
            o50 = p(ot, 0.5)
            anchor = "tipg not installed"
            if tt:
                t50 = p(tt, 0.5)
                anchor = (f"tipg {ms(t50)} (p95 {ms(p(tt, 0.95))}), "
                          f"{_kb(int(sum(tsizes) / len(tsizes)))} on the wire; OneMap/tipg "
                          f"{o50 / t50:.2f}× (p95 {p(ot, 0.95) / p(tt, 0.95):.2f}×), size "
                          f"{sum(osizes) / sum(tsizes):.2f}×")
            rows.append((f"PostGIS uncached tile {layer} z{z} ({len(ot)} requests)",
                         f"{ms(o50)} (p95 {ms(p(ot, 0.95))}), "
                         f"{_kb(int(sum(osizes) / len(osizes)))} on the wire",
                         anchor, "< 1× tipg"))
    return rows


if __name__ == "__main__":  # python -m bench.bench_tipg path/to/onemap.gpkg
    from bench.common import Row, table
    from gis.store.gpkg import GeoPackageStore

    st = GeoPackageStore(sys.argv[1])
    print(table([Row(*r) for r in run(st)]))
    st.close()

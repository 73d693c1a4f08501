"""OGC API benchmarks: OneMap's pygeoapi mount against pygeoapi's stock GeoPackage provider.

Both servers serve the same GeoPackage in the same run over real HTTP (uvicorn on
local ports). The stock ``SQLiteGPKG`` provider needs SQLite extension loading and
SpatiaLite, which this project's Python lacks, so it runs under another Python:
``ONEMAP_BENCH_STOCK_PYTHON`` (default ``.venv-stock/bin/python``), which
``make bench`` creates on Debian's Python 3.11 with ``pygeoapi==0.21.0 uvicorn starlette``
and Debian's ``libsqlite3-mod-spatialite``. Without it the anchor column says so.
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
import shapely

from bench.common import ms, p, timeit, wait_ready
from spatial_api.local_server import free_port

STOCK_PYTHON = os.environ.get("ONEMAP_BENCH_STOCK_PYTHON", ".venv-stock/bin/python")
ADMIN = {"X-API-Key": "demo-admin-key"}
#: Central Luohu (about 3 x 3 km): thousands of buildings and enterprises at full scale.
BBOX = (114.10, 22.53, 114.13, 22.56)
REPEAT = 15


def _wait(url: str, proc: subprocess.Popen[bytes] | None = None, seconds: float = 600) -> None:
    # Servers without OneMap's /health (stock pygeoapi, tipg): until ``url`` answers; wait
    # long (a busy machine), but fail at once when the server has exited.
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server for {url} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server at {url} did not start")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a server; kill it if it has not gone within 30 s (a busy machine)."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def onemap_server(store_path: Path) -> Iterator[str]:
    """OneMap (FastAPI + pygeoapi at /ogc) served by ``onemap serve`` in its own process,
    like the stock server, so neither shares the benchmark client's interpreter."""
    port = free_port()
    env = {**os.environ, "ONEMAP_STORE_FILE": store_path.name, "ONEMAP_DB_URL": ""}
    proc = subprocess.Popen([sys.executable, "-m", "spatial_api.cli", "serve", "--host",
                             "127.0.0.1", "--port", str(port), "--data-dir",
                             str(store_path.parent)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/ogc"
    try:
        # `onemap serve` warms up in the background (indicator frames, tile prewarm, packs):
        # measure after, as a client of a running server would see it, not during.
        if not wait_ready(f"http://127.0.0.1:{port}/health", proc=proc):
            raise RuntimeError("the OneMap server did not start or finish its start-up tasks")
        yield base
    finally:
        _stop(proc)


_STOCK_CONFIG = """
server:
  bind: {{host: 127.0.0.1, port: {port}}}
  url: http://127.0.0.1:{port}
  mimetype: application/json; charset=UTF-8
  encoding: utf-8
  languages: [en-US]
  limits: {{default_items: 10, max_items: 10000}}
  map: {{url: 'https://tile.openstreetmap.org/{{z}}/{{x}}/{{y}}.png', attribution: OSM}}
logging: {{level: ERROR}}
metadata:
  identification: {{title: stock, description: stock, keywords: [x], keywords_type: theme,
                   terms_of_service: 'https://example.org', url: 'https://example.org'}}
  license: {{name: x, url: 'https://example.org'}}
  provider: {{name: x, url: 'https://example.org'}}
  contact: {{name: x}}
resources:
{resources}
"""

_STOCK_RESOURCE = """  {name}:
    type: collection
    title: {name}
    description: {name}
    keywords: [{name}]
    extents: {{spatial: {{bbox: [113.9, 22.4, 114.4, 22.8]}}}}
    providers:
      - {{type: feature, name: SQLiteGPKG, data: '{path}', id_field: id, table: {name}}}
"""


@contextmanager
def stock_server(store_path: Path, tables: list[str]) -> Iterator[str | None]:
    """pygeoapi 0.21 with its stock SQLiteGPKG provider in another Python (or None)."""
    if not Path(STOCK_PYTHON).exists():
        yield None
        return
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="onemap-stock-") as tmp:
        cfg = Path(tmp) / "config.yml"
        res = "".join(_STOCK_RESOURCE.format(name=t, path=store_path) for t in tables)
        cfg.write_text(_STOCK_CONFIG.format(port=port, resources=res), encoding="utf-8")
        oas = Path(tmp) / "openapi.yml"
        env = {**os.environ, "PYGEOAPI_CONFIG": str(cfg), "PYGEOAPI_OPENAPI": str(oas)}
        bindir = Path(STOCK_PYTHON).parent
        gen = subprocess.run([str(bindir / "pygeoapi"), "openapi", "generate", str(cfg),
                              "--output-file", str(oas)], env=env, capture_output=True)
        if gen.returncode != 0:
            yield None
            return
        proc = subprocess.Popen([STOCK_PYTHON, "-m", "uvicorn", "pygeoapi.starlette_app:APP",
                                 "--host", "127.0.0.1", "--port", str(port), "--log-level",
                                 "error"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            _wait(f"http://127.0.0.1:{port}/", proc)
            yield f"http://127.0.0.1:{port}"
        except RuntimeError:
            yield None
        finally:
            _stop(proc)


def _items(client: httpx.Client, url: str, params: dict[str, Any],
           headers: dict[str, str] | None = None) -> Callable[[], int]:
    def call() -> int:
        r = client.get(url, params=params, headers=headers or {})
        r.raise_for_status()
        return len(r.json()["features"])

    return call


def _latency(fn: Callable[[], int]) -> tuple[float, float, int]:
    n = fn()
    times = timeit(fn, repeat=REPEAT, warmup=1)
    return p(times, 0.5), p(times, 0.95), n


def _fifth_of_district(store: Any) -> tuple[float, float, float, float]:
    """A box over the middle 20 % of the district's extent (the adaptive page plan)."""
    x0, y0, x1, y1 = (float(v) for v in store.query("district").total_bounds)
    f = 0.2 ** 0.5 / 2
    cx, cy, w, h = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
    return (round(cx - w * f, 6), round(cy - h * f, 6), round(cx + w * f, 6),
            round(cy + h * f, 6))


def run(store: Any) -> list[tuple[str, str, str, str]]:
    """Rows (figure, value, anchor, goal) of the OGC benchmarks on ``store``'s file."""
    path = Path(store.path)
    rows: list[tuple[str, str, str, str]] = []
    bbox = ",".join(map(str, BBOX))
    big = ",".join(map(str, _fifth_of_district(store)))
    cases = [
        ("buildings", "all", {}, {}),
        ("buildings", "bbox", {"bbox": bbox}, {"bbox": bbox}),
        ("buildings", "filter use='residential'", {"filter": "use = 'residential'",
                                                   "filter-lang": "cql2-text"},
         {"use": "residential"}),
        ("enterprises", "all", {}, {}),
        ("enterprises", "bbox", {"bbox": bbox}, {"bbox": bbox}),
        ("enterprises", "bbox over 20 % of the district", {"bbox": big}, {"bbox": big}),
        ("enterprises", "filter industry='I'", {"filter": "industry = 'I'",
                                                "filter-lang": "cql2-text"},
         {"industry": "I"}),
    ]
    with onemap_server(path) as om, stock_server(path, ["buildings", "enterprises"]) as stock, \
            httpx.Client(timeout=120) as client:
        for coll, label, om_params, stock_params in cases:
            p50, p95, n = _latency(_items(client, f"{om}/collections/{coll}/items",
                                          {"limit": 1000, **om_params}))
            anchor = "stock provider not runnable here (see bench_ogc docstring)"
            if stock is not None:
                try:
                    s50, s95, sn = _latency(_items(client, f"{stock}/collections/{coll}/items",
                                                   {"limit": 1000, **stock_params}))
                    anchor = (f"stock SQLiteGPKG p50 {ms(s50)} / p95 {ms(s95)}, "
                              f"{sn / s50:,.0f} features/s ({s50 / p50:.1f}x slower)")
                except httpx.HTTPError as exc:
                    anchor = f"stock provider failed: {type(exc).__name__}"
            rows.append((f"OGC items limit=1000, {coll}, {label}",
                         f"p50 {ms(p50)} / p95 {ms(p95)}, {n / p50:,.0f} features/s",
                         anchor, "≥ 2× faster than stock"))
        # numberMatched with a bbox over all persons (resulttype=hits: the count alone).
        hits = _items(client, f"{om}/collections/persons/items",
                      {"bbox": bbox, "resulttype": "hits"}, ADMIN)
        times = timeit(hits, repeat=REPEAT)
        n_persons = client.get(f"{om}/collections/persons/items",
                               params={"bbox": bbox, "resulttype": "hits"},
                               headers=ADMIN).json()["numberMatched"]
        direct = timeit(lambda: store.count("person", bbox=BBOX), repeat=REPEAT)
        rows.append((f"numberMatched, persons in bbox ({n_persons:,})",
                     f"{ms(p(times, 0.5))} over HTTP", f"store.count {ms(p(direct, 0.5))}",
                     "≤ 50 ms"))
        # renewal impact on a 1 km² square in central Luohu.
        from gis.analysis.renewal import RenewalImpactInput, renewal_impact

        side = 0.0097  # degrees: about 1 km x 1 km at 22.55° N
        area = shapely.box(114.115, 22.545, 114.115 + side, 22.545 + side * 0.925)
        fn = lambda: renewal_impact(store, RenewalImpactInput(area, "2024-06-30"))  # noqa: E731
        t = timeit(fn, repeat=5)
        body = {"inputs": {"area": shapely.geometry.mapping(area), "as_of": "2024-06-30"}}
        t_http = timeit(lambda: client.post(f"{om}/processes/renewal-impact/execution",
                                            json=body, headers=ADMIN).raise_for_status(),
                        repeat=5)
        r = fn()
        rows.append((f"renewal-impact, 1 km² ({r.area_km2:.2f} km², {r.persons} persons)",
                     f"{ms(p(t, 0.5))}", f"through the process API {ms(p(t_http, 0.5))}",
                     "≤ 500 ms"))
    return rows


if __name__ == "__main__":  # python -m bench.bench_ogc path/to/onemap.gpkg
    from bench.common import Row, table
    from gis.store.gpkg import GeoPackageStore

    st = GeoPackageStore(sys.argv[1])
    print(table([Row(*r) for r in run(st)]))
    st.close()

"""/health reports store and background-task state; /metrics is Prometheus text with
per-route-template request counts and latencies and the tile cache hit ratio."""

from __future__ import annotations

import shutil
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from gis.store.gpkg import GeoPackageStore
from spatial_api.app import create_app
from spatial_api.settings import Settings


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_and_health(demo_dir: Path, tmp_path: Path) -> None:
    with TestClient(create_app(Settings(data_dir=demo_dir))) as c:
        h = c.get("/health")
        assert h.status_code == 200
        body = h.json()
        assert body["status"] == "ok" and body["store"]["state"] == "ok"
        assert isinstance(body["tasks"], dict)
        for _ in range(3):
            assert c.get("/enterprises/policies").status_code == 404  # public: hidden
        assert c.get("/ogc/collections?f=json").status_code == 200
        for _ in range(2):
            assert c.get("/tiles/buildings/14/13387/7141.mvt").status_code in (200, 204, 404)
        r = c.get("/metrics")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        s = samples(r.text)
        key = ("onemap_http_requests_total",
               (("method", "GET"), ("route", "/enterprises/policies"), ("status", "404")))
        assert s[key] == 3
        assert any(n == "onemap_http_requests_total" and ("route", "/ogc/*") in lab
                   for n, lab in s)
        hist = ("onemap_http_request_seconds_count",
                (("method", "GET"), ("route", "/enterprises/policies")))
        assert s[hist] == 3
        assert ("onemap_tile_cache_hit_ratio", ()) in s
        # a raw path never becomes a label
        assert not any(("route", "/tiles/buildings/14/13387/7141.mvt") in lab for _, lab in s)
        # a store whose file is destroyed under the server: down, 503, no internals
        real = c.app.state.store  # type: ignore[attr-defined]
        copy = tmp_path / "doomed.gpkg"
        shutil.copy(demo_dir / "onemap.gpkg", copy)
        doomed = GeoPackageStore(copy)
        c.app.state.store = doomed  # type: ignore[attr-defined]
        assert c.get("/health").json()["status"] == "ok"
        copy.write_bytes(b"this is not a database" * 4096)
        down = c.get("/health")
        assert down.status_code == 503 and down.json()["status"] == "down"
        assert down.json()["store"] == {"state": "down"}
        c.app.state.store = real  # type: ignore[attr-defined]
        doomed.close()

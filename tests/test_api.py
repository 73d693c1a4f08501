"""The FastAPI host: factory, lifespan, /health and the error table."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from gis.errors import EntityNotFound, IngestError, InvalidQuery, StoreUnavailable
from gis.store.gpkg import GeoPackageStore
from spatial_api.app import create_app
from spatial_api.errors import status_for
from spatial_api.settings import Settings
from tests.conftest import community_frame, person_frame


def test_health_reports_store_counts(tmp_path: Path) -> None:
    store = GeoPackageStore(tmp_path / "onemap.gpkg", create=True)
    store.ingest("community", community_frame())
    store.ingest("person", person_frame())
    store.set_meta({"build_time": "2026-02-03T04:05:06Z", "seed": "1", "scale": "0.01"})
    store.close()
    app = create_app(Settings(data_dir=tmp_path))
    with TestClient(app) as client:
        r = client.get("/health")
        assert r.status_code == 200
        body = r.json()
        assert body["counts"]["person"] == 6 and body["counts"]["community"] == 2
        assert body["build_time"] == "2026-02-03T04:05:06Z"
        assert str(tmp_path) not in r.text  # no internal paths
        parsed = client.get("/address/parse", params={"q": "深圳罗湖东门街道湖贝社区"})
        assert parsed.status_code == 200
        assert parsed.json()["components"]["subdistrict"] == "东门街道"
        assert client.get("/address/parse", params={"q": ""}).status_code == 400
        missing = client.get("/nowhere")
        assert missing.status_code == 404 and missing.json()["code"] == "NotFound"


def test_missing_store_fails_at_start(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "none"))
    try:
        with TestClient(app):
            raise AssertionError("the app must not start without a store")
    except StoreUnavailable:
        pass


def test_error_table() -> None:
    assert status_for(EntityNotFound("x")) == (404, "NotFound")
    assert status_for(InvalidQuery("x")) == (400, "InvalidParameterValue")
    assert status_for(IngestError("x", row=3))[0] == 422
    assert status_for(StoreUnavailable("x"))[0] == 503

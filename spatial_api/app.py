"""The FastAPI host: ``create_app(settings)`` with a lifespan that opens the store once."""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES

from address.service import address_service
from gis.analysis.coverage import warm as warm_coverage
from gis.cases import service as cases_service
from gis.network import network_service
from gis.store import Store, open_store
from spatial_api.address_routes import address_router
from spatial_api.alert_routes import AlertHub, alert_router
from spatial_api.cache_headers import CredentialCacheHeaders
from spatial_api.compression import LEVEL, FastGZipMiddleware
from spatial_api.dispatch_routes import dispatch_router
from spatial_api.enterprise_routes import enterprise_router, space_router
from spatial_api.errors import install_handlers
from spatial_api.indicator_routes import indicator_router
from spatial_api.ogc import gate as ogc
from spatial_api.sensor_routes import sensor_router, start_perception
from spatial_api.settings import Settings
from spatial_api.tile_routes import start_tiles, tile_router
from spatial_api.viewer_routes import mount_viewer


def get_store(request: Request) -> Store:
    """The store opened at start-up (a FastAPI dependency)."""
    store: Store = request.app.state.store
    return store


#: Smallest response body compressed by the GZip middleware.
GZIP_MIN_BYTES = 500


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application. Nothing is opened until the lifespan starts."""
    settings = settings or Settings()
    # pygeoapi reads its configuration when imported: generate it now (from the
    # layer catalog), before anything imports pygeoapi.
    ogc_runtime = ogc.make_runtime(settings.base_url, settings.data_dir)
    # The policy table is validated now: a broken config/policies.yaml stops start-up.
    from gis.analysis.enterprise_policies import policy_table

    policy_table()
    from gis.indicators import load_catalog

    indicator_catalog = load_catalog()  # a broken config/indicators.yaml stops start-up too

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal settings
        assert settings is not None  # set above; mypy loses it across the closure
        app.state.store = open_store(settings)
        from address.city import store_districts

        # ``auto`` warm-ups: a city store starts with the small ones (docs/scale.md)
        districts = store_districts(app.state.store)
        settings = settings.for_store(len(districts))
        app.state.settings = settings
        from spatial_api.metrics import observe_store

        observe_store(app, app.state.store)  # store query times on /metrics
        if app.state.ogc.audit.use_store:  # the audit trail lives in the store (issue 16)
            app.state.ogc.audit.attach(app.state.store)
        app.state.address = address_service(app.state.store, districts)
        app.state.network = network_service(app.state.store)
        app.state.network.build()  # the road graphs, rebuilt on road writes
        warm = threading.Thread(target=warm_coverage, args=(app.state.store,), daemon=True)
        if settings.warm("coverage"):
            warm.start()  # residents per building today, for the first coverage request
        app.state.network_warm = warm
        app.state.cases, app.state.triage = cases_service.start(
            app.state.store, settings.data_dir, cases_service.address_locator(app.state.address))
        ogc.start(ogc_runtime, app.state.store)
        from gis.analysis.enterprise_data import warm_in_background

        if settings.warm("enterprise"):
            warm_in_background(app.state.store)
        app.state.tiles = start_tiles(app.state.store, ogc_runtime.catalog, settings.base_url,
                                      settings.data_dir, build_packs=settings.packs_on_start,
                                      public=(app.state.ogc.roles.principal(None)
                                              if settings.warm("tiles") else None))
        app.state.perception_rt = start_perception(app.state.store, settings, app.state.alert_hub)
        app.state.perception = app.state.perception_rt.service
        from gis.indicators import IndicatorEngine
        from gis.indicators.alerts import IndicatorAlerts
        from gis.indicators.sources import CACHE_DIR_ENV as INDICATORS_CACHE_ENV

        # Under `onemap serve` the read frames persist beside the store, so a restart or a
        # second worker on unchanged data starts from them instead of re-reading a million
        # person rows (docs/indicators.md, "Caching"); ONEMAP_INDICATORS_CACHE_DIR wins.
        ind_cache = (Path(settings.data_dir) / "cache" / "indicators"
                     if settings.indicators_warm and not os.environ.get(INDICATORS_CACHE_ENV)
                     else None)
        app.state.indicators = IndicatorEngine(app.state.store, indicator_catalog,
                                               dispatch=app.state.cases.table,
                                               cache_dir=ind_cache)
        app.state.indicators.listen()  # PostGIS: other processes' writes
        # Threshold crossings go to the same alert log and SSE hub as sensor alerts.
        app.state.indicator_alerts = IndicatorAlerts(app.state.indicators,
                                                     app.state.perception.listeners)
        ind_warm = threading.Thread(target=app.state.indicators.warm, name="indicator-warm",
                                    daemon=True)
        if settings.indicator_alerts_s > 0:
            app.state.indicator_alerts.start(settings.indicator_alerts_s)
        if settings.indicators_warm and settings.warm("indicators"):
            ind_warm.start()  # the frames and the default summary, off the start-up path
        try:
            yield
        finally:
            app.state.indicator_alerts.stop()
            if ind_warm.is_alive():
                ind_warm.join(timeout=60)  # not while it still reads the store being closed
            app.state.indicators.close()
            app.state.perception_rt.stop()
            app.state.tiles.stop()
            app.state.network.detach()
            if warm.is_alive():
                warm.join(timeout=60)  # not while it still reads the store being closed
            ogc.stop(ogc_runtime)
            app.state.store.close()

    app = FastAPI(
        title="OneMap",
        version="0.1.0",
        description="Spatio-temporal GIS server of Luohu district (demo data).",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.ogc = ogc_runtime
    app.state.alert_hub = AlertHub()
    # Compress items, TileJSON, styles... when the client accepts gzip (issue 15: 804 KB
    # of buildings on the wire vs 114 KB compressed). Responses already encoded (the
    # gzipped tile cache) pass through; images are compressed already; small bodies
    # are not worth the CPU (500 bytes: a one-layer TileJSON is ~540). zlib-ng at level 2:
    # a quarter of the CPU of zlib at 6 for 129 KB instead of 105 (spatial_api/compression).
    # Answers vary with the credentials; answers to a key are private (cache_headers).
    app.add_middleware(CredentialCacheHeaders)
    app.add_middleware(FastGZipMiddleware, minimum_size=GZIP_MIN_BYTES, compresslevel=LEVEL,
                       exclude_content_types=(*DEFAULT_EXCLUDED_CONTENT_TYPES, "image/png",
                                              "image/jpeg", "image/webp"))
    install_handlers(app)
    ogc.mount_ogc(app, ogc_runtime)
    app.include_router(tile_router())
    app.include_router(address_router(), prefix="/address")
    app.include_router(enterprise_router())
    app.include_router(space_router())
    app.include_router(sensor_router())
    app.include_router(alert_router(settings.sse_heartbeat_s))
    from spatial_api.auth_routes import audit_router

    app.include_router(audit_router())

    from spatial_api.metrics import health_report, install_metrics

    install_metrics(app)
    app.include_router(dispatch_router())
    app.include_router(indicator_router())

    @app.get("/health", tags=["service"])
    def health(request: Request) -> Any:
        """Service status: store state, background tasks, entity counts, data build time."""
        return health_report(request)

    mount_viewer(app)  # last: the static app at / must not shadow the routes above
    app.openapi = lambda: host_openapi(app)  # type: ignore[method-assign]
    return app


def host_openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's OpenAPI document, with validation errors declared as answered.

    FastAPI declares 422 for invalid parameters; the host answers 400 with
    ``{"code", "description"}`` (errors.py), so that is what the document says.
    """
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        from spatial_api.oas import ERROR_SCHEMA

        doc = get_openapi(title=app.title, version=app.version,
                          description=app.description, routes=app.routes)
        for item in doc.get("paths", {}).values():
            for op in item.values():
                responses = op.get("responses", {}) if isinstance(op, dict) else {}
                if responses.pop("422", None) is not None:
                    responses.setdefault("400", {
                        "description": "Invalid input",
                        "content": {"application/json": {"schema": ERROR_SCHEMA}}})
        schemas = doc.get("components", {}).get("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = doc
    return app.openapi_schema

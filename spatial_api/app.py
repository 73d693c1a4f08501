"""The FastAPI host: ``create_app(settings)`` with a lifespan that opens the store once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request

from address import AddressService
from gis.cases import service as cases_service
from gis.store import Store, open_store
from spatial_api.address_routes import address_router
from spatial_api.dispatch_routes import dispatch_router
from spatial_api.errors import install_handlers
from spatial_api.ogc import gate as ogc
from spatial_api.settings import Settings
from spatial_api.tile_routes import start_tiles, tile_router
from spatial_api.viewer_routes import mount_viewer


def get_store(request: Request) -> Store:
    """The store opened at start-up (a FastAPI dependency)."""
    store: Store = request.app.state.store
    return store


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application. Nothing is opened until the lifespan starts."""
    settings = settings or Settings()
    # pygeoapi reads its configuration when imported: generate it now (from the
    # layer catalog), before anything imports pygeoapi.
    ogc_runtime = ogc.make_runtime(settings.base_url, settings.data_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = open_store(settings)
        app.state.address = AddressService.from_store(app.state.store)
        app.state.cases, app.state.triage = cases_service.start(
            app.state.store, settings.data_dir, cases_service.address_locator(app.state.address))
        ogc.start(ogc_runtime, app.state.store)
        app.state.tiles = start_tiles(app.state.store, ogc_runtime.catalog, settings.base_url,
                                      settings.data_dir, build_packs=settings.packs_on_start)
        try:
            yield
        finally:
            app.state.tiles.stop()
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
    install_handlers(app)
    ogc.mount_ogc(app, ogc_runtime)
    app.include_router(tile_router())
    app.include_router(address_router(), prefix="/address")
    app.include_router(dispatch_router())

    @app.get("/health", tags=["service"])
    def health(request: Request) -> dict[str, Any]:
        """Service status: store backend, entity counts per kind, data build time."""
        stats = get_store(request).stats().as_dict()
        return {
            "status": "ok",
            "store": {"backend": stats["backend"], "location": stats["location"]},
            "counts": stats["counts"],
            "rows": stats["rows"],
            "build_time": stats["meta"].get("build_time"),
            "seed": stats["meta"].get("seed"),
            "scale": stats["meta"].get("scale"),
        }

    mount_viewer(app)  # last: the static app at / must not shadow the routes above
    return app

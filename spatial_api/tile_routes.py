"""HTTP routes of the tile service: /tiles, /styles, /packs, /terrain.

Thin: parse the request, resolve the caller's role from the API key (the same
roles file as the OGC APIs), call ``tiles.service`` and render bytes with
gzip, ETag and Cache-Control. The expensive state (engine, cache, terrain) is
built once in the app's lifespan by :func:`start_tiles`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse, Response

from gis.errors import EntityNotFound, InvalidQuery
from gis.model import KIND_ORDER
from gis.store.base import Store
from layers.access import WWW_AUTHENTICATE, Principal, UnknownApiKey
from layers.catalog import Layer
from spatial_api.oas import LAT, LON, errors
from spatial_api.principal import request_principal as _principal
from tiles.cache import DataVersionWatcher, VersionedStore
from tiles.engine import BASEMAP, Tile
from tiles.packs import PACK_SUFFIX, PackBuilder, list_packs, store_identity
from tiles.raster import Terrain, TerrainUnavailable
from tiles.service import TileService, TileSettings
from tiles.styles import basemap_style, layer_style, styles_index

log = logging.getLogger(__name__)

MVT = "application/vnd.mapbox-vector-tile"
_NAME = re.compile(r"^[A-Za-z0-9_,]{1,300}$")
_PACK = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")

# The path parameters as documented (the handlers check them again, ``_tile``/``_names``),
# with a tile of Dongmen at z14 as the example.
_Z = PathParam(pattern=r"^-?[0-9]{1,3}$", examples=["14"])
_X = PathParam(pattern=r"^-?[0-9]{1,10}$", examples=["13385"])
_Y = PathParam(pattern=r"^-?[0-9]{1,10}$", examples=["7138"])
_LAYERS = PathParam(pattern=_NAME.pattern, examples=["buildings"])


@dataclass
class TileState:
    """What the tile routes need, built once at start-up."""

    service: TileService
    terrain: Terrain | None
    #: Identity of the open store: /packs lists only packs cut from it.
    store_id: str | None = None
    #: The background build of missing or stale packs (None: not asked for).
    packs: PackBuilder | None = None
    #: Sees other processes' writes before each tile request (GeoPackage write log).
    watcher: DataVersionWatcher | None = None
    #: Stops the LISTEN thread of other processes' writes (PostGIS).
    stop_listening: Callable[[], None] | None = None
    #: The start-up fill of the tile cache (pack tiles, low zooms); /health reports it.
    prewarm: threading.Thread | None = None
    prewarm_stop: threading.Event = field(default_factory=threading.Event)

    def sync(self) -> None:
        """Drop the cached tiles other processes' writes made stale (GeoPackage)."""
        if self.watcher is not None:
            self.watcher.check()

    def stop(self) -> None:
        """Stop the pack build (if any) and unsubscribe the service from the store."""
        self.prewarm_stop.set()
        if self.prewarm is not None:
            self.prewarm.join(timeout=30)
        if self.packs is not None:
            self.packs.stop()
        if self.stop_listening is not None:
            self.stop_listening()
        self.service.stop()


def start_tiles(store: Store, catalog: dict[str, Layer], base_url: str,
                data_dir: Path, build_packs: bool = False,
                public: Principal | None = None) -> TileState:
    """Build the tile service (engine, cache, store listener) and load the terrain.

    With ``build_packs``, the district and subdistrict packs that are missing or
    were cut from another store are built in a background thread. With ``public``
    (the public principal), a background thread fills the tile cache first: the
    district pack's tiles when it was cut from this store, and the low zooms of
    ``ONEMAP_TILES_PREWARM_LAYERS`` (first renders were the load test's slowest requests).
    """
    svc = TileService.start(store, catalog, base_url, data_dir, TileSettings())
    try:
        terrain: Terrain | None = Terrain(data_dir / "terrain.tif")
    except TerrainUnavailable:
        terrain = None
    try:
        store_id: str | None = store_identity(store)
    except Exception:  # a store without metadata: list every pack
        store_id = None
    # the packs record the identity the server lists them by (a start-up write while they
    # render would otherwise hide the last ones built: seen in a loaded CI run)
    packs = (PackBuilder(store, catalog, svc.packs_dir, store_id=store_id).start()
             if build_packs else None)
    state = TileState(svc, terrain, store_id, packs)
    # Other processes (server workers, the CLI) write the same store (issue 16).
    listen = getattr(store, "listen_writes", None)
    if callable(listen):  # PostGIS: LISTEN/NOTIFY in a background thread
        state.stop_listening = listen(svc.on_write)
        if svc.cache.disk_dir is not None:  # writes while no server listened are unknown
            svc.cache.clear()
    elif callable(getattr(store, "data_version", None)):  # GeoPackage: the write log

        def reset() -> None:
            for kind in KIND_ORDER:
                svc.on_write(kind, None)

        state.watcher = DataVersionWatcher(cast(VersionedStore, store), svc.on_write, reset)
        if svc.cache.disk_dir is not None:
            _check_disk_cache(svc, state.watcher.seen)
    if public is not None:
        state.prewarm = threading.Thread(target=_prewarm, args=(svc, public, store_id,
                                                                state.prewarm_stop),
                                         name="onemap-tiles-prewarm", daemon=True)
        state.prewarm.start()
    return state


def _prewarm(svc: TileService, public: Principal, store_id: str | None,
             stop: threading.Event) -> None:
    t0 = time.perf_counter()
    try:
        done = svc.prewarm(public, store_id, stop)
    except Exception:  # the cache fills on demand instead; the log says why
        log.exception("tile cache prewarm failed")
        return
    log.info("tile cache prewarmed: %d pack tiles, %d rendered, %.1f s", done["pack"],
             done["rendered"], time.perf_counter() - t0)


def _check_disk_cache(svc: TileService, version: int) -> None:
    """Empty an on-disk tile cache written before the store's last write (a restart)."""
    assert svc.cache.disk_dir is not None
    mark = svc.cache.disk_dir / "data_version"
    try:
        cached = mark.read_text(encoding="utf-8").strip()
    except OSError:
        cached = None
    if cached != str(version):
        svc.cache.clear()
        mark.write_text(str(version), encoding="utf-8")


def _state(request: Request) -> TileState:
    state: TileState = request.app.state.tiles
    return state




def _int(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidQuery(f"{name} must be an integer") from None


def _tile(z: str, x: str, y: str) -> Tile:
    return Tile(_int(x, "x"), _int(y, "y"), _int(z, "z"))


def _names(layers: str) -> str:
    if not _NAME.match(layers):
        raise InvalidQuery("layers must be layer ids separated by commas")
    return layers


def _unauthorised() -> JSONResponse:
    return JSONResponse({"code": "InvalidApiKey", "description": "unknown API key"},
                        status_code=401, headers={"WWW-Authenticate": WWW_AUTHENTICATE})


def tile_router() -> APIRouter:
    """The router of /tiles, /styles, /packs and /terrain."""
    router = APIRouter(tags=["tiles"])

    @router.get("/tiles/terrain/{z}/{x}/{y}.png", response_class=Response,
                responses={200: {"content": {"image/png": {}}}, **errors(400, 404, 503)})
    def terrain_tile(request: Request, z: str = _Z, x: str = _X, y: str = _Y) -> Response:
        """Hillshade PNG of the terrain (transparent outside the raster)."""
        terrain = _state(request).terrain
        if terrain is None:
            raise TerrainUnavailable("no terrain raster")
        png = terrain.hillshade_png(_tile(z, x, y))
        return Response(png, media_type="image/png",
                        headers={"Cache-Control": "public, max-age=86400"})

    @router.get("/terrain/elevation", responses=errors(400, 404, 503))
    def elevation(request: Request,
                  lon: float = Query(ge=-180, le=180, allow_inf_nan=False, examples=[LON]),
                  lat: float = Query(ge=-90, le=90, allow_inf_nan=False, examples=[LAT]),
                  ) -> dict[str, Any]:
        """Elevation in metres at a WGS84 point."""
        terrain = _state(request).terrain
        if terrain is None:
            raise TerrainUnavailable("no terrain raster")
        value = terrain.elevation(lon, lat)
        if value is None:
            raise EntityNotFound("the point is outside the terrain raster")
        return {"lon": lon, "lat": lat, "elevation_m": value, "crs": "EPSG:4326",
                "vertical_unit": "m"}

    @router.get("/tiles/{layers}.json", responses=errors(400, 401, 404))
    def tilejson(request: Request, layers: str = _LAYERS) -> Any:
        """TileJSON 3.0.0 of one or several layers (``basemap`` = the basemap composite)."""
        try:
            principal = _principal(request)
        except UnknownApiKey:
            return _unauthorised()
        doc = _state(request).service.tilejson(_names(layers), principal)
        key = request.query_params.get("api_key")
        if key:  # a key given in the URL is passed on to the tile URLs
            doc["tiles"] = [t + f"?api_key={key}" for t in doc["tiles"]]
        return doc

    @router.get("/tiles/{layers}/{z}/{x}/{y}.mvt", response_class=Response,
                responses={200: {"content": {MVT: {}}}, 304: {"description": "Not modified"},
                           **errors(400, 401, 404)})
    def tile(request: Request, layers: str = _LAYERS, z: str = _Z, x: str = _X,
             y: str = _Y, datetime: str | None = Query(None, examples=["2024-06-30"]),
             ) -> Response:
        """An MVT tile of one or several layers; an empty tile is a valid empty MVT."""
        try:
            principal = _principal(request)
        except UnknownApiKey:
            return _unauthorised()
        state = _state(request)
        t = _tile(z, x, y)
        state.sync()
        entry = state.service.tile(_names(layers), t, principal, datetime)
        if entry.personal_rows:
            request.app.state.ogc.audit.record(principal, layers, "tile", entry.personal_rows,
                                               {"tile": f"{t.z}/{t.x}/{t.y}"})
        scope = "public" if principal.is_public else "private"
        headers = {"ETag": entry.etag, "Vary": "Accept-Encoding, X-API-Key, Authorization",
                   "Cache-Control": f"{scope}, max-age={state.service.settings.max_age}"}
        if entry.personal_rows:
            headers["Cache-Control"] = "private, no-store"
        if _etag_matches(request.headers.get("if-none-match"), entry.etag):
            return Response(status_code=304, headers=headers)
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return Response(entry.gz, media_type=MVT, headers=headers)
        return Response(entry.raw(), media_type=MVT, headers=headers)

    @router.get("/styles", responses=errors(401))
    def styles(request: Request) -> Any:
        """The styles the caller may load."""
        try:
            principal = _principal(request)
        except UnknownApiKey:
            return _unauthorised()
        svc = _state(request).service
        return {"styles": styles_index(svc.engine, principal, svc.base_url)}

    @router.get("/styles/glyphs/{fontstack}/{glyph_range}.pbf", response_class=Response,
                responses={200: {"content": {"application/x-protobuf": {}}}, **errors(400)})
    def glyphs(fontstack: str = PathParam(examples=["Noto Sans Regular"]),
               glyph_range: str = PathParam(pattern=r"^\d+-\d+$", examples=["0-255"])) -> Response:
        """An empty glyph set: labels use the browser's local fonts (docs/tiles.md)."""
        if not re.match(r"^\d+-\d+$", glyph_range):
            raise InvalidQuery("glyph range must be START-END")
        return Response(b"", media_type="application/x-protobuf",
                        headers={"Cache-Control": "public, max-age=86400"})

    @router.get("/styles/{name}.json", responses=errors(400, 401, 404))
    def style(request: Request,
              name: str = PathParam(pattern=_NAME.pattern, examples=["basemap"])) -> Any:
        """The basemap style, or the thematic style of one catalog layer."""
        try:
            principal = _principal(request)
        except UnknownApiKey:
            return _unauthorised()
        svc = _state(request).service
        if name == BASEMAP:
            return basemap_style(svc.base_url)
        ids = svc.engine.resolve(_names(name), principal)  # 404 when hidden
        if len(ids) != 1:
            raise InvalidQuery("a style is for one layer")
        return layer_style(svc.engine.catalog[ids[0]], svc.base_url)

    @router.get("/packs")
    def packs(request: Request) -> dict[str, Any]:
        """The offline PMTiles packs of the current data, with URL, bounds, zooms and size.

        ``status``: ``building`` while the server builds missing packs, else ``ready``.
        """
        state = _state(request)
        svc = state.service
        items = list_packs(svc.packs_dir, state.store_id)
        for p in items:
            p["url"] = f"{svc.base_url}/packs/{p['name']}{PACK_SUFFIX}"
        status = state.packs.state if state.packs is not None else "ready"
        return {"packs": items, "status": status}

    @router.get("/packs/{name}.pmtiles", response_class=FileResponse,
                responses={200: {"content": {"application/vnd.pmtiles": {}}},
                           **errors(404)})
    def pack(request: Request,
             name: str = PathParam(pattern=_PACK.pattern, examples=["luohu"])) -> FileResponse:
        """One pack; HTTP range requests answer 206 (ETag and Last-Modified set)."""
        if not _PACK.match(name) or name.startswith("."):
            raise EntityNotFound(f"no pack {name!r}")
        path = _state(request).service.packs_dir / f"{name}{PACK_SUFFIX}"
        if not path.is_file():
            raise EntityNotFound(f"no pack {name!r}")
        return FileResponse(path, media_type="application/vnd.pmtiles",
                            headers={"Cache-Control": "public, max-age=3600",
                                     "Accept-Ranges": "bytes"})

    return router


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    return any(t.strip().removeprefix("W/") == etag for t in header.split(","))

"""The map viewer: static files at ``/``, npm assets at ``/viewer/vendor``, and its small JSON API.

``GET /layers`` lists the catalog layers the caller's role may see (key in
``X-API-Key`` or ``api_key``); ``GET /viewer/api/blocks`` is the H3 choropleth
of one metric at a date; ``GET /viewer/api/industrial`` and
``GET /viewer/api/events`` feed the industrial-space and events views;
``POST /viewer/api/report`` renders the renewal-impact report (folium HTML).
``GET /viewer/api/events/categories`` counts one day's events by category for the
cockpit; ``GET /m`` is the mobile cockpit and ``GET /m/sw.js`` its service worker
(docs/cockpit.md).
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Literal

import h3.api.basic_int as h3i
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from gis.blocks import cell_polygon
from gis.errors import InvalidQuery
from layers.access import WWW_AUTHENTICATE, Principal, UnknownApiKey
from layers.catalog import PERSONS_ACCESS, FeatureQuery, Layer
from spatial_api.oas import LAT, LON, errors
from spatial_api.principal import request_principal as _principal

VIEWER_DIR = Path(__file__).resolve().parent.parent / "viewer"
STATIC_DIR = VIEWER_DIR / "static"
NODE_MODULES = VIEWER_DIR / "node_modules"

#: Metric of the block choropleth → entity kind aggregated by the ``blocks`` layer.
METRICS = {"population": "person", "enterprises": "enterprise", "events": "event",
           "vacancy": "industrial_space"}
RESOLUTIONS = (7, 8, 9, 10)
_MAX = 100_000
#: A calendar date as RFC 3339 writes it (``full-date``); ``date.fromisoformat``
#: alone would also take ``20240630`` and week dates.
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_QUERY = {"pattern": _DATE.pattern, "examples": ["2024-06-30"],
               "json_schema_extra": {"format": "date"}}

#: A small area around Dongmen, the report's example.
_AREA_EXAMPLE = {"type": "Polygon", "coordinates": [[
    [LON - 0.003, LAT - 0.003], [LON + 0.003, LAT - 0.003], [LON + 0.003, LAT + 0.003],
    [LON - 0.003, LAT + 0.003], [LON - 0.003, LAT - 0.003]]]}
_POLYGON = {"type": "object", "required": ["type", "coordinates"],
            "properties": {"type": {"type": "string", "enum": ["Polygon", "MultiPolygon"]},
                           "coordinates": {"type": "array"}}}
#: The report's request body.
REPORT_BODY = {"required": True, "content": {"application/json": {
    "schema": {"type": "object", "required": ["area"], "properties": {
        "area": {"description": "the area: a GeoJSON Polygon/MultiPolygon, or a Feature of one",
                 "anyOf": [_POLYGON, {"type": "object", "required": ["type", "geometry"],
                                      "properties": {"type": {"type": "string",
                                                              "enum": ["Feature"]},
                                                     "geometry": _POLYGON}}]},
        "as_of": {"type": ["string", "null"], "format": "date",
                  "description": "the date of the figures (null or absent: today)"}}},
    "example": {"area": _AREA_EXAMPLE, "as_of": "2024-06-30"}}}}



#: ``minlon,minlat,maxlon,maxlat`` (numbers only; the values are checked by check_bbox).
_BBOX = re.compile(r"^\s*-?[0-9.eE+-]+(\s*,\s*-?[0-9.eE+-]+){3}\s*$")


def _bbox_cells(text: str, res: int) -> set[int]:
    """The H3 cells at ``res`` that a ``bbox`` parameter overlaps (whole blocks)."""
    import shapely

    from gis.store.common import check_bbox
    from layers.catalog import touched_blocks_of

    try:
        box = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise InvalidQuery("bbox must be minlon,minlat,maxlon,maxlat") from None
    if len(box) != 4:
        raise InvalidQuery("bbox must be minlon,minlat,maxlon,maxlat")
    x0, y0, x1, y1 = check_bbox(box)  # type: ignore[arg-type]
    return set(touched_blocks_of(shapely.box(x0, y0, x1, y1), res))


def _unauthorised() -> JSONResponse:
    return JSONResponse({"code": "Unauthorized", "description": "unknown API key"},
                        status_code=401, headers={"WWW-Authenticate": WWW_AUTHENTICATE})


def _catalog(request: Request) -> dict[str, Layer]:
    catalog: dict[str, Layer] = request.app.state.ogc.catalog
    return catalog


def layer_entry(layer: Layer, principal: Principal) -> dict[str, Any]:
    """The viewer's description of one layer (titles, geometry, style, zooms, fields)."""
    return {
        "id": layer.id, "title_zh": layer.title_zh, "title_en": layer.title_en,
        "geometry": str(getattr(layer.geometry, "value", layer.geometry)),
        "style": layer.style.as_dict(), "minzoom": layer.minzoom, "maxzoom": layer.maxzoom,
        "time_field": layer.time_field, "restricted": "*" not in layer.access.roles,
        "parameters": [p.name for p in layer.parameters],
    }


def _as_of(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    import datetime as dt

    try:
        if not _DATE.match(str(value)):
            raise ValueError(value)
        dt.date.fromisoformat(str(value))
    except ValueError:
        raise InvalidQuery("as_of must be a date YYYY-MM-DD") from None
    return value


def _next_day(day: str) -> str:
    import datetime as dt

    return (dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat()


def _all(layer: Layer, request: Request, q: FeatureQuery) -> list[dict[str, Any]]:
    q.limit, q.count = _MAX, False
    return layer.features(request.app.state.store, q, _principal(request)).features


def viewer_router() -> APIRouter:
    """Routes of the viewer's JSON API."""
    router = APIRouter(tags=["viewer"])

    @router.get("/layers", responses=errors(401))
    def layers(request: Request) -> Any:
        """Catalog layers the caller's role may see, with style and zoom range."""
        try:
            principal = _principal(request)
        except UnknownApiKey:
            return _unauthorised()
        items = [layer_entry(layer, principal) for layer in _catalog(request).values()
                 if layer.access.allows(principal)]
        return {"role": principal.role, "holder": principal.holder, "layers": items}

    @router.get("/viewer/api/blocks", responses=errors(400, 401))
    def blocks(request: Request,
               metric: Literal["population", "enterprises", "events", "vacancy"] = "population",
               res: int = Query(8, ge=min(RESOLUTIONS), le=max(RESOLUTIONS)),
               as_of: str | None = Query(None, **_DATE_QUERY),  # type: ignore[arg-type]
               bbox: str | None = Query(None, pattern=_BBOX.pattern,
                                        examples=["114.11,22.54,114.12,22.55"],
                                        description="only the blocks this area "
                                        "(minlon,minlat,maxlon,maxlat) overlaps, each "
                                        "with its whole-block value"),
               ) -> Any:
        """H3 blocks of one metric at a date (GeoJSON; ``value`` is the metric).

        With ``bbox``, the blocks it overlaps, each whole: a value is never clipped
        to the area, so nested or shifted areas cannot reveal a small count by
        subtraction (differencing, issue 16; docs/security.md).
        """
        try:
            principal = _principal(request)
        except UnknownApiKey:
            return _unauthorised()
        cells = _bbox_cells(bbox, res) if bbox is not None else None
        if metric not in METRICS:
            raise InvalidQuery(f"metric must be one of {', '.join(METRICS)}")
        if res not in RESOLUTIONS:
            raise InvalidQuery(f"res must be one of {', '.join(map(str, RESOLUTIONS))}")
        date = _as_of(as_of)
        catalog = _catalog(request)
        if metric == "vacancy":
            spaces = _all(catalog["industrial_spaces"], request,
                          FeatureQuery(as_of=date, skip_geometry=False))
            area: dict[int, float] = defaultdict(float)
            vacant: dict[int, float] = defaultdict(float)
            for f in spaces:
                lon, lat = f["geometry"]["coordinates"][:2]
                cell = h3i.latlng_to_cell(lat, lon, res)
                area[cell] += float(f["properties"].get("area_m2") or 0)
                vacant[cell] += float(f["properties"].get("vacant_area_m2") or 0)
            feats = [{"type": "Feature", "id": h3i.int_to_str(c),
                      "geometry": {"type": "Polygon", "coordinates": [cell_polygon(c)]},
                      "properties": {"cell": h3i.int_to_str(c), "res": res,
                                     "value": round(vacant[c] / a, 4) if a else None,
                                     "area_m2": round(a, 1), "vacant_m2": round(vacant[c], 1)}}
                     for c, a in area.items()]
        else:
            layer = catalog["blocks"]
            if not layer.access.allows(principal):
                raise InvalidQuery("blocks are not available")
            q = FeatureQuery(as_of=date, params={"kind": METRICS[metric], "res": res})
            feats = _all(layer, request, q)
            for f in feats:
                f["properties"]["value"] = f["properties"].get("count")
        if cells is not None:
            feats = [f for f in feats if h3i.str_to_int(f["properties"]["cell"]) in cells]
        values = [f["properties"]["value"] for f in feats
                  if f["properties"].get("value") is not None]
        return {"type": "FeatureCollection", "metric": metric, "res": res, "as_of": date,
                "max": max(values) if values else 0, "features": feats}

    @router.get("/viewer/api/industrial", responses=errors(400, 401))
    def industrial(request: Request,
                   min_area: float = Query(0, ge=0, allow_inf_nan=False, examples=[500]),
                   max_area: float = Query(1e12, ge=0, allow_inf_nan=False,
                                           examples=[5000]),
                   use: str | None = Query(None, examples=["研发"]),
                   max_rent: float | None = Query(None, ge=0, allow_inf_nan=False,
                                                  examples=[150]),
                   min_vacancy: float = Query(0, ge=0, le=1, allow_inf_nan=False,
                                              examples=[0.1]),
                   as_of: str | None = Query(None, **_DATE_QUERY),  # type: ignore[arg-type]
                   ) -> Any:
        """Industrial spaces filtered by area range, use, rent and vacancy rate."""
        try:
            _principal(request)
        except UnknownApiKey:
            return _unauthorised()
        feats = _all(_catalog(request)["industrial_spaces"], request,
                     FeatureQuery(as_of=_as_of(as_of)))
        uses = sorted({str(f["properties"].get("use")) for f in feats
                       if f["properties"].get("use")})
        out = []
        for f in feats:
            p = f["properties"]
            area = float(p.get("area_m2") or 0)
            if not min_area <= area <= max_area:
                continue
            if use and p.get("use") != use:
                continue
            if max_rent is not None and p.get("rent") is not None and float(p["rent"]) > max_rent:
                continue
            if float(p.get("vacancy_rate") or 0) < min_vacancy:
                continue
            out.append(f)
        return {"type": "FeatureCollection", "uses": uses, "features": out}

    @router.get("/viewer/api/events", responses=errors(400, 401, 404))
    def events(request: Request, category: str | None = None,
               start: str | None = Query(None, **_DATE_QUERY),  # type: ignore[arg-type]
               end: str | None = Query(None, **_DATE_QUERY),  # type: ignore[arg-type]
               ) -> Any:
        """Events (points) in a time window and category, for the heat map."""
        try:
            principal = _principal(request)
        except UnknownApiKey:
            return _unauthorised()
        layer = _catalog(request)["events"]
        if not layer.access.allows(principal):
            # 404 like a hidden collection: a 403 would say that the data exist.
            return JSONResponse({"code": "NotFound", "description": "not found"},
                                status_code=404)
        feats = _all(layer, request, FeatureQuery())
        cats = sorted({str(f["properties"].get("category")) for f in feats
                       if f["properties"].get("category")})
        s, e = _as_of(start), _as_of(end)
        out = []
        for f in feats:
            p = f["properties"]
            day = str(p.get("occurred_at") or "")[:10]
            if (category and p.get("category") != category) or (s and day < s) or (
                    e and day > e):
                continue
            out.append({"type": "Feature", "geometry": f["geometry"],
                        "properties": {"id": p.get("id"), "category": p.get("category"),
                                       "occurred_at": p.get("occurred_at"),
                                       "status": p.get("status")}})
        return {"type": "FeatureCollection", "categories": cats, "features": out}

    @router.get("/viewer/api/events/categories", responses=errors(400, 401, 404))
    def event_categories(request: Request,
                         day: str | None = Query(None, **_DATE_QUERY),  # type: ignore[arg-type]
                         code: str | None = Query(None, pattern=r"^[0-9A-Za-z_-]{1,32}$",
                                                  examples=["440303001"]),
                         ) -> Any:
        """One day's events by category (default: the latest day with events), in the
        district or one subdistrict/community (``code``): the cockpit's "today" panel."""
        from gis.filters import Filter

        try:
            principal = _principal(request)
        except UnknownApiKey:
            return _unauthorised()
        if not _catalog(request)["events"].access.allows(principal):
            # 404 like a hidden collection, as /viewer/api/events answers.
            return JSONResponse({"code": "NotFound", "description": "not found"},
                                status_code=404)
        store = request.app.state.store
        d = _as_of(day)
        if d is None:
            last = store.query("event", columns=["occurred_at"], order_by=["-occurred_at"],
                               limit=1)
            d = str(last["occurred_at"].iloc[0])[:10] if len(last) else None
        counts: dict[str, int] = {}
        if d is not None:
            # The day's window is selected in SQL (occurred_at is ISO text in UTC), so a
            # request reads one day's rows, not the years of history.
            f = Filter.from_text(f"occurred_at >= TIMESTAMP('{d}T00:00:00Z') AND "
                                 f"occurred_at < TIMESTAMP('{_next_day(d)}T00:00:00Z')")
            df = store.query("event", columns=["category", "subdistrict_code",
                                               "community_code"], filter=f)
            if code:
                df = df[(df["subdistrict_code"] == code) | (df["community_code"] == code)]
            counts = {str(k): int(v) for k, v in df["category"].value_counts().items()}
        cats = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return {"day": d, "code": code, "total": sum(counts.values()),
                "categories": [{"category": k, "count": v} for k, v in cats]}

    @router.get("/m", include_in_schema=False)
    def mobile() -> FileResponse:
        """The mobile cockpit (one page; its service worker keeps it working offline)."""
        return FileResponse(STATIC_DIR / "m" / "index.html", media_type="text/html",
                            headers={"Cache-Control": "no-cache"})

    @router.get("/m/sw.js", include_in_schema=False)
    def mobile_worker() -> FileResponse:
        """The mobile cockpit's service worker, allowed to control ``/m`` itself (a worker
        at /m/sw.js may by default only control /m/…; Service Workers §4.1 scope)."""
        return FileResponse(STATIC_DIR / "m" / "sw.js", media_type="text/javascript",
                            headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/m"})

    @router.post("/viewer/api/report", response_class=HTMLResponse,
                 openapi_extra={"requestBody": REPORT_BODY}, responses=errors(400, 401))
    async def report(request: Request) -> Any:
        """The renewal-impact report (standalone HTML) of the posted GeoJSON area."""
        from shapely.geometry import shape

        from gis.analysis.renewal import RenewalImpactInput, public_impact, renewal_impact
        from viewer.report import render_renewal_report

        try:
            principal = _principal(request)
        except UnknownApiKey:
            return _unauthorised()
        try:
            body = await request.json()
        except ValueError:  # no body, or not JSON (UnicodeDecodeError is a ValueError)
            raise InvalidQuery("the body must be a JSON object with a GeoJSON area") from None
        area = body.get("area") if isinstance(body, dict) else None
        if isinstance(area, dict) and area.get("type") == "Feature":
            area = area.get("geometry")
        if not isinstance(area, dict):
            raise InvalidQuery("area must be a GeoJSON polygon")
        try:
            geom = shape(area)
        except Exception:
            raise InvalidQuery("area must be a GeoJSON polygon") from None
        store = request.app.state.store
        as_of = body.get("as_of")
        if as_of is not None and (not isinstance(as_of, str) or _as_of(as_of) is None):
            raise InvalidQuery("as_of must be a date YYYY-MM-DD")
        inp = RenewalImpactInput(geom, as_of)

        def build() -> str:
            result = renewal_impact(store, inp)
            if not PERSONS_ACCESS.allows(principal):  # whole-block person figures
                result = public_impact(store, inp, result, principal.k)
            return render_renewal_report(store, geom, result.as_dict())

        # GIL-bound work off the event loop, which keeps serving other requests
        html = await run_in_threadpool(build)
        return HTMLResponse(html, headers={
            "Content-Disposition": 'attachment; filename="renewal-report.html"'})

    return router


def mount_viewer(app: FastAPI) -> None:
    """Add the viewer API, the npm assets and the static app (at ``/``, mounted last)."""
    app.include_router(viewer_router())
    if NODE_MODULES.is_dir():
        app.mount("/viewer/vendor", StaticFiles(directory=NODE_MODULES), name="viewer-vendor")
    app.mount("/", StaticFiles(directory=STATIC_DIR, html=True), name="viewer")

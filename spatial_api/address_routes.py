"""HTTP routes of the unified address service (mounted under ``/address``).

The routes only read the request, call :class:`address.service.AddressService`
(built once at start-up, ``request.app.state.address``) and render JSON or
GeoJSON. Bad input answers 400 with ``{"code", "description"}``; the router
renders these itself so that it behaves the same in any host app.
"""

from __future__ import annotations

import json
import math
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from address.batch import frame_to_csv, geocode_frame, read_csv_text
from address.errors import MAX_TEXT_CHARS, AddressError, AddressInputError, check_text
from address.reverse import MAX_LIMIT as MAX_REVERSE
from address.reverse import MAX_RADIUS_M
from address.service import MAX_LIMIT as MAX_CANDIDATES
from address.service import AddressAnswers
from gis.crs import COORDSYS
from spatial_api.oas import ADDRESS, LAT, LON, TEXT_PATTERN, errors, query

GEOJSON = "application/geo+json"
#: Most texts in one batch request, and the largest body accepted.
MAX_BATCH_ITEMS = 10_000
MAX_BATCH_BYTES = 5 * 1024 * 1024


def _error(description: str, status: int = 400,
           code: str = "InvalidParameterValue") -> JSONResponse:
    return JSONResponse({"code": code, "description": description}, status_code=status)


def _service(request: Request) -> AddressAnswers:
    svc: AddressAnswers | None = getattr(request.app.state, "address", None)
    if svc is None:
        raise _Unavailable()
    return svc


class _Unavailable(Exception):
    pass


def _guard(fn: Any) -> Any:
    """Turn address errors into 400 answers (and a missing service into 503)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AddressError as exc:
            return _error(exc.message)
        except _Unavailable:
            return _error("the address service is not available", 503, "ServiceUnavailable")

    return wrapper


def _int(value: str | None, name: str, default: int, lo: int, hi: int) -> int:
    if value is None or value == "":
        return default
    try:
        out = int(value)
    except ValueError:
        raise AddressInputError(f"{name} must be an integer") from None
    if not lo <= out <= hi:
        raise AddressInputError(f"{name} must be {lo}-{hi}")
    return out


def _float(value: str | None, name: str, default: float | None = None) -> float:
    if value is None or value == "":
        if default is None:
            raise AddressInputError(f"{name} is required")
        return default
    try:
        out = float(value)
    except ValueError:
        raise AddressInputError(f"{name} must be a number") from None
    if not math.isfinite(out):
        raise AddressInputError(f"{name} must be a finite number")
    return out


def _q(q: str | None) -> str:
    if q is None:
        raise AddressInputError("query parameter q is required")
    return check_text(q, what="q")


def _feature_collection(features: list[dict[str, Any]], **members: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "FeatureCollection", "features": features,
                            "numberReturned": len(features)}
    body.update(members)
    return JSONResponse(body, media_type=GEOJSON)


#: The address text parameter as the routes check it (``check_text``).
_Q = query("q", {"type": "string", "minLength": 1, "maxLength": MAX_TEXT_CHARS,
                 "pattern": TEXT_PATTERN}, f"address text (≤ {MAX_TEXT_CHARS} characters)",
           required=True, example=ADDRESS)
# The routes read their parameters themselves (the same 400 in any host app): FastAPI
# knows them as hidden strings, and ``openapi_extra`` documents them as they are.


def _limit(most: int, default: int) -> dict[str, Any]:
    return query("limit", {"type": "integer", "minimum": 1, "maximum": most,
                           "default": default}, f"most results (1-{most})", example=default)


def address_router() -> APIRouter:
    """The ``/address`` routes: parse, geocode, reverse, batch."""
    router = APIRouter(tags=["address"])

    @router.get("/parse", summary="Parse an address into its components",
                openapi_extra={"parameters": [_Q]}, responses=errors(400, 503))
    @_guard
    def parse(request: Request, q: str | None = Query(None, include_in_schema=False)) -> Any:
        """Components ``province, city, district, subdistrict, community, road,
        house_number, poi, building, unit, floor, room`` and the normalised string."""
        text = _q(q)
        parsed = _service(request).parse(text)
        return {"input": text, "normalized": parsed.normalized,
                "components": dict(parsed.components)}

    @router.get("/geocode", summary="Geocode an address text",
                openapi_extra={"parameters": [_Q, _limit(MAX_CANDIDATES, 5)]},
                responses=errors(400, 503))
    @_guard
    def geocode(request: Request, q: str | None = Query(None, include_in_schema=False),
                limit: str | None = Query(None, include_in_schema=False)) -> Any:
        """Ranked standard addresses as a GeoJSON FeatureCollection, best first, with
        properties ``address_id, address, score, level``."""
        text = _q(q)
        n = _int(limit, "limit", 5, 1, MAX_CANDIDATES)
        found = _service(request).geocode(text, n)
        return _feature_collection([c.as_feature() for c in found], query=text)

    @router.get("/reverse", summary="Nearest standard addresses of a point",
                openapi_extra={"parameters": [
                    query("lon", {"type": "number", "minimum": -180, "maximum": 180},
                          "longitude", required=True, example=LON),
                    query("lat", {"type": "number", "minimum": -90, "maximum": 90},
                          "latitude", required=True, example=LAT),
                    query("radius", {"type": "number", "exclusiveMinimum": 0,
                                     "maximum": MAX_RADIUS_M, "default": 100},
                          "search radius in metres", example=100),
                    _limit(MAX_REVERSE, 5),
                    query("coordsys", {"type": "string", "enum": list(COORDSYS),
                                       "default": "wgs84"},
                          "coordinate system of lon/lat", example="wgs84")]},
                responses=errors(400, 503))
    @_guard
    def reverse(request: Request,
                lon: str | None = Query(None, include_in_schema=False),
                lat: str | None = Query(None, include_in_schema=False),
                radius: str | None = Query(None, include_in_schema=False),
                limit: str | None = Query(None, include_in_schema=False),
                coordsys: str | None = Query(None, include_in_schema=False),
                ) -> Any:
        """Addresses within ``radius`` metres, nearest first, with ``distance_m``, and a
        top-level ``context`` (district, subdistrict, community, grid, H3 block)."""
        x = _float(lon, "lon")
        y = _float(lat, "lat")
        r = _float(radius, "radius", 100.0)
        n = _int(limit, "limit", 5, 1, 100)
        res = _service(request).reverse(x, y, r, n, coordsys or "wgs84")
        return JSONResponse(res.as_geojson(), media_type=GEOJSON)

    @router.post("/geocode/batch", summary="Geocode many addresses",
                 openapi_extra={"requestBody": {"required": True, "content": {
                     "application/json": {
                         "schema": {"type": "array", "minItems": 1,
                                    "maxItems": MAX_BATCH_ITEMS,
                                    "items": _Q["schema"]},
                         "example": [ADDRESS, "罗湖区人民南路3002号"]},
                     "text/csv": {"schema": {"type": "string"},
                                  "example": f"id,address\n1,{ADDRESS}\n"}}},
                     "parameters": [query("column", {"type": "string"},
                                          "CSV column holding the address text")]},
                 responses=errors(400, 503))
    async def batch(request: Request) -> Any:
        """A JSON array of strings → a FeatureCollection with one feature per input, in
        input order (``geometry`` null when unresolved); a CSV upload (``text/csv`` body
        or a multipart file) → the CSV with ``lon, lat, address_id, score, level`` added."""
        try:
            svc = _service(request)
            body = await request.body()
            if not body:
                raise AddressInputError("the request body is empty")
            if len(body) > MAX_BATCH_BYTES:
                raise AddressInputError(f"the body is larger than {MAX_BATCH_BYTES} bytes")
            ctype = request.headers.get("content-type", "").lower()
            if "csv" in ctype or ctype.startswith("text/plain"):
                return await run_in_threadpool(_batch_csv, svc, body,
                                               request.query_params.get("column"))
            if ctype.startswith("multipart/form-data"):
                data = _multipart_file(body, request.headers.get("content-type", ""))
                return await run_in_threadpool(_batch_csv, svc, data,
                                               request.query_params.get("column"))
            try:
                items = json.loads(body)
            except (UnicodeDecodeError, ValueError):
                raise AddressInputError(
                    "the body must be a JSON array of strings or a CSV file") from None
            return await run_in_threadpool(_batch_json, svc, items)
        except AddressError as exc:
            return _error(exc.message)
        except _Unavailable:
            return _error("the address service is not available", 503, "ServiceUnavailable")

    return router


def _batch_json(svc: AddressAnswers, items: Any) -> JSONResponse:
    if not isinstance(items, list):
        raise AddressInputError("the body must be a JSON array of strings")
    if not items:
        raise AddressInputError("the array is empty")
    if len(items) > MAX_BATCH_ITEMS:
        raise AddressInputError(f"at most {MAX_BATCH_ITEMS} addresses per request")
    texts = [check_text(t, what=f"item {i}") for i, t in enumerate(items)]
    features = []
    resolved = 0
    for i, (text, cand) in enumerate(zip(texts, svc.geocode_many(texts), strict=True)):
        if cand is None:
            features.append({"type": "Feature", "geometry": None,
                             "properties": {"index": i, "input": text, "address_id": None,
                                            "address": None, "score": None, "level": None,
                                            "matched_name": None,
                                            "status": "unresolved"}})
        else:
            resolved += 1
            features.append(cand.as_feature(index=i, input=text, status="resolved"))
    return _feature_collection(features, resolved=resolved, unresolved=len(texts) - resolved)


def _batch_csv(svc: AddressAnswers, data: bytes, column: str | None) -> Response:
    frame = read_csv_text(data)
    if len(frame) == 0:
        raise AddressInputError("the CSV has no rows")
    if len(frame) > MAX_BATCH_ITEMS:
        raise AddressInputError(f"at most {MAX_BATCH_ITEMS} rows per request")
    out, report = geocode_frame(svc, frame, column)
    return Response(frame_to_csv(out), media_type="text/csv; charset=utf-8",
                    headers={"X-Resolved": str(report.resolved),
                             "X-Unresolved": str(report.unresolved)})


def _multipart_file(body: bytes, content_type: str) -> bytes:
    """The first file part of a multipart/form-data body.

    Parsed with the standard library's MIME parser: the routes need one file
    part, which does not justify another dependency (python-multipart).
    """
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    msg = BytesParser(policy=HTTP).parsebytes(head + body)
    if not msg.is_multipart():
        raise AddressInputError("the multipart body could not be read")
    for part in msg.iter_parts():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes) and (part.get_filename() or payload):
            return payload
    raise AddressInputError("the multipart body holds no file")

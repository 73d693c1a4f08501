"""Mounting pygeoapi at ``/ogc``: bootstrap, roles, and the narrow fixes OneMap needs.

pygeoapi 0.21 reads one configuration at import time and serves every request
with one global ``API`` object. OneMap needs a different view per role, a
CQL2-text parser, and the caller's principal inside the provider. It gets them
by replacing pygeoapi's ``execute_from_starlette`` (the one function every
Starlette route calls) with a wrapper that

- picks the role's own ``API`` object (built from the role's generated
  configuration), so hidden collections are absent and answer 404;
- runs pygeoapi's handler with the request context set in the worker thread;
- swaps three handlers for thin wrappers (items: CQL2 filter languages;
  conformance: Part 3 classes; openapi: generated per role on first use).

Everything else is pygeoapi's own code. See docs/ogc.md.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import re
import shutil
import sys
import tempfile
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import yaml
from starlette.types import ASGIApp, Receive, Scope, Send

from gis.errors import CoreError, InvalidQuery
from gis.filters import parse_cql2_json, parse_cql2_text
from layers.access import (
    ADMIN,
    WWW_AUTHENTICATE,
    Principal,
    UnknownApiKey,
    request_api_key,
)
from layers.audit import AuditLog
from layers.auth import Authenticator, RateLimited
from layers.catalog import DEPTS, Layer, default_catalog, visible_layers
from spatial_api.ogc import guards
from spatial_api.ogc.config import FILTER_CONFORMANCE, SUPPORTED_CRS, pygeoapi_config
from spatial_api.ogc.context import CURRENT, JSON_BODY, OgcRuntime, RequestContext
from spatial_api.ogc.settings import OgcSettings

log = logging.getLogger(__name__)

_SCOPE_KEY = "onemap.ogc"
_FILTER_LANGS = ("cql2-text", "cql2-json")
_PATCHED = False
_ITEMS = re.compile(r"/collections/[^/]+/items/?$")
_EXECUTE = re.compile(r"/processes/([^/]+)/execution/?$")
#: Processes only some roles may run. Checked here, before pygeoapi: its process manager
#: rewrites a plugin's 401 into a 400, and a caller without the role must learn that it is
#: the credentials (401 for the public, 403 for a role that has them but may not).
PROCESS_ACCESS = {"hotspots": DEPTS}


# ---------------------------------------------------------------------------
# bootstrap (one pygeoapi import per process)


def _bootstrap(runtime: OgcRuntime) -> Any:
    """Import ``pygeoapi.starlette_app`` once, with a configuration generated from the catalog.

    pygeoapi reads ``PYGEOAPI_CONFIG``/``PYGEOAPI_OPENAPI`` when imported; that
    module-level configuration only serves requests that bypass the gate (none
    in OneMap). Each app's own per-role configurations are built at start-up.
    """
    if "pygeoapi.starlette_app" not in sys.modules:
        cfg = pygeoapi_config(runtime.catalog.values(), base_url=runtime.base_url,
                              output_dir=str(runtime.run_dir / "jobs"),
                              max_items=runtime.max_items)
        cfg_path = runtime.run_dir / "pygeoapi-bootstrap.yml"
        cfg_path.write_text(yaml.safe_dump(_yaml_safe(cfg), allow_unicode=True),
                            encoding="utf-8")
        oas_path = runtime.run_dir / "pygeoapi-bootstrap-openapi.json"
        oas_path.write_text("{}", encoding="utf-8")
        os.environ["PYGEOAPI_CONFIG"] = str(cfg_path)
        os.environ["PYGEOAPI_OPENAPI"] = str(oas_path)
    import pygeoapi.starlette_app as sa

    _patch(sa)
    return sa


def _yaml_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _yaml_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_yaml_safe(v) for v in obj]
    return obj


def _patch(sa: Any) -> None:
    """Install the wrapper around ``execute_from_starlette`` and the filter parsers."""
    global _PATCHED
    if _PATCHED:
        return
    import pygeoapi.api as core_api
    import pygeoapi.api.itemtypes as itemtypes
    import pygeoapi.api.processes as processes_api
    import pygeoapi.api.tiles as tiles_api

    original = sa.execute_from_starlette
    overrides: dict[Callable[..., Any], Callable[..., Any]] = {
        itemtypes.get_collection_items: functools.partial(
            _geojson, functools.partial(_items, itemtypes.get_collection_items)),
        itemtypes.get_collection_item: functools.partial(
            _geojson, itemtypes.get_collection_item),
        core_api.conformance: functools.partial(_conformance, core_api.conformance),
        core_api.openapi_: functools.partial(_openapi, core_api.openapi_),
        tiles_api.get_collection_tiles_metadata: functools.partial(
            _tiles_metadata, tiles_api.get_collection_tiles_metadata),
        itemtypes.get_collection_queryables: functools.partial(
            _temporal_roles, itemtypes.get_collection_queryables),
        core_api.get_collection_schema: functools.partial(
            _temporal_roles, core_api.get_collection_schema),
        processes_api.execute_process: functools.partial(
            guards.execute_process, processes_api.execute_process),
    }

    async def execute(api_function: Callable[..., Any], request: Any, *args: Any,
                      skip_valid_check: bool = False, alternative_api: Any = None) -> Any:
        ctx: RequestContext | None = request.scope.get(_SCOPE_KEY)
        if ctx is None:
            return await original(api_function, request, *args,
                                  skip_valid_check=skip_valid_check,
                                  alternative_api=alternative_api)
        api = role_api(ctx.runtime, ctx.principal)
        # Query parameters the OpenAPI document rules out answer 400 (guards.py).
        path = request.scope["path"].removeprefix(request.scope.get("root_path", ""))
        problem = guards.rules(api).check(path, request.method,
                                          request.query_params.multi_items())
        if problem is not None:
            return guards.bad_request(problem)
        fn = overrides.get(api_function, api_function)
        bound = functools.partial(_in_context, ctx, fn)
        return await original(bound, request, *args, skip_valid_check=skip_valid_check,
                              alternative_api=api)

    sa.execute_from_starlette = execute
    # HTML pages: pygeoapi caches the translated configuration per locale in one
    # module-level dict, so the first role to render HTML fixed the collections
    # every other role's pages saw (a 500 for a collection that role lacked, and
    # the wrong role's metadata). The cache is keyed by role as well.
    import pygeoapi.l10n as l10n

    l10n._cfg_cache = guards.RoleConfigCache()
    # JSON bodies: pygeoapi writes them with ``json.dumps``' default allow_nan=True.
    # Missing values are None at the source (layers.catalog); this is the backstop
    # so that no handler can send a bare NaN token (RFC 8259 §6).
    for name in ("pygeoapi.util", "pygeoapi.api", "pygeoapi.api.itemtypes",
                 "pygeoapi.api.tiles", "pygeoapi.api.processes"):
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "to_json"):
            setattr(module, "to_json", strict_to_json)  # noqa: B010
    # Text filters: pygeoapi 0.21 parses them as ECQL; OneMap parses CQL2 (the
    # items wrapper has already parsed and validated them, see _items).
    itemtypes.parse_ecql_text = _parsed_filter
    # CQL2-JSON bodies: pygeoapi's parser swaps bbox axes and misreads BETWEEN.
    itemtypes.parse_cql2_json = _parse_json_body
    _PATCHED = True


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def strict_to_json(dict_: Any, pretty: bool = False) -> str:
    """pygeoapi's ``to_json`` that never writes NaN/Infinity (they become ``null``)."""
    from pygeoapi.util import json_serial

    def default(obj: Any) -> Any:
        # Pre-written geometries (FeatureQuery.geometry_text) for the json module.
        if isinstance(obj, orjson.Fragment):
            return json.loads(orjson.dumps(obj))
        return json_serial(obj)

    if not pretty:
        # orjson writes a page of 1,000 features ten times faster than ``json.dumps``
        # (2.4 vs 30 ms for 824 KB of buildings), and writes NaN/Infinity as null itself.
        # Anything it cannot write (a key that is not a string...) takes the json path.
        try:
            return orjson.dumps(dict_, default=default,
                                option=orjson.OPT_SERIALIZE_NUMPY).decode()
        except TypeError:
            pass
    indent = 4 if pretty else None
    try:
        return json.dumps(dict_, default=default, indent=indent, separators=(",", ":"),
                          allow_nan=False)
    except ValueError:
        log.warning("a non-finite number in a JSON answer was written as null")
        return json.dumps(_finite(dict_), default=default, indent=indent,
                          separators=(",", ":"), allow_nan=False)


def _in_context(ctx: RequestContext, fn: Callable[..., Any], *args: Any) -> Any:
    token = CURRENT.set(ctx)
    try:
        return fn(*args)
    except Exception:
        # pygeoapi lets some errors escape its handlers (a bare 500 with an empty
        # body); answer with an OGC exception body and no internals instead.
        log.exception("unhandled error in an OGC handler")
        api = args[0]
        headers = {"Content-Type": "application/json"}
        return api.get_exception(500, headers, "json", "NoApplicableCode",
                                 "internal error")
    finally:
        CURRENT.reset(token)


# ---------------------------------------------------------------------------
# per-role API objects


def role_api(runtime: OgcRuntime, principal: Principal) -> Any:
    """The pygeoapi ``API`` of ``principal``'s role (built on first use, then cached)."""
    api = runtime.apis.get(principal.role)
    if api is None:
        from pygeoapi.api import API

        layers = visible_layers(runtime.catalog, principal)
        cfg = pygeoapi_config(layers, base_url=runtime.base_url,
                              output_dir=str(runtime.run_dir / "jobs"),
                              extents=runtime.extents, max_items=runtime.max_items,
                              default_items=runtime.default_items, role=principal.role)
        api = API(cfg, None)
        runtime.apis[principal.role] = api
    return api


# ---------------------------------------------------------------------------
# handler wrappers (run in pygeoapi's worker thread, context set)


class _Params(dict):  # type: ignore[type-arg]
    """Query parameters with ``filter-lang`` hidden from pygeoapi's own check.

    pygeoapi 0.21 accepts only ``cql-text``/``cql-json`` there; OneMap has
    already validated the (CQL2) language, and ``items()`` still returns it so
    paging links keep it.
    """

    def get(self, key: Any, default: Any = None) -> Any:
        if key == "filter-lang":
            return default
        return super().get(key, default)




def _parsed_filter(_text: str) -> Any:
    ctx_filter = _THREAD.filter
    if ctx_filter is None:
        raise InvalidQuery("bad CQL2 text")
    return ctx_filter


def _parse_json_body(body: str) -> Any:
    return parse_cql2_json(body)


class _Thread:
    """Per-thread slot for the filter parsed by the items wrapper."""

    def __init__(self) -> None:
        import threading

        self._local = threading.local()

    @property
    def filter(self) -> Any:
        return getattr(self._local, "filter", None)

    @filter.setter
    def filter(self, value: Any) -> None:
        self._local.filter = value


_THREAD = _Thread()


def _items(original: Callable[..., Any], api: Any, request: Any, dataset: str) -> Any:
    """Items: validate ``filter-lang``/``filter-crs`` and parse CQL2, then pygeoapi."""
    params = request.params
    headers = request.get_response_headers(**api.api_headers)
    lang = params.get("filter-lang")
    text = params.get("filter")
    _THREAD.filter = None
    try:
        if lang is not None and lang not in _FILTER_LANGS:
            raise InvalidQuery(f"filter-lang must be one of {', '.join(_FILTER_LANGS)}")
        if text is not None:
            node = parse_cql2_json(text) if lang == "cql2-json" else parse_cql2_text(text)
            _THREAD.filter = node
        fcrs = params.get("filter-crs")
        if fcrs is not None and fcrs not in SUPPORTED_CRS:
            # pygeoapi itself moves the literals from filter-crs to the storage CRS.
            raise InvalidQuery(f"filter-crs must be one of {', '.join(SUPPORTED_CRS)}")
    except CoreError as exc:
        return api.get_exception(400, headers, request.format, "InvalidParameterValue",
                                 exc.message)
    request._args = _Params(params.items())
    # pygeoapi's own JSON (F_JSON, also its default) is written by strict_to_json alone.
    token = JSON_BODY.set(request.format in (None, "json"))
    try:
        return original(api, request, dataset)
    finally:
        JSON_BODY.reset(token)
        _THREAD.filter = None


GEOJSON = "application/geo+json"


def _accept_q(accept: str, mime: str) -> float:
    """The quality an ``Accept`` header gives exactly ``mime`` (0 when absent)."""
    best = 0.0
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        if fields[0].lower() != mime:
            continue
        q = 1.0
        for f in fields[1:]:
            if f.lower().startswith("q="):
                try:
                    q = float(f[2:])
                except ValueError:
                    q = 0.0
        best = max(best, q)
    return best


def _geojson(original: Callable[..., Any], api: Any, request: Any, *args: Any) -> Any:
    """Items and items/{id} as ``application/geo+json`` (Features Part 1, Req 7).

    /req/geojson/content: a GeoJSON response carries ``application/geo+json``.
    pygeoapi 0.21 labels ``f=json`` and an ``Accept: application/geo+json``
    request ``application/json``. ``application/json`` is kept only for a client
    that asks for exactly that (no ``f``, and ``Accept`` prefers it to
    ``application/geo+json``); exception bodies stay ``application/json``.
    """
    headers, status, content = original(api, request, *args)
    if status == 200 and headers.get("Content-Type") == "application/json":
        accept = ",".join(str(v) for k, v in (request.headers or {}).items()
                          if str(k).lower() == "accept")
        asked_json = not (request.params.get("f") or "").strip() and (
            _accept_q(accept, "application/json") > _accept_q(accept, GEOJSON))
        if not asked_json:
            headers["Content-Type"] = GEOJSON
    return headers, status, content


def _conformance(original: Callable[..., Any], api: Any, request: Any) -> Any:
    """pygeoapi's conformance document plus the Part 3 / CQL2 classes OneMap implements."""
    headers, status, content = original(api, request)
    if status == 200 and isinstance(content, str) and content.startswith("{"):
        doc = json.loads(content)
        doc["conformsTo"] = sorted((set(doc.get("conformsTo", [])) | set(FILTER_CONFORMANCE))
                                   - {guards.CALLBACK_CONFORMANCE})
        content = json.dumps(doc)
    return headers, status, content


def _tiles_metadata(original: Callable[..., Any], api: Any, request: Any, *args: Any) -> Any:
    """Tile-set metadata; pygeoapi 0.21 fails (500) when no ``f`` is given: default to JSON."""
    if request.format is None:
        request._format = "json"
    return original(api, request, *args)


def _temporal_roles(original: Callable[..., Any], api: Any, request: Any, dataset: str,
                    *args: Any) -> Any:
    """Queryables and schema with the temporal roles ``datetime`` implements.

    pygeoapi 0.21 marks its one ``time_field`` ``primary-instant``; the layer
    declares what its ``datetime`` filter does (``Layer.temporal_roles``, docs/ogc.md).
    """
    headers, status, content = original(api, request, dataset, *args)
    ctx = CURRENT.get()
    layer = ctx.runtime.catalog.get(dataset) if ctx is not None else None
    if status == 200 and layer is not None and isinstance(content, str) \
            and content.startswith("{"):
        doc = json.loads(content)
        roles = layer.temporal_roles()
        for name, prop in doc.get("properties", {}).items():
            if isinstance(prop, dict) and str(prop.get("x-ogc-role", "")).startswith(
                    "primary-") and prop["x-ogc-role"] != "primary-geometry":
                del prop["x-ogc-role"]
            if name in roles and isinstance(prop, dict):
                prop["x-ogc-role"] = roles[name]
        content = json.dumps(doc)
    return headers, status, content


def _openapi(original: Callable[..., Any], api: Any, request: Any) -> Any:
    """The role's OpenAPI document, generated from its configuration on first use."""
    guards.document(api)
    return original(api, request)


# ---------------------------------------------------------------------------
# the gate: API key -> principal


class OgcGate:
    """ASGI middleware in front of pygeoapi: resolves the caller's principal."""

    def __init__(self, app: ASGIApp, runtime: OgcRuntime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Resolve the API key, then hand the request to pygeoapi (401 for a bad key)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from urllib.parse import parse_qs


        headers = {name: value.decode("latin-1") for name, value in scope.get("headers", [])
                   if name in (b"x-api-key", b"authorization", b"content-type")}
        ctype = headers.get(b"content-type")
        qs = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        try:
            key = request_api_key(headers.get(b"x-api-key"), headers.get(b"authorization"),
                                  (qs.get("api_key") or [None])[0])
            principal = self.runtime.roles.principal(key)
        except RateLimited as exc:
            await _json(send, 429, {"code": "TooManyRequests", "description": exc.message},
                        [(b"retry-after", str(exc.retry_after).encode())])
            return
        except UnknownApiKey:
            await _json(send, 401, {"code": "InvalidApiKey", "description": "unknown API key"},
                        [(b"www-authenticate", WWW_AUTHENTICATE.encode())])
            return
        if scope.get("method") == "POST" and ctype is None and _ITEMS.search(scope["path"]):
            # pygeoapi 0.21 picks the handler of a POST to items by its Content-Type
            # and has none without one (a bare 500): say what it takes instead.
            await _json(send, 415, {"code": "UnsupportedMediaType",
                                    "description": "POST to items takes a CQL2-JSON filter "
                                                   "(Content-Type: application/query-cql-json)"})
            return
        executed = _EXECUTE.search(scope["path"]) if scope.get("method") == "POST" else None
        rule = PROCESS_ACCESS.get(executed.group(1)) if executed else None
        if rule is not None and not rule.allows(principal):
            if principal.is_public:
                await _json(send, 401, {"code": "Unauthorized",
                                        "description": "this process needs a department's key"},
                            [(b"www-authenticate", WWW_AUTHENTICATE.encode())])
            else:
                await _json(send, 403, {"code": "Forbidden",
                                        "description": "this role may not run this process"})
            return
        if self.runtime.store is None:
            await _json(send, 503, {"code": "ServiceUnavailable",
                                    "description": "the service is starting"})
            return
        scope[_SCOPE_KEY] = RequestContext(self.runtime, principal)
        await self.app(_tms_alias(scope), receive, send)


def _tms_alias(scope: Scope) -> Scope:
    """``/tileMatrixSets`` (OGC API Tiles, /req/tilematrixsets) served at pygeoapi's route.

    pygeoapi 0.21 advertises ``{server.url}/tileMatrixSets`` on the landing page
    and in its tile documents but routes only ``/TileMatrixSets``: the path is
    rewritten so that the advertised link resolves.
    """
    root = scope.get("root_path", "")
    path: str = scope["path"]
    prefix = f"{root}/tileMatrixSets"
    if path == prefix or path.startswith(prefix + "/"):
        path = f"{root}/TileMatrixSets{path[len(prefix):]}"
        return {**scope, "path": path, "raw_path": path.encode("utf-8")}
    return scope


async def _json(send: Send, status: int, body: dict[str, Any],
                extra: list[tuple[bytes, bytes]] | None = None) -> None:
    # The OGC exception schema (RFC 7807 shape) that the OpenAPI document names for every
    # error requires `type`; the host's error bodies carry it too (spatial_api/errors.py).
    if "code" in body and "type" not in body:
        body = {"type": body["code"], **body}
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(data)).encode()), *(extra or [])]})
    await send({"type": "http.response.body", "body": data})


# ---------------------------------------------------------------------------
# mount


def make_runtime(base_url: str, data_dir: Path, settings: OgcSettings | None = None,
                 catalog: dict[str, Layer] | None = None) -> OgcRuntime:
    """The runtime of one app (roles file read, run directory created)."""
    settings = settings or OgcSettings()
    run_dir = Path(tempfile.mkdtemp(prefix="onemap-ogc-"))
    (run_dir / "jobs").mkdir()
    audit_path = Path(settings.audit_file) if settings.audit_file else data_dir / "audit.jsonl"
    runtime = OgcRuntime(
        catalog=catalog or default_catalog(),
        roles=Authenticator(settings.roles_file),
        audit=AuditLog(audit_path, use_store=True),
        base_url=base_url.rstrip("/") + "/ogc",
        run_dir=run_dir,
        max_items=settings.max_items,
        default_items=settings.default_items,
    )
    # The run directory (pygeoapi's config and job files) lives as long as the runtime:
    # removed when the runtime is collected or the process exits, so test runs and
    # restarts do not leave one temp folder per app behind.
    weakref.finalize(runtime, shutil.rmtree, run_dir, True)
    return runtime


class _Landing:
    """``/ogc`` without the trailing slash: the landing page, answered in place.

    pygeoapi's ``self``/``root`` links name ``{server.url}`` and
    ``{server.url}?f=json`` (no slash), and users paste that URL into QGIS and
    GDAL. A mount only matches ``/ogc/...``, so the request is re-dispatched as
    ``/ogc/`` (a 200, no redirect: some clients drop the query or the
    credentials on a redirect).
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve ``/ogc`` as ``/ogc/`` (query string kept)."""
        path = scope["path"] + "/"
        child = {k: v for k, v in scope.items() if k not in ("endpoint", "route")}
        child.update(path=path, raw_path=path.encode("utf-8"))
        await self.app.router(child, receive, send)


def mount_ogc(app: Any, runtime: OgcRuntime) -> None:
    """Mount pygeoapi behind the gate at ``/ogc`` on a FastAPI/Starlette app."""
    from starlette.routing import Route
    from starlette.staticfiles import StaticFiles

    from spatial_api.ogc.openapi import SCHEMAS_DIR

    sa = _bootstrap(runtime)
    app.router.routes.append(Route("/ogc", _Landing(app), include_in_schema=False))
    # The OGC schema files (public; pygeoapi's own mount of them sits behind its "/").
    app.mount("/ogc/schemas", StaticFiles(directory=SCHEMAS_DIR), name="ogc-schemas")
    app.mount("/ogc", OgcGate(sa.APP, runtime))


def start(runtime: OgcRuntime, store: Any) -> None:
    """Bind the opened store and compute the collections' extents (app start-up)."""
    # pygeoapi imports its provider and process plugins lazily (importlib, inside a
    # worker thread at the first request). Under uvicorn two first requests in
    # parallel deadlocked on the import lock; importing them here, once, avoids it.
    import spatial_api.ogc.processes
    import spatial_api.ogc.provider  # noqa: F401

    runtime.store = store
    runtime.apis.clear()
    (runtime.run_dir / "jobs").mkdir(parents=True, exist_ok=True)
    extents: dict[str, dict[str, Any]] = {}
    try:
        district = store.query("district", columns=["id"])
        bbox = [float(v) for v in district.total_bounds] if len(district) else None
    except CoreError:
        bbox = None
    for layer in runtime.catalog.values():
        ext: dict[str, Any] = {}
        if bbox is not None and all(v == v for v in bbox):
            ext["bbox"] = [round(v, 6) for v in bbox]
        try:
            ext["temporal"] = layer.temporal_extent(store)
        except CoreError:
            ext["temporal"] = (None, None)
        extents[layer.id] = ext
    runtime.extents = extents
    # The admin view is written out for inspection (never edited by hand).
    cfg = pygeoapi_config(runtime.catalog.values(), base_url=runtime.base_url,
                          output_dir=str(runtime.run_dir / "jobs"), extents=extents,
                          max_items=runtime.max_items)
    (runtime.run_dir / "pygeoapi-admin.yml").write_text(
        yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    role_api(runtime, Principal(ADMIN))


def stop(runtime: OgcRuntime) -> None:
    """Unbind the store and remove the run directory (app shutdown)."""
    import shutil

    runtime.store = None
    runtime.apis.clear()
    bootstrap = os.environ.get("PYGEOAPI_CONFIG", "")
    if not bootstrap.startswith(str(runtime.run_dir)):
        shutil.rmtree(runtime.run_dir, ignore_errors=True)

"""The OGC OpenAPI document as served: valid OpenAPI 3.0, readable offline.

pygeoapi 0.21 generates the document (``pygeoapi.openapi.get_oas``) with three
defects this module repairs after generation, once per role:

- its ``$ref``s point at schemas.opengis.net and raw.githubusercontent.com, so
  no tool resolves them on a closed network. The OGC files they name ship in
  ``schemas/`` (unmodified copies, source and licence in ``schemas/README.md``,
  served at ``/ogc/schemas``); every referenced component is copied from them
  into the document's own ``components`` and the reference rewritten to
  ``#/components/...`` (the document is self-contained);
- schema objects carry JSON Schema keywords OpenAPI 3.0 forbids (``$schema``,
  ``const``, type arrays...): they are rewritten to their 3.0 equivalents
  (OpenAPI 3.0.3, 4.7.24 Schema Object);
- ``/conformance`` and ``/collections`` declare the landing page's response;
  they get Features Part 1's ``ConformanceDeclaration`` and ``Collections``.

It also declares the page size once, as ``components/parameters/limit``, which
QGIS reads to size its pages, and refers to it from every items path.
"""

from __future__ import annotations

import copy
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin

import yaml

#: The OGC schema files (a copy of the parts of schemas.opengis.net the document uses).
SCHEMAS_DIR = Path(__file__).resolve().parent / "schemas"

#: Where pygeoapi points, and where that lives in ``SCHEMAS_DIR``.
SOURCES = {
    "https://schemas.opengis.net/": "",
    "http://schemas.opengis.net/": "",
    "https://raw.githubusercontent.com/opengeospatial/ogcapi-records/master/core/openapi/":
        "ogcapi-records/core/openapi/",
}

#: Keywords of the OpenAPI 3.0 Schema Object (4.7.24); anything else is rewritten.
_SCHEMA_KEYS = frozenset({
    "title", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum",
    "maxLength", "minLength", "pattern", "maxItems", "minItems", "uniqueItems",
    "maxProperties", "minProperties", "required", "enum", "type", "allOf", "oneOf",
    "anyOf", "not", "items", "properties", "additionalProperties", "description",
    "format", "default", "nullable", "discriminator", "readOnly", "writeOnly", "xml",
    "externalDocs", "example", "deprecated", "$ref",
})
_DROPPED = frozenset({"$schema", "$id", "$comment"})
_COMPONENT = re.compile(r"^/components/([A-Za-z]+)/([^/]+)$")
_KEY_OK = re.compile(r"[^A-Za-z0-9._-]")


class UnresolvableReference(ValueError):
    """A ``$ref`` that names no file shipped in ``SCHEMAS_DIR``."""


def local_file(url: str, schemas_url: str | None = None) -> Path:
    """The shipped copy of the OGC file at ``url`` (raises when none ships)."""
    prefixes = dict(SOURCES)
    if schemas_url:
        prefixes[schemas_url.rstrip("/") + "/"] = ""
    for prefix, sub in prefixes.items():
        if url.startswith(prefix):
            path = (SCHEMAS_DIR / sub / url[len(prefix):]).resolve()
            if SCHEMAS_DIR in path.parents and path.is_file():
                return path
    raise UnresolvableReference(f"no local copy of {url}")


@cache
def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _pointer(doc: Any, pointer: str) -> Any:
    node = doc
    for token in filter(None, pointer.split("/")):
        token = token.replace("~1", "/").replace("~0", "~")
        node = node[int(token)] if isinstance(node, list) else node[token]
    return node


class _Bundler:
    """Copies every externally referenced component into the document's components."""

    def __init__(self, doc: dict[str, Any], schemas_url: str | None) -> None:
        self.doc = doc
        self.components: dict[str, dict[str, Any]] = doc.setdefault("components", {})
        self.schemas_url = schemas_url
        self.done: dict[tuple[str, str], str] = {}

    def run(self) -> None:
        self.doc["paths"] = self.rewrite(self.doc.get("paths", {}), None, "paths")
        # Snapshots: importing adds components (those come in rewritten already).
        for kind in list(self.components):
            section = self.components[kind]
            for name in list(section):
                section[name] = self.rewrite(section[name], None, kind)

    def rewrite(self, obj: Any, base: str | None, kind: str) -> Any:
        """``obj`` with its references made local; ``base`` is the URL of its file
        (None for the document itself), ``kind`` the component kind it would be."""
        if isinstance(obj, list):
            return [self.rewrite(v, base, kind) for v in obj]
        if not isinstance(obj, dict):
            return obj
        out: dict[str, Any] = {}
        for key, value in obj.items():
            if key == "$ref" and isinstance(value, str):
                out[key] = self.reference(value, base, kind)
                continue
            out[key] = self.rewrite(value, base, _child_kind(kind, key))
        return out

    def reference(self, ref: str, base: str | None, kind: str) -> str:
        url, fragment = urldefrag(ref)
        if not url:
            if base is None:
                return ref  # already local to the document
            url = base
        elif base is not None:
            url = urljoin(base, url)
        if url.startswith("#"):
            return url
        return self.import_(url, fragment, kind)

    def import_(self, url: str, pointer: str, kind: str) -> str:
        key = (url, pointer)
        if key in self.done:
            return self.done[key]
        path = local_file(url, self.schemas_url)
        match = _COMPONENT.match(pointer)
        if match:
            kind, name = match.group(1), match.group(2)
        else:
            name = Path(url).stem + (pointer.replace("/", ".") if pointer else "")
        name = _KEY_OK.sub("_", name)
        section = self.components.setdefault(kind, {})
        unique, n = name, 1
        while unique in section:
            n += 1
            unique = f"{name}-{n}"
        local = f"#/components/{kind}/{unique}"
        self.done[key] = local
        section[unique] = {}  # reserved before recursing (references may be cyclic)
        target = copy.deepcopy(_pointer(_load(path), pointer))
        section[unique] = self.rewrite(target, url, kind)
        return local


def _child_kind(kind: str, key: str) -> str:
    """The component kind of the value under ``key`` in an object of ``kind``."""
    if kind == "schemas":
        return "schemas"
    return {"schema": "schemas", "schemas": "schemas", "parameters": "parameters",
            "responses": "responses", "headers": "headers", "examples": "examples",
            "requestBody": "requestBodies", "requestBodies": "requestBodies",
            }.get(key, kind)


def schema_30(schema: Any) -> Any:
    """A JSON Schema (draft 2019-09/2020-12 or 7) rewritten as an OpenAPI 3.0 Schema Object."""
    if isinstance(schema, bool):
        return {} if schema else {"not": {}}
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROPPED:
            continue
        if key == "const":
            out["enum"] = [value]
        elif key == "type" and isinstance(value, list):
            types = [t for t in value if t != "null"]
            if len(types) < len(value):
                out["nullable"] = True
            if len(types) == 1:
                out["type"] = types[0]
            elif types:
                out.setdefault("anyOf", []).extend({"type": t} for t in types)
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        elif key == "examples" and isinstance(value, list):
            if value:
                out["example"] = value[0]
        elif key in ("required", "enum") and isinstance(value, list) and not value:
            continue  # 3.0 wants at least one entry
        elif key == "properties" and isinstance(value, dict):
            out[key] = {k: schema_30(v) for k, v in value.items()}
        elif key in ("items", "not") or (key == "additionalProperties"
                                         and isinstance(value, dict)):
            out[key] = schema_30(value)
        elif key in ("allOf", "anyOf", "oneOf") and isinstance(value, list):
            out.setdefault(key, []).extend(schema_30(v) for v in value)
        elif key in _SCHEMA_KEYS or key.startswith("x-"):
            out[key] = value
        else:
            out[f"x-{key}"] = value  # kept, as an extension 3.0 allows
    if "$ref" in out and len(out) > 1:
        # 3.0 ignores siblings of $ref (4.7.24): keep the reference, wrap it.
        ref = out.pop("$ref")
        out.setdefault("allOf", []).insert(0, {"$ref": ref})
    return out


def _fix_schemas(obj: Any, kind: str) -> Any:
    """Apply :func:`schema_30` to every schema object under ``obj``."""
    if isinstance(obj, list):
        return [_fix_schemas(v, kind) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if kind == "schemas":
        return schema_30(obj)
    out: dict[str, Any] = {}
    for key, value in obj.items():
        child = _child_kind(kind, key)
        if kind == "components" and key == "schemas" and isinstance(value, dict):
            out[key] = {k: schema_30(v) for k, v in value.items()}
        elif key in ("example", "examples", "default"):
            out[key] = value
        else:
            out[key] = _fix_schemas(value, child)
    return out


#: Queryables and schema answers are JSON Schema documents (Features Part 3, 6.2
#: and Part 5); pygeoapi declares a ``{"queryables": [...]}`` shape it never sends.
QUERYABLES_RESPONSE: dict[str, Any] = {
    "description": "The queryable properties (a JSON Schema)",
    "content": {"application/schema+json": {"schema": {
        "type": "object", "required": ["type", "properties"],
        "properties": {"type": {"type": "string", "enum": ["object"]},
                       "title": {"type": "string"},
                       "properties": {"type": "object"}}}}},
}

_TILES = "https://schemas.opengis.net/ogcapi/tiles/part1/1.0/openapi/ogcapi-tiles-1.yaml"
#: The tilesets of a collection (Tiles Part 1, 7.2.2 / tilesets-list): pygeoapi
#: declares an older draft's ``tileMatrixSetLinks`` shape it does not send.
TILESETS_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["links", "tilesets"],
    "properties": {
        "links": {"type": "array", "items": {"$ref": f"{_TILES}#/components/schemas/link"}},
        "tilesets": {"type": "array",
                     "items": {"$ref": f"{_TILES}#/components/schemas/tileSet-item"}},
    },
}

_FEATURE = ("https://schemas.opengis.net/ogcapi/features/part1/1.0/openapi/"
            "ogcapi-features-1.yaml#/components/schemas/featureGeoJSON")


def _feature_response(generated: dict[str, Any]) -> dict[str, Any]:
    """One feature (Features Part 1, 7.16): a GeoJSON feature whose properties follow
    the collection's schema. pygeoapi gives the properties' schema as the whole
    response (and no description); every property may be null (a missing value)."""
    content = generated.get("content") or {}
    props: dict[str, Any] = {}
    for media in content.values():
        schema = media.get("schema") or {}
        props = {name: {**sub, "nullable": True}
                 for name, sub in (schema.get("properties") or {}).items()}
        break
    schema = {"allOf": [{"$ref": _FEATURE},
                        {"type": "object", "properties": {"properties": {
                            "type": "object", "nullable": True, "properties": props}}}]}
    return {"description": "The feature",
            "content": {"application/geo+json": {"schema": schema},
                        "application/json": {"schema": schema}}}


def limit_parameter(default_items: int, max_items: int) -> dict[str, Any]:
    """The ``limit`` query parameter of items (Features Part 1, 7.15.3)."""
    return {
        "name": "limit",
        "in": "query",
        "description": "The most features in the response (default "
                       f"{default_items}, at most {max_items}).",
        "required": False,
        "style": "form",
        "explode": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": max_items,
                   "default": default_items},
    }


def finish(doc: dict[str, Any], *, schemas_url: str | None = None,
           default_items: int = 10, max_items: int = 10_000) -> dict[str, Any]:
    """pygeoapi's generated document made self-contained, valid OpenAPI 3.0.

    ``schemas_url`` is where this server serves ``SCHEMAS_DIR`` (references to it
    are inlined too); the limits are those of the server's configuration.
    """
    doc = copy.deepcopy(doc)
    paths: dict[str, Any] = doc.get("paths", {})
    features = "https://schemas.opengis.net/ogcapi/features/part1/1.0/openapi/" \
               "ogcapi-features-1.yaml#/components/responses/"
    for path, response in (("/conformance", "ConformanceDeclaration"),
                           ("/collections", "Collections")):
        op = paths.get(path, {}).get("get")
        if op is not None:
            op["responses"]["200"] = {"$ref": features + response}
    for path, item in paths.items():
        op = item.get("get") if path.endswith("/items/{featureId}") else None
        if op is not None:
            op["responses"]["200"] = _feature_response(op["responses"].get("200", {}))
        for method, op in item.items():
            if method == "get" and "/tiles/{tileMatrixSetId}/" in path:
                for p in op.get("parameters", []):
                    if p.get("name") == "f" and "enum" in p.get("schema", {}):
                        # pygeoapi serves (and OneMap's clients ask for) f=mvt as well.
                        p["schema"]["enum"] = sorted({*p["schema"]["enum"], "mvt"})
    comps = doc.setdefault("components", {})
    comps.setdefault("responses", {})["Queryables"] = QUERYABLES_RESPONSE
    lang = comps.get("parameters", {}).get("lang", {}).get("schema")
    if isinstance(lang, dict) and "enum" in lang:
        # Any tag is accepted: an unsupported one falls back to the default language,
        # as the parameter's description says; the supported ones are the example.
        lang["example"] = lang.pop("enum")[0]
    if "tiles" in comps.get("schemas", {}):
        comps["schemas"]["tiles"] = TILESETS_SCHEMA
    comps.setdefault("parameters", {})["limit"] = limit_parameter(default_items, max_items)
    inline = [p for item in paths.values() for op in item.values() if isinstance(op, dict)
              for p in op.get("parameters", [])]
    for p in [*inline, *doc.get("components", {}).get("parameters", {}).values()]:
        schema = p.get("schema") if p.get("in") == "query" else None
        if isinstance(schema, dict) and schema.get("type") == "integer":
            # The stores hold 64-bit integers: larger values are a 400 (guards.py).
            schema.setdefault("minimum", -(2**63))
            schema.setdefault("maximum", 2**63 - 1)
    for path, item in paths.items():
        if not path.endswith("/items"):
            continue
        for op in item.values():
            params = op.get("parameters") if isinstance(op, dict) else None
            if params:
                op["parameters"] = [
                    {"$ref": "#/components/parameters/limit"}
                    if p.get("name") == "limit" and p.get("in") == "query" else p
                    for p in params]
    _Bundler(doc, schemas_url).run()
    doc["paths"] = _fix_schemas(doc.get("paths", {}), "paths")
    doc["components"] = _fix_schemas(doc["components"], "components")
    # GeoJSON (RFC 7946 §3.2): a feature without a location, and every feature asked
    # for with skipGeometry=true, has "geometry": null; OGC's geometryGeoJSON has no
    # null branch, so the feature schemas say it may be null.
    for schema in doc["components"].get("schemas", {}).values():
        props = schema.get("properties") if isinstance(schema, dict) else None
        geom = props.get("geometry") if isinstance(props, dict) else None
        if isinstance(props, dict) and isinstance(geom, dict) \
                and str(geom.get("$ref", "")).endswith("/geometryGeoJSON"):
            props["geometry"] = {"allOf": [geom], "nullable": True}
    return doc


def external_refs(doc: Any) -> list[str]:
    """Every ``$ref`` in ``doc`` that does not point inside it (empty when self-contained)."""
    found: list[str] = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key == "$ref" and isinstance(value, str):
                if not value.startswith("#"):
                    found.append(value)
            else:
                found.extend(external_refs(value))
    elif isinstance(doc, list):
        for value in doc:
            found.extend(external_refs(value))
    return found

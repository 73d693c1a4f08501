"""Requests the OGC OpenAPI document calls invalid are answered 400 before pygeoapi runs.

pygeoapi 0.21 checks some query parameters itself and lets others through: an
empty ``sortby`` reaches the provider (a 500), ``valid_to=abc`` matches
nothing (a 200), a tile's ``f=AAA`` returns a tile, a queryables ``profile=AAA``
is ignored. The document served (``openapi.py``) declares every parameter's
schema; :func:`check_query` holds each query parameter an operation declares to
it, the way OpenAPI 3.0 serialises it (``style: form``, ``explode: false``:
arrays are comma-separated). Parameters the operation does not declare are left
to the provider, which rejects the unknown ones.

Also here: the process-execution wrapper (callbacks refused, error bodies with
the ``type`` member OGC API Processes 1.0's exception schema requires).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft4Validator, FormatChecker
from starlette.responses import JSONResponse

from spatial_api.ogc.openapi import finish

#: Parameters the server accepts beyond their schema, by standard:
#: ``limit`` above its maximum is clamped, not an error (Features Part 1,
#: /req/core/fc-limit-response-1 B).
_UNBOUNDED = {"limit": ("maximum",)}

_FORMATS = FormatChecker()


@_FORMATS.checks("uri")
def _uri(value: object) -> bool:
    """An absolute URI (RFC 3986, 4.3): a scheme and something after it."""
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme and (parts.netloc or parts.path))


def document(api: Any) -> dict[str, Any]:
    """The role's OpenAPI document (generated on first use, then kept on ``api``)."""
    if api.openapi is None:
        from pygeoapi.openapi import get_oas

        limits = api.config["server"]["limits"]
        api.openapi = finish(get_oas(api.config, fail_on_invalid_collection=False),
                             schemas_url=f"{api.base_url}/schemas",
                             default_items=limits["default_items"],
                             max_items=limits["max_items"])
    doc: dict[str, Any] = api.openapi
    return doc


@lru_cache(maxsize=64)
def _matchers(templates: tuple[str, ...]) -> list[tuple[re.Pattern[str], str]]:
    out = []
    for t in templates:
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(t.rstrip("/") or "/"))
        out.append((re.compile(f"^{pattern}/?$"), t))
    # Literal paths before templated ones (``/items/{featureId}`` vs ``/items``).
    out.sort(key=lambda m: m[1].count("{"))
    return out


def _deref(doc: Mapping[str, Any], obj: Any) -> Any:
    while isinstance(obj, dict) and isinstance(obj.get("$ref"), str):
        node: Any = doc
        for token in obj["$ref"].lstrip("#/").split("/"):
            node = node[token]
        obj = node
    return obj


def _scalar(text: str, schema: Mapping[str, Any]) -> Any:
    kind = schema.get("type")
    if kind == "integer":
        return int(text)
    if kind == "number":
        value = float(text)
        if not math.isfinite(value):
            raise ValueError(text)
        return value
    if kind == "boolean":
        if text not in ("true", "false"):
            raise ValueError(text)
        return text == "true"
    return text


def _json_schema(schema: Mapping[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in schema.items()
            if k not in _UNBOUNDED.get(name, ()) and not k.startswith("x-")
            and k not in ("nullable", "example", "default")}


@dataclass(frozen=True)
class _Param:
    """One declared query parameter, ready to check."""

    name: str
    kind: str | None  # the schema's type
    items: Mapping[str, Any] | None  # the items' schema of an array
    validator: Draft4Validator  # of the value (of an array: without ``items``)
    item_validator: Draft4Validator | None  # of each item of an array


class QueryRules:
    """The query-parameter rules of one OpenAPI document, compiled on first use."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.doc = doc
        self.paths: Mapping[str, Any] = doc.get("paths", {})
        self.matchers = _matchers(tuple(self.paths))
        self.plans: dict[tuple[str, str], list[_Param]] = {}

    def _template(self, path: str) -> str | None:
        if path in self.paths:
            return path
        for pattern, template in self.matchers:
            if pattern.match(path):
                return template
        return None

    def _plan(self, template: str, method: str) -> list[_Param]:
        key = (template, method)
        plan = self.plans.get(key)
        if plan is None:
            plan = []
            op = self.paths[template].get(method)
            for param in op.get("parameters", []) if isinstance(op, dict) else []:
                param = _deref(self.doc, param)
                schema = _deref(self.doc, param.get("schema") or {})
                if param.get("in") != "query" or not isinstance(schema, dict) \
                        or schema.get("type") == "object" or "$ref" in json.dumps(schema):
                    continue  # free-form (vendor parameters): the provider's to check
                items = _deref(self.doc, schema.get("items") or {})
                whole = _json_schema(schema, param["name"])
                # Arrays: the items are checked one by one; jsonschema's ``items``
                # costs about 25 times more per value on this hot path.
                item_validator = None
                if "items" in whole:
                    item_validator = Draft4Validator(_json_schema(whole.pop("items"), ""),
                                                     format_checker=_FORMATS)
                plan.append(_Param(param["name"], schema.get("type"), items,
                                   Draft4Validator(whole, format_checker=_FORMATS),
                                   item_validator))
            self.plans[key] = plan
        return plan

    def check(self, path: str, method: str, query: list[tuple[str, str]]) -> str | None:
        """Why the query of ``method path`` breaks the document (None when it does not)."""
        if not query:
            return None
        template = self._template(path)
        if template is None:
            return None
        given = dict(query)  # the last value of each name, as pygeoapi reads them
        for p in self._plan(template, method.lower()):
            if p.name not in given:
                continue
            text = given[p.name]
            try:
                if p.kind == "array":
                    # An empty value is one empty item (as schemathesis reads form style):
                    # ``properties=`` names no property, it does not mean "none".
                    value: Any = [_scalar(v, p.items or {}) for v in text.split(",")]
                else:
                    value = _scalar(text, {"type": p.kind})
            except ValueError:
                return f"{p.name}: {text!r} is not a valid {p.kind or 'value'}"
            error = next(iter(p.validator.iter_errors(value)), None)
            if error is None and p.item_validator is not None:
                error = next((e for v in value for e in p.item_validator.iter_errors(v)), None)
            if error is not None:
                return f"{p.name}: {error.message}"
        return None


def check_query(doc: Mapping[str, Any], path: str, method: str,
                query: list[tuple[str, str]]) -> str | None:
    """Why the query parameters of ``method path`` break ``doc`` (None when fine)."""
    return QueryRules(doc).check(path, method, query)


def rules(api: Any) -> QueryRules:
    """The query rules of a role's ``API`` (compiled once per document)."""
    doc = document(api)
    cached: QueryRules | None = getattr(api, "_onemap_query_rules", None)
    if cached is None or cached.doc is not doc:
        cached = QueryRules(doc)
        api._onemap_query_rules = cached
    return cached


def bad_request(description: str) -> JSONResponse:
    """A 400 with an OGC exception body (``type`` for Processes, ``code`` for Features)."""
    return JSONResponse({"code": "InvalidParameterValue", "type": "InvalidParameterValue",
                         "description": description}, status_code=400)


def execute_process(original: Callable[..., Any], api: Any, request: Any,
                    *args: Any) -> Any:
    """Process execution without callbacks, and with error bodies that carry ``type``.

    Callbacks (``subscriber``) would make the server POST to any URL a client
    names; OneMap does not offer them (the conformance class is not declared).
    """
    try:
        body = json.loads(request.data or b"{}")
    except (ValueError, UnicodeDecodeError):
        body = None
    problem = None
    if not isinstance(body, dict):
        # pygeoapi reads the body with dict methods (a list is a 500 there).
        problem = "the body must be a JSON object (an execute request)"
    elif "subscriber" in body:
        # Even "subscriber": null: the execute schema wants an object there, and no
        # object is accepted.
        problem = "callbacks (subscriber) are not supported"
    if problem is not None:
        headers = request.get_response_headers(**api.api_headers)
        return api.get_exception(400, headers, request.format, "InvalidParameterValue",
                                 problem)
    headers, status, content = original(api, request, *args)
    if status >= 400 and isinstance(content, str | bytes):
        try:
            doc = json.loads(content)
        except ValueError:
            doc = None
        if isinstance(doc, dict) and "type" not in doc and "code" in doc:
            doc["type"] = doc["code"]
            content = json.dumps(doc)
            headers["Content-Type"] = "application/json"
    return headers, status, content


class RoleConfigCache(dict):  # type: ignore[type-arg]
    """pygeoapi's cache of translated configurations, per app and role.

    pygeoapi 0.21 (``l10n.translate_struct``) caches the configuration its HTML
    pages are rendered with by locale alone: the first role to render a page in a
    language fixed the configuration of every role (a 500 for collections the
    first role could not see, or hidden collections in another role's pages).
    Installed as ``pygeoapi.l10n._cfg_cache``, it keys by the request's app and role.
    """

    @staticmethod
    def _key(locale: Any) -> tuple[int, str, str, str]:
        from spatial_api.ogc.context import current

        ctx = current()
        if ctx is None:
            return (0, "", "", str(locale))
        return (id(ctx.runtime), ctx.runtime.base_url, ctx.principal.role, str(locale))

    def get(self, locale: Any, default: Any = None) -> Any:
        """The cached configuration of the request's app and role in ``locale``."""
        return super().get(self._key(locale), default)

    def __setitem__(self, locale: Any, value: Any) -> None:
        super().__setitem__(self._key(locale), value)


#: The callback conformance class, which OneMap does not implement.
CALLBACK_CONFORMANCE = "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/callback"

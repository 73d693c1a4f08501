"""Both OpenAPI documents validate with openapi-spec-validator, offline, and say what is served.

The OGC document (``/ogc/openapi``, pygeoapi-generated, OpenAPI 3.0) must be
self-contained (every ``$ref`` inside it: no tool on a closed network can fetch
schemas.opengis.net) and valid 3.0 (no ``$schema`` in schema objects); the
host's (``/openapi.json``, FastAPI, 3.1) valid too. Validation runs with every
connection to a host other than this machine refused.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from openapi_spec_validator.validation.validators import (
    OpenAPIV30SpecValidator,
    OpenAPIV31SpecValidator,
)

from spatial_api.app import create_app
from spatial_api.local_server import free_port, serve_in_thread
from spatial_api.ogc.openapi import SCHEMAS_DIR, external_refs, schema_30
from spatial_api.settings import Settings

ADMIN = {"X-API-Key": "demo-admin-key"}
_LOCAL = ("127.0.0.1", "::1", "localhost")


@pytest.fixture(scope="module")
def base(demo_dir: Path) -> Iterator[str]:
    port = free_port()
    app = create_app(Settings(data_dir=demo_dir, host="127.0.0.1", port=port))
    with serve_in_thread(app, port) as url:
        yield url


@pytest.fixture()
def offline(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Refuse every connection and name lookup that is not this machine's loopback."""
    refused: list[str] = []
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else str(address)
        if self.family in (socket.AF_INET, socket.AF_INET6) and host not in _LOCAL:
            refused.append(str(host))
            raise ConnectionRefusedError(f"network access refused in this test: {host}")
        return real_connect(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in _LOCAL and host is not None:
            refused.append(str(host))
            raise socket.gaierror(f"network access refused in this test: {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return refused


def _validate(validator: Any, doc: dict[str, Any], url: str) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"[:300]
            for e in validator(doc, base_uri=url).iter_errors()]


def _walk_keys(obj: Any) -> Iterator[str]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield from _walk_keys(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _walk_keys(v)


@pytest.mark.parametrize("headers", [{}, ADMIN], ids=["public", "admin"])
def test_ogc_openapi_valid_offline(base: str, offline: list[str],
                                   headers: dict[str, str]) -> None:
    url = f"{base}/ogc/openapi?f=json"
    r = httpx.get(url, headers=headers, timeout=60)
    assert r.status_code == 200, r.text[:300]
    doc = r.json()
    assert doc["openapi"].startswith("3.0.")
    # Self-contained: every reference resolves inside the document itself.
    assert external_refs(doc) == []
    assert "$schema" not in set(_walk_keys(doc))
    assert _validate(OpenAPIV30SpecValidator, doc, url) == []
    assert offline == []  # nothing tried to reach another machine
    paths = set(doc["paths"])
    assert {"/", "/conformance", "/collections", "/collections/roads/items",
            "/processes"} <= paths
    assert ("/collections/persons/items" in paths) == (headers == ADMIN)


def test_limit_is_one_component(base: str) -> None:
    """QGIS sizes its pages from ``components/parameters/limit`` (maximum, default)."""
    doc = httpx.get(f"{base}/ogc/openapi?f=json", timeout=60).json()
    limit = doc["components"]["parameters"]["limit"]
    assert limit["in"] == "query" and limit["name"] == "limit"
    assert limit["schema"]["maximum"] == 10_000 and limit["schema"]["default"] == 10
    items = [p for p in doc["paths"] if p.endswith("/items")]
    assert len(items) >= 10
    for path in items:
        params = doc["paths"][path]["get"]["parameters"]
        assert {"$ref": "#/components/parameters/limit"} in params, path
        assert not [p for p in params if p.get("name") == "limit"], path


def test_declared_responses_match_the_answers(base: str) -> None:
    """The responses the document names for the conformance and collections pages are
    theirs (pygeoapi names the landing page's for both)."""
    doc = httpx.get(f"{base}/ogc/openapi?f=json", timeout=60).json()
    refs = {p: doc["paths"][p]["get"]["responses"]["200"]["$ref"]
            for p in ("/", "/conformance", "/collections")}
    assert refs == {"/": "#/components/responses/LandingPage",
                    "/conformance": "#/components/responses/ConformanceDeclaration",
                    "/collections": "#/components/responses/Collections"}


def test_ogc_schema_files_served(base: str) -> None:
    files = [p for p in SCHEMAS_DIR.rglob("*") if p.suffix in (".yaml", ".json")]
    assert files and (SCHEMAS_DIR / "README.md").is_file() and (SCHEMAS_DIR / "LICENSE").is_file()
    for path in files:
        rel = path.relative_to(SCHEMAS_DIR).as_posix()
        r = httpx.get(f"{base}/ogc/schemas/{rel}", timeout=30)
        assert r.status_code == 200, rel
        assert yaml.safe_load(r.content) == yaml.safe_load(path.read_bytes()), rel


def test_host_openapi_valid_offline(base: str, offline: list[str]) -> None:
    url = f"{base}/openapi.json"
    doc = httpx.get(url, timeout=60).json()
    assert doc["openapi"].startswith("3.1")
    assert _validate(OpenAPIV31SpecValidator, doc, url) == []
    assert offline == []
    ops = [op for item in doc["paths"].values() for op in item.values()]
    # Invalid input answers 400 (errors.py), so no operation declares FastAPI's 422.
    assert not [op["operationId"] for op in ops if "422" in op.get("responses", {})]
    geocode = doc["paths"]["/address/geocode"]["get"]["parameters"]
    q = next(p for p in geocode if p["name"] == "q")
    limit = next(p for p in geocode if p["name"] == "limit")
    assert q["required"] and q["example"] and limit["schema"]["maximum"] == 50
    report = doc["paths"]["/viewer/api/report"]["post"]
    assert report["requestBody"]["content"]["application/json"]["example"]["area"]


def test_schema_30_rewrites_json_schema() -> None:
    got = schema_30({
        "$schema": "https://json-schema.org/draft/2019-09/schema", "$id": "x",
        "type": "object", "required": [],
        "properties": {"a": {"const": 1}, "b": {"type": ["string", "null"]},
                       "c": {"type": "number", "exclusiveMinimum": 0, "examples": [3]},
                       "d": {"$ref": "#/components/schemas/x", "description": "d"},
                       "e": {"enum": [], "contentMediaType": "text/plain"}},
    })
    assert got == {"type": "object", "properties": {
        "a": {"enum": [1]}, "b": {"type": "string", "nullable": True},
        "c": {"type": "number", "minimum": 0, "exclusiveMinimum": True, "example": 3},
        "d": {"description": "d", "allOf": [{"$ref": "#/components/schemas/x"}]},
        "e": {"x-contentMediaType": "text/plain"}}}


@pytest.mark.parametrize(("method", "path", "kwargs", "status"), [
    # Query parameters the document rules out are 400s (guards.py), not 500s or ignored.
    ("GET", "/ogc/collections/roads/items?sortby=", {}, 400),
    ("GET", "/ogc/collections/roads/items?valid_to=abc", {}, 400),
    ("GET", "/ogc/collections/roads/items?skipGeometry=maybe", {}, 400),
    ("GET", "/ogc/collections/roads/queryables?profile=AAA", {}, 400),
    ("GET", "/ogc/collections/roads/queryables?properties=", {}, 400),
    ("GET", "/ogc/collections/roads/items?properties=name,zzz", {}, 400),
    ("GET", "/ogc/collections/roads/items?properties=name&limit=1", {}, 200),
    ("GET", "/ogc/collections/roads/tiles/WebMercatorQuad/14/7138/13385?f=AAA", {}, 400),
    ("GET", "/ogc/collections/roads/tiles/WebMercatorQuad/14/7138/13385?f=mvt", {}, 200),
    ("GET", "/ogc/collections/population_blocks/items?bbox=114,22.5,0,114.2,22.6,9", {}, 400),
    # Chinese without a territory (lang or Accept-Language) was a 500 on every path.
    ("GET", "/ogc/collections/roads?lang=zh", {}, 200),
    ("GET", "/ogc/collections/roads?lang=zh-Hans", {}, 200),
    ("GET", "/ogc/collections", {"headers": {"Accept-Language": "zh"}}, 200),
    # Integers beyond 64 bits reached the store (a 500).
    ("GET", "/ogc/collections/roads/items?offset=2241949985989683537526672615324778496", {}, 400),
    ("GET", "/ogc/collections/roads/items?block=735264018519759126528", {}, 400),
    # POST to items: pygeoapi had no handler without a Content-Type (500).
    ("POST", "/ogc/collections/roads/items", {}, 415),
    ("POST", "/ogc/processes/block-portrait/execution", {"json": [None, None]}, 400),
    ("POST", "/ogc/processes/block-portrait/execution",
     {"json": {"inputs": {}, "subscriber": {"successUri": "http://example.org/x"}}}, 400),
    ("POST", "/viewer/api/report", {}, 400),
    ("POST", "/viewer/api/report", {"content": b"not json"}, 400),
    ("POST", "/viewer/api/report", {"json": {"area": {"type": "Point",
                                                     "coordinates": [114.1, 22.5]}}}, 400),
    ("POST", "/viewer/api/report", {"json": {"area": {
        "type": "Polygon", "coordinates": [[[114.11, 22.54], [114.12, 22.54], [114.12, 22.55],
                                            [114.11, 22.54]]]}, "as_of": ""}}, 400),
])
def test_bad_input_is_4xx(base: str, method: str, path: str, kwargs: dict[str, Any],
                          status: int) -> None:
    r = httpx.request(method, f"{base}{path}", timeout=60, **kwargs)
    assert r.status_code == status, r.text[:300]
    if status >= 400:
        body = r.json()
        assert body["description"] and ("code" in body or "type" in body)


def test_html_pages_follow_the_role(base: str) -> None:
    """pygeoapi cached the configuration of its HTML pages by language alone: the first
    role to render one decided what every role's pages showed (and 500s)."""
    assert httpx.get(f"{base}/ogc/collections/roads?f=html", timeout=60).status_code == 200
    for c in ("persons", "houses", "events"):
        r = httpx.get(f"{base}/ogc/collections/{c}?f=html", headers=ADMIN, timeout=60)
        assert r.status_code == 200, c
    public = httpx.get(f"{base}/ogc/collections?f=html", timeout=60).text
    assert "collections/persons" not in public and "collections/roads" in public


def test_limit_above_maximum_is_clamped(base: str) -> None:
    """Features Part 1, /req/core/fc-limit-response-1 B: not an error; the maximum is used."""
    r = httpx.get(f"{base}/ogc/collections/addresses/items?limit=10001&f=json", timeout=60)
    assert r.status_code == 200
    body = json.loads(r.text)
    assert body["numberReturned"] == min(10_000, body["numberMatched"])

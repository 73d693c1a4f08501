"""Every answer is strict JSON, GeoJSON is labelled GeoJSON, every advertised link resolves,
and API keys are accepted as HTTP Basic credentials.

Strict JSON: RFC 8259 has no NaN or Infinity; ``JSON.parse`` in browsers and QGIS's
parser reject them, while Python's ``json`` module accepts them by default. Here every
body is parsed with ``parse_constant`` raising, for every page of every collection
(each role that sees it) and every JSON route of the host.

One uvicorn server on a free local port serves the seeded small demo.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest
import shapely
import yaml

from spatial_api.app import create_app
from spatial_api.local_server import free_port, serve_in_thread
from spatial_api.settings import Settings

ROLES_FILE = Path(__file__).resolve().parent.parent / "config" / "roles.yaml"
GEOJSON = "application/geo+json"
#: OGC API EDR collections (no items: position/area queries answering CoverageJSON).
EDR_COLLECTIONS = {"sensor-readings"}
#: ``coords`` for the EDR queries the crawl follows (the district's centre).
EDR_COORDS = {"position": "POINT(114.12 22.55)",
              "area": "POLYGON((114.1 22.53,114.14 22.53,114.14 22.57,114.1 22.57,114.1 22.53))"}


def strict(text: str) -> Any:
    """``json.loads`` that refuses the non-JSON tokens NaN, Infinity and -Infinity."""

    def refuse(token: str) -> Any:
        raise ValueError(f"not JSON: bare {token}")

    return json.loads(text, parse_constant=refuse)


def demo_keys() -> dict[str, str | None]:
    """Role name → a key of that role from the roles file (public: no key)."""
    doc = yaml.safe_load(ROLES_FILE.read_text(encoding="utf-8"))
    out: dict[str, str | None] = {"public": None}
    for entry in doc["keys"]:
        # keys are stored hashed; the demo keys are the README's demo-<role>-key
        out.setdefault(str(entry["role"]), f"demo-{entry['role']}-key")
    return out


KEYS = demo_keys()


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def key_headers(key: str | None) -> dict[str, str]:
    return {"X-API-Key": key} if key else {}


@pytest.fixture(scope="module")
def base(demo_dir: Path) -> Iterator[str]:
    port = free_port()
    app = create_app(Settings(data_dir=demo_dir, host="127.0.0.1", port=port))
    with serve_in_thread(app, port) as url:
        yield url


@pytest.fixture(scope="module")
def http(base: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, timeout=120) as c:
        yield c


def get_json(http: httpx.Client, url: str, headers: dict[str, str] | None = None,
             status: int = 200) -> Any:
    r = http.get(url, headers=headers or {})
    assert r.status_code == status, (url, r.status_code, r.text[:300])
    return strict(r.text)


# ---------------------------------------------------------------------------
# strict JSON


@pytest.mark.parametrize("role", list(KEYS))
def test_every_page_of_every_collection_is_strict_json(http: httpx.Client, role: str) -> None:
    h = key_headers(KEYS[role])
    colls = [c["id"] for c in get_json(http, "/ogc/collections?f=json", h)["collections"]]
    assert colls
    for coll in colls:
        if coll in EDR_COLLECTIONS:
            continue
        url: str | None = f"/ogc/collections/{coll}/items?f=json&limit=1000"
        seen = 0
        matched = None
        first_id = None
        while url is not None:
            r = http.get(url, headers=h)
            assert r.status_code == 200, (url, r.text[:300])
            assert r.headers["content-type"] == GEOJSON, url
            page = strict(r.text)
            matched = page["numberMatched"]
            seen += len(page["features"])
            if first_id is None and page["features"]:
                first_id = page["features"][0]["id"]
            url = next((lk["href"] for lk in page["links"] if lk["rel"] == "next"), None)
        assert seen == matched, (role, coll)
        if first_id is not None:
            r = http.get(f"/ogc/collections/{coll}/items/{first_id}?f=json", headers=h)
            assert r.status_code == 200 and r.headers["content-type"] == GEOJSON, coll
            strict(r.text)


def json_routes(http: httpx.Client) -> list[tuple[str, str, Any]]:
    """(method, url, body) of every JSON route of the host, with realistic parameters."""
    admin = key_headers(KEYS["admin"])
    colls = [c["id"] for c in get_json(http, "/ogc/collections", admin)["collections"]]
    routes: list[tuple[str, str, Any]] = [("GET", u, None) for u in (
        "/ogc", "/ogc?f=json", "/ogc/", "/ogc/conformance?f=json", "/ogc/collections?f=json",
        "/ogc/openapi?f=json", "/ogc/processes?f=json", "/ogc/jobs?f=json",
        "/ogc/TileMatrixSets?f=json", "/openapi.json", "/health", "/layers", "/styles",
        "/packs", "/tiles/basemap.json",
        "/viewer/api/industrial", "/viewer/api/events",
        "/address/parse?q=深圳市罗湖区东门街道", "/address/geocode?q=罗湖区东门",
        "/address/reverse?lon=114.12&lat=22.55",
    )]
    for coll in colls:
        if coll in EDR_COLLECTIONS:
            routes += [("GET", f"/ogc/collections/{coll}?f=json", None)]
            x, y = get_json(http, "/ogc/collections/sensors/items?limit=1",
                            admin)["features"][0]["geometry"]["coordinates"]
            coords = {**EDR_COORDS, "position": f"POINT({x} {y})"}  # a sensor: 200
            routes += [("GET", f"/ogc/collections/{coll}/{q}?{urlencode({'coords': c})}", None)
                       for q, c in coords.items()]
            continue
        routes += [("GET", f"/ogc/collections/{coll}?f=json", None),
                   ("GET", f"/ogc/collections/{coll}/queryables?f=json", None),
                   ("GET", f"/ogc/collections/{coll}/schema?f=json", None),
                   ("GET", f"/tiles/{coll}.json", None)]
    for metric in ("population", "enterprises", "events", "vacancy"):
        for res in (7, 8, 9, 10):
            routes.append(("GET", f"/viewer/api/blocks?metric={metric}&res={res}", None))
    for style in get_json(http, "/styles", admin)["styles"]:
        name = style["id"] if isinstance(style, dict) and "id" in style else style
        routes.append(("GET", f"/styles/{name}.json", None))
    for pid in [p["id"] for p in get_json(http, "/ogc/processes", admin)["processes"]]:
        routes.append(("GET", f"/ogc/processes/{pid}?f=json", None))
    area = shapely.geometry.mapping(shapely.box(114.11, 22.54, 114.13, 22.56))
    routes += [
        ("POST", "/ogc/processes/renewal-impact/execution",
         {"inputs": {"area": area, "as_of": "2024-06-30"}}),
        ("POST", "/ogc/processes/block-portrait/execution",
         {"inputs": {"lon": 114.12, "lat": 22.55, "res": 9, "as_of": "2024-06-30"}}),
        ("POST", "/address/geocode/batch", ["罗湖区东门街道", "不存在的地方"]),
    ]
    return routes


@pytest.mark.parametrize("role", ["public", "admin"])
def test_every_json_route_is_strict_json(http: httpx.Client, role: str) -> None:
    h = key_headers(KEYS[role])
    checked = 0
    for method, url, body in json_routes(http):
        r = http.request(method, url, headers=h, json=body)
        if role == "public" and r.status_code == 404:
            continue  # hidden from the public role (events, persons...)
        assert r.status_code == 200, (method, url, r.status_code, r.text[:300])
        assert "json" in r.headers["content-type"], url
        try:
            strict(r.text)
        except ValueError as exc:
            pytest.fail(f"{method} {url}: {exc}")
        checked += 1
    assert checked > 60


def test_pygeoapi_json_writer_never_writes_nan() -> None:
    from spatial_api.ogc.gate import strict_to_json

    doc = {"a": float("nan"), "b": [1.5, float("inf"), {"c": -float("inf")}], "d": "x"}
    assert strict(strict_to_json(doc)) == {"a": None, "b": [1.5, None, {"c": None}], "d": "x"}
    assert strict(strict_to_json({"a": 1}, pretty=True)) == {"a": 1}


# ---------------------------------------------------------------------------
# GeoJSON media type (Features Part 1, Requirement 7, /req/geojson/content)


def test_items_are_served_as_geojson(http: httpx.Client) -> None:
    items = "/ogc/collections/buildings/items"
    fid = get_json(http, f"{items}?limit=1")["features"][0]["id"]
    for url in (items, f"{items}/{fid}"):
        for query, accept, want in (
                ("?f=json", None, GEOJSON),
                ("", GEOJSON, GEOJSON),
                ("", None, GEOJSON),
                ("", "*/*", GEOJSON),
                ("?f=json", "application/json", GEOJSON),
                ("", "application/json", "application/json"),
                ("", "application/json;q=0.5, application/geo+json", GEOJSON),
                ("", "application/geo+json;q=0.5, application/json", "application/json")):
            r = http.get(url + query, headers={"Accept": accept} if accept else {})
            assert r.status_code == 200, r.text
            assert r.headers["content-type"] == want, (url, query, accept)
            strict(r.text)
    # Exception bodies are not GeoJSON.
    r = http.get(f"{items}?limit=nope&f=json")
    assert r.status_code == 400 and r.headers["content-type"] == "application/json"


# ---------------------------------------------------------------------------
# links


def test_landing_page_without_slash(http: httpx.Client) -> None:
    for url in ("/ogc", "/ogc?f=json"):
        r = http.get(url, follow_redirects=False)
        assert r.status_code == 200, url
        doc = strict(r.text)
        self_href = next(lk["href"] for lk in doc["links"] if lk["rel"] == "self")
        assert urlsplit(self_href).path == "/ogc"
    r = http.get("/ogc?f=html", follow_redirects=False)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    # The exact URL users paste into a client also carries credentials.
    assert http.get("/ogc", headers=basic("qgis", "wrong")).status_code == 401


def test_html_pages_of_each_role(http: httpx.Client) -> None:
    """pygeoapi caches its HTML configuration; one role's pages must not leak into another's."""
    admin = key_headers(KEYS["admin"])
    assert http.get("/ogc/collections?f=html").status_code == 200
    r = http.get("/ogc/collections/events?f=html", headers=admin)
    assert r.status_code == 200, r.text[:200]
    r = http.get("/ogc/collections?f=html")
    assert r.status_code == 200 and "/collections/persons" not in r.text


def _normal(href: str) -> str:
    """The href with its query sorted (so that equal URLs are crawled once)."""
    p = urlsplit(href)
    return urlunsplit((p.scheme, p.netloc, p.path, urlencode(sorted(parse_qsl(p.query))), ""))


#: The WebMercatorQuad tile (zoom, row, column) holding 114.12 E, 22.55 N.
Z = 14
COL = int((114.12 + 180) / 360 * 2**Z)
ROW = int((1 - math.asinh(math.tan(math.radians(22.55))) / math.pi) / 2 * 2**Z)


#: Links that are advertised but are not GET-able documents, and why.
def _exempt(link: dict[str, Any]) -> str | None:
    href = str(link.get("href", ""))
    if link.get("templated") or "{" in href:
        return "URI template (Tiles: tileMatrix/tileRow/tileCol filled by the client)"
    if link.get("rel", "").endswith("/execute"):
        return "process execution is POST only (Processes Part 1)"
    return None


def test_every_advertised_link_resolves(base: str, http: httpx.Client) -> None:
    """Crawl from the landing page: every same-server href answers 2xx.

    Followed into: landing page, conformance, collections, each collection, its
    queryables, schema, items (first page and up to two next/prev steps), one item,
    tiles metadata, tile matrix sets, processes, jobs, OpenAPI. HTML and other
    alternates are fetched (status only), not crawled.
    """
    admin = key_headers(KEYS["admin"])
    todo = [f"{base}/ogc", f"{base}/ogc?f=json"]
    seen: set[str] = set()
    checked: dict[str, int] = {}
    pages_per_items: dict[str, int] = {}
    exempt: dict[str, str] = {}
    while todo:
        href = todo.pop()
        key = _normal(href)
        if key in seen:
            continue
        seen.add(key)
        r = http.get(href, headers=admin)
        checked[href] = r.status_code
        assert 200 <= r.status_code < 300, (href, r.status_code, r.text[:200])
        ctype = r.headers.get("content-type", "")
        if "json" not in ctype or "openapi" in href:
            continue
        doc = strict(r.text)
        links: list[dict[str, Any]] = list(doc.get("links", []))
        for c in doc.get("collections", []):
            links += c.get("links", [])
        for p in doc.get("processes", []):
            links += p.get("links", [])
        for ts in doc.get("tilesets", []):
            links += ts.get("links", [])
        feats = doc.get("features") or []
        if feats and isinstance(feats[0], dict):
            links += [lk for lk in feats[0].get("links", [])]
            if doc.get("type") == "FeatureCollection" and "id" in feats[0]:
                items = urlsplit(href).path
                if not items.endswith("/items"):
                    items = items.rsplit("/", 1)[0]
                todo.append(f"{base}{items}/{feats[0]['id']}?f=json")
        for link in links:
            target = str(link.get("href", ""))
            if not target.startswith(base):
                continue  # another server (OGC schemas, licence...)
            # Tile templates: filled with the z14 tile of the district's centre.
            target = (target.replace("{tileMatrixSetId}", "WebMercatorQuad")
                      .replace("{tileMatrix}", str(Z)).replace("{tileRow}", str(ROW))
                      .replace("{tileCol}", str(COL)))
            why = _exempt(link) if "{" in target or link.get("rel", "").endswith(
                "/execute") else None
            if why:
                exempt[target] = why
                continue
            parts = urlsplit(target)
            query = parts.path.rsplit("/", 1)[-1]
            if query in EDR_COORDS and parts.path.split("/")[-2] in EDR_COLLECTIONS:
                # EDR data queries need coords (EDR 1.0 §8.2): the link has none.
                target = urlunsplit(parts._replace(query=urlencode(
                    [*parse_qsl(parts.query), ("coords", EDR_COORDS[query])])))
            if link.get("rel") in ("next", "prev"):
                path = urlsplit(target).path
                pages_per_items[path] = pages_per_items.get(path, 0) + 1
                if pages_per_items[path] > 3:
                    continue
            todo.append(target)
    paths = {urlsplit(h).path for h in checked}
    assert "/ogc" in paths and "/ogc/conformance" in paths and "/ogc/processes" in paths
    assert any(p.endswith("/queryables") for p in paths)
    assert any(p.endswith("/items") for p in paths)
    assert any("/tiles" in p for p in paths)
    assert pages_per_items, "no next/prev links were followed"
    assert any(p.endswith(f"/{Z}/{ROW}/{COL}") for p in paths), "no tile was fetched"
    assert set(exempt.values()) <= {"process execution is POST only (Processes Part 1)"}, exempt
    assert len(checked) > 100


# ---------------------------------------------------------------------------
# API keys as HTTP Basic credentials


def test_api_key_as_basic_credentials(http: httpx.Client) -> None:
    key = KEYS["population"]
    assert key is not None
    want = get_json(http, "/ogc/collections/persons/items?limit=5", key_headers(key))
    for h in (basic("qgis", key), basic(key, ""), basic("", key)):
        got = get_json(http, "/ogc/collections/persons/items?limit=5", h)
        assert [f["id"] for f in got["features"]] == [f["id"] for f in want["features"]]
        assert get_json(http, "/layers", h)["role"] == "population"
        assert http.get("/tiles/persons.json", headers=h).status_code == 200
    # Without a key the collection does not exist for the caller.
    assert http.get("/ogc/collections/persons/items").status_code == 404
    bad = (basic("qgis", "wrong-key"), basic("", ""), {"Authorization": "Basic !!!"},
           {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
           {"Authorization": "Digest x"})
    for h in bad:
        for url in ("/ogc/collections", "/ogc", "/layers", "/tiles/buildings.json"):
            r = http.get(url, headers=h)
            assert r.status_code == 401, (url, h)
            assert r.headers["www-authenticate"].startswith("Basic realm="), url
            strict(r.text)

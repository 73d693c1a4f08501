"""A crawl of every route of both OpenAPI documents, the tiles and the processes as
`public`: no name, ID number or phone of a person in any body, and every person count
0 or >= k. Routes come from the OpenAPI documents, so new endpoints are crawled too."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mapbox_vector_tile
import morecantile
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient

from gis.store.gpkg import GeoPackageStore
from spatial_api.app import create_app
from spatial_api.settings import Settings

K = 5
#: A resident ID number (GB 11643): region, birth date, sequence, check digit (an
#: H3 cell index as a 64-bit integer must not count).
ID_NUMBER = re.compile(r"(?<![0-9.])[1-9]\d{5}(?:19|20)\d{2}(?:0[1-9]|1[0-2])"
                       r"(?:0[1-9]|[12]\d|3[01])\d{3}[0-9X](?![0-9])")
# Not after a decimal point: a coordinate's fraction (114.12562652475) is no phone.
PHONE = re.compile(r"(?<![0-9.])1\d{10}(?![0-9])")
PERSON_KEY = re.compile(r"person|population|household|resident(?!ial)", re.I)


@pytest.fixture(scope="module")
def client(demo_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(data_dir=demo_dir))) as c:
        yield c


@pytest.fixture(scope="module")
def secrets(demo_dir: Path) -> dict[str, Any]:
    """The real personal values of the demo (the crawl must find none of them)."""
    store = GeoPackageStore(demo_dir / "onemap.gpkg")
    try:
        p = store.query("person", columns=["name", "id_number", "phone"])
        b = store.query("building", limit=50, columns=["id"])
        e = store.query("enterprise", limit=1, columns=["id"])
    finally:
        store.close()
    names = {str(n) for n in p["name"].dropna() if len(str(n)) >= 3}
    xy = shapely.get_coordinates(np.asarray(p.geometry.values))
    return {"names": names, "ids": set(p["id_number"].dropna().astype(str)),
            "phones": set(p["phone"].dropna().astype(str)), "center": xy.mean(axis=0),
            "building": str(b["id"].iloc[0]), "enterprise": str(e["id"].iloc[0])}


def check_body(text: str, where: str, secrets: dict[str, Any]) -> None:
    assert not ID_NUMBER.search(text), f"ID-number pattern in {where}"
    assert not PHONE.search(text), f"phone pattern in {where}"
    assert not any(v in text for v in secrets["ids"]), f"an ID number in {where}"
    assert not any(v in text for v in secrets["phones"]), f"a phone number in {where}"
    leaked = [n for n in secrets["names"] if n in text]
    assert not leaked, f"person names {leaked[:3]} in {where}"
    try:
        doc = json.loads(text)
    except ValueError:
        return
    check_counts(doc, where)


def check_counts(node: Any, where: str) -> None:
    """Every integer under a person-like key (or in a breakdown under one, such as
    persons_by_age_band) is 0 or >= k (None = suppressed)."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{where}.{key}"
            if PERSON_KEY.search(str(key)):
                if isinstance(value, dict) and all(
                        v is None or isinstance(v, int) for v in value.values()):
                    for label, v in value.items():
                        count_ok(v, f"{here}.{label}")
                    continue
                count_ok(value, here)
            check_counts(value, here)
    elif isinstance(node, list):
        for v in node:
            check_counts(v, where)


def count_ok(value: Any, where: str) -> None:
    if isinstance(value, int) and not isinstance(value, bool):
        assert value == 0 or value >= K, f"person count {value} at {where}"


def fill(path: str, secrets: dict[str, Any], layers: list[str]) -> list[str]:
    """Concrete URLs for a templated path (one per layer for {layers})."""
    lon, lat = secrets["center"]
    t = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, 15)
    values = {"z": "15", "x": str(t.x), "y": str(t.y), "building_id": secrets["building"],
              "enterprise_id": secrets["enterprise"], "tileMatrixSetId": "WebMercatorQuad",
              "tileMatrix": "15", "tileRow": str(t.y), "tileCol": str(t.x)}
    names = re.findall(r"{(\w+)}", path)
    if any(n not in values and n not in ("layers", "collectionId") for n in names):
        return []
    urls = [path]
    for n in names:
        if n in ("layers", "collectionId"):
            urls = [u.replace("{" + n + "}", lay) for u in urls for lay in layers]
        else:
            urls = [u.replace("{" + n + "}", values[n]) for u in urls]
    return urls


def test_public_crawl(client: TestClient, secrets: dict[str, Any]) -> None:
    layers = [x["id"] for x in client.get("/layers").json()["layers"]]
    assert "persons" not in layers and layers
    crawled = skipped = 0
    docs = {"": client.get("/openapi.json").json(),
            "/ogc": client.get("/ogc/openapi?f=json").json()}
    for prefix, doc in docs.items():
        for path, ops in doc["paths"].items():
            if "get" not in ops:
                continue
            urls = fill(prefix + path, secrets, layers)
            if not urls:
                skipped += 1
                continue
            for url in urls:
                r = client.get(url, params={"f": "json"} if prefix else None)
                assert r.status_code < 500, (url, r.status_code)
                crawled += 1
                if r.headers.get("content-type", "").startswith(
                        "application/vnd.mapbox-vector-tile") and r.content:
                    tile = mapbox_vector_tile.decode(r.content)
                    assert "persons" not in tile, url
                    check_body(json.dumps(tile, ensure_ascii=False, default=str), url, secrets)
                elif r.status_code == 200:
                    check_body(r.text, url, secrets)
    # items of every public features collection, a page each (EDR ones have no items)
    for coll in [c["id"] for c in client.get("/ogc/collections?f=json").json()["collections"]
                 if "data_queries" not in c]:
        r = client.get(f"/ogc/collections/{coll}/items?f=json&limit=200")
        assert r.status_code == 200
        check_body(r.text, coll, secrets)
        crawled += 1
    # every process, over nested areas around the demo's centre
    lon, lat = secrets["center"]
    for pid in [p["id"] for p in client.get("/ogc/processes?f=json").json()["processes"]]:
        for w in (0.0003, 0.0006, 0.0007, 0.002, 0.01):
            area = shapely.geometry.mapping(shapely.box(lon - w, lat - w, lon + w, lat + w))
            inputs = {"area": area, "lon": lon, "lat": lat, "res": 9}
            r = client.post(f"/ogc/processes/{pid}/execution", json={"inputs": inputs})
            assert r.status_code < 500, (pid, r.text)
            check_body(r.text, pid, secrets)
            crawled += 1
    assert crawled > 50 and skipped <= crawled // 4, (crawled, skipped)

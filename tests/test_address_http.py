"""The ``/address`` routes in a small FastAPI app over the tiny hand-made district."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from address.service import AddressService
from gis.crs import wgs84_to_gcj02
from spatial_api.address_routes import address_router
from tests.test_address_service import build_tiny_store


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    d: Path = tmp_path_factory.mktemp("address_http")
    store = build_tiny_store(d / "onemap.gpkg")
    app = FastAPI()
    app.state.address = AddressService.from_store(store)
    store.close()
    app.include_router(address_router(), prefix="/address")
    with TestClient(app) as c:
        yield c


def assert_400(r: object) -> dict[str, str]:
    assert r.status_code == 400, r.text  # type: ignore[attr-defined]
    body = r.json()  # type: ignore[attr-defined]
    assert set(body) == {"code", "description"} and body["description"]
    return body  # type: ignore[no-any-return]


def test_parse(client: TestClient) -> None:
    r = client.get("/address/parse", params={"q": "深圳罗湖东门中路2001号湖贝大厦A座"})
    assert r.status_code == 200
    body = r.json()
    assert body["input"] == "深圳罗湖东门中路2001号湖贝大厦A座"
    assert body["normalized"] == "广东省深圳市罗湖区东门中路2001号湖贝大厦A座"
    assert len(body["components"]) == 12
    assert body["components"]["building"] == "A" and body["components"]["unit"] is None


def test_geocode(client: TestClient) -> None:
    r = client.get("/address/geocode", params={"q": "湖贝大厦A座", "limit": 2})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) <= 2
    f = fc["features"][0]
    assert f["geometry"]["type"] == "Point"
    assert set(f["properties"]) >= {"address_id", "address", "score", "level"}
    assert f["properties"]["address_id"] == "A0001"
    scores = [x["properties"]["score"] for x in fc["features"]]
    assert scores == sorted(scores, reverse=True)


def test_geocode_nothing(client: TestClient) -> None:
    r = client.get("/address/geocode", params={"q": "今天天气很好"})
    assert r.status_code == 200 and r.json()["features"] == []


@pytest.mark.parametrize("params", [
    {}, {"q": ""}, {"q": "   "}, {"q": "湖" * 501}, {"q": "湖贝\x00\x01"},
    {"q": "湖贝", "limit": "x"},
    {"q": "湖贝", "limit": "0"}, {"q": "湖贝", "limit": "1000"},
])
def test_geocode_bad_input(client: TestClient, params: dict[str, str]) -> None:
    assert_400(client.get("/address/geocode", params=params))


def test_parse_bad_input(client: TestClient) -> None:
    body = assert_400(client.get("/address/parse", params={"q": "x" * 600}))
    assert "500" in body["description"]
    assert_400(client.get("/address/parse"))


def test_reverse(client: TestClient) -> None:
    r = client.get("/address/reverse", params={"lon": 114.1221, "lat": 22.5492})
    assert r.status_code == 200
    fc = r.json()
    assert fc["features"][0]["properties"]["address_id"] == "A0001"
    assert "distance_m" in fc["features"][0]["properties"]
    assert fc["context"]["community"]["name"] == "湖贝社区"
    assert fc["context"]["subdistrict"]["name"] == "东门街道"
    assert fc["context"]["grid"] is not None and fc["context"]["block"]


def test_reverse_gcj02(client: TestClient) -> None:
    x, y = wgs84_to_gcj02(114.1221, 22.5492)
    r = client.get("/address/reverse", params={"lon": float(x), "lat": float(y),
                                               "coordsys": "gcj02", "radius": 50, "limit": 1})
    assert r.status_code == 200
    assert [f["properties"]["address_id"] for f in r.json()["features"]] == ["A0001"]


@pytest.mark.parametrize("params", [
    {"lat": 22.5}, {"lon": "abc", "lat": 22.5}, {"lon": 114.1, "lat": 99},
    {"lon": 114.1, "lat": 22.5, "radius": "-1"}, {"lon": 114.1, "lat": 22.5, "coordsys": "x"},
    {"lon": "nan", "lat": 22.5},
])
def test_reverse_bad_input(client: TestClient, params: dict[str, object]) -> None:
    assert_400(client.get("/address/reverse", params=params))


def test_batch_json_in_order(client: TestClient) -> None:
    texts = ["春风路", "今天天气很好", "湖贝大厦A座1202室", "湖贝大厦A座"]
    r = client.post("/address/geocode/batch", json=texts)
    assert r.status_code == 200
    fc = r.json()
    props = [f["properties"] for f in fc["features"]]
    assert [p["index"] for p in props] == [0, 1, 2, 3]
    assert [p["input"] for p in props] == texts
    assert [p["level"] for p in props] == ["road", None, "room", "building"]
    assert fc["features"][1]["geometry"] is None and props[1]["status"] == "unresolved"
    assert (fc["resolved"], fc["unresolved"]) == (3, 1)
    # resolved and unresolved features carry the same properties (matched_name included)
    assert len({frozenset(p) for p in props}) == 1 and "matched_name" in props[0]


@pytest.mark.parametrize("body", [[], ["ok", 3], {"q": "x"}, ["", "湖贝"], ["湖" * 501]])
def test_batch_bad_json(client: TestClient, body: object) -> None:
    assert_400(client.post("/address/geocode/batch", json=body))


def test_batch_not_json(client: TestClient) -> None:
    assert_400(client.post("/address/geocode/batch", content=b"\xff\xfe garbage",
                           headers={"content-type": "application/json"}))
    assert_400(client.post("/address/geocode/batch", content=b""))


def test_batch_csv_body_and_upload(client: TestClient) -> None:
    csv_text = "id,address\n1,湖贝大厦A座\n2,不知道\n3,春风路18号\n"
    r = client.post("/address/geocode/batch", content=csv_text.encode(),
                    headers={"content-type": "text/csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.text.strip().splitlines()
    assert lines[0] == "id,address,lon,lat,address_id,score,level"
    assert [ln.split(",")[0] for ln in lines[1:]] == ["1", "2", "3"]
    assert lines[1].split(",")[4] == "A0001" and lines[2].split(",")[4] == ""
    assert r.headers["x-unresolved"] == "1"
    up = client.post("/address/geocode/batch",
                     files={"file": ("in.csv", csv_text.encode("utf-8"), "text/csv")})
    assert up.status_code == 200 and up.text == r.text


def test_batch_csv_without_address_column(client: TestClient) -> None:
    body = assert_400(client.post("/address/geocode/batch", content=b"a,b\n1,2\n",
                                  headers={"content-type": "text/csv"}))
    assert "column" in body["description"]


def test_missing_service_is_503() -> None:
    app = FastAPI()
    app.include_router(address_router(), prefix="/address")
    with TestClient(app) as c:
        r = c.get("/address/geocode", params={"q": "湖贝"})
        assert r.status_code == 503 and json.loads(r.text)["code"] == "ServiceUnavailable"


def test_service_built_from_its_own_store(tmp_path: Path) -> None:
    # the router never touches a store: the service answers after the store is closed
    store = build_tiny_store(tmp_path / "x.gpkg")
    svc = AddressService.from_store(store)
    store.close()
    assert svc.geocode("湖贝大厦A座", 1)[0].address_id == "A0001"

"""OGC API Features through pygeoapi at /ogc: Part 1 (paging, parameters, errors),
Part 2 (CRS) and Part 3 (CQL2 text and JSON), on the seeded small demo."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Transformer

from gis.store.gpkg import GeoPackageStore
from layers.audit import AuditLog
from spatial_api.app import create_app
from spatial_api.settings import Settings

ADMIN = {"X-API-Key": "demo-admin-key"}
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"

#: Without ``datetime`` the layers serve the district as it is today (docs/ogc.md).
TODAY = datetime.now(UTC).strftime("%Y-%m-%d")


@pytest.fixture(scope="module")
def client(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = create_app(Settings(data_dir=demo_dir))
    app.state.ogc.audit = AuditLog(tmp_path_factory.mktemp("audit") / "audit.jsonl")
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def store(demo_dir: Path) -> Iterator[GeoPackageStore]:
    s = GeoPackageStore(demo_dir / "onemap.gpkg")
    yield s
    s.close()


def get(client: TestClient, url: str, **kw: Any) -> Any:
    r = client.get(url, **kw)
    assert r.status_code == 200, r.text
    return r.json()


def test_landing_conformance_collections(client: TestClient) -> None:
    landing = get(client, "/ogc/")
    assert any(link["rel"] == "conformance" for link in landing["links"])
    conf = get(client, "/ogc/conformance")["conformsTo"]
    for c in ("http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
              "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
              "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
              "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
              "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json"):
        assert c in conf
    cols = {c["id"]: c for c in get(client, "/ogc/collections", headers=ADMIN)["collections"]}
    assert {"district", "subdistricts", "communities", "grids", "roads", "water", "buildings",
            "houses", "persons", "population_blocks", "enterprises", "industrial_spaces",
            "facilities", "events", "sensors", "addresses", "blocks"} <= set(cols)
    b = cols["buildings"]
    bbox = b["extent"]["spatial"]["bbox"][0]
    assert 113.9 < bbox[0] < bbox[2] < 114.4 and 22.4 < bbox[1] < bbox[3] < 22.8
    assert b["extent"]["temporal"]["interval"][0][0].startswith("19")
    assert f"{EPSG}4547" in b["crs"] and b["storageCrs"].endswith("CRS84")
    ev = cols["events"]["extent"]["temporal"]["interval"][0]
    assert ev[0] < ev[1]


def test_items_paging_and_number_matched(client: TestClient, store: GeoPackageStore) -> None:
    n = store.count("building", as_of=TODAY)
    first = get(client, "/ogc/collections/buildings/items?limit=100")
    assert first["numberMatched"] == n and first["numberReturned"] == 100
    rels = {link["rel"]: link["href"] for link in first["links"]}
    assert "next" in rels and "prev" not in rels
    second = get(client, "/ogc/collections/buildings/items?limit=100&offset=100")
    assert "prev" in {link["rel"] for link in second["links"]}
    ids1 = [f["id"] for f in first["features"]]
    ids2 = [f["id"] for f in second["features"]]
    assert not set(ids1) & set(ids2)
    last = get(client, f"/ogc/collections/buildings/items?limit=100&offset={n - 5}")
    assert last["numberReturned"] == 5 and "next" not in {x["rel"] for x in last["links"]}
    big = get(client, "/ogc/collections/persons/items?limit=20000&skipGeometry=true",
              headers=ADMIN)
    assert big["numberReturned"] == 10_000  # capped at the maximum
    assert all(f["geometry"] is None for f in big["features"][:5])


def test_item_by_id_and_404(client: TestClient) -> None:
    f = get(client, "/ogc/collections/buildings/items/B000001")
    assert f["id"] == "B000001" and f["geometry"]["type"] == "Polygon"
    r = client.get("/ogc/collections/buildings/items/NOPE")
    assert r.status_code == 404 and r.json()["code"] == "NotFound"
    r = client.get("/ogc/collections/nowhere/items")
    assert r.status_code == 404


def test_bbox_datetime_properties_filters(client: TestClient, store: GeoPackageStore) -> None:
    box = (114.10, 22.53, 114.13, 22.56)
    r = get(client, "/ogc/collections/buildings/items?bbox=" + ",".join(map(str, box)))
    assert r["numberMatched"] == store.count("building", as_of=TODAY, bbox=box) > 0
    r = get(client, "/ogc/collections/buildings/items?use=residential&limit=1000")
    assert r["numberMatched"] == store.count("building", as_of=TODAY, where={"use": "residential"})
    assert {f["properties"]["use"] for f in r["features"]} == {"residential"}
    r = get(client, "/ogc/collections/buildings/items?floors=10&limit=1000")
    assert all(f["properties"]["floors"] == 10 for f in r["features"])
    r = get(client, "/ogc/collections/buildings/items?sortby=-floors&properties=floors,use")
    floors = [f["properties"]["floors"] for f in r["features"]]
    assert floors == sorted(floors, reverse=True)
    assert set(r["features"][0]["properties"]) == {"floors", "use"}
    r = get(client, "/ogc/collections/persons/items?datetime=2021-06-30&limit=1", headers=ADMIN)
    assert r["numberMatched"] == store.count("person", as_of="2021-06-30")
    r = get(client, "/ogc/collections/events/items?datetime=2022-01-01/2022-03-31&limit=1",
            headers=ADMIN)
    assert r["numberMatched"] == store.count("event", as_of="2022-01-01/2022-03-31") > 0
    r = get(client, "/ogc/collections/buildings/items?skipGeometry=true&limit=3")
    assert all(f["geometry"] is None for f in r["features"])
    r = get(client, "/ogc/collections/buildings/items?resulttype=hits")
    assert r["numberReturned"] == 0 and r["numberMatched"] == store.count("building", as_of=TODAY)


@pytest.mark.parametrize("query", [
    "limit=abc", "limit=-1", "offset=-3", "bbox=1,2,3", "bbox=a,b,c,d", "datetime=yesterday",
    "sortby=nope", "properties=nope", "nope=1", "floors=ten", "crs=EPSG:9999",
    "bbox=114,22,115,23&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/9999",
    "filter=floors>>1", "filter=nope=1", "filter=floors>1&filter-lang=ecql",
    "filter=%7B&filter-lang=cql2-json", "filter-crs=http://x/y&filter=floors>1",
    "q=tower",
])
def test_bad_parameters_are_400(client: TestClient, query: str) -> None:
    r = client.get(f"/ogc/collections/buildings/items?{query}")
    assert r.status_code == 400, (query, r.status_code, r.text)
    body = r.json()
    assert body["code"] and body["description"]
    assert "Traceback" not in r.text and "/work" not in r.text


def test_crs_output_and_bbox_crs(client: TestClient) -> None:
    plain = get(client, "/ogc/collections/facilities/items?limit=5")
    r = client.get(f"/ogc/collections/facilities/items?limit=5&crs={EPSG}4547")
    assert r.status_code == 200 and r.headers["content-crs"] == f"<{EPSG}4547>"
    tr = Transformer.from_crs("OGC:CRS84", "EPSG:4547", always_xy=False)
    for a, b in zip(plain["features"], r.json()["features"], strict=True):
        lon, lat = a["geometry"]["coordinates"]
        assert b["geometry"]["coordinates"] == pytest.approx(list(tr.transform(lon, lat)),
                                                             abs=1e-6)
    r4326 = get(client, f"/ogc/collections/facilities/items?limit=1&crs={EPSG}4326")
    lon, lat = plain["features"][0]["geometry"]["coordinates"]
    assert r4326["features"][0]["geometry"]["coordinates"] == pytest.approx([lat, lon])
    for code in ("4490", "3857"):
        assert client.get(f"/ogc/collections/roads/items?limit=2&crs={EPSG}{code}"
                          ).status_code == 200
    # bbox given in EPSG:4547 (northing, easting order) selects the same features.
    box = (114.10, 22.53, 114.13, 22.56)
    ref = get(client, "/ogc/collections/buildings/items?limit=1&bbox=" + ",".join(map(str, box)))
    fwd = Transformer.from_crs("OGC:CRS84", "EPSG:4547", always_xy=False)
    n0, e0 = fwd.transform(box[0], box[1])
    n1, e1 = fwd.transform(box[2], box[3])
    r = get(client, f"/ogc/collections/buildings/items?limit=1&bbox={n0},{e0},{n1},{e1}"
                    f"&bbox-crs={EPSG}4547")
    assert abs(r["numberMatched"] - ref["numberMatched"]) <= max(2, ref["numberMatched"] // 20)


def test_cql2_text_and_json(client: TestClient, store: GeoPackageStore) -> None:
    area = shapely.Point(114.12, 22.55).buffer(0.01)
    expect = store.count("building", as_of=TODAY, within=area, where={"use": "residential"})
    text = f"S_INTERSECTS(geometry, {area.wkt}) AND use = 'residential'"
    r = get(client, "/ogc/collections/buildings/items", params={
        "filter": text, "filter-lang": "cql2-text", "limit": 1000})
    assert r["numberMatched"] == expect > 0
    assert "filter-lang=cql2-text" in next(x["href"] for x in r["links"] if x["rel"] == "self")
    for f in [
        "floors BETWEEN 10 AND 20 AND use IN ('office', 'mixed')",
        "NOT (use = 'residential') OR floors > 30",
        "name LIKE '%苑%'",
        "T_INTERSECTS(INTERVAL(valid_from, valid_to), DATE('2015-06-30'))",
        "S_WITHIN(geometry, BBOX(114.10, 22.53, 114.13, 22.56))",
    ]:
        r = get(client, "/ogc/collections/buildings/items", params={"filter": f, "limit": 1})
        assert r["numberMatched"] >= 0
    doc = {"op": "and", "args": [
        {"op": "s_intersects", "args": [{"property": "geometry"},
                                        json.loads(shapely.to_geojson(area))]},
        {"op": "=", "args": [{"property": "use"}, "residential"]}]}
    r = get(client, "/ogc/collections/buildings/items", params={
        "filter": json.dumps(doc), "filter-lang": "cql2-json", "limit": 1000})
    assert r["numberMatched"] == expect
    post = client.post("/ogc/collections/buildings/items?limit=1000", content=json.dumps(doc),
                       headers={"Content-Type": "application/query-cql-json"})
    assert post.status_code == 200 and post.json()["numberMatched"] == expect
    # filter-crs: the same area given in EPSG:4547.
    fwd = Transformer.from_crs("OGC:CRS84", "EPSG:4547", always_xy=False)
    area_4547 = shapely.transform(area, lambda xy: __import__("numpy").column_stack(
        fwd.transform(xy[:, 0], xy[:, 1])))
    r = get(client, "/ogc/collections/buildings/items", params={
        "filter": f"S_INTERSECTS(geometry, {area_4547.wkt}) AND use = 'residential'",
        "filter-crs": f"{EPSG}4547", "limit": 1})
    assert r["numberMatched"] == expect


def test_queryables_and_blocks_layer(client: TestClient, store: GeoPackageStore) -> None:
    q = get(client, "/ogc/collections/buildings/queryables")
    assert {"use", "floors", "address"} <= set(q["properties"])
    r = get(client, "/ogc/collections/blocks/items?kind=enterprise&res=8&limit=1000")
    total = sum(f["properties"]["count"] for f in r["features"])
    assert r["numberMatched"] == len(r["features"])
    import datetime as dt
    today = dt.date.today().isoformat()
    assert total == store.count("enterprise", as_of=today)
    assert client.get("/ogc/collections/blocks/items?res=99").status_code == 400


def test_sensors_and_addresses(client: TestClient, store: GeoPackageStore) -> None:
    s = get(client, "/ogc/collections/sensors/items?limit=5")
    p = s["features"][0]["properties"]
    assert {"last_value", "last_ts", "alert"} <= set(p)
    a = get(client, "/ogc/collections/addresses/items?limit=5")
    assert a["numberMatched"] > store.count("building", as_of=TODAY) // 2
    one = a["features"][0]
    assert one["id"] == one["properties"]["address_id"]
    got = get(client, f"/ogc/collections/addresses/items/{one['id']}")
    assert got["properties"]["address"] == one["properties"]["address"]

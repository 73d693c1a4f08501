"""Triage and the case routes end to end: train on a seeded subset of the demo with the
CLI, start the app (lifespan loads the artefact), and call the routes as a client would."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from fastapi.testclient import TestClient

from gis.cases import DispatchConfigError
from gis.cases import classifier as clf_mod
from gis.cases.config import CATEGORIES, DEFAULT_PATH, load_table, parse_table
from gis.store.gpkg import GeoPackageStore
from spatial_api.app import create_app
from spatial_api.cli import cli
from spatial_api.settings import Settings
from tests.conftest import copy_demo

KEY = {"X-API-Key": "demo-planning-key"}
ADMIN = {"X-API-Key": "demo-admin-key"}


@pytest.fixture(scope="module")
def data_dir(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("dispatch")
    copy_demo(demo_dir, d)
    r = CliRunner().invoke(cli, ["dispatch", "train", "--data-dir", str(d), "--limit", "3000"])
    assert r.exit_code == 0, r.output
    meta = json.loads(r.stdout)
    assert meta["artefact"] == "model-v0001.joblib" and meta["n_texts"] == 3000
    assert sorted(meta["categories"]) == sorted(CATEGORIES)
    return d


@pytest.fixture(scope="module")
def client(data_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(data_dir=data_dir))) as c:
        yield c


def test_artefact_versions_and_round_trip(data_dir: Path, tmp_path: Path) -> None:
    clf = clf_mod.load(data_dir)
    texts = ["楼下烧烤店油烟很大", "井盖不见了", "单车堆满地铁口"]
    before = clf.predict_many(texts)
    out = tmp_path / "d"
    clf_mod.save(clf, out)
    p2 = clf_mod.save(clf_mod.load(out), out)
    assert p2.name == "model-v0002.joblib"
    again = clf_mod.load(out)
    assert again.meta["version"] == 2 and again.predict_many(texts) == before
    assert clf_mod.load(out, 1).predict_many(texts) == before
    with pytest.raises(clf_mod.ModelUnavailable):
        clf_mod.load(tmp_path / "empty")


def test_triage_needs_a_key(client: TestClient) -> None:
    assert client.post("/dispatch/triage", json={"text": "井盖不见了"}).status_code == 401
    r = client.post("/dispatch/triage", json={"text": "井盖不见了"},
                    headers={"X-API-Key": "nope"})
    assert r.status_code == 401


@pytest.mark.parametrize("body", [{"text": ""}, {"text": "   "}, {"text": "字" * 10_001},
                                  {"text": 42}, {"text": None}, {}, [1, 2]])
def test_triage_bad_input_is_400(client: TestClient, body: object) -> None:
    r = client.post("/dispatch/triage", json=body, headers=KEY)
    assert r.status_code == 400, r.text
    assert {"code", "description"} <= set(r.json()) and r.json()["description"]


def test_triage_non_json_is_400(client: TestClient) -> None:
    r = client.post("/dispatch/triage", content=b"\xff\xfe not json", headers=KEY)
    assert r.status_code == 400


def test_triage_answer(client: TestClient) -> None:
    table = load_table()
    for text in ("晚上工地还在打桩，吵得睡不着", "楼下餐馆油烟直排熏到家里",
                 "共享单车堵住了地铁口"):
        r = client.post("/dispatch/triage", json={"text": text}, headers=ADMIN)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["category"] in CATEGORIES
        cands = body["candidates"]
        assert len(cands) >= 3 and cands[0]["category"] == body["category"]
        scores = [c["score"] for c in cands]
        assert scores == sorted(scores, reverse=True) and body["confidence"] == scores[0]
        assert 0 < body["confidence"] <= 1
        assert body["department"] == table.route(body["category"], text)
        assert body["deadline_h"] == table.deadline_h(body["category"])


def test_triage_locates_the_address(client: TestClient, data_dir: Path) -> None:
    store = GeoPackageStore(data_dir / "onemap.gpkg")
    try:
        b = store.query("building", columns=["address", "address_id", "community_code"],
                        limit=50)
    finally:
        store.close()
    row = b[b["address"].notna()].iloc[0]
    text = f"{row['address']}门口垃圾堆了好几天没人收"
    body = client.post("/dispatch/triage", json={"text": text}, headers=KEY).json()
    assert body["address"] is not None
    assert body["address"]["address_id"] == row["address_id"]
    assert body["community_code"] == row["community_code"]
    assert body["grid_code"] and body["grid_code"].startswith(row["community_code"][:9])


def test_case_routes(client: TestClient) -> None:
    r = client.post("/events", json={"text": "翠竹路有井盖不见了", "category": "井盖缺失"},
                    headers=KEY)
    assert r.status_code == 201, r.text
    case = r.json()
    cid = case["id"]
    assert case["state"] == "受理" and case["department"] == "市政"
    assert case["created_by"]  # attributed to the key holder
    assert client.post(f"/events/{cid}/transitions", json={"action": "dispatch"}).status_code \
        == 401
    for action in ("dispatch", "start", "close"):
        r = client.post(f"/events/{cid}/transitions", json={"action": action}, headers=KEY)
        assert r.status_code == 200, r.text
    r = client.post(f"/events/{cid}/transitions", json={"action": "close"}, headers=KEY)
    assert r.status_code == 409 and r.json()["code"] == "Conflict"
    r = client.post(f"/events/{cid}/transitions", json={"action": "rate", "rating": 9},
                    headers=KEY)
    assert r.status_code == 400
    r = client.post(f"/events/{cid}/transitions", json={"action": "rate", "rating": 5},
                    headers=KEY)
    assert r.json()["state"] == "评价"
    got = client.get(f"/events/{cid}", headers=KEY).json()
    assert [t["to_state"] for t in got["transitions"]] == ["受理", "分拨", "处置", "办结", "评价"]
    assert client.get("/events/C-none", headers=KEY).status_code == 404
    assert client.post("/events/C-none/transitions", json={"action": "start"},
                       headers=KEY).status_code == 404
    # Triaged on creation when no category is given.
    r = client.post("/events", json={"text": "小区消防通道被杂物堵死了"}, headers=KEY)
    assert r.status_code == 201 and r.json()["category"] in CATEGORIES
    assert client.get("/events/overdue", headers=KEY).status_code == 200
    listed = client.get("/events", headers=KEY).json()["cases"]
    assert {c["id"] for c in listed} >= {cid}
    sc = client.get("/dispatch/scorecard", params={"from": "2020-01-01", "to": "2100-01-01"},
                    headers=KEY).json()
    row = next(x for x in sc["rows"] if x["department"] == "市政")
    assert row["received"] >= 1 and row["closed"] >= 1
    assert client.get("/dispatch/scorecard", params={"by": "x"}, headers=KEY).status_code == 400
    assert client.get("/dispatch/scorecard", params={"from": "soon"},
                      headers=KEY).status_code == 400


def test_table_is_validated() -> None:
    doc = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    t = parse_table(doc)
    assert t.route("噪音扰民", "工地夜间打桩") == "住建"
    assert t.route("噪音扰民", "酒吧音乐太吵") == "生态环境"
    assert t.route("噪音扰民", "声音很大") == "生态环境"
    bad = json.loads(json.dumps(doc))
    del bad["categories"]["积水"]
    with pytest.raises(DispatchConfigError, match="积水"):
        parse_table(bad)
    bad = json.loads(json.dumps(doc))
    bad["categories"]["积水"]["department"] = "没有这个部门"
    with pytest.raises(DispatchConfigError, match="没有这个部门"):
        parse_table(bad)
    bad = json.loads(json.dumps(doc))
    bad["categories"]["积水"]["deadline_h"] = 0
    with pytest.raises(DispatchConfigError):
        parse_table(bad)


def test_hotspots_process(client: TestClient, data_dir: Path) -> None:
    from gis.cases.spatial import hotspots

    inputs = {"res": 8, "category": "垃圾暴露", "start": "2024-01-01", "end": "2026-01-01"}
    r = client.post("/ogc/processes/hotspots/execution", json={"inputs": inputs})
    # Refused for the public before pygeoapi (whose manager would turn a 401 into a 400).
    assert r.status_code == 401 and "www-authenticate" in r.headers, r.text
    r = client.post("/ogc/processes/hotspots/execution", json={"inputs": inputs},
                    headers={"X-API-Key": "demo-admin-key"})
    assert r.status_code == 200, r.text
    r = client.post("/ogc/processes/hotspots/execution", json={"inputs": inputs}, headers=KEY)
    assert r.status_code == 200, r.text
    body = r.json()
    store = GeoPackageStore(data_dir / "onemap.gpkg")
    try:
        direct = hotspots(store, 8, "垃圾暴露", "2024-01-01", "2026-01-01")
    finally:
        store.close()
    assert body["features"] == direct["features"] and body["hot"] == direct["hot"]
    bad = client.post("/ogc/processes/hotspots/execution",
                      json={"inputs": {"res": 13}}, headers=KEY)
    assert bad.status_code == 400
    ids = {p["id"] for p in client.get("/ogc/processes").json()["processes"]}
    assert "hotspots" in ids


def test_repeats_and_trends_routes(client: TestClient, data_dir: Path) -> None:
    from gis.cases.spatial import repeats

    params = {"from": "2025-01-01", "to": "2026-01-01", "days": 30}
    assert client.get("/dispatch/repeats", params=params).status_code == 401
    body = client.get("/dispatch/repeats", params=params, headers=KEY).json()
    store = GeoPackageStore(data_dir / "onemap.gpkg")
    try:
        direct = repeats(store, None, "2025-01-01", "2026-01-01", 30)
    finally:
        store.close()
    assert body["numberMatched"] == len(direct) > 0
    assert [c["ids"] for c in body["clusters"]] == direct["ids"].head(100).tolist()
    r = client.get("/dispatch/trends", params={"from": "2025-06-02", "to": "2025-07-01",
                                                "category": "积水"}, headers=KEY)
    assert r.status_code == 200
    weeks = r.json()["series"]["积水"]
    assert [w["week"] for w in weeks] == ["2025-06-02", "2025-06-09", "2025-06-16",
                                          "2025-06-23", "2025-06-30"]
    assert client.get("/dispatch/trends", params={"from": "2025-06-02"},
                      headers=KEY).status_code == 400
    assert client.get("/dispatch/repeats", params={"category": "x"},
                      headers=KEY).status_code == 400


def test_hotspot_layer_items(client: TestClient, data_dir: Path) -> None:
    import shapely

    from gis.cases.spatial import hotspots
    from layers.hotspots import CACHE

    base = "/ogc/collections/event_hotspots"
    assert client.get(base).status_code == 404  # departments only: hidden from the public
    assert client.get(base, headers=KEY).status_code == 200
    assert "event_hotspots" in {x["id"] for x in client.get("/layers", headers=KEY).json()[
        "layers"]}
    params = {"res": 8, "category": "垃圾暴露", "datetime": "2024-01-01/2025-12-31",
              "limit": 10000, "f": "json"}
    body = client.get(f"{base}/items", params=params, headers=KEY).json()
    store = GeoPackageStore(data_dir / "onemap.gpkg")
    try:
        direct = hotspots(store, 8, "垃圾暴露", "2024-01-01", "2026-01-01")
    finally:
        store.close()
    assert body["numberMatched"] == len(direct["features"]) == len(body["features"])
    assert [f["id"] for f in body["features"]] == [f["id"] for f in direct["features"]]
    for got, want in zip(body["features"], direct["features"], strict=True):
        p = got["properties"]
        assert {k: p[k] for k in ("count", "z", "p", "class")} == {
            k: want["properties"][k] for k in ("count", "z", "p", "class")}
        assert p["res"] == 8 and p["category"] == "垃圾暴露"
    # A second request is served from the cache.
    hits = CACHE.hits
    client.get(f"{base}/items", params=params, headers=KEY)
    assert CACHE.hits == hits + 1
    # class filter and bbox, checked with shapely over the whole layer.
    hot = client.get(f"{base}/items", params={**params, "class": "hot"}, headers=KEY).json()
    assert hot["numberMatched"] == direct["hot"]
    assert all(f["properties"]["class"] == "hot" for f in hot["features"])
    bbox = (114.10, 22.53, 114.13, 22.56)
    inbox = client.get(f"{base}/items", params={**params, "bbox": ",".join(map(str, bbox))},
                       headers=KEY).json()
    want_ids = [f["id"] for f in direct["features"]
                if shapely.intersects(shapely.geometry.shape(f["geometry"]),
                                      shapely.box(*bbox))]
    assert [f["id"] for f in inbox["features"]] == want_ids and want_ids
    for bad in ({"res": 12}, {"category": "不存在"}, {"class": "warm"},
                {"datetime": "2025-01-01/2024-01-01"}, {"color": "red"}):
        r = client.get(f"{base}/items", params={**params, **bad}, headers=KEY)
        assert r.status_code == 400, (bad, r.text)


def test_hotspot_layer_period() -> None:
    from layers.hotspots import period_of

    assert period_of(None) == (None, None)
    assert period_of("2024-01-01/2024-12-31") == ("2024-01-01", "2025-01-01")
    assert period_of("../2024-12-31") == (None, "2025-01-01")
    # An instant (the viewer's time slider): the twelve months up to it.
    assert period_of("2025-06-30") == ("2024-07-01", "2025-07-01")


def test_hotspot_layer_tiles(client: TestClient) -> None:
    import mapbox_vector_tile
    import morecantile

    fc = client.get("/ogc/collections/event_hotspots/items",
                    params={"class": "hot", "limit": 1, "f": "json"}, headers=KEY).json()
    cell = fc["features"][0]
    ring = cell["geometry"]["coordinates"][0]
    lon = sum(p[0] for p in ring[:-1]) / (len(ring) - 1)
    lat = sum(p[1] for p in ring[:-1]) / (len(ring) - 1)
    t = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, 13)
    # Hidden from the public as the events layer is (the tile route's answer for a layer
    # the role may not see).
    public = client.get(f"/tiles/events/{t.z}/{t.x}/{t.y}.mvt").status_code
    assert public != 200
    assert client.get(f"/tiles/event_hotspots/{t.z}/{t.x}/{t.y}.mvt").status_code == public
    r = client.get(f"/tiles/event_hotspots/{t.z}/{t.x}/{t.y}.mvt", headers=KEY)
    assert r.status_code == 200
    feats = mapbox_vector_tile.decode(r.content)["event_hotspots"]["features"]
    got = {f["properties"]["cell"]: f["properties"] for f in feats}
    assert got[cell["id"]]["class"] == "hot"
    assert got[cell["id"]]["count"] == cell["properties"]["count"]


def test_fast_probabilities_equal_scikit_learn(data_dir: Path) -> None:
    import numpy as np

    from bench.bench_dispatch import load_eval

    clf = clf_mod.load(data_dir)
    fast = clf_mod.fast_proba(clf.pipeline)
    assert fast is not None  # the pipeline build_pipeline makes is recognised
    texts, _ = load_eval()
    got, want = fast(texts), clf.pipeline.predict_proba(texts)
    assert got.shape == want.shape == (len(texts), len(CATEGORIES))
    assert np.allclose(got, want, rtol=0, atol=1e-12)
    assert clf.predict_many(texts[:5]) == [
        [(clf.categories[j], round(float(want[i, j]), 4))
         for j in np.argsort(-want[i], kind="stable")[:5]] for i in range(5)]
    # Anything else falls back on scikit-learn.
    assert clf_mod.fast_proba(object()) is None

"""The network analyses on the seeded demo, the client's way: isochrones against the reach,
coverage rows against totals and against networkx, site-suggest against single sites,
free parking against the readings, the OGC processes (status codes, suppression) and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner
from fastapi.testclient import TestClient

from gis.analysis.coverage import CoverageInput, covered_population, service_coverage
from gis.analysis.fire import FireResponseInput, fire_response
from gis.analysis.isochrone import IsochroneInput, isochrone
from gis.analysis.nearest import NearestInput, nearest_facility
from gis.analysis.siting import SiteSuggestInput, site_suggest
from gis.errors import InvalidQuery
from gis.network import network_service
from gis.store.gpkg import GeoPackageStore
from spatial_api.app import create_app
from spatial_api.cli import cli
from spatial_api.settings import Settings

DAY = "2024-06-30"
ORIGIN = [114.118, 22.548]
POP = {"X-API-Key": "demo-population-key"}


@pytest.fixture(scope="module")
def store(demo_dir: Path) -> Iterator[GeoPackageStore]:
    s = GeoPackageStore(demo_dir / "onemap.gpkg")
    yield s
    s.close()


def to_m(geom: Any) -> Any:
    return gpd.GeoSeries([geom], crs=4326).to_crs(4547).iloc[0]


@pytest.mark.parametrize("mode", ["walk", "drive"])
def test_isochrone_holds_the_reach_and_nothing_well_beyond(store: GeoPackageStore,
                                                           mode: str) -> None:
    minutes = 10 if mode == "walk" else 3
    fc = isochrone(store, IsochroneInput(ORIGIN, [minutes], mode))
    poly = to_m(shapely.geometry.shape(fc["features"][0]["geometry"]))
    width = fc["features"][0]["properties"]["buffer_m"]
    net = network_service(store).get(mode)
    snap = net.snap(*ORIGIN)
    t = net.reach_from([snap], engine="networkx")  # the reference reach, no limit
    limit = minutes * 60.0
    pts = np.asarray(shapely.points(net.node_xy), dtype=object)
    well_within = t <= 0.9 * limit
    assert well_within.sum() > 5
    assert shapely.contains(poly.buffer(0.01), pts[well_within]).all()
    # Edges reachable at all within 1.2 × the time; nodes only reachable well beyond it
    # and farther than the band from every such edge are outside.
    near_edges = shapely.union_all(net.seg_geom[(t[net.seg_u] <= 1.2 * limit)
                                                | (t[net.seg_v] <= 1.2 * limit)])
    beyond = (t > 1.2 * limit) & (shapely.distance(pts, near_edges) > width + 1.0)
    assert beyond.sum() > 5
    assert not shapely.intersects(poly, pts[beyond]).any()
    # It follows the network: nothing outside the band round the reachable edges.
    assert poly.difference(near_edges.buffer(width + 3.0)).area < 1.0  # 2 m simplification


def test_isochrones_nest(store: GeoPackageStore) -> None:
    fc = isochrone(store, IsochroneInput(ORIGIN, [5, 10, 15], "walk"))
    assert [f["properties"]["minutes"] for f in fc["features"]] == [15, 10, 5]
    polys = [to_m(shapely.geometry.shape(f["geometry"])) for f in fc["features"]]
    assert polys[0].area > polys[1].area > polys[2].area
    # Nested up to the 2 m simplification of the lines before buffering.
    assert polys[1].difference(polys[0]).area < 2.0 * polys[1].length
    assert polys[2].difference(polys[1]).area < 2.0 * polys[2].length


def test_coverage_rows_sum_to_totals_and_match_networkx(store: GeoPackageStore) -> None:
    inp = CoverageInput("community_station", 10, "walk", DAY)
    res = service_coverage(store, inp)
    assert len(res.communities) == 109
    assert sum(r["population"] for r in res.communities) == res.totals["population"]
    assert sum(r["covered"] for r in res.communities) == res.totals["covered"]
    assert 0 < res.totals["covered"] < res.totals["population"]
    # The population is the persons of the buildings at the date.
    persons = store.query("person", as_of=DAY, columns=["building_id"])
    assert res.totals["population"] == int(persons["building_id"].notna().sum())
    ref = service_coverage(store, inp, engine="networkx")
    assert ref.totals == res.totals and ref.communities == res.communities
    gaps = sum(f["properties"]["uncovered"] for f in res.gaps["features"])
    assert gaps == res.totals["population"] - res.totals["covered"]
    pub = res.suppressed_copy(5)
    assert all(f["properties"]["uncovered"] >= 5 for f in pub.gaps["features"])
    assert all(r["population"] is None or r["population"] == 0 or r["population"] >= 5
               for r in pub.communities)


def test_coverage_grows_with_minutes(store: GeoPackageStore) -> None:
    a = covered_population(store, "community_station", 5, "walk", DAY)
    b = covered_population(store, "community_station", 15, "walk", DAY)
    assert a[1] == b[1] and a[0] < b[0] <= b[1]


def test_site_suggest_never_lowers_coverage_and_first_is_best(store: GeoPackageStore) -> None:
    res = service_coverage(store, CoverageInput("community_station", 5, "walk", DAY))
    # Candidates: the centres of the largest gap blocks, and a few covered places.
    gaps = sorted(res.gaps["features"], key=lambda f: -f["properties"]["uncovered"])[:8]
    cands = [list(shapely.geometry.shape(f["geometry"]).centroid.coords[0]) for f in gaps]
    net = network_service(store).get("walk")
    cands = [c for c in cands if _snaps(net, c)] + [ORIGIN]
    out = site_suggest(store, SiteSuggestInput("community_station", 5, 3, "walk", DAY, cands))
    before = out["before"]["covered"]
    assert before == res.totals["covered"]
    covered = [before] + [f["properties"]["covered_after"]
                          for f in out["sites"]["features"]]
    assert covered == sorted(covered) and out["after"]["covered"] == covered[-1]
    single = [covered_population(store, "community_station", 5, "walk", DAY, [(c[0], c[1])])[0]
              for c in cands]
    first = out["sites"]["features"][0]["properties"]
    assert before + first["gain"] == max(single)
    assert single[first["candidate"]] == max(single)
    chosen = [(cands[f["properties"]["candidate"]][0], cands[f["properties"]["candidate"]][1])
              for f in out["sites"]["features"]]
    assert covered_population(store, "community_station", 5, "walk", DAY,
                              chosen)[0] == out["after"]["covered"]


def _snaps(net: object, c: list[float]) -> bool:
    try:
        net.snap(*c)  # type: ignore[attr-defined]
    except InvalidQuery:
        return False
    return True


def test_site_suggest_default_candidates(store: GeoPackageStore) -> None:
    from gis.analysis.siting import default_candidates

    out = site_suggest(store, SiteSuggestInput("fire_station", 3, 2, "drive", DAY))
    assert out["candidates"] > 50
    assert out["after"]["covered"] >= out["before"]["covered"]
    # The junction fast path (multi-source csgraph) equals snapping each candidate.
    _nodes, cands = default_candidates(network_service(store).get("drive"))
    slow = site_suggest(store, SiteSuggestInput("fire_station", 3, 2, "drive", DAY,
                                                [list(c) for c in cands]))
    assert slow["sites"] == out["sites"] and slow["after"] == out["after"]


def test_fire_response_matches_coverage(store: GeoPackageStore) -> None:
    fr = fire_response(store, FireResponseInput(5, "drive", DAY, include_buildings=True))
    cov = service_coverage(store, CoverageInput("fire_station", 5, "drive", DAY))
    assert fr["residents_covered"] == cov.totals["covered"]
    assert fr["residents"] == cov.totals["population"]
    layer = fr["buildings_layer"]["features"]
    assert len(layer) == fr["buildings"]
    covered = [f for f in layer if f["properties"]["covered"]]
    assert len(covered) == fr["buildings_covered"]
    assert all(f["properties"]["response_s"] <= 300 for f in covered)
    assert len(fr["uncovered"]["features"]) == fr["buildings"] - fr["buildings_covered"]


def test_nearest_facility_is_ordered_and_exact(store: GeoPackageStore) -> None:
    fc = nearest_facility(store, NearestInput(ORIGIN, "community_station", 5, "walk", DAY))
    d = [f["properties"]["duration_s"] for f in fc["features"]]
    assert len(d) == 5 and d == sorted(d)
    # Against a route to every station: none is nearer than the first answered.
    net = network_service(store).get("walk")
    o = net.snap(*ORIGIN)
    fac = store.query("facility", as_of=DAY, where={"facility_type": "community_station"})
    times = []
    for p in fac.geometry:
        times.append(net.route(o, net.snap(p.x, p.y)).duration_s)
    assert min(times) == pytest.approx(d[0], abs=0.2)
    assert sorted(times)[:5] == pytest.approx(d, abs=0.2)


def test_parking_counts_only_lots_with_free_spaces(store: GeoPackageStore) -> None:
    at = "2024-12-02T02:00:00Z"  # 10:00 local, a Monday
    fc = nearest_facility(store, NearestInput(ORIGIN, "parking", 50, "drive", at))
    got = {f["properties"]["id"]: f["properties"]["free_spaces"] for f in fc["features"]}
    lots = store.query("facility", where={"facility_type": "parking"}, columns=["id", "capacity"])
    ts = int(pd.Timestamp(at).timestamp())
    full = 0
    for lot, cap in zip(lots["id"], lots["capacity"], strict=True):
        r = store.readings(f"PK-{lot}")
        last = r[r["ts"] <= ts].iloc[-1]
        free = int(cap - last["value"])
        if free > 0:
            assert got[lot] == free
        else:
            full += 1
            assert lot not in got
    assert len(got) + full == len(lots)


# ------------------------------------------------------------------ processes and CLI

@pytest.fixture(scope="module")
def client(demo_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(data_dir=demo_dir))) as c:
        yield c


def run(c: TestClient, pid: str, inputs: object, headers: dict | None = None) -> tuple[int, dict]:
    r = c.post(f"/ogc/processes/{pid}/execution", json={"inputs": inputs},
               headers=headers or {})
    return r.status_code, r.json()


def test_start_up_builds_the_graphs_and_counts_todays_residents(client: TestClient) -> None:
    from datetime import UTC, datetime

    state = client.app.state  # type: ignore[attr-defined]
    state.network_warm.join(timeout=120)
    today = datetime.now(UTC).date().isoformat()
    warmed = {(k[1], k[2]) for k in state.network.cache if k[0] == "demand"}
    assert {("walk", today), ("drive", today)} <= warmed
    assert set(state.network.networks()) == {"walk", "drive"}


def test_processes_are_listed_and_described(client: TestClient) -> None:
    ids = {p["id"] for p in client.get("/ogc/processes").json()["processes"]}
    assert {"route", "isochrone", "nearest-facility", "service-coverage", "fire-response",
            "site-suggest"} <= ids
    desc = client.get("/ogc/processes/route").json()
    assert desc["inputs"]["from"]["minOccurs"] == 1


def test_route_process(client: TestClient) -> None:
    status, f = run(client, "route", {"from": ORIGIN, "to": [114.13, 22.56], "mode": "drive"})
    assert status == 200 and f["geometry"]["type"] == "LineString"
    assert f["properties"]["mode"] == "drive" and f["properties"]["duration_s"] > 0


@pytest.mark.parametrize(("pid", "inputs"), [
    ("route", {"from": ORIGIN}),
    ("route", {"from": [113.9, 22.55], "to": ORIGIN}),
    ("route", {"from": ORIGIN, "to": ORIGIN, "mode": "fly"}),
    ("route", {"from": "here", "to": ORIGIN}),
    ("route", {"from": ORIGIN, "to": ORIGIN, "colour": "red"}),
    ("isochrone", {"origin": ORIGIN, "minutes": -5}),
    ("isochrone", {"origin": ORIGIN, "minutes": "ten"}),
    ("isochrone", {"origin": [114.118, 95]}),
    ("nearest-facility", {"origin": ORIGIN, "facility_type": "zoo"}),
    ("nearest-facility", {"origin": ORIGIN, "facility_type": "school", "k": 0}),
    ("service-coverage", {"minutes": 10}),
    ("service-coverage", {"facility_type": "school", "minutes": 0}),
    ("service-coverage", {"facility_type": "school", "as_of": "soon"}),
    ("fire-response", {"minutes": -1}),
    ("fire-response", {"include_buildings": "yes"}),
    ("site-suggest", {"facility_type": "school", "k": "x"}),
    ("site-suggest", {"facility_type": "school", "candidates": [[113.9, 22.5]]}),
    ("site-suggest", {"facility_type": "school", "candidates": "all"}),
])
def test_bad_inputs_are_400_with_the_ogc_body(client: TestClient, pid: str,
                                              inputs: dict) -> None:
    status, body = run(client, pid, inputs)
    assert status == 400, body
    assert body["code"] == "InvalidParameterValue" and body["description"]


def test_coverage_process_is_k_anonymous_for_the_public(client: TestClient) -> None:
    inputs = {"facility_type": "community_station", "minutes": 5, "as_of": DAY}
    status, full = run(client, "service-coverage", inputs, POP)
    assert status == 200 and full["suppressed"] is False
    status, pub = run(client, "service-coverage", inputs)
    assert status == 200 and pub["suppressed"] is True
    assert all(f["properties"]["uncovered"] >= 5 for f in pub["gaps"]["features"])
    assert {f["id"] for f in pub["gaps"]["features"]} == {
        f["id"] for f in full["gaps"]["features"] if f["properties"]["uncovered"] >= 5}
    assert pub["totals"] == full["totals"]


def test_cli_network_commands(demo_dir: Path) -> None:
    r = CliRunner().invoke(cli, ["network", "route", "--from", "114.118,22.548", "--to",
                                 "114.13,22.56", "--data-dir", str(demo_dir)],
                           catch_exceptions=False)
    assert r.exit_code == 0
    assert json.loads(r.output)["properties"]["distance_m"] > 0
    r = CliRunner().invoke(cli, ["network", "isochrone", "--origin", "114.118,22.548",
                                 "--minutes", "5", "--minutes", "10",
                                 "--data-dir", str(demo_dir)], catch_exceptions=False)
    assert len(json.loads(r.output)["features"]) == 2
    r = CliRunner().invoke(cli, ["network", "service-coverage", "--type", "school",
                                 "--as-of", DAY, "--data-dir", str(demo_dir)],
                           catch_exceptions=False)
    body = json.loads(r.output)
    assert sum(c["population"] for c in body["communities"]) == body["totals"]["population"]


def test_residents_per_building_on_both_backends(store_factory: Any) -> None:
    from gis.analysis.netinputs import residents

    s = store_factory()
    boxes = [shapely.box(114.100, 22.550, 114.101, 22.551), shapely.box(114.102, 22.550,
                                                                        114.103, 22.551)]
    s.ingest("building", gpd.GeoDataFrame({
        "id": ["B1", "B2"], "use": ["residential", "residential"], "floors": [6, 6],
        "valid_from": ["2000-01-01", "2000-01-01"]}, geometry=boxes, crs=4326))
    homes = ["B1", "B1", "B1", "B2", "B2", None]
    ends = [None, "2020-01-01", None, None, None, None]
    s.ingest("person", gpd.GeoDataFrame({
        "id": [f"P{i}" for i in range(6)], "sex": ["F"] * 6, "birth_date": ["1980-01-01"] * 6,
        "building_id": homes, "valid_from": ["2010-01-01"] * 6, "valid_to": ends},
        geometry=[boxes[0].centroid] * 3 + [boxes[1].centroid] * 3, crs=4326))
    b = residents(s, "2024-06-30").buildings.set_index("id")["population"]
    assert b.to_dict() == {"B1": 2, "B2": 2}
    b = residents(s, "2015-06-30").buildings.set_index("id")["population"]
    assert b.to_dict() == {"B1": 3, "B2": 2}

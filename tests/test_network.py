"""The road graphs: routes and reach against a brute-force Dijkstra written here, snapping,
errors, connectivity of the demo's drivable roads and rebuild on road ingest."""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely
from pyproj import Transformer

from gis.analysis.route import RouteInput, route
from gis.network import NetworkError, SnapError, Unreachable, network_service
from gis.network.graph import NetworkSettings
from gis.store.base import Store
from gis.store.gpkg import GeoPackageStore

CFG = NetworkSettings()
SPEED = {"walk": {"arterial": CFG.walk_speed_mps, "secondary": CFG.walk_speed_mps,
                  "branch": CFG.walk_speed_mps, "footpath": CFG.walk_speed_mps},
         "drive": CFG.drive_speeds_mps()}
TO_M = Transformer.from_crs("EPSG:4326", "EPSG:4547", always_xy=True)


# ------------------------------------------------------------ brute force (reference)

class Brute:
    """Shortest travel times computed the plain way: every segment scanned for the
    snap, a heap Dijkstra over an adjacency list keyed by rounded end coordinates."""

    def __init__(self, roads: gpd.GeoDataFrame, mode: str) -> None:
        roads = roads[roads["road_class"].isin(list(SPEED[mode]))].reset_index(drop=True)
        self.geoms = [shapely.transform(g, lambda c: np.column_stack(
            TO_M.transform(c[:, 0], c[:, 1]))) for g in roads.geometry]
        self.speed = [SPEED[mode][k] for k in roads["road_class"]]
        self.adj: dict[tuple[int, int], list[tuple[tuple[int, int], float]]] = {}
        self.ends = []
        for g, v in zip(self.geoms, self.speed, strict=True):
            a = tuple(np.round(np.asarray(g.coords[0]) * 100).astype(int))
            b = tuple(np.round(np.asarray(g.coords[-1]) * 100).astype(int))
            self.ends.append((a, b))
            cost = g.length / v
            self.adj.setdefault(a, []).append((b, cost))
            self.adj.setdefault(b, []).append((a, cost))

    def snap(self, lon: float, lat: float) -> tuple[int, float]:
        p = shapely.Point(*TO_M.transform(lon, lat))
        d = [g.distance(p) for g in self.geoms]
        i = int(np.argmin(d))
        return i, self.geoms[i].project(p, normalized=True)

    def times_from(self, seg: int, t: float) -> dict[tuple[int, int], float]:
        a, b = self.ends[seg]
        full = self.geoms[seg].length / self.speed[seg]
        dist: dict[tuple[int, int], float] = {}
        heap = [(t * full, a), ((1 - t) * full, b)]
        while heap:
            d, n = heapq.heappop(heap)
            if n in dist:
                continue
            dist[n] = d
            for m, c in self.adj.get(n, []):
                if m not in dist:
                    heapq.heappush(heap, (d + c, m))
        return dist

    def time(self, o: tuple[int, float], d: tuple[int, float]) -> float:
        dist = self.times_from(*o)
        seg, t = d
        a, b = self.ends[seg]
        full = self.geoms[seg].length / self.speed[seg]
        best = min(dist.get(a, np.inf) + t * full, dist.get(b, np.inf) + (1 - t) * full)
        if seg == o[0]:
            best = min(best, abs(t - o[1]) * full)
        return best


@pytest.fixture(scope="module")
def store(demo_dir: Path) -> Iterator[GeoPackageStore]:
    s = GeoPackageStore(demo_dir / "onemap.gpkg")
    yield s
    s.close()


@pytest.fixture(scope="module")
def roads(store: GeoPackageStore) -> gpd.GeoDataFrame:
    return store.query("road", columns=["id", "road_class", "from_node", "to_node"])


def sample_points(store: GeoPackageStore, n: int, seed: int) -> list[tuple[float, float]]:
    """Building points of the demo (near streets, inside the district)."""
    b = store.query("building", columns=["id"], order_by=["id"])
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(b), size=n, replace=False)
    pts = shapely.point_on_surface(b.geometry.to_numpy()[pick])
    return [(p.x, p.y) for p in pts]


@pytest.mark.parametrize("mode", ["walk", "drive"])
def test_routes_equal_brute_force(store: GeoPackageStore, roads: gpd.GeoDataFrame,
                                  mode: str) -> None:
    brute = Brute(roads, mode)
    pts = sample_points(store, 12, seed=3)
    for o, d in zip(pts[:6], pts[6:], strict=True):
        got = route(store, RouteInput(list(o), list(d), mode))["properties"]
        want = brute.time(brute.snap(*o), brute.snap(*d))
        assert got["duration_s"] == pytest.approx(want, abs=0.2), (o, d)
        if mode == "walk":  # one speed: distance = time × speed
            assert got["distance_m"] == pytest.approx(want * CFG.walk_speed_mps, abs=0.3)
        # The networkx reference path gives the same answer.
        net = network_service(store).get(mode)
        a, b = net.snap(*o), net.snap(*d)
        assert net.route(a, b, engine="networkx").duration_s == pytest.approx(
            net.route(a, b).duration_s, abs=1e-6)


def test_route_geometry_length_is_its_distance(store: GeoPackageStore) -> None:
    pts = sample_points(store, 2, seed=11)
    f = route(store, RouteInput(list(pts[0]), list(pts[1]), "walk"))
    line = gpd.GeoSeries([shapely.geometry.shape(f["geometry"])], crs=4326).to_crs(4547)
    assert line.length.iloc[0] == pytest.approx(f["properties"]["distance_m"], rel=1e-3)
    start = shapely.Point(f["geometry"]["coordinates"][0])
    assert start.distance(shapely.Point(f["properties"]["from_snapped"])) < 1e-6


def test_reach_equals_brute_force(store: GeoPackageStore, roads: gpd.GeoDataFrame) -> None:
    brute = Brute(roads, "walk")
    net = network_service(store).get("walk")
    o = sample_points(store, 1, seed=5)[0]
    snap = net.snap(*o)
    got = net.reach_from([snap], 900.0)
    want = brute.times_from(*brute.snap(*o))
    keys = np.round(net.node_xy * 100).astype(int)
    for i, k in enumerate(map(tuple, keys)):
        w = want.get(k, np.inf)
        if w <= 900.0:
            assert got[i] == pytest.approx(w, abs=1e-3)
        else:
            assert not got[i] <= 900.0 - 1e-3
    nx_got = net.reach_from([snap], 900.0, engine="networkx")
    assert np.allclose(np.where(np.isfinite(got), got, -1), np.where(np.isfinite(nx_got),
                                                                      nx_got, -1))


def test_drivable_demo_roads_are_connected(roads: gpd.GeoDataFrame,
                                           store: GeoPackageStore) -> None:
    drive = roads[roads["road_class"] != "footpath"]
    g = nx.Graph()
    g.add_edges_from(zip(drive["from_node"], drive["to_node"], strict=True))
    assert nx.number_connected_components(g) == 1
    assert network_service(store).get("drive").weakly_connected_components() == 1


def test_snap_splits_the_segment_and_reports_the_distance(store: GeoPackageStore) -> None:
    net = network_service(store).get("walk")
    o = sample_points(store, 1, seed=8)[0]
    s = net.snap(*o)
    p = shapely.Point(*TO_M.transform(*o))
    seg = net.seg_geom[s.seg]
    assert s.distance_m == pytest.approx(seg.distance(p), abs=0.01)
    assert min(g.distance(p) for g in net.seg_geom) == pytest.approx(s.distance_m, abs=0.01)
    assert 0.0 <= s.t <= 1.0
    assert shapely.Point(s.x, s.y).distance(seg) < 1e-6


def test_snap_refusals(store: GeoPackageStore) -> None:
    svc = network_service(store)
    with pytest.raises(SnapError, match="outside the district"):
        svc.get("walk").snap(113.90, 22.55)
    with pytest.raises(SnapError):
        svc.get("walk").snap(200.0, 22.55)
    with pytest.raises(NetworkError, match="unknown mode"):
        svc.get("fly")
    # Points of the district far from every drivable road (found with shapely over the
    # whole layer) are refused; near ones are not.
    roads = store.query("road", columns=["road_class"])
    drive_m = shapely.union_all(roads[roads["road_class"] != "footpath"].to_crs(4547)
                                .geometry.to_numpy())
    district = store.query("district", columns=["id"]).geometry.iloc[0]
    x0, y0, x1, y1 = district.bounds
    grid = [shapely.Point(x, y) for x in np.linspace(x0, x1, 40) for y in np.linspace(y0, y1, 40)]
    inside = [p for p in grid if district.contains(p)]
    dist = [drive_m.distance(shapely.Point(*TO_M.transform(p.x, p.y))) for p in inside]
    far = [p for p, d in zip(inside, dist, strict=True) if d > CFG.snap_max_m + 5]
    near = [p for p, d in zip(inside, dist, strict=True) if d < CFG.snap_max_m - 5]
    assert far and near
    for p in far[:5]:
        with pytest.raises(SnapError, match="limit"):
            svc.get("drive").snap(p.x, p.y)
    for p in near[:5]:
        assert svc.get("drive").snap(p.x, p.y).distance_m < CFG.snap_max_m


# --------------------------------------------------- a small seeded network, ingested

def grid_roads(seed: int, n: int = 6, step: float = 0.002) -> gpd.GeoDataFrame:
    """A jittered n×n street grid with random classes, some streets left out."""
    rng = np.random.default_rng(seed)
    x0, y0 = 114.10, 22.55
    xy = {(i, j): (round(x0 + i * step + rng.uniform(-3e-4, 3e-4), 7),
                   round(y0 + j * step + rng.uniform(-3e-4, 3e-4), 7))
          for i in range(n) for j in range(n)}
    rows = []
    for (i, j), p in xy.items():
        for q in ((i + 1, j), (i, j + 1)):
            if q in xy and rng.uniform() > 0.15:
                rows.append((p, xy[q], str(rng.choice(["arterial", "secondary", "branch",
                                                       "footpath"]))))
    return gpd.GeoDataFrame({
        "id": [f"R{k}" for k in range(len(rows))],
        "road_class": [r[2] for r in rows], "valid_from": "2000-01-01",
    }, geometry=gpd.GeoSeries([shapely.LineString([r[0], r[1]]) for r in rows], crs=4326))


@pytest.mark.parametrize("seed", [1, 2])
def test_small_seeded_network_all_pairs(tiny_any: Store, seed: int) -> None:
    """On both backends (GeoPackage and PostGIS)."""
    frame = grid_roads(seed)
    tiny_any.ingest("road", frame)
    svc = network_service(tiny_any)
    rng = np.random.default_rng(seed)
    for mode in ("walk", "drive"):
        brute = Brute(frame, mode)
        net = svc.get(mode)
        pts = [(114.10 + rng.uniform(0, 0.01), 22.55 + rng.uniform(0, 0.01)) for _ in range(8)]
        for o in pts:
            for d in pts:
                bo, bd = brute.snap(*o), brute.snap(*d)
                want = brute.time(bo, bd)
                try:
                    got = net.route(net.snap(*o), net.snap(*d)).duration_s
                except Unreachable:
                    got = np.inf
                if np.isinf(want):
                    assert np.isinf(got)
                else:
                    assert got == pytest.approx(want, abs=1e-3)


def test_graph_rebuilt_when_roads_are_ingested(tiny_any: Store) -> None:
    a = shapely.LineString([(114.100, 22.550), (114.105, 22.550)])
    b = shapely.LineString([(114.110, 22.550), (114.115, 22.550)])
    frame = gpd.GeoDataFrame({"id": ["A", "B"], "road_class": ["branch", "branch"],
                              "valid_from": "2000-01-01"}, geometry=[a, b], crs=4326)
    tiny_any.ingest("road", frame)
    svc = network_service(tiny_any)
    net = svc.get("drive")
    with pytest.raises(Unreachable):
        net.route(net.snap(114.101, 22.5501), net.snap(114.114, 22.5501))
    link = gpd.GeoDataFrame({"id": ["L"], "road_class": ["branch"], "valid_from": "2000-01-01"},
                            geometry=[shapely.LineString([(114.105, 22.550),
                                                          (114.110, 22.550)])], crs=4326)
    tiny_any.ingest("road", link)
    net = svc.get("drive")
    p = net.route(net.snap(114.101, 22.5501), net.snap(114.114, 22.5501))
    assert p.distance_m == pytest.approx(
        float(gpd.GeoSeries([shapely.LineString([(114.101, 22.55), (114.114, 22.55)])],
                            crs=4326).to_crs(4547).length.iloc[0]), rel=1e-3)

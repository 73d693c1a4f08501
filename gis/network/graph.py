"""Walk and drive graphs built from the ``roads`` layer, snapping, and exact shortest paths.

The model (docs/network.md):

- every road segment is an edge between the nodes at its two ends (the demo's
  roads are noded: segments meet only at their ends); nodes are the distinct
  end coordinates (7 decimals of a degree, about 1 cm);
- ``walk`` uses every class at one speed (``walk_speed_mps``); ``drive`` leaves
  footpaths out and runs at a speed per ``road_class``; a segment is one-way
  (digitised direction, first vertex → last) when its row has a truthy
  ``oneway`` attribute (the demo's roads are all two-way today);
- edge cost is travel time; distances are reported alongside;
- a point joins the network at the nearest point of the nearest segment of the
  mode, splitting that segment, and the snap distance is reported; a point
  farther than ``snap_max_m`` from any road of the mode, or outside the
  district, is refused with :class:`SnapError`.

networkx holds each graph (``RoadNetwork.graph``) and answers the reference
queries (``engine="networkx"``). Queries run on scipy's compiled Dijkstra
(``scipy.sparse.csgraph.dijkstra``) over the same arcs, the query's snapped
point written into a spare row of a prebuilt CSR matrix. Measured on the
full-scale demo (2 376 walk nodes; bench/bench_network.py, same run): a
10-minute walking reach 0.09 ms p50 with csgraph against 0.10 ms with
``networkx.single_source_dijkstra_path_length`` (the ball is small either
way), and coverage of all 109 community stations 0.09 s against 0.11 s. The
compiled path matters for whole-district reach (fire response for every
building, site suggestion's hundreds of searches), where Python's per-edge
loop is the cost; at this graph size the graph search is not the bottleneck.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import geopandas as gpd
import networkx as nx
import numpy as np
import numpy.typing as npt
import shapely
from pydantic_settings import BaseSettings, SettingsConfigDict
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from shapely.geometry.base import BaseGeometry
from shapely.ops import substring

from gis.crs import from_metric, to_metric
from gis.network.errors import NetworkError, SnapError, Unreachable

Mode = Literal["walk", "drive"]
MODES: tuple[Mode, ...] = ("walk", "drive")
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Tiny cost of the arcs joining a virtual point to the graph, so that a point
#: lying exactly on a node still has a stored (non-zero) arc in the sparse matrix.
_EPS = 1e-9


class NetworkSettings(BaseSettings):
    """Speeds and limits of the network model (environment prefix ``ONEMAP_NETWORK_``)."""

    model_config = SettingsConfigDict(env_prefix="ONEMAP_NETWORK_", extra="ignore")

    walk_speed_mps: float = 1.25
    #: Urban travel speeds (km/h) of the drivable classes; footpaths are not driven.
    drive_kmh_arterial: float = 40.0
    drive_kmh_secondary: float = 30.0
    drive_kmh_branch: float = 20.0
    #: A point farther than this from every road of the mode is refused.
    snap_max_m: float = 300.0
    #: Half-width of the band drawn around reached edges in an isochrone.
    isochrone_buffer_m: float = 40.0

    def drive_speeds_mps(self) -> dict[str, float]:
        """Speed (m/s) per drivable road class."""
        return {"arterial": self.drive_kmh_arterial / 3.6,
                "secondary": self.drive_kmh_secondary / 3.6,
                "branch": self.drive_kmh_branch / 3.6}


@dataclass(frozen=True)
class Snap:
    """A point joined to the network: segment ``seg`` at fraction ``t`` from its first vertex."""

    seg: int
    t: float
    distance_m: float
    x: float
    y: float

    def lonlat(self) -> tuple[float, float]:
        """The snapped point in WGS84."""
        lon, lat = from_metric([self.x], [self.y])
        return float(lon[0]), float(lat[0])


@dataclass(frozen=True)
class Path:
    """A shortest path between two snapped points."""

    geometry_m: shapely.LineString
    distance_m: float
    duration_s: float
    nodes: list[int]
    origin: Snap
    target: Snap


@dataclass
class RoadNetwork:
    """One mode's graph: segments, nodes, directed arcs, the networkx graph and the CSR matrix."""

    mode: Mode
    seg_geom: npt.NDArray[Any]  # metric LineStrings
    seg_id: npt.NDArray[Any]
    seg_class: npt.NDArray[Any]
    seg_name: npt.NDArray[Any]
    seg_u: IntArray  # node at the first vertex
    seg_v: IntArray  # node at the last vertex
    seg_len: FloatArray
    seg_time: FloatArray
    seg_oneway: npt.NDArray[np.bool_]
    node_xy: FloatArray
    graph: nx.DiGraph
    district_m: BaseGeometry | None = None
    snap_max_m: float = 300.0
    # Directed arcs, one per (u, v) pair (the fastest of parallel segments).
    arc_u: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    arc_v: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    arc_time: FloatArray = field(default_factory=lambda: np.zeros(0))
    arc_seg: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    arc_fwd: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, bool))
    _arc_index: dict[tuple[int, int], int] = field(default_factory=dict)
    _tree: shapely.STRtree | None = None
    _base: csr_matrix | None = None
    _nx_lock: threading.Lock = field(default_factory=threading.Lock)

    # ------------------------------------------------------------------ build
    @classmethod
    def from_segments(cls, mode: Mode, geoms_m: Sequence[BaseGeometry], ids: Sequence[Any],
                      classes: Sequence[str], names: Sequence[Any], speeds_mps: FloatArray,
                      oneway: npt.NDArray[np.bool_], district_m: BaseGeometry | None = None,
                      snap_max_m: float = 300.0) -> RoadNetwork:
        """Build the graph of ``mode`` from metric segments with a speed each."""
        geom = np.asarray(geoms_m, dtype=object)
        if len(geom) == 0:
            raise NetworkError(f"the {mode} network has no roads")
        a = shapely.get_coordinates(shapely.get_point(geom, 0))
        b = shapely.get_coordinates(shapely.get_point(geom, -1))
        # Nodes are end points equal to 1 cm (the data is noded on a coarser grid).
        keys = np.round(np.vstack([a, b]) * 100.0).astype(np.int64)
        uniq, inv = np.unique(keys, axis=0, return_inverse=True)
        inv = inv.ravel().astype(np.int64)
        n_seg = len(geom)
        seg_u, seg_v = inv[:n_seg], inv[n_seg:]
        node_xy = uniq.astype(np.float64) / 100.0
        seg_len = shapely.length(geom).astype(np.float64)
        seg_time = seg_len / np.asarray(speeds_mps, dtype=np.float64)
        net = cls(mode=mode, seg_geom=geom, seg_id=np.asarray(ids, dtype=object),
                  seg_class=np.asarray(classes, dtype=object),
                  seg_name=np.asarray(names, dtype=object), seg_u=seg_u, seg_v=seg_v,
                  seg_len=seg_len, seg_time=seg_time, seg_oneway=np.asarray(oneway, bool),
                  node_xy=node_xy, graph=nx.DiGraph(), district_m=district_m,
                  snap_max_m=snap_max_m)
        net._build_arcs()
        return net

    def _build_arcs(self) -> None:
        loop = self.seg_u == self.seg_v
        seg = np.arange(len(self.seg_geom))
        fwd_seg = seg[~loop]
        back_seg = seg[~loop & ~self.seg_oneway]
        u = np.r_[self.seg_u[fwd_seg], self.seg_v[back_seg]]
        v = np.r_[self.seg_v[fwd_seg], self.seg_u[back_seg]]
        s = np.r_[fwd_seg, back_seg]
        fwd = np.r_[np.ones(len(fwd_seg), bool), np.zeros(len(back_seg), bool)]
        t = self.seg_time[s]
        # Parallel segments between one node pair: keep the fastest (a sparse matrix
        # would add their costs).
        order = np.lexsort((t, v, u))
        u, v, s, fwd, t = u[order], v[order], s[order], fwd[order], t[order]
        first = np.r_[True, (u[1:] != u[:-1]) | (v[1:] != v[:-1])]
        self.arc_u, self.arc_v, self.arc_seg = u[first], v[first], s[first]
        self.arc_fwd, self.arc_time = fwd[first], t[first]
        self._arc_index = {(int(a), int(b)): i for i, (a, b) in
                           enumerate(zip(self.arc_u.tolist(), self.arc_v.tolist(), strict=True))}
        g = nx.DiGraph()
        g.add_nodes_from(range(len(self.node_xy)))
        g.add_weighted_edges_from(zip(self.arc_u.tolist(), self.arc_v.tolist(),
                                      self.arc_time.tolist(), strict=True), weight="time_s")
        self.graph = g
        self._tree = shapely.STRtree(self.seg_geom)
        # The arcs as a CSR matrix with one more, empty row: the virtual source of a
        # query, filled per query by appending to the arrays (no re-sort of the arcs).
        n = self.n_nodes + 1
        self._base = csr_matrix((self.arc_time, (self.arc_u, self.arc_v)), shape=(n, n))

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.node_xy)

    def weakly_connected_components(self) -> int:
        """Number of weakly connected pieces of the graph."""
        return nx.number_weakly_connected_components(self.graph)

    # --------------------------------------------------------------- snapping
    def snap_many(self, x: FloatArray, y: FloatArray,
                  max_m: float | None = None) -> tuple[IntArray, FloatArray, FloatArray]:
        """Nearest segment, fraction along it and distance (m) of many metric points.

        Points farther than ``max_m`` get segment -1 (no check when ``max_m`` is None).
        """
        assert self._tree is not None
        pts = np.asarray(shapely.points(np.asarray(x, np.float64), np.asarray(y, np.float64)),
                         dtype=object).reshape(-1)
        if len(pts) == 0:
            return np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
        idx, dist = self._tree.query_nearest(pts, return_distance=True, all_matches=False)
        seg = np.full(len(pts), -1, np.int64)
        d = np.full(len(pts), np.inf)
        seg[idx[0]] = idx[1]
        d[idx[0]] = dist
        t = np.zeros(len(pts))
        ok = seg >= 0
        t[ok] = shapely.line_locate_point(self.seg_geom[seg[ok]], pts[ok], normalized=True)
        if max_m is not None:
            seg[d > max_m] = -1
        return seg, np.nan_to_num(t), d

    def snap(self, lon: float, lat: float) -> Snap:
        """Join a WGS84 point to the nearest point of the nearest segment of this mode."""
        if not (np.isfinite(lon) and np.isfinite(lat) and -180 <= lon <= 180
                and -90 <= lat <= 90):
            raise SnapError("the point's lon/lat are out of range")
        x, y = to_metric([lon], [lat])
        if self.district_m is not None and not self.district_m.intersects(
                shapely.Point(float(x[0]), float(y[0]))):
            raise SnapError(f"the point ({lon:.6f}, {lat:.6f}) is outside the district")
        seg, t, d = self.snap_many(x, y)
        if seg[0] < 0 or d[0] > self.snap_max_m:
            raise SnapError(
                f"the point ({lon:.6f}, {lat:.6f}) is {d[0]:.0f} m from the nearest "
                f"{self.mode} road; the limit is {self.snap_max_m:.0f} m")
        s = int(seg[0])
        p = shapely.line_interpolate_point(self.seg_geom[s], float(t[0]), normalized=True)
        return Snap(s, float(t[0]), round(float(d[0]), 2), float(p.x), float(p.y))

    # ------------------------------------------- the virtual point's arcs
    def leave_arcs(self, seg: IntArray, t: FloatArray) -> tuple[IntArray, IntArray, FloatArray]:
        """(point index, node, cost) of the arcs from snapped points to the graph.

        From a point on a segment one drives forward to its last node, and back to
        its first node unless the segment is one-way.
        """
        i = np.arange(len(seg))
        back = ~self.seg_oneway[seg]
        pi = np.r_[i, i[back]]
        node = np.r_[self.seg_v[seg], self.seg_u[seg][back]]
        cost = np.r_[(1.0 - t) * self.seg_time[seg], (t * self.seg_time[seg])[back]]
        return pi, node, cost + _EPS

    def arrive_arcs(self, seg: IntArray, t: FloatArray) -> tuple[IntArray, IntArray, FloatArray]:
        """(point index, node, cost) of the arcs from the graph to snapped points."""
        i = np.arange(len(seg))
        back = ~self.seg_oneway[seg]
        pi = np.r_[i, i[back]]
        node = np.r_[self.seg_u[seg], self.seg_v[seg][back]]
        cost = np.r_[t * self.seg_time[seg], ((1.0 - t) * self.seg_time[seg])[back]]
        return pi, node, cost + _EPS

    # ----------------------------------------------------------- compiled path
    def _with_source(self, node: IntArray, cost: FloatArray) -> csr_matrix:
        """The arcs plus arcs from the virtual source (node ``n_nodes``) to ``node``."""
        assert self._base is not None
        # One arc per target node (the cheapest), as a sparse matrix cannot hold two.
        order = np.lexsort((cost, node))
        node, cost = node[order], cost[order]
        first = np.r_[True, node[1:] != node[:-1]]
        node, cost = node[first], cost[first]
        b = self._base
        indptr = b.indptr.copy()
        indptr[-1] = b.nnz + len(node)
        return csr_matrix((np.r_[b.data, cost], np.r_[b.indices, node].astype(b.indices.dtype),
                           indptr), shape=b.shape)

    def reach_from(self, sources: Sequence[Snap] | tuple[IntArray, FloatArray],
                   limit_s: float = np.inf, offsets: FloatArray | None = None,
                   engine: str = "scipy") -> FloatArray:
        """Travel time (s) from the nearest of ``sources`` to every node (inf beyond ``limit_s``).

        ``sources`` are snaps, or arrays (segment, fraction); ``offsets`` adds a
        starting cost per source.
        """
        seg, t = _seg_t(sources)
        if len(seg) == 0:
            return np.full(self.n_nodes, np.inf)
        pi, node, cost = self.leave_arcs(seg, t)
        if offsets is not None:
            cost = cost + np.asarray(offsets, np.float64)[pi]
        s = self.n_nodes
        if engine == "networkx":
            return self._nx_reach(node, cost, limit_s)
        d = dijkstra(self._with_source(node, cost), directed=True, indices=s, limit=limit_s)
        return np.asarray(d[: self.n_nodes], np.float64)

    def reach_from_nodes(self, nodes: IntArray, limit_s: float = np.inf) -> FloatArray:
        """Travel time (s) from each of ``nodes`` to every node: one row per source."""
        assert self._base is not None
        d = dijkstra(self._base, directed=True, indices=np.asarray(nodes, np.int64),
                     limit=limit_s)
        return np.asarray(d, np.float64).reshape(len(nodes), -1)[:, : self.n_nodes]

    def _nx_reach(self, node: IntArray, cost: FloatArray, limit_s: float) -> FloatArray:
        """The same reach with networkx (reference): a virtual source joined for the query."""
        src = -1
        with self._nx_lock:
            g = self.graph
            g.add_node(src)
            best: dict[int, float] = {}
            for n_, c in zip(node.tolist(), cost.tolist(), strict=True):
                best[n_] = min(best.get(n_, np.inf), c)
            g.add_weighted_edges_from(((src, n_, c) for n_, c in best.items()), weight="time_s")
            try:
                lengths = nx.single_source_dijkstra_path_length(
                    g, src, cutoff=None if np.isinf(limit_s) else limit_s, weight="time_s")
            finally:
                g.remove_node(src)
        out = np.full(self.n_nodes, np.inf)
        for k, v in lengths.items():
            if k != src:
                out[k] = v
        return out

    def arrival(self, node_time: FloatArray, seg: IntArray, t: FloatArray,
                sources: tuple[IntArray, FloatArray] | None = None,
                offsets: FloatArray | None = None) -> FloatArray:
        """Time (s) to reach points on segments given the node times of a reach.

        With ``sources`` (segment, fraction of the reach's sources), a target on
        the same segment as a source is also reached straight along it.
        """
        pi, node, cost = self.arrive_arcs(seg, t)
        out = np.full(len(seg), np.inf)
        np.minimum.at(out, pi, node_time[node] + cost)
        if sources is not None and len(seg):
            s_seg, s_t = sources
            off = np.zeros(len(s_seg)) if offsets is None else np.asarray(offsets, np.float64)
            by_seg: dict[int, list[tuple[float, float]]] = {}
            for k, (sg, st) in enumerate(zip(s_seg.tolist(), s_t.tolist(), strict=True)):
                by_seg.setdefault(sg, []).append((st, float(off[k])))
            hit = np.flatnonzero(np.isin(seg, np.fromiter(by_seg, np.int64, len(by_seg))))
            for i in hit.tolist():
                sg = int(seg[i])
                for st, o in by_seg[sg]:
                    tt = float(t[i])
                    if tt < st and self.seg_oneway[sg]:
                        continue
                    out[i] = min(out[i], o + abs(tt - st) * float(self.seg_time[sg]))
        return out

    # ------------------------------------------------------------------ routes
    def route(self, origin: Snap, target: Snap, engine: str = "scipy") -> Path:
        """The fastest path between two snapped points (raises :class:`Unreachable`)."""
        n = self.n_nodes
        s, d = n, n + 1
        _pi, lnode, lcost = self.leave_arcs(np.array([origin.seg]), np.array([origin.t]))
        _pj, anode, acost = self.arrive_arcs(np.array([target.seg]), np.array([target.t]))
        direct = np.inf
        if origin.seg == target.seg and (target.t >= origin.t
                                         or not self.seg_oneway[origin.seg]):
            direct = abs(target.t - origin.t) * float(self.seg_time[origin.seg]) + _EPS
        if engine == "networkx":
            eu = np.r_[np.full(len(lnode), s), anode, [s] if np.isfinite(direct) else []]
            ev = np.r_[lnode, np.full(len(anode), d), [d] if np.isfinite(direct) else []]
            ew = np.r_[lcost, acost, [direct] if np.isfinite(direct) else []]
            nodes, total = self._nx_path(eu.astype(np.int64), ev.astype(np.int64), ew, s, d)
        else:
            dist, pred = dijkstra(self._with_source(lnode, lcost), directed=True, indices=s,
                                  return_predecessors=True)
            ends = dist[anode] + acost
            k = int(np.argmin(ends))
            total = float(ends[k])
            nodes = []
            if direct <= total:
                total = direct
            elif np.isfinite(total):
                j = int(anode[k])
                while j != s and j >= 0:
                    nodes.append(j)
                    j = int(pred[j])
                nodes.reverse()
        if not np.isfinite(total):
            raise Unreachable(f"no {self.mode} route joins the two points")
        geom, dist_m = self._path_geometry(origin, target, nodes)
        return Path(geom, dist_m, total, nodes, origin, target)

    def _nx_path(self, eu: IntArray, ev: IntArray, ew: FloatArray, s: int,
                 d: int) -> tuple[list[int], float]:
        best: dict[tuple[int, int], float] = {}
        for a, b, w in zip(eu.tolist(), ev.tolist(), ew.tolist(), strict=True):
            best[(a, b)] = min(best.get((a, b), np.inf), w)
        with self._nx_lock:
            g = self.graph
            g.add_weighted_edges_from(((a, b, w) for (a, b), w in best.items()), weight="time_s")
            try:
                total, path = nx.single_source_dijkstra(g, s, d, weight="time_s")
            except nx.NetworkXNoPath:
                return [], float("inf")
            finally:
                g.remove_nodes_from([s, d])
        return [int(k) for k in path[1:-1]], float(total)

    def _piece(self, seg: int, t0: float, t1: float) -> tuple[list[tuple[float, float]], float]:
        """Coordinates from fraction t0 to t1 of a segment (reversed when t1 < t0)."""
        g = self.seg_geom[seg]
        length = float(self.seg_len[seg])
        lo, hi = sorted((t0, t1))
        part = substring(g, lo * length, hi * length)
        coords = list(shapely.get_coordinates(part).tolist())
        if t1 < t0:
            coords.reverse()
        return [(float(a), float(b)) for a, b in coords], (hi - lo) * length

    def _path_geometry(self, origin: Snap, target: Snap,
                       nodes: list[int]) -> tuple[shapely.LineString, float]:
        coords: list[tuple[float, float]] = []
        total = 0.0
        if not nodes:  # straight along the shared segment
            c, dist = self._piece(origin.seg, origin.t, target.t)
            coords, total = c, dist
        else:
            first_t = 1.0 if nodes[0] == self.seg_v[origin.seg] else 0.0
            c, dist = self._piece(origin.seg, origin.t, first_t)
            coords += c
            total += dist
            for a, b in itertools.pairwise(nodes):
                i = self._arc_index[(a, b)]
                sg = int(self.arc_seg[i])
                xy = shapely.get_coordinates(self.seg_geom[sg])  # whole segment: no substring
                coords += [(float(a), float(b)) for a, b in (xy if self.arc_fwd[i] else xy[::-1])]
                total += float(self.seg_len[sg])
            last_t = 0.0 if nodes[-1] == self.seg_u[target.seg] else 1.0
            c, dist = self._piece(target.seg, last_t, target.t)
            coords += c
            total += dist
        clean: list[tuple[float, float]] = []
        for p in coords:
            if not clean or (abs(p[0] - clean[-1][0]) > 1e-6 or abs(p[1] - clean[-1][1]) > 1e-6):
                clean.append(p)
        if len(clean) == 1:
            clean.append(clean[0])
        return shapely.LineString(clean), total

    # -------------------------------------------------------------- isochrones
    def reached_lines(self, node_time: FloatArray, limit_s: float,
                      origin: Snap | None = None) -> list[BaseGeometry]:
        """The parts of every edge reachable within ``limit_s`` (metric lines)."""
        out: list[BaseGeometry] = []
        du = node_time[self.arc_u]
        ok = du < limit_s
        frac = np.minimum(1.0, (limit_s - du[ok]) / np.maximum(self.arc_time[ok], 1e-12))
        seg = self.arc_seg[ok]
        fwd = self.arc_fwd[ok]
        full = frac >= 1.0
        out += list(self.seg_geom[seg[full]])
        for sg, f, fw in zip(seg[~full].tolist(), frac[~full].tolist(), fwd[~full].tolist(),
                             strict=True):
            c, _ = self._piece(sg, 0.0, f) if fw else self._piece(sg, 1.0, 1.0 - f)
            if len(c) >= 2:
                out.append(shapely.LineString(c))
        if origin is not None:
            time = float(self.seg_time[origin.seg])
            reach = limit_s / time if time > 0 else 1.0
            hi = min(1.0, origin.t + reach)
            lo = origin.t if self.seg_oneway[origin.seg] else max(0.0, origin.t - reach)
            if hi > lo:
                c, _ = self._piece(origin.seg, lo, hi)
                if len(c) >= 2:
                    out.append(shapely.LineString(c))
        return out


def _seg_t(sources: Sequence[Snap] | tuple[IntArray, FloatArray]) -> tuple[IntArray, FloatArray]:
    if isinstance(sources, tuple):
        return np.asarray(sources[0], np.int64), np.asarray(sources[1], np.float64)
    return (np.array([s.seg for s in sources], np.int64),
            np.array([s.t for s in sources], np.float64))


def _truthy(values: Iterable[Any]) -> npt.NDArray[np.bool_]:
    out = []
    for v in values:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            out.append(False)
        else:
            out.append(str(v).strip().lower() in ("1", "true", "yes", "y", "t", "-1", "reverse"))
    return np.asarray(out, dtype=bool)


def build_networks(roads: gpd.GeoDataFrame, district: BaseGeometry | None = None,
                   settings: NetworkSettings | None = None) -> dict[Mode, RoadNetwork]:
    """The walk and drive graphs of a roads frame (WGS84 LineStrings with ``road_class``)."""
    cfg = settings or NetworkSettings()
    if len(roads) == 0:
        raise NetworkError("the store has no roads")
    geoms = np.asarray(roads.geometry.to_numpy(), dtype=object)
    geoms_m = shapely.transform(geoms, lambda c: np.column_stack(to_metric(c[:, 0], c[:, 1])))
    keep = ~shapely.is_empty(geoms_m) & (shapely.get_type_id(geoms_m) == 1)
    klass = roads["road_class"].astype(str).to_numpy(dtype=object)
    ids = roads["id"].to_numpy(dtype=object) if "id" in roads else np.arange(len(roads))
    names = roads["name"].to_numpy(dtype=object) if "name" in roads else \
        np.full(len(roads), None, dtype=object)
    oneway = _truthy(roads["oneway"]) if "oneway" in roads else np.zeros(len(roads), bool)
    district_m = None
    if district is not None and not district.is_empty:
        district_m = shapely.transform(
            district, lambda c: np.column_stack(to_metric(c[:, 0], c[:, 1])))
        # A point on the boundary road is still in: allow the snapping limit outside.
        district_m = shapely.buffer(district_m, 50.0)
        shapely.prepare(district_m)
    out: dict[Mode, RoadNetwork] = {}
    walk = keep
    out["walk"] = RoadNetwork.from_segments(
        "walk", geoms_m[walk], ids[walk], klass[walk], names[walk],
        np.full(int(walk.sum()), cfg.walk_speed_mps), np.zeros(int(walk.sum()), bool),
        district_m, cfg.snap_max_m)
    speeds = cfg.drive_speeds_mps()
    drive = keep & np.isin(klass, list(speeds))
    out["drive"] = RoadNetwork.from_segments(
        "drive", geoms_m[drive], ids[drive], klass[drive], names[drive],
        np.array([speeds[k] for k in klass[drive]]), oneway[drive], district_m,
        cfg.snap_max_m)
    return out


def to_wgs84(geom: BaseGeometry) -> BaseGeometry:
    """A metric (EPSG:4547) geometry in WGS84, coordinates rounded to 7 decimals."""
    def back(c: FloatArray) -> FloatArray:
        return np.asarray(np.round(np.column_stack(from_metric(c[:, 0], c[:, 1])), 7),
                          dtype=np.float64)

    return shapely.transform(geom, back)  # type: ignore[no-any-return]

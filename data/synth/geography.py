"""The synthetic geography of the Luohu demo: admin areas, roads, water, buildings, facilities.

Real inputs (``data/real``): the district outline, the codes and names of the
10 subdistricts and 109 communities, and approximate anchor points. Everything
else is synthetic and deterministic for a ``(seed, scale)`` pair:

- subdistricts: Voronoi cells of the anchor centres inside the outline;
  communities and grids: density-weighted Lloyd (k-means) seeds inside their
  parent, Voronoi cells inside it. All three levels are built from one set of
  faces (the outline and every cell boundary noded together on the 1e-7°
  grid), so they partition the outline exactly, vertex for vertex, and every
  unit is contiguous (stray pieces join the neighbour with the longest shared
  edge);
- water: 深圳河 along the southern boundary, 布吉河 north → south into it,
  深圳水库 around its anchor;
- terrain (:mod:`data.synth.terrain`): 梧桐山 in the east, hills, river valleys;
- roads: jittered lattices (arterial ~1200 m, secondary ~500 m, branch
  ~180 m) kept where the ground is low enough for their class, river-bank
  roads along 布吉河, footpaths on the hills, trails to the 梧桐山 summit and
  a path round the reservoir; noded on a 0.5 m grid, the largest connected
  component kept; arterial and secondary lines carry real Luohu road names;
- buildings: rectangles on a 40 m lattice (one large or up to four small plots
  per cell) outside the road buffers (half width + setback), the water and the
  reservoir's protection belt, below 150 m, sampled with a density that is
  highest in the old town (东门/桂园/南湖); estates are groups of buildings
  in one street block; uses, floors, years and standard addresses follow;
- facilities: service centres of the district, each subdistrict and each
  community, fire stations, hospitals, health centres, schools, parking.

Layout is computed in metres (EPSG:4547) and converted to WGS84 at the end,
coordinates rounded to 7 decimals. Columns follow :data:`gis.model.SCHEMAS`
except ``h3`` and ``block``, which ingest derives.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import substring

from data.synth import names as nm
from data.synth.terrain import Lake, Terrain, Valley, build_terrain
from gis.crs import from_metric, to_metric
from gis.model import SCHEMAS

REAL_DIR = Path(__file__).resolve().parent.parent / "real"

DISTRICT_CODE = "440303"
DISTRICT_NAME = "罗湖区"

#: Columns that ingest derives and the generator leaves out.
DERIVED_COLUMNS = ("h3", "block")

#: valid_from of admin units, roads and water (static in the demo).
STATIC_VALID_FROM = "1980-01-01"

#: Building count at scale 1.0.
BUILDINGS_AT_SCALE_1 = 24000

# One constant per stage for ``np.random.default_rng([seed, STAGE])``.
STAGE_COMMUNITIES = 2
STAGE_GRIDS = 3
STAGE_WATER = 4
STAGE_ROADS = 5
STAGE_ROAD_NAMES = 6
STAGE_BUILDINGS = 7
STAGE_BUILDING_ATTRS = 8
STAGE_ESTATES = 9
STAGE_FACILITIES = 10

#: Snap grid of the admin faces (degrees): the output precision.
DEG_GRID = 1e-7
#: Snap grid of the road noding (metres).
ROAD_GRID_M = 0.5

ROAD_CLASSES = ("arterial", "secondary", "branch", "footpath")
#: Highest ground (m) each road class is built on.
_CLASS_MAX_ELEV = {"arterial": 220.0, "secondary": 110.0, "branch": 55.0}
#: Footpaths are laid on ground at least this high (parks, hills, the mountain).
_FOOTPATH_MIN_ELEV = 35.0
_CLASS_WIDTH = {"arterial": (36.0, 50.0), "secondary": (18.0, 26.0), "branch": (8.0, 14.0),
                "footpath": (2.0, 4.0)}
#: Building setback from the road edge (m).
_CLASS_SETBACK = {"arterial": 6.0, "secondary": 4.0, "branch": 2.5, "footpath": 1.5}

#: The old town (东门/人民南), where density peaks, and the CBD (地王/国贸) where towers peak.
_OLD_TOWN = (114.1190, 22.5470)
_CBD = (114.1130, 22.5420)
_DONGMEN = (114.1210, 22.5480)

USES = ("residential", "office", "commercial", "industrial", "public", "mixed")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
GeomArray = npt.NDArray[np.object_]
Progress = Callable[[str], None]


# --------------------------------------------------------------------------- public API


@dataclass
class Geography:
    """The synthetic geography: one GeoDataFrame per kind (EPSG:4326) and the terrain."""

    district: gpd.GeoDataFrame
    subdistricts: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame
    grids: gpd.GeoDataFrame
    roads: gpd.GeoDataFrame
    water: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    terrain: Terrain

    def frames(self) -> dict[str, gpd.GeoDataFrame]:
        """The frames keyed by entity kind (``district``, ``subdistrict``, ... ``facility``)."""
        return {
            "district": self.district, "subdistrict": self.subdistricts,
            "community": self.communities, "grid": self.grids, "road": self.roads,
            "water": self.water, "building": self.buildings, "facility": self.facilities,
        }


def frame_columns(kind: str) -> list[str]:
    """Columns of the generated frame of ``kind``: the schema minus h3/block, plus geometry."""
    return [c for c in SCHEMAS[kind].column_names if c not in DERIVED_COLUMNS] + ["geometry"]


def building_count(scale: float) -> int:
    """Number of buildings generated at ``scale``."""
    return max(50, round(BUILDINGS_AT_SCALE_1 * scale))


def parking_count(scale: float) -> int:
    """Number of parking facilities generated at ``scale``."""
    return max(1, round(300 * max(scale, 0.05)))


def build_geography(seed: int, scale: float,
                    progress: Callable[[str], None] | None = None) -> Geography:
    """Build the synthetic geography of Luohu for ``(seed, scale)``.

    Admin units, water, terrain and roads do not depend on ``scale``; the
    number of buildings is ``max(50, round(24000 * scale))`` (capped by the
    ~58,000 candidate plots, i.e. scales above ~2.4 give no more buildings) and
    of parking lots ``round(300 * max(scale, 0.05))``. The same arguments give
    identical frames; ``progress`` is called with the name of each stage.
    """
    if scale <= 0:
        raise ValueError("scale must be positive")
    say: Progress = progress or (lambda _msg: None)

    real = _load_real()
    say("water")
    water = _build_water(real, np.random.default_rng([seed, STAGE_WATER]))
    say("terrain")
    terrain = build_terrain(
        seed,
        valleys=[Valley(_to_wgs(water.buji_centre_m), 30.0, 3.0, 450.0)],
        lakes=[Lake(_to_wgs(water.reservoir_m), 27.0)],
    )
    say("admin areas")
    part = _build_partition(real, terrain, seed)
    admin = _AdminIndex(part, real)
    say("roads")
    roads = _build_roads(real, water, terrain, seed)
    say("buildings")
    bld = _build_buildings(real, water, terrain, roads, admin, seed, building_count(scale))
    say("facilities")
    fac = _build_facilities(real, part, admin, bld, seed, parking_count(scale))
    say("frames")
    geo = Geography(
        district=_district_frame(part),
        subdistricts=_subdistrict_frame(real, part),
        communities=_community_frame(real, part),
        grids=_grid_frame(real, part),
        roads=_road_frame(roads, admin),
        water=_water_frame(water, admin),
        buildings=bld.frame,
        facilities=fac,
        terrain=terrain,
    )
    say("done")
    return geo


# --------------------------------------------------------------------------- helpers


def _fwd(c: FloatArray) -> FloatArray:
    x, y = to_metric(c[:, 0], c[:, 1])
    return np.column_stack([x, y])


def _inv(c: FloatArray) -> FloatArray:
    lon, lat = from_metric(c[:, 0], c[:, 1])
    return np.asarray(np.round(np.column_stack([lon, lat]), 7), dtype=np.float64)


def _to_metric(geom: Any) -> Any:
    """WGS84 geometry (or array of them) → EPSG:4547."""
    return shapely.transform(geom, _fwd)


def _to_wgs(geom: Any) -> Any:
    """EPSG:4547 geometry (or array of them) → WGS84, rounded to 7 decimals."""
    return shapely.transform(geom, _inv)


def _round7(geom: Any) -> Any:
    return shapely.transform(geom, lambda c: np.round(c, 7))


def _metric_point(lon: float, lat: float) -> tuple[float, float]:
    x, y = to_metric(np.array([lon]), np.array([lat]))
    return float(x[0]), float(y[0])


def _as_multipolygon(geom: Any) -> shapely.MultiPolygon:
    parts = [p for p in shapely.get_parts(geom)
             if isinstance(p, shapely.Polygon) and not p.is_empty]
    return shapely.MultiPolygon(parts)


def _text(values: Sequence[Any] | npt.NDArray[Any]) -> pd.Series:
    return pd.Series(list(values), dtype="str")


def _frame(kind: str, columns: dict[str, Any],
           geoms: Sequence[Any] | GeomArray) -> gpd.GeoDataFrame:
    """A frame with exactly the generated columns of ``kind`` (missing ones all null)."""
    n = len(geoms)
    schema = SCHEMAS[kind]
    data: dict[str, Any] = {}
    for name in frame_columns(kind)[:-1]:
        col = schema.column(name)
        values = columns.get(name)
        unknown = set(columns) - set(frame_columns(kind))
        if unknown:
            raise KeyError(f"{kind}: unknown columns {sorted(unknown)}")
        if values is None:
            values = [None] * n
        if col.type.value in ("TEXT", "DATE", "DATETIME"):
            data[name] = _text(values)
        elif col.type.value == "INTEGER":
            data[name] = pd.Series(np.asarray(values, dtype=np.int64))
        else:
            data[name] = pd.Series(np.asarray(values, dtype=np.float64))
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(list(geoms), crs="EPSG:4326"),
                            crs="EPSG:4326")


# --------------------------------------------------------------------------- real inputs


@dataclass
class _Real:
    outline: shapely.Polygon  # WGS84
    outline_m: shapely.Polygon
    subs: pd.DataFrame
    coms: pd.DataFrame
    anchors: pd.DataFrame


def _load_real() -> _Real:
    # Plain JSON + shapely, not gpd.read_file: the city build's workers need no GDAL.
    doc = json.loads((REAL_DIR / "boundaries" / "luohu_district_wgs84.geojson").read_text(
        encoding="utf-8"))
    geom = shape(doc["features"][0]["geometry"])
    polys = sorted(shapely.get_parts(geom), key=lambda p: -p.area)
    outline = _round7(polys[0])  # one polygon; the largest if the source had slivers
    subs = pd.read_csv(REAL_DIR / "admin_divisions" / "luohu_subdistricts_nbs2023.csv", dtype=str)
    coms = pd.read_csv(REAL_DIR / "admin_divisions" / "luohu_communities_nbs2023.csv", dtype=str)
    anchors = pd.read_csv(REAL_DIR / "admin_divisions" / "luohu_anchor_points_approx.csv",
                          dtype={"name": str, "kind": str, "note": str})
    subs = subs.sort_values("subdistrict_code").reset_index(drop=True)
    coms = coms.sort_values("community_code").reset_index(drop=True)
    return _Real(outline=outline, outline_m=_to_metric(outline), subs=subs, coms=coms,
                 anchors=anchors)


def _anchor(real: _Real, name: str) -> tuple[float, float]:
    row = real.anchors.loc[real.anchors["name"] == name].iloc[0]
    return float(row["lon"]), float(row["lat"])


# --------------------------------------------------------------------------- water


@dataclass
class _Water:
    shenzhen_m: BaseGeometry
    buji_m: BaseGeometry
    buji_centre_m: shapely.LineString
    reservoir_m: BaseGeometry

    @property
    def all_m(self) -> BaseGeometry:
        return shapely.union_all([self.shenzhen_m, self.buji_m, self.reservoir_m])


# 布吉河 course, north (outside the district, towards 布吉) to south (深圳河 by 罗湖口岸).
_BUJI_COURSE = (
    (114.1230, 22.6000), (114.1215, 22.5905), (114.1195, 22.5800), (114.1185, 22.5700),
    (114.1180, 22.5600), (114.1172, 22.5520), (114.1158, 22.5450), (114.1140, 22.5385),
    (114.1126, 22.5335), (114.1120, 22.5280),
)


def _southern_boundary(outline_m: shapely.Polygon) -> shapely.LineString:
    """The part of the outline between 莲塘 and the south-west corner (深圳河's course)."""
    ring = np.asarray(outline_m.exterior.coords)[:-1]
    n = len(ring)
    e = np.array(_metric_point(114.1925, 22.5555))
    w = np.array(_metric_point(114.1000554, 22.5343078))
    ie = int(np.argmin(np.hypot(*(ring - e).T)))
    iw = int(np.argmin(np.hypot(*(ring - w).T)))
    fwd = [(ie + k) % n for k in range((iw - ie) % n + 1)]
    bwd = [(iw + k) % n for k in range((ie - iw) % n + 1)]
    a, b = ring[fwd], ring[bwd]
    return shapely.LineString(a if a[:, 1].mean() < b[:, 1].mean() else b)


def _meander(line: shapely.LineString, rng: np.random.Generator, amplitude: float,
             step: float = 40.0) -> shapely.LineString:
    """Smooth lateral wiggle of a line (fixed ends), vertices every ``step`` metres."""
    length = line.length
    s = np.linspace(0.0, length, max(3, int(length / step)))
    pts = shapely.get_coordinates(shapely.line_interpolate_point(line, s))
    ahead = shapely.get_coordinates(shapely.line_interpolate_point(line, np.minimum(s + 5, length)))
    behind = shapely.get_coordinates(shapely.line_interpolate_point(line, np.maximum(s - 5, 0)))
    d = ahead - behind
    d /= np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-9)[:, None]
    normal = np.column_stack([-d[:, 1], d[:, 0]])
    off = np.zeros_like(s)
    for _ in range(3):
        wl = rng.uniform(600.0, 2200.0)
        off += rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * s / wl + rng.uniform(0, 2 * np.pi))
    off *= amplitude / 1.5 * np.sin(np.pi * s / length)  # zero at both ends
    return shapely.LineString(pts + normal * off[:, None])


def _build_water(real: _Real, rng: np.random.Generator) -> _Water:
    om = real.outline_m
    south = _southern_boundary(om)
    shenzhen = shapely.intersection(south.buffer(45.0, cap_style="flat"), om)

    course = shapely.LineString([_metric_point(lon, lat) for lon, lat in _BUJI_COURSE])
    centre = _meander(course, rng, 45.0)
    buji = shapely.difference(shapely.intersection(centre.buffer(18.0), om), shenzhen)

    cx, cy = _metric_point(*_anchor(real, "深圳水库"))
    theta = np.linspace(0.0, 2 * np.pi, 181)[:-1]
    r = np.ones_like(theta)
    for k in range(2, 7):
        r += rng.uniform(0.03, 0.12) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    unit = shapely.Polygon(np.column_stack([np.cos(theta) * r, np.sin(theta) * r]))
    target = rng.uniform(2.3e6, 2.7e6)
    radius = np.sqrt(target / unit.area)
    blob = shapely.Polygon(np.column_stack([cx + np.cos(theta) * r * radius,
                                            cy + np.sin(theta) * r * radius]))
    reservoir = shapely.intersection(blob, om)
    return _Water(shenzhen_m=shenzhen, buji_m=buji, buji_centre_m=centre, reservoir_m=reservoir)


# --------------------------------------------------------------------------- admin partition


def _urban_weight(x: FloatArray, y: FloatArray, terrain: Terrain) -> FloatArray:
    """Relative density of the city in (0, 1]: high in the old town and on low ground."""
    lon, lat = from_metric(x, y)
    z = terrain.elevation_at(lon, lat)
    ox, oy = _metric_point(*_OLD_TOWN)
    geo = 0.3 + 0.7 * np.exp(-np.hypot(x - ox, y - oy) / 3000.0)
    low = np.clip(1.0 - z / 150.0, 0.0, 1.0) ** 1.5
    return np.asarray(geo * (0.06 + 0.94 * low))


def _sample_in(poly: BaseGeometry, n: int, rng: np.random.Generator,
               weight: Callable[[FloatArray, FloatArray], FloatArray]) -> FloatArray:
    """``n`` points inside ``poly`` with density proportional to ``weight`` (≤ 1)."""
    minx, miny, maxx, maxy = poly.bounds
    shapely.prepare(poly)
    out: list[FloatArray] = []
    got = 0
    for _ in range(200):
        cand = rng.uniform((minx, miny), (maxx, maxy), size=(max(4 * n, 256), 2))
        cand = cand[shapely.contains_xy(poly, cand[:, 0], cand[:, 1])]
        if len(cand):
            keep = rng.uniform(size=len(cand)) < weight(cand[:, 0], cand[:, 1])
            cand = cand[keep]
        out.append(cand)
        got += len(cand)
        if got >= n:
            break
    pts = np.vstack(out)
    if len(pts) < n:  # a sliver: fall back to the interior point
        rp = shapely.get_coordinates(shapely.point_on_surface(poly))
        pts = np.vstack([pts, np.repeat(rp, n - len(pts), axis=0)])
    return pts[:n]


def _kmeans_seeds(poly: BaseGeometry, k: int, rng: np.random.Generator,
                  weight: Callable[[FloatArray, FloatArray], FloatArray]) -> FloatArray:
    """Density-weighted Lloyd relaxation inside ``poly``: ``k`` distinct seeds."""
    pts = _sample_in(poly, max(600, 80 * k), rng, weight)
    seeds = pts[rng.choice(len(pts), size=k, replace=False)].copy()
    for _ in range(8):
        d = ((pts[:, None, :] - seeds[None, :, :]) ** 2).sum(axis=2)
        lab = d.argmin(axis=1)
        for c in range(k):
            members = pts[lab == c]
            if len(members):
                seeds[c] = members.mean(axis=0)
    # A mean can fall outside a concave parent: use the nearest member instead.
    inside = shapely.contains_xy(poly, seeds[:, 0], seeds[:, 1])
    d = ((pts[:, None, :] - seeds[None, :, :]) ** 2).sum(axis=2)
    lab = d.argmin(axis=1)
    for out in np.flatnonzero(~inside):
        members = np.flatnonzero(lab == out) if np.any(lab == out) else np.arange(len(pts))
        best = members[np.argmin(((pts[members] - seeds[out]) ** 2).sum(axis=1))]
        seeds[out] = pts[best]
    # Distinct seeds (Voronoi needs them); nudge duplicates.
    _, first = np.unique(np.round(seeds, 3), axis=0, return_index=True)
    dup = np.setdiff1d(np.arange(k), first)
    seeds[dup] += rng.uniform(-1.0, 1.0, size=(len(dup), 2))
    return seeds


def _voronoi_lines(seeds: FloatArray, clip: BaseGeometry, margin: float) -> GeomArray:
    """Boundaries of the Voronoi cells of ``seeds`` within ``clip`` grown by ``margin``."""
    env = shapely.box(*clip.buffer(3000.0).bounds)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds),
                                                       extend_to=env, ordered=True))
    lines = shapely.intersection(shapely.boundary(cells), clip.buffer(margin))
    return np.asarray(lines[~shapely.is_empty(lines)])


def _faces(lines_wgs: Sequence[Any], outline: shapely.Polygon) -> GeomArray:
    """Faces inside ``outline`` of the lines noded together on the output grid."""
    noded = shapely.union_all(np.asarray([*lines_wgs, outline.exterior], dtype=object),
                              grid_size=DEG_GRID)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    rp = shapely.get_coordinates(shapely.point_on_surface(faces))
    shapely.prepare(outline)
    inside = shapely.contains_xy(outline, rp[:, 0], rp[:, 1])
    return np.asarray(faces[inside])


@dataclass
class _Adjacency:
    i: IntArray
    j: IntArray
    length: FloatArray


def _adjacency(faces: GeomArray) -> _Adjacency:
    """Pairs of faces sharing an edge, with the shared length (degrees).

    Faces of one polygonize share their edges vertex for vertex, so matching
    identical edges finds the neighbours without any overlay.
    """
    rings, ring_face = shapely.get_rings(faces, return_index=True)
    coords, ring_of = shapely.get_coordinates(rings, return_index=True)
    same = ring_of[:-1] == ring_of[1:]
    a, b = coords[:-1][same], coords[1:][same]
    f = ring_face[ring_of[:-1][same]]
    swap = (a[:, 0] > b[:, 0]) | ((a[:, 0] == b[:, 0]) & (a[:, 1] > b[:, 1]))
    p = np.where(swap[:, None], b, a)
    q = np.where(swap[:, None], a, b)
    key = np.column_stack([p, q])
    order = np.lexsort((key[:, 3], key[:, 2], key[:, 1], key[:, 0]))
    ks, fs = key[order], f[order]
    dup = np.all(ks[1:] == ks[:-1], axis=1)
    i, j = fs[:-1][dup], fs[1:][dup]
    seg = ks[:-1][dup]
    length = np.hypot(seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1])
    keep = i != j
    df = pd.DataFrame({"i": np.minimum(i, j)[keep], "j": np.maximum(i, j)[keep],
                       "len": length[keep]})
    g = df.groupby(["i", "j"], sort=True)["len"].sum().reset_index()
    return _Adjacency(g["i"].to_numpy(np.int64), g["j"].to_numpy(np.int64),
                      g["len"].to_numpy(np.float64))


def _components(n: int, i: IntArray, j: IntArray) -> IntArray:
    """Connected components (label = smallest member) by min-label propagation."""
    comp = np.arange(n, dtype=np.int64)
    if len(i) == 0:
        return comp
    while True:
        m = np.minimum(comp[i], comp[j])
        new = comp.copy()
        np.minimum.at(new, i, m)
        np.minimum.at(new, j, m)
        new = new[new]
        if np.array_equal(new, comp):
            return comp
        comp = new


def _fix_contiguity(labels: IntArray, areas: FloatArray, adj: _Adjacency,
                    group: IntArray | None = None, label_group: IntArray | None = None
                    ) -> IntArray:
    """Relabel stray pieces of each unit to the neighbour sharing the longest edge.

    ``group`` (per face) and ``label_group`` (per label) restrict neighbours to
    units of the same parent.
    """
    labels = labels.copy()
    n = len(labels)
    ii = np.concatenate([adj.i, adj.j])
    jj = np.concatenate([adj.j, adj.i])
    ll = np.concatenate([adj.length, adj.length])
    for _ in range(30):
        same = labels[adj.i] == labels[adj.j]
        comp = _components(n, adj.i[same], adj.j[same])
        df = pd.DataFrame({"label": labels, "comp": comp, "area": areas})
        ca = df.groupby(["label", "comp"], sort=True)["area"].sum().reset_index()
        ca = ca.sort_values(["label", "area", "comp"], ascending=[True, False, True],
                            kind="mergesort")
        main = ca.drop_duplicates("label").set_index("label")["comp"]
        stray = comp != main.reindex(labels).to_numpy()
        if not stray.any():
            return labels
        e = stray[ii] & (labels[jj] != labels[ii])
        if group is not None:
            e &= group[ii] == group[jj]
        if not e.any():
            return labels
        cand = pd.DataFrame({"comp": comp[ii[e]], "to": labels[jj[e]], "len": ll[e]})
        if label_group is not None and group is not None:
            cand = cand[label_group[cand["to"].to_numpy()] == group[ii[e]]]
        score = cand.groupby(["comp", "to"], sort=True)["len"].sum().reset_index()
        score = score.sort_values(["comp", "len", "to"], ascending=[True, False, True],
                                  kind="mergesort").drop_duplicates("comp")
        best = score.set_index("comp")["to"]
        move = stray & np.isin(comp, best.index.to_numpy())
        if not move.any():
            return labels
        labels[move] = best.reindex(comp[move]).to_numpy()
    return labels


def _max_overlap(faces: GeomArray, units: GeomArray) -> IntArray:
    """Index of the unit covering most of each face."""
    tree = shapely.STRtree(units)
    fi, ui = tree.query(faces, predicate="intersects")
    area = shapely.area(shapely.intersection(faces[fi], units[ui]))
    df = pd.DataFrame({"f": fi, "u": ui, "a": area})
    df = df.sort_values(["f", "a", "u"], ascending=[True, False, True], kind="mergesort")
    best = df.drop_duplicates("f").set_index("f")["u"]
    out = best.reindex(np.arange(len(faces))).to_numpy()
    if np.isnan(out.astype(np.float64)).any():  # pragma: no cover - faces always overlap a unit
        rp = shapely.point_on_surface(faces)
        near = tree.query_nearest(rp, all_matches=False)[1]
        out = np.where(np.isnan(out.astype(np.float64)), near, out)
    return np.asarray(out, dtype=np.int64)


def _nearest_seed(faces: GeomArray, parent: IntArray, seeds: list[FloatArray],
                  first: IntArray) -> IntArray:
    """Global index of the nearest seed among the seeds of each face's parent."""
    rp = _to_metric(shapely.point_on_surface(faces))
    xy = shapely.get_coordinates(rp)
    out = np.zeros(len(faces), dtype=np.int64)
    for p, s in enumerate(seeds):
        m = parent == p
        if not m.any():
            continue
        d = ((xy[m][:, None, :] - s[None, :, :]) ** 2).sum(axis=2)
        out[m] = first[p] + d.argmin(axis=1)
    return out


def _unions(faces: GeomArray, labels: IntArray, n: int) -> GeomArray:
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(n + 1))
    out = np.empty(n, dtype=object)
    for k in range(n):
        out[k] = shapely.coverage_union_all(faces[order[bounds[k]:bounds[k + 1]]])
    return out


@dataclass
class _Partition:
    faces: GeomArray  # WGS84
    sub: IntArray  # per face: index into real.subs
    com: IntArray  # per face: index into real.coms
    grid: IntArray  # per face: index into grid_com
    grid_com: IntArray  # per grid: community index
    grid_no: IntArray  # per grid: number within its community (1..)
    district: BaseGeometry
    sub_geom: GeomArray
    com_geom: GeomArray
    grid_geom: GeomArray
    sub_area_km2: FloatArray = field(default_factory=lambda: np.zeros(0))
    com_area_km2: FloatArray = field(default_factory=lambda: np.zeros(0))
    grid_area_km2: FloatArray = field(default_factory=lambda: np.zeros(0))


def _order_seeds(seeds: FloatArray) -> FloatArray:
    """North to south, then west to east in 400 m bands: a readable numbering."""
    band = np.floor(-seeds[:, 1] / 400.0)
    return seeds[np.lexsort((seeds[:, 0], band))]


def _build_partition(real: _Real, terrain: Terrain, seed: int) -> _Partition:
    outline, om = real.outline, real.outline_m

    def weight(x: FloatArray, y: FloatArray) -> FloatArray:
        return _urban_weight(x, y, terrain)

    # Level 0: subdistricts = Voronoi cells of the anchor centres.
    anchors = np.array([_metric_point(*_anchor(real, n)) for n in real.subs["subdistrict_name"]])
    lines0 = _to_wgs(_voronoi_lines(anchors, om, 50.0))
    f0 = _faces(list(lines0), outline)
    xy0 = shapely.get_coordinates(_to_metric(shapely.point_on_surface(f0)))
    lab0 = ((xy0[:, None, :] - anchors[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    adj0 = _adjacency(f0)
    lab0 = _fix_contiguity(lab0.astype(np.int64), shapely.area(f0), adj0)
    n_sub = len(real.subs)
    sub_wgs0 = _unions(f0, lab0, n_sub)

    # Level 1: communities inside each subdistrict.
    rng1 = np.random.default_rng([seed, STAGE_COMMUNITIES])
    com_sub = real.coms["subdistrict_code"].map(
        dict(zip(real.subs["subdistrict_code"], range(n_sub), strict=True))).to_numpy(np.int64)
    com_seeds: list[FloatArray] = []
    com_first = np.zeros(n_sub, dtype=np.int64)
    lines1: list[Any] = []
    for k in range(n_sub):
        members = np.flatnonzero(com_sub == k)
        com_first[k] = members[0]
        if not np.all(np.diff(members) == 1):  # pragma: no cover - csv sorted by code
            raise ValueError("communities of a subdistrict must be contiguous in code order")
        poly = _to_metric(sub_wgs0[k])
        s = _order_seeds(_kmeans_seeds(poly, len(members), rng1, weight))
        com_seeds.append(s)
        lines1.extend(_voronoi_lines(s, poly, 1.0))
    lines1_wgs = list(_to_wgs(np.asarray(lines1, dtype=object)))
    f1 = _faces([*lines0, *lines1_wgs], outline)
    sub1 = _max_overlap(f1, sub_wgs0)
    com1 = _nearest_seed(f1, sub1, com_seeds, com_first)
    adj1 = _adjacency(f1)
    com1 = _fix_contiguity(com1, shapely.area(f1), adj1, group=sub1, label_group=com_sub)
    n_com = len(real.coms)
    com_wgs1 = _unions(f1, com1, n_com)

    # Level 2: grids inside each community, 5-15 by the community's urban weight.
    rng2 = np.random.default_rng([seed, STAGE_GRIDS])
    com_polys_m = [_to_metric(g) for g in com_wgs1]

    def uniform(x: FloatArray, _y: FloatArray) -> FloatArray:
        return np.ones_like(x)

    # Urban weight integrated over the community (mean over uniform samples × area).
    mass = np.array([float(np.mean(weight(*_sample_in(p, 200, rng2, uniform).T))) * p.area
                     for p in com_polys_m])
    n_grid = np.clip(np.round(10.0 * mass / mass.mean() + rng2.integers(-1, 2, n_com)), 5, 15)
    n_grid = n_grid.astype(np.int64)
    grid_seeds: list[FloatArray] = []
    grid_first = np.concatenate([[0], np.cumsum(n_grid)[:-1]]).astype(np.int64)
    lines2: list[Any] = []
    for j, poly in enumerate(com_polys_m):
        s = _order_seeds(_kmeans_seeds(poly, int(n_grid[j]), rng2, weight))
        grid_seeds.append(s)
        lines2.extend(_voronoi_lines(s, poly, 1.0))
    lines2_wgs = list(_to_wgs(np.asarray(lines2, dtype=object)))
    faces = _faces([*lines0, *lines1_wgs, *lines2_wgs], outline)
    areas = shapely.area(faces)
    adj = _adjacency(faces)
    com = _max_overlap(faces, com_wgs1)
    com = _fix_contiguity(com, areas, adj, group=com_sub[com], label_group=com_sub)
    com = _fix_contiguity(com, areas, adj)  # a sliver cut off from its subdistrict
    sub = com_sub[com]
    grid_com_all = np.repeat(np.arange(n_com), n_grid)
    grid = _nearest_seed(faces, com, grid_seeds, grid_first)
    grid = _fix_contiguity(grid, areas, adj, group=com, label_group=grid_com_all)

    # Drop grids that ended with no face and renumber within each community.
    used = np.unique(grid)
    remap = np.full(len(grid_com_all), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    grid = remap[grid]
    grid_com = grid_com_all[used]
    grid_no = np.zeros(len(used), dtype=np.int64)
    for j in range(n_com):
        m = np.flatnonzero(grid_com == j)
        grid_no[m] = np.arange(1, len(m) + 1)

    part = _Partition(
        faces=faces, sub=sub, com=com, grid=grid, grid_com=grid_com, grid_no=grid_no,
        district=_round7(shapely.coverage_union_all(faces)),
        sub_geom=np.asarray(_round7(_unions(faces, sub, n_sub))),
        com_geom=np.asarray(_round7(_unions(faces, com, n_com))),
        grid_geom=np.asarray(_round7(_unions(faces, grid, len(used)))),
    )
    part.sub_area_km2 = shapely.area(_to_metric(part.sub_geom)) / 1e6
    part.com_area_km2 = shapely.area(_to_metric(part.com_geom)) / 1e6
    part.grid_area_km2 = shapely.area(_to_metric(part.grid_geom)) / 1e6
    return part


class _AdminIndex:
    """Point → community lookup over the final community polygons (WGS84), and the codes."""

    def __init__(self, part: _Partition, real: _Real) -> None:
        self.part = part
        self.tree = shapely.STRtree(part.com_geom)
        self.com_code = real.coms["community_code"].to_numpy(dtype=object)
        self.com_sub_code = real.coms["subdistrict_code"].to_numpy(dtype=object)
        self.sub_code = real.subs["subdistrict_code"].to_numpy(dtype=object)

    def community_of(self, points_wgs: GeomArray) -> IntArray:
        """Community index containing each point (nearest one for points outside)."""
        pi, ci = self.tree.query(points_wgs, predicate="intersects")
        out = np.full(len(points_wgs), -1, dtype=np.int64)
        # Points on a shared edge: the lowest community index wins.
        order = np.lexsort((ci, pi))
        pi, ci = pi[order], ci[order]
        first = np.r_[True, pi[1:] != pi[:-1]] if len(pi) else np.zeros(0, dtype=bool)
        out[pi[first]] = ci[first]
        missing = np.flatnonzero(out < 0)
        if len(missing):
            out[missing] = self.tree.query_nearest(points_wgs[missing], all_matches=False)[1]
        return out


# --------------------------------------------------------------------------- roads


@dataclass
class _Line:
    """A logical road line: a jittered lattice line, a bank road, a path or a trail."""

    design: shapely.LineString  # metric, unclipped
    klass: str
    orient: str  # "NS", "EW" or "" (paths)
    width: float
    name: str | None = None


@dataclass
class _Roads:
    lines: list[_Line]
    seg_m: GeomArray  # noded segments, metric
    seg_line: IntArray  # line index per segment
    from_node: IntArray
    to_node: IntArray
    named_geom_m: GeomArray = field(default_factory=lambda: np.zeros(0, dtype=object))
    named_line: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def _longest_line(geom: BaseGeometry) -> shapely.LineString:
    """The longest LineString part of a lineal geometry."""
    parts = [p for p in shapely.get_parts(shapely.line_merge(geom))
             if isinstance(p, shapely.LineString)]
    if not parts:
        raise ValueError("no line in geometry")
    return max(parts, key=lambda p: p.length)


def _wiggle(t: FloatArray, rng: np.random.Generator, amplitude: float,
            wl: tuple[float, float]) -> FloatArray:
    off = np.zeros_like(t)
    for _ in range(2):
        off += np.sin(2 * np.pi * t / rng.uniform(*wl) + rng.uniform(0, 2 * np.pi))
    return off * amplitude / 2.0


def _lattice(lo: float, hi: float, rng: np.random.Generator) -> list[tuple[float, str]]:
    """Positions of lattice lines across [lo, hi] with their class."""
    art: list[float] = []
    p = lo + rng.uniform(300.0, 1100.0)
    while p < hi:
        art.append(p)
        p += rng.uniform(1050.0, 1350.0)
    out: list[tuple[float, str]] = [(a, "arterial") for a in art]
    bounds = [lo - 250.0, *art, hi + 250.0]
    sec: list[float] = []
    for a, b in itertools.pairwise(bounds):
        m = max(0, round((b - a) / 500.0) - 1)
        sec += [a + (b - a) * (q + 1) / (m + 1) + rng.uniform(-50.0, 50.0) for q in range(m)]
    out += [(s, "secondary") for s in sec]
    bounds = sorted([lo - 100.0, *art, *sec, hi + 100.0])
    for a, b in itertools.pairwise(bounds):
        m = max(0, round((b - a) / 180.0) - 1)
        out += [(a + (b - a) * (q + 1) / (m + 1) + rng.uniform(-15.0, 15.0), "branch")
                for q in range(m)]
    return sorted(out)


_AMPLITUDE = {"arterial": 60.0, "secondary": 35.0, "branch": 12.0, "footpath": 70.0}


def _lattice_lines(bounds: tuple[float, float, float, float], rng: np.random.Generator,
                   klass_filter: Callable[[str], bool] = lambda _k: True,
                   positions: Callable[[float, float], list[tuple[float, str]]] | None = None
                   ) -> list[_Line]:
    minx, miny, maxx, maxy = bounds
    lines: list[_Line] = []
    for orient, (lo, hi), (lo2, hi2) in (("NS", (minx, maxx), (miny, maxy)),
                                         ("EW", (miny, maxy), (minx, maxx))):
        pos = positions(lo, hi) if positions else _lattice(lo, hi, rng)
        t = np.arange(lo2 - 300.0, hi2 + 300.0, 60.0)
        for p, klass in pos:
            wl = (400.0, 900.0) if klass == "footpath" else (1500.0, 4000.0)
            off = p + _wiggle(t, rng, _AMPLITUDE[klass], wl)
            xy = np.column_stack([off, t]) if orient == "NS" else np.column_stack([t, off])
            lo_w, hi_w = _CLASS_WIDTH[klass]
            width = float(np.round(rng.uniform(lo_w, hi_w) / 2.0) * 2.0) if klass != "footpath" \
                else float(np.round(rng.uniform(lo_w, hi_w), 1))
            if klass_filter(klass):
                lines.append(_Line(shapely.LineString(xy), klass, orient, width))
    return lines


def _runs(line: BaseGeometry, ok: Callable[[FloatArray], npt.NDArray[np.bool_]],
          min_len: float) -> list[shapely.LineString]:
    """Pieces of ``line`` whose vertices (every 25 m) satisfy ``ok``."""
    out: list[shapely.LineString] = []
    for part in shapely.get_parts(line):
        if part.is_empty or part.geom_type != "LineString":
            continue
        c = shapely.get_coordinates(shapely.segmentize(part, 25.0))
        good = ok(c)
        if good.all():
            if part.length >= min_len:
                out.append(part)
            continue
        edges = np.diff(np.r_[0, good.astype(np.int8), 0])
        for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
            if b - a >= 2:
                piece = shapely.LineString(c[a:b])
                if piece.length >= min_len:
                    out.append(piece)
    return out


def _trail(start: FloatArray, end: FloatArray, rng: np.random.Generator) -> shapely.LineString:
    """A winding path from ``start`` to ``end`` (switchbacks on the way up)."""
    d = end - start
    length = float(np.hypot(*d))
    n = max(3, int(length / 30.0))
    s = np.linspace(0.0, 1.0, n)
    normal = np.array([-d[1], d[0]]) / max(length, 1e-9)
    off = np.sin(np.pi * s) * (
        rng.uniform(120.0, 200.0) * np.sin(2 * np.pi * s * length / rng.uniform(600.0, 900.0)
                                           + rng.uniform(0, 2 * np.pi)))
    return shapely.LineString(start + s[:, None] * d + off[:, None] * normal)


_TRAIL_STARTS = ((114.1880, 22.5640), (114.1720, 22.5790), (114.1950, 22.6050),
                 (114.2030, 22.5690))


def _build_roads(real: _Real, water: _Water, terrain: Terrain, seed: int) -> _Roads:
    rng = np.random.default_rng([seed, STAGE_ROADS])
    om = real.outline_m
    # A metre inside the outline, so that snapping on the noding grid keeps ends inside.
    inner = om.buffer(-1.0)
    area = shapely.difference(inner, shapely.union_all([water.shenzhen_m,
                                                        water.reservoir_m.buffer(60.0)]))
    shapely.prepare(area)
    river_cut = water.buji_centre_m.buffer(90.0)

    def elev(c: FloatArray) -> FloatArray:
        lon, lat = from_metric(c[:, 0], c[:, 1])
        return terrain.elevation_at(lon, lat)

    lines = _lattice_lines(om.bounds, rng)
    # Footpaths: a loose winding lattice over the hills.
    def fp_positions(lo: float, hi: float) -> list[tuple[float, str]]:
        out = []
        p = lo + rng.uniform(100.0, 450.0)
        while p < hi:
            out.append((p, "footpath"))
            p += rng.uniform(380.0, 520.0)
        return out
    lines += _lattice_lines(om.bounds, rng, positions=fp_positions)

    # River-bank roads along 布吉河 (the centreline runs north → south: +offset is east).
    east = _longest_line(shapely.offset_curve(water.buji_centre_m, 45.0))
    west = _longest_line(shapely.offset_curve(water.buji_centre_m, -45.0))
    lines.append(_Line(east, "secondary", "NS", 20.0, "沿河南路"))
    lines.append(_Line(west, "branch", "NS", 10.0))

    pieces: list[shapely.LineString] = []
    piece_line: list[int] = []
    for li, line in enumerate(lines):
        geom = shapely.intersection(line.design, area)
        if line.orient == "NS" and line.klass in ("arterial", "secondary", "branch") \
                and li < len(lines) - 2:
            geom = shapely.difference(geom, river_cut)
        if line.klass == "footpath":
            got = _runs(geom, lambda c: elev(c) >= _FOOTPATH_MIN_ELEV, 60.0)
        else:
            limit = _CLASS_MAX_ELEV[line.klass]
            got = _runs(geom, lambda c, lim=limit: elev(c) < lim, 150.0)  # type: ignore[misc]
        pieces += got
        piece_line += [li] * len(got)

    # Trails to the 梧桐山 summit, starting on the nearest road vertex.
    road_xy = np.vstack([shapely.get_coordinates(p)
                         for p, li in zip(pieces, piece_line, strict=True)
                         if lines[li].klass != "footpath"])
    peak = np.array(_metric_point(114.2075, 22.5825))
    for lon, lat in _TRAIL_STARTS:
        s = np.array(_metric_point(lon, lat))
        start = road_xy[np.argmin(((road_xy - s) ** 2).sum(axis=1))]
        trail = _trail(start, peak, rng)
        lines.append(_Line(trail, "footpath", "", float(np.round(rng.uniform(1.5, 3.0), 1))))
        for g in shapely.get_parts(shapely.intersection(trail, area)):
            if g.geom_type == "LineString" and g.length > 30.0:
                pieces.append(g)
                piece_line.append(len(lines) - 1)
    # The path round the reservoir, where roads cut by the shore buffer end.
    ring = shapely.intersection(water.reservoir_m.buffer(60.0).exterior, inner)
    lines.append(_Line(shapely.LineString(water.reservoir_m.buffer(60.0).exterior.coords),
                       "footpath", "", 4.0))
    for g in shapely.get_parts(shapely.line_merge(ring)):
        if g.geom_type == "LineString":
            pieces.append(g)
            piece_line.append(len(lines) - 1)

    pieces_arr = np.asarray(pieces, dtype=object)
    piece_line_arr = np.asarray(piece_line, dtype=np.int64)
    noded = shapely.get_parts(shapely.union_all(pieces_arr, grid_size=ROAD_GRID_M))
    noded = noded[shapely.length(noded) > 0]
    mid = shapely.line_interpolate_point(noded, 0.5, normalized=True)
    src = shapely.STRtree(pieces_arr).query_nearest(mid, all_matches=False)[1]
    seg_line = piece_line_arr[src]
    noded, seg_line = _tidy_short_segments(noded, seg_line)
    # Contracting a short link can lay two segments on top of each other: keep the
    # one of the higher class.
    rank = np.array([ROAD_CLASSES.index(lines[k].klass) for k in seg_line])
    by_rank = np.argsort(rank, kind="stable")
    wkb = pd.Series(shapely.to_wkb(shapely.normalize(noded[by_rank])))
    keep = np.sort(by_rank[~wkb.duplicated().to_numpy()])
    noded, seg_line = noded[keep], seg_line[keep]

    # Break the perfect lattice: drop some branch segments, more where the city is sparse.
    klass = np.array([lines[k].klass for k in seg_line])
    mxy = shapely.get_coordinates(shapely.line_interpolate_point(noded, 0.5, normalized=True))
    dens = _urban_weight(mxy[:, 0], mxy[:, 1], terrain)
    drop = (klass == "branch") & (rng.uniform(size=len(noded)) < 0.08 + 0.12 * (1 - dens))
    noded, seg_line = noded[~drop], seg_line[~drop]

    fn, tn, uniq = _end_nodes(noded)
    g = nx.Graph()
    g.add_nodes_from(range(len(uniq)))
    g.add_edges_from(zip(fn.tolist(), tn.tolist(), strict=True))
    comps = sorted((sorted(c) for c in nx.connected_components(g)), key=lambda c: (-len(c), c[0]))
    keep_nodes = np.zeros(len(uniq), dtype=bool)
    keep_nodes[np.asarray(comps[0], dtype=np.int64)] = True
    keep = keep_nodes[fn] & (fn != tn)
    noded, seg_line = noded[keep], seg_line[keep]
    seg_line = _connect_drivable(noded, seg_line, lines)

    # Order: class, line, position along the line. Nodes are numbered 1..N by coordinate.
    klass_rank = np.array([ROAD_CLASSES.index(lines[k].klass) for k in seg_line])
    pos = shapely.line_locate_point(
        np.asarray([lines[k].design for k in seg_line], dtype=object),
        shapely.line_interpolate_point(noded, 0.5, normalized=True))
    order = np.lexsort((pos, seg_line, klass_rank))
    noded, seg_line = noded[order], seg_line[order]
    fn, tn, _xy = _end_nodes(noded)
    roads = _Roads(lines=lines, seg_m=noded, seg_line=seg_line, from_node=fn + 1, to_node=tn + 1)
    _name_roads(roads, np.random.default_rng([seed, STAGE_ROAD_NAMES]))
    return roads


def _connect_drivable(segs: GeomArray, seg_line: IntArray, lines: list[_Line]) -> IntArray:
    """Make the drivable roads (every class but footpaths) one connected network.

    The elevation limits and the river cut leave drivable pieces joined to the
    rest only by footpaths; a real district's streets connect. Each piece is
    joined to the largest one along the shortest chain of footpaths (by
    length), which becomes a branch road (an access lane up the hill). Returns
    the new line index of each segment (new lines are appended to ``lines``).
    """
    seg_line = seg_line.copy()
    fn, tn, _xy = _end_nodes(segs)
    foot = np.array([lines[k].klass == "footpath" for k in seg_line])
    seg_len = shapely.length(segs)
    drive = nx.Graph()
    drive.add_edges_from(zip(fn[~foot].tolist(), tn[~foot].tolist(), strict=True))
    comps = sorted((sorted(c) for c in nx.connected_components(drive)),
                   key=lambda c: (-len(c), c[0]))
    if len(comps) < 2:
        return seg_line
    full = nx.Graph()
    for k in range(len(segs)):
        a, b, w = int(fn[k]), int(tn[k]), float(seg_len[k])
        if not full.has_edge(a, b) or full[a][b]["w"] > w:
            full.add_edge(a, b, w=w, seg=k)
    _dist, paths = nx.multi_source_dijkstra(full, set(comps[0]), weight="w")
    for comp in comps[1:]:
        reachable = [n for n in comp if n in _dist]
        if not reachable:
            continue
        start = min(reachable, key=lambda n: (_dist[n], n))
        path = paths[start]
        chain = [full[a][b]["seg"] for a, b in itertools.pairwise(path)]
        promote = [k for k in chain if lines[seg_line[k]].klass == "footpath"]
        if not promote:
            continue
        design = shapely.line_merge(shapely.union_all(segs[promote]))
        lines.append(_Line(_longest_line(design), "branch", "", 6.0))
        seg_line[promote] = len(lines) - 1
    return seg_line


#: Upper-class lattice lines longer than this become several logical lines.
_MAX_NAMED_LINE_M = 5500.0


def _split_long_lines(roads: _Roads, max_len: float) -> None:
    """Cut long arterial/secondary lines into sections of about equal length.

    A lattice line can cross the whole district; a real street rarely does, so
    each section becomes a logical line of its own (and takes its own name).
    """
    lines = roads.lines
    seg_len = shapely.length(roads.seg_m)
    for li in [int(v) for v in np.unique(roads.seg_line)]:
        if lines[li].klass not in ("arterial", "secondary"):
            continue
        m = np.flatnonzero(roads.seg_line == li)
        total = float(seg_len[m].sum())
        k = int(np.ceil(total / max_len))
        if k < 2:
            continue
        design = lines[li].design
        pos = shapely.line_locate_point(
            design, shapely.line_interpolate_point(roads.seg_m[m], 0.5, normalized=True))
        order = np.argsort(pos, kind="stable")
        cum = np.cumsum(seg_len[m][order])
        section = np.minimum((cum - 0.5 * seg_len[m][order]) // (total / k), k - 1).astype(int)
        cuts = [0.0]
        for j in range(1, k):
            before = pos[order][section == j - 1]
            after = pos[order][section == j]
            cuts.append(0.5 * (before.max() + after.min()))
        cuts.append(design.length)
        for j in range(k):
            part = _longest_line(substring(design, cuts[j], cuts[j + 1]))
            if j == 0:
                lines[li].design = part
                continue
            lines.append(_Line(part, lines[li].klass, lines[li].orient, lines[li].width))
            roads.seg_line[m[order][section == j]] = len(lines) - 1


_ANCHOR_TIERS: dict[str, tuple[tuple[str, ...], ...]] = {
    "arterial": (("arterial",), ("secondary",)),
    "secondary": (("arterial", "secondary"),),
    "branch": (("branch", "secondary"),),
}


def _end_nodes(segs: GeomArray) -> tuple[IntArray, IntArray, FloatArray]:
    """Node ids of the first and last point of each segment, and the node coordinates."""
    a = shapely.get_coordinates(shapely.get_point(segs, 0))
    b = shapely.get_coordinates(shapely.get_point(segs, -1))
    uniq, inv = np.unique(np.vstack([a, b]), axis=0, return_inverse=True)
    inv = inv.ravel().astype(np.int64)
    return inv[: len(segs)], inv[len(segs):], uniq


def _tidy_short_segments(segs: GeomArray, seg_line: IntArray,
                         min_len: float = 3.0) -> tuple[GeomArray, IntArray]:
    """Drop short dead ends and merge the nodes of short links (noding slivers).

    Lines that cross a metre apart, or stop just past another road, leave
    segments of a metre or less; a stub is dropped, a link between two
    junctions is contracted into its first node.
    """
    for _ in range(3):
        fn, tn, xy = _end_nodes(segs)
        deg = np.bincount(np.r_[fn, tn], minlength=len(xy))
        short = shapely.length(segs) < min_len
        stub = short & ((deg[fn] == 1) | (deg[tn] == 1))
        link = short & ~stub & (fn != tn)
        if not (stub.any() or link.any()):
            break
        target = np.arange(len(xy))
        touched = np.zeros(len(xy), dtype=bool)
        for k in np.flatnonzero(link):
            if touched[fn[k]] or touched[tn[k]]:
                continue  # next pass
            target[tn[k]] = fn[k]
            touched[[fn[k], tn[k]]] = True
        drop = stub | (link & (target[tn] == fn))
        coords, idx = shapely.get_coordinates(segs, return_index=True)
        first = np.r_[0, np.flatnonzero(np.diff(idx)) + 1]
        last = np.r_[first[1:] - 1, len(idx) - 1]
        coords[first] = xy[target[fn]]
        coords[last] = xy[target[tn]]
        segs = np.asarray(shapely.linestrings(coords, indices=idx))
        keep = ~drop & (shapely.length(segs) > 0)
        segs, seg_line = segs[keep], seg_line[keep]
    return segs, seg_line


def _name_roads(roads: _Roads, rng: np.random.Generator) -> None:
    """Give real names to all arterial and secondary lines, then to branches.

    Each name goes to the nearest suitable line to its anchor
    (:data:`data.synth.names.ROAD_ANCHORS`); later sections of a chain
    (人民南路 → 人民北路) are cut from the line of the previous section. Lines of
    the two upper classes left without an anchored name take the remaining
    names with the nearest anchors, so every one of them is named.
    """
    _split_long_lines(roads, _MAX_NAMED_LINE_M)
    lines = roads.lines
    cache: dict[int, BaseGeometry] = {}

    def present(li: int) -> BaseGeometry:
        if li not in cache:
            cache[li] = shapely.multilinestrings(list(roads.seg_m[roads.seg_line == li]))
        return cache[li]

    def live() -> list[int]:
        return [int(li) for li in np.unique(roads.seg_line)]

    chain_prev = {c[k]: c[k - 1] for c in nm.ROAD_CHAINS for k in range(1, len(c))}
    anchors = {a[0]: a for a in nm.ROAD_ANCHORS}
    anchor_pt = {n: shapely.Point(_metric_point(a[1], a[2])) for n, a in anchors.items()}
    named: dict[str, int] = {ln.name: i for i, ln in enumerate(lines) if ln.name is not None}

    def split_chain(name: str) -> bool:
        prev = chain_prev.get(name)
        if prev is None or prev not in named:
            return False
        li = named[prev]
        p = anchor_pt[name]
        design = lines[li].design
        s_prev = shapely.line_locate_point(design, anchor_pt[prev])
        s_new = shapely.line_locate_point(design, p)
        if abs(s_new - s_prev) < 400.0 or present(li).distance(p) > nm.ANCHOR_RADIUS_M:
            return False
        cut = 0.5 * (s_prev + s_new)
        first, second = substring(design, 0.0, cut), substring(design, cut, design.length)
        keep_first = s_prev < cut
        m = np.flatnonzero(roads.seg_line == li)
        mid = shapely.line_interpolate_point(roads.seg_m[m], 0.5, normalized=True)
        s_mid = shapely.line_locate_point(design, mid)
        moved = m[(s_mid >= cut) if keep_first else (s_mid < cut)]
        if len(moved) == 0 or len(moved) == len(m):
            return False
        lines[li].design = _longest_line(first if keep_first else second)
        lines.append(_Line(_longest_line(second if keep_first else first), lines[li].klass,
                           lines[li].orient,
                           lines[li].width, name))
        roads.seg_line[moved] = len(lines) - 1
        cache.pop(li, None)
        named[name] = len(lines) - 1
        return True

    def take(name: str, tiers: tuple[tuple[str, ...], ...], radius: float) -> bool:
        _n, _lon, _lat, orient, _k = anchors[name]
        p = anchor_pt[name]
        for classes in tiers:
            best, best_d = -1, radius
            for li in live():
                ln = lines[li]
                if ln.name is not None or ln.klass not in classes:
                    continue
                if orient and ln.orient != orient:
                    continue
                d = present(li).distance(p)
                if d < best_d:
                    best, best_d = li, d
            if best >= 0:
                lines[best].name = name
                named[name] = best
                return True
        return False

    # 1. Anchored names of the upper classes; 2. remaining upper-class lines.
    for name, *_rest, klass in nm.ROAD_ANCHORS:
        if klass != "branch" and name not in named and not split_chain(name):
            take(name, _ANCHOR_TIERS[klass], nm.ANCHOR_RADIUS_M)
    # Later chain sections stay for step 3, where they are cut from their street.
    left = [n for n in nm.ROAD_NAMES if n not in named and n not in chain_prev]
    upper = sorted((li for li in live()
                    if lines[li].klass in ("arterial", "secondary") and lines[li].name is None),
                   key=lambda li: (-present(li).length, li))
    for li in upper:
        if not left:
            break
        g = present(li)
        chosen = left.pop(int(np.argmin([g.distance(anchor_pt[n]) for n in left])))
        lines[li].name = chosen
        named[chosen] = li
    # 3. Branch names near their anchors, 4. anywhere on long branches.
    for name in list(left):
        if name not in named and not split_chain(name):
            take(name, _ANCHOR_TIERS["branch"], nm.ANCHOR_RADIUS_M)
    left = [n for n in nm.ROAD_NAMES if n not in named]
    left = [left[k] for k in rng.permutation(len(left))]
    for name in left:
        cands = [li for li in live() if lines[li].klass == "branch" and lines[li].name is None
                 and present(li).length > 800.0]
        if not cands:
            break
        d = [present(li).distance(anchor_pt[name]) for li in cands]
        li = cands[int(np.argmin(d))]
        lines[li].name = name
        named[name] = li

    named_lines = [li for li in live() if lines[li].name is not None]
    roads.named_line = np.asarray(named_lines, dtype=np.int64)
    roads.named_geom_m = np.asarray([present(li) for li in named_lines], dtype=object)


# --------------------------------------------------------------------------- buildings


@dataclass
class _Buildings:
    frame: gpd.GeoDataFrame
    geom_m: GeomArray
    community: IntArray
    free_xy: FloatArray  # metric centres of unused candidate plots
    free_community: IntArray


def _rects(cx: FloatArray, cy: FloatArray, w: FloatArray, h: FloatArray,
           angle: FloatArray) -> GeomArray:
    c, s = np.cos(angle), np.sin(angle)
    dx = np.array([-1, 1, 1, -1, -1])[None, :] * (w / 2)[:, None]
    dy = np.array([-1, -1, 1, 1, -1])[None, :] * (h / 2)[:, None]
    x = cx[:, None] + dx * c[:, None] - dy * s[:, None]
    y = cy[:, None] + dx * s[:, None] + dy * c[:, None]
    return np.asarray(shapely.polygons(np.stack([x, y], axis=2)))


def _fit(w: FloatArray, h: FloatArray, angle: FloatArray,
         room: float) -> tuple[FloatArray, FloatArray]:
    """Shrink w×h so the rotated rectangle's bounding box fits in ``room``."""
    c, s = np.abs(np.cos(angle)), np.abs(np.sin(angle))
    k = np.minimum(1.0, np.minimum(room / (w * c + h * s), room / (w * s + h * c)))
    return w * k, h * k


def _candidates(real: _Real, water: _Water, terrain: Terrain, roads: _Roads,
                rng: np.random.Generator) -> tuple[GeomArray, FloatArray, npt.NDArray[np.bool_]]:
    """Candidate footprints on a 40 m lattice (one large or up to four small per cell).

    Returns footprints (metric), their sampling weight and whether each is a
    small (subdivided) plot. Plots never overlap: each rectangle stays inside
    its own cell with a gap.
    """
    om = real.outline_m
    pitch = 40.0
    minx, miny, maxx, maxy = om.bounds
    ox, oy = rng.uniform(0, pitch, size=2)
    xs = np.arange(minx - pitch + ox, maxx + pitch, pitch)
    ys = np.arange(miny - pitch + oy, maxy + pitch, pitch)
    gx, gy = np.meshgrid(xs, ys)
    cx, cy = gx.ravel() + pitch / 2, gy.ravel() + pitch / 2
    shapely.prepare(om)
    inside = shapely.contains_xy(om, cx, cy)
    cx, cy = cx[inside], cy[inside]
    lon, lat = from_metric(cx, cy)
    z = terrain.elevation_at(lon, lat)
    low = z < 150.0
    cx, cy = cx[low], cy[low]

    # Every cell offers one large plot and, as the alternative, four small ones.
    n_cell = len(cx)
    angle = rng.normal(0.0, 0.05, size=n_cell)
    lw = rng.uniform(14.0, 33.0, size=n_cell)
    lh = rng.uniform(12.0, 30.0, size=n_cell)
    lw, lh = _fit(lw, lh, angle, pitch - 6.0)
    q = np.array([[-1, -1], [1, -1], [-1, 1], [1, 1]]) * pitch / 4
    sx = (cx[:, None] + q[None, :, 0]).ravel()
    sy = (cy[:, None] + q[None, :, 1]).ravel()
    sa = np.repeat(angle, 4)
    sw = rng.uniform(7.0, 16.0, size=len(sx))
    sh = rng.uniform(7.0, 16.0, size=len(sx))
    sw, sh = _fit(sw, sh, sa, pitch / 2 - 3.0)
    large = _rects(cx, cy, lw, lh, angle)
    smalls = _rects(sx, sy, sw, sh, sa)

    # No building in the water or in the reservoir's protection belt (水源保护区).
    obstacles = [water.shenzhen_m, water.buji_m, water.reservoir_m.buffer(150.0)]
    klass = [roads.lines[k].klass for k in roads.seg_line]
    width = np.array([roads.lines[k].width for k in roads.seg_line])
    setback = np.array([_CLASS_SETBACK[k] for k in klass])
    buffers = shapely.buffer(roads.seg_m, width / 2 + setback, quad_segs=2)
    tree = shapely.STRtree(np.asarray([*buffers, *obstacles], dtype=object))

    def fits(r: GeomArray) -> npt.NDArray[np.bool_]:
        ok = shapely.contains(om, r)
        hit, _ = tree.query(r, predicate="intersects")
        ok[np.unique(hit)] = False
        return np.asarray(ok)

    ok_large = fits(large)
    ok_small = fits(smalls).reshape(n_cell, 4)
    # Small plots (城中村 handshake buildings, old estates) dominate the old town;
    # a large plot cut by a road falls back to the small plots that fit.
    ox_, oy_ = _metric_point(*_OLD_TOWN)
    p_split = 0.25 + 0.6 * np.exp(-np.hypot(cx - ox_, cy - oy_) / 2500.0)
    use_large = ok_large & (rng.uniform(size=n_cell) >= p_split)
    take_small = ok_small & ~use_large[:, None]
    rects = np.concatenate([large[use_large], smalls[take_small.ravel()]])
    fx = np.concatenate([cx[use_large], sx[take_small.ravel()]])
    fy = np.concatenate([cy[use_large], sy[take_small.ravel()]])
    small = np.concatenate([np.zeros(int(use_large.sum()), bool),
                            np.ones(int(take_small.sum()), bool)])
    lon, lat = from_metric(fx, fy)
    z = terrain.elevation_at(lon, lat)
    weight = _urban_weight(fx, fy, terrain) * np.clip(1.0 - z / 150.0, 0.0, 1.0) ** 2
    return rects, np.maximum(weight, 1e-6), small


def _sample(weight: FloatArray, n: int, rng: np.random.Generator) -> IntArray:
    """Weighted sample without replacement (Efraimidis-Spirakis keys), sorted indices."""
    if n >= len(weight):
        return np.arange(len(weight), dtype=np.int64)
    keys = np.log(rng.uniform(size=len(weight))) / weight
    top = np.argpartition(-keys, n - 1)[:n]
    return np.sort(top).astype(np.int64)


def _blocks(real: _Real, roads: _Roads) -> GeomArray:
    noded = shapely.union_all(np.asarray([*roads.seg_m, real.outline_m.exterior], dtype=object),
                              grid_size=ROAD_GRID_M)
    return np.asarray(shapely.get_parts(shapely.polygonize(shapely.get_parts(noded))))


def _house_numbers(road: IntArray, s: FloatArray, side: IntArray) -> IntArray:
    """Numbers by position along the road: odd on the left, even on the right, unique."""
    n = len(road)
    out = np.zeros(n, dtype=np.int64)
    order = np.lexsort((s, side, road))
    r, sd, ss = road[order], side[order], s[order]
    start = np.r_[True, (r[1:] != r[:-1]) | (sd[1:] != sd[:-1])]
    grp = np.cumsum(start) - 1
    first = np.flatnonzero(start)
    rank = np.arange(n) - first[grp]
    base = 2 * np.floor(ss / 20.0).astype(np.int64) + np.where(sd == 0, 1, 2)
    # Strictly increasing by at least 2 within a side: n_i = 2 i + cummax(b_j - 2 j).
    v = base - 2 * rank
    cm = pd.Series(v).groupby(grp).cummax().to_numpy()
    out[order] = 2 * rank + cm
    return out


def _build_buildings(real: _Real, water: _Water, terrain: Terrain, roads: _Roads,
                     admin: _AdminIndex, seed: int, n: int) -> _Buildings:
    rng = np.random.default_rng([seed, STAGE_BUILDINGS])
    rects, weight, small = _candidates(real, water, terrain, roads, rng)
    pick = _sample(weight, n, rng)
    chosen = np.zeros(len(rects), dtype=bool)
    chosen[pick] = True
    geom_m = rects[pick]
    small_b = small[pick]
    n = len(geom_m)

    geom = np.asarray(_to_wgs(geom_m))
    rp = shapely.point_on_surface(geom)
    com = admin.community_of(rp)
    rp_m = shapely.get_coordinates(_to_metric(rp))
    cxy = shapely.get_coordinates(shapely.centroid(geom_m))
    footprint = np.round(shapely.area(geom_m), 1)

    # Estates: buildings of one street block within a 144 m cell.
    blocks = _blocks(real, roads)
    bi, bb = shapely.STRtree(blocks).query(shapely.points(cxy), predicate="within")
    block = np.full(n, -1, dtype=np.int64)
    block[bi] = bb
    cell = (np.floor(cxy[:, 0] / 144.0).astype(np.int64) * 100003
            + np.floor(cxy[:, 1] / 144.0).astype(np.int64))
    key = pd.DataFrame({"block": block, "cell": cell})
    estate = key.groupby(["block", "cell"], sort=True).ngroup().to_numpy()
    n_est = int(estate.max()) + 1

    # Estate use from its location.
    rng_a = np.random.default_rng([seed, STAGE_BUILDING_ATTRS])
    ex = pd.Series(cxy[:, 0]).groupby(estate).mean().to_numpy()
    ey = pd.Series(cxy[:, 1]).groupby(estate).mean().to_numpy()
    sizes = pd.DataFrame({"estate": estate, "com": com}).groupby(["estate", "com"]).size()
    ec = sizes.reset_index(name="n").sort_values(["estate", "n", "com"],
                                                  ascending=[True, False, True], kind="mergesort")
    est_com = ec.drop_duplicates("estate")["com"].to_numpy()
    est_sub_code = real.coms["subdistrict_code"].to_numpy()[est_com]
    dx, dy = _metric_point(*_DONGMEN)
    near_dongmen = np.hypot(ex - dx, ey - dy) < 700.0
    corridor = np.zeros(n_est, dtype=bool)
    for li, g in zip(roads.named_line, roads.named_geom_m, strict=True):
        if roads.lines[li].name in ("深南东路", "人民南路"):
            corridor |= shapely.distance(shapely.points(ex, ey), g) < 350.0
    cbd_x, cbd_y = _metric_point(*_CBD)
    central = np.exp(-np.hypot(ex - cbd_x, ey - cbd_y) / 2500.0)
    industrial_sub = np.isin(est_sub_code, ["440303006", "440303010"])
    p = np.zeros((n_est, len(USES)))
    p[:, 1] = np.where(corridor, 0.40, 0.03 + 0.06 * central)  # office
    p[:, 2] = np.where(near_dongmen, 0.30, 0.06)  # commercial
    p[:, 3] = np.where(industrial_sub, 0.32, np.where(est_sub_code == "440303009", 0.10, 0.015))
    p[:, 4] = 0.05  # public
    p[:, 5] = 0.06  # mixed
    p[:, 0] = np.maximum(1.0 - p[:, 1:].sum(axis=1), 0.05)
    p /= p.sum(axis=1, keepdims=True)
    u = rng_a.uniform(size=n_est)[:, None]
    est_use = (u > np.cumsum(p, axis=1)).sum(axis=1)
    use = est_use[estate].copy()
    # Some buildings of an estate differ: shops, a school, a mixed podium tower.
    odd = rng_a.uniform(size=n) < 0.10
    use[odd] = rng_a.choice([2, 4, 5], size=int(odd.sum()))
    # Tiny plots are houses in urban villages, never offices or factories.
    tiny = small_b & (footprint < 120.0) & np.isin(use, [1, 3])
    use[tiny] = 0
    use_name = np.array(USES)[use]

    # Floors by use, plot size and centrality.
    bx, by = cxy[:, 0], cxy[:, 1]
    cen = np.exp(-np.hypot(bx - cbd_x, by - cbd_y) / 2500.0)
    r = rng_a.uniform(size=n)
    floors = np.select(
        [use == 0, use == 1, use == 2, use == 3, use == 4, use == 5],
        [np.where(small_b, 4 + np.floor(r * 6), 7 + np.floor(r * (18 + 16 * cen))),
         12 + np.floor(r * (14 + 34 * cen)),
         np.where(small_b, 2 + np.floor(r * 4), 3 + np.floor(r * (6 + 20 * cen))),
         3 + np.floor(r * 6),
         2 + np.floor(r * 6),
         8 + np.floor(r * (12 + 20 * cen))],
    )
    floors = np.clip(floors, 1, 60).astype(np.int64)
    height = np.round(floors * 3.2 + rng_a.uniform(0.0, 1.5, size=n), 1)

    # Years: the old town is older; a few percent are new (2019-2025).
    ox_, oy_ = _metric_point(*_OLD_TOWN)
    old = np.exp(-np.hypot(bx - ox_, by - oy_) / 3000.0)
    year = np.round(1980 + 38 * rng_a.beta(1.3 + 1.5 * (1 - old), 2.2 + 1.0 * old)).astype(np.int64)
    year = np.where(use == 1, np.maximum(year, 1988), year)
    new = rng_a.uniform(size=n) < 0.055
    year[new] = rng_a.integers(2019, 2026, size=int(new.sum()))
    year = np.clip(year, 1980, 2025)
    month = rng_a.integers(1, 13, size=n)
    day = rng_a.integers(1, 29, size=n)
    valid_from = [f"{y}-{m:02d}-{d:02d}" for y, m, d in zip(year, month, day, strict=True)]
    demolished = (rng_a.uniform(size=n) < 0.01) & (year <= 2016)
    dy_ = rng_a.integers(2019, 2026, size=n)
    dm = rng_a.integers(1, 13, size=n)
    dd = rng_a.integers(1, 29, size=n)
    valid_to: list[str | None] = [f"{y}-{m:02d}-{d:02d}" if k else None
                                  for y, m, d, k in zip(dy_, dm, dd, demolished, strict=True)]

    # Estate names and building numbers.
    rng_e = np.random.default_rng([seed, STAGE_ESTATES])
    est_use_name = [USES[k] for k in est_use]
    est_names = np.array(nm.estate_names(est_use_name, rng_e))
    order = np.lexsort((-by, bx, estate))  # within an estate: west → east, then north
    rank = np.zeros(n, dtype=np.int64)
    start = np.r_[True, estate[order][1:] != estate[order][:-1]]
    grp = np.cumsum(start) - 1
    rank[order] = np.arange(n) - np.flatnonzero(start)[grp]
    est_size = np.bincount(estate, minlength=n_est)
    letter = np.isin(np.array(est_use_name), nm.LETTER_USES)[estate] & (est_size[estate] <= 26)
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    building_no = np.where(letter, letters[np.minimum(rank, 25)], (rank + 1).astype(str))
    unit = np.where(letter, "座", "栋")
    estate_name = est_names[estate]
    name = np.char.add(np.char.add(estate_name.astype(str), building_no.astype(str)), unit)

    # Address: nearest named road, number by position along it.
    named_seg = np.flatnonzero(np.isin(roads.seg_line, roads.named_line))
    near = shapely.STRtree(roads.seg_m[named_seg]).query_nearest(shapely.points(rp_m),
                                                                 all_matches=False)[1]
    road_line = roads.seg_line[named_seg[near]]
    design = np.asarray([roads.lines[k].design for k in road_line], dtype=object)
    pts = shapely.points(rp_m)
    s = shapely.line_locate_point(design, pts)
    p0 = shapely.get_coordinates(shapely.line_interpolate_point(design, s))
    p1 = shapely.get_coordinates(shapely.line_interpolate_point(design, s + 1.0))
    p_1 = shapely.get_coordinates(shapely.line_interpolate_point(design, np.maximum(s - 1.0, 0)))
    tdir = p1 - p_1
    cross = tdir[:, 0] * (rp_m[:, 1] - p0[:, 1]) - tdir[:, 1] * (rp_m[:, 0] - p0[:, 0])
    side = np.where(cross >= 0, 0, 1)  # 0 = left (odd), 1 = right (even)
    number = _house_numbers(road_line, s, side)
    road_name = np.array([roads.lines[k].name for k in road_line], dtype=object)

    sub_code = real.coms["subdistrict_code"].to_numpy()[com]
    com_code = real.coms["community_code"].to_numpy()[com]
    sub_name = real.coms["subdistrict_name"].to_numpy()[com]
    com_short = real.coms["community_short_name"].to_numpy()[com]
    house_number = number.astype(str)
    address = [
        f"广东省深圳市{DISTRICT_NAME}{sn}{cs}{rn}{hn}号{en}{bn}{un}"
        for sn, cs, rn, hn, en, bn, un in zip(sub_name, com_short, road_name, house_number,
                                              estate_name, building_no, unit, strict=True)
    ]
    ids = [f"B{k:06d}" for k in range(1, n + 1)]
    address_id = [f"A{k:010d}" for k in range(1, n + 1)]
    frame = _frame("building", {
        "id": ids, "address_id": address_id, "subdistrict_code": sub_code,
        "community_code": com_code, "valid_from": valid_from, "valid_to": valid_to,
        "name": name, "estate": estate_name, "building_no": building_no, "use": use_name,
        "floors": floors, "height_m": height, "year_built": year, "footprint_m2": footprint,
        "floor_area_m2": np.round(footprint * floors, 1), "road": road_name,
        "house_number": house_number, "address": address,
    }, geom)
    free = ~chosen
    free_xy = shapely.get_coordinates(shapely.centroid(rects[free]))
    free_com = admin.community_of(_to_wgs(shapely.points(free_xy))) if len(free_xy) else \
        np.zeros(0, dtype=np.int64)
    return _Buildings(frame=frame, geom_m=geom_m, community=com, free_xy=free_xy,
                      free_community=free_com)


# --------------------------------------------------------------------------- facilities


def _build_facilities(real: _Real, part: _Partition, admin: _AdminIndex, bld: _Buildings,
                      seed: int, n_parking: int) -> gpd.GeoDataFrame:
    rng = np.random.default_rng([seed, STAGE_FACILITIES])
    b = bld.frame
    b_xy = shapely.get_coordinates(shapely.centroid(bld.geom_m))
    b_com = bld.community
    b_sub = real.coms["subdistrict_code"].to_numpy()[b_com]
    b_current = b["valid_to"].isna().to_numpy() & (b["year_built"].to_numpy() <= 2018)
    b_use = b["use"].to_numpy()
    used_b = np.zeros(len(b), dtype=bool)
    used_f = np.zeros(len(bld.free_xy), dtype=bool)
    com_sub_code = real.coms["subdistrict_code"].to_numpy()
    rows: list[dict[str, Any]] = []

    def add(name: str, ftype: str, capacity: int, xy: FloatArray | None, bidx: int,
            since: str) -> None:
        rows.append({"name": name, "facility_type": ftype, "capacity": int(capacity),
                     "xy": xy, "b": bidx, "since": since})

    def in_building(target: FloatArray, mask: npt.NDArray[np.bool_],
                    max_d: float = np.inf) -> int:
        cand = np.flatnonzero(mask & ~used_b & b_current)
        if len(cand) == 0:
            return -1
        d = ((b_xy[cand] - target) ** 2).sum(axis=1)
        k = int(np.argmin(d))
        if d[k] > max_d ** 2:
            return -1
        used_b[cand[k]] = True
        return int(cand[k])

    def on_plot(target: FloatArray, mask: npt.NDArray[np.bool_]) -> FloatArray | None:
        cand = np.flatnonzero(mask & ~used_f)
        if len(cand) == 0:
            return None
        k = int(cand[np.argmin(((bld.free_xy[cand] - target) ** 2).sum(axis=1))])
        used_f[k] = True
        return np.asarray(bld.free_xy[k])

    def unit_point(geom: BaseGeometry) -> FloatArray:
        return np.asarray(shapely.get_coordinates(_to_metric(shapely.point_on_surface(geom)))[0])

    not_ind = b_use != "industrial"
    # District service centre.
    dname, dlon, dlat = nm.DISTRICT_CENTRE
    target = np.array(_metric_point(dlon, dlat))
    bi = in_building(target, not_ind & np.isin(b_use, ["public", "office", "mixed"]), 1500.0)
    add(dname, "district_service_centre", 2000, None if bi >= 0 else target, bi, "2016-01-01")
    # Subdistrict service centres.
    for k in range(len(real.subs)):
        row = real.subs.iloc[k]
        alon, alat = _anchor(real, row["subdistrict_name"])
        # The anchor is the target when it lies in the (synthetic) subdistrict.
        if shapely.contains_xy(part.sub_geom[k], alon, alat):
            tgt = np.array(_metric_point(alon, alat))
        else:
            tgt = unit_point(part.sub_geom[k])
        bi = in_building(tgt, not_ind & (b_sub == row["subdistrict_code"]))
        xy = None if bi >= 0 else unit_point(part.sub_geom[k])
        add(f"{row['subdistrict_name']}党群服务中心", "subdistrict_service_centre",
            int(rng.integers(200, 600)), xy, bi, "2018-01-01")
    # Community stations.
    for j in range(len(real.coms)):
        row = real.coms.iloc[j]
        tgt = unit_point(part.com_geom[j])
        bi = in_building(tgt, not_ind & (b_com == j))
        add(f"{row['community_short_name']}党群服务中心", "community_station",
            int(rng.integers(30, 150)), None if bi >= 0 else tgt, bi, "2018-01-01")
    # Fire stations: surface plots near the subdistrict centre.
    for place in nm.FIRE_STATION_PLACES:
        k = int(np.flatnonzero(real.subs["short_name"].to_numpy() == place)[0])
        tgt = unit_point(part.sub_geom[k])
        fmask = com_sub_code[bld.free_community] == real.subs["subdistrict_code"].iloc[k]
        xy = on_plot(tgt, fmask)
        add(f"{place}消防救援站", "fire_station", int(rng.integers(4, 11)),
            xy if xy is not None else tgt, -1, f"{int(rng.integers(1990, 2016))}-01-01")
    # Hospitals.
    for hname, hlon, hlat, beds in nm.HOSPITALS:
        tgt = np.array(_metric_point(hlon, hlat))
        bi = in_building(tgt, np.isin(b_use, ["public", "mixed", "office"]), 800.0)
        xy = None
        if bi < 0:
            xy = on_plot(tgt, np.ones(len(bld.free_xy), dtype=bool))
            xy = xy if xy is not None else tgt
        add(hname, "hospital", beds, xy, bi, f"{int(rng.integers(1985, 2005))}-01-01")
    # Community health centres and schools, each in a community of its own.
    n_com = len(real.coms)
    for j in np.sort(rng.choice(n_com, size=min(40, n_com), replace=False)):
        row = real.coms.iloc[int(j)]
        tgt = unit_point(part.com_geom[int(j)])
        bi = in_building(tgt, not_ind & (b_com == int(j)) & (b_use != "office"))
        xy = None
        if bi < 0:
            xy = on_plot(tgt, bld.free_community == int(j))
            xy = xy if xy is not None else tgt
        add(f"{row['community_short_name']}健康服务中心", "health_centre",
            int(rng.integers(10, 60)), xy, bi, f"{int(rng.integers(2000, 2019))}-01-01")
    for level, count, students in (("小学", 55, (900, 2600)), ("中学", 25, (1200, 3200))):
        for j in np.sort(rng.choice(n_com, size=min(count, n_com), replace=False)):
            row = real.coms.iloc[int(j)]
            tgt = unit_point(part.com_geom[int(j)])
            xy = on_plot(tgt, bld.free_community == int(j))
            place = str(row["community_short_name"]).removesuffix("社区")
            add(f"{DISTRICT_NAME}{place}{level}", "school", int(rng.integers(*students)),
                xy if xy is not None else tgt, -1, f"{int(rng.integers(1982, 2016))}-09-01")
    # Parking: half under buildings, half surface lots.
    n_in = n_parking // 2
    eligible = np.flatnonzero(np.isin(b_use, ["residential", "office", "commercial", "mixed"])
                              & b_current & ~used_b & (b["floors"].to_numpy() >= 6))
    pick = np.sort(rng.choice(eligible, size=min(n_in, len(eligible)), replace=False))
    for bi in pick:
        used_b[bi] = True
        cap = int(np.clip(b["floor_area_m2"].iloc[int(bi)] / 120.0, 50, 1500))
        add(f"{b['estate'].iloc[int(bi)]}停车场", "parking", cap, None, int(bi),
            f"{max(int(b['year_built'].iloc[int(bi)]), 1995)}-01-01")
    n_out = n_parking - len(pick)
    free_idx = np.flatnonzero(~used_f)
    lots = np.sort(rng.choice(free_idx, size=min(n_out, len(free_idx)), replace=False))
    for k, fi in enumerate(lots, start=1):
        used_f[fi] = True
        add(f"公共停车场{k:03d}号", "parking", int(rng.integers(50, 400)), bld.free_xy[fi], -1,
            f"{int(rng.integers(2000, 2019))}-01-01")

    # Geometry, codes, building links.
    n = len(rows)
    bidx = np.array([r["b"] for r in rows], dtype=np.int64)
    b_rp = _round7(shapely.point_on_surface(b.geometry.to_numpy()))
    pts_wgs = np.empty(n, dtype=object)
    for k, r in enumerate(rows):
        if r["b"] >= 0:
            pts_wgs[k] = b_rp[r["b"]]
        else:
            pts_wgs[k] = _to_wgs(shapely.Point(r["xy"]))
    com = admin.community_of(pts_wgs)
    in_b = bidx >= 0
    com = np.where(in_b, bld.community[np.maximum(bidx, 0)], com)
    b_ids = b["id"].to_numpy()
    b_addr = b["address_id"].to_numpy()
    b_from = b["valid_from"].to_numpy()
    since = [max(r["since"], str(b_from[r["b"]])) if r["b"] >= 0 else r["since"] for r in rows]
    return _frame("facility", {
        "id": [f"F{k:05d}" for k in range(1, n + 1)],
        "address_id": [b_addr[i] if i >= 0 else None for i in bidx],
        "subdistrict_code": real.coms["subdistrict_code"].to_numpy()[com],
        "community_code": real.coms["community_code"].to_numpy()[com],
        "valid_from": since,
        "name": [r["name"] for r in rows],
        "facility_type": [r["facility_type"] for r in rows],
        "capacity": [r["capacity"] for r in rows],
        "building_id": [b_ids[i] if i >= 0 else None for i in bidx],
    }, pts_wgs)


# --------------------------------------------------------------------------- frames


def _district_frame(part: _Partition) -> gpd.GeoDataFrame:
    return _frame("district", {
        "id": [DISTRICT_CODE], "valid_from": [STATIC_VALID_FROM], "code": [DISTRICT_CODE],
        "name": [DISTRICT_NAME],
    }, [_as_multipolygon(part.district)])


def _subdistrict_frame(real: _Real, part: _Partition) -> gpd.GeoDataFrame:
    s = real.subs
    return _frame("subdistrict", {
        "id": s["subdistrict_code"], "subdistrict_code": s["subdistrict_code"],
        "valid_from": [STATIC_VALID_FROM] * len(s), "code": s["subdistrict_code"],
        "name": s["subdistrict_name"], "short_name": s["short_name"], "pinyin": s["pinyin"],
        "area_km2": np.round(part.sub_area_km2, 4),
    }, [_as_multipolygon(g) for g in part.sub_geom])


def _community_frame(real: _Real, part: _Partition) -> gpd.GeoDataFrame:
    c = real.coms
    return _frame("community", {
        "id": c["community_code"], "subdistrict_code": c["subdistrict_code"],
        "community_code": c["community_code"], "valid_from": [STATIC_VALID_FROM] * len(c),
        "code": c["community_code"], "name": c["community_name"],
        "short_name": c["community_short_name"], "area_km2": np.round(part.com_area_km2, 4),
    }, [_as_multipolygon(g) for g in part.com_geom])


def _grid_frame(real: _Real, part: _Partition) -> gpd.GeoDataFrame:
    c = real.coms
    com_code = c["community_code"].to_numpy()[part.grid_com]
    short = c["community_short_name"].to_numpy()[part.grid_com]
    code = [f"{cc}{k:02d}" for cc, k in zip(com_code, part.grid_no, strict=True)]
    return _frame("grid", {
        "id": code, "subdistrict_code": c["subdistrict_code"].to_numpy()[part.grid_com],
        "community_code": com_code, "valid_from": [STATIC_VALID_FROM] * len(code),
        "code": code,
        "name": [f"{s}第{k:02d}网格" for s, k in zip(short, part.grid_no, strict=True)],
        "area_km2": np.round(part.grid_area_km2, 5),
    }, [_as_multipolygon(g) for g in part.grid_geom])


def _road_frame(roads: _Roads, admin: _AdminIndex) -> gpd.GeoDataFrame:
    lines = roads.lines
    geom = np.asarray(_to_wgs(roads.seg_m))
    mid = shapely.line_interpolate_point(geom, 0.5, normalized=True)
    com = admin.community_of(mid)
    n = len(geom)
    return _frame("road", {
        "id": [f"R{k:06d}" for k in range(1, n + 1)],
        "subdistrict_code": admin.com_sub_code[com],
        "community_code": admin.com_code[com],
        "valid_from": [STATIC_VALID_FROM] * n,
        "name": [lines[k].name for k in roads.seg_line],
        "road_class": [lines[k].klass for k in roads.seg_line],
        "width_m": [lines[k].width for k in roads.seg_line],
        "length_m": np.round(shapely.length(roads.seg_m), 2),
        "from_node": roads.from_node, "to_node": roads.to_node,
    }, geom)


def _water_frame(water: _Water, admin: _AdminIndex) -> gpd.GeoDataFrame:
    items = [("W01", "深圳河", "river", water.shenzhen_m), ("W02", "布吉河", "river", water.buji_m),
             ("W03", "深圳水库", "reservoir", water.reservoir_m)]
    geoms = [_as_multipolygon(_to_wgs(g)) for *_, g in items]
    sub_code: list[str | None] = []
    com_code: list[str | None] = []
    part = admin.part
    for g in geoms:
        share = shapely.area(shapely.intersection(part.com_geom, g)) / g.area
        j = int(np.argmax(share))
        com_code.append(admin.com_code[j] if share[j] > 0.99 else None)
        sshare = shapely.area(shapely.intersection(part.sub_geom, g)) / g.area
        k = int(np.argmax(sshare))
        sub_code.append(admin.sub_code[k] if sshare[k] > 0.99 else None)
    return _frame("water", {
        "id": [i for i, *_ in items], "subdistrict_code": sub_code, "community_code": com_code,
        "valid_from": [STATIC_VALID_FROM] * len(items), "name": [nme for _, nme, *_ in items],
        "water_type": [t for _, _, t, _ in items],
    }, geoms)

"""City-scale demo: every Shenzhen district, one partition per district.

The Luohu generator (:mod:`data.synth.geography`, :mod:`~data.synth.people`,
:mod:`~data.synth.activity`) is reused unchanged. For another district the
module-level Luohu inputs it reads (outline, subdistrict and community codes,
anchor points, the summit the terrain is scaled to, the district's name, code
and service centre) are swapped for that district's while its partition is
generated (:func:`district_inputs`), so every district follows the same
realism rules. Luohu itself is generated with nothing swapped: its partition
is exactly the ``onemap demo build`` content for the same seed and scale.

Counts follow Luohu's per-resident densities: a district of ``P`` residents
gets the building, house, enterprise and event stock Luohu gets at
``scale * P / P_luohu``, and exactly ``round(P * scale)`` census residents.

Large districts (more than :data:`LARGE_POPULATION` residents) are split further:
one task builds the district's geography, sensors and readings, then one task per
H3 res-6 parent of its buildings builds the houses, persons, enterprises,
industrial spaces and events of the buildings in that cell (:func:`generate_piece`),
each with its own seed, so a piece can be rebuilt alone from the geography on disk.

Known simplifications (documented in docs/scale.md): road names and
landmark-driven features (布吉河's course, the 梧桐山 trails) keep Luohu's
names/positions, clipped to the district; the terrain summit is placed at a
seeded point of the district.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import shape

from address.gazetteer import community_name

REAL_DIR = Path(__file__).resolve().parent.parent / "real"
LUOHU = "440303"
LUOHU_POPULATION = 1_143_801

#: Kinds written per district, in build order (readings carry no geometry).
KINDS = ("district", "subdistrict", "community", "grid", "road", "water", "building",
         "facility", "house", "person", "enterprise", "industrial_space", "event", "sensor",
         "reading")

# Local ids such as ``B000001`` or ``A0000000017-0111``; prefixed with the district code
# outside Luohu so ids stay unique city-wide (Luohu keeps its ids unchanged).
_LOCAL_ID = re.compile(r"^[A-Z]{1,2}\d{2,}(-\d+)?$")

#: Districts with more census residents than this are built per H3 res-6 parent.
LARGE_POPULATION = 2_000_000
#: Resolution of the sub-partitions of large districts.
PIECE_RES = 6
#: Kinds written by the geography task of a split district (part ``0``).
GEO_KINDS = ("district", "subdistrict", "community", "grid", "road", "water", "building",
             "facility", "sensor", "reading")
#: Kinds written per H3 res-6 piece of a split district.
PIECE_KINDS = ("house", "person", "enterprise", "industrial_space", "event")

# Ids a piece task generates itself (houses, persons, households, enterprises, spaces,
# events): they get the piece's tag as well, the ids it reads (buildings, roads,
# addresses) already carry the district code.
_PIECE_ID = re.compile(r"^(?:[HPEF]\d{7}|V\d{8}|S\d{5})$")

# The swap below changes module globals: one partition at a time per process.
_SWAP_LOCK = threading.Lock()


class CityError(ValueError):
    """An unknown area name or code."""


@dataclass(frozen=True)
class District:
    """One Shenzhen district: code, Chinese name, pinyin key."""

    code: str
    name: str
    key: str


DISTRICTS: tuple[District, ...] = (
    District("440303", "罗湖区", "luohu"), District("440304", "福田区", "futian"),
    District("440305", "南山区", "nanshan"), District("440306", "宝安区", "baoan"),
    District("440307", "龙岗区", "longgang"), District("440308", "盐田区", "yantian"),
    District("440309", "龙华区", "longhua"), District("440310", "坪山区", "pingshan"),
    District("440311", "光明区", "guangming"),
)


def parse_area(area: str) -> list[District]:
    """``"shenzhen"`` → all nine districts; ``"luohu,futian"`` (keys, codes or names) → those."""
    text = area.strip().lower()
    if text in ("shenzhen", "all", "440300"):
        return list(DISTRICTS)
    out: list[District] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        hit = [d for d in DISTRICTS if part in (d.key, d.code, d.name, d.name[:-1])]
        if not hit:
            raise CityError(f"unknown area {part!r}; use shenzhen or district keys "
                            f"({', '.join(d.key for d in DISTRICTS)})")
        if hit[0] not in out:
            out.append(hit[0])
    if not out:
        raise CityError("empty area")
    return out


def partition_seed(seed: int, district: District) -> int:
    """Deterministic seed of one district partition (Luohu keeps ``seed`` itself)."""
    if district.code == LUOHU:
        return seed
    return int(np.random.SeedSequence([seed, int(district.code)]).generate_state(1)[0])


def population(district: District) -> int:
    """The district's 2020 census resident population."""
    from data.synth import census

    return census.load_census(district.name).total


# --------------------------------------------------------------------------- input swap


def _district_real(district: District, seed: int) -> Any:
    """The ``_Real`` inputs of ``district`` in the shape geography expects."""
    from data.synth import geography as g

    # Plain JSON + shapely, not gpd.read_file: the workers need no GDAL (pyogrio).
    doc = json.loads((REAL_DIR / "boundaries" / "shenzhen_districts_wgs84.geojson").read_text(
        encoding="utf-8"))
    geom = next(shape(f["geometry"]) for f in doc["features"]
                if str(f["properties"]["adcode"]) == district.code)
    polys = sorted(shapely.get_parts(geom), key=lambda p: -p.area)
    outline = g._round7(polys[0])
    subs = pd.read_csv(REAL_DIR / "admin_divisions" / "shenzhen_subdistricts_nbs2023.csv",
                       dtype=str)
    coms = pd.read_csv(REAL_DIR / "admin_divisions" / "shenzhen_communities_nbs2023.csv",
                       dtype=str)
    coms = coms.loc[coms["district_code"] == district.code]
    # Functional zones without communities of their own cannot be laid out.
    subs = subs.loc[(subs["district_code"] == district.code)
                    & subs["subdistrict_code"].isin(coms["subdistrict_code"])]
    subs = subs.sort_values("subdistrict_code").reset_index(drop=True)
    # Special zones (综合保税区 ...) have no short name or pinyin in the source.
    subs["short_name"] = subs["short_name"].fillna(subs["subdistrict_name"])
    subs["pinyin"] = subs["pinyin"].fillna("")
    # The source's derived columns are shifted by a row for 16 subdistricts (福保街道 has
    # 华强北's short name, 观湖街道 龙华's...): the NBS name is the truth, and a short name
    # that is no part of it is derived from it again (pinyin with it).
    shifted = [short not in name for name, short in
               zip(subs["subdistrict_name"], subs["short_name"], strict=True)]
    if any(shifted):
        from pypinyin import lazy_pinyin

        fixed = subs.loc[shifted, "subdistrict_name"].str.removesuffix("街道")
        subs.loc[shifted, "short_name"] = fixed
        subs.loc[shifted, "pinyin"] = [" ".join(lazy_pinyin(s)) for s in fixed]
    coms = coms.sort_values("community_code").reset_index(drop=True)
    # Standard addresses name every community 某某社区 (盐田's rows are 居委会 with a
    # bare short name); Luohu's table is already so and its build does not pass here.
    coms["community_short_name"] = coms["community_short_name"].map(community_name)
    om = g._to_metric(outline)
    rng = np.random.default_rng([seed, 7001])
    # Subdistrict anchors: spread seeds over the outline (no surveyed centres outside Luohu).
    pts = g._kmeans_seeds(om, len(subs) + 1, rng, lambda x, y: np.ones_like(x))
    wgs = shapely.get_coordinates(g._to_wgs(shapely.points(pts)))
    names = [*subs["subdistrict_name"], "深圳水库"]
    anchors = pd.DataFrame({"name": names, "kind": "subdistrict_centre",
                            "lon": wgs[:, 0], "lat": wgs[:, 1], "note": "synthetic"})
    return g._Real(outline=outline, outline_m=om, subs=subs, coms=coms, anchors=anchors)


@contextlib.contextmanager
def district_inputs(district: District, seed: int) -> Iterator[None]:
    """Swap the generator's Luohu inputs for ``district``'s while the block runs.

    Why a swap and not parameters: the generator reads these as module constants,
    and its modules are edited by others (roads, event texts); wrapping keeps
    罗湖's output byte-identical and the edit surface nil. The lock makes the swap
    safe within a process; Dask workers run one task per process (``--nthreads 1``).
    """
    from data.synth import geography as g
    from data.synth import names as nm
    from data.synth import people, terrain

    if district.code == LUOHU:
        with _SWAP_LOCK:
            yield
        return
    with _SWAP_LOCK:
        real = _district_real(district, seed)
        outline = real.outline
        w, s, e, n = outline.bounds
        bounds = (w - 0.006, s - 0.006, e + 0.006, n + 0.006)
        centre = outline.representative_point()
        anchors = real.anchors
        hill = anchors.iloc[-1]
        saved: dict[tuple[Any, str], Any] = {
            (g, "_load_real"): g._load_real, (g, "DISTRICT_CODE"): g.DISTRICT_CODE,
            (g, "DISTRICT_NAME"): g.DISTRICT_NAME, (g, "build_terrain"): g.build_terrain,
            (g, "_southern_boundary"): g._southern_boundary,
            (g, "_OLD_TOWN"): g._OLD_TOWN, (g, "_CBD"): g._CBD, (g, "_DONGMEN"): g._DONGMEN,
            (terrain, "WUTONG_PEAK"): terrain.WUTONG_PEAK,
            (nm, "DISTRICT_CENTRE"): nm.DISTRICT_CENTRE,
            (nm, "FIRE_STATION_PLACES"): nm.FIRE_STATION_PLACES,
            (nm, "HOSPITALS"): nm.HOSPITALS, (g, "_BUJI_COURSE"): g._BUJI_COURSE,
            (nm, "ROAD_ANCHORS"): nm.ROAD_ANCHORS, (nm, "ROAD_CHAINS"): nm.ROAD_CHAINS,
            (people, "_LUOHU_PREFIX"): people._LUOHU_PREFIX,
        }
        try:
            g._load_real = lambda: real  # type: ignore[assignment]
            g.DISTRICT_CODE, g.DISTRICT_NAME = district.code, district.name
            g._southern_boundary = _southern_boundary  # type: ignore[assignment]
            g.build_terrain = partial(saved[(g, "build_terrain")], bounds=bounds)  # type: ignore
            c = (round(centre.x, 4), round(centre.y, 4))
            g._OLD_TOWN = g._CBD = g._DONGMEN = c
            terrain.WUTONG_PEAK = (float(hill["lon"]), float(hill["lat"]), 400.0)
            nm.DISTRICT_CENTRE = (f"{district.name}政务服务中心", *c)  # type: ignore[misc]
            people._LUOHU_PREFIX = district.code
            # Luohu's street pattern (anchored names) mapped onto the district's bbox.
            nm.ROAD_ANCHORS = tuple(  # type: ignore[misc]
                (a[0], *_map_point(a[1], a[2], outline.bounds), *a[3:])
                for a in saved[(nm, "ROAD_ANCHORS")])
            short = district.name[:-1]
            nm.FIRE_STATION_PLACES = tuple(  # type: ignore[misc]
                real.subs["short_name"].iloc[:len(saved[(nm, "FIRE_STATION_PLACES")])])  # type: ignore
            nm.HOSPITALS = tuple(  # type: ignore[misc]
                (h[0].replace("罗湖", short), *_map_point(h[1], h[2], outline.bounds), h[3])
                for h in saved[(nm, "HOSPITALS")])
            g._BUJI_COURSE = tuple(  # type: ignore[assignment]
                _map_point(x, y, outline.bounds) for x, y in saved[(g, "_BUJI_COURSE")])
            # Chains (人民南路 → 人民北路) are cut from a surveyed street: none elsewhere.
            nm.ROAD_CHAINS = ()  # type: ignore[misc]
            yield
        finally:
            for (mod, attr), value in saved.items():
                setattr(mod, attr, value)


_LUOHU_BOUNDS = (114.0611, 22.5296, 114.2151, 22.6192)


def _map_point(lon: float, lat: float,
               bounds: tuple[float, float, float, float]) -> tuple[float, float]:
    """A Luohu position moved to the same relative place in ``bounds``."""
    w0, s0, e0, n0 = _LUOHU_BOUNDS
    w, s, e, n = bounds
    return (round(w + (lon - w0) / (e0 - w0) * (e - w), 4),
            round(s + (lat - s0) / (n0 - s0) * (n - s), 4))


def _southern_boundary(outline_m: shapely.Polygon) -> shapely.LineString:
    """The southern arc of any outline: between its south-west and south-east corners.

    Luohu's version is keyed to two surveyed points of 深圳河; elsewhere the arc
    between the extreme corners plays the border river's part.
    """
    ring = np.asarray(outline_m.exterior.coords)[:-1]
    n = len(ring)
    ie = int(np.argmax(ring[:, 0] - ring[:, 1]))
    iw = int(np.argmin(ring[:, 0] + ring[:, 1]))
    fwd = [(ie + k) % n for k in range((iw - ie) % n + 1)]
    bwd = [(iw + k) % n for k in range((ie - iw) % n + 1)]
    a, b = ring[fwd], ring[bwd]
    return shapely.LineString(a if a[:, 1].mean() < b[:, 1].mean() else b)


def _prefix_ids(frame: pd.DataFrame, code: str) -> pd.DataFrame:
    """Prefix every local-id column (all values like ``B000001``) with ``code``."""
    for col in frame.columns:
        if col == "geometry" or not pd.api.types.is_string_dtype(frame[col]):
            continue
        vals = frame[col].dropna()
        if len(vals) and all(isinstance(v, str) for v in vals.head(50)) \
                and vals.astype(str).str.match(_LOCAL_ID).all():
            frame[col] = frame[col].where(frame[col].isna(), code + frame[col].astype(str))
    return frame


def generate_district(district: District, seed: int, scale: float) -> dict[str, pd.DataFrame]:
    """All frames of one district partition (same arguments → identical frames)."""
    from data.synth import activity, census, geography, people

    pseed = partition_seed(seed, district)
    pop = population(district)
    stock = scale * pop / LUOHU_POPULATION
    frames: dict[str, pd.DataFrame] = {}
    with district_inputs(district, seed):
        geo = geography.build_geography(pseed, stock)
        frames.update(district=geo.district, subdistrict=geo.subdistricts,
                      community=geo.communities, grid=geo.grids, road=geo.roads,
                      water=geo.water, building=geo.buildings, facility=geo.facilities)
        houses = people.build_houses(geo.buildings, pseed, stock)
        frames["house"] = houses
        frames["person"] = people.build_persons(houses, geo.buildings,
                                                census.load_census(district.name), pseed,
                                                scale)
        frames["enterprise"] = activity.build_enterprises(geo.buildings, houses, pseed, stock)
        frames["industrial_space"] = activity.build_industrial_spaces(geo.buildings, pseed,
                                                                      stock)
        frames["event"] = activity.build_events(geo.buildings, geo.roads, geo.communities,
                                                pseed, stock)
        sensors = activity.build_sensors(geo.roads, geo.water, geo.buildings, pseed, stock)
        frames["sensor"] = sensors
        frames["reading"] = activity.build_readings(sensors, pseed, stock)
    if district.code != LUOHU:
        frames = {k: _prefix_ids(_valid(f.copy()), district.code) for k, f in frames.items()}
    return frames


def _valid(frame: pd.DataFrame) -> pd.DataFrame:
    """Repair the few polygons a clipped, re-rounded outline leaves degenerate.

    Outside Luohu the generator's water strips are clipped to an outline they were
    not tuned for; a sliver can collapse to a ring of too few points. Such polygons
    are made valid on the 1e-7° grid and reduced to their polygonal parts.
    """
    if not isinstance(frame, gpd.GeoDataFrame) or frame.empty:
        return frame
    geoms = frame.geometry.to_numpy()
    bad = ~shapely.is_valid(geoms)
    if not bad.any():
        return frame
    fixed = []
    for geom in geoms[bad]:
        g = shapely.set_precision(shapely.make_valid(geom), 1e-7)
        polys = [p for p in shapely.get_parts(g) if p.geom_type == "Polygon" and p.area > 0]
        fixed.append(shapely.MultiPolygon(polys) if polys else g)
    geoms = geoms.copy()
    geoms[bad] = fixed
    return frame.set_geometry(gpd.GeoSeries(geoms, index=frame.index, crs=frame.crs))


# --------------------------------------------------------------------------- Dask build


@dataclass
class CityReport:
    """What a city build wrote."""

    root: Path
    seed: int
    scale: float
    seconds: float
    rows: dict[str, int]  # per district code
    partitions: int = 0  # tasks run (districts, geographies and res-6 pieces)


def _district(code: str) -> District:
    hit = [d for d in DISTRICTS if d.code == code]
    if not hit:
        raise CityError(f"unknown district code {code!r}")
    return hit[0]


def is_large(district: District, split_above: int = LARGE_POPULATION) -> bool:
    """Whether ``district`` is built per H3 res-6 parent (never 罗湖: its build is pinned)."""
    return district.code != LUOHU and population(district) > split_above


def piece_seed(seed: int, district: District, cell: int) -> int:
    """Deterministic seed of the piece of ``district`` in the res-6 cell ``cell``."""
    return int(np.random.SeedSequence([seed, int(district.code), int(cell)])
               .generate_state(1)[0])


def piece_cells(buildings: pd.DataFrame) -> np.ndarray:
    """The H3 res-6 parent of each building (of its representative point, as at ingest)."""
    from gis.h3cells import cell_parent, lnglat_to_cells
    from gis.ingest import representative_lnglat

    lng, lat = representative_lnglat(np.asarray(buildings.geometry.to_numpy()))
    return cell_parent(lnglat_to_cells(lng, lat), PIECE_RES)


def _weights(buildings: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Dwelling and work floor area of each building (the houses stage's own weights)."""
    from data.synth.people import column_or

    use = column_or(buildings, "use", "").to_numpy(dtype=object)
    floors = np.clip(pd.to_numeric(column_or(buildings, "floors", 1), errors="coerce")
                     .fillna(1).to_numpy(dtype=np.float64), 1, None)
    foot = pd.to_numeric(column_or(buildings, "footprint_m2", 100.0), errors="coerce").fillna(
        100.0).to_numpy(dtype=np.float64)
    area = foot * floors
    home = np.where((use == "residential") | (use == "mixed"), area, 0.0)
    return home, area


def _prefix_piece_ids(frame: pd.DataFrame, code: str, tag: str) -> pd.DataFrame:
    """Prefix a piece's own local ids with ``code + tag``, read ones with ``code``."""
    for col in frame.columns:
        if col == "geometry" or not pd.api.types.is_string_dtype(frame[col]):
            continue
        vals = frame[col].dropna()
        if not len(vals) or not all(isinstance(v, str) for v in vals.head(50)):
            continue
        text = vals.astype(str)
        if not text.str.match(_LOCAL_ID).all():
            continue
        own = text.str.match(_PIECE_ID)
        frame[col] = frame[col].astype(object)
        frame.loc[vals.index, col] = np.where(own, code + tag + text, code + text)
    return frame


def generate_geography(district: District, seed: int, scale: float
                       ) -> dict[str, pd.DataFrame]:
    """The geography, sensors and readings of a split district (its part ``0``)."""
    from data.synth import activity, geography

    pseed = partition_seed(seed, district)
    stock = scale * population(district) / LUOHU_POPULATION
    with district_inputs(district, seed):
        geo = geography.build_geography(pseed, stock)
        sensors = activity.build_sensors(geo.roads, geo.water, geo.buildings, pseed, stock)
        readings = activity.build_readings(sensors, pseed, stock)
    frames = dict(district=geo.district, subdistrict=geo.subdistricts,
                  community=geo.communities, grid=geo.grids, road=geo.roads, water=geo.water,
                  building=geo.buildings, facility=geo.facilities, sensor=sensors,
                  reading=readings)
    return {k: _prefix_ids(_valid(f.copy()), district.code) for k, f in frames.items()}


def generate_piece(district: District, seed: int, scale: float, cell: int,
                   buildings: pd.DataFrame, roads: pd.DataFrame,
                   communities: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Houses, persons, enterprises, spaces and events of the buildings in res-6 ``cell``.

    ``buildings``, ``roads`` and ``communities`` are the district's (part ``0``). The
    piece gets the district's stock in proportion to its share of the floor area (of
    dwellings for houses and persons, of all buildings for the rest); the census
    cohort ``round(P x scale)`` is split over the pieces by largest remainder, so the
    district's census-day total is exact.
    """
    import dataclasses

    from data.synth import activity, census, people

    cells = piece_cells(buildings)
    pieces = np.unique(cells)
    if cell not in pieces:
        raise CityError(f"no building of {district.code} in cell {cell:x}")
    k = int(np.searchsorted(pieces, cell))
    home, area = _weights(buildings)
    home_by = np.array([home[cells == c].sum() for c in pieces])
    area_by = np.array([area[cells == c].sum() for c in pieces])
    if home_by.sum() <= 0:
        home_by = area_by
    cen = census.load_census(district.name)
    n_k = int(people.allocate(round(cen.total * scale), home_by)[k])
    stock = scale * population(district) / LUOHU_POPULATION
    s_home = stock * home_by[k] / home_by.sum()
    s_all = stock * area_by[k] / area_by.sum()
    pseed = piece_seed(seed, district, cell)
    mine = cells == cell
    b = buildings.loc[mine].reset_index(drop=True)
    rcells = piece_cells(roads) if len(roads) else np.array([], dtype=np.int64)
    r = roads.loc[rcells == cell].reset_index(drop=True) if (rcells == cell).any() else roads
    frames: dict[str, pd.DataFrame] = {}

    def stage(kind: str, build: Any) -> None:
        # A res-6 cell can lack the buildings a stage draws from (no office for
        # enterprises, no dwelling free on census day): the generator says "no …"; the
        # piece then has none of that kind (documented in docs/scale.md).
        try:
            frames[kind] = build()
        except ValueError as exc:
            if not str(exc).startswith("no "):
                raise

    with district_inputs(district, seed):
        houses = people.build_houses(b, pseed, s_home)
        frames["house"] = houses
        if n_k > 0:
            # build_persons draws round(total x scale) residents with the census' band,
            # sex and household proportions; total = round(n_k / scale) gives n_k back.
            part = dataclasses.replace(cen, total=round(n_k / scale))
            stage("person", lambda: people.build_persons(houses, b, part, pseed, scale))
        stage("enterprise", lambda: activity.build_enterprises(b, houses, pseed, s_all))
        stage("industrial_space", lambda: activity.build_industrial_spaces(b, pseed, s_all))
        frames["event"] = activity.build_events(b, r, communities, pseed, s_all)
    tag = f"{k:02d}"
    return {kk: _prefix_piece_ids(_valid(f.copy()), district.code, tag)
            for kk, f in frames.items()}


def build_partition(root: str, code: str, seed: int, scale: float,
                    part: str | None = None) -> tuple[str, int, list[int]]:
    """One Dask task: generate and write one partition of district ``code`` atomically.

    ``part`` ``None``: the whole district (``part-0``); ``"0"``: the geography of a split
    district; an H3 res-6 cell in hex: that piece of a split district (its geography
    must be on disk). Returns the code, the rows written and, for ``"0"``, the cells of
    the pieces to build next.
    """
    from gis.batch.partitions import partition_path, read_partition, write_partition

    district = _district(code)
    base = Path(root)
    if part is None:
        frames = generate_district(district, seed, scale)
        return code, write_partition(base, code, frames), []
    if part == "0":
        frames = generate_geography(district, seed, scale)
        cells = sorted(int(c) for c in np.unique(piece_cells(frames["building"])))
        return code, write_partition(base, code, frames), cells
    cell = int(part, 16)

    def read(kind: str) -> pd.DataFrame:
        return read_partition(partition_path(base, kind, code))

    frames = generate_piece(district, seed, scale, cell, read("building"), read("road"),
                            read("community"))
    return code, write_partition(base, code, frames, part=part), []


def build_city(root: Path, districts: list[District], *, seed: int = 42, scale: float = 1.0,
               workers: int | None = None, scheduler: str | None = None,
               progress: bool = False, client: Any = None,
               split_above: int = LARGE_POPULATION) -> CityReport:
    """Build ``districts`` as GeoParquet partitions under ``root`` on Dask.

    One task per district; a district of more than ``split_above`` residents is one
    geography task and then one task per H3 res-6 parent of its buildings, submitted as
    soon as its geography is written. Largest districts are submitted first so the
    slowest task starts early. With ``progress`` a bar shows partitions done.
    ``client``: an open Dask client to use (else one is opened, see
    :func:`gis.batch.cluster.dask_client`).
    """
    import time

    from distributed import as_completed

    from gis.batch.cluster import dask_client

    if not 0 < scale <= 2:
        raise ValueError("scale must be in (0, 2]")
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    order = sorted(districts, key=lambda d: -population(d))
    rows: dict[str, int] = {d.code: 0 for d in order}
    parts = 0
    with contextlib.ExitStack() as stack:
        if client is None:
            client = stack.enter_context(dask_client(workers, scheduler))
        bar = None
        if progress:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            bar = stack.enter_context(Progress(
                TextColumn("[bold]city build[/] partitions"), BarColumn(),
                TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn()))
            task = bar.add_task("", total=len(order))
        futures = [client.submit(build_partition, str(root), d.code, seed, scale,
                                 "0" if is_large(d, split_above) else None,
                                 key=f"city-{d.code}-0-{seed}-{scale}", pure=False)
                   for d in order]
        done = as_completed(futures)
        for fut in done:
            code, n, cells = fut.result()
            rows[code] += n
            parts += 1
            for c in cells:
                done.add(client.submit(build_partition, str(root), code, seed, scale,
                                       format(c, "x"), key=f"city-{code}-{c:x}-{seed}-{scale}",
                                       pure=False))
            if bar is not None:
                bar.update(task, total=(bar.tasks[0].total or 0) + len(cells),
                           completed=parts)
    return CityReport(root, seed, scale, round(time.perf_counter() - t0, 3), rows, parts)

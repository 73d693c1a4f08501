"""The standard address registry (标准地址库).

Built once from a store: the district, its subdistricts and communities, the
roads, the door plates (road + house number), the estates, the buildings and
the houses. Every entry has a stable ``address_id``, its standard full
address (广东省深圳市罗湖区东门街道湖贝社区东门中路2001号湖贝大厦A座), a point,
its H3 block and admin codes.

Buildings and houses keep the ``address_id`` and ``address`` the store gives
them. The coarser levels get ids derived from what they name, so they stay
the same across rebuilds: ``D``/``S``/``C`` + the NBS code for admin units,
``R``/``N``/``P`` + a hash of the road name, the door plate or the estate name.

Houses (about half a million at full scale) are kept in numpy arrays, sorted
by (building, unit, room) so that a lookup is a binary search; only the
entries a query touches become Python objects.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from numpy.dtypes import StringDType

from address.gazetteer import CITY, DISTRICT, DISTRICT_CODE, PROVINCE, community_name, district_of
from address.parser import building_suffix
from gis.h3cells import lnglat_to_cells

#: Registry levels from the finest to the coarsest.
LEVELS = ("room", "house", "building", "house_number", "poi", "road", "community",
          "subdistrict", "district")
#: Levels stored as registry entries (``house`` is a match quality of a room entry).
ENTRY_LEVELS = ("room", "building", "house_number", "poi", "road", "community",
                "subdistrict", "district")



def district_prefix(name: str = DISTRICT) -> str:
    """The start of every standard address of a district (广东省深圳市罗湖区)."""
    return PROVINCE + CITY + name
_UNIT_SHIFT = 24
_BLD_SHIFT = 40
_ROOM_MASK = (1 << _UNIT_SHIFT) - 1


def stable_id(prefix: str, *parts: str) -> str:
    """``prefix`` + 10 hex digits of a BLAKE2b hash of ``parts`` (stable across runs)."""
    h = hashlib.blake2b("|".join(parts).encode("utf-8"), digest_size=5).hexdigest()
    return f"{prefix}{h}"


@dataclass(frozen=True)
class Entry:
    """One standard address (a registry row), with the components it states."""

    address_id: str
    address: str
    level: str
    lon: float
    lat: float
    subdistrict_code: str | None = None
    community_code: str | None = None
    block: int | None = None
    road: str | None = None
    house_number: str | None = None
    poi: str | None = None
    building: str | None = None
    unit: str | None = None
    floor: str | None = None
    room: str | None = None
    current: bool = True
    index: int = -1  # building index for building/room entries
    #: Codes of every subdistrict and community the entry touches (a road crosses several).
    areas: frozenset[str] = frozenset()

    def in_area(self, code: str) -> bool | None:
        """Whether the entry lies in the admin unit ``code`` (None: entry has no codes)."""
        if self.areas:
            return code in self.areas
        if self.subdistrict_code is None and self.community_code is None:
            return None
        return code in (self.subdistrict_code, self.community_code)


def _text(values: Any) -> npt.NDArray[np.object_]:
    """Object array of str/None from any column (NaN and empty strings → None)."""
    s = pd.Series(values)
    null = s.isna().to_numpy()
    if not (pd.api.types.is_string_dtype(s.dtype) or s.dtype == object):
        s = s.astype(object).where(~null, None).map(str, na_action="ignore")
    arr = np.asarray(s.to_numpy(dtype=object), dtype=object).copy()
    arr[null] = None
    if s.dtype == object and not all(isinstance(v, str) for v in arr[~null][:50]):
        arr = np.array([v if v is None or isinstance(v, str) else str(v) for v in arr],
                       dtype=object)
    arr[arr == ""] = None
    return arr


def _int_of(values: npt.NDArray[np.object_]) -> npt.NDArray[np.int64]:
    """Integer value of digit strings (-1 for anything else)."""
    num = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce")
    out = num.to_numpy(dtype=np.float64, na_value=np.nan)
    ok = np.isfinite(out) & (out >= 0) & (out < _ROOM_MASK) & (np.floor(out) == out)
    return np.where(ok, out, -1).astype(np.int64)


def _points(geoms: Any) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    arr = np.asarray(geoms, dtype=object)
    if len(arr) == 0:
        return np.zeros(0), np.zeros(0)
    pts = shapely.point_on_surface(arr)
    return np.asarray(shapely.get_x(pts), dtype=np.float64), np.asarray(
        shapely.get_y(pts), dtype=np.float64)


@dataclass
class AdminUnit:
    """A subdistrict, community or grid with its polygon."""

    level: str
    code: str
    name: str
    geometry: Any
    subdistrict_code: str | None = None
    community_code: str | None = None
    short_name: str | None = None


@dataclass
class AddressRegistry:
    """The in-memory registry and its lookup indexes (see the module docstring)."""

    district: Entry
    subdistricts: dict[str, Entry]
    communities: dict[str, Entry]
    roads: dict[str, Entry]
    plates: dict[tuple[str, str], Entry]
    pois: dict[str, Entry]
    buildings: list[Entry]
    by_plate: dict[tuple[str, str], list[int]]
    by_estate: dict[str, list[int]]
    by_estate_bno: dict[tuple[str, str], list[int]]
    by_building_id: dict[str, int]
    admin: dict[str, list[AdminUnit]]
    # houses, in (building, unit, room) order
    h_building: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    h_key: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    h_room_key: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    h_room_order: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    h_address_id: npt.NDArray[Any] = field(default_factory=lambda: np.zeros(0, object))
    h_suffix: npt.NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, np.int32))
    h_suffixes: list[str] = field(default_factory=list)
    # unit, floor and room as codes into small lists of distinct values (-1 = none)
    h_unit: npt.NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, np.int32))
    h_units: list[str] = field(default_factory=list)
    h_floor: npt.NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, np.int32))
    h_floors: list[str] = field(default_factory=list)
    h_room: npt.NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, np.int32))
    h_rooms: list[str] = field(default_factory=list)
    h_lon: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    h_lat: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    h_block: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    h_current: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, bool))
    #: merged WGS84 line of each named road (for crossings)
    road_geoms: dict[str, Any] = field(default_factory=dict)
    # building points for reverse geocoding
    b_lon: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    b_lat: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))

    # -- lookups ------------------------------------------------------------

    @property
    def n_houses(self) -> int:
        """Number of house (room-level) entries."""
        return len(self.h_key)

    def house(self, i: int) -> Entry:
        """The room-level entry of house row ``i`` (in registry order)."""
        b = self.buildings[int(self.h_building[i])]
        u, f, r = int(self.h_unit[i]), int(self.h_floor[i]), int(self.h_room[i])
        return Entry(
            str(self.h_address_id[i]), b.address + self.h_suffixes[int(self.h_suffix[i])],
            "room", float(self.h_lon[i]), float(self.h_lat[i]), b.subdistrict_code,
            b.community_code, int(self.h_block[i]), b.road, b.house_number, b.poi,
            b.building, self.h_units[u] if u >= 0 else None,
            self.h_floors[f] if f >= 0 else None, self.h_rooms[r] if r >= 0 else None,
            bool(self.h_current[i]), b.index)

    def houses_in(self, b: int, unit: str | None, room: str) -> list[int]:
        """House rows of building ``b`` with this room (and unit, when given)."""
        r = _room_int(room)
        if r < 0 or not len(self.h_key):
            return []
        if unit is not None:
            u = _unit_int(unit)
            if u < 0:
                return []
            key = (b << _BLD_SHIFT) | (u << _UNIT_SHIFT) | r
            lo = int(np.searchsorted(self.h_key, key, "left"))
            hi = int(np.searchsorted(self.h_key, key, "right"))
            return list(range(lo, hi))
        key = (b << _UNIT_SHIFT) | r
        lo = int(np.searchsorted(self.h_room_key, key, "left"))
        hi = int(np.searchsorted(self.h_room_key, key, "right"))
        return sorted(int(i) for i in self.h_room_order[lo:hi])

    def by_id(self, address_id: str) -> Entry | None:
        """The entry with this ``address_id`` (linear for houses; for tests and tools)."""
        for coll in (self.subdistricts.values(), self.communities.values(),
                     self.roads.values(), self.plates.values(), self.pois.values(),
                     self.buildings):
            for e in coll:
                if e.address_id == address_id:
                    return e
        if self.district.address_id == address_id:
            return self.district
        hits = np.flatnonzero(self.h_address_id == address_id)
        return self.house(int(hits[0])) if len(hits) else None

    def counts(self) -> dict[str, int]:
        """Number of entries per level (plates and estates of one building are that
        building's entry and counted as buildings)."""
        return {"room": self.n_houses, "building": len(self.buildings),
                "house_number": sum(e.level == "house_number" for e in self.plates.values()),
                "poi": sum(e.level == "poi" for e in self.pois.values()),
                "road": len(self.roads), "community": len(self.communities),
                "subdistrict": len(self.subdistricts), "district": 1}

    # -- the public layer ---------------------------------------------------

    def to_frame(self, levels: Sequence[str] | None = None) -> gpd.GeoDataFrame:
        """The registry as a GeoDataFrame of points (WGS84): ``address_id``,
        ``address``, ``level``, ``subdistrict_code``, ``community_code``, ``block``,
        ``current``; one row per entry of ``levels`` (default: all)."""
        want = set(levels) if levels is not None else set(ENTRY_LEVELS)
        unknown = want - set(ENTRY_LEVELS)
        if unknown:
            raise ValueError(f"unknown registry levels {sorted(unknown)}")
        small: list[Entry] = []
        if "district" in want:
            small.append(self.district)
        for lvl, coll in (("subdistrict", self.subdistricts), ("community", self.communities),
                          ("road", self.roads), ("house_number", self.plates),
                          ("poi", self.pois)):
            if lvl in want:
                small.extend(e for e in coll.values() if e.level == lvl)
        if "building" in want:
            small.extend(self.buildings)
        cols: dict[str, list[Any]] = {k: [] for k in (
            "address_id", "address", "level", "subdistrict_code", "community_code", "block",
            "current", "lon", "lat")}
        for e in small:
            cols["address_id"].append(e.address_id)
            cols["address"].append(e.address)
            cols["level"].append(e.level)
            cols["subdistrict_code"].append(e.subdistrict_code)
            cols["community_code"].append(e.community_code)
            cols["block"].append(e.block)
            cols["current"].append(e.current)
            cols["lon"].append(e.lon)
            cols["lat"].append(e.lat)
        frame = pd.DataFrame(cols)
        if "room" in want and self.n_houses:
            hb = self.h_building
            b_addr = np.array([b.address for b in self.buildings], dtype=object)
            b_sub = np.array([b.subdistrict_code for b in self.buildings], dtype=object)
            b_com = np.array([b.community_code for b in self.buildings], dtype=object)
            suffixes = np.array(self.h_suffixes, dtype=object)
            houses = pd.DataFrame({
                "address_id": self.h_address_id.astype(object),
                "address": b_addr[hb] + suffixes[self.h_suffix],
                "level": "room",
                "subdistrict_code": b_sub[hb],
                "community_code": b_com[hb],
                "block": self.h_block,
                "current": self.h_current,
                "lon": self.h_lon,
                "lat": self.h_lat,
            })
            frame = pd.concat([frame, houses], ignore_index=True) if len(frame) else houses
        frame["block"] = frame["block"].astype("Int64")
        geom = gpd.GeoSeries(shapely.points(frame["lon"].to_numpy(dtype=np.float64),
                                            frame["lat"].to_numpy(dtype=np.float64)),
                             crs="EPSG:4326")
        return gpd.GeoDataFrame(frame.drop(columns=["lon", "lat"]), geometry=geom)


def _canon_building(bno: str | None) -> str | None:
    """Building number as the parser writes it: 3栋 → 3, 03 → 3, a座 → A."""
    if bno is None:
        return None
    core = bno.strip().removesuffix("号楼").removesuffix("栋").removesuffix("座")
    core = core.removesuffix("幢").strip()
    return str(int(core)) if core.isdigit() else (core.upper() or None)


def _canon_number(hn: str | None) -> str | None:
    """House number as the parser writes it: 0088号 → 88, 2001号之3 → 2001-3."""
    if hn is None:
        return None
    text = hn.strip().rstrip("号")
    parts = text.replace("号之", "-").replace("之", "-").split("-")
    if all(p.isdigit() for p in parts):
        return "-".join(str(int(p)) for p in parts)
    return text or None


def _room_int(room: str) -> int:
    try:
        r = int(room)
    except (TypeError, ValueError):
        return -1
    return r if 0 <= r < _ROOM_MASK else -1


def _unit_int(unit: str | None) -> int:
    if unit is None:
        return 0
    if unit.isdigit():
        u = int(unit)
        return u if u < 0xFFFF else -1
    if len(unit) == 1 and unit.isalpha():
        return 0x8000 + ord(unit.upper())
    return -1


def _unit_ints(units: npt.NDArray[np.object_]) -> npt.NDArray[np.int64]:
    """Vectorised :func:`_unit_int` (digits by pandas, the rare others one by one)."""
    out = _int_of(units)
    none = np.array([u is None for u in units], dtype=bool)
    out[none] = 0
    other = np.flatnonzero((out < 0) | (out >= 0xFFFF))
    for i in other:
        out[i] = _unit_int(units[i])
    return out


def build_registry(
    subdistricts: pd.DataFrame,
    communities: pd.DataFrame,
    grids: pd.DataFrame,
    roads: pd.DataFrame,
    buildings: pd.DataFrame,
    houses: pd.DataFrame | Iterable[pd.DataFrame],
) -> AddressRegistry:
    """Build the registry from the frames a store returns (see :meth:`from_store`).

    Frames need the schema columns of their kind and a WGS84 ``geometry``.
    """
    # -- admin units --------------------------------------------------------
    # One registry is one district's (a city store has one per district, address.city):
    # the district is that of the subdistricts' NBS codes, Luohu when they have none.
    found = {district_of(str(c)) for c in subdistricts["code"]} if len(subdistricts) else set()
    found.discard(None)
    if len(found) > 1:
        raise ValueError("one address registry per district: the subdistricts given are "
                         f"in {sorted(f[1] for f in found if f)}")
    district_code, district_name = (found.pop() if found else None) or (DISTRICT_CODE,
                                                                        DISTRICT)
    prefix = district_prefix(district_name)
    # Ids of roads, plates and places hash their names; outside Luohu (whose ids stay as
    # they were) the district joins the hash, since names recur between districts.
    scope = () if district_code == DISTRICT_CODE else (district_code,)
    sub_name: dict[str, str] = {}
    admin: dict[str, list[AdminUnit]] = {"subdistrict": [], "community": [], "grid": []}
    sub_entries: dict[str, Entry] = {}
    com_entries: dict[str, Entry] = {}
    sx, sy = _points(subdistricts.geometry.values) if len(subdistricts) else (
        np.zeros(0), np.zeros(0))
    for i, row in enumerate(subdistricts.itertuples(index=False)):
        code, name = str(row.code), str(row.name)
        sub_name[code] = name
        admin["subdistrict"].append(AdminUnit("subdistrict", code, name, row.geometry, code,
                                              None, getattr(row, "short_name", None)))
        sub_entries[code] = Entry(f"S{code}", prefix + name, "subdistrict", float(sx[i]),
                                  float(sy[i]), code)
    com_name: dict[str, str] = {}
    cx, cy = _points(communities.geometry.values) if len(communities) else (
        np.zeros(0), np.zeros(0))
    for i, row in enumerate(communities.itertuples(index=False)):
        code = str(row.code)
        short = getattr(row, "short_name", None)
        name = community_name(str(short) if isinstance(short, str) and short
                              else str(row.name))
        com_name[code] = name
        sc = str(row.subdistrict_code) if isinstance(row.subdistrict_code, str) else code[:9]
        admin["community"].append(AdminUnit("community", code, name, row.geometry, sc, code))
        com_entries[code] = Entry(f"C{code}", prefix + sub_name.get(sc, "") + name,
                                  "community", float(cx[i]), float(cy[i]), sc, code)
    for row in grids.itertuples(index=False):
        admin["grid"].append(AdminUnit(
            "grid", str(row.code), str(row.name), row.geometry,
            row.subdistrict_code if isinstance(row.subdistrict_code, str) else None,
            row.community_code if isinstance(row.community_code, str) else None))
    all_admin = [u.geometry for u in admin["subdistrict"]]
    if all_admin:
        dist_geom = shapely.union_all(np.asarray(all_admin, dtype=object))
        dpt = shapely.point_on_surface(dist_geom)
        dlon, dlat = float(dpt.x), float(dpt.y)
    else:
        dlon, dlat = 114.131, 22.548
    district = Entry(f"D{district_code}", prefix, "district", dlon, dlat)
    # H3 blocks of the admin entries' points, in one call.
    admin_entries = [district, *sub_entries.values(), *com_entries.values()]
    cells = lnglat_to_cells([e.lon for e in admin_entries], [e.lat for e in admin_entries], 9)
    blocks = dict(zip((e.address_id for e in admin_entries), cells.tolist(), strict=True))
    district = replace(district, block=blocks[district.address_id])
    sub_entries = {k: replace(e, block=blocks[e.address_id]) for k, e in sub_entries.items()}
    com_entries = {k: replace(e, block=blocks[e.address_id]) for k, e in com_entries.items()}

    # -- buildings ----------------------------------------------------------
    nb = len(buildings)
    b_lon, b_lat = _points(buildings.geometry.values)
    b_id = _text(buildings["id"])
    b_aid = _text(buildings["address_id"])
    b_estate = _text(buildings["estate"])
    b_bno = _text(buildings["building_no"])
    b_road = _text(buildings["road"])
    b_hn = np.array([_canon_number(v) for v in _text(buildings["house_number"])],
                    dtype=object)
    b_addr = _text(buildings["address"])
    b_sub = _text(buildings["subdistrict_code"])
    b_com = _text(buildings["community_code"])
    b_block = pd.to_numeric(buildings.get("block", pd.Series([None] * nb)),
                            errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan,
                                                      copy=True)  # written below
    missing_block = ~np.isfinite(b_block)
    if missing_block.any():
        b_block[missing_block] = lnglat_to_cells(b_lon[missing_block], b_lat[missing_block], 9)
    b_current = pd.isna(buildings["valid_to"]).to_numpy() if "valid_to" in buildings else (
        np.ones(nb, dtype=bool))
    entries: list[Entry] = []
    for i in range(nb):
        bno = _canon_building(b_bno[i])
        addr = b_addr[i]
        sub, com = b_sub[i], b_com[i]
        if addr is None:
            addr = (prefix + sub_name.get(sub or "", "") + com_name.get(com or "", "")
                    + (b_road[i] or "") + (f"{b_hn[i]}号" if b_hn[i] else "")
                    + (b_estate[i] or "") + (bno + building_suffix(bno) if bno else ""))
        aid = b_aid[i] or stable_id("B", addr)
        entries.append(Entry(aid, addr, "building", float(b_lon[i]), float(b_lat[i]), sub,
                             com, int(b_block[i]), b_road[i], b_hn[i], b_estate[i], bno,
                             current=bool(b_current[i]), index=i))
    by_building_id = {str(v): i for i, v in enumerate(b_id) if v is not None}

    def group(keys: list[Any]) -> dict[Any, list[int]]:
        out: dict[Any, list[int]] = {}
        for i, k in enumerate(keys):
            if k is not None:
                out.setdefault(k, []).append(i)
        return out

    by_plate = group([(r, h) if r is not None and h is not None else None
                      for r, h in zip(b_road, b_hn, strict=True)])
    by_estate = group(list(b_estate))
    by_estate_bno = group([(e.poi, e.building) if e.poi and e.building else None
                           for e in entries])

    # Door plates and estates: mean point, most frequent codes, every code touched
    # (vectorised per group; one H3 call for all).
    bdf = pd.DataFrame({"lon": b_lon, "lat": b_lat, "sub": b_sub, "com": b_com,
                        "current": b_current})

    def summarise(keys: list[Any], idx_groups: dict[Any, list[int]]) -> dict[Any, Entry]:
        if not idx_groups:
            return {}
        members = np.concatenate([np.asarray(v, dtype=np.int64) for v in idx_groups.values()])
        gid = np.repeat(np.arange(len(idx_groups)), [len(v) for v in idx_groups.values()])
        part = bdf.iloc[members].assign(g=gid)
        agg = part.groupby("g", sort=True).agg(lon=("lon", "mean"), lat=("lat", "mean"),
                                               current=("current", "any"))
        blocks = lnglat_to_cells(agg["lon"].to_numpy(), agg["lat"].to_numpy(), 9)
        first: dict[str, dict[int, str]] = {}
        areas: dict[int, set[str]] = {}
        for col in ("sub", "com"):
            pairs = part[["g", col]].dropna()
            counts = pairs.value_counts().reset_index(name="n").sort_values(
                ["g", "n", col], ascending=[True, False, True])
            first[col] = dict(counts.drop_duplicates("g")[["g", col]].itertuples(index=False))
            multi = counts[counts.duplicated("g", keep=False)]
            for g, code in multi[["g", col]].itertuples(index=False):
                areas.setdefault(int(g), set()).add(str(code))
        out: dict[Any, Entry] = {}
        lons = agg["lon"].to_numpy(dtype=np.float64).tolist()
        lats = agg["lat"].to_numpy(dtype=np.float64).tolist()
        cur = agg["current"].to_numpy(dtype=bool).tolist()
        blk = blocks.tolist()
        for g, key in enumerate(keys):
            sub, com = first["sub"].get(g), first["com"].get(g)
            extra = areas.get(g)
            out[key] = _group_entry(prefix, scope, key, sub, com, lons[g], lats[g], blk[g],
                                    cur[g], frozenset(extra | {c for c in (sub, com) if c})
                                    if extra else frozenset(), sub_name, com_name)
        return out

    # A door plate or an estate holding a single building is that building: its
    # entry is the building's (one address_id for one place); only plates and
    # estates of several buildings get entries of their own.
    multi_plates = {k: v for k, v in by_plate.items() if len(v) > 1}
    multi_estates = {k: v for k, v in by_estate.items() if len(v) > 1}
    plates: dict[tuple[str, str], Entry] = summarise(list(multi_plates), multi_plates)
    plates.update({k: entries[v[0]] for k, v in by_plate.items() if len(v) == 1})
    pois: dict[str, Entry] = summarise(list(multi_estates), multi_estates)
    pois.update({k: entries[v[0]] for k, v in by_estate.items() if len(v) == 1})
    road_groups = group(list(b_road))

    # -- roads --------------------------------------------------------------
    road_entries: dict[str, Entry] = {}
    road_geoms: dict[str, Any] = {}
    if len(roads):
        names = _text(roads["name"])
        geoms = np.asarray(roads.geometry.values, dtype=object)
        r_sub = _text(roads["subdistrict_code"]) if "subdistrict_code" in roads else (
            np.full(len(roads), None, dtype=object))
        r_com = _text(roads["community_code"]) if "community_code" in roads else (
            np.full(len(roads), None, dtype=object))
        frame = pd.DataFrame({"name": names, "i": np.arange(len(roads))}).dropna()
        for key, part in frame.groupby("name", sort=True):
            name = str(key)
            idx = part["i"].to_numpy()
            merged = shapely.line_merge(shapely.union_all(geoms[idx]))
            parts = shapely.get_parts(merged)
            longest = parts[int(np.argmax(shapely.length(parts)))]
            mid = shapely.line_interpolate_point(longest, 0.5, normalized=True)
            # the admin codes of the segment nearest the middle point
            near = idx[int(np.argmin(shapely.distance(geoms[idx], mid)))]
            lon, lat = float(mid.x), float(mid.y)
            areas = frozenset(c for j in idx for c in (r_sub[j], r_com[j]) if c is not None)
            road_entries[name] = Entry(
                stable_id("R", *scope, name), prefix + name, "road", lon, lat,
                r_sub[near], r_com[near], int(lnglat_to_cells([lon], [lat], 9)[0]),
                road=name, areas=areas)
            road_geoms[name] = merged
    missing = [r for r in road_groups if r not in road_entries]
    for road, e in summarise(missing, {r: road_groups[r] for r in missing}).items():
        # a road known only from addresses
        road_entries[road] = replace(e, address_id=stable_id("R", *scope, road),
                                     address=prefix + road, level="road", poi=None,
                                     house_number=None, road=road)

    reg = AddressRegistry(district, sub_entries, com_entries, road_entries, plates, pois,
                          entries, by_plate, by_estate, by_estate_bno, by_building_id, admin,
                          road_geoms=road_geoms, b_lon=b_lon, b_lat=b_lat)
    _add_houses(reg, houses, [e.address for e in entries])
    return reg


def _group_entry(prefix: str, scope: tuple[str, ...], key: Any, sub: str | None,
                 com: str | None, lon: float, lat: float, block: int, current: bool,
                 areas: frozenset[str], sub_name: dict[str, str],
                 com_name: dict[str, str]) -> Entry:
    admin = prefix + sub_name.get(sub or "", "") + com_name.get(com or "", "")
    if isinstance(key, tuple):
        road, hn = key
        return Entry(stable_id("N", *scope, road, hn), f"{admin}{road}{hn}号", "house_number",
                     lon, lat, sub, com, block, road, hn, current=current, areas=areas)
    return Entry(stable_id("P", *scope, key), admin + key, "poi", lon, lat, sub, com, block,
                 poi=key, current=current, areas=areas)


def house_suffix(unit: str | None, room: str, use: str | None) -> str:
    """The part of a house address after its building's (2单元1203室, 1203室, 102号商铺)."""
    if unit:
        return f"{unit}单元{room}室"
    return f"{room}号商铺" if use == "shop" else f"{room}室"


def _house_page(page: pd.DataFrame, by_building_id: dict[str, int], b_addr: list[str],
                strings: dict[str, str]) -> dict[str, npt.NDArray[Any]]:
    """The compact columns of one page of houses (pages keep the build's peak memory
    low: half a million rows as one frame cost several times their arrays)."""
    bidx_s = pd.Series(_text(page["building_id"]), dtype=object).map(by_building_id)
    ok = bidx_s.notna().to_numpy()
    unit = _text(page["unit"])[ok]
    room = _text(page["room"])[ok]
    unit_i = _unit_ints(unit)
    room_i = _int_of(room)
    good = (unit_i >= 0) & (room_i >= 0)
    sel = np.flatnonzero(ok)[good]
    h = page.iloc[sel]
    bidx = bidx_s.to_numpy(dtype=np.float64, na_value=-1)[sel].astype(np.int64)
    unit, room, unit_i, room_i = unit[good], room[good], unit_i[good], room_i[good]
    geoms = np.asarray(h.geometry.values, dtype=object)
    use = _text(h["use"]) if "use" in h else np.full(len(h), None, dtype=object)
    # The part after the building's address: taken from the house address when the
    # frame has it and it extends the building's, else composed (house_suffix).
    if "address" in h:
        full = np.asarray(_text(h["address"]), dtype=object)
        have = np.array([a is not None for a in full], dtype=bool)
        full_s = np.asarray(np.where(have, full, ""), dtype=StringDType())
        base = np.asarray(np.asarray(b_addr, dtype=object)[bidx], dtype=StringDType())
        extends = np.strings.startswith(full_s, base) & have
        taken = np.strings.slice(full_s, np.strings.str_len(base), None).astype(object)
    else:
        extends = np.zeros(len(h), dtype=bool)
        taken = np.full(len(h), "", dtype=object)
    suffix = np.array([t if e else house_suffix(u, r, s) for t, e, u, r, s in
                       zip(taken, extends, unit, room, use, strict=True)], dtype=object)
    floor_src = h["floor"] if "floor" in h else pd.Series([None] * len(h))
    floor = _text(pd.to_numeric(floor_src, errors="coerce").astype("Int64"))

    def intern(values: npt.NDArray[np.object_]) -> npt.NDArray[np.object_]:
        return np.array([None if v is None else strings.setdefault(v, v) for v in values],
                        dtype=object)

    block = pd.to_numeric(h["block"], errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan) if "block" in h else np.full(len(h), np.nan)
    return {
        "bidx": bidx, "unit_i": unit_i, "room_i": room_i, "unit": intern(unit),
        "room": intern(room), "floor": intern(floor), "suffix": intern(suffix),
        "address_id": _text(h["address_id"]),
        "lon": np.asarray(shapely.get_x(geoms), dtype=np.float64),
        "lat": np.asarray(shapely.get_y(geoms), dtype=np.float64),
        "block": block,
        "current": pd.isna(h["valid_to"]).to_numpy() if "valid_to" in h else np.ones(
            len(h), dtype=bool),
    }


def _add_houses(reg: AddressRegistry, houses: pd.DataFrame | Iterable[pd.DataFrame],
                b_addr: list[str]) -> None:
    pages = [houses] if isinstance(houses, pd.DataFrame) else houses
    strings: dict[str, str] = {}
    parts = [_house_page(page, reg.by_building_id, b_addr, strings) for page in pages
             if len(page)]
    finish_houses(reg, parts)


class HouseParts:
    """Houses added to a registry page by page (a city store's pages hold every district's
    houses: :mod:`address.city` hands each registry its own rows), then indexed once."""

    def __init__(self, reg: AddressRegistry) -> None:
        self.reg = reg
        self._b_addr = [e.address for e in reg.buildings]
        self._strings: dict[str, str] = {}
        self.parts: list[dict[str, npt.NDArray[Any]]] = []

    def add(self, page: pd.DataFrame) -> None:
        """Compact one page of this registry's houses (columns as for :func:`build_registry`)."""
        if len(page):
            self.parts.append(_house_page(page, self.reg.by_building_id, self._b_addr,
                                          self._strings))

    def finish(self) -> None:
        """Index the houses added (sorted by building, unit and room)."""
        finish_houses(self.reg, self.parts)
        self.parts = []


def finish_houses(reg: AddressRegistry, parts: list[dict[str, npt.NDArray[Any]]]) -> None:
    """Index compacted house pages into ``reg`` (nothing when there are none)."""
    if not parts:
        return
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    del parts
    bidx = cols["bidx"]
    key = (bidx << _BLD_SHIFT) | (cols["unit_i"] << _UNIT_SHIFT) | cols["room_i"]
    order = np.argsort(key, kind="stable")
    cols = {k: v[order] for k, v in cols.items()}
    bidx = cols["bidx"]
    block = cols["block"]
    miss = ~np.isfinite(block)
    if miss.any():
        block[miss] = lnglat_to_cells(cols["lon"][miss], cols["lat"][miss], 9)
    # rooms are < 2**24 (_ROOM_MASK): building << 24 keeps 2**39 buildings in an int64
    # (shifted by 48 it overflowed from the 32,768th building: 南山 at city scale)
    room_key = (bidx << _UNIT_SHIFT) | cols["room_i"]
    room_order = np.argsort(room_key, kind="stable")
    codes: dict[str, tuple[npt.NDArray[np.int32], list[str]]] = {}
    for name in ("suffix", "unit", "floor", "room"):
        c, u = pd.factorize(pd.Series(cols[name], dtype=object), use_na_sentinel=True)
        codes[name] = (c.astype(np.int32), [str(x) for x in u])
    reg.h_building = bidx
    reg.h_key = key[order]
    reg.h_room_key = room_key[room_order]
    reg.h_room_order = room_order.astype(np.int64)
    reg.h_address_id = np.asarray(cols["address_id"], dtype=StringDType(na_object=None))
    reg.h_suffix, reg.h_suffixes = codes["suffix"]
    reg.h_unit, reg.h_units = codes["unit"]
    reg.h_floor, reg.h_floors = codes["floor"]
    reg.h_room, reg.h_rooms = codes["room"]
    reg.h_lon = cols["lon"]
    reg.h_lat = cols["lat"]
    reg.h_block = block.astype(np.int64)
    reg.h_current = cols["current"].astype(bool)

"""Synthetic houses (房屋) and persons (人口) of the demo district.

Both generators are pure functions of the geography frames, a seed and a
scale: every random draw comes from ``np.random.default_rng([seed, STAGE])``
with a constant per function, and everything is vectorised with numpy (no
Python loop per house, person or household), so the full 1.14 million persons
take seconds.

The personal data is fake on purpose and recognisably so:

- ``id_number`` has the layout of a resident identity number (GB 11643-1999:
  6-digit area code of Guangdong, birth date, 3-digit sequence whose parity is
  the sex) but its check character is always *wrong* (never the ISO 7064
  MOD 11-2 value), so no number can be a real one;
- ``phone`` is ``100`` followed by 8 digits. Chinese mobile numbers start
  with 13-19 and fixed-line numbers with an area code ``0xx``; ``100`` is the
  carriers' service-number range, never the start of an 11-digit subscriber
  number (see :data:`PHONE_PREFIX`).

This module also holds the small helpers shared with :mod:`data.synth.activity`
(frame assembly, date strings, ids, points in buildings).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from data.synth.census import CENSUS_DATE, Census
from gis.model import SCHEMAS, ColType

#: Stage constants: each generator draws from ``default_rng([seed, STAGE])``.
STAGE_HOUSES = 1101
STAGE_PERSONS = 1102

#: Dwellings in the district at scale 1.0 (≈ census households x 1.2).
DWELLINGS_AT_SCALE_1 = 450_000
#: Office and shop units at scale 1.0.
WORK_UNITS_AT_SCALE_1 = 60_000

#: Prefix of every synthetic phone number (``100`` + 8 digits; no subscriber
#: number in China starts with 100, see the module docstring).
PHONE_PREFIX = "100"

#: First and last day of the demo's time axis for moves, registrations and events.
DEMO_START = "2019-01-01"
DEMO_END = "2025-12-31"

#: Sentinel day number for "no end" (valid_to null).
NO_END = np.int64(10**7)

_DERIVED = ("h3", "block")
_DEG_LAT_M = 111_320.0


# --------------------------------------------------------------------------
# shared helpers
# --------------------------------------------------------------------------

def rng_for(seed: int, stage: int) -> np.random.Generator:
    """The random generator of one generator stage: ``default_rng([seed, stage])``."""
    return np.random.default_rng([int(seed), int(stage)])


def output_columns(kind: str) -> list[str]:
    """Columns a generator returns for ``kind``: the schema's, minus ``h3``/``block``."""
    return [c for c in SCHEMAS[kind].column_names if c not in _DERIVED]


def finish_frame(
    kind: str, columns: Mapping[str, Any], x: np.ndarray | None = None,
    y: np.ndarray | None = None,
) -> pd.DataFrame:
    """Assemble the output frame of ``kind`` in schema order with a RangeIndex.

    ``columns`` must hold exactly :func:`output_columns` (``kind``). Kinds with
    a geometry get a point geometry from ``x``/``y`` (lon/lat, EPSG:4326) and
    come back as a GeoDataFrame. INTEGER columns are cast to int64, REAL to
    float64; text columns stay text with ``None``/NaN for null.
    """
    schema = SCHEMAS[kind]
    names = output_columns(kind)
    if set(columns) != set(names):
        raise ValueError(
            f"{kind}: columns {sorted(set(columns) ^ set(names))} differ from the schema"
        )
    data: dict[str, Any] = {}
    for name in names:
        col = schema.column(name)
        values = columns[name]
        if col.type == ColType.INTEGER:
            data[name] = np.asarray(values, dtype=np.int64)
        elif col.type == ColType.REAL:
            data[name] = np.asarray(values, dtype=np.float64)
        else:
            data[name] = values
    frame = pd.DataFrame(data)
    frame.index = pd.RangeIndex(len(frame))
    if schema.geometry is None:
        return frame
    if x is None or y is None:
        raise ValueError(f"{kind}: a geometry is required")
    geometry = gpd.GeoSeries(shapely.points(x, y), index=frame.index, crs="EPSG:4326")
    return gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326")


def day_number(text: str) -> int:
    """Days since 1970-01-01 of a ``YYYY-MM-DD`` date."""
    return int(np.datetime64(text, "D").astype(np.int64))


def parse_days(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """Day numbers of a column of ``YYYY-MM-DD`` dates, and a mask of the non-null ones.

    Null entries get :data:`NO_END` as their day number.
    """
    parsed = pd.to_datetime(pd.Series(values, dtype=object), errors="coerce")
    valid = parsed.notna().to_numpy()
    days = np.full(len(parsed), NO_END, dtype=np.int64)
    days[valid] = parsed[valid].to_numpy().astype("datetime64[D]").astype(np.int64)
    return days, valid


def date_strings(days: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """``YYYY-MM-DD`` strings of day numbers (object array, ``None`` where not ``valid``)."""
    days = np.asarray(days, dtype=np.int64)
    if valid is None:
        valid = days != NO_END
    out = np.full(len(days), None, dtype=object)
    if valid.any():
        out[valid] = np.datetime_as_string(days[valid].astype("datetime64[D]")).astype("U10")
    return out


def datetime_strings(seconds: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """``YYYY-MM-DDTHH:MM:SSZ`` (UTC) strings of Unix seconds (``None`` where not ``valid``)."""
    seconds = np.asarray(seconds, dtype=np.int64)
    if valid is None:
        valid = np.ones(len(seconds), dtype=bool)
    out = np.full(len(seconds), None, dtype=object)
    if valid.any():
        out[valid] = np.datetime_as_string(
            seconds[valid].astype("datetime64[s]"), timezone="UTC"
        ).astype("U20")
    return out


def id_strings(prefix: str, n: int, width: int) -> np.ndarray:
    """Sequential ids ``prefix`` + zero-padded 1..n (``width`` digits at least)."""
    width = max(width, len(str(max(n, 1))))
    nums = np.strings.zfill(np.arange(1, n + 1).astype("U"), width)
    return np.strings.add(prefix, nums)


def int_strings(values: np.ndarray) -> np.ndarray:
    """Decimal strings of an integer array."""
    return np.asarray(values, dtype=np.int64).astype("U")


def text_array(values: Any) -> np.ndarray:
    """A text column as a numpy unicode array (null becomes ``""``)."""
    s = pd.Series(values, dtype=object)
    return s.where(s.notna(), "").astype(str).to_numpy(dtype="U")


def nullable_text(values: Any) -> np.ndarray:
    """A text column as an object array with ``None`` for null (NaN, None, empty)."""
    s = pd.Series(values, dtype=object)
    out = s.to_numpy(dtype=object).copy()
    out[s.isna().to_numpy() | (s.astype(str) == "").to_numpy()] = None
    return out


def where_or_none(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` where ``mask`` holds, else ``None`` (object array)."""
    out = np.asarray(values, dtype=object).copy()
    out[~np.asarray(mask, dtype=bool)] = None
    return out


def stochastic_round(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Round non-negative reals to integers, up with probability of the fraction.

    The expected total is preserved, so tiny scales still give some units.
    """
    base = np.floor(values)
    return (base + (rng.random(len(values)) < (values - base))).astype(np.int64)


def allocate(total: int, weights: np.ndarray) -> np.ndarray:
    """Split ``total`` into integer parts proportional to ``weights`` (largest remainder)."""
    w = np.asarray(weights, dtype=np.float64)
    if total <= 0 or w.sum() <= 0:
        return np.zeros(len(w), dtype=np.int64)
    exact = total * w / w.sum()
    parts = np.floor(exact).astype(np.int64)
    short = total - int(parts.sum())
    if short:
        # Stable order on (-remainder, index): no reliance on sort stability of ties.
        order = np.lexsort((np.arange(len(w)), -(exact - parts)))
        parts[order[:short]] += 1
    return parts


def building_points(buildings: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """A point inside each building polygon (lon, lat arrays)."""
    geoms = np.asarray(buildings.geometry.values, dtype=object)
    pts = shapely.point_on_surface(geoms)
    return shapely.get_x(pts), shapely.get_y(pts)


def jitter_inside(
    geoms: np.ndarray, index: np.ndarray, x: np.ndarray, y: np.ndarray,
    rng: np.random.Generator, max_m: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Move points by up to ``max_m`` metres, keeping each inside its polygon.

    ``geoms[index]`` is the polygon of each point; a moved point that falls
    outside it stays where it was.
    """
    n = len(index)
    r = max_m * np.sqrt(rng.random(n))
    a = rng.random(n) * 2 * np.pi
    dy = r * np.sin(a) / _DEG_LAT_M
    dx = r * np.cos(a) / (_DEG_LAT_M * np.cos(np.radians(y)))
    xj, yj = x + dx, y + dy
    shapely.prepare(geoms)
    inside = shapely.contains_xy(geoms[index], xj, yj)
    return np.where(inside, xj, x), np.where(inside, yj, y)


def group_starts(keys: np.ndarray) -> np.ndarray:
    """Rank of each element within its run of equal ``keys`` (keys must be grouped)."""
    n = len(keys)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    new = np.empty(n, dtype=bool)
    new[0] = True
    new[1:] = keys[1:] != keys[:-1]
    start = np.maximum.accumulate(np.where(new, np.arange(n), 0))
    return np.arange(n) - start


def column_or(frame: pd.DataFrame, name: str, default: Any = None) -> pd.Series:
    """Column ``name`` of ``frame``, or a column of ``default`` when it has none."""
    if name in frame.columns:
        return frame[name]
    return pd.Series([default] * len(frame), index=frame.index, dtype=object)


# --------------------------------------------------------------------------
# houses
# --------------------------------------------------------------------------

def build_houses(buildings: gpd.GeoDataFrame, seed: int, scale: float) -> gpd.GeoDataFrame:
    """Dwellings, offices and shops (kind ``house``) in the buildings.

    Residential and mixed buildings get dwellings: floors x units per floor
    (from the footprint), scaled so the district holds about
    ``450,000 x scale`` of them; mixed buildings keep their lowest 1-3 floors
    for shops. Office, commercial, mixed and industrial buildings get about
    ``60,000 x scale`` office and shop units, in proportion to their floor
    area. Units are numbered per building: ``unit`` (单元, dwellings only),
    ``floor`` and ``room`` (floor x 100 + position, e.g. ``"1203"``); the
    address is the building address plus ``"2单元1203室"`` (dwelling),
    ``"1203室"`` (office) or ``"102号商铺"`` (shop), and ``address_id`` the
    building's plus ``-`` and a 4-digit sequence. The point is the building's
    representative point moved by at most 5 m, inside the footprint. Admin
    codes and the valid time are the building's.
    """
    rng = rng_for(seed, STAGE_HOUSES)
    b = buildings.reset_index(drop=True)
    nb = len(b)
    use = column_or(b, "use", "").to_numpy(dtype=object)
    floors = np.clip(pd.to_numeric(column_or(b, "floors", 1), errors="coerce")
                     .fillna(1).to_numpy(dtype=np.int64), 1, None)
    footprint = pd.to_numeric(column_or(b, "footprint_m2", np.nan), errors="coerce").to_numpy(
        dtype=np.float64)
    missing = ~np.isfinite(footprint) | (footprint <= 0)
    if missing.any():
        area = b.geometry.to_crs(4547).area.to_numpy()
        footprint = np.where(missing, area, footprint)
    footprint = np.clip(footprint, 30.0, None)

    residential = use == "residential"
    mixed = use == "mixed"
    office = use == "office"
    commercial = use == "commercial"
    industrial = use == "industrial"

    # Mixed buildings: shops on the lowest 1-3 floors, dwellings above.
    shop_floors = np.where(mixed, np.minimum(rng.integers(1, 4, nb), floors), 0)
    res_floors = np.where(residential, floors, np.where(mixed, floors - shop_floors, 0))
    first_res_floor = np.where(mixed, shop_floors + 1, 1)
    # Flats per floor at full scale: ~90 m² of gross area each.
    upf = np.clip(np.round(footprint * 0.75 / 90.0), 2, 12).astype(np.int64)

    raw = (res_floors * upf).astype(np.float64)
    target = DWELLINGS_AT_SCALE_1 * scale
    n_dw = stochastic_round(raw * (target / raw.sum()), rng) if raw.sum() > 0 else raw.astype(
        np.int64)
    per_floor = np.where(n_dw > 0, -(-n_dw // np.maximum(res_floors, 1)), 1)
    per_stair = np.minimum(rng.integers(2, 5, nb), per_floor)

    bi_d = np.repeat(np.arange(nb), n_dw)
    i_d = np.arange(len(bi_d)) - np.repeat(np.cumsum(n_dw) - n_dw, n_dw)
    floor_d = first_res_floor[bi_d] + i_d // per_floor[bi_d]
    pos_d = i_d % per_floor[bi_d]
    unit_d = 1 + pos_d // per_stair[bi_d]
    room_d = floor_d * 100 + 1 + pos_d % per_stair[bi_d]
    area_d = np.clip(footprint[bi_d] * 0.78 / upf[bi_d]
                     * rng.lognormal(0.0, 0.15, len(bi_d)), 25.0, 400.0)

    # Office and shop units.
    w_area = footprint * floors
    weight = np.select(
        [office, commercial, industrial, mixed],
        [w_area * 1.0, w_area * 0.7, w_area * 0.4, footprint * shop_floors * 0.8], 0.0)
    work_floors = np.where(mixed, shop_floors, floors)
    target_w = WORK_UNITS_AT_SCALE_1 * scale
    n_wk = (stochastic_round(weight * (target_w / weight.sum()), rng) if weight.sum() > 0
            else np.zeros(nb, dtype=np.int64))
    wk_per_floor = np.where(n_wk > 0, -(-n_wk // np.maximum(work_floors, 1)), 1)
    digits = np.maximum(2, np.floor(np.log10(np.maximum(wk_per_floor, 1))).astype(np.int64) + 1)

    bi_w = np.repeat(np.arange(nb), n_wk)
    i_w = np.arange(len(bi_w)) - np.repeat(np.cumsum(n_wk) - n_wk, n_wk)
    floor_w = 1 + i_w // wk_per_floor[bi_w]
    room_w = floor_w * 10 ** digits[bi_w] + 1 + i_w % wk_per_floor[bi_w]
    is_shop = (mixed[bi_w]
               | (commercial[bi_w] & (floor_w <= np.minimum(2, floors[bi_w])))
               | (office[bi_w] & (floor_w == 1) & (floors[bi_w] > 1)))
    area_w = np.where(
        is_shop,
        np.clip(rng.lognormal(np.log(60.0), 0.6, len(bi_w)), 8.0, None),
        np.clip(rng.lognormal(np.log(120.0), 0.6, len(bi_w)), 20.0, None))
    area_w = np.minimum(area_w, footprint[bi_w] * 0.9)

    # One table, ordered by building, floor, unit, room.
    bidx = np.concatenate([bi_d, bi_w])
    floor = np.concatenate([floor_d, floor_w])
    unit = np.concatenate([unit_d, np.zeros(len(bi_w), dtype=np.int64)])
    room = np.concatenate([room_d, room_w])
    kind = np.concatenate([np.zeros(len(bi_d), np.int8), np.where(is_shop, 2, 1).astype(np.int8)])
    area = np.round(np.concatenate([area_d, area_w]), 1)
    order = np.lexsort((room, unit, floor, bidx))
    bidx, floor, unit, room, kind, area = (a[order] for a in (bidx, floor, unit, room, kind, area))
    n = len(bidx)

    room_s = int_strings(room)
    unit_s = int_strings(unit)
    suffix = np.select(
        [kind == 0, kind == 1],
        [np.strings.add(np.strings.add(unit_s, "单元"), np.strings.add(room_s, "室")),
         np.strings.add(room_s, "室")],
        np.strings.add(room_s, "号商铺"))
    b_addr = text_array(column_or(b, "address", ""))
    address = np.strings.add(b_addr[bidx], suffix)

    b_aid = text_array(column_or(b, "address_id", ""))
    b_ids = text_array(column_or(b, "id", ""))
    b_aid = np.where(b_aid == "", b_ids, b_aid)
    seq = np.strings.zfill(int_strings(group_starts(bidx) + 1), 4)
    address_id = np.strings.add(np.strings.add(b_aid[bidx], "-"), seq)

    px, py = building_points(b)
    geoms = np.asarray(b.geometry.values, dtype=object)
    x, y = jitter_inside(geoms, bidx, px[bidx], py[bidx], rng, 5.0)

    columns = {
        "id": id_strings("H", n, 7),
        "address_id": address_id,
        "subdistrict_code": nullable_text(column_or(b, "subdistrict_code", None))[bidx],
        "community_code": nullable_text(column_or(b, "community_code", None))[bidx],
        "valid_from": nullable_text(column_or(b, "valid_from", None))[bidx],
        "valid_to": nullable_text(column_or(b, "valid_to", None))[bidx],
        "building_id": b_ids[bidx],
        "unit": where_or_none(kind == 0, unit_s),
        "floor": floor,
        "room": room_s,
        "use": np.array(["dwelling", "office", "shop"], dtype=object)[kind],
        "area_m2": area,
        "address": address,
    }
    out = finish_frame("house", columns, x, y)
    assert isinstance(out, gpd.GeoDataFrame)
    return out


# --------------------------------------------------------------------------
# persons
# --------------------------------------------------------------------------

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚"
    "邵万钱严覃武戴莫孔向汤"
)
# Relative frequency: the first names of the list are far more common (Zipf-like),
# with a Guangdong tilt (陈, 黄, 林, 梁, 李 are the commonest there).
_SURNAME_BOOST = {"陈": 3.0, "黄": 2.0, "林": 2.2, "梁": 2.0, "李": 1.3, "张": 1.0, "刘": 1.0,
                  "吴": 1.4, "钟": 1.6, "曾": 1.6, "罗": 1.5, "郑": 1.4, "谢": 1.4, "何": 1.3}
_GIVEN_M = "伟强磊军勇杰涛斌超明辉刚华建国志文俊浩宇轩博鹏飞凯健波龙亮成峰鑫晨昊睿哲子嘉豪铭泽"
_GIVEN_F = "芳娜敏静丽艳娟霞秀英玲婷雪慧颖琳晶洁倩欣怡梦佳雨萱思涵悦琪瑶璐薇蕾琴燕红梅兰月"
_GIVEN_X = "文明海江山天金一永春晓德新志家晨安小宏立子思"

#: Area-code prefixes of the fake id numbers: Luohu first, then other Guangdong counties.
_LUOHU_PREFIX = "440303"
_GD_PREFIXES = (
    "440304", "440305", "440306", "440307", "440308", "440103", "440104", "440106", "440111",
    "440203", "440402", "440507", "440513", "440582", "440604", "440703", "440781", "440803",
    "440881", "440902", "441202", "441302", "441322", "441402", "441424", "441502", "441521",
    "441602", "441702", "441802", "441900", "442000", "445102", "445202", "445281", "445302",
)
_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_ID_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)

# Household sizes 1..7 (census: 30.4 % one-person households, mean size 2.61).
_HH_SIZE_TAIL = np.array([0.30, 0.32, 0.21, 0.10, 0.045, 0.025])

#: Share of households that move in during 2019-2025, and weights of the years
#: 2019..2025 (front-loaded so the population on the census day stays near the census).
MOVE_IN_SHARE = 0.16
_MOVE_IN_YEARS = np.array([0.34, 0.30, 0.09, 0.06, 0.08, 0.07, 0.06])
#: Share of households that move out during 2019-2025, and weights of the years.
MOVE_OUT_SHARE = 0.15
_MOVE_OUT_YEARS = np.array([0.05, 0.06, 0.16, 0.17, 0.20, 0.20, 0.16])
#: Share of households whose members are registered residents (户籍).
REGISTERED_SHARE = 0.5


def id_check_char(digits17: np.ndarray) -> np.ndarray:
    """ISO 7064 MOD 11-2 check characters (``b"0"``..``b"9"``, ``b"X"`` as uint8).

    ``digits17`` is an ``(n, 17)`` integer array of the first 17 digits of
    resident identity numbers (GB 11643-1999).
    """
    s = (np.asarray(digits17, dtype=np.int64) * _ID_WEIGHTS).sum(axis=1) % 11
    return _ID_CHECK[s]


def _household_size_probs(census: Census) -> np.ndarray:
    """Probabilities of household sizes 1..7: the census' one-person share and mean size.

    The sizes 2..7 keep the shape of ``_HH_SIZE_TAIL``, exponentially tilted
    (bisection on the tilt) so the mean equals ``census.household_size``.
    """
    p1 = census.one_person_households / census.households if census.households else 0.3
    sizes = np.arange(2, 8)
    target = (census.household_size - p1) / (1 - p1) if p1 < 1 else 2.0
    target = float(np.clip(target, 2.05, 6.5))
    lo, hi = -5.0, 5.0
    for _ in range(60):
        mid = (lo + hi) / 2
        w = _HH_SIZE_TAIL * np.exp(mid * sizes)
        if (w * sizes).sum() / w.sum() < target:
            lo = mid
        else:
            hi = mid
    w = _HH_SIZE_TAIL * np.exp(lo * sizes)
    return np.concatenate([[p1], (1 - p1) * w / w.sum()])


def _year_days(years: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uniform random day within each given year."""
    start = np.array([f"{int(y)}-01-01" for y in range(1990, 2031)], dtype="datetime64[D]")
    start_days = start.astype(np.int64)
    k = years - 1990
    length = start_days[k + 1] - start_days[k]
    return start_days[k] + np.floor(rng.random(len(years)) * length).astype(np.int64)


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """``(n, width)`` decimal digits of non-negative integers (most significant first)."""
    pw = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (np.asarray(values, dtype=np.int64)[:, None] // pw) % 10


def _bytes_to_str(mat: np.ndarray) -> np.ndarray:
    """Rows of an ``(n, w)`` uint8 ASCII matrix as a unicode array."""
    mat = np.ascontiguousarray(mat, dtype=np.uint8)
    return mat.view(f"S{mat.shape[1]}").ravel().astype(f"U{mat.shape[1]}")


def build_persons(
    houses: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame, census: Census, seed: int,
    scale: float,
) -> gpd.GeoDataFrame:
    """The resident population (kind ``person``): ``round(census.total x scale)`` rows.

    Sex and age follow the census bands (birth dates uniform inside each band
    at the census day 2020-11-01). Persons live in households (mean size
    ≈ 2.61, 30 % one-person, the first member an adult) placed in dwelling
    houses; a person's point, building, address id and admin codes are the
    house's. Names are synthetic; ``id_number`` has a deliberately wrong check
    character; ``phone`` starts with :data:`PHONE_PREFIX` (persons aged 12 and
    over, else null). ``valid_from`` is the move-in date (1995-2018 for most,
    2019-2025 for ~16 % of households, never before birth nor before the
    house exists) and ``valid_to`` the move-out date (2019-2025 for ~15 % of
    households, never after the house's end), else null.

    ``buildings`` is only used to check that every house's building exists.
    """
    rng = rng_for(seed, STAGE_PERSONS)
    n = round(census.total * scale)
    h = houses.reset_index(drop=True)
    if "id" in buildings.columns:
        known = pd.Index(buildings["id"].to_numpy(dtype=object))
        if not pd.Index(h["building_id"].to_numpy(dtype=object)).isin(known).all():
            raise ValueError("houses refer to buildings that are not in `buildings`")

    start, end = day_number(DEMO_START), day_number(DEMO_END)

    # --- sex and age: largest-remainder allocation over the census cells ----------
    bands = census.bands
    cell_counts = allocate(n, np.array([[bd.male, bd.female] for bd in bands]).ravel())
    cell = np.repeat(np.arange(len(cell_counts)), cell_counts)
    band = cell // 2
    male = (cell % 2) == 0
    lo_age = np.array([bd.lo for bd in bands])[band]
    hi_age = np.array([bd.hi for bd in bands])[band]
    cy, cmd = int(CENSUS_DATE[:4]), CENSUS_DATE[4:]
    last_birth = np.array([day_number(f"{cy - a}{cmd}") for a in range(0, 130)])
    upper = last_birth[lo_age]  # born on this day: exactly lo years old on census day
    lower = last_birth[hi_age + 1] + 1
    u = rng.random(n)
    u = np.where(hi_age >= 100, u * u, u)  # the open 85+ band thins out with age
    birth = upper - np.floor(u * (upper - lower + 1)).astype(np.int64)
    birth = np.maximum(birth, lower)
    adult = lo_age >= 20

    # --- households -----------------------------------------------------------------
    probs = _household_size_probs(census)
    n_h_guess = n + 16  # enough even if every household had one member
    sizes = rng.choice(np.arange(1, 8), size=n_h_guess, p=probs)
    csum = np.cumsum(sizes)
    n_hh = int(np.searchsorted(csum, n) + 1) if n > 0 else 0
    sizes = sizes[:n_hh].copy()
    if n_hh:
        sizes[-1] -= int(csum[n_hh - 1] - n)
    hh_start = np.cumsum(sizes) - sizes

    # Heads are adults (when there are enough); the other slots are filled at random.
    adults = np.flatnonzero(adult)
    rng.shuffle(adults)
    heads = adults[:n_hh]
    if len(heads) < n_hh:
        others_all = np.setdiff1d(np.arange(n), heads)
        rng.shuffle(others_all)
        heads = np.concatenate([heads, others_all[: n_hh - len(heads)]])
    is_head = np.zeros(n, dtype=bool)
    is_head[heads] = True
    rest = np.flatnonzero(~is_head)
    rng.shuffle(rest)
    slot_person = np.empty(n, dtype=np.int64)
    head_slot = np.zeros(n, dtype=bool)
    head_slot[hh_start] = True
    slot_person[head_slot] = heads
    slot_person[~head_slot] = rest
    hh = np.repeat(np.arange(n_hh), sizes)  # household of each slot (= output row)
    male, birth, lo_age = male[slot_person], birth[slot_person], lo_age[slot_person]

    # --- houses ---------------------------------------------------------------------
    h_vf, _ = parse_days(h["valid_from"])
    h_vt, _ = parse_days(h["valid_to"])
    h_vf = np.where(h_vf == NO_END, day_number("1990-01-01"), h_vf)
    dwelling = (h["use"].to_numpy(dtype=object) == "dwelling")
    eligible = np.flatnonzero(
        dwelling & (h_vf < day_number("2024-01-01"))
        & (h_vt >= day_number("2021-01-01")) & (h_vt - h_vf >= 730))
    if n_hh and len(eligible) == 0:
        raise ValueError("no dwelling house to place the households in")
    hh_house = eligible[rng.permutation(len(eligible))[np.arange(n_hh) % max(len(eligible), 1)]]
    hvf, hvt = h_vf[hh_house], h_vt[hh_house]

    # --- moves (per household) ------------------------------------------------------
    # Households in houses built since 2019 or demolished by 2025 move anyway; the
    # random moves of the others make up the rest of the target shares.
    new_house = hvf >= start
    gone_house = hvt <= end
    share_new = float(new_house.mean()) if n_hh else 0.0
    share_gone = float(gone_house.mean()) if n_hh else 0.0
    p_in = max(0.0, (MOVE_IN_SHARE - share_new) / max(1.0 - share_new, 1e-9))
    p_out = max(0.0, (MOVE_OUT_SHARE - share_gone) / max(1.0 - share_gone, 1e-9))
    mover_in = rng.random(n_hh) < p_in
    early = rng.integers(day_number("1995-01-01"), start, n_hh)
    in_year = rng.choice(np.arange(2019, 2026), size=n_hh, p=_MOVE_IN_YEARS / _MOVE_IN_YEARS.sum())
    hh_in = np.where(mover_in, _year_days(in_year, rng), early)
    # Into a house that did not exist yet: move in within months of its completion.
    hh_in = np.where(hh_in < hvf, hvf + rng.exponential(90.0, n_hh).astype(np.int64), hh_in)
    # A household always arrives at least a month before the house's end.
    late = hh_in >= hvt - 30
    lo = np.maximum(hvf, day_number("1995-01-01"))
    hh_in = np.where(late, lo + ((hvt - 30 - lo) * rng.random(n_hh)).astype(np.int64), hh_in)
    mover_out = (rng.random(n_hh) < p_out) & ~gone_house
    out_year = rng.choice(np.arange(2019, 2026), size=n_hh,
                          p=_MOVE_OUT_YEARS / _MOVE_OUT_YEARS.sum())
    hh_out = np.where(mover_out, _year_days(out_year, rng), NO_END)
    # A move-out drawn before the move-in becomes a stay of 1-24 months.
    early_out = mover_out & (hh_out <= hh_in + 30)
    hh_out = np.where(early_out, hh_in + rng.integers(31, 730, n_hh), hh_out)
    hh_out = np.where(mover_out & (hh_out > end), NO_END, hh_out)
    hh_out = np.minimum(hh_out, hvt)

    vf = np.maximum(hh_in[hh], birth)
    vt = hh_out[hh].copy()
    # Born after the household left: the baby leaves 1-12 months after birth, or stays.
    bad = vt <= vf
    vt = np.where(bad, np.minimum(vf + rng.integers(31, 365, n), hvt[hh]), vt)
    vt = np.where((vt <= vf) | ((vt > end) & (vt != hvt[hh])), NO_END, vt)

    # --- names -----------------------------------------------------------------------
    surnames = np.array(list(_SURNAMES))
    w = 1.0 / (np.arange(len(surnames)) + 8.0)
    w *= np.array([_SURNAME_BOOST.get(s, 1.0) for s in surnames])
    family_name = surnames[rng.choice(len(surnames), size=n_hh, p=w / w.sum())]
    own_name = surnames[rng.choice(len(surnames), size=n, p=w / w.sum())]
    surname = np.where(rng.random(n) < 0.65, family_name[hh], own_name)
    g_m = np.array(list(_GIVEN_M + _GIVEN_X))
    g_f = np.array(list(_GIVEN_F + _GIVEN_X))
    c1 = np.where(male, g_m[rng.integers(0, len(g_m), n)], g_f[rng.integers(0, len(g_f), n)])
    c2 = np.where(male, g_m[rng.integers(0, len(g_m), n)], g_f[rng.integers(0, len(g_f), n)])
    c2 = np.where(rng.random(n) < 0.7, c2, "")
    name = np.strings.add(np.strings.add(surname, c1), c2)

    # --- residence type and id numbers ------------------------------------------------
    registered_hh = rng.random(n_hh) < REGISTERED_SHARE
    registered = registered_hh[hh]
    prefixes = np.array([_LUOHU_PREFIX, *_GD_PREFIXES])
    pfx_idx = np.where(registered & (rng.random(n) < 0.75), 0,
                       rng.integers(1, len(prefixes), n))
    birth_ymd = np.datetime_as_string(birth.astype("datetime64[D]")).astype("U10")
    birth_num = np.strings.replace(birth_ymd, "-", "").astype(np.int64)
    # Unique sequence per (area, birth date, sex): rank in that group, from a random offset.
    key = (pfx_idx.astype(np.int64) * 10**9 + birth_num) * 2 + male
    order = np.argsort(key, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = group_starts(key[order])
    offset = rng.integers(0, 400, n)
    grp_first = np.empty(n, dtype=np.int64)
    grp_first[order] = order[np.arange(n) - group_starts(key[order])]
    half = (offset[grp_first] + rank) % 500
    seq = half * 2 + male  # odd = male (GB 11643-1999 §4.3)
    area_digits = np.asarray(prefixes[pfx_idx].astype("S6").view(np.uint8)).reshape(n, 6) - 48
    digits17 = np.concatenate([area_digits, _digits(birth_num, 8), _digits(seq, 3)], axis=1)
    true_check = (digits17 * _ID_WEIGHTS).sum(axis=1) % 11
    wrong = (true_check + rng.integers(1, 11, n)) % 11  # never the true value
    id_mat = np.concatenate([digits17 + 48, _ID_CHECK[wrong][:, None]], axis=1)
    id_number = _bytes_to_str(id_mat)

    # --- phones: 100 + 8 digits, a bijection of the row number (unique) -------------
    mult, off = 48271, int(rng.integers(0, 10**8))
    tail = (np.arange(n, dtype=np.int64) * mult + off) % 10**8
    phone_s = np.strings.add(PHONE_PREFIX, np.strings.zfill(int_strings(tail), 8))
    phone = where_or_none(lo_age >= 12, phone_s)

    # --- where they live ----------------------------------------------------------------
    house_idx = hh_house[hh]
    hx = shapely.get_x(np.asarray(h.geometry.values, dtype=object))
    hy = shapely.get_y(np.asarray(h.geometry.values, dtype=object))
    house_ids = h["id"].to_numpy(dtype=object)
    columns = {
        "id": id_strings("P", n, 7),
        "address_id": nullable_text(h["address_id"])[house_idx],
        "subdistrict_code": nullable_text(h["subdistrict_code"])[house_idx],
        "community_code": nullable_text(h["community_code"])[house_idx],
        "valid_from": date_strings(vf),
        "valid_to": date_strings(vt),
        "name": name,
        "sex": np.where(male, "M", "F"),
        "birth_date": birth_ymd,
        "id_number": id_number,
        "phone": phone,
        "house_id": house_ids[house_idx],
        "building_id": h["building_id"].to_numpy(dtype=object)[house_idx],
        "household_id": id_strings("F", n_hh, 7)[hh] if n_hh else np.zeros(0, dtype="U1"),
        "residence_type": np.where(registered, "registered", "resident"),
    }
    out = finish_frame("person", columns, hx[house_idx], hy[house_idx])
    assert isinstance(out, gpd.GeoDataFrame)
    return out

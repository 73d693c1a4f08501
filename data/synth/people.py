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
STAGE_MOVERS = 1103

#: Dwellings in the district at scale 1.0 (some built only after 2020) for the
#: census day's ≈ 438,000 households of 2.61 persons: the empty ones are room for
#: the households that move in while others move out (see :func:`build_persons`).
DWELLINGS_AT_SCALE_1 = 480_000
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


def zfill(values: np.ndarray, width: int) -> np.ndarray:
    """``np.strings.zfill`` that also takes no strings at all (numpy's takes the widest
    string's width and fails on an empty array: a piece of a district at a tiny scale
    can have buildings and not one house)."""
    if len(values) == 0:
        return np.zeros(0, dtype=f"<U{width}")
    return np.strings.zfill(values, width)


def id_strings(prefix: str, n: int, width: int) -> np.ndarray:
    """Sequential ids ``prefix`` + zero-padded 1..n (``width`` digits at least)."""
    width = max(width, len(str(max(n, 1))))
    nums = zfill(np.arange(1, n + 1).astype("U"), width)
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
    ``480,000 x scale`` of them; mixed buildings keep their lowest 1-3 floors
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
    seq = zfill(int_strings(group_starts(bidx) + 1), 4)
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

#: Share of the households that leave their dwelling in a year (≈ 16 % over 2019-2025).
#: As many people move in: every departure is matched by arrivals (see
#: :func:`build_persons`), so the resident total stays near the census.
MOVE_RATE = 0.023
#: Share of households whose members are registered residents (户籍).
REGISTERED_SHARE = 0.5
#: A dwelling stays empty for at least this many days between two households ...
_GAP_MIN = 7
#: ... plus an exponential wait of this mean (days).
_GAP_MEAN = 30.0
#: Age of an in-moving household's head on arrival: weights of the 5-year bands
#: 20-24 .. 60-64 (working-age heavy, as in Shenzhen's migration statistics).
_IN_HEAD_AGE = np.array([0.17, 0.26, 0.22, 0.13, 0.08, 0.05, 0.04, 0.03, 0.02])


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


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """``(n, width)`` decimal digits of non-negative integers (most significant first)."""
    pw = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (np.asarray(values, dtype=np.int64)[:, None] // pw) % 10


def _bytes_to_str(mat: np.ndarray) -> np.ndarray:
    """Rows of an ``(n, w)`` uint8 ASCII matrix as a unicode array."""
    mat = np.ascontiguousarray(mat, dtype=np.uint8)
    return mat.view(f"S{mat.shape[1]}").ravel().astype(f"U{mat.shape[1]}")


def _census_people(
    census: Census, n: int, rng: np.random.Generator, *, exact: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sex, birth day and census age band (lowest age) of ``n`` persons.

    With ``exact`` the census cells (band x sex) get a largest-remainder share
    of ``n`` (exact up to one person per cell), else each person draws a cell
    with the census' probabilities. Birth dates are uniform inside the band at
    the census day (the open 85+ band thins out with age).
    """
    bands = census.bands
    weights = np.array([[bd.male, bd.female] for bd in bands], dtype=np.float64).ravel()
    if exact:
        cell = np.repeat(np.arange(len(weights)), allocate(n, weights))
    else:
        cell = rng.choice(len(weights), size=n, p=weights / weights.sum())
    band = cell // 2
    male = (cell % 2) == 0
    lo_age = np.array([bd.lo for bd in bands])[band]
    hi_age = np.array([bd.hi for bd in bands])[band]
    cy, cmd = int(CENSUS_DATE[:4]), CENSUS_DATE[4:]
    last_birth = np.array([day_number(f"{cy - a}{cmd}") for a in range(0, 130)])
    upper = last_birth[lo_age]  # born on this day: exactly lo years old on census day
    lower = last_birth[hi_age + 1] + 1
    u = rng.random(n)
    u = np.where(hi_age >= 100, u * u, u)
    birth = upper - np.floor(u * (upper - lower + 1)).astype(np.int64)
    return male, np.maximum(birth, lower), lo_age


def _household_sizes(probs: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """Household sizes drawn from ``probs`` (sizes 1..7) that add up to exactly ``total``."""
    sizes = rng.choice(np.arange(1, 8), size=total + 16, p=probs)
    csum = np.cumsum(sizes)
    n_hh = int(np.searchsorted(csum, total) + 1) if total > 0 else 0
    sizes = sizes[:n_hh].copy()
    if n_hh:
        sizes[-1] -= int(csum[n_hh - 1] - total)
    return sizes


def _form_households(adult: np.ndarray, sizes: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    """Person in each household slot: an adult heads each household when there are enough.

    Slots are households of ``sizes`` laid end to end; the result is a
    permutation of the persons (``len(adult) == sizes.sum()``).
    """
    n, n_hh = len(adult), len(sizes)
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
    head_slot[np.cumsum(sizes) - sizes] = True
    slot_person[head_slot] = heads
    slot_person[~head_slot] = rest
    return slot_person


def _track(deficit: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Days on which households of ``sizes`` arrive so their running total tracks ``deficit``.

    ``deficit[j]`` is the number of persons missing on day ``j`` (made
    non-decreasing here). Household ``k`` arrives on the first day the deficit
    reaches the persons before it plus half its own size, so arrivals never
    lead or lag the deficit by more than half a household. Households that
    are never needed get ``len(deficit)``.
    """
    d = np.maximum.accumulate(np.asarray(deficit, dtype=np.float64))
    need = np.cumsum(sizes) - sizes / 2.0
    return np.searchsorted(d, need, side="left")


def _gaps(n: int, rng: np.random.Generator) -> np.ndarray:
    """Days a dwelling stays empty between two households."""
    return _GAP_MIN + rng.exponential(_GAP_MEAN, n).astype(np.int64)


def _in_movers(sizes: np.ndarray, arrival: np.ndarray,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Sex and birth day of the members of in-moving households (working-age heavy).

    The head (first member) is 20-64 on arrival, mostly 20-39 (:data:`_IN_HEAD_AGE`);
    the second member is a partner of about the same age, mostly of the other
    sex; further members are children (0-17, younger than the head by 20
    years at least) or, in one case of five, an older relative.
    """
    n = int(sizes.sum())
    hh = np.repeat(np.arange(len(sizes)), sizes)
    rank = group_starts(hh)
    band = rng.choice(len(_IN_HEAD_AGE), size=len(sizes), p=_IN_HEAD_AGE / _IN_HEAD_AGE.sum())
    head_age = 20.0 + 5.0 * band + 5.0 * rng.random(len(sizes))
    head_male = rng.random(len(sizes)) < 0.5
    ha = head_age[hh]
    partner = np.clip(ha + rng.normal(0.0, 3.0, n), 18.0, None)
    child = rng.random(n) * np.clip(ha - 20.0, 0.0, 18.0)
    relative = np.clip(ha + rng.uniform(-5.0, 30.0, n), 16.0, 95.0)
    is_child = (ha >= 24.0) & (rng.random(n) < 0.8)
    age = np.select([rank == 0, rank == 1, is_child], [ha, partner, child], relative)
    male = np.where(rank == 0, head_male[hh],
                    np.where(rank == 1, head_male[hh] ^ (rng.random(n) < 0.85),
                             rng.random(n) < 0.5))
    birth = arrival[hh] - np.floor(age * 365.25).astype(np.int64)
    return male, birth


def build_persons(
    houses: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame, census: Census, seed: int,
    scale: float,
) -> gpd.GeoDataFrame:
    """The residents of 2019-2025 (kind ``person``), about the census figure on every day.

    Three groups of households, laid out in this order:

    - the census cohort: exactly ``round(census.total x scale)`` persons, all
      resident on the census day 2020-11-01, whose sex and age follow the
      census bands (birth dates uniform inside each band). Most moved in
      during 1995-2018, some during 2019 up to the census day (into houses
      completed since 2019 within months of completion); about
      :data:`MOVE_RATE` of the households a year move out after the census
      day, and all of them leave a house that is demolished;
    - earlier residents: households present on 2019-01-01 that leave before
      the census day, as the cohort's later arrivals and births come in;
    - later in-movers: households arriving after the census day as the
      cohort's households leave; working-age heavy (see :func:`_in_movers`).

    Departures and arrivals are paired through the day-by-day deficit of
    residents (:func:`_track`), so the resident total on any day of
    2019-01-01 .. 2025-12-31 (and after: nobody moves then) stays within a
    few households of the census figure. A dwelling holds one household at
    a time (the cohort's households, with the rare shared dwelling when
    there are more households than dwellings): an earlier resident leaves
    a dwelling at least a week before the next household arrives, and an
    in-mover arrives at least a week after the last one left.

    Households have a mean size ≈ 2.61, 30 % one-person, the first member an
    adult; a person's point, building, address id and admin codes are the
    house's. Names are synthetic; ``id_number`` has a deliberately wrong
    check character; ``phone`` starts with :data:`PHONE_PREFIX` (persons
    aged 12 and over on the census day, else null). ``valid_from`` is the
    move-in date (or the birth date), never before the house exists;
    ``valid_to`` the move-out date, never after the house's end, else null.

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
    census_day = day_number(CENSUS_DATE)
    early_day = day_number("1995-01-01")
    probs = _household_size_probs(census)

    # === the census cohort ==========================================================
    male, birth, lo_age = _census_people(census, n, rng, exact=True)
    sizes = _household_sizes(probs, n, rng)
    n_hh = len(sizes)
    slot_person = _form_households(lo_age >= 20, sizes, rng)
    hh = np.repeat(np.arange(n_hh), sizes)  # household of each slot (= output row)
    male, birth = male[slot_person], birth[slot_person]

    # Houses that stand on the census day (with a month's margin each side).
    h_vf, _ = parse_days(h["valid_from"])
    h_vt, _ = parse_days(h["valid_to"])
    h_vf = np.where(h_vf == NO_END, day_number("1990-01-01"), h_vf)
    dwelling = (h["use"].to_numpy(dtype=object) == "dwelling")
    eligible = np.flatnonzero(dwelling & (h_vf <= census_day - 30) & (h_vt > census_day + 30))
    if n_hh and len(eligible) == 0:
        raise ValueError("no dwelling house to place the households in")
    # Houses completed since 2019 come last: a new estate fills over the years, and
    # the dwellings still empty on the census day take in-movers after it.
    shuffled = eligible[rng.permutation(len(eligible))]
    shuffled = shuffled[np.argsort(h_vf[shuffled] >= start, kind="stable")]
    hh_house = shuffled[np.arange(n_hh) % max(len(eligible), 1)]
    hvf, hvt = h_vf[hh_house], h_vt[hh_house]

    # Arrivals: 1995-2018, or between 2019-01-01 and the census day (the year's
    # share of movers), or within months of the completion of a house built since.
    new_house = hvf >= start
    lo = np.maximum(hvf, early_day)
    early = lo + np.floor(rng.random(n_hh) * np.maximum(start - lo, 1)).astype(np.int64)
    w_lo = np.maximum(hvf, start)
    window = w_lo + np.floor(rng.random(n_hh) * (census_day + 1 - w_lo)).astype(np.int64)
    mover_in = rng.random(n_hh) < MOVE_RATE * (census_day - start) / 365.25
    completion = np.minimum(hvf + rng.exponential(90.0, n_hh).astype(np.int64), census_day)
    hh_in = np.where(new_house, completion, np.where(mover_in, window, early))
    # Departures after the census day: movers, and everyone in a house that goes.
    gone = hvt <= end
    mover_out = (rng.random(n_hh) < MOVE_RATE * (end - census_day) / 365.25) & ~gone
    leave = census_day + 1 + np.floor(rng.random(n_hh) * (end - census_day)).astype(np.int64)
    hh_out = np.where(gone, hvt, np.where(mover_out, leave, NO_END))
    vf = np.maximum(hh_in[hh], birth)
    vt = hh_out[hh]

    # === earlier residents: leave before the census day as the cohort arrives ========
    # deficit_before[j]: cohort members not yet resident on day census_day - j.
    arr = vf[vf > start] - start
    waiting = np.bincount(arr, minlength=census_day - start + 1)
    deficit_before = (waiting.sum() - np.cumsum(waiting))[::-1]
    rng_m = rng_for(seed, STAGE_MOVERS)
    sizes_l = rng_m.choice(np.arange(1, 8), size=int(deficit_before[-1]) + 1, p=probs)
    t_l = _track(deficit_before, sizes_l)
    keep = t_l < len(deficit_before)
    sizes_l, t_l = sizes_l[keep], census_day - t_l[keep]
    # Dwellings they can leave: the one a cohort household moves into later (a week
    # before it does), or one nobody of the cohort lives in (by its demolition).
    chain = np.flatnonzero(~new_house & (hh_in > start))
    occupied = np.zeros(len(h), dtype=bool)
    occupied[hh_house] = True
    empty = np.flatnonzero(dwelling & ~occupied & (h_vf < start - 30) & (h_vt > start + 30))
    slot_house = np.concatenate([hh_house[chain], empty])
    slot_due = np.concatenate([hh_in[chain] - _gaps(len(chain), rng_m),
                               np.minimum(h_vt[empty], census_day)])
    ok = slot_due > start
    slot_house, slot_due = slot_house[ok], slot_due[ok]
    # Should the district have too few such dwellings (a tiny scale with one large
    # new estate), the rest share a dwelling that stands all along, as the cohort's
    # households do when dwellings run short. Latest departures take the latest-due
    # dwellings (the matching that leaves no one earlier than needed).
    share = np.flatnonzero(dwelling & (h_vf < start - 30) & (h_vt > census_day))
    short = max(len(t_l) - len(slot_due), 0) if len(share) else 0
    slot_house = np.concatenate([slot_house, share[rng_m.integers(0, max(len(share), 1), short)]])
    slot_due = np.concatenate([slot_due, np.full(short, census_day)])
    m = min(len(t_l), len(slot_due))
    by_t = np.argsort(-t_l, kind="stable")[:m]
    by_due = np.argsort(-slot_due, kind="stable")[:m]
    sizes_l, t_l = sizes_l[by_t], t_l[by_t]
    l_house = slot_house[by_due]
    l_out = np.maximum(np.minimum(t_l, slot_due[by_due]), start + 1)
    l_lo = np.maximum(h_vf[l_house], early_day)
    l_in = l_lo + np.floor(rng_m.random(m) * np.maximum(start - l_lo, 1)).astype(np.int64)
    n_l = int(sizes_l.sum())
    male_l, birth_l, lo_l = _census_people(census, n_l, rng_m, exact=False)
    birth_l -= census_day - start  # the census ages as of 2019-01-01
    order_l = _form_households(lo_l >= 20, sizes_l, rng_m)
    male_l, birth_l = male_l[order_l], birth_l[order_l]
    hh_l = np.repeat(np.arange(m), sizes_l)
    vf_l = np.maximum(l_in[hh_l], birth_l)
    vt_l = l_out[hh_l]

    # === later in-movers: arrive after the census day as the cohort leaves ============
    # deficit_after[j]: cohort members gone by day census_day + j.
    out_days = vt[vt != NO_END] - census_day
    deficit_after = np.cumsum(np.bincount(out_days, minlength=end - census_day + 1))
    sizes_a = rng_m.choice(np.arange(1, 8), size=int(deficit_after[-1]) + 1, p=probs)
    t_a = _track(deficit_after, sizes_a)
    keep = t_a < len(deficit_after)
    sizes_a, t_a = sizes_a[keep], census_day + t_a[keep]
    # Dwellings free for them: the ones the cohort leaves (a week after), and the
    # ones nobody of the cohort lives in (when built, after earlier residents left).
    moved = np.flatnonzero(mover_out)
    free_from = np.maximum(h_vf + rng_m.exponential(60.0, len(h)).astype(np.int64),
                           census_day + 1)
    np.maximum.at(free_from, l_house, l_out + _gaps(m, rng_m))
    empty = np.flatnonzero(dwelling & ~occupied & (h_vt > end))
    slot_house = np.concatenate([hh_house[moved], empty])
    slot_free = np.concatenate([hh_out[moved] + _gaps(len(moved), rng_m), free_from[empty]])
    # As above, arrivals left without one share a dwelling that stands to the end.
    share = np.flatnonzero(dwelling & (h_vf <= census_day) & (h_vt > end))
    short = max(len(t_a) - len(slot_free), 0) if len(share) else 0
    slot_house = np.concatenate([slot_house, share[rng_m.integers(0, max(len(share), 1), short)]])
    slot_free = np.concatenate([slot_free, np.full(short, census_day + 1)])
    m_a = min(len(t_a), len(slot_free))
    by_free = np.argsort(slot_free, kind="stable")[:m_a]
    sizes_a, t_a = sizes_a[:m_a], t_a[:m_a]
    a_house = slot_house[by_free]
    a_in = np.maximum(t_a, slot_free[by_free])
    keep = a_in <= end
    sizes_a, a_in, a_house = sizes_a[keep], a_in[keep], a_house[keep]
    male_a, birth_a = _in_movers(sizes_a, a_in, rng_m)
    hh_a = np.repeat(np.arange(len(sizes_a)), sizes_a)
    vf_a = a_in[hh_a]
    vt_a = np.full(len(hh_a), NO_END, dtype=np.int64)

    # === all persons ===================================================================
    house_of_hh = np.concatenate([hh_house, l_house, a_house])
    hh = np.concatenate([hh, n_hh + hh_l, n_hh + m + hh_a])
    male = np.concatenate([male, male_l, male_a])
    birth = np.concatenate([birth, birth_l, birth_a])
    vf = np.concatenate([vf, vf_l, vf_a])
    vt = np.concatenate([vt, vt_l, vt_a])
    n_hh = len(house_of_hh)
    n = len(hh)

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
    phone_s = np.strings.add(PHONE_PREFIX, zfill(int_strings(tail), 8))
    twelve = day_number(f"{int(CENSUS_DATE[:4]) - 12}{CENSUS_DATE[4:]}")
    phone = where_or_none(birth <= twelve, phone_s)

    # --- where they live ----------------------------------------------------------------
    house_idx = house_of_hh[hh]
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

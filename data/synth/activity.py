"""Synthetic activity of the demo district: enterprises, industrial space, events, sensors.

Pure, deterministic, vectorised generators over the geography frames (see
:mod:`data.synth.people` for the shared conventions). The weather that drives
the waterlogging events and the flow sensors comes from one storm calendar
(:func:`storm_calendar`), so events and readings of the same seed agree on
the storm days.

Times: DATE columns are ``YYYY-MM-DD``; event times are generated in local
time (China Standard Time, UTC+8) and written as UTC ``YYYY-MM-DDTHH:MM:SSZ``;
reading ``ts`` values are Unix seconds of whole local hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from data.synth import event_texts
from data.synth.people import (
    DEMO_END,
    DEMO_START,
    NO_END,
    allocate,
    building_points,
    column_or,
    date_strings,
    datetime_strings,
    day_number,
    finish_frame,
    group_starts,
    id_strings,
    int_strings,
    jitter_inside,
    nullable_text,
    parse_days,
    rng_for,
    text_array,
    where_or_none,
    zfill,
)

STAGE_ENTERPRISES = 1201
STAGE_SPACES = 1202
STAGE_EVENTS = 1203
STAGE_SENSORS = 1204
STAGE_READINGS = 1205
STAGE_WEATHER = 1206

ENTERPRISES_AT_SCALE_1 = 250_000
#: Share of enterprises drawn for cancellation (about 20 % end up cancelled by 2025).
CANCEL_DRAW_SHARE = 0.31
SPACES_AT_SCALE_1 = 2_000
EVENTS_AT_SCALE_1 = 520_000
#: Fire-safety sensors (smoke, temperature, electrical fire together) at scale 1.0.
FIRE_SENSORS_AT_SCALE_1 = 150

_LOCAL_OFFSET_S = 8 * 3600  # China Standard Time (UTC+8), no daylight saving
_DEG_M = 111_320.0
_WORK_USES = ("office", "commercial", "industrial", "mixed")

_SUBDISTRICTS_CSV = (
    Path(__file__).resolve().parent.parent / "real" / "admin_divisions"
    / "luohu_subdistricts_nbs2023.csv"
)


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------

def _num(frame: pd.DataFrame, name: str, default: float) -> np.ndarray:
    return pd.to_numeric(column_or(frame, name, default), errors="coerce").fillna(default).to_numpy(
        dtype=np.float64)


def _floor_area(b: pd.DataFrame) -> np.ndarray:
    floors = np.clip(_num(b, "floors", 1.0), 1, None)
    foot = _num(b, "footprint_m2", np.nan)
    if np.isnan(foot).any():
        foot = np.where(np.isnan(foot), b.geometry.to_crs(4547).area.to_numpy(), foot)
    fa = _num(b, "floor_area_m2", np.nan)
    return np.where(np.isfinite(fa) & (fa > 0), fa, np.clip(foot, 30, None) * floors)


def _choice(rng: np.random.Generator, n: int, weights: np.ndarray) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    return rng.choice(len(w), size=n, p=w / w.sum())


def _pick(options: tuple[str, ...] | list[str], rng: np.random.Generator, n: int,
          weights: list[float] | np.ndarray | None = None) -> np.ndarray:
    arr = np.array(options)
    if weights is None:
        return arr[rng.integers(0, len(arr), n)]
    return arr[_choice(rng, n, np.asarray(weights))]


def _cat(*parts: np.ndarray | str) -> np.ndarray:
    out = np.asarray(parts[0])
    for p in parts[1:]:
        out = np.strings.add(out, p)
    return out


def _valid_buildings(b: pd.DataFrame, min_days: int = 365) -> tuple[np.ndarray, np.ndarray,
                                                                        np.ndarray]:
    """Day numbers of each building's valid interval and whether it spans enough of 1990-2025."""
    vf, has_vf = parse_days(column_or(b, "valid_from"))
    vf = np.where(has_vf, vf, day_number("1980-01-01"))
    vt, _ = parse_days(column_or(b, "valid_to"))
    end = day_number(DEMO_END)
    ok = (np.minimum(vt, end) - np.maximum(vf, day_number("1990-01-01"))) >= min_days
    return vf, vt, ok


def _interval_inside(vf: np.ndarray, vt: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Fit ``[vf, vt)`` into a container ``[lo, hi)`` (``hi`` may be NO_END).

    A start before ``lo`` moves to a few months after it; a start too close to
    the end (``hi`` or the demo's last day) is redrawn inside; an end after
    ``hi`` becomes ``hi``, and an end not after the start half a year later.
    """
    n = len(vf)
    vf = np.where(vf < lo, lo + rng.exponential(200.0, n).astype(np.int64), vf)
    cap = np.minimum(hi, day_number(DEMO_END))
    late = vf >= cap - 30
    vf = np.where(late, lo + ((cap - 30 - lo) * rng.random(n)).astype(np.int64), vf)
    vt = np.minimum(vt, hi)
    vt = np.where(vt <= vf, np.minimum(hi, vf + 180), vt)
    return vf, vt


def _subdistrict_names() -> dict[str, tuple[str, str]]:
    table = pd.read_csv(_SUBDISTRICTS_CSV, dtype=str)
    codes = table["subdistrict_code"].astype(str).tolist()
    names = table["subdistrict_name"].astype(str).tolist()
    shorts = table["short_name"].astype(str).tolist()
    return {c: (nm, sh) for c, nm, sh in zip(codes, names, shorts, strict=True)}


_FULLWIDTH = str.maketrans({**{chr(48 + i): chr(0xFF10 + i) for i in range(10)},
                            **{chr(65 + i): chr(0xFF21 + i) for i in range(26)},
                            **{chr(97 + i): chr(0xFF41 + i) for i in range(26)}})
_CN_DIGITS = str.maketrans(dict(zip("0123456789", "零一二三四五六七八九", strict=True)))
_CN_DIGITS_O = str.maketrans(dict(zip("0123456789", "〇一二三四五六七八九", strict=True)))
# One-character slips of a pinyin input method (homophones / near shapes).
_TYPO = {"路": "陆", "东": "冬", "门": "们", "湖": "胡", "园": "圆", "花": "华", "大": "达",
         "厦": "夏", "新": "心", "深": "申", "南": "难", "中": "钟", "春": "椿", "风": "枫",
         "建": "健", "设": "社", "宝": "保", "安": "按", "文": "闻", "锦": "金", "爱": "艾",
         "国": "果", "太": "泰", "宁": "凝", "罗": "萝", "桂": "贵", "翠": "萃", "竹": "竺",
         "莲": "连", "塘": "唐", "贝": "备", "龙": "隆", "苑": "院", "广": "光", "场": "厂",
         "城": "成", "金": "今", "心": "新", "华": "化", "庭": "亭", "岭": "领", "围": "维"}


def _cn_int(k: int) -> str:
    """Chinese numeral of a small integer (1..99), as people write building numbers."""
    d = "零一二三四五六七八九"
    if k < 10:
        return d[k]
    if k < 20:
        return "十" + (d[k % 10] if k % 10 else "")
    return d[k // 10] + "十" + (d[k % 10] if k % 10 else "")


def _typo(text: str, salt: int) -> str:
    """``text`` with one character replaced by a plausible input-method slip."""
    hits = [i for i, ch in enumerate(text) if ch in _TYPO]
    if hits:
        i = hits[salt % len(hits)]
        return text[:i] + _TYPO[text[i]] + text[i + 1:]
    if len(text) >= 2:  # a doubled character
        i = salt % (len(text) - 1)
        return text[: i + 1] + text[i] + text[i + 1:]
    return text


# --------------------------------------------------------------------------
# enterprises
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Section:
    """A section (门类) of GB/T 4754-2017 with its share in the demo and name words."""

    letter: str
    name: str
    share: float
    words: tuple[str, ...]


#: GB/T 4754-2017 sections A-T, with shares typical of a central service district
#: (wholesale/retail, business services and IT dominate; little primary industry).
SECTIONS: tuple[Section, ...] = (
    Section("A", "农、林、牧、渔业", 0.001, ("农业发展", "生态农业")),
    Section("B", "采矿业", 0.0005, ("矿业", "矿产")),
    Section("C", "制造业", 0.05, ("珠宝首饰", "电子", "服饰", "精密制造", "黄金珠宝")),
    Section("D", "电力、热力、燃气及水生产和供应业", 0.003, ("能源", "燃气", "电力工程")),
    Section("E", "建筑业", 0.04, ("建筑工程", "装饰工程", "建设工程", "机电工程")),
    Section("F", "批发和零售业", 0.34, ("贸易", "商贸", "珠宝", "电子商务", "百货", "食品",
                                      "进出口", "供应链贸易")),
    Section("G", "交通运输、仓储和邮政业", 0.025, ("物流", "供应链", "运输", "货运代理")),
    Section("H", "住宿和餐饮业", 0.05, ("餐饮管理", "酒店管理", "餐饮", "茶餐厅")),
    Section("I", "信息传输、软件和信息技术服务业", 0.075,
            ("科技", "信息技术", "网络科技", "软件", "数据科技", "智能科技")),
    Section("J", "金融业", 0.03, ("投资", "金融服务", "资产管理", "融资租赁", "基金管理")),
    Section("K", "房地产业", 0.04, ("房地产开发", "物业管理", "置业", "房地产经纪")),
    Section("L", "租赁和商务服务业", 0.15, ("商务咨询", "企业管理", "广告", "咨询服务",
                                         "品牌管理", "人力资源")),
    Section("M", "科学研究和技术服务业", 0.06, ("技术研究", "设计", "检测技术", "工程技术",
                                            "生物科技")),
    Section("N", "水利、环境和公共设施管理业", 0.004, ("环境科技", "园林绿化", "环保工程")),
    Section("O", "居民服务、修理和其他服务业", 0.04, ("家政服务", "美容美发", "维修服务",
                                              "洗涤服务")),
    Section("P", "教育", 0.012, ("教育科技", "培训", "文化教育")),
    Section("Q", "卫生和社会工作", 0.008, ("医疗管理", "健康管理", "医疗科技")),
    Section("R", "文化、体育和娱乐业", 0.03, ("文化传媒", "体育发展", "文化传播", "娱乐")),
    Section("S", "公共管理、社会保障和社会组织", 0.0015, ("社会服务", "公益服务")),
    Section("T", "国际组织", 0.00005, ("国际交流",)),
)
# Relative over-representation of sections by building use.
_USE_TILT = {
    "office": {"I": 1.5, "J": 2.0, "K": 1.3, "L": 1.5, "M": 1.4, "C": 0.3, "H": 0.4, "F": 0.8},
    "commercial": {"F": 1.6, "H": 2.5, "O": 1.8, "R": 1.5, "C": 0.3, "J": 0.6},
    "industrial": {"C": 6.0, "G": 3.0, "F": 0.9, "E": 1.5, "M": 1.5, "J": 0.2, "H": 0.2},
    "mixed": {"F": 1.3, "H": 1.8, "O": 1.5},
}
_BRAND = ("鑫华盛创新金源达佳宏泰德恒瑞丰利通嘉美誉联科迅锦辉卓越银河星海东方南粤润天翔裕祥"
          "腾飞信诚博远明智慧中兴隆福康顺永安中亿启亚博凯宝威"
          "立群英豪晟昌盈鼎汇聚合力同心铭朗彤悦蓝图新城峰")
_TAX_BANDS = ("A", "B", "M", "C", "D")
_TAX_P = (0.12, 0.45, 0.25, 0.11, 0.07)
_USCC_CHARS = np.frombuffer(b"0123456789ABCDEFGHJKLMNPQRTUWXY", dtype=np.uint8)
_USCC_W = np.array([pow(3, i, 31) for i in range(17)], dtype=np.int64)


def uscc_check_index(codes17: np.ndarray) -> np.ndarray:
    """Index (0-30) of the GB 32100-2015 check character of 17-character codes.

    ``codes17`` is an ``(n, 17)`` array of character indices into the code's
    31-character alphabet ``0-9 A-H J-N P-R T U W-Y``.
    """
    s = (np.asarray(codes17, dtype=np.int64) * _USCC_W).sum(axis=1) % 31
    return (31 - s) % 31


def build_enterprises(buildings: gpd.GeoDataFrame, houses: gpd.GeoDataFrame, seed: int,
                      scale: float) -> gpd.GeoDataFrame:
    """Registered market entities (kind ``enterprise``): ``round(250,000 x scale)`` rows.

    Placed in office, commercial, industrial and mixed buildings in proportion
    to floor area (offices weigh most), in one of the building's office or
    shop houses when it has any; point at the building (within 5 m).
    ``industry`` is the GB/T 4754-2017 section letter, tilted by building use;
    ``credit_code`` is ``91440300`` + a unique 9-character body + a check
    character that is always wrong (GB 32100-2015 would give another one).
    ``valid_from`` is the registration date (1990-2025, growing ~12 % a year),
    ``valid_to`` the cancellation date for about 20 %.
    """
    rng = rng_for(seed, STAGE_ENTERPRISES)
    n = round(ENTERPRISES_AT_SCALE_1 * scale)
    b = buildings.reset_index(drop=True)
    use = column_or(b, "use", "").to_numpy(dtype=object)
    bvf, bvt, long_enough = _valid_buildings(b)
    use_w = np.select([use == "office", use == "commercial", use == "mixed",
                       use == "industrial"], [3.0, 1.5, 1.0, 0.8], 0.0)
    weight = use_w * _floor_area(b) * long_enough
    if n and weight.sum() <= 0:
        raise ValueError("no office, commercial, industrial or mixed building for enterprises")
    bidx = _choice(rng, n, weight) if n else np.zeros(0, dtype=np.int64)
    bidx.sort()

    # Industry, tilted by the building's use.
    letters = np.array([s.letter for s in SECTIONS])
    base = np.array([s.share for s in SECTIONS])
    sec = np.zeros(n, dtype=np.int64)
    buse = use[bidx]
    for u in _WORK_USES:
        m = buse == u
        tilt = np.array([_USE_TILT[u].get(s.letter, 1.0) for s in SECTIONS])
        sec[m] = _choice(rng, int(m.sum()), base * tilt)

    # Names: 深圳市 + 2-character brand + industry word + company form.
    brand_chars = np.array(list(_BRAND))
    brand = _cat(brand_chars[rng.integers(0, len(brand_chars), n)],
                 brand_chars[rng.integers(0, len(brand_chars), n)])
    words = [np.array(s.words) for s in SECTIONS]
    word_i = rng.integers(0, 1 << 30, n)
    word = np.empty(n, dtype=object)
    for k, w in enumerate(words):
        m = sec == k
        word[m] = w[word_i[m] % len(w)]
    prefix = _pick(("深圳市", "深圳", "深圳市罗湖区"), rng, n, [0.86, 0.1, 0.04])
    form = np.where((letters[sec] == "J") & (rng.random(n) < 0.3), "（有限合伙）",
                    _pick(("有限公司", "股份有限公司", "实业有限公司", "发展有限公司"), rng, n,
                          [0.86, 0.03, 0.06, 0.05]))
    name = _cat(prefix, brand, word.astype("U"), form)

    # Credit code: 9 1 440300 + unique 9-char body (bijection of the row) + wrong check.
    body = (np.arange(n, dtype=np.int64) * 1_000_003 + int(rng.integers(0, 31**9))) % (31**9)
    body_idx = (body[:, None] // (31 ** np.arange(8, -1, -1, dtype=np.int64))) % 31
    head_idx = np.array([9, 1, 4, 4, 0, 3, 0, 0], dtype=np.int64)  # "91440300"
    codes17 = np.concatenate([np.broadcast_to(head_idx, (n, 8)), body_idx], axis=1)
    wrong = (uscc_check_index(codes17) + rng.integers(1, 31, n)) % 31
    code_mat = _USCC_CHARS[np.concatenate([codes17, wrong[:, None]], axis=1)]
    credit_code = np.ascontiguousarray(code_mat).view("S18").ravel().astype("U18")

    # Size: capital (10,000 CNY) and employees, heavy-tailed; bigger in J, C, K.
    big = np.isin(letters[sec], ["J", "C", "K", "D", "E"])
    capital = np.round(rng.lognormal(np.log(100.0) + 0.8 * big, 1.5, n), 2)
    employees = np.clip(np.ceil(rng.lognormal(np.log(3.0) + 0.6 * big, 1.2, n)), 1, 20_000)
    employees = employees.astype(np.int64)
    ss = rng.binomial(employees, rng.beta(4.0, 1.6, n))
    tax = _pick(_TAX_BANDS, rng, n, list(_TAX_P))

    # Registration 1990-2025: density growing by 12 % a year; cancellation for ~20 %.
    t0, t1 = day_number("1990-01-01"), day_number(DEMO_END)
    growth = 0.12 / 365.25
    ur = rng.random(n)
    reg = t0 + np.floor(np.log1p(ur * np.expm1(growth * (t1 - t0))) / growth).astype(np.int64)
    # Cancellation after 3 months to ~15 years; those falling after 2025 stay active.
    cancelled = rng.random(n) < CANCEL_DRAW_SHARE
    life = rng.exponential(4 * 365.25, n)
    vt = np.where(cancelled, reg + 90 + life.astype(np.int64), NO_END)
    vt = np.where(vt > t1, NO_END, vt)
    vf, vt = _interval_inside(reg, vt, np.maximum(bvf[bidx], t0), bvt[bidx], rng)
    vt = np.where(vt > t1, np.where(bvt[bidx] == vt, vt, NO_END), vt)

    # House: one of the building's office/shop houses, if any.
    hs = houses.reset_index(drop=True)
    work = np.flatnonzero(np.isin(hs["use"].to_numpy(dtype=object), ["office", "shop"]))
    pos = pd.Index(column_or(b, "id").to_numpy(dtype=object)).get_indexer(
        hs["building_id"].to_numpy(dtype=object)[work])
    work, pos = work[pos >= 0], pos[pos >= 0]
    order = np.argsort(pos, kind="stable")
    work, pos = work[order], pos[order]
    counts = np.bincount(pos, minlength=len(b))
    starts = np.cumsum(counts) - counts
    c = counts[bidx]
    has_house = c > 0
    pick = starts[bidx] + np.floor(rng.random(n) * np.maximum(c, 1)).astype(np.int64)
    b_aid = nullable_text(column_or(b, "address_id"))
    house_id = np.full(n, None, dtype=object)
    address_id = b_aid[bidx].copy()
    if has_house.any():
        rows = work[pick[has_house]]
        house_id[has_house] = hs["id"].to_numpy(dtype=object)[rows]
        address_id[has_house] = nullable_text(hs["address_id"])[rows]

    px, py = building_points(b)
    geoms = np.asarray(b.geometry.values, dtype=object)
    x, y = jitter_inside(geoms, bidx, px[bidx], py[bidx], rng, 5.0)
    # Rows in registration order, so ids read like a register.
    order = np.lexsort((np.arange(n), vf))
    columns = {
        "id": id_strings("E", n, 7),
        "address_id": address_id[order],
        "subdistrict_code": nullable_text(column_or(b, "subdistrict_code"))[bidx][order],
        "community_code": nullable_text(column_or(b, "community_code"))[bidx][order],
        "valid_from": date_strings(vf[order]),
        "valid_to": date_strings(vt[order]),
        "name": name[order],
        "credit_code": credit_code[order],
        "industry": letters[sec][order],
        "industry_name": np.array([s.name for s in SECTIONS])[sec][order],
        "registered_capital": capital[order],
        "employees": employees[order],
        "social_security_headcount": ss[order],
        "tax_band": tax[order],
        "building_id": text_array(column_or(b, "id"))[bidx][order],
        "house_id": house_id[order],
    }
    out = finish_frame("enterprise", columns, x[order], y[order])
    assert isinstance(out, gpd.GeoDataFrame)
    return out


# --------------------------------------------------------------------------
# industrial space
# --------------------------------------------------------------------------

SPACE_TYPES = ("创新型产业用房", "政府物业", "产业园区", "社会物业")
SPACE_USES = ("研发", "办公", "生产", "仓储", "商业")
_SPACE_TYPE_P = {"industrial": (0.20, 0.05, 0.40, 0.35), "office": (0.25, 0.15, 0.0, 0.60),
                 "mixed": (0.10, 0.10, 0.0, 0.80)}
_SPACE_USE_P = {"industrial": (0.30, 0.20, 0.35, 0.15, 0.0),
                "office": (0.25, 0.70, 0.0, 0.0, 0.05),
                "mixed": (0.05, 0.45, 0.0, 0.0, 0.50)}
_RENT_BASE = np.array([85.0, 110.0, 55.0, 45.0, 150.0])  # CNY/m²/month by use
#: First and last quarter of the versions: 2019-Q1 .. 2025-Q4.
QUARTERS = tuple(f"{y}-{m:02d}-01" for y in range(2019, 2026) for m in (1, 4, 7, 10))


def build_industrial_spaces(buildings: gpd.GeoDataFrame, seed: int,
                            scale: float) -> gpd.GeoDataFrame:
    """Industrial spaces (kind ``industrial_space``, versioned by quarter).

    About ``round(2,000 x scale)`` spaces (at least 5) in industrial, office and
    mixed buildings, one version per quarter from 2019-Q1 (or the quarter
    after the building was completed) to 2025-Q4: ``valid_from`` the quarter's
    first day, ``valid_to`` the next quarter's (null on the last). The
    vacancy rate is a mean-reverting random walk with a rise in 2020-2022
    (COVID) and the rent (CNY/m²/month, 40-200) drifts up ~2 % a year with a
    dip in the same years; ``vacant_area_m2 = area_m2 x vacancy_rate``.
    """
    rng = rng_for(seed, STAGE_SPACES)
    n = max(5, round(SPACES_AT_SCALE_1 * scale))
    b = buildings.reset_index(drop=True)
    use = column_or(b, "use", "").to_numpy(dtype=object)
    bvf, bvt, _ = _valid_buildings(b)
    q_days = np.array([day_number(q) for q in QUARTERS])
    nq = len(QUARTERS)
    ok = (bvt == NO_END) & (bvf < q_days[-1])
    w = np.select([use == "industrial", use == "office", use == "mixed"], [4.0, 1.5, 0.5], 0.0)
    w = w * _floor_area(b) * ok
    if w.sum() <= 0:
        raise ValueError("no industrial, office or mixed building for industrial spaces")
    cand = np.flatnonzero(w > 0)
    replace = n > len(cand)
    bidx = np.sort(rng.choice(cand, size=n, replace=replace, p=w[cand] / w[cand].sum()))

    buse = use[bidx]
    stype = np.zeros(n, dtype=np.int64)
    suse = np.zeros(n, dtype=np.int64)
    for u in ("industrial", "office", "mixed"):
        m = buse == u
        stype[m] = _choice(rng, int(m.sum()), np.array(_SPACE_TYPE_P[u]))
        suse[m] = _choice(rng, int(m.sum()), np.array(_SPACE_USE_P[u]))
    fa = _floor_area(b)[bidx]
    frac = np.where(stype == 2, rng.uniform(0.6, 1.0, n), rng.uniform(0.05, 0.5, n))
    area = np.round(np.clip(fa * frac, 200.0, None), 1)

    bname = text_array(column_or(b, "name"))
    estate = text_array(column_or(b, "estate"))
    bid = text_array(column_or(b, "id"))
    base = np.where(bname[bidx] != "", bname[bidx], np.where(estate[bidx] != "", estate[bidx],
                                                              bid[bidx]))
    park = np.where(estate[bidx] != "", estate[bidx], base)
    name = np.select(
        [stype == 0, stype == 1, stype == 2],
        [_cat(base, "创新型产业用房"), _cat(base, "（政府物业）"), _cat(park, "产业园")],
        _cat(base, np.array(SPACE_USES)[suse], "空间"))

    # Quarter of the first version: 2019-Q1, or the first full quarter of a new building.
    q0 = np.searchsorted(q_days, bvf[bidx], side="left")
    q0 = np.clip(q0, 0, nq - 1)

    # Time series for all spaces over all quarters, then cut at q0.
    covid = np.array([1.0 if "2020" <= q[:4] <= "2022" else 0.0 for q in QUARTERS])
    recover = np.array([1.0 if q[:4] >= "2023" else 0.0 for q in QUARTERS])
    v0 = rng.beta(2.0, 8.0, n)
    vac = np.empty((n, nq))
    v = v0.copy()
    for t in range(nq):
        shock = 0.012 * covid[t] - 0.004 * recover[t]
        v = v + 0.15 * (v0 - v) + shock + rng.normal(0.0, 0.02, n)
        v = np.clip(v, 0.0, 0.95)
        vac[:, t] = v
    r = np.clip(_RENT_BASE[suse] * rng.lognormal(0.0, 0.2, n), 40.0, 200.0)
    rent = np.empty((n, nq))
    for t in range(nq):
        r = np.clip(r * (1.005 - 0.012 * covid[t] + rng.normal(0.0, 0.015, n)), 40.0, 200.0)
        rent[:, t] = r

    reps = nq - q0
    sp = np.repeat(np.arange(n), reps)
    qi = q0[sp] + group_starts(sp)
    rate = np.round(vac[sp, qi], 4)
    vf = q_days[qi]
    # Each version ends at the next quarter's first day; the last one never.
    vt = np.where(qi == nq - 1, NO_END, q_days[np.minimum(qi + 1, nq - 1)])

    px, py = building_points(b)
    geoms = np.asarray(b.geometry.values, dtype=object)
    sx, sy = jitter_inside(geoms, bidx, px[bidx], py[bidx], rng, 5.0)
    bb = bidx[sp]
    columns = {
        "id": id_strings("S", n, 5)[sp],
        "address_id": nullable_text(column_or(b, "address_id"))[bb],
        "subdistrict_code": nullable_text(column_or(b, "subdistrict_code"))[bb],
        "community_code": nullable_text(column_or(b, "community_code"))[bb],
        "valid_from": date_strings(vf),
        "valid_to": date_strings(vt),
        "name": name[sp],
        "space_type": np.array(SPACE_TYPES)[stype][sp],
        "building_id": bid[bb],
        "use": np.array(SPACE_USES)[suse][sp],
        "area_m2": area[sp],
        "vacant_area_m2": np.round(area[sp] * rate, 1),
        "vacancy_rate": rate,
        "rent": np.round(rent[sp, qi], 1),
    }
    out = finish_frame("industrial_space", columns, sx[sp], sy[sp])
    assert isinstance(out, gpd.GeoDataFrame)
    return out


# --------------------------------------------------------------------------
# weather: one storm calendar for events and readings
# --------------------------------------------------------------------------

def storm_calendar(seed: int, first_year: int = 2019, last_year: int = 2025) -> pd.DataFrame:
    """Rainstorms and typhoons of the demo years (local time), the same for a given seed.

    Columns: ``date`` (YYYY-MM-DD of the start), ``kind`` (rainstorm or
    typhoon), ``start_hour`` (local), ``duration_h`` and ``peak_mm_h`` (peak
    hourly rainfall). Six to ten rainstorms a year, mostly May-September,
    and zero to two typhoons in July-September lasting a day or more.
    """
    rng = rng_for(seed, STAGE_WEATHER)
    rows: list[tuple[str, str, int, int, float]] = []
    for year in range(first_year, last_year + 1):
        days = pd.date_range(f"{year}-01-01", f"{year}-12-31", freq="D")
        month = days.month.to_numpy()
        w = np.select([np.isin(month, [5, 6, 7, 8, 9]), np.isin(month, [4, 10])],
                      [1.0, 0.25], 0.02)
        n_storm = int(rng.integers(6, 11))
        picks = np.sort(rng.choice(len(days), size=n_storm, replace=False, p=w / w.sum()))
        for d in picks:
            rows.append((str(days[d].date()), "rainstorm", int(rng.integers(0, 24)),
                         int(rng.integers(3, 11)),
                         float(np.round(np.clip(rng.lognormal(np.log(38.0), 0.45), 15, 120), 1))))
        summer = np.flatnonzero(np.isin(month, [7, 8, 9]))
        n_typhoon = int(rng.choice([0, 1, 1, 2]))
        for d in np.sort(rng.choice(summer, size=n_typhoon, replace=False)):
            rows.append((str(days[d].date()), "typhoon", int(rng.integers(0, 24)),
                         int(rng.integers(20, 40)),
                         float(np.round(rng.uniform(30.0, 75.0), 1))))
    cal = pd.DataFrame(rows, columns=["date", "kind", "start_hour", "duration_h", "peak_mm_h"])
    return cal.sort_values(["date", "kind"], kind="stable").reset_index(drop=True)


def hourly_rainfall(seed: int, year: int) -> np.ndarray:
    """Hourly rainfall (mm) of ``year``, local time: the storms of :func:`storm_calendar`.

    Plus light showers on about a hundred days, more in the wet season.
    """
    rng = rng_for(seed, STAGE_WEATHER * 10 + year)
    start = day_number(f"{year}-01-01")
    n_days = day_number(f"{year + 1}-01-01") - start
    hours = n_days * 24
    rain = np.zeros(hours + 24 * 3)
    # Light showers on ~110 days, more in the wet season.
    doy = np.arange(n_days)
    wet = 0.15 + 0.85 * np.exp(-(((doy - 190) / 60.0) ** 2))
    showers = np.flatnonzero(rng.random(n_days) < wet * 0.45)
    for_h = showers * 24 + rng.integers(0, 24, len(showers))
    dur = rng.integers(1, 5, len(showers))
    for k in range(4):
        m = dur > k
        np.add.at(rain, for_h[m] + k, rng.gamma(1.5, 1.5, int(m.sum())))
    cal = storm_calendar(seed, year, year)
    for date, start_hour, duration, peak in zip(
            cal["date"].astype(str).tolist(), cal["start_hour"].astype(int).tolist(),
            cal["duration_h"].astype(int).tolist(), cal["peak_mm_h"].astype(float).tolist(),
            strict=True):
        h0 = (day_number(date) - start) * 24 + start_hour
        d = duration
        t = np.arange(d)
        # Triangular hyetograph peaking at a third of the storm, plus noise.
        shape = np.where(t <= d / 3, (t + 1) / (d / 3 + 1), (d - t) / (d - d / 3 + 1))
        amount = peak * np.clip(shape * rng.lognormal(0, 0.2, d), 0.05, 1.2)
        rain[h0:h0 + d] += amount
    return np.round(rain[:hours], 1)


# --------------------------------------------------------------------------
# events
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Category:
    """A city-management event category and how its events are spread."""

    name: str
    share: float
    sources: tuple[float, float, float]  # hotline_12345, grid_patrol, sensor_alarm
    road_share: float  # share anchored on a road rather than a building
    uses: dict[str, float]  # weight of building uses
    hours: str  # day, evening, night, commute
    median_h: float  # median time to close, hours
    complaint: tuple[str, ...]
    description: tuple[str, ...]


_RES = {"residential": 1.0, "mixed": 1.0, "commercial": 0.4, "office": 0.2, "public": 0.3,
        "industrial": 0.2}
_SHOP = {"commercial": 1.5, "mixed": 1.3, "residential": 0.3, "office": 0.3, "public": 0.1,
         "industrial": 0.2}
_ANY = {"residential": 1.0, "mixed": 1.0, "commercial": 1.0, "office": 0.8, "public": 0.6,
        "industrial": 0.6}

CATEGORIES: tuple[Category, ...] = (
    Category("占道经营", 0.11, (0.35, 0.65, 0.0), 0.3, _SHOP, "evening", 6.0,
             ("有流动商贩占道经营，影响通行", "占道摆卖，请处理", "夜市摊贩占用人行道"),
             ("流动商贩占道摆卖", "人行道被摊位占用", "占道经营水果摊")),
    Category("出店经营", 0.09, (0.25, 0.75, 0.0), 0.0, _SHOP, "day", 12.0,
             ("商铺出店经营，货物摆到人行道", "店铺占用门前通道", "出店经营严重"),
             ("店铺货物堆放出店", "门店超出门窗经营", "餐饮店外摆桌椅")),
    Category("垃圾暴露", 0.13, (0.4, 0.6, 0.0), 0.2, _RES, "day", 8.0,
             ("垃圾堆放，请尽快处理", "垃圾桶满溢无人清理，气味很大", "有建筑垃圾乱倒"),
             ("生活垃圾暴露", "垃圾桶满溢", "建筑垃圾堆放", "大件垃圾乱放")),
    Category("积水", 0.03, (0.5, 0.2, 0.3), 0.8, _ANY, "storm", 3.0,
             ("路面积水严重，车辆无法通行", "水浸街，请派人处理", "地下车库进水"),
             ("路面积水约{n}厘米", "低洼路段积水", "下穿通道积水", "雨水篦子堵塞导致积水")),
    Category("噪音扰民", 0.10, (0.9, 0.05, 0.05), 0.1, _RES, "night", 10.0,
             ("夜间施工噪音扰民，影响休息", "楼上装修噪音太大", "酒吧音乐声太吵"),
             ("夜间施工噪音", "装修噪音扰民", "商铺音响外放", "广场舞音响过大")),
    Category("违章停车", 0.13, (0.5, 0.5, 0.0), 0.6, _ANY, "commute", 4.0,
             ("车辆乱停乱放堵住路口", "有车长期占用消防车道停放", "人行道上停满车"),
             ("机动车违停占道", "车辆占用人行道停放", "僵尸车长期停放")),
    Category("乱搭乱建", 0.05, (0.3, 0.7, 0.0), 0.0, _RES, "day", 240.0,
             ("楼顶违规加建", "有人私搭棚架", "天台违建"),
             ("天台加建铁皮房", "私搭雨棚", "违规搭建构筑物")),
    Category("道路破损", 0.05, (0.4, 0.6, 0.0), 0.9, _ANY, "day", 72.0,
             ("路面坑洼，容易摔倒", "人行道砖松动", "道路塌陷"),
             ("路面坑槽", "人行道板破损", "路面沉陷约{n}厘米")),
    Category("井盖缺失", 0.03, (0.35, 0.4, 0.25), 0.9, _ANY, "day", 24.0,
             ("井盖不见了，很危险", "井盖破损松动", "井盖位移"),
             ("井盖缺失", "井盖破损", "井盖移位报警")),
    Category("绿化损坏", 0.04, (0.3, 0.7, 0.0), 0.6, _ANY, "day", 72.0,
             ("绿化带被踩坏", "行道树被砍", "树枝折断挡路"),
             ("绿化带破坏", "树木倒伏", "草坪被占用")),
    Category("消防通道堵塞", 0.06, (0.45, 0.55, 0.0), 0.0, _RES, "day", 24.0,
             ("消防通道被杂物堵塞", "消防车道被车辆占用", "楼道堆放杂物"),
             ("消防通道堆物", "消防车道占用", "楼道杂物堵塞安全出口")),
    Category("油烟污染", 0.05, (0.75, 0.15, 0.1), 0.0, _SHOP, "evening", 48.0,
             ("餐馆油烟直排，熏到住户", "烧烤油烟很大", "油烟扰民"),
             ("餐饮油烟直排", "露天烧烤油烟", "油烟净化器未开启")),
    Category("共享单车乱停放", 0.06, (0.4, 0.6, 0.0), 0.5, _SHOP, "commute", 6.0,
             ("共享单车堆满人行道", "单车乱停堵住出口", "单车堆积"),
             ("共享单车堆积", "单车占用盲道", "单车乱停放")),
    Category("违规张贴小广告", 0.04, (0.2, 0.8, 0.0), 0.3, _RES, "day", 24.0,
             ("楼道到处是小广告", "电线杆上贴满广告", "墙面乱涂写"),
             ("小广告张贴", "墙面喷涂广告", "乱张贴")),
)
_SOURCES = ("hotline_12345", "grid_patrol", "sensor_alarm")
_HOUR_PROFILES = {
    "day": np.array([1, 0.5, 0.3, 0.2, 0.2, 0.4, 1.5, 3, 6, 9, 10, 9, 7, 7, 8, 9, 9, 8, 6, 5, 4,
                     3, 2, 1.5]),
    "evening": np.array([3, 2, 1, 0.5, 0.3, 0.3, 0.5, 1, 2, 3, 4, 5, 5, 4, 4, 4, 5, 7, 9, 10, 10,
                         9, 7, 5]),
    "night": np.array([8, 6, 3, 2, 1, 0.5, 0.5, 1, 2, 2, 2, 2, 3, 2, 2, 2, 2, 3, 4, 5, 7, 9, 10,
                       9]),
    "commute": np.array([1, 0.5, 0.3, 0.2, 0.2, 0.5, 2, 6, 9, 8, 6, 5, 5, 5, 5, 6, 7, 9, 9, 6, 4,
                         3, 2, 1.5]),
}
_ROAD_CLASS_W = {"arterial": 3.0, "secondary": 2.0, "branch": 1.0, "footpath": 0.3}


def _event_days(rng: np.random.Generator, n: int, cat: Category, first: int,
                n_days: int) -> np.ndarray:
    """Day offsets of ``n`` events of a (non-storm) category: season, weekday, trend, COVID."""
    day = np.arange(n_days)
    date = (first + day).astype("datetime64[D]")
    doy = (date - date.astype("datetime64[Y]")).astype(np.int64)
    year = date.astype("datetime64[Y]").astype(np.int64) + 1970
    weekday = (first + day + 3) % 7  # 0 = Monday (1970-01-01 was a Thursday)
    season = 1.0 + 0.25 * np.sin(2 * np.pi * (doy - 100) / 365.25)
    week = np.where(weekday >= 5, 0.8 if cat.hours == "day" else 1.2, 1.0)
    trend = 1.0 + 0.06 * (year - 2019)
    covid = np.where((date >= np.datetime64("2020-02-01")) & (date < np.datetime64("2020-05-01"))
                     & (cat.name in ("占道经营", "出店经营", "油烟污染")), 0.4, 1.0)
    w = season * week * trend * covid
    return _choice(rng, n, w)


def _addr_parts(b: pd.DataFrame, communities: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per-building spellings of the address components that citizens mix and mangle."""
    nb = len(b)
    subs = _subdistrict_names()
    sub_code = text_array(column_or(b, "subdistrict_code"))
    comm_code = text_array(column_or(b, "community_code"))
    addr = text_array(column_or(b, "address"))
    sub_full = np.array([subs.get(c, ("", ""))[0] for c in sub_code], dtype=object)
    sub_short = np.array([subs.get(c, ("", ""))[1] for c in sub_code], dtype=object)
    # Fall back on the standard address text for names the table does not know.
    parsed_sub = pd.Series(addr).str.extract(r"区(.+?街道)")[0].fillna("").to_numpy(dtype=object)
    sub_full = np.where(sub_full == "", parsed_sub, sub_full)
    sub_short = np.where(sub_short == "", np.array([s[:-2] for s in sub_full], dtype=object),
                         sub_short)

    cm = communities.reset_index(drop=True)
    code_col = "code" if "code" in cm.columns else "community_code"
    short_col = "short_name" if "short_name" in cm.columns else "name"
    cshort = dict(zip(text_array(cm[code_col]), text_array(cm[short_col]), strict=True))
    comm_full = np.array([cshort.get(c, "") for c in comm_code], dtype=object)
    comm_full = np.array([c.replace("居民委员会", "") for c in comm_full], dtype=object)
    comm_full = np.array([c if (c == "" or c.endswith("社区")) else c + "社区"
                          for c in comm_full], dtype=object)
    parsed_comm = pd.Series(addr).str.extract(r"街道(.+?社区)")[0].fillna("").to_numpy(
        dtype=object)
    comm_full = np.where(comm_full == "", parsed_comm, comm_full)
    comm_short = np.array([c[:-2] if c.endswith("社区") else c for c in comm_full], dtype=object)

    road = text_array(column_or(b, "road"))
    num = np.array([str(h).rstrip("号").strip() for h in text_array(column_or(b, "house_number"))],
                   dtype=object)
    estate = text_array(column_or(b, "estate"))
    bno = text_array(column_or(b, "building_no"))
    name = text_array(column_or(b, "name"))
    core = np.array([s.removesuffix("号楼").removesuffix("栋").removesuffix("座")
                     .removesuffix("幢") for s in bno], dtype=object)
    digit_core = np.array([c.isdigit() and 0 < int(c) < 100 for c in core])

    salt = np.arange(nb)
    parts = {
        "sub_full": sub_full, "sub_short": sub_short,
        "comm_full": comm_full, "comm_short": comm_short,
        "road": road,
        "road_typo": np.array([_typo(r, int(s)) for r, s in zip(road, salt, strict=True)],
                              dtype=object),
        "num": num,
        "num_fw": np.array([s.translate(_FULLWIDTH) for s in num], dtype=object),
        "num_cn": np.array([s.translate(_CN_DIGITS if k % 2 else _CN_DIGITS_O)
                            for k, s in enumerate(num)], dtype=object),
        "estate": estate,
        "name": name,
        "bno": bno,
        "bno_dong": np.where(core != "", np.array([c + "栋" for c in core], dtype=object), ""),
        "bno_zuo": np.where(core != "", np.array([c + "座" for c in core], dtype=object), ""),
        "bno_hao": np.where(core != "", np.array([c + "号楼" for c in core], dtype=object), ""),
        "bno_cn": np.where(digit_core, np.array([(_cn_int(int(c)) if d else "") + "栋"
                                                 for c, d in zip(core, digit_core, strict=True)],
                                                dtype=object), bno),
        "bno_fw": np.array([s.translate(_FULLWIDTH) for s in bno], dtype=object),
    }
    return {k: v.astype("U") for k, v in parts.items()}


def _sep(rng: np.random.Generator, n: int) -> np.ndarray:
    return _pick(("", " ", "　"), rng, n, [0.91, 0.07, 0.02])


def _messy_building_text(P: dict[str, np.ndarray], bi: np.ndarray,
                         rng: np.random.Generator) -> np.ndarray:
    """How a citizen or grid worker writes the address of building ``bi``."""
    n = len(bi)
    dist = _pick(("", "罗湖区", "罗湖", "深圳市罗湖区", "广东省深圳市罗湖区", "深圳罗湖",
                  "深圳市罗湖"), rng, n, [0.3, 0.3, 0.12, 0.12, 0.06, 0.05, 0.05])
    r = rng.random(n)
    sub = np.where(r < 0.3, P["sub_full"][bi], np.where(r < 0.5, P["sub_short"][bi], ""))
    r = rng.random(n)
    comm = np.where(r < 0.22, P["comm_full"][bi], np.where(r < 0.3, P["comm_short"][bi], ""))
    typo = rng.random(n) < 0.03
    road = np.where(typo, P["road_typo"][bi], P["road"][bi])
    r = rng.random(n)
    num = np.select([r < 0.62, r < 0.74, r < 0.82],
                    [P["num"][bi], P["num_fw"][bi], P["num_cn"][bi]], "")
    hao = np.where(num == "", "", _pick(("号", "號", "号 "), rng, n, [0.95, 0.01, 0.04]))
    r = rng.random(n)
    bno = np.select([r < 0.35, r < 0.5, r < 0.6, r < 0.68, r < 0.76, r < 0.84],
                    [P["bno_dong"][bi], P["bno_zuo"][bi], P["bno_hao"][bi], P["bno"][bi],
                     P["bno_cn"][bi], P["bno_fw"][bi]], "")
    r = rng.random(n)
    building = np.select([r < 0.45, r < 0.7, r < 0.8],
                         [_cat(P["estate"][bi], bno), P["name"][bi], P["estate"][bi]], "")
    # Some drop the road and number and give only the estate (and vice versa).
    r = rng.random(n)
    no_road = (r < 0.15) & (building != "")
    road = np.where(no_road, "", road)
    num = np.where(no_road, "", num)
    hao = np.where(no_road, "", hao)
    return _cat(dist, _sep(rng, n), sub, _sep(rng, n), comm, _sep(rng, n), road, num, hao,
                _sep(rng, n), building)


def _wrap(text: np.ndarray, source: np.ndarray, cat_idx: np.ndarray, placed: np.ndarray,
          rng: np.random.Generator) -> np.ndarray:
    """Surround a hotline address with the caller's words; grid workers add little.

    ``placed`` marks texts that already say where (``...交叉口附近``): no second
    position word is added to them.
    """
    n = len(text)
    complaint = np.empty(n, dtype=object)
    k = rng.integers(0, 1 << 20, n)
    for i, c in enumerate(CATEGORIES):
        m = cat_idx == i
        complaint[m] = np.array(c.complaint)[k[m] % len(c.complaint)]
    complaint = complaint.astype("U")
    where = np.where(placed, "", _pick(("门口", "附近", "旁边", "对面", "楼下", "路段", "",
                                         "东侧", "路口"), rng, n))
    lead = _pick(("市民反映：", "来电人反映", "市民来电反映", "市民称", "", "投诉：",
                  "有市民反映在"), rng, n, [0.3, 0.15, 0.15, 0.1, 0.15, 0.05, 0.1])
    comma = _pick(("，", ",", " ", "，"), rng, n)
    tail = _pick(("", "，请尽快处理", "，希望有关部门处理", "！", "，已多次反映"), rng, n,
                 [0.4, 0.25, 0.15, 0.1, 0.1])
    hotline = _cat(lead, text, where, comma, complaint, tail)
    patrol = _cat(_pick(("", "", "", "巡查发现：", "网格员上报："), rng, n), text,
                  np.where(placed, "", _pick(("", "", "门前", "附近", "旁"), rng, n)))
    sensor = _cat(_pick(("", "监测点：", "设备报警 "), rng, n), text)
    return np.select([source == 0, source == 1], [hotline, patrol], sensor)


def _road_intersections(roads: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                         np.ndarray]:
    """Named crossings of two different roads: names and a point of each."""
    rd = roads.reset_index(drop=True)
    names = text_array(column_or(rd, "name"))
    geoms = np.asarray(rd.geometry.values, dtype=object)
    tree = shapely.STRtree(geoms)
    i, j = tree.query(geoms, predicate="intersects")
    keep = (i < j) & (names[i] != names[j]) & (names[i] != "") & (names[j] != "")
    i, j = i[keep], j[keep]
    if len(i) == 0:
        e = np.zeros(0, dtype="U1")
        return e, e, np.zeros(0), np.zeros(0)
    pts = shapely.point_on_surface(shapely.intersection(geoms[i], geoms[j]))
    good = ~shapely.is_empty(pts)
    i, j, pts = i[good], j[good], pts[good]
    # One crossing per pair of names (the first in road order).
    key = np.strings.add(np.strings.add(names[i], "|"), names[j])
    _, first = np.unique(key, return_index=True)
    first.sort()
    return names[i][first], names[j][first], shapely.get_x(pts[first]), shapely.get_y(pts[first])


def build_events(buildings: gpd.GeoDataFrame, roads: gpd.GeoDataFrame,
                 communities: gpd.GeoDataFrame, seed: int, scale: float) -> gpd.GeoDataFrame:
    """City-management events (kind ``event``): ``round(520,000 x scale)`` in 2019-2025.

    Each event has a category (占道经营, 垃圾暴露, 积水, ...), a source
    (hotline_12345, grid_patrol, sensor_alarm) and a place: near a building
    (weighted by floor area and use) or on a road (weighted by length and
    class). Times follow seasons, weekdays, hours of the day and a yearly
    growth; waterlogging (积水) falls on the storm days of
    :func:`storm_calendar`. ``closed_at`` comes hours to days later; events
    whose handling would end after 2025-12-31 are ``processing`` (or ``open``
    when reported in the last two days), with no ``closed_at``.

    ``address_text`` is the address as people type it, built from the
    building's (or road's) real components with dropped or abbreviated levels,
    full-width digits, Chinese numerals, spaces, 栋/座/号楼 variants, a
    one-character typo in ~3 %, free text around hotline reports, and road
    crossings (``春风路与建设路交叉口附近``). ``address_id`` is the building's
    standard address (null for road events); admin codes are those of the
    building or, for road events, of the nearest building. ``geocode_status``
    is ``resolved`` (the true point is known); ``sensor_id`` is null.
    """
    rng = rng_for(seed, STAGE_EVENTS)
    n = round(EVENTS_AT_SCALE_1 * scale)
    b = buildings.reset_index(drop=True)
    rd = roads.reset_index(drop=True)
    nb = len(b)
    if nb == 0:
        raise ValueError("events need buildings")
    first, last = day_number(DEMO_START), day_number(DEMO_END)
    n_days = last - first + 1

    # --- how many of each category; each event's time ------------------------------
    cat_n = allocate(n, np.array([c.share for c in CATEGORIES]))
    cat_idx = np.repeat(np.arange(len(CATEGORIES)), cat_n)
    day = np.zeros(n, dtype=np.int64)
    hour = np.zeros(n, dtype=np.int64)
    storm_cal = storm_calendar(seed)
    s_day = np.array([day_number(d) for d in storm_cal["date"]], dtype=np.int64) - first
    s_peak = storm_cal["peak_mm_h"].to_numpy()
    s_start = storm_cal["start_hour"].to_numpy()
    s_dur = storm_cal["duration_h"].to_numpy()
    month = (first + np.arange(n_days)).astype("datetime64[D]").astype("datetime64[M]").astype(
        np.int64) % 12 + 1
    wet_season = ((month >= 5) & (month <= 9)).astype(np.float64)
    for k, cat in enumerate(CATEGORIES):
        m = cat_idx == k
        cnt = int(m.sum())
        if cat.hours == "storm":
            # 90 % on storm days (more for heavier storms), the rest on wet-season days.
            on_storm = rng.random(cnt) < 0.9
            si = _choice(rng, cnt, s_peak**2)
            lag = np.floor(rng.random(cnt) * (s_dur[si] + 4)).astype(np.int64)
            t = s_day[si] * 24 + s_start[si] + lag
            d_other = _choice(rng, cnt, wet_season)
            t_other = d_other * 24 + rng.integers(0, 24, cnt)
            t = np.where(on_storm, t, t_other)
            t = np.clip(t, 0, n_days * 24 - 1)
            day[m], hour[m] = t // 24, t % 24
        else:
            day[m] = _event_days(rng, cnt, cat, first, n_days)
            hour[m] = _choice(rng, cnt, _HOUR_PROFILES[cat.hours])
    local_s = (first + day) * 86400 + hour * 3600 + rng.integers(0, 3600, n)
    occurred = local_s - _LOCAL_OFFSET_S
    # Keep the UTC instants inside 2019-2025 too: the first 8 local hours of the
    # first day move 8 hours later.
    occurred = np.where(occurred < first * 86400, occurred + _LOCAL_OFFSET_S, occurred)

    # --- source ----------------------------------------------------------------------
    src = np.zeros(n, dtype=np.int64)
    for k, cat in enumerate(CATEGORIES):
        m = cat_idx == k
        src[m] = _choice(rng, int(m.sum()), np.array(cat.sources))

    # --- place: building or road -------------------------------------------------------
    use = column_or(b, "use", "").to_numpy(dtype=object)
    fa = _floor_area(b)
    bvf, bvt, _ = _valid_buildings(b, 0)
    road_share = np.array([c.road_share for c in CATEGORIES])[cat_idx]
    on_road = (rng.random(n) < road_share) & (len(rd) > 0)
    bi = np.zeros(n, dtype=np.int64)
    ev_day = first + day
    for k, cat in enumerate(CATEGORIES):
        m = (cat_idx == k) & ~on_road
        w = pd.Series(use).map(cat.uses).fillna(0.3).to_numpy(dtype=np.float64) * np.sqrt(fa)
        bi[m] = _choice(rng, int(m.sum()), w)
    # An event at a building that did not exist that day moves to a standing neighbour:
    # redraw once among buildings standing for the whole period.
    standing = (bvf <= first) & (bvt == NO_END)
    bad = ~on_road & ((bvf[bi] > ev_day) | (bvt[bi] <= ev_day))
    if bad.any() and standing.any():
        bi[bad] = _choice(rng, int(bad.sum()), np.sqrt(fa) * standing)

    px, py = building_points(b)
    ang = rng.random(n) * 2 * np.pi
    dist_m = rng.uniform(3.0, 25.0, n)
    x = px[bi] + dist_m * np.cos(ang) / (_DEG_M * np.cos(np.radians(py[bi])))
    y = py[bi] + dist_m * np.sin(ang) / _DEG_M

    P = _addr_parts(b, communities)
    text = _messy_building_text(P, bi, rng)
    # A short place for the report's words (estate, building or road); road events below.
    short_place = np.where(P["estate"][bi] != "", P["estate"][bi],
                           np.where(P["name"][bi] != "", P["name"][bi], P["road"][bi]))

    n_road = int(on_road.sum())
    if n_road:
        rnames = text_array(column_or(rd, "name"))
        rgeoms = np.asarray(rd.geometry.values, dtype=object)
        rlen = shapely.length(rgeoms) * _DEG_M
        rcls = column_or(rd, "road_class", "branch").to_numpy(dtype=object)
        rw = rlen * np.array([_ROAD_CLASS_W.get(c, 1.0) for c in rcls]) * (rnames != "")
        if rw.sum() <= 0:
            rw = rlen + 1.0
        ri = _choice(rng, n_road, rw)
        pts = shapely.line_interpolate_point(rgeoms[ri], rng.random(n_road), normalized=True)
        rx, ry = shapely.get_x(pts), shapely.get_y(pts)
        ia, ib, ix, iy = _road_intersections(rd)
        use_cross = (rng.random(n_road) < 0.35) & (len(ia) > 0)
        ci = rng.integers(0, max(len(ia), 1), n_road)
        if len(ia):
            rx = np.where(use_cross, ix[ci] + rng.normal(0, 1.5e-4, n_road), rx)
            ry = np.where(use_cross, iy[ci] + rng.normal(0, 1.5e-4, n_road), ry)
        # Nearest building: admin codes and a landmark for the description.
        tree = shapely.STRtree(np.asarray(b.geometry.values, dtype=object))
        near = tree.query_nearest(shapely.points(rx, ry), all_matches=False)[1]
        rtypo = np.array([_typo(s, k) for k, s in enumerate(rnames)], dtype="U")
        typo = rng.random(n_road) < 0.03
        nm = np.where(typo, rtypo[ri], rnames[ri])
        landmark = np.where(P["estate"][near] != "", P["estate"][near], P["name"][near])
        r = rng.random(n_road)
        along = np.select(
            [r < 0.25, r < 0.45, r < 0.6, r < 0.75, r < 0.85],
            [nm, _cat(nm, "中段"), _cat(nm, "靠近", landmark), _cat(nm, "（", landmark, "对面）"),
             _cat(nm, "路段")],
            _cat(nm, P["num"][near], "号附近"))
        if len(ia):
            r = rng.random(n_road)
            a, c = ia[ci], ib[ci]
            cross = np.select(
                [r < 0.4, r < 0.6, r < 0.75, r < 0.9],
                [_cat(a, "与", c, "交叉口附近"), _cat(a, "和", c, "交汇处"),
                 _cat(a, "/", c, "路口"), _cat(c, "与", a, "交叉口")],
                _cat(a, c, "路口"))
            along = np.where(use_cross, cross, along)
        road_text = np.where(rng.random(n_road) < 0.25, _cat("罗湖区", along), along)
        idx = np.flatnonzero(on_road)
        x[idx], y[idx] = rx, ry
        bi[idx] = near
        text = text.astype(object)
        text[idx] = road_text
        short_place = short_place.astype(object)
        short_place[idx] = rnames[ri]

    text = np.asarray(text).astype("U")
    placed = np.zeros(n, dtype=bool)
    for tail in ("附近", "路口", "交汇处", "对面）", "中段", "路段", "交叉口"):
        placed |= np.strings.endswith(text, tail)
    text = _wrap(text, src, cat_idx, placed, rng)

    # --- description ---------------------------------------------------------------------
    desc = np.empty(n, dtype=object)
    pick = rng.integers(0, 1 << 20, n)
    for i, cat in enumerate(CATEGORIES):
        m = cat_idx == i
        desc[m] = np.array(cat.description)[pick[m] % len(cat.description)]
    desc_u = desc.astype("U")
    has_n = np.strings.find(desc_u, "{n}") >= 0
    if has_n.any():
        cm = int_strings(rng.integers(5, 45, n))
        left = np.strings.partition(desc_u, "{n}")
        desc_u = np.where(has_n, _cat(left[0], cm, left[2]), desc_u)
    # The report's words, composed per event (data/synth/event_texts.py) from their own rng
    # stream so that every other column stays as it was.
    desc_u = event_texts.compose(tuple(c.name for c in CATEGORIES), cat_idx, src,
                                 np.asarray(short_place).astype("U"),
                                 np.random.default_rng([seed, STAGE_EVENTS, 0xE7]))

    # --- handling ------------------------------------------------------------------------
    median_h = np.array([c.median_h for c in CATEGORIES])[cat_idx]
    dur_s = np.maximum(900, (median_h * rng.lognormal(0.0, 1.0, n) * 3600)).astype(np.int64)
    closed = occurred + dur_s
    now = (last + 1) * 86400 - _LOCAL_OFFSET_S  # 2026-01-01 00:00 local
    done = closed < now
    status = np.where(done, "closed", np.where(occurred >= now - 2 * 86400, "open",
                                               "processing"))

    order = np.lexsort((np.arange(n), occurred))
    addr_id = where_or_none(~on_road, nullable_text(column_or(b, "address_id"))[bi])
    columns = {
        "id": id_strings("V", n, 8),
        "address_id": addr_id[order],
        "subdistrict_code": nullable_text(column_or(b, "subdistrict_code"))[bi][order],
        "community_code": nullable_text(column_or(b, "community_code"))[bi][order],
        "occurred_at": datetime_strings(occurred[order]),
        "closed_at": datetime_strings(closed[order], done[order]),
        "source": np.array(_SOURCES)[src][order],
        "category": np.array([c.name for c in CATEGORIES])[cat_idx][order],
        "status": status[order],
        "address_text": text[order],
        "description": desc_u[order],
        "geocode_status": np.full(n, "resolved"),
        "sensor_id": np.full(n, None, dtype=object),
    }
    out = finish_frame("event", columns, x[order], y[order])
    assert isinstance(out, gpd.GeoDataFrame)
    return out


# --------------------------------------------------------------------------
# sensors and readings
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class SensorType:
    """A kind of IoT sensor: its Chinese name, unit and alarm threshold range."""

    key: str
    label: str
    unit: str
    threshold: tuple[float, float]


SENSOR_TYPES: dict[str, SensorType] = {
    "outfall_flow": SensorType("outfall_flow", "排口流量计", "m³/s", (0.8, 2.5)),
    "rainwater_pipe_flow": SensorType("rainwater_pipe_flow", "雨水管网流量计", "m³/s",
                                      (0.5, 1.5)),
    # 15 cm of standing water is the usual waterlogging warning depth.
    "waterlogging": SensorType("waterlogging", "积水监测", "m", (0.15, 0.15)),
    # Ammonia nitrogen; 2.0 mg/L is the class V limit of GB 3838-2002, 0.5 class II.
    "water_quality": SensorType("water_quality", "水质监测站", "mg/L", (2.0, 2.0)),
    "smoke": SensorType("smoke", "烟感探测器", "%/m", (5.0, 5.0)),
    "temperature": SensorType("temperature", "温感探测器", "°C", (57.0, 57.0)),
    "electrical_fire": SensorType("electrical_fire", "电气火灾监控探测器", "mA", (300.0, 300.0)),
}
#: Fixed numbers of the water sensors (not scaled).
N_OUTFALL, N_PIPE, N_WATERLOGGING, N_WATER_QUALITY = 170, 100, 21, 11


def _points_on_lines(geoms: np.ndarray, lengths: np.ndarray, n: int,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` points spread along lines (by length): which line, lon, lat."""
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0)
    li = np.sort(_choice(rng, n, lengths))
    pos = (group_starts(li) + rng.uniform(0.2, 0.8, n)) / np.bincount(li)[li]
    pts = shapely.line_interpolate_point(geoms[li], pos, normalized=True)
    return li, shapely.get_x(pts), shapely.get_y(pts)


def build_sensors(roads: gpd.GeoDataFrame, water: gpd.GeoDataFrame,
                  buildings: gpd.GeoDataFrame, seed: int, scale: float) -> gpd.GeoDataFrame:
    """IoT sensors (kind ``sensor``).

    Always 170 outfall flow meters on the river banks, 100 rainwater-pipe
    flow meters along arterial and secondary roads, 21 waterlogging gauges at
    the road points nearest the rivers (the low ground and underpasses) and
    11 water-quality stations (3 on the reservoir, the rest on the rivers);
    plus ``round(150 x max(scale, 0.1))`` fire-safety sensors (smoke,
    temperature, electrical fire) in residential, mixed and commercial
    buildings. ``threshold`` is the alarm level in ``unit``; ``water_body``
    the river or reservoir a water sensor drains to or samples.
    """
    rng = rng_for(seed, STAGE_SENSORS)
    b = buildings.reset_index(drop=True)
    rd = roads.reset_index(drop=True)
    wt = water.reset_index(drop=True)
    wnames = text_array(column_or(wt, "name"))
    wtype = column_or(wt, "water_type", "").to_numpy(dtype=object)
    wgeoms = np.asarray(wt.geometry.values, dtype=object)
    rivers = np.flatnonzero(wtype == "river")
    reservoirs = np.flatnonzero(wtype != "river")
    rgeoms = np.asarray(rd.geometry.values, dtype=object)
    rnames = text_array(column_or(rd, "name"))
    rcls = column_or(rd, "road_class", "").to_numpy(dtype=object)
    if len(rgeoms) == 0:
        raise ValueError("sensors need roads")

    bank = shapely.boundary(wgeoms) if len(wgeoms) else np.zeros(0, dtype=object)
    # A river polygon's boundary runs down one bank and up the other: half is one bank.
    if len(rivers):
        river_lines, river_len = bank[rivers], shapely.length(bank[rivers])
    else:  # no river in the data: fall back on the main roads
        river_lines, river_len = rgeoms, shapely.length(rgeoms)
    river_name = wnames[rivers] if len(rivers) else rnames

    rows_type: list[np.ndarray] = []
    rows_x: list[np.ndarray] = []
    rows_y: list[np.ndarray] = []
    rows_name: list[np.ndarray] = []
    rows_wb: list[np.ndarray] = []

    def add(kind: str, x: np.ndarray, y: np.ndarray, name: np.ndarray, wb: np.ndarray) -> None:
        rows_type.append(np.full(len(x), kind, dtype=object))
        rows_x.append(x)
        rows_y.append(y)
        rows_name.append(np.asarray(name, dtype=object))
        rows_wb.append(np.asarray(wb, dtype=object))

    # Outfalls on the river banks.
    li, x, y = _points_on_lines(river_lines, river_len, N_OUTFALL, rng)
    seq = zfill(int_strings(group_starts(li) + 1), 3)
    add("outfall_flow", x, y, _cat(river_name[li], "排口流量计", seq), river_name[li])

    # Nearest river of a point, for pipes and gauges.
    river_tree = shapely.STRtree(river_lines)

    def nearest_river(px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pts = shapely.points(px, py)
        idx = river_tree.query_nearest(pts, all_matches=False)[1]
        return river_name[idx], shapely.distance(pts, river_lines[idx]) * _DEG_M

    # Rainwater pipes under the main roads.
    main = np.isin(rcls, ["arterial", "secondary"])
    rlen = shapely.length(rgeoms)
    li, x, y = _points_on_lines(rgeoms, np.where(main, rlen, rlen * 0.2), N_PIPE, rng)
    wb, _ = nearest_river(x, y)
    seq = zfill(int_strings(group_starts(li) + 1), 2)
    add("rainwater_pipe_flow", x, y, _cat(rnames[li], "雨水管网流量计", seq), wb)

    # Waterlogging gauges: low road points, i.e. near the rivers, one per road stretch.
    li, cx, cy = _points_on_lines(rgeoms, rlen, N_WATERLOGGING * 30, rng)
    _, dist = nearest_river(cx, cy)
    w = np.exp(-dist / 400.0) + 1e-6
    pick = rng.choice(len(cx), size=N_WATERLOGGING, replace=False, p=w / w.sum())
    pick.sort()
    wb, _ = nearest_river(cx[pick], cy[pick])
    place = np.where(rcls[li[pick]] == "arterial", "下穿通道", "低洼路段")
    add("waterlogging", cx[pick], cy[pick], _cat(rnames[li[pick]], place, "积水监测点"), wb)

    # Water-quality stations: 3 on the reservoir, the rest along the rivers.
    n_res = 3 if len(reservoirs) else 0
    li, x, y = _points_on_lines(river_lines, river_len, N_WATER_QUALITY - n_res, rng)
    seq = int_strings(group_starts(li) + 1)
    add("water_quality", x, y, _cat(river_name[li], "水质监测站", seq), river_name[li])
    if n_res:
        li, x, y = _points_on_lines(bank[reservoirs], shapely.length(bank[reservoirs]), n_res,
                                    rng)
        wn = wnames[reservoirs][li]
        add("water_quality", x, y, _cat(wn, "水质监测站", int_strings(group_starts(li) + 1)), wn)

    # Fire-safety sensors in buildings.
    n_fire = round(FIRE_SENSORS_AT_SCALE_1 * max(scale, 0.1))
    fire_n = allocate(n_fire, np.array([1.0, 1.0, 1.0]))
    use = column_or(b, "use", "").to_numpy(dtype=object)
    fw = np.select([use == "residential", use == "mixed", use == "commercial",
                    use == "office", use == "industrial"], [1.0, 1.2, 1.2, 0.6, 1.0], 0.2)
    fw = fw * _floor_area(b)
    bi = np.sort(_choice(rng, n_fire, fw)) if n_fire else np.zeros(0, dtype=np.int64)
    px, py = building_points(b)
    geoms = np.asarray(b.geometry.values, dtype=object)
    fx, fy = jitter_inside(geoms, bi, px[bi], py[bi], rng, 5.0)
    ftype = np.repeat(np.array(["smoke", "temperature", "electrical_fire"], dtype=object),
                      fire_n)
    ftype = ftype[rng.permutation(n_fire)]
    bname = text_array(column_or(b, "name"))
    bname = np.where(bname == "", text_array(column_or(b, "id")), bname)
    flabel = np.array([SENSOR_TYPES[t].label for t in ftype], dtype="U")
    add_kind = ftype
    rows_type.append(add_kind)
    rows_x.append(fx)
    rows_y.append(fy)
    rows_name.append(_cat(bname[bi], flabel).astype(object))
    rows_wb.append(np.full(n_fire, None, dtype=object))

    stype = np.concatenate(rows_type)
    x = np.concatenate(rows_x)
    y = np.concatenate(rows_y)
    name = np.concatenate(rows_name)
    wb = np.concatenate(rows_wb)
    n = len(stype)
    lo = np.array([SENSOR_TYPES[t].threshold[0] for t in stype])
    hi = np.array([SENSOR_TYPES[t].threshold[1] for t in stype])
    thr = np.round(lo + (hi - lo) * rng.random(n), 2)
    # The reservoir is a drinking-water source: class II limit for ammonia nitrogen.
    on_res = (stype == "water_quality") & np.isin(wb.astype(str), wnames[reservoirs])
    thr = np.where(on_res, 0.5, thr)

    # Admin codes (and, for fire sensors, the address) from the nearest building.
    tree = shapely.STRtree(geoms)
    near = tree.query_nearest(shapely.points(x, y), all_matches=False)[1]
    fire = np.isin(stype, ["smoke", "temperature", "electrical_fire"])
    near = np.where(fire, np.concatenate([np.zeros(n - n_fire, dtype=np.int64), bi]), near)
    install = rng.integers(day_number("2017-06-01"), day_number("2018-12-31"), n)
    columns = {
        "id": id_strings("N", n, 4),
        "address_id": where_or_none(fire, nullable_text(column_or(b, "address_id"))[near]),
        "subdistrict_code": nullable_text(column_or(b, "subdistrict_code"))[near],
        "community_code": nullable_text(column_or(b, "community_code"))[near],
        "valid_from": date_strings(install),
        "valid_to": np.full(n, None, dtype=object),
        "name": name,
        "sensor_type": stype,
        "unit": np.array([SENSOR_TYPES[t].unit for t in stype], dtype=object),
        "threshold": thr,
        "water_body": wb,
    }
    out = finish_frame("sensor", columns, x, y)
    assert isinstance(out, gpd.GeoDataFrame)
    return out


def _response(rain: np.ndarray, tau_h: float, lag_h: int = 0) -> np.ndarray:
    """Rain routed through a linear reservoir (exponential unit hydrograph)."""
    t = np.arange(int(tau_h * 6) + 1)
    kernel = np.exp(-t / tau_h)
    kernel /= kernel.sum()
    out = np.convolve(rain, kernel)[: len(rain)]
    if lag_h:
        out = np.concatenate([np.zeros(lag_h), out[:-lag_h]])
    return out


def build_readings(sensors: pd.DataFrame, seed: int, scale: float,
                   year: int = 2024) -> pd.DataFrame:
    """Hourly readings of every sensor for one year (kind ``reading``, no geometry).

    One rainfall series (:func:`hourly_rainfall`, the storms of
    :func:`storm_calendar`) drives the water sensors: flows through linear
    reservoirs (outfalls slow, pipes fast), waterlogging depth where the
    rain exceeds the drainage capacity, ammonia nitrogen with a diurnal cycle
    and a first flush; storms push flows and depths above the thresholds.
    Fire sensors read their ambient values with rare spikes. ``alert`` is 1
    when ``value > threshold``. ``ts`` is Unix seconds (UTC) of each local hour.
    At scale 1.0 every hour of the year; below, every ``round(1/scale)``-th
    day plus every storm day (so the storms are always in the sample).
    """
    rng = rng_for(seed, STAGE_READINGS)
    s = sensors.reset_index(drop=True)
    ns = len(s)
    stype = s["sensor_type"].to_numpy(dtype=object)
    thr = pd.to_numeric(s["threshold"], errors="coerce").fillna(np.inf).to_numpy(np.float64)
    ids = s["id"].to_numpy(dtype=object)

    rain = hourly_rainfall(seed, year)
    nh = len(rain)
    n_days = nh // 24
    hod = np.arange(nh) % 24
    doy = np.arange(nh) // 24
    diurnal = np.sin(2 * np.pi * (hod - 9) / 24)  # peak mid-afternoon
    sewage = np.sin(2 * np.pi * (hod - 4) / 24)  # domestic sewage peaks mid-morning

    # Days in the sample.
    step = max(1, round(1 / scale)) if scale < 1 else 1
    cal = storm_calendar(seed, year, year)
    s_days = np.array([day_number(d) for d in cal["date"]], dtype=np.int64) - day_number(
        f"{year}-01-01")
    s_days = np.concatenate([s_days, s_days + 1])
    keep_day = np.zeros(n_days, dtype=bool)
    keep_day[::step] = True
    keep_day[s_days[(s_days >= 0) & (s_days < n_days)]] = True
    hours = np.flatnonzero(np.repeat(keep_day, 24))
    nk = len(hours)

    slow = _response(rain, 5.0, 1)[hours]
    fast = _response(rain, 1.2)[hours]
    diu, sew, dd = diurnal[hours], sewage[hours], doy[hours]
    values = np.zeros((ns, nk))
    noise = rng.normal(0.0, 1.0, (ns, nk))
    u1 = rng.random(ns)
    u2 = rng.random(ns)

    def rows(kind: str) -> np.ndarray:
        return np.flatnonzero(stype == kind)

    # Flows: dry-weather base + catchment response; a 20-30 mm/h routed storm reaches
    # the threshold.
    for kind, resp, ref in (("outfall_flow", slow, 22.0), ("rainwater_pipe_flow", fast, 25.0)):
        r = rows(kind)
        t = thr[r][:, None]
        base = t * (0.05 + 0.1 * u1[r])[:, None]
        gain = t * (0.8 + 0.6 * u2[r])[:, None] / ref
        values[r] = np.clip(base * (1 + 0.2 * sew) + gain * resp + 0.02 * t * noise[r], 0, None)
    # Waterlogging depth (m): rain above the drainage capacity (12-22 mm/h) ponds.
    r = rows("waterlogging")
    cap = (12.0 + 10.0 * u1[r])[:, None]
    depth = np.clip(_response(rain, 2.0)[hours][None, :] - cap, 0, None) * (
        0.012 + 0.01 * u2[r])[:, None]
    values[r] = np.clip(depth + 0.003 * np.abs(noise[r]), 0, None)
    # Ammonia nitrogen (mg/L): base below the limit, diurnal, first flush in storms.
    r = rows("water_quality")
    t = thr[r][:, None]
    base = t * (0.35 + 0.3 * u1[r])[:, None]
    values[r] = np.clip(base * (1 + 0.12 * sew) + t * 0.05 * noise[r]
                        + t * 0.9 * np.minimum(slow, 40.0) / 20.0, 0.02, None)
    # Fire safety: ambient values, plus rare spikes (cooking smoke, overheating, leakage).
    season = np.cos(2 * np.pi * (dd - 200) / 366)
    r = rows("smoke")
    values[r] = np.clip(0.3 + 0.25 * np.abs(noise[r]), 0, None)
    r2 = rows("temperature")
    values[r2] = 25.0 + 4.0 * season + 2.5 * diu + 0.6 * noise[r2]
    r3 = rows("electrical_fire")
    base3 = (40.0 + 80.0 * u1[r3])[:, None]
    values[r3] = np.clip(base3 * (1 + 0.25 * diu) + 3.0 * np.minimum(fast, 30.0)
                         + 5.0 * noise[r3], 0, None)
    fire = np.concatenate([r, r2, r3])
    if len(fire) and nk:
        n_spikes = rng.poisson(1.5 * nk / nh, len(fire))
        who = np.repeat(fire, n_spikes)
        when = rng.integers(0, nk, len(who))
        values[who, when] = thr[who] * rng.uniform(1.05, 1.6, len(who))

    values = np.round(values, 4)
    alert = (values > thr[:, None]).astype(np.int64)
    t0 = day_number(f"{year}-01-01") * 86400 - _LOCAL_OFFSET_S
    ts = t0 + hours.astype(np.int64) * 3600
    columns = {
        "sensor_id": np.repeat(ids, nk),
        "ts": np.tile(ts, ns),
        "value": values.ravel(),
        "alert": alert.ravel(),
    }
    return finish_frame("reading", columns)

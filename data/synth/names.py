"""Name material for the synthetic geography: real Luohu road names, estate syllables.

The road names are real street names of Luohu district (罗湖区), taken from the
address package's gazetteer of real names, and used as labels for synthetic road
lines; the synthetic lines do not follow the real streets except roughly, through
the anchors below. Estate names are synthetic: two syllables and a suffix that
says what kind of estate it is.

Everything here is a tuple (ordered): the generator must never depend on the
iteration order of a set or on string hashing.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from address.gazetteer import luohu_road_names

#: Anchors that put the names roughly where the real street is:
#: (name, lon, lat, orientation, lowest class). The orientation is "NS" for a
#: line running north-south, "EW" for east-west, "" for either. A name goes to
#: the nearest unnamed line of that orientation passing within
#: ``ANCHOR_RADIUS_M`` of the point, preferring the highest class allowed
#: (an "arterial" anchor takes an arterial if there is one in reach, else a
#: secondary line; a "branch" anchor may take any road). Sections of one street
#: (``ROAD_CHAINS``) are cut from one line instead. Positions are approximate.
ROAD_ANCHORS: Final[tuple[tuple[str, float, float, str, str], ...]] = (
    ("深南东路", 114.1250, 22.5455, "EW", "arterial"),
    ("人民南路", 114.1225, 22.5400, "NS", "arterial"),
    ("人民北路", 114.1225, 22.5620, "NS", "arterial"),
    ("宝安南路", 114.1100, 22.5410, "NS", "arterial"),
    ("宝安北路", 114.1100, 22.5630, "NS", "arterial"),
    ("红岭南路", 114.1030, 22.5400, "NS", "arterial"),
    ("红岭中路", 114.1030, 22.5520, "NS", "arterial"),
    ("红岭北路", 114.1030, 22.5630, "NS", "arterial"),
    ("文锦南路", 114.1300, 22.5410, "NS", "arterial"),
    ("文锦中路", 114.1300, 22.5520, "NS", "arterial"),
    ("文锦北路", 114.1300, 22.5630, "NS", "arterial"),
    ("笋岗东路", 114.1100, 22.5650, "EW", "arterial"),
    ("泥岗东路", 114.1050, 22.5760, "EW", "arterial"),
    ("罗沙路", 114.1700, 22.5620, "EW", "arterial"),
    ("布心路", 114.1300, 22.5830, "EW", "arterial"),
    ("爱国路", 114.1380, 22.5620, "NS", "arterial"),
    ("东晓路", 114.1200, 22.5830, "NS", "arterial"),
    ("清水河一路", 114.0950, 22.5860, "NS", "arterial"),
    ("沿河南路", 114.1150, 22.5400, "NS", "secondary"),
    ("沿河北路", 114.1180, 22.5650, "NS", "secondary"),
    ("东门南路", 114.1200, 22.5440, "NS", "secondary"),
    ("东门中路", 114.1200, 22.5520, "NS", "secondary"),
    ("东门北路", 114.1200, 22.5600, "NS", "secondary"),
    ("嘉宾路", 114.1160, 22.5385, "EW", "secondary"),
    ("春风路", 114.1240, 22.5420, "EW", "secondary"),
    ("解放路", 114.1180, 22.5490, "EW", "secondary"),
    ("太宁路", 114.1420, 22.5760, "EW", "secondary"),
    ("翠竹路", 114.1260, 22.5650, "NS", "secondary"),
    ("莲塘路", 114.1850, 22.5580, "EW", "secondary"),
    ("国威路", 114.1800, 22.5620, "NS", "secondary"),
    ("黄贝路", 114.1430, 22.5480, "NS", "secondary"),
    ("新秀路", 114.1520, 22.5520, "EW", "secondary"),
    ("金稻田路", 114.1150, 22.5900, "EW", "secondary"),
    ("宝岗路", 114.1140, 22.5710, "EW", "secondary"),
    ("洪湖路", 114.1050, 22.5680, "NS", "secondary"),
    ("银湖路", 114.0820, 22.5800, "EW", "secondary"),
    ("建设路", 114.1160, 22.5420, "NS", "secondary"),
    ("南湖路", 114.1170, 22.5370, "EW", "secondary"),
    ("笋岗路", 114.1000, 22.5650, "NS", "secondary"),
    ("罗芳路", 114.1580, 22.5510, "NS", "secondary"),
    ("清水河二路", 114.0920, 22.5820, "EW", "secondary"),
    ("清水河三路", 114.0980, 22.5900, "NS", "secondary"),
    ("畔山路", 114.1880, 22.5600, "NS", "secondary"),
    ("望桐路", 114.1780, 22.5750, "", "secondary"),
    ("仙湖路", 114.1680, 22.5820, "", "secondary"),
    ("布吉路", 114.1250, 22.5800, "NS", "secondary"),
    ("太白路", 114.1330, 22.5730, "EW", "secondary"),
    ("贝丽南路", 114.1320, 22.5700, "NS", "branch"),
    ("贝丽北路", 114.1320, 22.5760, "NS", "branch"),
    ("田贝一路", 114.1270, 22.5660, "EW", "branch"),
    ("田贝二路", 114.1270, 22.5680, "EW", "branch"),
    ("田贝三路", 114.1270, 22.5700, "EW", "branch"),
    ("田贝四路", 114.1270, 22.5720, "EW", "branch"),
    ("水贝一路", 114.1300, 22.5690, "NS", "branch"),
    ("水贝二路", 114.1300, 22.5710, "EW", "branch"),
    ("梅园路", 114.1080, 22.5700, "", "branch"),
    ("北斗路", 114.1080, 22.5730, "", "branch"),
    ("桂园路", 114.1140, 22.5450, "EW", "branch"),
    ("松园路", 114.1120, 22.5510, "NS", "branch"),
    ("红桂路", 114.1070, 22.5490, "EW", "branch"),
    ("红宝路", 114.1050, 22.5430, "EW", "branch"),
    ("凤凰路", 114.1080, 22.5520, "", "branch"),
    ("湖贝路", 114.1240, 22.5480, "EW", "branch"),
    ("立新路", 114.1270, 22.5530, "", "branch"),
    ("晒布路", 114.1230, 22.5560, "EW", "branch"),
    ("新园路", 114.1200, 22.5510, "", "branch"),
    ("乐园路", 114.1250, 22.5500, "", "branch"),
    ("迎春路", 114.1170, 22.5530, "", "branch"),
    ("中兴路", 114.1180, 22.5430, "", "branch"),
    ("船步街", 114.1190, 22.5470, "", "branch"),
    ("金塘街", 114.1240, 22.5470, "", "branch"),
    ("友谊路", 114.1260, 22.5480, "", "branch"),
    ("和平路", 114.1130, 22.5370, "NS", "branch"),
    ("延芳路", 114.1600, 22.5530, "", "branch"),
    ("东昌路", 114.1320, 22.5550, "", "branch"),
    ("怡景路", 114.1380, 22.5700, "", "branch"),
    ("华丽路", 114.1160, 22.5560, "", "branch"),
    ("太安路", 114.1350, 22.5650, "", "branch"),
    ("梨园路", 114.1480, 22.5580, "", "branch"),
    ("聚宝路", 114.1850, 22.5650, "", "branch"),
    ("鹏兴路", 114.1780, 22.5600, "", "branch"),
    ("仙桐路", 114.1900, 22.5700, "", "branch"),
    ("沙湾路", 114.1450, 22.5950, "", "branch"),
)

#: Real road names of Luohu district, drawn from the address package's gazetteer
#: (``address/data/luohu_gazetteer.csv``, in its order): those that have an anchor
#: above. Each name labels at most one synthetic logical road line. The arrow runs
#: this way only: the address service never reads names from the generator.
_ANCHORED: Final[frozenset[str]] = frozenset(a[0] for a in ROAD_ANCHORS)
ROAD_NAMES: Final[tuple[str, ...]] = tuple(n for n in luohu_road_names() if n in _ANCHORED)

#: Sections of one real street, south to north: the later sections are cut
#: from the line that took the previous one (so 人民南路 continues as 人民北路).
ROAD_CHAINS: Final[tuple[tuple[str, ...], ...]] = (
    ("人民南路", "人民北路"),
    ("宝安南路", "宝安北路"),
    ("红岭南路", "红岭中路", "红岭北路"),
    ("文锦南路", "文锦中路", "文锦北路"),
    ("东门南路", "东门中路", "东门北路"),
    ("沿河南路", "沿河北路"),
    ("贝丽南路", "贝丽北路"),
)

#: How far (metres) an anchor may be from the line that takes its name.
ANCHOR_RADIUS_M: Final[float] = 900.0

#: Single-character syllables of synthetic estate names (pairs of them).
ESTATE_SYLLABLES: Final[tuple[str, ...]] = (
    "湖", "贝", "翠", "竹", "桂", "金", "银", "华", "丽", "富", "康", "泰", "安", "宝",
    "岗", "东", "南", "新", "景", "春", "嘉", "鹏", "兴", "怡", "锦", "绣", "龙", "凤",
    "祥", "和", "乐", "福", "德", "信", "达", "荣", "悦", "雅", "海", "山", "松", "柏",
    "梅", "兰", "莲", "荷", "桃", "碧", "星", "月", "光", "明", "阳", "晖", "君", "豪",
    "润", "泽", "汇", "通", "盛", "世", "天", "万", "城", "晓", "清", "泉", "丰", "佳",
)

#: Estate suffixes by the estate's dominant use.
ESTATE_SUFFIXES: Final[dict[str, tuple[str, ...]]] = {
    "residential": ("花园", "苑", "小区", "新村", "家园", "名苑"),
    "office": ("大厦", "中心", "广场"),
    "commercial": ("广场", "大厦", "中心"),
    "mixed": ("大厦", "广场", "花园"),
    "industrial": ("工业区",),
    "public": ("中心", "大厦"),
}

#: Uses whose buildings are numbered with letters (A座, B座, ...).
LETTER_USES: Final[tuple[str, ...]] = ("office", "commercial", "mixed", "public")


def estate_names(uses: list[str], rng: np.random.Generator) -> list[str]:
    """Unique synthetic estate names, one per entry of ``uses`` (the estate's use).

    A name is a pair of distinct syllables plus a suffix of the use's class,
    e.g. 翠竹苑, 湖贝大厦, 金丽工业区. Pairs are drawn without replacement per
    suffix, so names never repeat; when a suffix class runs out a 二期/三期
    phase is appended.
    """
    syl = ESTATE_SYLLABLES
    n = len(syl)
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    suffix_order = sorted({s for v in ESTATE_SUFFIXES.values() for s in v})
    perms = {s: rng.permutation(len(pairs)) for s in suffix_order}
    used = dict.fromkeys(suffix_order, 0)
    out: list[str] = []
    for use in uses:
        choices = ESTATE_SUFFIXES.get(use, ESTATE_SUFFIXES["residential"])
        suffix = choices[int(rng.integers(len(choices)))]
        k = used[suffix]
        used[suffix] = k + 1
        i, j = pairs[int(perms[suffix][k % len(pairs)])]
        phase = ("", "二期", "三期", "四期")[min(k // len(pairs), 3)]
        out.append(f"{syl[i]}{syl[j]}{suffix}{phase}")
    return out


#: Fire stations: one per listed subdistrict short name.
FIRE_STATION_PLACES: Final[tuple[str, ...]] = (
    "桂园", "东门", "笋岗", "清水河", "东晓", "翠竹", "东湖", "莲塘",
)

#: The three district hospitals with an approximate location (lon, lat) and beds.
HOSPITALS: Final[tuple[tuple[str, float, float, int], ...]] = (
    ("罗湖区人民医院", 114.1265, 22.5485, 1200),
    ("罗湖区中医院", 114.1350, 22.5720, 400),
    ("罗湖区妇幼保健院", 114.1375, 22.5570, 300),
)

#: The district service centre (name, lon, lat).
DISTRICT_CENTRE: Final[tuple[str, float, float]] = ("罗湖区政务服务中心", 114.1310, 22.5490)

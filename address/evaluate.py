"""Measured quality: messy variants of registry addresses, and exact-match scoring.

:func:`perturb` writes a registry address the way people type it: levels
dropped or abbreviated (深圳罗湖, 东门, 湖贝), full-width characters, Chinese
numerals, spaces and punctuation, parentheses, lower-case letters, parts in
another order, hotline words around it, a one-character typo in the estate
name, a wrong community. :func:`evaluate_geocoder` geocodes such variants of a
seeded sample of building and room addresses and reports the share whose top
candidate is the original address; :func:`evaluate_parser` reports the share
of labelled cases parsed exactly.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from address.parser import COMPONENTS, ParsedAddress
from address.registry import AddressRegistry, Entry

_FULLWIDTH = str.maketrans({**{chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)}})
_CN = "零一二三四五六七八九"
# Characters for typos: common characters that occur in estate names and input slips.
_TYPO_POOL = (
    "华丽金银泰康宝新景春嘉鹏兴怡锦绣龙凤祥和乐福德信达荣悦雅海山松柏梅兰莲荷桃碧星月"
    "光明阳君豪润泽汇通盛世天万城晓清泉丰佳园苑庭"
)
_LEAD = ("市民反映：", "来电反映", "市民来电称", "投诉：", "有市民反映在", "网格员上报：",
         "巡查发现：", "位于", "")
_TAIL = ("门口垃圾堆放", "附近有噪音", "楼下占道经营", "旁边，请尽快处理", "，油烟扰民", "对面积水",
         "")


def cn_number(n: int) -> str:
    """Chinese numeral of 0-99 (十二, 二十, 三)."""
    if n < 10:
        return _CN[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _CN[tens]) + "十" + (_CN[ones] if ones else "")


def cn_digits(text: str) -> str:
    """Digit-by-digit Chinese reading (1203 → 一二零三)."""
    return "".join(_CN[int(ch)] if ch.isdigit() else ch for ch in text)


@dataclass
class Parts:
    """The components of one registry address, for writing variants of it."""

    subdistrict: str | None
    community: str | None
    road: str | None
    house_number: str | None
    poi: str | None
    building: str | None
    unit: str | None
    room: str | None
    other_communities: Sequence[str] = ()


def parts_of(entry: Entry, registry: AddressRegistry) -> Parts:
    """Components of a building or room entry."""
    sub = next((u.name for u in registry.admin["subdistrict"]
                if u.code == entry.subdistrict_code), None)
    com = next((u.name for u in registry.admin["community"]
                if u.code == entry.community_code), None)
    others = [u.name for u in registry.admin["community"] if u.code != entry.community_code]
    return Parts(sub, com, entry.road, entry.house_number, entry.poi, entry.building,
                 entry.unit, entry.room, others)


def _building_text(b: str, rng: random.Random) -> str:
    if b.isdigit():
        n = int(b)
        forms = [f"{b}栋", f"{b}号楼", f"第{b}栋", f"{b}幢", f"{b}#楼"]
        if n < 100:
            forms += [f"{cn_number(n)}栋", f"第{cn_number(n)}栋"]
        return rng.choice(forms)
    forms = [f"{b}座", f"{b}栋", f"{b.lower()}座", f"{b}幢", f"{b}号楼",
             f"{b.translate(_FULLWIDTH)}座", f"{b.lower()}幢"]
    return rng.choice(forms)


def _room_text(unit: str | None, room: str, rng: random.Random) -> str:
    u = ""
    if unit:
        u = rng.choice([f"{unit}单元", f"{unit}单元", f"{cn_number(int(unit))}单元"
                        if unit.isdigit() and int(unit) < 100 else f"{unit}单元"])
    r = rng.choice([f"{room}室", f"{room}房", f"{room}", f"{room}号", f"{room}室",
                    f"{cn_digits(room)}室"])
    if not u and r == room:  # a bare number after the building needs a marker
        r = f"{room}室"
    floor = ""
    if room.isdigit() and len(room) >= 3 and rng.random() < 0.15:
        fl = int(room[:-2])
        floor = rng.choice([f"{fl}楼", f"{fl}层", f"{fl}F", f"{cn_number(fl)}楼"]) if fl < 100 \
            else ""
    return u + floor + r


# Common characters, grouped by sound, for homophone slips of the input method.
_COMMON = _TYPO_POOL + (
    "备被倍杯悲碑北背辈湖胡壶虎户护互沪呼忽狐弧糊蝴新心欣辛薪信星兴形型行幸性姓安按案"
    "岸暗俺南难男楠喃宁凝柠拧泞宝保报抱饱堡鲍翠萃粹脆淬竹竺烛逐主住助注祝著金今斤津筋"
    "巾紧锦谨近进晋劲禁园圆元原员源远院愿缘援花华化话画划哗滑大达答打搭厦夏下吓峡霞侠"
    "虾广光逛咣场厂常长尝肠唱城成程诚承乘呈丞陈称庭亭停婷挺岭领令灵玲铃零龄凌陵菱围维"
    "伟为位卫未味委唯惟东冬董动冻栋洞懂门们闷焖"
)


@lru_cache(maxsize=4096)
def _homophones(ch: str) -> tuple[str, ...]:
    from address.gazetteer import readings

    r = readings(ch)
    return tuple(c for c in dict.fromkeys(_COMMON) if c != ch and readings(c) & r)


def _typo(name: str, rng: random.Random) -> str:
    """``name`` with one character slipped (a homophone most often, as with a pinyin
    input method), replaced by another, doubled or dropped; never the suffix only."""
    body = max(1, len(name) - 2)
    i = rng.randrange(body)
    kind = rng.random()
    if kind < 0.5:
        alike = _homophones(name[i])
        if alike:
            return name[:i] + rng.choice(alike) + name[i + 1:]
    if kind < 0.7:
        ch = rng.choice([c for c in _TYPO_POOL if c != name[i]])
        return name[:i] + ch + name[i + 1:]
    if kind < 0.9:
        return name[:i + 1] + name[i] + name[i + 1:]
    return name[:i] + name[i + 1:] if len(name) > 3 else name


def perturb(parts: Parts, rng: random.Random, *, unique_estate: bool = True,
            typo: float = 0.15, wrong_community: float = 0.05) -> tuple[str, dict[str, bool]]:
    """A messy text of ``parts`` and the flags of what was done to it.

    The text keeps what identifies the address: the door plate or the estate
    (with the building number when the estate has several buildings), and the
    unit and room of a room address.
    """
    flags: dict[str, bool] = {}
    r = rng.random
    admin_prefix = rng.choice(["广东省深圳市罗湖区", "深圳市罗湖区", "深圳罗湖", "罗湖区", "罗湖",
                               "深圳市罗湖", "", "", ""])
    sub = ""
    if parts.subdistrict and r() < 0.45:
        sub = parts.subdistrict if r() < 0.6 else parts.subdistrict.removesuffix("街道")
    com = ""
    if parts.community and r() < 0.4:
        com = parts.community if r() < 0.6 else parts.community.removesuffix("社区")
    if com and parts.other_communities and r() < wrong_community:
        com = rng.choice(list(parts.other_communities))
        flags["wrong_community"] = True
    keep_plate = bool(parts.road and parts.house_number) and (r() < 0.8 or not parts.poi)
    keep_estate = bool(parts.poi) and (not keep_plate or r() < 0.75)
    plate = ""
    if keep_plate and parts.road and parts.house_number:
        hn = parts.house_number
        hn_text = rng.choice([hn, hn, hn, hn.translate(_FULLWIDTH), cn_digits(hn)])
        plate = parts.road + hn_text + rng.choice(["号", "号", "號", "号 "])
    estate = ""
    if keep_estate and parts.poi:
        estate = parts.poi
        if r() < (typo if keep_plate else typo / 3):
            estate = _typo(estate, rng)
            flags["typo" if keep_plate else "typo_no_plate"] = estate != parts.poi
        if r() < 0.08:
            estate = f"（{estate}）"
            flags["parentheses"] = True
    bld = ""
    need_bld = bool(parts.building) and (not unique_estate or not keep_plate or parts.room
                                         is not None or r() < 0.7)
    if parts.building and (need_bld or not keep_estate):
        bld = _building_text(parts.building, rng)
    room = _room_text(parts.unit, parts.room, rng) if parts.room else ""
    sep = (lambda: rng.choice(["", "", "", " ", "，", "、", "　"])) if r() < 0.35 else (
        lambda: "")
    admin = sep().join(p for p in (admin_prefix, sub, com) if p)
    place = sep().join(p for p in (plate, estate + bld, room) if p)
    if r() < 0.12 and plate and (estate or bld):
        place = sep().join(p for p in (estate + bld + room, plate) if p)
        flags["swapped"] = True
    text = admin + sep() + place
    if r() < 0.1 and admin:
        text = place + sep() + admin
        flags["swapped"] = True
    if r() < 0.25:
        text = rng.choice(_LEAD) + text + rng.choice(_TAIL)
        flags["hotline"] = True
    if r() < 0.1:
        text = text.translate(_FULLWIDTH)
        flags["fullwidth"] = True
    return text, flags


@dataclass
class GeocodeEval:
    """Result of :func:`evaluate_geocoder`."""

    n: int
    correct: int
    by_flag: dict[str, tuple[int, int]] = field(default_factory=dict)
    failures: list[tuple[str, str, str | None]] = field(default_factory=list)

    @property
    def top1(self) -> float:
        """Share of variants whose best candidate is the original address."""
        return self.correct / self.n if self.n else 0.0


def perturb_coarse(entry: Entry, registry: AddressRegistry, rng: random.Random) -> str:
    """A messy text naming a coarse entry: a door plate, an estate, a road or an admin
    unit (abbreviated levels, full-width, spaces, hotline words)."""
    sub = next((u.name for u in registry.admin["subdistrict"]
                if u.code == entry.subdistrict_code), "")
    com = next((u.name for u in registry.admin["community"]
                if u.code == entry.community_code), "")
    prefix = rng.choice(["广东省深圳市罗湖区", "深圳市罗湖区", "深圳罗湖", "罗湖区", "罗湖", ""])
    level = entry.level
    if level == "district":
        text = rng.choice(["罗湖区", "深圳市罗湖区", "广东省深圳市罗湖区", "深圳罗湖区"])
    elif level == "subdistrict":
        text = rng.choice(["罗湖区", "深圳市罗湖区", ""]) + rng.choice(
            [sub, sub, sub.removesuffix("街道") + "街道办"])
    elif level == "community":
        text = prefix + rng.choice([sub, sub.removesuffix("街道"), ""]) + com
    elif level == "road":
        text = prefix + (entry.road or "")
    elif level == "house_number":
        hn = entry.house_number or ""
        text = prefix + (entry.road or "") + rng.choice([hn, hn.translate(_FULLWIDTH),
                                                           cn_digits(hn)]) + "号"
    else:  # poi
        text = prefix + rng.choice([sub, ""]) + (entry.poi or "")
    if rng.random() < 0.2:
        text = rng.choice(_LEAD) + text + rng.choice(_TAIL)
    if rng.random() < 0.1:
        text = text.translate(_FULLWIDTH)
    return text


def evaluate_geocoder(geocode: Callable[[str], Any], registry: AddressRegistry,
                      n: int = 1000, seed: int = 0, room_share: float = 0.4,
                      coarse_share: float = 0.1) -> GeocodeEval:
    """Top-1 accuracy of ``geocode(text) -> list[Candidate]`` on ``n`` messy variants
    of a seeded sample of registry addresses: rooms (``room_share``), coarse entries
    (door plates, estates, roads, admin units: ``coarse_share``) and buildings."""
    rng = random.Random(seed)
    nb = len(registry.buildings)
    if nb == 0:
        return GeocodeEval(0, 0)
    coarse: list[Entry] = [registry.district, *registry.subdistricts.values(),
                           *registry.communities.values(), *registry.roads.values(),
                           *(e for e in registry.plates.values() if e.level == "house_number"),
                           *(e for e in registry.pois.values() if e.level == "poi")]
    result = GeocodeEval(0, 0)
    for _ in range(n):
        r = rng.random()
        flags: dict[str, bool]
        if r < coarse_share:
            entry = coarse[rng.randrange(len(coarse))]
            text, flags = perturb_coarse(entry, registry, rng), {f"level_{entry.level}": True}
        else:
            if registry.n_houses and r < coarse_share + room_share:
                entry = registry.house(rng.randrange(registry.n_houses))
            else:
                entry = registry.buildings[rng.randrange(nb)]
            unique = len(registry.by_estate.get(entry.poi or "", [])) <= 1
            text, flags = perturb(parts_of(entry, registry), rng, unique_estate=unique)
        found = geocode(text)
        top = found[0].address_id if found else None
        ok = top == entry.address_id
        result.n += 1
        result.correct += ok
        for flag in [*flags, "all"]:
            a, b = result.by_flag.get(flag, (0, 0))
            result.by_flag[flag] = (a + ok, b + 1)
        if not ok and len(result.failures) < 200:
            result.failures.append((text, entry.address, found[0].address if found else None))
    return result


def load_cases(path: str | Path) -> list[dict[str, Any]]:
    """Labelled parse cases of a JSON-lines file: ``{"text", "expected", "messy"}``."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line and not line.startswith("//"):
                out.append(json.loads(line))
    return out


@dataclass
class ParseEval:
    """Result of :func:`evaluate_parser`."""

    n: int
    exact: int
    messy_n: int
    messy_exact: int
    failures: list[tuple[str, dict[str, Any], dict[str, Any]]] = field(default_factory=list)

    @property
    def exact_rate(self) -> float:
        """Share of cases whose twelve components all match."""
        return self.exact / self.n if self.n else 0.0


def evaluate_slices(parse: Callable[[str], ParsedAddress], cases: Iterable[dict[str, Any]],
                    known: Callable[[str, str], bool] | None = None) -> dict[str, ParseEval]:
    """Exact-match rate of ``parse`` per ``slice`` of labelled cases (``unknown``: real
    places outside the registry, ``registry``: registry addresses).

    With ``known(kind, name)`` (e.g. :meth:`address.gazetteer.Gazetteer.is_real`), the
    ``unknown`` cases whose estate and road are both unknown to it are also scored
    alone as ``unknown, outside the gazetteer``: that slice measures the parser's
    rules, not the gazetteer's coverage.
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for case in cases:
        sl = str(case.get("slice", "all"))
        groups.setdefault(sl, []).append(case)
        exp = case["expected"]
        if sl == "unknown" and known is not None and not any(
                exp.get(k) and known(k, exp[k]) for k in ("poi", "road")):
            groups.setdefault("unknown, outside the gazetteer", []).append(case)
    return {sl: evaluate_parser(parse, group) for sl, group in groups.items()}


def evaluate_parser(parse: Callable[[str], ParsedAddress],
                    cases: Iterable[dict[str, Any]]) -> ParseEval:
    """Exact-match rate of ``parse`` on labelled cases (all twelve components)."""
    res = ParseEval(0, 0, 0, 0)
    for case in cases:
        got = parse(case["text"]).components
        want = {k: case["expected"].get(k) for k in COMPONENTS}
        ok = all(got.get(k) == want[k] for k in COMPONENTS)
        res.n += 1
        res.exact += ok
        if case.get("messy"):
            res.messy_n += 1
            res.messy_exact += ok
        if not ok:
            res.failures.append((case["text"], want, dict(got)))
    return res

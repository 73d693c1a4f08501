"""The address parser: free text → the twelve standard components.

The parser works on the normalised text (:mod:`address.normalize`) in three
steps:

1. *gazetteer*: every known name (admin units, roads, estates) is found by a
   longest-match scan; weak aliases (bare short names such as 东门, 湖贝) are kept
   only where they cannot be the beginning of another word;
2. *tokens*: the text between the names is cut into house numbers, building,
   unit, floor and room markers, bare numbers and runs of Han characters;
3. *roles*: a left-to-right pass gives each token its role from its own form
   and its neighbours (a bare number after a road is a house number, after a
   building a room...). Runs of Han characters that no gazetteer knows become a
   road or an estate when they end with a road or estate suffix, or stand just
   before a building marker; lead-in phrases of hotline text (市民反映, 位于...)
   are cut off and trailing free text is ignored.

When the gazetteer knows estates and no estate was found exactly, a second
pass looks for a name the text misspells by a slip (a homophone or a doubled
character: :func:`address.gazetteer.confident_typo`); any other near name is
another place, and the text's name is kept (fuzzy matching to the registry is
the geocoder's, which reports it). An admin short name is never split off the
front of a longer place name (笋岗物流园). Parents implied by a named admin unit
are filled in (湖贝社区 → 东门街道 → 罗湖区 → 深圳市 → 广东省).

Open-source address parsers (libpostal, jieba-based taggers) either split Han
text without knowing the district's names or need a trained model; this
gazetteer-and-rules parser is written for the district's own names.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

from address.gazetteer import (
    CITY,
    DISTRICT,
    POI_SUFFIXES,
    PROVINCE,
    ROAD_SUFFIXES,
    Gazetteer,
    Hit,
    Place,
)
from address.normalize import SEP, normalize

#: The twelve components, in address order.
COMPONENTS = ("province", "city", "district", "subdistrict", "community", "road",
              "house_number", "poi", "building", "unit", "floor", "room")

_ADMIN = ("province", "city", "district", "subdistrict", "community")
#: Token kinds after a community's bare short name that make it the estate it is named
#: after: a building, unit, floor or room (a community has none). At the end of the text
#: it stays the community (罗湖区人民桥: the Luohu set's label).
_NOT_A_NAME = frozenset({"bld", "unit", "floor", "room"})

_POI_SUFFIX_SET = frozenset(POI_SUFFIXES)

_UNKNOWN_ADMIN = re.compile(r"[\u4e00-\u9fff]{1,6}?(?:省|自治区|市|县|区|街道|镇)(?![场])")
#: Words that end like an estate but are no address (人民政府).
_NOT_POI = ("政府",)
_SUFFIX_RE = re.compile("|".join([*(r"街(?!道)" if x == "街" else x for x in ROAD_SUFFIXES),
                                   *POI_SUFFIXES]))
_ROAD_SUFFIX_SET = frozenset(ROAD_SUFFIXES)

#: Phrases that introduce an address in free text; a name starts after them.
LEAD_WORDS: tuple[str, ...] = (
    "市民反映", "来电反映", "市民来电", "来电称", "反映", "投诉", "举报", "来电", "表示", "位于",
    "地址为", "地址是", "地址", "地点", "住址", "家住", "住在", "坐落于", "座落于", "附近的",
    "旁边的", "对面的", "门口的", "楼下的", "附近", "旁边", "对面", "门口", "楼下", "楼上",
    "楼顶", "路口", "路段", "交叉口", "交汇处", "中段", "东侧", "西侧", "南侧", "北侧", "门前",
    "周边", "一带", "发现", "上报", "称", "在", "于", "到", "的", "从", "往", "去", "至")
_LEAD_IN = re.compile("|".join(sorted(LEAD_WORDS, key=len, reverse=True)))
_LEAD_AT = re.compile("(?:" + "|".join(sorted(LEAD_WORDS, key=len, reverse=True)) + ")+")
#: Generic words of place names (the 通名 part: what kind of place, not which one). An
#: admin short name followed only by these and a suffix is the distinctive part of one
#: name (笋岗物流园, 东晓商务中心, 罗湖体育馆), not a unit before another name (罗湖绿景花园).
GENERIC_WORDS: tuple[str, ...] = tuple(sorted((
    "物流", "商务", "商业", "商贸", "贸易", "交易", "珠宝", "黄金", "植物", "体育", "文体",
    "科技", "工业", "产业", "创意", "文化", "国际", "金融", "购物", "服务", "电子", "汽车",
    "家具", "批发", "综合", "市民", "人民", "行政", "政务", "党群", "邻里", "医疗", "健康",
    "教育", "培训", "休闲", "旅游", "会展", "展览", "创新", "创业", "总部", "美食", "农贸",
    "口岸", "海关", "火车", "汽车站", "客运", "公交", "地铁", "书", "渡", "旧", "老", "新",
    "大", "小", "东", "西", "南", "北", "中", "一", "二", "三", "四", "五", "六",
), key=len, reverse=True))
_GENERIC_RE = re.compile("(?:" + "|".join(GENERIC_WORDS) + ")*")

#: Characters that never occur inside a road or estate name.
_STOP_CHARS = frozenset("的了是被把很没请要这那些我你他她它说称映诉吗呢吧啊嘛")

# 楼下/楼上/楼顶... after 号 or a number: "530号楼下" is "below no. 530", not building 530.
_NEAR = "(?![下上道顶梯前后旁底口面边])"
_TOKEN = re.compile(
    r"(?P<hn>\d+(?:-\d+)?号(?:之\d+|附\d+号?)?(?!楼" + _NEAR + r"|[栋座房室铺]|商铺)"
    r"|\d+之\d+号?)"
    r"|(?P<bld>(?:[A-Z]\d{0,2}|\d{1,3}[A-Z]?)"
    r"(?:座|栋|幢|号楼" + _NEAR + r"|号栋|号座|#楼|#|栋楼))"
    r"|(?P<unit>(?:\d{1,3}|[A-Z])单元)"
    r"|(?P<floor>-?\d{1,3}(?:楼" + _NEAR + r"|层|F)(?![栋座幢])|F-?\d{1,3}(?!\d))"
    r"|(?P<room>\d{1,5}(?:室|房|号房|号商铺|号铺|商铺|铺))"
    r"|(?P<phase>\d{1,2}期)"
    r"|(?P<num>\d+(?:-\d+)*)"
    r"|(?P<lat>[A-Z]+\d*)"
    r"|(?P<han>[\u4e00-\u9fff]+)"
    r"|(?P<sep>\|)"
)
_PHASE_AFTER = re.compile(r"\d{1,2}期")
_HN_PARTS = re.compile(r"(\d+)(?:-(\d+))?号?(?:[之附](\d+))?")
_CN_SMALL = "零一二三四五六七八九"

_AFTER_ESTATE = frozenset(("poi", "building", "unit", "floor", "room"))


@dataclass
class ParsedAddress:
    """The result of :func:`parse`.

    ``components`` holds the twelve keys of :data:`COMPONENTS` (None when
    absent); ``places`` the gazetteer places matched for admin units, road and
    estate; ``corrected`` maps a component to the form typed when a typo was
    corrected; ``candidates`` (and ``poi_candidates``) list the names one typo
    away when the parser could not choose; ``conflicts`` names components that
    the text contradicts (two different communities, a community outside the
    named subdistrict...); ``inferred`` the parents filled in, not typed;
    ``cross_road`` a second road of a crossing (春风路与解放路交叉口).
    """

    input: str
    text: str
    components: dict[str, str | None]
    places: dict[str, Place] = field(default_factory=dict)
    corrected: dict[str, str] = field(default_factory=dict)
    poi_candidates: tuple[Place, ...] = ()
    conflicts: tuple[str, ...] = ()
    inferred: tuple[str, ...] = ()
    cross_road: str | None = None
    candidates: dict[str, tuple[Place, ...]] = field(default_factory=dict)

    @property
    def normalized(self) -> str:
        """The standard string of the components found (standard order and suffixes)."""
        return format_address(self.components)

    def __getitem__(self, key: str) -> str | None:
        return self.components[key]

    @property
    def is_empty(self) -> bool:
        """True when no component was found."""
        return all(v is None for v in self.components.values())

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready ``{"input", "normalized", "components"}``."""
        return {"input": self.input, "normalized": self.normalized,
                "components": dict(self.components)}


def format_address(c: dict[str, str | None]) -> str:
    """The standard address string of components (absent ones skipped)."""
    parts: list[str] = [c.get(k) or "" for k in _ADMIN]
    parts.append(c.get("road") or "")
    hn = c.get("house_number")
    if hn:
        parts.append(f"{hn}号")
    parts.append(c.get("poi") or "")
    b = c.get("building")
    if b:
        parts.append(b + building_suffix(b))
    u = c.get("unit")
    if u:
        parts.append(f"{u}单元")
    f = c.get("floor")
    r = c.get("room")
    if f and not r:  # a room number already says its floor in a standard address
        parts.append(f"{f}层")
    if r:
        parts.append(f"{r}室")
    return "".join(parts)


def building_suffix(building: str) -> str:
    """``座`` for a lettered building (A座), ``栋`` for a numbered one (3栋)."""
    return "座" if building[:1].isalpha() and building[:1].isascii() else "栋"


def house_number_of(token: str) -> str:
    """Canonical house number of a token: ``2001号之3`` → ``2001-3``."""
    m = _HN_PARTS.match(token)
    if m is None:
        return token.rstrip("号")
    main, sub1, sub2 = m.groups()
    sub = sub1 or sub2
    return f"{int(main)}-{int(sub)}" if sub else str(int(main))


def _digits(token: str) -> str:
    m = re.match(r"-?\d+", token)
    return str(int(m.group(0))) if m else token


def _phase_cn(n: int) -> str:
    if n < 10:
        return _CN_SMALL[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _CN_SMALL[tens]) + "十" + (_CN_SMALL[ones] if ones else "")


class _Tok(NamedTuple):
    kind: str
    start: int
    end: int
    text: str
    hit: Hit | None = None


class AddressParser:
    """A parser bound to one gazetteer (admin units, and optionally roads and estates)."""

    def __init__(self, gazetteer: Gazetteer) -> None:
        self.gazetteer = gazetteer
        self._has_fuzzy = any(p.kind in ("poi", "road") for p in gazetteer.places)

    def parse(self, text: str) -> ParsedAddress:
        """Parse ``text`` into components (see the module docstring)."""
        return self._parse(text)

    # -- step 1: gazetteer --------------------------------------------------

    def _select(self, text: str, hits: list[Hit],
                soft: Callable[[], frozenset[int]] = frozenset) -> list[Hit]:
        weak_spans = {(h.start, h.end) for h in hits if h.weak}
        if len(weak_spans) >= 2:
            # 翠竹 新村 typed with a space is two short names, not the estate 翠竹新村
            ends = {e for _, e in weak_spans}
            hits = [h for h in hits if h.weak or not any(
                (h.start, b) in weak_spans and (b, h.end) in weak_spans and b in soft()
                for b in ends if h.start < b < h.end)]
        hits = sorted(hits, key=lambda h: (-h.length, h.weak, h.distance, h.start))
        taken = bytearray(len(text))
        chosen: list[Hit] = []
        for h in hits:
            if any(taken[h.start:h.end]):
                continue
            chosen.append(h)
            taken[h.start:h.end] = b"\x01" * h.length
        chosen.sort(key=lambda h: h.start)
        starts = {h.start for h in chosen if not h.weak}
        ends = {h.end for h in chosen}
        out: list[Hit] = []
        for h in chosen:
            if h.weak and not self._weak_ok(text, h, starts, ends, soft):
                continue
            out.append(h)
        return out

    @staticmethod
    def _weak_ok(text: str, h: Hit, strong_starts: set[int], ends: set[int],
                 soft: Callable[[], frozenset[int]]) -> bool:
        """A bare short name counts only if it is not the start or end of another word.

        A space typed right after it (``翠竹 新村``) marks it as a word of its own.
        """
        j = h.end
        if j < len(text) and j not in strong_starts:
            rest = text[j:j + 3]
            if (rest.startswith(ROAD_SUFFIXES) or rest.startswith(POI_SUFFIXES)) and (
                    j not in soft()):
                return False
            # An admin short name is never split off the front of a longer name: it
            # begins one when only generic words and a suffix follow it (笋岗物流园,
            # 翠竹商业中心, 翠竹北路, 罗湖口岸), not a name of its own (罗湖绿景花园).
            if _generic_name_follows(text, j, strong_starts) and j not in soft():
                return False
        alias = text[h.start:h.end]
        if (alias in _POI_SUFFIX_SET or alias.endswith(POI_SUFFIXES)) and (
                h.start not in ends and not text.endswith(LEAD_WORDS, 0, h.start)):
            prev = text[h.start - 1] if h.start > 0 else SEP
            if "\u4e00" <= prev <= "\u9fff" and h.start not in soft():
                return False
        return True

    # -- step 2 and 3 -------------------------------------------------------

    def _tokens(self, text: str, hits: list[Hit]) -> list[_Tok]:
        toks: list[_Tok] = []
        pos = 0
        for h in [*hits, None]:
            end = h.start if h is not None else len(text)
            if end > pos:
                for m in _TOKEN.finditer(text, pos, end):
                    kind = m.lastgroup or "other"
                    toks.append(_Tok(kind, m.start(), m.end(), m.group(0)))
            if h is not None:
                toks.append(_Tok("place", h.start, h.end, text[h.start:h.end], h))
                pos = h.end
        return toks

    def _parse(self, text: str) -> ParsedAddress:
        norm = normalize(text)
        spaces: list[frozenset[int]] = []

        def soft() -> frozenset[int]:  # computed only when a weak name needs it
            if not spaces:
                spaces.append(soft_boundaries(text, norm))
            return spaces[0]

        hits = self._select(norm, self.gazetteer.scan(norm), soft)
        result = self._roles(text, norm, hits)
        if self._has_fuzzy and self._fuzzy_pass(norm, hits, result):
            fuzzy = self._fuzzy_hits(norm, hits)
            if fuzzy:
                hits2 = self._select(norm, [h for h in hits if not h.weak] + fuzzy
                                     + [h for h in hits if h.weak], soft)
                result2 = self._roles(text, norm, hits2)
                if _found(result2) > _found(result):
                    result = result2
        return result

    def _free_runs(self, norm: str, hits: list[Hit]) -> list[tuple[int, int]]:
        """Runs of Han text (3+ characters) outside strong names and outside number
        tokens: where a misspelt name can hide."""
        runs: list[tuple[int, int]] = []
        vocab = self.gazetteer.fuzzy_chars
        weak = bytearray(len(norm))
        for w in hits:
            if w.weak:
                weak[w.start:w.end] = b"\x01" * w.length
        pos = 0
        for h in [*(h for h in hits if not h.weak), None]:
            end = h.start if h is not None else len(norm)
            if end > pos:
                for m in _TOKEN.finditer(norm, pos, end):
                    if m.lastgroup != "han":
                        continue
                    start, stop = m.start(), m.end()
                    phase = _PHASE_AFTER.match(norm, stop, end)
                    if phase is not None:  # 湖景花园二期 ends with a phase number
                        stop = phase.end()
                    lead = _LEAD_AT.match(norm, start, stop)
                    if lead is not None and not weak[start]:
                        start = lead.end()  # 门口垃圾堆放: hotline words are no name
                    # a misspelt name keeps most of its characters (skip runs sharing
                    # too few with any name) and is not just short names read exactly
                    if stop - start >= 3 and not all(weak[start:stop]) and sum(
                            ch in vocab for ch in norm[start:stop]) >= 2:
                        runs.append((start, stop))
            if h is not None:
                pos = h.end
        return runs

    def _fuzzy_pass(self, norm: str, hits: list[Hit], result: ParsedAddress) -> bool:
        # Only when an estate or a road is missing and some Han text is not
        # explained by a strong name.
        need_poi = "poi" not in result.places
        need_road = "road" not in result.places
        return bool((need_poi or need_road) and self._free_runs(norm, hits))

    def _fuzzy_hits(self, norm: str, hits: list[Hit]) -> list[Hit]:
        found: list[Hit] = []
        n = len(norm)
        weak_ends = {h.end for h in hits if h.weak}
        weak_starts = {h.start for h in hits if h.weak}
        weak_spans = {(h.start, h.end) for h in hits if h.weak}
        strong_starts = {h.start for h in hits if not h.weak}
        for i, j in self._free_runs(norm, hits):
            region = norm[i:j]
            for h in self.gazetteer.fuzzy_scan(region, ("poi", "road", "community"),
                                               min_len=3, confident=True):
                sub = region[h.start:h.end]
                start = i + h.start
                # a misspelt name starts a word: not 商贸大厦 inside 太平洋商贸大厦;
                # and a short name read exactly (黄贝岭) is no typo of another (黄贝路)
                if not (start == i or start in weak_ends or start in weak_starts
                        or norm.endswith(LEAD_WORDS, i, start)) or (
                        (start, i + h.end) in weak_spans):
                    continue
                k = i + h.end
                # A three-character name with a typo is only believed where a word
                # ends (a number, a separator, 附近...): 建设工地 is no road.
                ends_word = k >= n or norm[k] == SEP or norm[k].isdigit() or (
                    k in strong_starts or norm.startswith(LEAD_WORDS, k))
                # ...and keeps its kind: 翠竹苑 is an estate, not a misspelt 翠竹路.
                places = tuple(
                    p for p in h.places
                    if (len(p.name) >= 4 or sub[-1] == p.name[-1]
                        or (ends_word and p.kind == "road"))
                    and not (p.kind == "road" and sub.endswith(POI_SUFFIXES)
                             and not p.name.endswith(POI_SUFFIXES))
                    and not (p.kind == "poi" and sub.endswith(ROAD_SUFFIXES)
                             and not p.name.endswith(ROAD_SUFFIXES)))
                if places:
                    found.append(Hit(h.start + i, h.end + i, places, False, 1))
        if not found:
            return []
        # Keep the longest fuzzy names; a shorter one inside a longer is noise.
        found.sort(key=lambda h: -h.length)
        return found

    def _roles(self, raw: str, norm: str, hits: list[Hit]) -> ParsedAddress:
        comp: dict[str, str | None] = dict.fromkeys(COMPONENTS)
        places: dict[str, Place] = {}
        corrected: dict[str, str] = {}
        conflicts: list[str] = []
        cands: dict[str, tuple[Place, ...]] = {}
        cross_road: str | None = None
        toks = self._tokens(norm, hits)
        # Names the gazetteer found win over names guessed from suffixes.
        known = {h.places[0].kind for h in hits if len(h.places) == 1}
        prev = ""  # kind of the previous meaningful token (role name)
        n_tok = len(toks)
        for idx, tok in enumerate(toks):
            kind = tok.kind
            if kind == "sep":
                continue
            if kind == "place" and tok.hit is not None:
                place = self._choose(tok.hit, places)
                slot = place.kind
                if (tok.hit.weak and not tok.hit.distance and comp["poi"] is None
                        and all(p.kind == "community" for p in tok.hit.places)
                        and self._next_kind(toks, idx, n_tok) in _NOT_A_NAME):
                    # A community's bare short name followed by a building or room is the
                    # estate the community is named after (万科城5栋1单元, 梅林一村25栋):
                    # the text names the place, not the unit.
                    comp["poi"] = tok.text
                    prev = "poi"
                    continue
                if tok.hit.distance:
                    corrected[slot] = tok.text
                if len(tok.hit.places) > 1 and tok.hit.distance and slot in ("poi", "road"):
                    # several names one typo away: keep what was typed, let context choose
                    cands[slot] = tuple(p for p in tok.hit.places if p.kind == slot)
                    if comp[slot] is None:
                        comp[slot] = tok.text
                    prev = slot
                    continue
                if comp[slot] is None:
                    comp[slot] = place.name
                    places[slot] = place
                elif comp[slot] != place.name and slot in _ADMIN:
                    conflicts.append(slot)
                elif slot == "road" and comp["road"] != place.name and cross_road is None:
                    cross_road = place.name
                prev = slot
                continue
            if kind == "han":
                nxt = self._next_kind(toks, idx, n_tok)
                prev = self._han(tok.text, nxt, prev, comp, known) or prev
            elif kind == "hn":
                value = house_number_of(tok.text)
                if prev == "road" and comp["house_number"] is None:
                    comp["house_number"] = value
                    prev = "house_number"
                elif comp["building"] or comp["unit"]:
                    if comp["room"] is None:
                        comp["room"] = value.split("-")[0]
                    prev = "room"
                elif comp["house_number"] is None and comp["poi"] is None:
                    comp["house_number"] = value
                    prev = "house_number"
                elif comp["poi"] is not None and comp["building"] is None and len(value) <= 2:
                    comp["building"] = value
                    prev = "building"
                elif comp["room"] is None:
                    comp["room"] = value.split("-")[0]
                    prev = "room"
            elif kind == "bld":
                if comp["building"] is None:
                    comp["building"] = self._building(tok.text)
                prev = "building"
            elif kind == "unit":
                if comp["unit"] is None:
                    comp["unit"] = _digits(tok.text) if tok.text[0].isdigit() else tok.text[0]
                prev = "unit"
            elif kind == "floor":
                if comp["floor"] is None:
                    comp["floor"] = _digits(tok.text.lstrip("F")) if tok.text[0] == "F" else (
                        _digits(tok.text))
                prev = "floor"
            elif kind == "room":
                if comp["room"] is None:
                    comp["room"] = _digits(tok.text)
                prev = "room"
            elif kind == "phase":
                # the phase is part of the written name (百仕达花园三期 is not
                # 百仕达花园): the name read alone is no longer the place named
                if prev == "poi" and comp["poi"] and not comp["poi"].endswith("期"):
                    places.pop("poi", None)
                    comp["poi"] = comp["poi"] + _phase_cn(int(tok.text[:-1])) + "期"
            elif kind == "num":
                prev = self._number(tok.text, prev, comp) or prev
            elif kind == "lat":
                prev = self._latin(tok.text, prev, comp) or prev
        # Typo correction of a pattern-found estate or road.
        if self._has_fuzzy:
            for slot in ("poi", "road"):
                typed = comp[slot]
                if typed is None or slot in places or slot in cands:
                    continue
                key = normalize(typed).replace(SEP, "")
                exact = [p for p in self.gazetteer.lookup(key) if p.kind == slot]
                # only a slip is corrected (confident_typo); another name stays as typed
                found = exact or self.gazetteer.confident_lookup(key, (slot,))
                if len(found) == 1:
                    if not exact:
                        corrected[slot] = typed
                    comp[slot] = found[0].name
                    places[slot] = found[0]
                elif len(found) > 1:
                    cands[slot] = tuple(found)
        inferred = self._fill_parents(comp, places, conflicts)
        return ParsedAddress(raw, norm, comp, places, corrected, cands.get("poi", ()),
                             tuple(dict.fromkeys(conflicts)), inferred, cross_road, cands)

    @staticmethod
    def _next_kind(toks: list[_Tok], idx: int, n: int) -> str:
        j = idx + 1
        while j < n and toks[j].kind == "sep":
            j += 1
        if j >= n:
            return ""
        t = toks[j]
        if t.kind == "place" and t.hit is not None:
            return t.hit.places[0].kind
        return t.kind

    def _choose(self, hit: Hit, places: dict[str, Place]) -> Place:
        """Pick one place for an ambiguous alias (东门: subdistrict or community)."""
        if len(hit.places) == 1:
            return hit.places[0]
        cands = list(hit.places)
        # A short name right after its subdistrict is the community (东门街道东门);
        # before it (罗湖南湖街道) it is not: only units already read count.
        sub = places.get("subdistrict")
        for p in cands:
            if p.kind == "community" and sub is not None and p.parent == sub.name:
                return p
        dist = places.get("district")
        coms = [p for p in cands if p.kind == "community"]
        if dist is not None and sub is None and len(coms) > 1:
            # a community name that recurs in the city, after its district (宝安区凤凰社区)
            inside = [p for p in coms if (
                s := self.gazetteer.get("subdistrict", p.parent or "")) is not None
                and s.parent == dist.name]
            if len(inside) == 1:
                return inside[0]
        home = [p for p in cands if not p.foreign] or cands
        if any(p.kind == "subdistrict" for p in home) and sub is not None:
            coms = [p for p in home if p.kind == "community"]
            if coms:
                return coms[0]
        free = [p for p in home if p.kind not in places]
        pool = free or home
        return min(pool, key=lambda p: _rank(p.kind))

    @staticmethod
    def _building(token: str) -> str:
        m = re.match(r"([A-Z]\d{0,2}|\d{1,3}[A-Z]?)", token)
        value = m.group(1) if m else token
        return str(int(value)) if value.isdigit() else value

    def _han(self, run: str, nxt: str, prev: str, comp: dict[str, str | None],
             known: set[str]) -> str | None:
        """Give a run of unknown Han text a role (road, estate) or ignore it."""
        role: str | None = None
        pos = 0
        cut = 0
        for m in _LEAD_IN.finditer(run):
            if m.start() > pos and self._has_suffix(run, cut, m.start()):
                break
            cut = m.end()
        pos = cut
        n = len(run)
        while pos < n:
            found = None
            for m in _SUFFIX_RE.finditer(run, pos):
                # An admin unit the gazetteer does not know (朝阳区建国路) ends before the name.
                cut_admin = _UNKNOWN_ADMIN.search(run, pos, m.start())
                if cut_admin is not None:
                    pos = cut_admin.end()
                body = run[pos:m.start()]
                sfx = m.group(0)
                is_road = sfx in _ROAD_SUFFIX_SET
                if len(body) < 2 or len(body) > (8 if is_road else 10):
                    continue
                if any(ch in _STOP_CHARS for ch in body):
                    break
                if is_road and comp["road"] is None and "road" not in known:
                    # after the estate and building a road is hotline text (树枝挡路),
                    # unless a door number follows it (parts in another order)
                    if prev in _AFTER_ESTATE and not (m.end() == n and nxt in ("hn", "num")):
                        continue
                    found = ("road", m.end())
                    break
                if not is_road and run.endswith(_NOT_POI, pos, m.end()):
                    continue
                if not is_road and comp["poi"] is None and "poi" not in known:
                    # 大厦/花园 may be followed by a longer suffix (花园城): take the longest.
                    end = m.end()
                    while (end < n and run[end:end + 2] in _POI_SUFFIX_SET) or (
                            end < n and run[end] in _POI_SUFFIX_SET and
                            run[end - 1:end + 1] in _POI_SUFFIX_SET):
                        end += 2 if run[end:end + 2] in _POI_SUFFIX_SET else 1
                    found = ("poi", end)
                    break
            if found is None:
                break
            slot, end = found
            comp[slot] = run[pos:end]
            role = slot
            pos = end
        rest = run[pos:]
        if (rest and comp["poi"] is None and "poi" not in known
                and nxt in ("bld", "unit", "room", "phase")
                and 2 <= len(rest) <= 10 and not any(ch in _STOP_CHARS for ch in rest)
                and prev not in ("building", "unit", "floor", "room")):
            comp["poi"] = rest
            role = "poi"
        return role

    @staticmethod
    def _has_suffix(run: str, start: int, end: int) -> bool:
        """Whether ``run[start:end]`` already holds a name with a suffix."""
        return any(m.start() - start >= 2 for m in _SUFFIX_RE.finditer(run, start, end))

    @staticmethod
    def _number(text: str, prev: str, comp: dict[str, str | None]) -> str | None:
        parts = text.split("-")
        if prev == "road" and comp["house_number"] is None:
            comp["house_number"] = house_number_of(text)
            return "house_number"
        if prev in ("building", "unit", "floor"):
            if len(parts) == 2 and prev == "building" and comp["unit"] is None:
                comp["unit"], comp["room"] = str(int(parts[0])), parts[1]
                return "room"
            if comp["room"] is None:
                comp["room"] = parts[-1]
                return "room"
            return None
        if prev in ("poi", "house_number") and comp["building"] is None:
            if len(parts) == 3:
                comp["building"], comp["unit"], comp["room"] = (
                    str(int(parts[0])), str(int(parts[1])), parts[2])
                return "room"
            if len(parts) == 2:
                comp["building"], comp["room"] = str(int(parts[0])), parts[1]
                return "room"
            if len(text) >= 3:
                comp["room"] = text
                return "room"
            if prev == "poi":
                comp["building"] = str(int(text))
                return "building"
        return None

    @staticmethod
    def _latin(text: str, prev: str, comp: dict[str, str | None]) -> str | None:
        m = re.fullmatch(r"([A-Z])(\d*)", text)
        if m is None or prev in ("", "road"):
            return None
        letter, digits = m.groups()
        if comp["building"] is None and prev in ("poi", "house_number"):
            comp["building"] = letter
            if len(digits) >= 3 and comp["room"] is None:
                comp["room"] = digits
                return "room"
            if digits:
                comp["building"] = letter + digits
            return "building"
        return None

    def _fill_parents(self, comp: dict[str, str | None], places: dict[str, Place],
                      conflicts: list[str]) -> tuple[str, ...]:
        inferred: list[str] = []
        com = places.get("community")
        sub = places.get("subdistrict")
        if com is not None and com.parent:
            if sub is None:
                parent = self._community_parent(com, places.get("district"))
                if parent is not None:
                    comp["subdistrict"] = parent.name
                    places["subdistrict"] = parent
                    sub = parent
                    inferred.append("subdistrict")
            elif sub.name != com.parent:
                # the same name in the typed subdistrict (a name that recurs in the city)
                alt = self.gazetteer.get("community", com.name, parent=sub.name)
                if alt is not None:
                    places["community"] = alt
                else:
                    conflicts.append("community")
        dist = places.get("district")
        if sub is not None and not sub.foreign:
            if dist is None:
                d = self.gazetteer.get("district", sub.parent or DISTRICT)
                if d is not None:
                    comp["district"] = d.name
                    places["district"] = d
                    dist = d
                    inferred.append("district")
            elif dist.foreign or (sub.parent is not None and dist.name != sub.parent):
                conflicts.append("district")
        if dist is not None and comp["city"] is None and dist.parent == CITY:
            comp["city"] = CITY
            inferred.append("city")
        city = places.get("city")
        if comp["province"] is None and (
                (comp["city"] == CITY and (city is None or not city.foreign))
                or (city is not None and city.parent == PROVINCE)):  # 东莞市 is in 广东 too
            comp["province"] = PROVINCE
            inferred.append("province")
        return tuple(inferred)

    def _community_parent(self, com: Place, dist: Place | None) -> Place | None:
        """The subdistrict a community implies: its parent, unless the name recurs in
        the city (凤凰社区 is in four subdistricts) and the typed district does not tell
        which one is meant; then none (a guess would put the address in the wrong
        place)."""
        same = self.gazetteer.named("community", com.name) or (com,)
        subs = [s for s in (self.gazetteer.get("subdistrict", c.parent or "") for c in same)
                if s is not None]
        if len(subs) > 1 and dist is not None:
            subs = [s for s in subs if s.parent == dist.name]
        return subs[0] if len(subs) == 1 else None


def _generic_name_follows(text: str, j: int, strong_starts: set[int]) -> bool:
    """Whether ``text[j:]`` starts with generic words and a place suffix (物流园, 商务中心,
    北路, 口岸) before any known name, number or separator."""
    k = j
    n = len(text)
    while k < n and k - j < 12 and "\u4e00" <= text[k] <= "\u9fff" and (
            k == j or k not in strong_starts):
        k += 1
    m = _SUFFIX_RE.search(text, j, k)
    if m is None:
        return False
    # the name ends with the last of a chain of suffixes (新园大厦: 园 then 大厦), and its
    # distinctive part is what comes before that last one (新园, not generic)
    last, end = m.start(), m.end()
    while True:
        nxt = next((x for x in POI_SUFFIXES if text.startswith(x, end) and end + len(x) <= k),
                   None)
        if nxt is None:
            break
        last, end = end, end + len(nxt)
    body = text[j:last]
    g = _GENERIC_RE.match(body)
    return g is not None and g.end() == len(body)


def _found(p: ParsedAddress) -> int:
    """How many of road and estate the gazetteer recognised (or narrowed down)."""
    return sum(1 for k in ("road", "poi") if k in p.places or k in p.candidates)


def soft_boundaries(raw: str, norm: str) -> frozenset[int]:
    """Positions in ``norm`` where the raw text had white space between two words
    (each space-separated piece is normalised alone and found in ``norm``)."""
    pieces = raw.split()
    if len(pieces) < 2:
        return frozenset()
    out: list[int] = []
    pos = 0
    for piece in pieces:
        part = normalize(piece)
        if not part:
            continue
        idx = norm.find(part, pos)
        if idx < 0:
            return frozenset()
        pos = idx + len(part)
        out.append(pos)
    return frozenset(out[:-1])


def _rank(kind: str) -> int:
    order = ("province", "city", "district", "subdistrict", "community", "road", "poi")
    return order.index(kind) if kind in order else len(order)


@lru_cache(maxsize=1)
def default_parser() -> AddressParser:
    """A parser over the real admin units of Luohu and the real roads, estates and
    landmarks of the address package's gazetteer (:data:`address.gazetteer.GAZETTEER_CSV`)."""
    return AddressParser(Gazetteer.luohu())


def parse(text: str) -> ParsedAddress:
    """Parse ``text`` with the default gazetteer (real admin units, roads and places).

    :class:`address.service.AddressService.parse` knows the estates of the
    store as well and corrects typos in their names.
    """
    return default_parser().parse(text)

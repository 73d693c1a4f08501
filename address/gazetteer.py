"""The gazetteer: every name the parser knows, with its aliases and parents.

Places are the admin units (province, city, district, subdistrict, community),
the roads and the POIs (estates, building complexes, villages, landmarks): the
real ones of the NBS tables and of the hand-compiled ``data/luohu_gazetteer.csv``
(found exactly), and the store registry's (found with a typo too). Each place has one
canonical name (the full official form, e.g. 东门街道, 湖贝社区) and aliases;
an alias is *weak* when it is a bare short name that could also begin some
other word (``东门`` in 东门中路, ``湖贝`` in 湖贝大厦): the parser only accepts
a weak alias where the context allows it.

Lookup is a longest-match scan over the normalised text with a first-character
length index, and a symmetric-deletion index for one-character typos (the idea
of SymSpell, written out here because the libraries that implement it split
on word boundaries, which Han text does not have).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from address.normalize import digit_variant, normalize_name

#: Folder of the real admin division tables.
REAL_DIR = Path(__file__).resolve().parent.parent / "data" / "real" / "admin_divisions"
#: The hand-compiled gazetteer of Luohu's real roads, estates, buildings and landmarks.
GAZETTEER_CSV = Path(__file__).resolve().parent / "data" / "luohu_gazetteer.csv"
#: The hand-compiled gazetteer of the other districts' real places (``district`` column).
CITY_GAZETTEER_CSV = Path(__file__).resolve().parent / "data" / "shenzhen_gazetteer.csv"
#: Types of :data:`GAZETTEER_CSV` rows that are places people live or work at (``poi``).
POI_TYPES = ("estate", "building", "landmark", "village")

#: Kinds of places, from the largest to the smallest.
ADMIN_KINDS = ("province", "city", "district", "subdistrict", "community")
PLACE_KINDS = (*ADMIN_KINDS, "road", "poi")
_RANK = {k: i for i, k in enumerate(PLACE_KINDS)}

PROVINCE = "广东省"
CITY = "深圳市"
DISTRICT = "罗湖区"
DISTRICT_CODE = "440303"
CITY_CODE = "440300"
PROVINCE_CODE = "440000"

#: The other districts of Shenzhen: recognised so that an address in them is
#: not mistaken for a Luohu one (codes from the 2020 census table, 大鹏新区 is
#: a functional area without a census code).
OTHER_DISTRICTS = (
    ("福田区", "440304"), ("南山区", "440305"), ("宝安区", "440306"), ("龙岗区", "440307"),
    ("盐田区", "440308"), ("龙华区", "440309"), ("坪山区", "440310"), ("光明区", "440311"),
    ("大鹏新区", "440312"),
)
#: Every district of Shenzhen by code (罗湖区 and :data:`OTHER_DISTRICTS`).
DISTRICTS: dict[str, str] = {DISTRICT_CODE: DISTRICT, **{c: n for n, c in OTHER_DISTRICTS}}


def district_of(code: str | None) -> tuple[str, str] | None:
    """(code, name) of the Shenzhen district of an NBS subdistrict or community code (its
    first six digits), or None for a code of no district of the city."""
    if not code or len(code) < 6:
        return None
    name = DISTRICTS.get(code[:6])
    return None if name is None else (code[:6], name)


#: Other cities people name in Luohu hotline calls (to recognise foreign addresses).
OTHER_CITIES = ("广州市", "东莞市", "惠州市", "珠海市", "佛山市", "香港", "北京市", "上海市")
#: Those of :data:`OTHER_CITIES` in Guangdong (they imply the province as 深圳市 does).
GUANGDONG_CITIES = frozenset(OTHER_CITIES[:5])


@dataclass(frozen=True)
class Place:
    """One named place.

    ``parent`` is the canonical name of the enclosing admin unit (a community's
    subdistrict, a subdistrict's district...); ``foreign`` marks admin units
    outside Luohu; ``uid`` is the place's index in its gazetteer.
    """

    kind: str
    name: str
    code: str | None = None
    parent: str | None = None
    foreign: bool = False
    uid: int = -1


class Hit(NamedTuple):
    """A gazetteer name found in a normalised text at ``[start, end)``."""

    start: int
    end: int
    places: tuple[Place, ...]
    weak: bool
    distance: int = 0

    @property
    def length(self) -> int:
        """Number of characters covered."""
        return self.end - self.start


@dataclass
class _Alias:
    places: list[Place] = field(default_factory=list)
    weak: bool = True
    places_t: tuple[Place, ...] = ()


@lru_cache(maxsize=8192)
def readings(ch: str) -> frozenset[str]:
    """Toneless pinyin readings of a Han character (empty for anything else).

    Typing Chinese is typing pinyin: most one-character slips are homophones
    (湖贝大厦 typed 湖倍大厦), which is how a typo is told from another name.
    """
    if not ("\u4e00" <= ch <= "\u9fff"):
        return frozenset()
    from pypinyin import Style, pinyin

    return frozenset(pinyin(ch, style=Style.NORMAL, heteronym=True, errors="ignore")[0])


@lru_cache(maxsize=8192)
def common_reading(ch: str) -> str:
    """The most common toneless pinyin reading of a Han character ("" for anything else)."""
    if not ("\u4e00" <= ch <= "\u9fff"):
        return ""
    from pypinyin import Style, lazy_pinyin

    return lazy_pinyin(ch, style=Style.NORMAL, errors="ignore")[0] if ch else ""


def sounds_alike(typed: str, name: str) -> bool:
    """True when ``typed`` is ``name`` with one character replaced by a homophone."""
    if len(typed) != len(name):
        return False
    diff = [i for i in range(len(name)) if typed[i] != name[i]]
    return len(diff) == 1 and bool(readings(typed[diff[0]]) & readings(name[diff[0]]))


def prefer_homophones(typed: str, places: list[Place], forms: dict[int, list[str]]
                      ) -> list[Place]:
    """The places among ``places`` whose name ``typed`` misspells by a homophone; all of
    them when none does."""
    if len(places) < 2:
        return places
    alike = [p for p in places if any(sounds_alike(typed, f) for f in forms.get(p.uid, ()))]
    return alike or places


#: Suffixes of estate / building-complex names, longest first.
POI_SUFFIXES: tuple[str, ...] = tuple(sorted((
    "花园", "小区", "新村", "家园", "名苑", "大厦", "中心", "广场", "工业区", "工业园", "大楼",
    "公寓", "山庄", "商场", "市场", "酒店", "宾馆", "医院", "学校", "小学", "中学",
    "幼儿园", "公园", "大院", "宿舍", "花城", "雅苑", "豪庭", "华庭", "名都", "商城", "商厦",
    "写字楼", "综合楼", "科技园", "产业园", "苑", "园", "城", "阁", "府", "庭", "居", "轩",
    "邸", "村", "湾", "坊", "院", "墅", "汇", "馆",
    # landmarks: 罗湖口岸, 深圳水库, 东门老街, 东门步行街, 深圳火车站, 弘法寺
    "口岸", "水库", "老街", "步行街", "火车站", "寺",
), key=len, reverse=True))
#: Suffixes of road names.
ROAD_SUFFIXES = ("大道", "路", "街", "巷")

#: Characters that tell sibling names apart (泥岗东路/泥岗西路, 田贝一路/田贝四路): a name
#: that has one of these where another has another is a different place, never a typo.
DISTINCTIVE_CHARS = frozenset("东西南北中上下前后内外新老旧大小一二三四五六七八九十")


def confident_typo(typed: str, name: str) -> bool:
    """True when ``typed`` is believed to be ``name`` mistyped (and not another place).

    Two kinds of slip are believed: one character replaced by a homophone (the usual
    slip of a pinyin input method: 湖倍大厦 for 湖贝大厦; both characters' common
    readings agree, a rare reading of one is no evidence: 盛悦 is not a slip of 城悦),
    and one character typed twice (湖贝贝大厦). Any other one-character difference
    between two plausible names is no evidence (怡景花园 is not a misspelt 泰景花园,
    新园大厦 not 新德大厦), nor is one direction or ordinal character for another
    (泥岗西路 is not 泥岗东路; 深南冬路 is a slip of 深南东路).
    """
    if typed == name:
        return False
    if len(typed) == len(name):
        diff = [i for i in range(len(name)) if typed[i] != name[i]]
        if len(diff) != 1:
            return False
        i = diff[0]
        if typed[i] in DISTINCTIVE_CHARS and name[i] in DISTINCTIVE_CHARS:
            return False
        suffix = next((x for x in (*POI_SUFFIXES, *ROAD_SUFFIXES) if name.endswith(x)), "")
        if i >= len(name) - len(suffix):
            # a slip in the generic suffix (湖贝大夏: 夏/厦 share the reading xia) leaves
            # the name's distinctive part whole; another suffix (湖贝大楼) is another place
            typed_suffix = typed[len(name) - len(suffix):]
            if typed_suffix in (*POI_SUFFIXES, *ROAD_SUFFIXES):
                return False
            return bool(readings(typed[i]) & readings(name[i]))
        a, b = common_reading(typed[i]), common_reading(name[i])
        return bool(a) and a == b
    if len(typed) == len(name) + 1:
        return any(typed[i] == typed[i + 1] and typed[:i] + typed[i + 1:] == name
                   for i in range(len(typed) - 1))
    return False


def within_one_edit(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` differ by at most one substitution, insertion,
    deletion or swap of two adjacent characters."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    i = 0
    n = min(la, lb)
    while i < n and a[i] == b[i]:
        i += 1
    if la == lb:
        if a[i + 1:] == b[i + 1:]:
            return True
        return i + 1 < la and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2:] == b[i + 2:]
    if la > lb:
        return a[i + 1:] == b[i:]
    return a[i:] == b[i + 1:]


class Gazetteer:
    """Names of places with their aliases, searchable in normalised text."""

    def __init__(self) -> None:
        self.places: list[Place] = []
        self._aliases: dict[str, _Alias] = {}
        self._lengths: dict[str, tuple[int, ...]] = {}
        # (kind, name) -> places: one in a district, several for a community name that
        # recurs in the city (凤凰社区 is in four subdistricts), told apart by parent.
        self._by_name: dict[tuple[str, str], list[Place]] = {}
        self._fuzzy: dict[str, set[int]] = {}
        self._fuzzy_norm: dict[int, list[str]] = {}
        self._fuzzy_chars: frozenset[str] | None = None
        self._fuzzy_lengths: frozenset[int] | None = None
        self._dirty = True
        #: (kind, name) of the places of the real gazetteer (:data:`GAZETTEER_CSV`)
        self.real: set[tuple[str, str]] = set()

    # -- building -----------------------------------------------------------

    def add(self, kind: str, name: str, *, code: str | None = None, parent: str | None = None,
            aliases: Iterable[str] = (), weak_aliases: Iterable[str] = (),
            foreign: bool = False, fuzzy: bool = False) -> Place:
        """Add a place (or return the existing one of that kind, name and parent).

        The canonical ``name`` and ``aliases`` are strong; ``weak_aliases`` are
        accepted by the parser only in a fitting context. Names with Chinese
        numerals also get their ASCII-digit variant. With ``fuzzy`` the place can
        be found with a one-character typo.
        """
        if kind not in _RANK:
            raise ValueError(f"unknown place kind {kind!r}")
        same = self._by_name.setdefault((kind, name), [])
        place = next((p for p in same if p.parent == parent or parent is None
                      or p.parent is None), None)
        if place is None:
            place = Place(kind, name, code, parent, foreign, len(self.places))
            self.places.append(place)
            same.append(place)
        for alias, weak in [(name, False), *((a, False) for a in aliases),
                            *((a, True) for a in weak_aliases)]:
            forms = {normalize_name(alias)}
            dv = digit_variant(alias)
            if dv is not None:
                forms.add(normalize_name(dv))
            for form in forms:
                if len(form) < 2:
                    continue
                entry = self._aliases.setdefault(form, _Alias())
                if place not in entry.places:
                    entry.places.append(place)
                    entry.places_t = tuple(entry.places)
                entry.weak = entry.weak and weak
                if fuzzy and not weak and len(form) >= 3:
                    self._add_fuzzy(form, place.uid)
        self._dirty = True
        return place

    def warm(self) -> None:
        """Build the lookup indexes and the pinyin readings of every name character now
        (at start-up) rather than on the first requests."""
        if self._dirty:
            self._index()
        for ch in self.fuzzy_chars:
            readings(ch)
            common_reading(ch)

    @property
    def fuzzy_forms(self) -> dict[int, list[str]]:
        """Normalised names of each typo-searchable place, by place uid."""
        return self._fuzzy_norm

    @property
    def fuzzy_chars(self) -> frozenset[str]:
        """Every character of the names that can be found with a typo."""
        if self._fuzzy_chars is None:
            self._fuzzy_chars = frozenset(ch for forms in self._fuzzy_norm.values()
                                          for f in forms for ch in f)
        return self._fuzzy_chars

    def _add_fuzzy(self, form: str, uid: int) -> None:
        self._fuzzy_chars = None
        self._fuzzy_lengths = None
        self._fuzzy_norm.setdefault(uid, [])
        if form not in self._fuzzy_norm[uid]:
            self._fuzzy_norm[uid].append(form)
        self._fuzzy.setdefault(form, set()).add(uid)
        for i in range(len(form)):
            self._fuzzy.setdefault(form[:i] + form[i + 1:], set()).add(uid)

    def _index(self) -> None:
        # Candidate lengths by the first two characters: most positions of a text
        # start no name at all and cost one dictionary lookup.
        lengths: dict[str, set[int]] = {}
        for alias in self._aliases:
            lengths.setdefault(alias[:2], set()).add(len(alias))
        self._lengths = {c: tuple(sorted(v, reverse=True)) for c, v in lengths.items()}
        self._dirty = False

    # -- lookup -------------------------------------------------------------

    def get(self, kind: str, name: str, parent: str | None = None) -> Place | None:
        """The place of ``kind`` called ``name`` (canonical name), if known; with
        ``parent``, the one in that parent (names that recur in the city)."""
        same = self._by_name.get((kind, name), ())
        if parent is not None:
            return next((p for p in same if p.parent == parent), None)
        return same[0] if same else None

    def named(self, kind: str, name: str) -> tuple[Place, ...]:
        """Every place of ``kind`` called ``name`` (several for a recurring community
        name in a city gazetteer)."""
        return tuple(self._by_name.get((kind, name), ()))

    def lookup(self, alias: str) -> tuple[Place, ...]:
        """Places with this (normalised) alias."""
        entry = self._aliases.get(alias)
        return tuple(entry.places) if entry is not None else ()

    def of_kind(self, kind: str) -> list[Place]:
        """Every place of one kind, in insertion order."""
        return [p for p in self.places if p.kind == kind]

    def scan(self, text: str) -> list[Hit]:
        """Every alias occurring in ``text`` (normalised), possibly overlapping."""
        if self._dirty:
            self._index()
        hits: list[Hit] = []
        aliases = self._aliases
        lengths = self._lengths
        n = len(text)
        for i in range(n - 1):
            lens = lengths.get(text[i:i + 2])
            if lens is None:
                continue
            for length in lens:
                if i + length > n:
                    continue
                entry = aliases.get(text[i:i + length])
                if entry is not None:
                    hits.append(Hit(i, i + length, entry.places_t, entry.weak))
        return hits

    def fuzzy_lookup(self, query: str, kinds: tuple[str, ...] = ("poi", "road"),
                     homophones: bool = True) -> list[Place]:
        """Places of ``kinds`` whose name is within one edit of ``query`` (not equal).

        With ``homophones``, when several names are one edit away and some of them
        differ from ``query`` by a homophone only, just those are returned.
        """
        if len(query) < 3 or not self._fuzzy:
            return []
        found: set[int] = set()
        got = self._fuzzy.get(query)
        if got:
            found |= got
        for i in range(len(query)):
            got = self._fuzzy.get(query[:i] + query[i + 1:])
            if got:
                found |= got
        out = []
        for uid in sorted(found):
            place = self.places[uid]
            if place.kind not in kinds:
                continue
            forms = self._fuzzy_norm.get(uid, ())
            if any(f != query and within_one_edit(query, f) for f in forms) and not any(
                    f == query for f in forms):
                out.append(place)
        return prefer_homophones(query, out, self._fuzzy_norm) if homophones else out

    def confident_lookup(self, query: str, kinds: tuple[str, ...] = ("poi", "road")
                         ) -> list[Place]:
        """Places of ``kinds`` that ``query`` is a :func:`confident_typo` of; none when
        ``query`` is itself a name of the real gazetteer (a different, real place)."""
        if any((k, p.name) in self.real for p in self.lookup(query) for k in kinds):
            return []
        return [p for p in self.fuzzy_lookup(query, kinds, homophones=False)
                if any(confident_typo(query, f) for f in self._fuzzy_norm.get(p.uid, ()))]

    def is_real(self, kind: str, name: str) -> bool:
        """Whether ``name`` is a place of ``kind`` in the real gazetteer."""
        return (kind, name) in self.real

    def fuzzy_scan(self, text: str, kinds: tuple[str, ...] = ("poi", "road"),
                   min_len: int = 4, confident: bool = False) -> list[Hit]:
        """Substrings of ``text`` within one edit of a fuzzy-indexed name of ``kinds``.

        Only names of at least ``min_len`` characters are looked for, so that a
        typo is told apart from a different short name. With ``confident`` only
        :func:`confident_typo` slips are found.
        """
        if not self._fuzzy or len(text) < min_len - 1:
            return []
        vocab = self.fuzzy_chars
        if self._fuzzy_lengths is None:
            self._fuzzy_lengths = frozenset(len(f) + d for forms in self._fuzzy_norm.values()
                                            for f in forms for d in (-1, 0, 1))
        lengths = self._fuzzy_lengths
        # A substring one edit away from a name has at most one character that no
        # name uses: mark them once, skip substrings holding two.
        foreign = [ch not in vocab for ch in text]
        hits: list[Hit] = []
        n = len(text)
        for i in range(n):
            if foreign[i] and i + 1 < n and foreign[i + 1]:
                continue
            bad = 0
            for length in range(1, min(n - i, 12) + 1):
                bad += foreign[i + length - 1]
                if bad > 1:
                    break
                if length < min_len - 1 or length not in lengths:
                    continue
                sub = text[i:i + length]
                pool = (self.confident_lookup(sub, kinds) if confident
                        else self.fuzzy_lookup(sub, kinds))
                places = [p for p in pool if len(p.name) >= min_len]
                if places:
                    hits.append(Hit(i, i + length, tuple(places), False, 1))
        return hits

    def __len__(self) -> int:
        return len(self.places)

    # -- construction -------------------------------------------------------

    @classmethod
    def luohu(cls, roads: Iterable[str] = (), pois: Iterable[str] = (),
              subdistricts: Iterable[AdminName] | None = None,
              communities: Iterable[AdminName] | None = None,
              real: bool = True, district: str = DISTRICT_CODE) -> Gazetteer:
        """The admin units of Luohu (default: the real NBS 2023 tables), with ``real``
        the real roads and places of :data:`GAZETTEER_CSV` (found exactly, never by a
        typo), plus ``roads`` and ``pois`` (canonical names, typo-searchable: the
        registry's).

        ``district`` (an NBS district code) makes it the gazetteer of another district of
        the city: that district is home, the others foreign, and its real names are those
        of :data:`CITY_GAZETTEER_CSV` (Luohu's file is Luohu's).
        """
        gaz = cls()
        add_admin(gaz, subdistricts, communities, district=district)
        if real:
            names = (luohu_names() if district == DISTRICT_CODE
                     else city_names(DISTRICTS.get(district, "")))
            for entry in names:
                kind = "road" if entry.type == "road" else "poi"
                gaz.add(kind, entry.name)
                gaz.real.add((kind, entry.name))
        for road in roads:
            if road:
                gaz.add("road", road, fuzzy=True)
        for poi in pois:
            if poi:
                gaz.add("poi", poi, fuzzy=True)
        return gaz

    @classmethod
    def city(cls, subdistricts: Iterable[AdminName], communities: Iterable[AdminName]
             ) -> Gazetteer:
        """Admin names only, every district of Shenzhen at home: the gazetteer that
        tells which district a text is in (:mod:`address.city`). Subdistricts are
        given with their district as ``parent``, communities with their subdistrict."""
        gaz = cls()
        add_admin(gaz, subdistricts, communities, district=None)
        return gaz


@dataclass(frozen=True)
class GazetteerName:
    """One row of :data:`GAZETTEER_CSV`: a real name, its type (road, estate, building,
    landmark, village) and its subdistrict where known."""

    name: str
    type: str
    subdistrict: str | None = None


def _gazetteer_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a hand-compiled gazetteer file (comment lines skipped, types checked)."""
    with open(path, encoding="utf-8") as fh:
        rows = list(csv.DictReader(line for line in fh if not line.startswith("#")))
    for row in rows:
        if row["type"] not in ("road", *POI_TYPES):
            raise ValueError(f"{path.name}: unknown type {row['type']!r}")
    return rows


@lru_cache(maxsize=1)
def luohu_names() -> tuple[GazetteerName, ...]:
    """The rows of the real gazetteer, in file order (the generator relies on the order)."""
    return tuple(GazetteerName(r["name"], r["type"], r["subdistrict"] or None)
                 for r in _gazetteer_rows(GAZETTEER_CSV))


@lru_cache(maxsize=16)
def city_names(district: str) -> tuple[GazetteerName, ...]:
    """The rows of :data:`CITY_GAZETTEER_CSV` of one district (by name, 福田区), in file
    order; none when the file is absent."""
    if not CITY_GAZETTEER_CSV.exists():
        return ()
    return tuple(GazetteerName(r["name"], r["type"], r["subdistrict"] or None)
                 for r in _gazetteer_rows(CITY_GAZETTEER_CSV) if r["district"] == district)


def luohu_road_names() -> tuple[str, ...]:
    """Names of the real roads of the gazetteer, in file order."""
    return tuple(n.name for n in luohu_names() if n.type == "road")


@lru_cache(maxsize=1)
def _admin_rows() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    with open(REAL_DIR / "luohu_subdistricts_nbs2023.csv", encoding="utf-8") as fh:
        subs = list(csv.DictReader(fh))
    with open(REAL_DIR / "luohu_communities_nbs2023.csv", encoding="utf-8") as fh:
        coms = list(csv.DictReader(fh))
    return subs, coms


@dataclass(frozen=True)
class AdminName:
    """Names of one subdistrict or community: the canonical full name (东门街道,
    湖贝社区), its official long form (湖贝社区居民委员会) and its parent's name."""

    code: str
    name: str
    long_name: str | None = None
    parent: str | None = None


def real_admin_names() -> tuple[list[AdminName], list[AdminName]]:
    """The subdistricts and communities of the real NBS 2023 tables."""
    subs, coms = _admin_rows()
    return (
        [AdminName(r["subdistrict_code"], r["subdistrict_name"]) for r in subs],
        [AdminName(r["community_code"], r["community_short_name"], r["community_name"],
                   r["subdistrict_name"]) for r in coms],
    )


def community_name(short_name: str) -> str:
    """The canonical name of a community (某某社区) from its NBS short name.

    盐田's NBS rows are 居委会 with a bare short name (大梅沙居委会 / 大梅沙): it is
    大梅沙社区 like every other; a 居委会 inside a 社区 (杨美社区嘉丽园) keeps its name.
    """
    base = short_name.removesuffix("居民委员会").removesuffix("居委会").removesuffix("居委")
    return base if "社区" in base else f"{base}社区"


def add_admin(gaz: Gazetteer, subdistricts: Iterable[AdminName] | None = None,
              communities: Iterable[AdminName] | None = None,
              district: str | None = DISTRICT_CODE) -> None:
    """Add the province, the city, the districts of Shenzhen and the subdistricts and
    communities given (default: the real ones of Luohu).

    ``district`` is the home district (the others are foreign: an address in them is
    not one of this gazetteer's); None makes every district home (:meth:`Gazetteer.city`).
    A subdistrict's parent is its ``parent`` when given, else the district of its code.
    """
    gaz.add("province", PROVINCE, code=PROVINCE_CODE, aliases=["广东"])
    gaz.add("city", CITY, code=CITY_CODE, parent=PROVINCE, aliases=["深圳"])
    for code, name in DISTRICTS.items():
        short = name[:-2] if name.endswith("新区") else name[:-1]
        gaz.add("district", name, code=code, parent=CITY, weak_aliases=[short],
                foreign=district is not None and code != district)
    for name in OTHER_CITIES:
        gaz.add("city", name, foreign=True,
                parent=PROVINCE if name in GUANGDONG_CITIES else None,
                weak_aliases=[name[:-1]] if name.endswith("市") else [])
    if subdistricts is None or communities is None:
        real_subs, real_coms = real_admin_names()
        subdistricts = real_subs if subdistricts is None else subdistricts
        communities = real_coms if communities is None else communities
    home = DISTRICTS.get(district or "", DISTRICT)
    for sub in subdistricts:
        short = sub.name.removesuffix("街道办事处").removesuffix("街道")
        found = district_of(sub.code)
        parent = sub.parent or (found[1] if found else home)
        gaz.add("subdistrict", sub.name, code=sub.code, parent=parent,
                aliases=[f"{short}街道办事处", f"{short}街道办", f"{short}办事处"],
                weak_aliases=[short] if short != sub.name else [], fuzzy=True)
    for com in communities:
        # Every community is named 某某社区; the bare name is a weak alias.
        name = community_name(com.name)
        short = name.removesuffix("社区")
        aliases = [f"{name}居委会", f"{name}工作站", f"{name}党群服务中心"]
        if short != name:
            aliases.append(f"{short}居委会")
        if com.long_name:
            aliases.append(com.long_name)
        gaz.add("community", name, code=com.code, parent=com.parent, aliases=aliases,
                weak_aliases=[short] if short != name else [], fuzzy=True)

"""The geocoder: parsed components → ranked standard addresses of the registry.

Candidates are gathered by exact keys (door plate road + number, estate,
estate + building no, then unit + room inside the building) and by the
coarser entries the text names (road, community, subdistrict, district).
Each candidate is scored against every component the text states:

    score = (Σ weights of matching components − ½ Σ weights of contradicting ones)
            / Σ weights of the components given

A component the candidate does not state (the text names a room, the
candidate is the building) counts as not matching; a component corrected
from a typo counts 0.9. So an exact address scores 1, a wrong community with
the right road and number still finds the building with a lower score, and
among equal scores the candidate that adds the least the text did not say
comes first (a door plate before the building behind it).

Fuzzy matching to the registry happens here, not in the parser (which says
what the text says): an estate name one edit away from the one written is a
candidate, and the candidate says so — ``matched_name`` is the registry name it
was matched to, its score is lower (0.85-0.9 of the estate's weight), and where
no exact door plate of the text supports it, its ``level`` is ``poi``, not the
building or room the approximate name led to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

import shapely

from address.gazetteer import (
    DISTINCTIVE_CHARS,
    Gazetteer,
    prefer_homophones,
    sounds_alike,
    within_one_edit,
)
from address.normalize import normalize_name
from address.parser import AddressParser, ParsedAddress
from address.registry import AddressRegistry, Entry

#: Weight of each component in the score.
WEIGHTS: dict[str, float] = {
    "district": 0.5, "subdistrict": 1.0, "community": 1.0, "road": 2.0,
    "house_number": 2.0, "poi": 2.0, "building": 1.5, "unit": 1.0, "room": 1.5,
}
#: Below this score a candidate is not returned (a guess, not a match).
MIN_SCORE = 0.3
#: Levels from the finest to the coarsest.
LEVEL_ORDER = ("room", "house", "building", "house_number", "poi", "road", "community",
               "subdistrict", "district")
_LEVEL_RANK = {lvl: i for i, lvl in enumerate(LEVEL_ORDER)}
#: A room written as a shop (101号商铺, 101商铺, 101号铺): the registry writes shops so.
_SHOP = re.compile(r"\d{1,5}(?:号商铺|号铺|商铺|铺)")
_ENTRY_FIELDS = ("road", "house_number", "poi", "building", "unit", "room")


@dataclass(frozen=True)
class Candidate:
    """One geocoding result."""

    address_id: str
    address: str
    level: str
    lon: float
    lat: float
    score: float
    subdistrict_code: str | None = None
    community_code: str | None = None
    block: int | None = None
    #: The registry's name of the estate or road matched when it is not the one the
    #: text wrote (a typo corrected, or a fuzzy match); None for an exact match.
    matched_name: str | None = None

    def as_feature(self, **extra: Any) -> dict[str, Any]:
        """A GeoJSON Feature (WGS84 point) with ``address_id, address, score, level,
        matched_name``."""
        props: dict[str, Any] = {"address_id": self.address_id, "address": self.address,
                                 "score": self.score, "level": self.level,
                                 "matched_name": self.matched_name}
        props.update(extra)
        return {"type": "Feature", "id": self.address_id,
                "geometry": {"type": "Point", "coordinates": [round(self.lon, 7),
                                                              round(self.lat, 7)]},
                "properties": props}


class Geocoder:
    """Geocoding over one registry, with the parser of its gazetteer."""

    def __init__(self, registry: AddressRegistry, parser: AddressParser) -> None:
        self.registry = registry
        self.parser = parser
        self.gazetteer: Gazetteer = parser.gazetteer

    # -- standardisation ----------------------------------------------------

    def standardize(self, text: str) -> ParsedAddress:
        """Parse ``text`` and correct estate/road typos from the registry's context:
        the estate at the named door plate wins over a name one typo away."""
        p = self.parser.parse(text)
        c = p.components
        road, hn, poi = c["road"], c["house_number"], c["poi"]
        reg = self.registry
        changed: dict[str, str | None] = {}
        corrected = dict(p.corrected)
        gaz = self.gazetteer
        if road and hn and poi and not gaz.is_real("poi", p.corrected.get("poi", poi)):
            idx = self._plate(road, hn)
            estates = {reg.buildings[i].poi for i in idx} - {None}
            if estates and poi not in estates:
                typed = p.corrected.get("poi", poi)
                key = normalize_name(typed)
                cands = {e for e in estates if e and (
                    within_one_edit(key, normalize_name(e))
                    or within_one_edit(normalize_name(poi), normalize_name(e)))}
                if len(cands) == 1:
                    changed["poi"] = cands.pop()
                    corrected["poi"] = typed
        if road and hn and road not in reg.roads and not gaz.is_real("road", road):
            # A typo in the road name: the road one edit away that has this door plate
            # (never a sibling: 泥岗西路 is not 泥岗东路).
            key = normalize_name(p.corrected.get("road", road))
            pool = [pl for pl in self.gazetteer.fuzzy_lookup(key, ("road",), homophones=False)
                    if not siblings(key, normalize_name(pl.name))]
            with_plate = [pl for pl in pool if self._plate(pl.name, hn)]
            near = [pl.name for pl in prefer_homophones(key, with_plate,
                                                        self.gazetteer.fuzzy_forms)]
            if len(near) == 1:
                changed["road"] = near[0]
                corrected["road"] = road
        if poi and road and road not in reg.roads and "road" not in changed and (
                poi in reg.by_estate) and not gaz.is_real("road", road):
            roads = {reg.buildings[i].road for i in reg.by_estate[poi]} - {None}
            key = normalize_name(road)
            near = [r for r in roads if r and within_one_edit(key, normalize_name(r))
                    and not siblings(key, normalize_name(r))]
            if len(near) == 1:
                changed["road"] = near[0]
                corrected["road"] = road
        if not changed:
            return p
        comps = dict(c)
        comps.update(changed)
        places = dict(p.places)
        for slot, name in changed.items():
            place = self.gazetteer.get(slot, name or "")
            if place is not None:
                places[slot] = place
        return replace(p, components=comps, places=places, corrected=corrected,
                       poi_candidates=() if "poi" in changed else p.poi_candidates,
                       candidates={k: v for k, v in p.candidates.items() if k not in changed})

    def _plate(self, road: str, hn: str) -> list[int]:
        reg = self.registry
        idx = reg.by_plate.get((road, hn))
        if idx is None and "-" in hn:
            idx = reg.by_plate.get((road, hn.split("-")[0]))
        return idx or []

    # -- geocoding ----------------------------------------------------------

    def geocode(self, text: str, limit: int = 5) -> list[Candidate]:
        """Ranked candidates for ``text`` (best first, at most ``limit``)."""
        return self.geocode_parsed(self.standardize(text), limit)

    def geocode_parsed(self, p: ParsedAddress, limit: int = 5) -> list[Candidate]:
        """Ranked candidates for an already parsed address."""
        c = p.components
        given = {k: w for k, w in WEIGHTS.items()
                 if c.get(k) is not None and k not in p.inferred}
        foreign = any(pl.foreign for pl in p.places.values())
        if not given and not foreign:
            return []
        if foreign:
            given["district"] = WEIGHTS["district"] + 1.0
        reg = self.registry
        road, hn = c["road"], c["house_number"]
        building, unit, room = c["building"], c["unit"], c["room"]
        poi_credit = self._poi_credit(p)
        # An estate name the gazetteer does not know (nor anything one typo away)
        # may be a guess of the parser: it counts less and does not contradict.
        if "poi" in given and not poi_credit:
            given["poi"] = 1.0
        total = sum(given.values())

        pool: dict[str, tuple[Entry, str, bool]] = {}

        def add(e: Entry, level: str | None = None, implied: bool = False) -> None:
            if e.address_id not in pool:
                pool[e.address_id] = (e, level or e.level, implied)

        # A door plate or an estate with a single building names that building: it
        # comes first, as the finest address the text determines.
        implied: set[int] = set()
        bidx: set[int] = set()
        if road and hn:
            plate_idx = self._plate(road, hn)
            bidx.update(plate_idx)
            if len(plate_idx) == 1:
                implied.update(plate_idx)
            key = (road, hn) if (road, hn) in reg.plates else (road, hn.split("-")[0])
            plate = reg.plates.get(key)
            if plate is not None and plate.level == "house_number":
                add(plate)
        for est in poi_credit:
            if reg.pois[est].level == "poi":
                add(reg.pois[est])
            members = reg.by_estate[est]
            if building and (est, building) in reg.by_estate_bno:
                bidx.update(reg.by_estate_bno[(est, building)])
            elif len(members) == 1 and not building:
                implied.update(members)
                bidx.update(members)
            elif len(members) <= 64 and (building or unit or room or hn):
                bidx.update(members)
        # The level says what the text determined: a building reached through its
        # door plate alone is a house_number match, through its estate alone a poi.
        b_level = "building" if building or (poi_credit and road and hn) else (
            "house_number" if road and hn else ("poi" if poi_credit else "building"))
        for b in sorted(bidx):
            entry = reg.buildings[b]
            add(entry, b_level if b in implied else "building", implied=b in implied)
            if room:
                rows = reg.houses_in(b, unit, room)
                exact_unit = True
                if not rows and unit is not None:
                    rows = reg.houses_in(b, None, room)
                    exact_unit = False
                ambiguous = len(rows) > 1 and unit is None
                if ambiguous and _SHOP.search(p.text):
                    # 101号商铺 names the shop 101, not flat 101 of some unit of it
                    shops = [r for r in rows if reg.h_suffixes[int(reg.h_suffix[r])]
                             .endswith("号商铺")]
                    if len(shops) == 1:
                        rows, ambiguous = shops, False
                for r in rows[:16]:
                    add(reg.house(r), "room" if exact_unit and not ambiguous else "house",
                        b in implied)
        if road and road in reg.roads:
            add(reg.roads[road])
        com = p.places.get("community")
        sub = p.places.get("subdistrict")
        if com is not None and com.code and com.code in reg.communities:
            add(reg.communities[com.code])
        if sub is not None and sub.code and sub.code in reg.subdistricts:
            add(reg.subdistricts[sub.code])
        dist = p.places.get("district")
        if dist is not None and not dist.foreign:
            add(reg.district)

        scored: list[tuple[float, int, int, int, str, Candidate]] = []
        for entry, level, is_implied in pool.values():
            s = self._score(entry, p, given, total, poi_credit)
            if s < MIN_SCORE:
                continue
            extra = 0 if is_implied else sum(
                1 for f in _ENTRY_FIELDS if getattr(entry, f) is not None and f not in given)
            if level == "house" and entry.level == "room":
                extra += 1
            matched, level = self._matched(entry, p, level, poi_credit)
            cand = Candidate(entry.address_id, entry.address, level, entry.lon, entry.lat,
                             round(s, 4), entry.subdistrict_code, entry.community_code,
                             entry.block, matched)
            scored.append((-s, extra, _LEVEL_RANK[level], 0 if entry.current else 1,
                           entry.address_id, cand))
        if p.cross_road and road and road in reg.roads:
            cross = self._crossing(road, p.cross_road)
            road_id = reg.roads[road].address_id
            if cross is not None:
                scored = [(*t[:5], replace(t[5], lon=cross[0], lat=cross[1]))
                          if t[5].address_id == road_id else t for t in scored]
        scored.sort(key=lambda t: t[:5])
        return [t[5] for t in scored[:max(1, limit)]]

    @staticmethod
    def _matched(e: Entry, p: ParsedAddress, level: str, poi_credit: dict[str, float]
                 ) -> tuple[str | None, str]:
        """The registry name ``e`` was matched to where the text wrote another one, and
        the level: a building or room found through an estate name the text does not
        write is a ``poi``-level match unless the text's door plate is the entry's."""
        c = p.components
        if e.poi is not None and c["poi"] and e.poi in poi_credit:
            if e.poi != c["poi"]:
                plate = (e.road == c["road"] and "road" not in p.corrected
                         and c["house_number"] is not None
                         and e.house_number == c["house_number"].split("-")[0])
                finer = _LEVEL_RANK[level] < _LEVEL_RANK["poi"]
                return e.poi, level if plate or not finer else "poi"
            if "poi" in p.corrected:
                return e.poi, level
        if e.road is not None and "road" in p.corrected and e.road == c["road"]:
            return e.road, level
        return None, level

    def _poi_credit(self, p: ParsedAddress) -> dict[str, float]:
        """Estates the text may mean, with the share of the estate weight each earns:
        the estate named (1, or 0.9 when corrected from a typo) and every estate one
        typo away from what was typed (0.9 for a homophone slip, else 0.85), so that
        the admin units and building numbers of the text choose among them."""
        poi = p.components["poi"]
        if not poi:
            return {}
        reg = self.registry
        out: dict[str, float] = {}
        building = p.components["building"]
        if poi in reg.by_estate:
            out[poi] = 0.9 if "poi" in p.corrected else 1.0
            # an existing estate that has the building named is taken as typed;
            # one that lacks it may be a typo of a neighbour that has it
            if "poi" not in p.corrected and (not building
                                             or (poi, building) in reg.by_estate_bno):
                return out
        typed = normalize_name(p.corrected.get("poi", poi))
        forms = self.gazetteer.fuzzy_forms
        for pl in self.gazetteer.fuzzy_lookup(typed, ("poi",), homophones=False):
            if pl.name in reg.by_estate and pl.name not in out:
                alike = any(sounds_alike(typed, f) for f in forms.get(pl.uid, ()))
                out[pl.name] = 0.9 if alike else 0.85
        return out

    def _score(self, e: Entry, p: ParsedAddress, given: dict[str, float],
               total: float, poi_credit: dict[str, float]) -> float:
        c = p.components
        num = 0.0
        pen = 0.0
        for comp, w in given.items():
            if comp == "district":
                dist = p.places.get("district")
                city = p.places.get("city")
                if (dist is not None and dist.foreign) or (city is not None and city.foreign):
                    pen += 0.5 * w
                else:
                    num += w
                continue
            if comp in ("subdistrict", "community"):
                place = p.places.get(comp)
                if place is None or place.code is None:
                    continue
                inside = e.in_area(place.code)
                if inside is None:
                    continue
                if inside:
                    num += w
                else:
                    pen += 0.5 * w
                continue
            have = getattr(e, comp)
            if have is None:
                continue
            if comp == "poi" and poi_credit:
                if have in poi_credit:
                    num += w * poi_credit[have]
                else:
                    pen += 0.5 * w
                continue
            want = c[comp]
            if have == want:
                num += w * (0.9 if comp in p.corrected else 1.0)
            elif comp == "house_number" and want and have == want.split("-")[0]:
                num += 0.8 * w
            elif comp != "poi":
                pen += 0.5 * w
        return max(0.0, min(1.0, (num - pen) / total)) if total else 0.0

    def _crossing(self, road: str, other: str) -> tuple[float, float] | None:
        g1 = self.registry.road_geoms.get(road)
        g2 = self.registry.road_geoms.get(other)
        if g1 is None or g2 is None:
            return None
        inter = shapely.intersection(g1, g2)
        if inter.is_empty:
            return None
        pt = shapely.point_on_surface(inter)
        return float(pt.x), float(pt.y)


def siblings(a: str, b: str) -> bool:
    """Whether two names of equal length differ only in one direction or ordinal
    character for another (泥岗东路/泥岗西路, 田贝一路/田贝四路): two places, never a typo
    of each other."""
    if len(a) != len(b):
        return False
    diff = [i for i in range(len(a)) if a[i] != b[i]]
    return len(diff) == 1 and a[diff[0]] in DISTINCTIVE_CHARS and b[diff[0]] in DISTINCTIVE_CHARS

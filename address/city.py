"""Addresses of a city store: one registry per district and a router between them.

A district's registry and gazetteer (:class:`address.service.AddressService`) hold one
home district: standard addresses start with its name (广东省深圳市福田区…), its
subdistricts and communities are the ones the parser fills in, and the other
districts are foreign. A store that holds several districts (the city demo,
``onemap demo build --area shenzhen``) gets one such service per district, built
from one read of the store, and :class:`CityAddressService` in front of them:

- a text is routed by what it names: a district, a subdistrict, or a community
  (through the *city* gazetteer of admin names, :meth:`Gazetteer.city`, where a
  community name that recurs in the city — 凤凰社区 is in four subdistricts — routes
  to every district that has it), else a road or estate one district's registry
  or gazetteer knows; with no clue it goes to every district;
- geocoding asks the districts routed to and merges their candidates by score (the
  same road name in two districts gives candidates in both: an honest ambiguity);
- reverse geocoding asks every district for its nearest addresses (a point by a
  district boundary has neighbours on both sides) and takes the containing units
  from the district that contains the point.

Keeping districts apart rather than one city-wide registry keeps every rule of the
district parser (home units, foreign units, typo correction against a district's
names) as it is, and road and estate names, which recur between districts, never
collide inside one index.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import geopandas as gpd
import pandas as pd

from address.errors import check_text
from address.gazetteer import AdminName, Gazetteer, community_name, district_of
from address.geocoder import Candidate
from address.normalize import normalize_name
from address.parser import AddressParser, ParsedAddress
from address.registry import HouseParts, build_registry
from address.reverse import ReverseResult
from address.service import (
    AddressAnswers,
    AddressService,
)
from gis.store.base import Store


def store_districts(store: Store) -> list[str]:
    """NBS codes of the districts whose subdistricts a store holds (sorted)."""
    subs = store.query("subdistrict", columns=["code"])
    return sorted({d[0] for c in subs["code"] if (d := district_of(str(c))) is not None})


def _codes(frame: pd.DataFrame, *columns: str) -> pd.Series:
    """The district code (first six digits) of each row, from the first of ``columns``
    that has a code (None where none has)."""
    out = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    for col in columns:
        if col not in frame:
            continue
        vals = frame[col].where(frame[col].notna() & out.isna())
        got = vals.dropna().astype(str).str[:6]
        out.loc[got.index] = got
    return out


class CityAddressService(AddressAnswers):
    """Address answers over several districts (see the module docstring)."""

    def __init__(self, districts: dict[str, AddressService], router: Gazetteer,
                 build_seconds: float = 0.0) -> None:
        if not districts:
            raise ValueError("a city address service needs at least one district")
        self.districts = dict(sorted(districts.items()))
        self.router_gazetteer = router
        self.router = AddressParser(router)
        self.build_seconds = build_seconds
        router.warm()

    # -- construction -------------------------------------------------------

    @classmethod
    def from_frames(cls, subdistrict: pd.DataFrame, community: pd.DataFrame,
                    grid: pd.DataFrame, road: pd.DataFrame, building: pd.DataFrame,
                    house: pd.DataFrame | Iterable[pd.DataFrame],
                    t0: float | None = None) -> CityAddressService:
        """Build from frames shaped like the store's (as
        :meth:`AddressService.from_frames`), split by district: subdistricts and
        communities by their codes, grids, roads and buildings by their subdistrict
        (else community) code, houses by their building. A road with no code is given
        to every district (it is only a name there)."""
        t0 = time.perf_counter() if t0 is None else t0
        sub_d = _codes(subdistrict, "code")
        com_d = _codes(community, "code")
        grid_d = _codes(grid, "subdistrict_code", "community_code")
        road_d = _codes(road, "subdistrict_code", "community_code")
        bld_d = _codes(building, "subdistrict_code", "community_code")
        codes = sorted(c for c in sub_d.dropna().unique() if district_of(c) is not None)
        parts: dict[str, HouseParts] = {}
        for code in codes:
            reg = build_registry(subdistrict[sub_d == code], community[com_d == code],
                                 grid[grid_d == code], road[(road_d == code) | road_d.isna()],
                                 building[bld_d == code], ())
            parts[code] = HouseParts(reg)
        # Houses carry no admin code: their building's district, by building id.
        by_building = pd.Series(bld_d.to_numpy(), index=building["id"].astype(str).to_numpy())
        pages = [house] if isinstance(house, pd.DataFrame) else house
        for page in pages:
            if not len(page):
                continue
            dist = page["building_id"].astype(str).map(by_building)
            for code, rows in page.groupby(dist.to_numpy(), sort=False):
                hp = parts.get(str(code))
                if hp is not None:
                    hp.add(rows)
        services: dict[str, AddressService] = {}
        for code, hp in parts.items():
            hp.finish()
            services[code] = AddressService.from_registry(hp.reg, community[com_d == code], t0)
        return cls(services, _router(subdistrict, community), time.perf_counter() - t0)

    # -- routing ------------------------------------------------------------

    def route(self, text: str) -> list[str]:
        """Codes of the districts ``text`` may be in (see the module docstring)."""
        p = self.router.parse(text)
        known = self.districts
        places = p.places
        sub = places.get("subdistrict")
        if sub is not None and sub.code:
            d = district_of(sub.code)
            if d is not None and d[0] in known:
                return [d[0]]
        dist = places.get("district")
        if dist is not None and not dist.foreign and dist.code in known:
            return [dist.code]
        com = places.get("community")
        if com is not None:
            same = self.router_gazetteer.named("community", com.name)
            found = sorted({d[0] for c in same if (d := district_of(c.code)) is not None
                            and d[0] in known})
            if found:
                return found
        if dist is not None or any(pl.foreign for pl in places.values()):
            # a district this store lacks, or another city: any district answers it as
            # foreign (penalised candidates), so one is asked rather than all
            return [next(iter(known))]
        named = self._naming(p)
        return named or list(known)

    def _naming(self, p: ParsedAddress) -> list[str]:
        """Districts whose registry or gazetteer knows the road or estate ``p`` names."""
        road, poi = p.components["road"], p.components["poi"]
        poi_form = normalize_name(poi) if poi else ""
        found: list[str] = []
        for code, svc in self.districts.items():
            reg, gaz = svc.registry, svc.gazetteer
            if (road and (road in reg.roads or gaz.is_real("road", road))) or (
                    poi and (poi in reg.by_estate
                             or any(pl.kind == "poi" for pl in gaz.lookup(poi_form)))):
                found.append(code)
        return found

    # -- answers ------------------------------------------------------------

    def parse(self, text: str) -> ParsedAddress:
        """Components of ``text``: the district's parse where the text is in one
        district, else the city parse (admin names only, nothing "corrected")."""
        text = check_text(text)
        codes = self.route(text)
        if len(codes) == 1:
            return self.districts[codes[0]].parse(text)
        return self.router.parse(text)

    def _geocode_tuple(self, text: str, limit: int) -> tuple[Candidate, ...]:
        """Candidates of the districts ``text`` is routed to, merged by score."""
        found: list[Candidate] = []
        for code in self.route(text):
            found.extend(self.districts[code].geocode(text, limit))
        # stable: equal scores keep district order (sorted codes), then each one's rank
        found.sort(key=lambda c: -c.score)
        return tuple(found[:limit])

    def reverse(self, lon: float, lat: float, radius: float = 100.0, limit: int = 5,
                coordsys: str = "wgs84") -> ReverseResult:
        """Nearest standard addresses in any district within ``radius`` metres, and the
        units containing the point (from the district that contains it)."""
        results = [svc.reverse(lon, lat, radius, limit, coordsys)
                   for svc in self.districts.values()]
        near = sorted((r for res in results for r in res.results), key=lambda r: r[1])
        first = results[0]
        ctx = next((r.context for r in results if r.context.get("district")), first.context)
        return ReverseResult(first.lon, first.lat, near[: int(limit)], ctx)

    def context(self, lon: float, lat: float) -> dict[str, Any]:
        """The district, subdistrict, community, grid and H3 block containing the point."""
        ctxs = [svc.context(lon, lat) for svc in self.districts.values()]
        return next((c for c in ctxs if c.get("district")), ctxs[0])

    def registry_frame(self, levels: Sequence[str] | None = None) -> gpd.GeoDataFrame:
        """Every district's registry as one frame of points (district order)."""
        frames = [svc.registry_frame(levels) for svc in self.districts.values()]
        return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry",
                                crs=frames[0].crs)

    def stats(self) -> dict[str, Any]:
        """Entry counts per level (summed and per district), gazetteer sizes, build time."""
        per = {code: svc.registry.counts() for code, svc in self.districts.items()}
        total: dict[str, int] = {}
        for counts in per.values():
            for k, v in counts.items():
                total[k] = total.get(k, 0) + int(v)
        return {"entries": total, "districts": per,
                "gazetteer_names": sum(len(s.gazetteer) for s in self.districts.values()),
                "build_seconds": round(self.build_seconds, 3)}


def _router(subdistrict: pd.DataFrame, community: pd.DataFrame) -> Gazetteer:
    """The city gazetteer of admin names: every subdistrict with its district, every
    community with its subdistrict (recurring community names kept apart)."""
    subs: list[AdminName] = []
    sub_names: dict[str, str] = {}
    for code, name in zip(subdistrict["code"].astype(str), subdistrict["name"], strict=True):
        d = district_of(code)
        if d is None:
            continue
        subs.append(AdminName(code, str(name), parent=d[1]))
        sub_names[code] = str(name)
    coms: list[AdminName] = []
    shorts = (community["short_name"] if "short_name" in community
              else pd.Series([None] * len(community), index=community.index))
    for code, name, short, sc in zip(community["code"].astype(str), community["name"],
                                     shorts, community.get("subdistrict_code",
                                                           shorts), strict=True):
        canon = community_name(str(short) if isinstance(short, str) and short else str(name))
        parent = sub_names.get(str(sc) if isinstance(sc, str) else code[:9])
        long_name = str(name) if isinstance(name, str) and name != canon else None
        coms.append(AdminName(code, canon, long_name, parent))
    return Gazetteer.city(subs, coms)


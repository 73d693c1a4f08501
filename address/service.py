"""The unified address service (统一地址服务): one object, built once from a store.

``AddressService.from_store(store)`` reads the subdistricts, communities,
grids, roads, buildings and houses once, builds the gazetteer (admin names,
road names, estate names), the standard address registry and the geocoding
and reverse-geocoding indexes, and then answers without touching the store:

- :meth:`parse` — components of a text;
- :meth:`geocode` — ranked standard addresses for a text;
- :meth:`reverse` — nearest standard addresses and the containing units;
- :meth:`geocode_many` — a batch, in input order;
- :meth:`registry_frame` — the registry as a GeoDataFrame (public layer ``addresses``).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from typing import Any, Self

import geopandas as gpd
import pandas as pd

from address.errors import AddressError, AddressInputError, check_text
from address.gazetteer import AdminName, Gazetteer
from address.geocoder import Candidate, Geocoder
from address.parser import AddressParser, ParsedAddress
from address.registry import AddressRegistry, build_registry, house_suffix
from address.reverse import ReverseGeocoder, ReverseResult
from gis.store.base import Store

_COLUMNS = {
    "subdistrict": ["code", "name", "short_name"],
    "community": ["code", "name", "short_name", "subdistrict_code"],
    "grid": ["code", "name", "subdistrict_code", "community_code"],
    "road": ["name", "subdistrict_code", "community_code"],
    "building": ["address_id", "estate", "building_no", "road", "house_number", "address",
                 "subdistrict_code", "community_code", "block", "valid_to"],
    "house": ["address_id", "building_id", "unit", "floor", "room", "use", "block",
              "valid_to"],
}
#: Rows per page when reading houses.
_PAGE = 100_000
#: Houses read to check that house addresses follow :func:`address.registry.house_suffix`.
_HOUSE_SAMPLE = 2000

#: Largest limit of one geocoding request.
MAX_LIMIT = 50


class AddressAnswers(ABC):
    """What every address service answers (one district's :class:`AddressService`, a
    city's :class:`address.city.CityAddressService`): the batch forms over
    :meth:`geocode`."""

    _cache: Callable[[str, int], tuple[Candidate, ...]] | None = None

    @classmethod
    def from_store(cls, store: Store) -> Self:
        """Read the address-bearing kinds once (:func:`read_frames`) and build every
        index (:meth:`from_frames`)."""
        t0 = time.perf_counter()
        service = cls.from_frames(**read_frames(store), t0=t0)
        release_memory()  # the frames are gone: hand their heap back
        return service

    @classmethod
    @abstractmethod
    def from_frames(cls, subdistrict: pd.DataFrame, community: pd.DataFrame,
                    grid: pd.DataFrame, road: pd.DataFrame, building: pd.DataFrame,
                    house: pd.DataFrame | Iterable[pd.DataFrame],
                    t0: float | None = None) -> Self:
        """Build from frames shaped like the store's (schema columns + ``geometry``);
        ``house`` may be an iterable of pages."""

    @abstractmethod
    def parse(self, text: str) -> ParsedAddress:
        """Components of ``text``."""

    def geocode(self, text: str, limit: int = 5) -> list[Candidate]:
        """Ranked standard addresses for ``text`` (empty list when nothing plausible),
        remembered per (text, limit) for the service's life (the registry does not
        change under it)."""
        text = check_text(text)
        limit = check_limit(limit)
        if self._cache is None:
            self._cache = lru_cache(maxsize=65536)(self._geocode_tuple)
        return list(self._cache(text, limit))

    def clear_cache(self) -> None:
        """Forget the remembered answers (for measuring uncached speed)."""
        self._cache = None

    @abstractmethod
    def _geocode_tuple(self, text: str, limit: int) -> tuple[Candidate, ...]:
        """The answer of :meth:`geocode` for checked input."""

    @abstractmethod
    def reverse(self, lon: float, lat: float, radius: float = 100.0, limit: int = 5,
                coordsys: str = "wgs84") -> ReverseResult:
        """Nearest standard addresses and the containing units."""

    @abstractmethod
    def context(self, lon: float, lat: float) -> dict[str, Any]:
        """The district, subdistrict, community, grid and H3 block containing a point."""

    @abstractmethod
    def registry_frame(self, levels: Sequence[str] | None = None) -> gpd.GeoDataFrame:
        """The standard address registry as points."""

    @abstractmethod
    def stats(self) -> dict[str, Any]:
        """Entry counts per level and build time."""

    def best(self, text: str) -> Candidate | None:
        """The top candidate, or None (also for invalid text)."""
        try:
            found = self.geocode(text, 1)
        except AddressError:  # unusable text in a batch is "unresolved", not an error
            return None
        return found[0] if found else None

    def geocode_many(self, texts: Iterable[Any]) -> list[Candidate | None]:
        """The best candidate of each text, in input order (None when unresolved or
        when an item is not usable text)."""
        return [self.best(t) if isinstance(t, str) else None for t in texts]


def address_service(store: Store, districts: Sequence[str] | None = None) -> AddressAnswers:
    """The address service of a store: one district's, or a city's when the store holds
    several districts (one registry per district and a router, :mod:`address.city`).
    ``districts``: the store's district codes when the caller has read them already."""
    from address.city import CityAddressService, store_districts

    if len(store_districts(store) if districts is None else districts) > 1:
        return CityAddressService.from_store(store)
    return AddressService.from_store(store)


class AddressService(AddressAnswers):
    """Parser, geocoder and reverse geocoder over one registry (see the module docstring)."""

    def __init__(self, registry: AddressRegistry, gazetteer: Gazetteer,
                 build_seconds: float = 0.0) -> None:
        self.registry = registry
        self.gazetteer = gazetteer
        self.parser = AddressParser(gazetteer)
        self.geocoder = Geocoder(registry, self.parser)
        self.reverse_geocoder = ReverseGeocoder(registry)
        self.build_seconds = build_seconds
        gazetteer.warm()

    # -- construction -------------------------------------------------------

    @classmethod
    def from_frames(cls, subdistrict: pd.DataFrame, community: pd.DataFrame,
                    grid: pd.DataFrame, road: pd.DataFrame, building: pd.DataFrame,
                    house: pd.DataFrame | Iterable[pd.DataFrame],
                    t0: float | None = None) -> AddressService:
        """Build from frames shaped like the store's (schema columns + ``geometry``);
        ``house`` may be an iterable of pages."""
        t0 = time.perf_counter() if t0 is None else t0
        registry = build_registry(subdistrict, community, grid, road, building, house)
        return cls.from_registry(registry, community, t0)

    @classmethod
    def from_registry(cls, registry: AddressRegistry, community: pd.DataFrame,
                      t0: float | None = None) -> AddressService:
        """The service of a built registry: its district's gazetteer (admin names, the
        registry's roads and estates) around it. ``community`` gives the communities'
        official long names."""
        t0 = time.perf_counter() if t0 is None else t0
        subs = [AdminName(u.code, u.name) for u in registry.admin["subdistrict"]]
        sub_names = {u.code: u.name for u in registry.admin["subdistrict"]}
        long_names = {}
        if len(community) and "name" in community:
            long_names = dict(zip(community["code"].astype(str), community["name"],
                                  strict=True))
        coms = [AdminName(u.code, u.name, _long(long_names.get(u.code), u.name),
                          sub_names.get(u.subdistrict_code or "")) for u in
                registry.admin["community"]]
        gazetteer = Gazetteer.luohu(
            roads=sorted(registry.roads), pois=sorted(registry.by_estate),
            subdistricts=subs or None, communities=coms or None,
            district=registry.district.address_id[1:])
        return cls(registry, gazetteer, time.perf_counter() - t0)

    # -- answers ------------------------------------------------------------

    def parse(self, text: str) -> ParsedAddress:
        """Components of ``text`` with estate/road typos corrected from the registry.

        Raises :class:`address.errors.AddressInputError` for empty or over-long text.
        """
        return self.geocoder.standardize(check_text(text))

    def _geocode_tuple(self, text: str, limit: int) -> tuple[Candidate, ...]:
        return tuple(self.geocoder.geocode(text, limit))

    def reverse(self, lon: float, lat: float, radius: float = 100.0, limit: int = 5,
                coordsys: str = "wgs84") -> ReverseResult:
        """Nearest standard addresses within ``radius`` metres, and the containing
        subdistrict, community, grid and H3 block. ``coordsys``: wgs84, gcj02 or bd09."""
        return self.reverse_geocoder.reverse(lon, lat, radius, limit, coordsys)

    def context(self, lon: float, lat: float) -> dict[str, Any]:
        """The district, subdistrict, community, grid and H3 block containing the point
        (WGS84)."""
        return self.reverse_geocoder.context(lon, lat)

    def registry_frame(self, levels: Sequence[str] | None = None) -> gpd.GeoDataFrame:
        """The standard address registry as points (public layer ``addresses``):
        ``address_id``, ``address``, ``level``, admin codes, ``block``, ``current``."""
        return self.registry.to_frame(levels)

    def stats(self) -> dict[str, Any]:
        """Entry counts per level, gazetteer size and build time."""
        return {"entries": self.registry.counts(), "gazetteer_names": len(self.gazetteer),
                "build_seconds": round(self.build_seconds, 3)}


def read_frames(store: Store) -> dict[str, Any]:
    """The address-bearing kinds of a store, as :meth:`AddressService.from_frames` takes
    them (houses as an iterator of pages)."""
    frames: dict[str, Any] = {kind: store.query(kind, columns=cols)
                              for kind, cols in _COLUMNS.items() if kind != "house"}
    # Reading half a million house addresses costs more than the rest of the
    # build; they are composed from unit, room and use instead, after checking
    # on a sample that the store writes them that way.
    cols = _COLUMNS["house"]
    if not _house_addresses_composed(store, frames["building"]):
        cols = [*cols, "address"]
    frames["house"] = _pages(store, "house", cols)
    return frames


def release_memory() -> None:
    """Hand the heap freed by the build's transient frames back to the system.

    Reading half a million rows leaves freed but fragmented heap behind; glibc's
    ``malloc_trim`` (and Arrow's pool) return it, so a server's resident size stays
    near what the indexes really use. A no-op where neither is available.
    """
    gc.collect()
    try:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    except (ImportError, AttributeError):
        pass
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _pages(store: Store, kind: str, columns: list[str]) -> Iterator[pd.DataFrame]:
    """The rows of ``kind`` in pages of :data:`_PAGE` (storage order, keyset paging)."""
    yield from store.scan(kind, columns=columns, page=_PAGE)


def _house_addresses_composed(store: Store, buildings: pd.DataFrame) -> bool:
    """Whether a sample of stored house addresses equals building address + suffix."""
    sample = store.query("house", columns=["building_id", "unit", "room", "use", "address"],
                         limit=_HOUSE_SAMPLE)
    if sample.empty:
        return True
    b_addr = dict(zip(buildings["id"], buildings["address"], strict=True))
    for bid, unit, room, use, addr in zip(sample["building_id"], sample["unit"], sample["room"],
                                          sample["use"], sample["address"], strict=True):
        base = b_addr.get(bid)
        if not isinstance(addr, str) or not isinstance(base, str):
            return False
        u = unit if isinstance(unit, str) and unit else None
        if addr != base + house_suffix(u, str(room), use if isinstance(use, str) else None):
            return False
    return True


def _long(long_name: Any, name: str) -> str | None:
    return long_name if isinstance(long_name, str) and long_name != name else None


def check_limit(limit: Any) -> int:
    """``limit`` as an int in 1..:data:`MAX_LIMIT` (:class:`AddressInputError` otherwise)."""
    try:
        value = int(limit)
    except (TypeError, ValueError):
        raise AddressInputError("limit must be an integer") from None
    if not 1 <= value <= MAX_LIMIT:
        raise AddressInputError(f"limit must be 1-{MAX_LIMIT}")
    return value

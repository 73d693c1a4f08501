"""The tile service: engine + cache + store, built once when the app starts.

``TileService.tile`` is what the HTTP layer calls: it parses nothing, checks the
tile and the layers (roles apply), serves from the cache or renders, and keeps
the cache right by listening to the store's writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict

from gis.store.base import Store
from layers.access import Principal
from layers.catalog import Layer
from tiles.cache import CachedTile, CacheKey, TileCache, etag_of, gzip_bytes
from tiles.engine import Tile, TileEngine, check_tile, tile_bounds_lnglat, tilejson


class TileSettings(BaseSettings):
    """Tile settings (prefix ``ONEMAP_TILES_``)."""

    model_config = SettingsConfigDict(env_prefix="ONEMAP_TILES_", extra="ignore")

    cache_mb: int = 128
    #: On-disk cache directory (empty: memory only).
    cache_dir: str = ""
    #: Directory of the PMTiles packs (empty: ``<data dir>/packs``).
    packs_dir: str = ""
    #: Cache-Control max-age of tiles, seconds.
    max_age: int = 300
    #: On PostGIS, encode plain entity layers in the database (``ST_AsMVT``); false:
    #: every layer through the Python encoder (docs/postgis.md, "Vector tiles").
    store_mvt: bool = True


def view_of(principal: Principal) -> str:
    """The part of a principal that changes tile content (role, grants, k)."""
    grants = ",".join(sorted(principal.grants))
    return f"{principal.role}.k{principal.k}" + (f".{_short_hash(grants)}" if grants else "")


def _short_hash(text: str) -> str:
    import hashlib

    return hashlib.sha1(text.encode()).hexdigest()[:8]


@dataclass
class TileService:
    """Engine, cache and store of one app."""

    store: Store
    engine: TileEngine
    cache: TileCache
    base_url: str
    data_dir: Path
    packs_dir: Path
    settings: TileSettings
    bounds: tuple[float, float, float, float] | None = None

    @classmethod
    def start(cls, store: Store, catalog: Mapping[str, Layer], base_url: str, data_dir: Path,
              settings: TileSettings | None = None) -> TileService:
        """Build the service and subscribe the cache to the store's writes."""
        settings = settings or TileSettings()
        cache = TileCache(settings.cache_mb * 1024 * 1024,
                          Path(settings.cache_dir) if settings.cache_dir else None)
        packs = Path(settings.packs_dir) if settings.packs_dir else data_dir / "packs"
        engine = TileEngine(catalog, store_tiles=settings.store_mvt)
        svc = cls(store, engine, cache, base_url.rstrip("/"), data_dir, packs, settings)
        svc.bounds = district_bounds(store)
        listeners = getattr(store, "write_listeners", None)
        if listeners is not None:
            listeners.append(svc.on_write)
        return svc

    def stop(self) -> None:
        """Unsubscribe from the store."""
        listeners = getattr(self.store, "write_listeners", None)
        if listeners is not None and self.on_write in listeners:
            listeners.remove(self.on_write)

    def on_write(self, kind: str, bounds: tuple[float, float, float, float] | None) -> None:
        """A write to the store: forget aggregates and tiles of ``kind`` in ``bounds``."""
        self.engine.invalidate(kind)
        self.cache.invalidate(kind, bounds)

    def tile(self, names: str, tile: Tile, principal: Principal,
             as_of: str | None = None) -> CachedTile:
        """A tile of one or several layers, from the cache or freshly rendered."""
        check_tile(tile)
        ids = self.engine.resolve(names, principal)  # 404 for unknown or hidden layers
        key = CacheKey(names, tile, view_of(principal), as_of)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        result = self.engine.render(names, self.store, tile, principal, as_of)
        entry = CachedTile(gzip_bytes(result.data), etag_of(result.data), len(result.data),
                           result.features, frozenset(self.engine.kinds_of(ids)),
                           tile_bounds_lnglat(tile), result.personal_rows)
        if result.personal_rows == 0:  # person-level rows are never cached
            self.cache.put(key, entry)
        return entry

    def tilejson(self, names: str, principal: Principal) -> dict[str, Any]:
        """TileJSON of one or several layers."""
        return tilejson(self.engine, names, principal, self.base_url, self.bounds)


def district_bounds(store: Store) -> tuple[float, float, float, float] | None:
    """WGS84 bounds of the district outline (None when the store has none)."""
    try:
        df = store.query("district", columns=["id"])
    except Exception:  # an empty or partial store still serves tiles
        return None
    if not len(df):
        return None
    b = [float(v) for v in df.total_bounds]
    return (b[0], b[1], b[2], b[3])

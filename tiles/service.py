"""The tile service: engine + cache + store, built once when the app starts.

``TileService.tile`` is what the HTTP layer calls: it parses nothing, checks the
tile and the layers (roles apply), serves from the cache or renders, and keeps
the cache right by listening to the store's writes.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict

from gis.errors import EntityNotFound
from gis.store.base import Store
from layers.access import Principal
from layers.catalog import Layer
from tiles.cache import (
    RENDER_GZIP_LEVEL,
    CachedTile,
    CacheKey,
    TileCache,
    etag_of,
    gzip_bytes,
)
from tiles.engine import (
    BASEMAP,
    Tile,
    TileEngine,
    check_tile,
    tile_bounds_lnglat,
    tilejson,
    tiles_covering,
)
from tiles.packs import PACK_SUFFIX, pack_store_id


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
    #: Layers whose public tiles are rendered into the cache at start-up (comma-separated;
    #: empty: none), over the district, from zoom 10 to ``prewarm_maxzoom``. The basemap
    #: comes from the district pack instead when one was cut from this store.
    prewarm_layers: str = "buildings,roads"
    prewarm_maxzoom: int = 14
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
             as_of: str | None = None, *, warm: bool = False) -> CachedTile:
        """A tile of one or several layers, from the cache or freshly rendered
        (``warm``: for the prewarm, not counted as a client's cache lookup)."""
        check_tile(tile)
        ids = self.engine.resolve(names, principal)  # 404 for unknown or hidden layers
        key = CacheKey(names, tile, view_of(principal), as_of)
        hit = self.cache.get(key, count=not warm)
        if hit is not None:
            return hit
        result = self.engine.render(names, self.store, tile, principal, as_of)
        entry = CachedTile(gzip_bytes(result.data, RENDER_GZIP_LEVEL), etag_of(result.data),
                           len(result.data), result.features, frozenset(self.engine.kinds_of(ids)),
                           tile_bounds_lnglat(tile), result.personal_rows)
        if result.personal_rows == 0:  # person-level rows are never cached
            self.cache.put(key, entry)
        return entry

    def prewarm(self, public: Principal, store_id: str | None,
                stop: threading.Event | None = None) -> dict[str, int]:
        """Fill the cache before traffic comes: the district pack's basemap tiles (no
        rendering) and the public tiles of ``settings.prewarm_layers`` at low zooms.

        Returns the number of tiles put per source. A put that a write made stale
        meanwhile is skipped by the cache itself (generations).
        """
        done = {"pack": 0, "rendered": 0}
        # Only when the pack was cut from this very store, for the view it was cut
        # for (public with the default k): its tiles are then the bytes a render gives.
        pack = self.packs_dir / f"district{PACK_SUFFIX}"
        if (store_id is not None and view_of(public) == view_of(Principal())
                and pack.exists() and pack_store_id(pack) == store_id):
            done["pack"] = self._load_pack(pack, public, stop)
        if self.bounds is None:
            return done
        for name in [n for n in self.settings.prewarm_layers.split(",") if n]:
            try:
                ids = self.engine.resolve(name, public)
            except EntityNotFound:  # not a public layer: nothing to warm
                continue
            minzoom = max(10, min(self.engine.catalog[i].minzoom for i in ids
                                  if i in self.engine.catalog))
            for z in range(minzoom, self.settings.prewarm_maxzoom + 1):
                for t in tiles_covering(self.bounds, z):
                    if stop is not None and stop.is_set():
                        return done
                    self.tile(name, t, public, warm=True)
                    done["rendered"] += 1
        return done

    def _load_pack(self, path: Path, public: Principal,
                   stop: threading.Event | None) -> int:
        from pmtiles.reader import MmapSource, all_tiles

        kinds = frozenset(self.engine.kinds_of(self.engine.resolve(BASEMAP, public)))
        view = view_of(public)
        budget = self.cache.max_bytes // 2  # leave room for what is asked
        n = used = 0
        with path.open("rb") as f:
            for (z, x, y), gz in sorted(all_tiles(MmapSource(f)), key=lambda it: it[0][0]):
                if (stop is not None and stop.is_set()) or used + len(gz) > budget:
                    break
                raw = gzip.decompress(gz)
                t = Tile(x, y, z)
                self.cache.preload(CacheKey(BASEMAP, t, view), CachedTile(
                    gz, etag_of(raw), len(raw), -1, kinds, tile_bounds_lnglat(t)))
                n += 1
                used += len(gz)
        return n

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

"""The start-up prewarm of the tile cache: the district pack's tiles (when the pack was
cut from this store) are the bytes a render gives and are served without rendering;
a pack cut from another store is ignored; low zooms of the prewarm layers are rendered;
client hit/miss counters are untouched; a write still invalidates prewarmed tiles."""

from __future__ import annotations

import gzip
from pathlib import Path

from pmtiles.reader import MmapSource, all_tiles

from gis.store.gpkg import GeoPackageStore
from layers.access import Principal
from layers.catalog import default_catalog
from tests.conftest import copy_demo
from tiles.cache import CacheKey
from tiles.engine import BASEMAP, Tile
from tiles.packs import build_pack, store_identity
from tiles.service import TileService, TileSettings, view_of


def test_prewarm_from_the_pack_and_low_zooms(demo_dir: Path, tmp_path: Path) -> None:
    data = copy_demo(demo_dir, tmp_path / "data")
    store = GeoPackageStore(data / "onemap.gpkg")
    try:
        catalog = default_catalog()
        pack = data / "packs" / "district.pmtiles"
        build_pack(store, catalog, pack, area="district", minzoom=12, maxzoom=14)
        with pack.open("rb") as f:
            packed = {Tile(x, y, z): gz for (z, x, y), gz in all_tiles(MmapSource(f))}
        assert packed
        settings = TileSettings(prewarm_layers="roads", prewarm_maxzoom=11)
        svc = TileService.start(store, catalog, "http://h", data, settings)
        public = Principal()
        done = svc.prewarm(public, store_identity(store))
        assert done["pack"] == len(packed) and done["rendered"] > 0
        assert (svc.cache.hits, svc.cache.misses) == (0, 0)
        for t, gz in list(packed.items())[:10]:
            fresh = svc.engine.render(BASEMAP, store, t, public)
            entry = svc.tile(BASEMAP, t, public)
            assert entry.gz == gz and gzip.decompress(entry.gz) == fresh.data
        assert svc.cache.hits == 10 and svc.cache.misses == 0
        # the rendered low zooms are there too
        key = next(k for k in svc.cache._mem if k.layers == "roads")
        assert key.tile.z <= 11
        # a write drops prewarmed tiles it touches
        t = next(iter(packed))
        svc.on_write("road", None)
        assert svc.cache.get(CacheKey(BASEMAP, t, view_of(public))) is None
        # a pack cut from another store is not used
        svc2 = TileService.start(store, catalog, "http://h", data,
                                 TileSettings(prewarm_layers=""))
        assert svc2.prewarm(public, "another-store|0") == {"pack": 0, "rendered": 0}
        assert len(svc2.cache) == 0
        svc.stop()
        svc2.stop()
    finally:
        store.close()

"""Tile cache: an in-memory LRU of gzipped tiles with an optional on-disk copy.

Entries remember the entity kinds their layers read and the tile's bounds, so a
write to the store (``GeoPackageStore.write_listeners``) drops exactly the
tiles whose area it touches. Aggregate hexagons reach beyond the written
point, so the written bounds are grown by :data:`INVALIDATION_MARGIN` degrees
(more than the largest hexagon drawn, H3 res 7).

On disk: ``<dir>/<layers>/<view>/<z>/<x>/<y>.mvt.gz`` plus ``<dir>/<layers>/kinds``
(the kinds the layers read), so invalidation works after a restart too.

Several processes (``onemap serve --workers N``, ``onemap ingest``) may write the
same store: :class:`DataVersionWatcher` reads the GeoPackage's write log before
each tile request and replays the other processes' writes into this cache; on
PostGIS the store's ``listen_writes`` thread (LISTEN/NOTIFY) does the same.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from zlib_ng import gzip_ng

from tiles.engine import Tile, tile_bounds_lnglat, tiles_covering

#: Degrees added around a written area (a res-7 hexagon is about 2.4 km across).
INVALIDATION_MARGIN = 0.03
BBox = tuple[float, float, float, float]


#: gzip level of the tiles the server renders on demand. zlib-ng's level 3 (its fast
#: "medium" strategy) against 6, on the 16 z14 buildings tiles of the tipg benchmark
#: (1.53 MB of MVT): 1.6 instead of 5.3 ms per tile, 614 instead of 597 kB (+2.8 %).
#: An uncached PostGIS tile spends about as long in gzip at level 6 as in half its
#: query; packs, built once and downloaded whole, keep level 6.
RENDER_GZIP_LEVEL = 3


def gzip_bytes(data: bytes, level: int = 6) -> bytes:
    """Deterministic gzip (no timestamp, no file name) at ``level``.

    zlib-ng's deflate (python-zlib-ng, the same gzip format and level): about 2× faster
    than the standard library's zlib for the same size, which is most of the cost of
    an uncached tile after the query (a 210 kB z14 buildings tile: 14 ms with zlib on
    the loaded development machine; docs/postgis.md).
    """
    return bytes(gzip_ng.compress(data, compresslevel=level, mtime=0))


def etag_of(data: bytes) -> str:
    """A strong ETag of tile bytes."""
    return '"' + hashlib.blake2b(data, digest_size=10).hexdigest() + '"'


@dataclass(frozen=True)
class CachedTile:
    """A rendered tile: gzipped MVT, its ETag and what it depends on."""

    gz: bytes
    etag: str
    raw_size: int
    features: int
    kinds: frozenset[str]
    bounds: BBox
    personal_rows: int = 0

    @property
    def empty(self) -> bool:
        """True when the tile carries no feature."""
        return self.features == 0

    def raw(self) -> bytes:
        """The uncompressed MVT."""
        return gzip.decompress(self.gz)


@dataclass(frozen=True)
class CacheKey:
    """What identifies a tile: layers, address, data view (role) and time."""

    layers: str
    tile: Tile
    view: str
    as_of: str | None = None

    def disk_path(self, root: Path) -> Path:
        """Where the entry lives on disk."""
        t = self.tile
        view = self.view if self.as_of is None else f"{self.view}@{_safe(self.as_of)}"
        return root / _safe(self.layers) / view / str(t.z) / str(t.x) / f"{t.y}.mvt.gz"


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in ",_-." else "_" for c in text)


class TileCache:
    """LRU of :class:`CachedTile` bounded by total bytes, optionally mirrored on disk."""

    def __init__(self, max_bytes: int = 128 * 1024 * 1024, disk_dir: Path | None = None) -> None:
        self.max_bytes = max_bytes
        self.disk_dir = disk_dir
        self._mem: OrderedDict[CacheKey, CachedTile] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.invalidated = 0
        # Bumped by every invalidation; a render that began (missed) before one that
        # touches its kinds and area must not put its possibly stale tile afterwards
        # (another thread may have seen a write between this thread's read of the
        # store and its put). The recent invalidations are kept so that a write
        # elsewhere (a sensor's reading) does not stop every render in flight from
        # being cached; when the history no longer reaches the miss, the put is skipped.
        self._generation = 0
        self._recent: deque[tuple[int, str | None, BBox | None]] = deque(maxlen=256)
        self._miss_gen = threading.local()
        if disk_dir is not None:
            disk_dir.mkdir(parents=True, exist_ok=True)

    def __len__(self) -> int:
        return len(self._mem)

    def get(self, key: CacheKey, count: bool = True) -> CachedTile | None:
        """The cached tile, or None (memory first, then disk).

        ``count=False``: not a client's lookup (the start-up prewarm), so the hit and
        miss counters (the hit ratio on /metrics) are left alone.
        """
        with self._lock:
            entry = self._mem.get(key)
            if entry is not None:
                self._mem.move_to_end(key)
                self.hits += count
                return entry
        if self.disk_dir is not None:
            path = key.disk_path(self.disk_dir)
            try:
                gz = path.read_bytes()
            except OSError:
                gz = None
            if gz is not None:
                raw = gzip.decompress(gz)
                entry = CachedTile(gz, etag_of(raw), len(raw), -1, frozenset(),
                                   tile_bounds_lnglat(key.tile))
                self._put_mem(key, entry)
                self.hits += count
                return entry
        self.misses += count
        self._miss_gen.value = self._generation
        return None

    def put(self, key: CacheKey, entry: CachedTile) -> None:
        """Store a tile (and write it to disk when a directory is configured).

        Skipped when the cache was invalidated since this thread's last miss: the
        tile may have been rendered from data older than that invalidation.
        """
        if self._stale(getattr(self._miss_gen, "value", self._generation), entry):
            return
        self._put_mem(key, entry)
        if self.disk_dir is not None:
            path = key.disk_path(self.disk_dir)
            path.parent.mkdir(parents=True, exist_ok=True)
            kinds_file = self.disk_dir / _safe(key.layers) / "kinds"
            if not kinds_file.exists():
                kinds_file.write_text("\n".join(sorted(entry.kinds)), encoding="utf-8")
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(entry.gz)
            tmp.replace(path)

    def _stale(self, since: int, entry: CachedTile) -> bool:
        """True when an invalidation after generation ``since`` may concern ``entry``."""
        with self._lock:
            if since == self._generation:
                return False
            later = [r for r in self._recent if r[0] > since]
            if len(later) < self._generation - since:  # history lost: assume the worst
                return True
        for _, kind, area in later:
            if kind is None or not entry.kinds or (kind in entry.kinds and (
                    area is None or _meets(entry.bounds, area))):
                return True
        return False

    def preload(self, key: CacheKey, entry: CachedTile) -> None:
        """Put a tile read from elsewhere (a pack) into memory only."""
        self._put_mem(key, entry)

    def _put_mem(self, key: CacheKey, entry: CachedTile) -> None:
        with self._lock:
            old = self._mem.pop(key, None)
            if old is not None:
                self._size -= len(old.gz)
            self._mem[key] = entry
            self._size += len(entry.gz)
            while self._size > self.max_bytes and self._mem:
                _, dropped = self._mem.popitem(last=False)
                self._size -= len(dropped.gz)

    def clear(self) -> None:
        """Drop everything (memory and disk)."""
        with self._lock:
            self._generation += 1
            self._recent.append((self._generation, None, None))
            self._mem.clear()
            self._size = 0
        if self.disk_dir is not None:
            for child in self.disk_dir.iterdir():
                shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink()

    def invalidate(self, kind: str, bounds: BBox | None,
                   kinds_of_layers: dict[str, frozenset[str]] | None = None) -> int:
        """Drop tiles that read ``kind`` and meet ``bounds`` (None: everywhere). Returns count."""
        area = None if bounds is None else (
            bounds[0] - INVALIDATION_MARGIN, bounds[1] - INVALIDATION_MARGIN,
            bounds[2] + INVALIDATION_MARGIN, bounds[3] + INVALIDATION_MARGIN)
        dropped = 0
        with self._lock:
            self._generation += 1
            self._recent.append((self._generation, kind, area))
            for key in list(self._mem):
                entry = self._mem[key]
                kinds = entry.kinds or (kinds_of_layers or {}).get(key.layers, frozenset())
                if kinds and kind not in kinds:
                    continue
                if area is not None and not _meets(entry.bounds, area):
                    continue
                self._size -= len(entry.gz)
                del self._mem[key]
                dropped += 1
        if self.disk_dir is not None:
            dropped += self._invalidate_disk(kind, area)
        self.invalidated += dropped
        return dropped

    def _invalidate_disk(self, kind: str, area: BBox | None) -> int:
        assert self.disk_dir is not None
        dropped = 0
        for layer_dir in [d for d in self.disk_dir.iterdir() if d.is_dir()]:
            kinds_file = layer_dir / "kinds"
            kinds = set(kinds_file.read_text(encoding="utf-8").split()) if (
                kinds_file.exists()) else None
            if kinds is not None and kind not in kinds:
                continue
            if area is None:
                shutil.rmtree(layer_dir, ignore_errors=True)
                dropped += 1
                continue
            for view_dir in [d for d in layer_dir.iterdir() if d.is_dir()]:
                for z_dir in [d for d in view_dir.iterdir() if d.is_dir()]:
                    z = int(z_dir.name)
                    for t in tiles_covering(_clamp(area), z):
                        f = z_dir / str(t.x) / f"{t.y}.mvt.gz"
                        if f.exists():
                            f.unlink()
                            dropped += 1
        return dropped


WriteCallback = Callable[[str, BBox | None], None]


class VersionedStore(Protocol):
    """A store with a write log (the GeoPackage store)."""

    def data_version(self) -> int:
        """Number of the last committed write."""
        ...

    def writes_since(self, version: int) -> list[tuple[str, BBox | None]] | None:
        """Writes after ``version`` (None: the log was pruned past it)."""
        ...


class DataVersionWatcher:
    """Replays other processes' writes into a cache, checked before each request.

    The check is one indexed query on the store (:meth:`VersionedStore.data_version`);
    only when the version moved are the new writes read and passed to ``on_write``
    (kind and bounds, so only the touched tiles go), or ``on_reset`` when the log
    no longer reaches back to the version last seen.
    """

    def __init__(self, store: VersionedStore, on_write: WriteCallback,
                 on_reset: Callable[[], None]) -> None:
        self.store = store
        self.on_write = on_write
        self.on_reset = on_reset
        self._lock = threading.Lock()
        self.seen = store.data_version()

    def check(self) -> int:
        """Apply the writes committed since the last check; returns how many."""
        version = self.store.data_version()
        if version == self.seen:
            return 0
        with self._lock:
            if version <= self.seen:  # another thread applied them meanwhile
                return 0
            writes = self.store.writes_since(self.seen)
            if writes is None:
                self.on_reset()
                n = 1
            else:
                for kind, bounds in writes:
                    self.on_write(kind, bounds)
                n = len(writes)
            self.seen = version
            return n


def _clamp(b: BBox) -> BBox:
    return (max(b[0], -180.0), max(b[1], -85.0), min(b[2], 180.0), min(b[3], 85.0))


def _meets(a: BBox, b: BBox) -> bool:
    return a[2] >= b[0] and a[0] <= b[2] and a[3] >= b[1] and a[1] <= b[3]

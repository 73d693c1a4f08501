"""Offline PMTiles v3 packs (whole district or one subdistrict), written with ``pmtiles``.

A pack holds gzip-compressed MVT tiles of one or several layers (default: the
basemap composite) for the public role, for every tile of ``minzoom..maxzoom``
that meets the area. Tiles are written in ascending tile id (a clustered
archive); tiles without any feature are left out (a PMTiles reader answers
them as absent, which map clients draw as empty). The archive is
deterministic: the same store and arguments give the same bytes (tile gzip
without timestamp; the metadata's gzip timestamp, which ``pmtiles`` sets to the
current time, is zeroed after writing).

Each pack records the identity of the store it was cut from (``store_id`` in its
metadata: the store's build time and last write). Only packs of the open store
are listed, and :class:`PackBuilder` (started with the server) builds the
district and subdistrict packs that are missing or were cut from another store,
in a background thread, so a newcomer's ``/packs`` fills a few seconds after
start-up and a rebuilt demo never gets the previous demo's packs (docs/tiles.md).
"""

from __future__ import annotations

import gzip
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import Writer

from gis.errors import EntityNotFound, InvalidQuery
from gis.store.base import Store
from layers.access import Principal
from layers.catalog import Layer
from tiles.cache import gzip_bytes
from tiles.engine import (
    BASEMAP,
    BUFFER,
    EXTENT,
    TileEngine,
    tile_bounds_lnglat,
    tilejson,
    tiles_covering,
)

PACK_SUFFIX = ".pmtiles"
#: Metadata key of the identity of the store a pack was cut from.
STORE_ID_KEY = "store_id"

log = logging.getLogger(__name__)


def store_identity(store: Store) -> str:
    """Identity of the store's content: its build time and its last write.

    A rebuilt demo has a new build time, an ingest a new last write; packs cut
    before either are stale.
    """
    meta = store.get_meta()
    return f"{meta.get('build_time', '')}|{meta.get('last_write', '')}"


@dataclass
class PackReport:
    """What a pack build wrote."""

    path: Path
    tiles: int
    bytes: int
    seconds: float
    bounds: tuple[float, float, float, float]
    minzoom: int
    maxzoom: int

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"path": str(self.path), "tiles": self.tiles, "bytes": self.bytes,
                "seconds": round(self.seconds, 3), "bounds": list(self.bounds),
                "minzoom": self.minzoom, "maxzoom": self.maxzoom}


def area_geometry(store: Store, area: str) -> tuple[Any, str]:
    """The polygon of ``district`` or of a 9-digit subdistrict code, and its name."""
    if area == "district":
        df = store.query("district", columns=["id", "name"])
    else:
        if not (area.isdigit() and len(area) == 9):
            raise InvalidQuery("area must be 'district' or a 9-digit subdistrict code")
        df = store.query("subdistrict", where={"code": area}, columns=["id", "name"])
    if not len(df):
        raise EntityNotFound(f"no area {area!r} in the store")
    return shapely.union_all(df.geometry.values), str(df["name"].iloc[0])


def build_pack(store: Store, catalog: Mapping[str, Layer], out: Path, *, area: str = "district",
               layers: str = BASEMAP, minzoom: int = 10, maxzoom: int = 16,
               progress: Callable[[int, int], None] | None = None,
               store_id: str | None = None) -> PackReport:
    """Write a PMTiles v3 archive of ``layers`` over ``area`` (public data only).

    The file appears whole (written beside it, then renamed) or not at all. It records
    ``store_id`` (default: the store's identity when the build starts), so a write while
    it renders does not give the packs of one build different identities.
    """
    if not 0 <= minzoom <= maxzoom <= 18:
        raise InvalidQuery("zooms must satisfy 0 <= minzoom <= maxzoom <= 18")
    t0 = time.perf_counter()
    store_id = store_identity(store) if store_id is None else store_id
    principal = Principal()  # packs travel to phones: public data only
    engine = TileEngine(catalog)
    engine.resolve(layers, principal)
    geom, name = area_geometry(store, area)
    shapely.prepare(geom)
    b = geom.bounds
    bounds = (float(b[0]), float(b[1]), float(b[2]), float(b[3]))
    todo = []
    for z in range(minzoom, maxzoom + 1):
        cands = list(tiles_covering(bounds, z))
        tb = np.array([tile_bounds_lnglat(t) for t in cands], dtype=float).reshape(-1, 4)
        boxes = shapely.box(tb[:, 0], tb[:, 1], tb[:, 2], tb[:, 3])
        for t, hit in zip(cands, shapely.intersects(geom, boxes), strict=True):
            if hit:
                todo.append((zxy_to_tileid(t.z, t.x, t.y), t))
    todo.sort(key=lambda p: p[0])
    if todo:
        # everything any tile (with its buffer) may need, loaded once
        tbs = np.array([tile_bounds_lnglat(t, BUFFER / EXTENT) for _, t in todo])
        engine.preload(store, layers, principal,
                       (float(tbs[:, 0].min()), float(tbs[:, 1].min()),
                        float(tbs[:, 2].max()), float(tbs[:, 3].max())))
    out.parent.mkdir(parents=True, exist_ok=True)
    # a name of this build alone (the server and `onemap tiles` may build at once)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        written = _write(store, engine, principal, layers, todo, tmp, area, name, bounds,
                         minzoom, maxzoom, progress, store_id)
        _zero_gzip_mtimes(tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)  # a failed or cancelled build leaves nothing behind
    return PackReport(out, written, out.stat().st_size, time.perf_counter() - t0,
                      bounds, minzoom, maxzoom)


def _write(store: Store, engine: TileEngine, principal: Principal, layers: str,
           todo: list[tuple[int, Any]], tmp: Path, area: str, name: str,
           bounds: tuple[float, float, float, float], minzoom: int, maxzoom: int,
           progress: Callable[[int, int], None] | None, store_id: str) -> int:
    """Render the tiles of ``todo`` into the archive ``tmp``; the number written."""
    written = 0
    with tmp.open("wb") as f:
        writer = Writer(f)
        for i, (tid, t) in enumerate(todo):
            result = engine.render(layers, store, t, principal)
            if result.features:
                writer.write_tile(tid, gzip_bytes(result.data))
                written += 1
            if progress is not None:
                progress(i + 1, len(todo))
        if written == 0:
            raise EntityNotFound("the area has no data at these zooms")
        tj = tilejson(engine, layers, principal, "", bounds)
        cx, cy = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
        centre_zoom = min(max(minzoom, 13), maxzoom)
        header = {
            "tile_type": TileType.MVT, "tile_compression": Compression.GZIP,
            "min_lon_e7": int(bounds[0] * 1e7), "min_lat_e7": int(bounds[1] * 1e7),
            "max_lon_e7": int(bounds[2] * 1e7), "max_lat_e7": int(bounds[3] * 1e7),
            "center_zoom": centre_zoom, "center_lon_e7": int(cx * 1e7),
            "center_lat_e7": int(cy * 1e7),
        }
        metadata = {
            "name": f"onemap-{area}-{layers.replace(',', '+')}",
            "description": f"OneMap {name} ({area}), layers {layers}, z{minzoom}-{maxzoom}",
            "attribution": tj["attribution"], "type": "overlay", "format": "pbf",
            "version": "1", "minzoom": str(minzoom), "maxzoom": str(maxzoom),
            "bounds": ",".join(f"{v:.6f}" for v in bounds),
            "center": f"{cx:.6f},{cy:.6f},{centre_zoom}",
            "vector_layers": tj["vector_layers"], "area": area, "layers": layers,
            "generator": "onemap tiles pack", STORE_ID_KEY: store_id,
        }
        writer.finalize(header, metadata)
    return written


def _zero_gzip_mtimes(path: Path) -> None:
    """Zero the gzip MTIME (RFC 1952 §2.3, bytes 4-7) of the directories and metadata.

    ``pmtiles`` gzips the root directory, the leaf directories and the metadata
    with the current time in their headers; zeroing it makes packs reproducible.
    """
    from pmtiles.tile import deserialize_directory, deserialize_header

    with path.open("r+b") as f:
        h = deserialize_header(f.read(127))
        blocks = [h["root_offset"], h["metadata_offset"]]
        f.seek(h["root_offset"])
        for e in deserialize_directory(f.read(h["root_length"])):
            if e.run_length == 0:  # a leaf directory
                blocks.append(h["leaf_directory_offset"] + e.offset)
        for offset in blocks:
            f.seek(offset)
            if f.read(2) == b"\x1f\x8b":
                f.seek(offset + 4)
                f.write(b"\x00\x00\x00\x00")


def list_packs(packs_dir: Path, store_id: str | None = None) -> list[dict[str, Any]]:
    """The packs in ``packs_dir`` with their header bounds, zooms and size.

    With ``store_id``, only the packs cut from that store (the others are stale).
    """
    from pmtiles.reader import MmapSource, Reader

    out: list[dict[str, Any]] = []
    if not packs_dir.is_dir():
        return out
    for p in sorted(packs_dir.glob(f"*{PACK_SUFFIX}")):
        try:
            with p.open("rb") as f:
                r = Reader(MmapSource(f))
                h = r.header()
                meta = r.metadata()
        except Exception:  # a half-copied or foreign file is not listed
            continue
        if store_id is not None and meta.get(STORE_ID_KEY) != store_id:
            continue
        out.append({
            "name": p.name[: -len(PACK_SUFFIX)], "bytes": p.stat().st_size,
            "minzoom": h["min_zoom"], "maxzoom": h["max_zoom"],
            "bounds": [h["min_lon_e7"] / 1e7, h["min_lat_e7"] / 1e7,
                       h["max_lon_e7"] / 1e7, h["max_lat_e7"] / 1e7],
            "center": [h["center_lon_e7"] / 1e7, h["center_lat_e7"] / 1e7, h["center_zoom"]],
            "description": meta.get("description", ""), "layers": meta.get("layers", ""),
        })
    return out


def read_tile(path: Path, z: int, x: int, y: int) -> bytes | None:
    """The decompressed MVT of one tile of a pack (None when absent); for tests and tools."""
    from pmtiles.reader import MmapSource, Reader

    with path.open("rb") as f:
        data = Reader(MmapSource(f)).get(z, x, y)
    return None if data is None else gzip.decompress(data)


def pack_store_id(path: Path) -> str | None:
    """The ``store_id`` a pack records (None when absent or unreadable)."""
    from pmtiles.reader import MmapSource, Reader

    try:
        with path.open("rb") as f:
            value = Reader(MmapSource(f)).metadata().get(STORE_ID_KEY)
    except Exception:  # a half-copied or foreign file: as good as absent
        return None
    return None if value is None else str(value)


def pack_areas(store: Store) -> list[str]:
    """The areas of the standard packs: the district, then every subdistrict code."""
    codes = sorted(str(c) for c in store.query("subdistrict", columns=["code"])["code"])
    return ["district", *codes]


class BuildCancelled(Exception):
    """The server stopped while packs were being built."""


class PackBuilder:
    """Builds the missing or stale standard packs in a background thread.

    ``state`` is ``building``, then ``ready`` (``failed``, ``stopped``); requests are never
    blocked (they only read ``state`` and list the packs of the current store).
    """

    def __init__(self, store: Store, catalog: Mapping[str, Layer], packs_dir: Path,
                 minzoom: int = 10, maxzoom: int = 16, store_id: str | None = None) -> None:
        self.store = store
        #: the identity every pack of this build records (the server lists packs by it;
        #: default: the store's when the build starts)
        self.store_id = store_id
        self.catalog = catalog
        self.packs_dir = packs_dir
        self.minzoom, self.maxzoom = minzoom, maxzoom
        self.state = "building"
        self.built: list[PackReport] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="onemap-packs", daemon=True)

    def start(self) -> PackBuilder:
        """Start the thread; returns self."""
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the thread to stop after its current tile and wait for it."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _progress(self, done: int, total: int) -> None:
        if self._stop.is_set():
            raise BuildCancelled

    def _run(self) -> None:
        try:
            store_id = self.store_id or store_identity(self.store)
            areas = pack_areas(self.store)
            todo = [a for a in areas
                    if pack_store_id(self.packs_dir / f"{a}{PACK_SUFFIX}") != store_id]
            for i, area in enumerate(todo, 1):
                report = build_pack(self.store, self.catalog,
                                    self.packs_dir / f"{area}{PACK_SUFFIX}", area=area,
                                    minzoom=self.minzoom, maxzoom=self.maxzoom,
                                    progress=self._progress, store_id=store_id)
                self.built.append(report)
                log.info("pack %s built (%d/%d): %d tiles, %d bytes, %.1f s", area, i,
                         len(todo), report.tiles, report.bytes, report.seconds)
            self.state = "ready"
        except BuildCancelled:
            self.state = "stopped"
        except Exception:  # the server keeps serving; the log says why
            log.exception("building the offline packs failed")
            self.state = "failed"

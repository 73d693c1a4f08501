"""Offline PMTiles v3 packs (whole district or one subdistrict), written with ``pmtiles``.

A pack holds gzip-compressed MVT tiles of one or several layers (default: the
basemap composite) for the public role, for every tile of ``minzoom..maxzoom``
that meets the area. Tiles are written in ascending tile id (a clustered
archive); tiles without any feature are left out (a PMTiles reader answers
them as absent, which map clients draw as empty). The archive is
deterministic: the same store and arguments give the same bytes (tile gzip
without timestamp; the metadata's gzip timestamp, which ``pmtiles`` sets to the
current time, is zeroed after writing).
"""

from __future__ import annotations

import gzip
import os
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
               progress: Callable[[int, int], None] | None = None) -> PackReport:
    """Write a PMTiles v3 archive of ``layers`` over ``area`` (public data only)."""
    if not 0 <= minzoom <= maxzoom <= 18:
        raise InvalidQuery("zooms must satisfy 0 <= minzoom <= maxzoom <= 18")
    t0 = time.perf_counter()
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
    tmp = out.with_name(out.name + ".tmp")
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
            "generator": "onemap tiles pack",
        }
        writer.finalize(header, metadata)
    _zero_gzip_mtimes(tmp)
    os.replace(tmp, out)
    return PackReport(out, written, out.stat().st_size, time.perf_counter() - t0,
                      bounds, minzoom, maxzoom)


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


def list_packs(packs_dir: Path) -> list[dict[str, Any]]:
    """The packs in ``packs_dir`` with their header bounds, zooms and size."""
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

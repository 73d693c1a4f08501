"""Terrain: hillshade PNG tiles and point elevations from the demo GeoTIFF (rasterio).

The raster (``<data dir>/terrain.tif``, WGS84, ~30 m) is read into memory once.
A tile is the raster warped (bilinear) onto the tile's 256×256 EPSG:3857 grid
with a one-pixel margin, shaded (azimuth 315°, altitude 45°, slopes in metres
per metre from the tile's pixel size) and written as a greyscale+alpha PNG;
pixels without terrain are transparent, so a tile outside the raster is a fully
transparent PNG.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_bounds, rowcol
from rasterio.warp import Resampling, reproject

from gis.errors import EntityNotFound, InvalidQuery
from tiles.engine import Tile, check_tile, tile_bounds_3857

SIZE = 256


class TerrainUnavailable(EntityNotFound):
    """No terrain raster in the data directory (answered 404)."""


class Terrain:
    """The elevation raster, in memory."""

    def __init__(self, path: Path) -> None:
        if not path.exists():
            raise TerrainUnavailable("no terrain raster")
        with rasterio.open(path) as ds:
            self.crs = ds.crs
            self.transform = ds.transform
            self.nodata = ds.nodata if ds.nodata is not None else -9999.0
            self.array = ds.read(1).astype(np.float32)
            self.bounds = tuple(ds.bounds)

    def elevation(self, lon: float, lat: float) -> float | None:
        """Elevation in metres at a WGS84 point (nearest cell); None outside the raster."""
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise InvalidQuery("lon must be in -180..180 and lat in -90..90")
        row, col = rowcol(self.transform, lon, lat)
        h, w = self.array.shape
        if not (0 <= row < h and 0 <= col < w):
            return None
        v = float(self.array[row, col])
        return None if v == self.nodata or np.isnan(v) else round(v, 2)

    def hillshade_png(self, tile: Tile, azimuth: float = 315.0, altitude: float = 45.0) -> bytes:
        """The hillshade PNG of one WebMercatorQuad tile."""
        check_tile(tile)
        minx, miny, maxx, maxy = tile_bounds_3857(tile)
        px = (maxx - minx) / SIZE
        n = SIZE + 2
        dst = np.full((n, n), np.nan, dtype=np.float32)
        src = np.where(self.array == self.nodata, np.nan, self.array).astype(np.float32)
        reproject(src, dst, src_transform=self.transform, src_crs=self.crs, src_nodata=np.nan,
                  dst_transform=from_bounds(minx - px, miny - px, maxx + px, maxy + px, n, n),
                  dst_crs="EPSG:3857", dst_nodata=np.nan, resampling=Resampling.bilinear)
        # Mercator stretches distances by 1/cos(lat): metres on the ground per pixel.
        lat = np.degrees(np.arctan(np.sinh((miny + maxy) / 2 / 6378137.0)))
        ground = px * np.cos(np.radians(lat))
        dzdy, dzdx = np.gradient(dst, ground)
        slope = np.arctan(np.hypot(dzdx, dzdy))
        aspect = np.arctan2(-dzdx, dzdy)
        az, alt = np.radians(360.0 - azimuth + 90.0), np.radians(altitude)
        shade = (np.sin(alt) * np.cos(slope)
                 + np.cos(alt) * np.sin(slope) * np.cos(az - aspect))
        inner = shade[1:-1, 1:-1]
        valid = ~np.isnan(inner)
        grey = np.where(valid, np.clip(inner * 255.0, 0, 255), 0).astype(np.uint8)
        alpha = np.where(valid, 255, 0).astype(np.uint8)
        return png_grey_alpha(grey, alpha)


def png_grey_alpha(grey: np.ndarray, alpha: np.ndarray) -> bytes:
    """A PNG (colour type 4: greyscale + alpha, 8 bit) of two equal-shaped uint8 arrays."""
    h, w = grey.shape
    pixels = np.dstack([grey, alpha]).reshape(h, w * 2)
    raw = np.hstack([np.zeros((h, 1), dtype=np.uint8), pixels]).tobytes()  # filter 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 4, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 6))
            + chunk(b"IEND", b""))

"""The tile engine: Mapbox Vector Tiles of catalog layers in WebMercatorQuad.

A tile asks its layer for the features in the tile's bounds (plus a buffer),
through the same :meth:`layers.catalog.Layer.features` as the OGC Features
API, so roles, masking and k-anonymity apply to tiles too. Geometries are
projected to EPSG:3857 and clipped (shapely, vectorised), then encoded with
mapbox-vector-tile. No web framework is imported here; the Tiles issue extends
this engine (caching, PMTiles, aggregate low zooms).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import mapbox_vector_tile
import morecantile
import numpy as np
import shapely
from pyproj import Transformer

from gis.errors import CoreError
from gis.store.base import Store
from layers.access import Principal
from layers.catalog import FeatureQuery, Layer

#: Tile extent (MVT units) and buffer around the tile (in the same units).
EXTENT = 4096
BUFFER = 64
#: Most features a single tile carries (the rest are dropped; low zooms use aggregates).
MAX_FEATURES = 50_000
MAX_ZOOM = 22


class TileOutsideBounds(CoreError):
    """A tile address outside the tile matrix set (or the layer's zoom range)."""


@dataclass(frozen=True)
class Tile:
    """A WebMercatorQuad tile address (x = column, y = row, z = zoom)."""

    x: int
    y: int
    z: int


@lru_cache(maxsize=1)
def _tms() -> morecantile.TileMatrixSet:
    return morecantile.tms.get("WebMercatorQuad")


@lru_cache(maxsize=1)
def _to_3857() -> Transformer:
    return Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)


def check_tile(tile: Tile) -> None:
    """Raise :class:`TileOutsideBounds` unless the tile exists in WebMercatorQuad."""
    if not 0 <= tile.z <= MAX_ZOOM:
        raise TileOutsideBounds(f"zoom must be 0-{MAX_ZOOM}")
    n = 1 << tile.z
    if not (0 <= tile.x < n and 0 <= tile.y < n):
        raise TileOutsideBounds(f"tile {tile.z}/{tile.x}/{tile.y} is outside the matrix")


def tile_bounds_lnglat(tile: Tile, buffer: float = 0.0) -> tuple[float, float, float, float]:
    """(west, south, east, north) in WGS84 of a tile, grown by ``buffer`` of its width."""
    b = _tms().bounds(morecantile.Tile(tile.x, tile.y, tile.z))
    dx = (b.right - b.left) * buffer
    dy = (b.top - b.bottom) * buffer
    return (max(b.left - dx, -180.0), max(b.bottom - dy, -85.06),
            min(b.right + dx, 180.0), min(b.top + dy, 85.06))


def tile_bounds_3857(tile: Tile) -> tuple[float, float, float, float]:
    """(minx, miny, maxx, maxy) in EPSG:3857 metres of a tile."""
    b = _tms().xy_bounds(morecantile.Tile(tile.x, tile.y, tile.z))
    return b.left, b.bottom, b.right, b.top


def _mvt_value(v: Any) -> bool:
    return v is not None and isinstance(v, str | int | float | bool)


def encode_features(layer_name: str, geoms: Any, props: list[dict[str, Any]],
                    tile: Tile) -> bytes:
    """MVT bytes of WGS84 shapely geometries and their properties in ``tile``."""
    minx, miny, maxx, maxy = tile_bounds_3857(tile)
    arr = np.asarray(geoms, dtype=object)
    features = []
    if len(arr):
        tr = _to_3857()
        sx = EXTENT / (maxx - minx)
        sy = EXTENT / (maxy - miny)

        def to_tile(xy: Any) -> Any:
            # lon/lat -> EPSG:3857 -> tile units (y up; the encoder flips it), vectorised
            mx, my = tr.transform(xy[:, 0], xy[:, 1])
            return np.column_stack(((np.asarray(mx) - minx) * sx, (np.asarray(my) - miny) * sy))

        present = ~shapely.is_missing(arr)
        local = np.full(len(arr), None, dtype=object)
        local[present] = shapely.transform(arr[present], to_tile)
        clipped = np.full(len(arr), None, dtype=object)
        clipped[present] = shapely.clip_by_rect(local[present], -BUFFER, -BUFFER,
                                                EXTENT + BUFFER, EXTENT + BUFFER)
        for g, p in zip(clipped.tolist(), props, strict=True):
            if g is None or g.is_empty:
                continue
            features.append({"geometry": g,
                             "properties": {k: v for k, v in p.items() if _mvt_value(v)}})
    data: bytes = mapbox_vector_tile.encode(
        [{"name": layer_name, "features": features}],
        default_options={"extents": EXTENT})
    return data


def render_tile(layer: Layer, store: Store, tile: Tile, principal: Principal,
                as_of: str | None = None) -> tuple[bytes, int]:
    """The MVT of ``layer`` at ``tile`` for ``principal``, and the number of features in it.

    Tiles outside the layer's zoom range are empty (the viewer switches layers by zoom).
    """
    check_tile(tile)
    if tile.z < layer.minzoom or tile.z > layer.maxzoom + 6:
        return encode_features(layer.id, [], [], tile), 0
    west, south, east, north = tile_bounds_lnglat(tile, BUFFER / EXTENT)
    q = FeatureQuery(limit=MAX_FEATURES, bbox=(west, south, east, north), as_of=as_of,
                     count=False)
    page = layer.features(store, q, principal)
    geoms = [None if f["geometry"] is None else shapely.geometry.shape(f["geometry"])
             for f in page.features]
    props = [{"id": f["id"], **f["properties"]} for f in page.features]
    return encode_features(layer.id, geoms, props, tile), len(props)

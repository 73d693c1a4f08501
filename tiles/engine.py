"""The tile engine: Mapbox Vector Tiles of catalog layers in WebMercatorQuad.

A tile asks its layer for the features in the tile's bounds (plus a buffer),
through the layer's own query (so roles, masking and k-anonymity apply to tiles
too). Geometries are projected to EPSG:3857 tile units and clipped (shapely,
vectorised), generalised per zoom, then encoded with mapbox-vector-tile.

Generalisation (docs/tiles.md):

- lines and polygons whose part in the tile is under half a pixel of length, or a
  quarter px² of area (:data:`MIN_SIZE_PX`, measured before simplification), are
  dropped, the others are
  simplified with a tolerance of one tile pixel (``EXTENT / 256`` units) without
  collapsing;
- point layers below their *detail zoom* (events, enterprises) and persons at
  every zoom become H3 block aggregates (one hexagon per cell with ``count``);
- a tile never exceeds :data:`MAX_TILE_BYTES`: the tolerance grows, then the
  smallest features are dropped until it fits.

No web framework is imported here.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, ClassVar

import mapbox_vector_tile
import morecantile
import numpy as np
import shapely

from gis.blocks import cell_polygon
from gis.errors import EntityNotFound, InvalidQuery
from gis.h3cells import cell_to_str
from gis.model import GeomType
from gis.store.base import Store
from layers.access import Principal, suppress
from layers.catalog import BlockLayer, EntityLayer, FeatureQuery, Layer
from tiles.mvt import encode_tile

#: Tile extent (MVT units) and buffer around the tile (in the same units).
EXTENT = 4096
BUFFER = 64
#: MVT units per screen pixel of a 256-pixel tile.
PIXEL = EXTENT / 256
#: Most features a single tile carries (low zooms use aggregates instead).
MAX_FEATURES = 50_000
#: Lines shorter than this many pixels and polygons smaller than its square (px²), measured
#: on their part in the tile (and its buffer), are dropped; everything larger is kept
#: (docs/tiles.md). Half a pixel: the smallest demo building (54 m²) is 0.7 px² at z14,
#: the buildings' first zoom, and a half-pixel square still shows (anti-aliased).
MIN_SIZE_PX = 0.5
#: Hard cap on the encoded (uncompressed) size of one tile.
MAX_TILE_BYTES = 500_000
MAX_ZOOM = 22
#: Above this many points in a tile, a point layer is drawn as aggregates even at detail zoom.
MAX_POINTS = 2_000
#: Lowest zoom at which aggregated point layers are drawn (below: empty).
AGGREGATE_MINZOOM = 8
#: Zoom from which a point layer is served point by point (None: always aggregated).
DETAIL_ZOOM: dict[str, int | None] = {"events": 14, "enterprises": 14, "persons": None,
                                      "houses": 16}
#: Properties carried by tiles of heavy layers (the rest: one click away in the Features
#: API). Smaller and faster tiles; other layers carry every exposed property.
TILE_FIELDS: dict[str, tuple[str, ...]] = {
    "buildings": ("name", "use", "floors", "height_m", "year_built"),
    "enterprises": ("name", "industry", "industry_name", "employees", "building_id"),
    "events": ("source", "category", "status", "occurred_at", "closed_at"),
    "houses": ("building_id", "unit", "floor", "room", "use"),
}
#: The basemap: a composite of catalog layers plus generated label layers.
BASEMAP = "basemap"
BASEMAP_LAYERS = ("district", "subdistricts", "communities", "water", "roads", "buildings",
                  "facilities", "labels")
#: Properties kept on basemap layers (smaller tiles; None = every property).
BASEMAP_FIELDS: dict[str, tuple[str, ...] | None] = {
    "district": ("name", "code"), "subdistricts": ("name", "code"),
    "communities": ("name", "code"), "water": ("name", "water_type"),
    "roads": ("name", "road_class", "width_m"), "buildings": ("use", "floors", "height_m"),
    "facilities": ("name", "facility_type"), "labels": None,
}


class TileOutsideBounds(EntityNotFound):
    """A tile address outside the tile matrix set (answered 404)."""


class UnknownLayer(EntityNotFound):
    """A layer that does not exist or that the caller may not see (answered 404)."""


@dataclass(frozen=True)
class Tile:
    """A WebMercatorQuad tile address (x = column, y = row, z = zoom)."""

    x: int
    y: int
    z: int


@lru_cache(maxsize=1)
def _tms() -> morecantile.TileMatrixSet:
    return morecantile.tms.get("WebMercatorQuad")


def check_tile(tile: Tile) -> None:
    """Raise :class:`TileOutsideBounds` unless the tile exists in WebMercatorQuad."""
    if not 0 <= tile.z <= MAX_ZOOM:
        raise TileOutsideBounds(f"zoom must be 0-{MAX_ZOOM}")
    n = 1 << tile.z
    if not (0 <= tile.x < n and 0 <= tile.y < n):
        raise TileOutsideBounds(f"tile {tile.z}/{tile.x}/{tile.y} is outside the matrix")


#: Half the width of the WebMercatorQuad world in EPSG:3857 metres (pi * 6378137).
ORIGIN = math.pi * 6378137.0


def _lat(y_merc: float) -> float:
    return math.degrees(math.atan(math.sinh(y_merc / 6378137.0)))


def tile_bounds_lnglat(tile: Tile, buffer: float = 0.0) -> tuple[float, float, float, float]:
    """(west, south, east, north) in WGS84 of a tile, grown by ``buffer`` of its width."""
    minx, miny, maxx, maxy = tile_bounds_3857(tile)
    west, east = minx / 6378137.0 * 180.0 / math.pi, maxx / 6378137.0 * 180.0 / math.pi
    south, north = _lat(miny), _lat(maxy)
    dx = (east - west) * buffer
    dy = (north - south) * buffer
    return (max(west - dx, -180.0), max(south - dy, -85.06),
            min(east + dx, 180.0), min(north + dy, 85.06))


def tile_bounds_3857(tile: Tile) -> tuple[float, float, float, float]:
    """(minx, miny, maxx, maxy) in EPSG:3857 metres of a tile (the OGC 2D TMS formulas)."""
    size = 2 * ORIGIN / (1 << tile.z)
    minx = -ORIGIN + tile.x * size
    maxy = ORIGIN - tile.y * size
    return minx, maxy - size, minx + size, maxy


def tiles_covering(bounds: tuple[float, float, float, float], zoom: int) -> Iterable[Tile]:
    """Every tile of ``zoom`` that intersects WGS84 ``bounds``."""
    for t in _tms().tiles(*bounds, zooms=[zoom]):
        yield Tile(t.x, t.y, t.z)


def _mvt_value(v: Any) -> bool:
    return v is not None and isinstance(v, str | int | float | bool) and v == v


# ---------------------------------------------------------------------------
# projection, clipping and generalisation


def to_tile_units(geoms: Any, tile: Tile) -> Any:
    """WGS84 shapely geometries → tile units (y up), clipped to the buffered tile."""
    minx, miny, maxx, maxy = tile_bounds_3857(tile)
    arr = np.asarray(geoms, dtype=object)
    out = np.full(len(arr), None, dtype=object)
    if not len(arr):
        return out
    sx = EXTENT / (maxx - minx)
    sy = EXTENT / (maxy - miny)

    def to_tile(xy: Any) -> Any:
        # spherical Mercator (EPSG:3857) in closed form, vectorised
        mx = np.radians(xy[:, 0]) * 6378137.0
        lat = np.clip(xy[:, 1], -85.0511287798, 85.0511287798)
        my = np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)) * 6378137.0
        return np.column_stack(((mx - minx) * sx, (my - miny) * sy))

    present = ~shapely.is_missing(arr)
    if present.any():
        local = shapely.transform(arr[present], to_tile)
        out[present] = shapely.clip_by_rect(local, -BUFFER, -BUFFER, EXTENT + BUFFER,
                                            EXTENT + BUFFER)
    return out


def generalise(geoms: Any, tolerance_px: float = 1.0, min_size_px: float = MIN_SIZE_PX) -> Any:
    """Drop tiny lines and polygons (tile units), then simplify the rest by ``tolerance_px``.

    The size test comes first and uses each shape as given (its part in the tile,
    before simplification): polygons below ``min_size_px``² of area and lines below
    ``min_size_px`` of length become None, everything larger is kept. Simplifying
    first would shrink small shapes (a two-pixel square becomes a triangle of half
    its area) and drop them with the tiny ones.

    A kept shape is then simplified (Douglas-Peucker, topology preserving). Where
    that collapses it (empty, invalid, or a polygon that lost or gained more than
    :data:`MAX_AREA_CHANGE` of its area) a quarter of the tolerance is tried, then
    the shape is kept as it was. Points are kept as they are.
    """
    arr = np.asarray(geoms, dtype=object)
    out = arr.copy()
    present = _present(arr)
    out[~present] = None
    if not present.any():
        return out
    types = np.full(len(arr), -1)
    types[present] = shapely.get_type_id(arr[present])
    lines = np.isin(types, (1, 2, 5))  # LineString, LinearRing, MultiLineString
    polys = np.isin(types, (3, 6))  # Polygon, MultiPolygon
    small = np.zeros(len(arr), dtype=bool)
    small[polys] = shapely.area(arr[polys]) < (min_size_px * PIXEL) ** 2
    small[lines] = shapely.length(arr[lines]) < min_size_px * PIXEL
    out[small] = None
    for kind in (polys & ~small, lines & ~small):
        idx = np.flatnonzero(kind)
        for tol in (tolerance_px, tolerance_px / 4):
            if not len(idx):
                break
            simple = shapely.simplify(arr[idx], tol * PIXEL, preserve_topology=True)
            ok = _kept_shape(arr[idx], simple, polygons=kind is not lines)
            out[idx[ok]] = simple[ok]
            idx = idx[~ok]  # these keep the original unless a smaller tolerance works
    return out


#: Largest relative change of area a simplified polygon may show before a smaller
#: tolerance (then the unsimplified shape) is used instead.
MAX_AREA_CHANGE = 0.2


def _kept_shape(orig: Any, simple: Any, polygons: bool) -> Any:
    """Mask of simplified shapes that are valid, non-empty and (polygons) of similar area."""
    ok = ~shapely.is_missing(simple)
    ok[ok] = ~shapely.is_empty(simple[ok]) & shapely.is_valid(simple[ok])
    if polygons and ok.any():
        a0 = shapely.area(orig[ok])
        ok[ok] = np.abs(shapely.area(simple[ok]) - a0) <= MAX_AREA_CHANGE * a0
    elif ok.any():
        ok[ok] = shapely.length(simple[ok]) > 0
    return ok


def _present(arr: Any) -> Any:
    """Mask of entries that are geometries and not empty."""
    a = np.asarray(arr, dtype=object)
    mask = ~shapely.is_missing(a)
    if mask.any():
        mask[mask] = ~shapely.is_empty(a[mask])
    return mask


def encode_features(layer_name: str, geoms: Any, props: list[dict[str, Any]],
                    tile: Tile) -> bytes:
    """MVT bytes of WGS84 geometries and their properties in ``tile`` (not generalised)."""
    local = to_tile_units(geoms, tile)
    return encode_layers([LayerData(layer_name, local, props)])


@dataclass
class LayerData:
    """One MVT layer of a tile: geometries in tile units and their properties."""

    name: str
    geoms: Any
    props: list[dict[str, Any]]
    personal_rows: int = 0
    #: Set when the store renders this layer itself (``ST_AsMVT`` on PostGIS); then
    #: ``geoms``/``props`` are empty until :meth:`ServerLayer.rows` is asked for them.
    server: ServerLayer | None = None

    def __len__(self) -> int:
        return sum(1 for g in self.geoms if g is not None and not g.is_empty)


@dataclass
class ServerLayer:
    """A plain entity layer the store encodes itself (``PostGISStore.mvt``).

    The store selects the same rows as :func:`_entity_rows` (same bbox, time, columns
    and limit), applies the same generalisation rules (:func:`generalise`: size test,
    one-pixel simplification with its fall-backs) and encodes the layer with
    ``ST_AsMVT``. Only layers without person-level rows and without masked columns
    for the principal go this way, so no privacy rule of the Python path is bypassed.
    """

    store: Any
    layer: EntityLayer
    tile: Tile
    bbox: tuple[float, float, float, float]
    as_of: str | None
    columns: list[str]
    principal: Principal
    fields: tuple[str, ...] | None

    def render(self, tolerance_px: float, min_size_px: float) -> tuple[bytes, int]:
        """The encoded layer and its feature count at this generalisation."""
        t = self.tile
        data, n = self.store.mvt(self.layer.id, self.layer.kind, t.z, t.x, t.y,
                                 columns=self.columns, bbox=self.bbox, as_of=self.as_of,
                                 limit=MAX_FEATURES, extent=EXTENT, buffer=BUFFER,
                                 tolerance_px=tolerance_px, min_size_px=min_size_px)
        if n == 0:
            # ST_AsMVT over no row is no layer at all; the Python path writes an empty
            # layer, and both paths must give the same tile.
            data = encode_tile([(self.layer.id, [], [])], EXTENT)
        return bytes(data), int(n)

    def rows(self) -> LayerData:
        """The same layer as rows for the Python path (the size cap's last resort)."""
        geoms, props = _entity_rows(self.layer, self.store, self.bbox, self.principal,
                                    self.as_of, self.fields)
        return LayerData(self.layer.id, to_tile_units(geoms, self.tile), props, 0)


def encode_layers(layers: Sequence[LayerData]) -> bytes:
    """MVT bytes of several layers (geometries already in tile units)."""
    return encode_tile([(lyr.name, _on_grid(lyr.geoms), lyr.props) for lyr in layers], EXTENT)


def encode_layers_reference(layers: Sequence[LayerData]) -> bytes:
    """The same tile through mapbox-vector-tile's general encoder (tests compare)."""
    out = []
    for lyr in layers:
        feats = []
        for g, p in zip(_on_grid(lyr.geoms), lyr.props, strict=True):
            if g is None:
                continue
            feats.append({"geometry": g,
                          "properties": {k: v for k, v in p.items() if _mvt_value(v)}})
        out.append({"name": lyr.name, "features": feats})
    # Rounding, winding order and validity are settled in _on_grid (vectorised), so
    # the encoder's per-feature checks (several times its encoding time) are off.
    data: bytes = mapbox_vector_tile.encode(
        out, default_options={"extents": EXTENT, "check_winding_order": False})
    return data


def _on_grid(geoms: Any) -> Any:
    """Round to integer tile units; orient polygons for MVT (spec 4.3.4.4); repair.

    Coordinates are y-up here (the encoder flips them), so exteriors are clockwise
    in y-up terms, which is counter-clockwise on screen... exactly what the MVT
    spec's y-down "clockwise exterior" becomes after the flip.
    """
    arr = np.asarray(geoms, dtype=object)
    out = np.full(len(arr), None, dtype=object)
    present = _present(arr)
    if not present.any():
        return out
    g = shapely.transform(arr[present], np.round)
    polys = np.isin(shapely.get_type_id(g), (3, 6))
    if polys.any():
        p = g[polys]
        bad = ~shapely.is_valid(p)
        if bad.any():
            p[bad] = shapely.buffer(p[bad], 0)
        g[polys] = shapely.orient_polygons(p, exterior_cw=True)
    g[shapely.is_empty(g)] = None
    out[present] = g
    return out


# ---------------------------------------------------------------------------
# per-layer features


def tile_aggregate_res(z: int) -> int:
    """H3 resolution of the block aggregates drawn at zoom ``z`` (7-10)."""
    if z <= 11:
        return 7
    if z <= 13:
        return 8
    if z <= 15:
        return 9
    return 10


def detail_zoom(layer: Layer) -> int | None:
    """Zoom from which ``layer`` is drawn feature by feature (None: never, aggregates only)."""
    if layer.id in DETAIL_ZOOM:
        return DETAIL_ZOOM[layer.id]
    return layer.minzoom


def is_aggregated(layer: Layer) -> bool:
    """Whether ``layer`` turns into H3 aggregates below its detail zoom."""
    return layer.id in DETAIL_ZOOM and isinstance(layer, EntityLayer)


def tile_zoom_range(layer_id: str, layer: Layer | None) -> tuple[int, int]:
    """(minzoom, maxzoom) at which a layer's tiles carry data (TileJSON)."""
    if layer is None:  # generated label layer
        return 10, 16
    lo = AGGREGATE_MINZOOM if is_aggregated(layer) else layer.minzoom
    return lo, max(lo, min(layer.maxzoom, 16))


def _entity_rows(layer: EntityLayer, store: Store, bbox: tuple[float, float, float, float],
                 principal: Principal, as_of: str | None, fields: tuple[str, ...] | None,
                 limit: int | None = MAX_FEATURES) -> tuple[Any, list[dict[str, Any]]]:
    q = FeatureQuery(limit=limit or MAX_FEATURES, bbox=bbox, as_of=as_of, count=False)
    if type(layer) is EntityLayer:
        # Fast path: geometries straight from the store (no GeoJSON round trip);
        # properties (masked for the principal) through the layer itself.
        cols = layer._select_columns(q, principal)
        if fields is not None:
            cols = [c for c in cols if c in fields]
        df = store.query(layer.kind, bbox=bbox, as_of=layer._default_as_of(q),
                         columns=list(dict.fromkeys(["id", *cols])), limit=limit)
        feats = layer._to_features(df, cols, principal, True, None)
        geoms: Any = np.asarray(df.geometry.values, dtype=object) if len(df) else []
        return geoms, [{"id": f["id"], **f["properties"]} for f in feats]
    page = layer.features(store, q, principal)
    geoms = shapely.from_geojson([
        "null" if f["geometry"] is None else _json(f["geometry"]) for f in page.features]
    ) if page.features else []
    props = []
    for f in page.features:
        p = {"id": f["id"], **f["properties"]}
        if fields is not None:
            p = {k: v for k, v in p.items() if k in fields or k == "id"}
        props.append(p)
    return geoms, props


def _server_layer(layer: EntityLayer, store: Store, tile: Tile,
                  bbox: tuple[float, float, float, float], principal: Principal,
                  as_of: str | None, fields: tuple[str, ...] | None) -> ServerLayer | None:
    """A :class:`ServerLayer` when the store encodes tiles itself and the layer allows it.

    Only a plain :class:`EntityLayer` (the same rows as :func:`_entity_rows`'s fast
    path) whose rows are not person-level and whose tile columns the principal sees
    unmasked: person-level layers and masking stay in Python, where they are tested.
    """
    if getattr(store, "mvt", None) is None or type(layer) is not EntityLayer:
        return None
    if layer.access.personal:
        return None
    q = FeatureQuery(limit=MAX_FEATURES, bbox=bbox, as_of=as_of, count=False)
    cols = layer._select_columns(q, principal)
    if fields is not None:
        cols = [c for c in cols if c in fields]
    if set(layer._masked(principal)) & set(cols):
        return None
    return ServerLayer(store, layer, tile, bbox, layer._default_as_of(q),
                       [c for c in cols if c != "id"], principal, fields)


def _json(obj: Any) -> str:
    import json

    return json.dumps(obj)


@dataclass
class AggregateTable:
    """Whole-district block counts of one kind at one resolution, with cell polygons."""

    cells: Any
    counts: Any
    polygons: Any
    bounds: Any  # (n, 4) west, south, east, north

    @classmethod
    def build(cls, store: Store, kind: str, res: int, as_of: str | None) -> AggregateTable:
        """Aggregate once (index-only GROUP BY) and build the hexagons."""
        table = store.block_aggregate(kind, res, as_of=as_of)
        cells = table["cell"].to_numpy(dtype=np.int64)
        polys = np.array([shapely.Polygon(cell_polygon(int(c))) for c in cells.tolist()],
                         dtype=object)
        bounds = shapely.bounds(polys) if len(polys) else np.zeros((0, 4))
        return cls(cells, table["count"].to_numpy(dtype=np.int64), polys, bounds)

    def select(self, bbox: tuple[float, float, float, float]) -> Any:
        """Indexes of the cells whose hexagon meets ``bbox``."""
        b = self.bounds
        return np.flatnonzero((b[:, 2] >= bbox[0]) & (b[:, 0] <= bbox[2])
                              & (b[:, 3] >= bbox[1]) & (b[:, 1] <= bbox[3]))


def _today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def _label_rows(store: Store, bbox: tuple[float, float, float, float], z: int
                ) -> tuple[Any, list[dict[str, Any]]]:
    """Label points: subdistrict names from z10, community names from z13."""
    geoms: list[Any] = []
    props: list[dict[str, Any]] = []
    kind = label_kind(z)
    if kind is not None:
        _, geoms, props = _label_source(store, kind, bbox)
    return geoms, props


def label_kind(z: int) -> str | None:
    """Which admin names label zoom ``z`` (None below z10)."""
    if z < 10:
        return None
    return "subdistrict" if z < 13 else "community"


def _label_source(store: Store, kind: str, bbox: tuple[float, float, float, float] | None
                  ) -> tuple[Any, Any, list[dict[str, Any]]]:
    """(polygons, label points, properties) of the admin units of ``kind`` meeting ``bbox``."""
    df = store.query(kind, bbox=bbox, columns=["id", "name", "code", "short_name"])
    if not len(df):
        return [], [], []
    names = df["short_name"].fillna(df["name"]).tolist()
    polys = np.asarray(df.geometry.values, dtype=object)
    pts = shapely.point_on_surface(polys)
    props = [{"name": _short(n), "code": c, "rank": kind}
             for n, c in zip(names, df["code"].tolist(), strict=True)]
    return polys, pts, props


def _short(name: str) -> str:
    # "黄贝街道办事处" / "…社区居民委员会" → the name a map shows
    for suffix in ("居民委员会", "办事处"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


@dataclass
class Preloaded:
    """Rows of one layer loaded once for many tiles (pack builds): select by envelope."""

    geoms: Any
    props: list[dict[str, Any]]
    tree: Any  # shapely.STRtree over the selection geometries

    @classmethod
    def of(cls, geoms: Any, props: list[dict[str, Any]], select: Any = None) -> Preloaded:
        """Index ``geoms`` (or ``select``, when rows are chosen by other geometries)."""
        g = np.asarray(geoms, dtype=object)
        sel = g if select is None else np.asarray(select, dtype=object)
        return cls(g, props, shapely.STRtree(sel))

    def take(self, bbox: tuple[float, float, float, float]) -> tuple[Any, list[dict[str, Any]]]:
        """Rows whose envelope meets ``bbox``, in store order (as the R-tree query)."""
        idx = np.sort(self.tree.query(shapely.box(*bbox)))
        return self.geoms[idx], [self.props[i] for i in idx.tolist()]


@dataclass
class TileResult:
    """An encoded tile (uncompressed MVT) with its feature and person-row counts."""

    data: bytes
    features: int
    personal_rows: int
    layers: dict[str, int] = field(default_factory=dict)


class TileEngine:
    """Renders MVT tiles of one or several catalog layers (and the basemap composite)."""

    def __init__(self, catalog: Mapping[str, Layer], max_bytes: int = MAX_TILE_BYTES,
                 store_tiles: bool = True) -> None:
        self.catalog = catalog
        self.max_bytes = max_bytes
        #: Let a store that encodes tiles itself (PostGIS: ``ST_AsMVT``) render the
        #: plain entity layers (:class:`ServerLayer`); False keeps every layer in Python.
        self.store_tiles = store_tiles
        self._pre: dict[str, Preloaded] = {}

    # Aggregate tables are shared by every engine of the process (the OGC tile
    # provider builds a small engine per request), keyed by the store's location.
    _agg: ClassVar[dict[tuple[str, str, int, str | None], AggregateTable]] = {}
    _agg_lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def invalidate(cls, kind: str) -> None:
        """Forget the block aggregates of ``kind`` (after a write to the store)."""
        with cls._agg_lock:
            for key in [k for k in cls._agg if k[1] == kind]:
                del cls._agg[key]

    def aggregate(self, store: Store, kind: str, res: int, as_of: str | None) -> AggregateTable:
        """The whole-district aggregate of ``kind`` at ``res`` (built once, then reused)."""
        key = (str(getattr(store, "path", id(store))), kind, res, as_of)
        table = self._agg.get(key)
        if table is None:
            table = AggregateTable.build(store, kind, res, as_of)
            with self._agg_lock:
                if len(self._agg) > 64:
                    self._agg.clear()
                self._agg[key] = table
        return table

    def _aggregate_rows(self, store: Store, kind: str, res: int, as_of: str | None,
                        bbox: tuple[float, float, float, float], suppressed: bool,
                        principal: Principal, extra: dict[str, Any]
                        ) -> tuple[Any, list[dict[str, Any]]]:
        table = self.aggregate(store, kind, res, as_of)
        idx = table.select(bbox)
        props = []
        for c, n in zip(table.cells[idx].tolist(), table.counts[idx].tolist(), strict=True):
            value = suppress(int(n), principal.k) if suppressed else int(n)
            props.append({"cell": cell_to_str(int(c)), "res": res, **extra, "count": value,
                          "suppressed": value is None})
        return table.polygons[idx], props

    # -- layer names ------------------------------------------------------------

    def resolve(self, names: str | Sequence[str], principal: Principal) -> list[str]:
        """Layer ids of a comma-separated list (``basemap`` expands); 404 if not visible."""
        parts = names.split(",") if isinstance(names, str) else list(names)
        out: list[str] = []
        for raw in parts:
            name = raw.strip()
            if not name:
                raise InvalidQuery("empty layer name")
            ids = list(BASEMAP_LAYERS) if name == BASEMAP else [name]
            for lid in ids:
                if lid == "labels":
                    out.append(lid)
                    continue
                layer = self.catalog.get(lid)
                if layer is None or layer.geometry is None or not layer.access.allows(principal):
                    # Hidden and unknown look the same (a 403 would reveal the layer).
                    raise UnknownLayer(f"no layer {lid!r}")
                out.append(lid)
        if len(out) > 20:
            raise InvalidQuery("at most 20 layers per tile")
        return list(dict.fromkeys(out))

    def preload(self, store: Store, names: str, principal: Principal,
                bbox: tuple[float, float, float, float], as_of: str | None = None) -> None:
        """Load the plain entity layers (and labels) of ``names`` in ``bbox`` once.

        Later tiles of this engine select from memory instead of querying the store:
        the same rows in the same order as the per-tile query, many times faster for
        pack builds. Only for short-lived engines (no invalidation).
        """
        basemap = names == BASEMAP
        for lid in self.resolve(names, principal):
            if lid == "labels":
                for kind in ("subdistrict", "community"):
                    polys, pts, props = _label_source(store, kind, bbox)
                    self._pre[f"labels:{kind}"] = Preloaded.of(pts, props, polys)
                continue
            layer = self.catalog[lid]
            if isinstance(layer, EntityLayer) and not is_aggregated(layer):
                fields = BASEMAP_FIELDS.get(lid) if basemap else TILE_FIELDS.get(lid)
                geoms, props = _entity_rows(layer, store, bbox, principal, as_of, fields,
                                            limit=None)
                self._pre[lid] = Preloaded.of(geoms, props)

    def kinds_of(self, layer_ids: Iterable[str]) -> set[str]:
        """Entity kinds a set of layers reads (for cache invalidation)."""
        kinds: set[str] = set()
        for lid in layer_ids:
            if lid == "labels":
                kinds.update(("subdistrict", "community"))
            elif lid in self.catalog:
                kinds.update(self.catalog[lid].kinds)
        return kinds

    # -- rendering --------------------------------------------------------------

    def layer_data(self, layer_id: str, store: Store, tile: Tile, principal: Principal,
                   as_of: str | None = None, basemap: bool = False) -> LayerData:
        """The features of one layer in ``tile`` (tile units, generalised)."""
        z = tile.z
        bbox = tile_bounds_lnglat(tile, BUFFER / EXTENT)
        fields = BASEMAP_FIELDS.get(layer_id) if basemap else TILE_FIELDS.get(layer_id)
        personal = 0
        geoms: Any = []
        props: list[dict[str, Any]] = []
        if layer_id == "labels":
            kind = label_kind(z)
            pre = self._pre.get(f"labels:{kind}")
            if pre is not None:
                geoms, props = pre.take(bbox)
            elif kind is not None:
                geoms, props = _label_rows(store, bbox, z)
            return LayerData(layer_id, to_tile_units(geoms, tile), props, 0)
        layer = self.catalog[layer_id]
        pre = self._pre.get(layer_id)
        if pre is not None:
            if z >= layer.minzoom:
                geoms, props = pre.take(bbox)
            return LayerData(layer_id, to_tile_units(geoms, tile), props, 0)
        if isinstance(layer, EntityLayer) and is_aggregated(layer):
            detail = detail_zoom(layer)
            as_of_k = layer._default_as_of(FeatureQuery(as_of=as_of))
            sup = layer.access.personal and not layer.access.allows(principal)
            points = detail is not None and z >= detail
            if points and store.count(layer.kind, bbox=bbox, as_of=as_of_k) > MAX_POINTS:
                points = False  # too dense for points even at the detail zoom
            if points and self.store_tiles and (server := _server_layer(
                    layer, store, tile, bbox, principal, as_of, fields)) is not None:
                return LayerData(layer_id, [], [], 0, server)
            if points:
                geoms, props = _entity_rows(layer, store, bbox, principal, as_of, fields)
                personal = len(props) if layer.access.personal else 0
            elif z >= AGGREGATE_MINZOOM:
                res = tile_aggregate_res(z) + (1 if detail is not None and z >= detail else 0)
                geoms, props = self._aggregate_rows(store, layer.kind, res, as_of_k, bbox, sup,
                                                    principal, {"aggregate": True})
        elif z < layer.minzoom:
            pass
        elif isinstance(layer, EntityLayer) and (
                self.store_tiles and (server := _server_layer(
                    layer, store, tile, bbox, principal, as_of, fields)) is not None):
            return LayerData(layer_id, [], [], 0, server)
        elif isinstance(layer, EntityLayer):
            geoms, props = _entity_rows(layer, store, bbox, principal, as_of, fields)
            if layer.access.personal:
                personal = len(props)
        elif isinstance(layer, BlockLayer) and layer.kind is not None and layer.res is not None:
            sup = layer._suppress_for(layer.kind, principal)
            geoms, props = self._aggregate_rows(
                store, layer.kind, layer.res, as_of if as_of is not None else _today(), bbox,
                sup, principal, {"kind": layer.kind})
        elif isinstance(layer, BlockLayer):
            page = layer.features(store, FeatureQuery(limit=MAX_FEATURES, bbox=bbox,
                                                      as_of=as_of, count=False), principal)
            geoms = [shapely.Polygon(f["geometry"]["coordinates"][0]) for f in page.features]
            props = [dict(f["properties"]) for f in page.features]
        else:
            geoms, props = _entity_rows(layer, store, bbox, principal, as_of, fields)  # type: ignore[arg-type]
        local = to_tile_units(geoms, tile)
        return LayerData(layer_id, local, props, personal)

    def render(self, names: str | Sequence[str], store: Store, tile: Tile,
               principal: Principal, as_of: str | None = None) -> TileResult:
        """The MVT of one or several layers (comma-separated; ``basemap`` expands)."""
        check_tile(tile)
        basemap = (names == BASEMAP) if isinstance(names, str) else False
        ids = self.resolve(names, principal)
        raw = [self.layer_data(lid, store, tile, principal, as_of, basemap) for lid in ids]
        return self.fit(raw)

    def _encode_mixed(self, raw: list[LayerData], tolerance: float, min_size: float
                      ) -> tuple[bytes, dict[str, int]]:
        return _encode_mixed_layers(raw, tolerance, min_size)

    def fit(self, raw: list[LayerData]) -> TileResult:
        """Generalise and encode, growing the tolerance until the tile fits the size cap.

        Layers the store renders itself (:class:`ServerLayer`) are asked again with
        the same larger tolerance; a tile still too large after that takes the rows
        of those layers too and drops features in Python, as for every other layer.
        """
        if any(r.server is not None for r in raw):
            tolerance, min_size = 1.0, MIN_SIZE_PX
            for _ in range(4):
                data, counts = self._encode_mixed(raw, tolerance, min_size)
                if len(data) <= self.max_bytes:
                    return TileResult(data, sum(counts.values()),
                                      sum(r.personal_rows for r in raw), counts)
                tolerance *= 4
                min_size *= 2
            raw = [r.server.rows() if r.server is not None else r for r in raw]
        tolerance, min_size = 1.0, MIN_SIZE_PX
        for _ in range(4):
            layers = [LayerData(r.name, generalise(r.geoms, tolerance, min_size), r.props,
                                r.personal_rows) for r in raw]
            data = encode_layers(layers)
            if len(data) <= self.max_bytes:
                return _result(data, layers)
            tolerance *= 4
            min_size *= 2
        # Still too large: keep the largest features, halving until it fits.
        keep = 1.0
        base = layers
        while len(data) > self.max_bytes and keep > 1e-4:
            keep /= 2
            layers = [_keep_largest(lyr, keep) for lyr in base]
            data = encode_layers(layers)
        return _result(data, layers)


def _encode_mixed_layers(raw: list[LayerData], tolerance: float, min_size: float
                         ) -> tuple[bytes, dict[str, int]]:
    """Every layer encoded at one generalisation, in order, as one Tile message.

    A Tile is a repeated ``layers`` field (MVT 2.1, spec 4.1), and protobuf writes a
    repeated message field as its elements one after another: the concatenation of
    one-layer tiles is byte for byte the tile of all layers.
    """
    parts: list[bytes] = []
    counts: dict[str, int] = {}
    for r in raw:
        if r.server is not None:
            data, n = r.server.render(tolerance, min_size)
        else:
            lyr = LayerData(r.name, generalise(r.geoms, tolerance, min_size), r.props,
                            r.personal_rows)
            data, n = encode_layers([lyr]), len(lyr)
        parts.append(data)
        counts[r.name] = n
    return b"".join(parts), counts


def _keep_largest(lyr: LayerData, share: float) -> LayerData:
    geoms = np.asarray(lyr.geoms, dtype=object)
    present = ~shapely.is_missing(geoms)
    n = int(present.sum())
    if n == 0:
        return lyr
    size = np.zeros(len(geoms))
    size[present] = shapely.area(geoms[present]) + shapely.length(geoms[present])
    k = max(int(n * share), 0)
    idx = np.flatnonzero(present)
    order = idx[np.argsort(-size[idx], kind="stable")]
    out = geoms.copy()
    out[order[k:]] = None
    return LayerData(lyr.name, out, lyr.props, lyr.personal_rows)


def _result(data: bytes, layers: list[LayerData]) -> TileResult:
    counts = {lyr.name: len(lyr) for lyr in layers}
    return TileResult(data, sum(counts.values()),
                      sum(lyr.personal_rows for lyr in layers), counts)


def render_tile(layer: Layer, store: Store, tile: Tile, principal: Principal,
                as_of: str | None = None) -> tuple[bytes, int]:
    """The MVT of ``layer`` at ``tile`` for ``principal``, and its person-level rows.

    For non-personal layers the second value is the number of features. Used by
    the OGC API Tiles provider, so both paths return the same bytes.
    """
    check_tile(tile)
    engine = TileEngine({layer.id: layer})
    result = engine.render([layer.id], store, tile, principal, as_of)
    return result.data, (result.personal_rows if layer.access.personal else result.features)


def tilejson(engine: TileEngine, names: str, principal: Principal, base_url: str,
             bounds: tuple[float, float, float, float] | None) -> dict[str, Any]:
    """TileJSON 3.0.0 of one or several layers (bounds, centre, zooms, vector_layers)."""
    ids = engine.resolve(names, principal)
    vector_layers = []
    lo, hi = 22, 0
    for lid in ids:
        layer = engine.catalog.get(lid)
        zmin, zmax = tile_zoom_range(lid, layer)
        lo, hi = min(lo, zmin), max(hi, zmax)
        vector_layers.append({"id": lid, "fields": layer_fields(lid, layer, names == BASEMAP),
                              "minzoom": zmin, "maxzoom": zmax,
                              "description": layer.title if layer else "place labels"})
    b = bounds or (113.9, 22.5, 114.3, 22.7)
    centre = [round((b[0] + b[2]) / 2, 6), round((b[1] + b[3]) / 2, 6), max(lo, 12)]
    return {
        "tilejson": "3.0.0", "name": names, "scheme": "xyz", "format": "pbf",
        "tiles": [f"{base_url.rstrip('/')}/tiles/{names}/{{z}}/{{x}}/{{y}}.mvt"],
        "minzoom": lo, "maxzoom": hi, "bounds": [round(v, 6) for v in b], "center": centre,
        "vector_layers": vector_layers,
        "attribution": "OneMap demo data (synthetic; district outline and names real)",
    }


_FIELD_TYPES = {"string": "String", "integer": "Number", "number": "Number",
                "boolean": "Boolean"}


def layer_fields(lid: str, layer: Layer | None, basemap: bool = False) -> dict[str, str]:
    """TileJSON ``fields`` of a layer: name → String/Number/Boolean."""
    if layer is None:
        return {"name": "String", "code": "String", "rank": "String"}
    fields = {"id": "String"}
    keep = BASEMAP_FIELDS.get(lid) if basemap else TILE_FIELDS.get(lid)
    for name, t in layer.property_types().items():
        if keep is not None and name not in keep:
            continue
        fields[name] = _FIELD_TYPES.get(t.get("type", "string"), "String")
    if is_aggregated(layer):
        fields.update({"cell": "String", "res": "Number", "count": "Number",
                       "suppressed": "Boolean", "aggregate": "Boolean"})
    if layer.geometry is GeomType.POINT and basemap:
        fields.pop("id", None)
    return fields

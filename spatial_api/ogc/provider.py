"""pygeoapi provider plugins of OneMap: every read goes to a catalog layer and the core Store.

pygeoapi creates a provider per request (in a worker thread) from its
configuration only; the store, catalog, audit log and the caller's principal
come from :mod:`spatial_api.ogc.context`. Core errors become pygeoapi's
``Provider*Error`` classes so that clients get a 400/404 OGC exception body,
never a bare 500.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from pygeoapi.provider.base import (
    BaseProvider,
    ProviderConnectionError,
    ProviderInvalidQueryError,
    ProviderItemNotFoundError,
    ProviderQueryError,
)
from pygeoapi.provider.mvt_proxy import MVTProxyProvider
from pyproj import CRS

from gis.errors import CoreError, EntityNotFound, InvalidQuery, StoreUnavailable
from gis.filters import normalise
from gis.timeaxis import parse_as_of
from layers.access import Principal
from layers.catalog import FeatureQuery, Layer, default_catalog
from spatial_api.ogc.context import JSON_BODY, RequestContext, current

#: Query parameters that are not properties but reach the provider anyway.
_IGNORED = {"api_key"}


@lru_cache(maxsize=1)
def _fallback_catalog() -> dict[str, Layer]:
    return default_catalog()


@contextmanager
def core_errors() -> Iterator[None]:
    """Translate core exceptions into pygeoapi provider errors (safe messages)."""
    try:
        yield
    except EntityNotFound as exc:
        raise ProviderItemNotFoundError(user_msg=exc.message) from None
    except InvalidQuery as exc:
        raise ProviderInvalidQueryError(user_msg=exc.message) from None
    except StoreUnavailable:
        raise ProviderConnectionError(user_msg="the store is not available") from None
    except CoreError as exc:
        raise ProviderQueryError(user_msg=exc.message) from None


@lru_cache(maxsize=16)
def _crs_string(wkt: str) -> str:
    return CRS.from_wkt(wkt).to_wkt()


class OneMapProvider(BaseProvider):  # type: ignore[misc]
    """Features of one catalog layer (``data`` = layer id)."""

    def __init__(self, provider_def: dict[str, Any]) -> None:
        super().__init__(provider_def)
        self.ctx: RequestContext | None = current()
        catalog = self.ctx.runtime.catalog if self.ctx else _fallback_catalog()
        self.layer: Layer = catalog[str(self.data)]
        self.principal: Principal = self.ctx.principal if self.ctx else Principal()
        self.id_field = "id"
        self._fields = self.get_fields()

    def get_fields(self) -> dict[str, Any]:
        """Queryable properties for this principal (masked fields are not queryable)."""
        types = self.layer.property_types()
        out: dict[str, Any] = {}
        for name in self.layer.queryables(self.principal):
            t = dict(types.get(name, {"type": "string"}))
            t.pop("description", None)
            out[name] = t
        return out

    def get_schema(self, schema_type: Any = None) -> tuple[str, dict[str, Any]]:
        """JSON schema of the layer's features."""
        props = {k: {kk: vv for kk, vv in v.items() if kk != "description"}
                 for k, v in self.layer.property_types().items()}
        return "application/geo+json", {
            "$schema": "http://json-schema.org/draft/2019-09/schema",
            "type": "object", "title": self.layer.title, "properties": props}

    # -- reads --------------------------------------------------------------

    def _runtime_ctx(self) -> RequestContext:
        if self.ctx is None:
            raise ProviderConnectionError(user_msg="the service is not ready")
        return self.ctx

    def query(self, offset: int = 0, limit: int = 10, resulttype: str = "results",
              bbox: list[float] | None = None, datetime_: str | None = None,
              properties: list[tuple[str, str]] | None = None,
              sortby: list[dict[str, str]] | None = None,
              select_properties: list[str] | None = None, skip_geometry: bool = False,
              crs_transform_spec: Any = None, q: str | None = None,
              filterq: Any = None, **kwargs: Any) -> dict[str, Any]:
        """Items of the layer (OGC API Features Part 1-3), executed in the store."""
        ctx = self._runtime_ctx()
        with core_errors():
            if q:
                raise InvalidQuery("free-text search (q) is not supported")
            names = {p.name for p in self.layer.parameters}
            where: dict[str, Any] = {}
            params: dict[str, Any] = {}
            for key, value in properties or []:
                if key in _IGNORED:
                    continue
                if key in names:
                    params[key] = value
                elif key in self.fields:
                    where[key] = value
                else:
                    raise InvalidQuery(f"unknown query parameter {key!r}")
            if datetime_:
                parse_as_of(datetime_)  # a malformed datetime is a 400
            fq = FeatureQuery(
                limit=0 if resulttype == "hits" else int(limit),
                offset=int(offset),
                bbox=tuple(bbox) if bbox else None,  # type: ignore[arg-type]
                as_of=datetime_ or None,
                where=where,
                filter=_normalise_tree(filterq) if filterq is not None else None,
                sortby=[("-" if s.get("order") == "-" else "") + s["property"]
                        for s in (sortby or [])],
                properties=list(select_properties) if select_properties else None,
                skip_geometry=bool(skip_geometry),
                target_crs=(_crs_string(crs_transform_spec.target_crs_wkt)
                            if crs_transform_spec is not None else None),
                params=params,
                geometry_text=JSON_BODY.get(),
            )
            page = self.layer.features(ctx.runtime.require_store(), fq, ctx.principal)
        if self.layer.access.personal:
            ctx.runtime.audit.record(ctx.principal, self.layer.id, "items",
                                     page.personal_rows, _audit_params(fq))
        return {"type": "FeatureCollection", "features": page.features,
                "numberMatched": page.number_matched,
                "numberReturned": len(page.features)}

    def get(self, identifier: str, **kwargs: Any) -> dict[str, Any]:
        """One feature by id."""
        ctx = self._runtime_ctx()
        spec = kwargs.get("crs_transform_spec")
        with core_errors():
            feat, rows = self.layer.feature(
                ctx.runtime.require_store(), str(identifier), ctx.principal,
                _crs_string(spec.target_crs_wkt) if spec is not None else None)
        if self.layer.access.personal:
            ctx.runtime.audit.record(ctx.principal, self.layer.id, "item", rows,
                                     {"id": identifier})
        return feat


def _normalise_tree(node: Any) -> Any:
    from pygeofilter import ast, values

    node = normalise(node)
    if isinstance(node, ast.Node):
        for name, val in list(vars(node).items()):
            if isinstance(val, list):
                setattr(node, name, [_normalise_tree(v) for v in val])
            else:
                setattr(node, name, _normalise_tree(val))
    elif isinstance(node, values.Interval):
        return values.Interval(_normalise_tree(node.start), _normalise_tree(node.end))
    return node


def _audit_params(fq: FeatureQuery) -> dict[str, Any]:
    out: dict[str, Any] = {"limit": fq.limit, "offset": fq.offset}
    if fq.bbox:
        out["bbox"] = ",".join(str(v) for v in fq.bbox)
    if fq.as_of:
        out["datetime"] = fq.as_of
    if fq.where:
        out.update({f"where.{k}": v for k, v in fq.where.items()})
    if fq.filter is not None:
        out["filter"] = repr(fq.filter)
    return out


class OneMapTileProvider(MVTProxyProvider):  # type: ignore[misc]
    """OGC API Tiles (WebMercatorQuad MVT) of one catalog layer, from ``tiles.engine``.

    pygeoapi's MVT proxy provider supplies the tile-set metadata; only the tile
    itself is produced here. ``data`` is ``onemap://{layer}/{z}/{x}/{y}``-like
    (an http-style template the proxy provider accepts); nothing is fetched.
    """

    def __init__(self, provider_def: dict[str, Any]) -> None:
        super().__init__(provider_def)
        self.ctx: RequestContext | None = current()
        catalog = self.ctx.runtime.catalog if self.ctx else _fallback_catalog()
        self.layer: Layer = catalog[self.get_layer()]

    def get_tiles(self, layer: Any = None, tileset: Any = None, z: Any = None, y: Any = None,
                  x: Any = None, format_: Any = None) -> bytes:
        """The MVT bytes of tile z/y/x (row y, column x)."""
        from pygeoapi.provider.tile import ProviderTileNotFoundError

        from tiles.engine import Tile, TileOutsideBounds, render_tile

        if tileset != "WebMercatorQuad":
            raise ProviderTileNotFoundError(user_msg="only WebMercatorQuad is served")
        ctx = self.ctx
        if ctx is None:
            raise ProviderConnectionError(user_msg="the service is not ready")
        try:
            tile = Tile(int(x), int(y), int(z))
        except (TypeError, ValueError):
            raise ProviderInvalidQueryError(user_msg="tile indexes must be integers") from None
        try:
            data, n = render_tile(self.layer, ctx.runtime.require_store(), tile, ctx.principal)
        except TileOutsideBounds as exc:
            raise ProviderTileNotFoundError(user_msg=exc.message) from None
        except CoreError:
            with core_errors():
                raise
        if self.layer.access.personal:
            ctx.runtime.audit.record(ctx.principal, self.layer.id, "tile", n,
                                     {"tile": f"{tile.z}/{tile.x}/{tile.y}"})
        return data

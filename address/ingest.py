"""Geocoding at ingest: rows that carry only an address text get a point.

``onemap ingest`` calls :func:`resolve_frame` before writing a frame: every row
with a null geometry and a non-empty address text (``address_text``, or
``address`` for kinds without it) is geocoded; a match at a point-like level
(room to road) with a score of at least ``min_score`` gives the row its point
and ``address_id`` and ``geocode_status = "resolved"``; other rows keep a null
geometry and get ``geocode_status = "unresolved"`` (only kinds whose geometry
may be null, such as events, can then be stored).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.model import schema

if TYPE_CHECKING:
    from address.service import AddressAnswers

#: Levels precise enough to place an entity.
POINT_LEVELS = ("room", "house", "building", "house_number", "poi", "road")
#: Status values written to ``geocode_status``.
RESOLVED, UNRESOLVED = "resolved", "unresolved"


def resolve_frame(kind: str, frame: pd.DataFrame, service: AddressAnswers, *,
                  min_score: float = 0.5) -> gpd.GeoDataFrame:
    """A copy of ``frame`` with geometry, ``address_id`` and ``geocode_status`` filled
    for the rows that had no geometry but an address text (see the module docstring).

    Rows that already have a geometry are left as they are. Raises
    :class:`gis.errors.UnknownKind` for an unknown kind.
    """
    sch = schema(kind)
    text_col = "address_text" if "address_text" in frame.columns else (
        "address" if "address" in frame.columns else None)
    out = gpd.GeoDataFrame(frame.copy()) if "geometry" in frame.columns else gpd.GeoDataFrame(
        frame.copy(), geometry=gpd.GeoSeries([None] * len(frame), index=frame.index,
                                             crs="EPSG:4326"))
    if out.crs is None:
        out = out.set_crs("EPSG:4326", allow_override=True)
    if text_col is None or len(out) == 0:
        return out
    geoms = np.asarray(out.geometry.values, dtype=object)
    missing = np.asarray(shapely.is_missing(geoms) | shapely.is_empty(geoms), dtype=bool)
    texts = out[text_col].to_numpy(dtype=object)
    todo = [i for i in np.flatnonzero(missing)
            if isinstance(texts[i], str) and texts[i].strip()]
    if not todo:
        return out
    has_status = "geocode_status" in sch.column_names
    if has_status and "geocode_status" not in out.columns:
        out["geocode_status"] = None
    if "address_id" not in out.columns:
        out["address_id"] = None
    status = out["geocode_status"].to_numpy(dtype=object).copy() if has_status else None
    aid = out["address_id"].to_numpy(dtype=object).copy()
    new_geoms = geoms.copy()
    for i in todo:
        cand = service.best(texts[i])
        ok = cand is not None and cand.level in POINT_LEVELS and cand.score >= min_score
        if ok and cand is not None:
            new_geoms[i] = shapely.Point(cand.lon, cand.lat)
            if aid[i] is None or (isinstance(aid[i], float) and np.isnan(aid[i])):
                aid[i] = cand.address_id
        if status is not None:
            status[i] = RESOLVED if ok else UNRESOLVED
    out["address_id"] = aid
    if status is not None:
        out["geocode_status"] = status
    out = out.set_geometry(gpd.GeoSeries(new_geoms, index=out.index, crs="EPSG:4326"))
    return out

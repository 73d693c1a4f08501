"""Stores: the ``Store`` protocol and its backends.

``open_store`` picks the backend: PostGIS when ``ONEMAP_DB_URL`` (or ``url``)
is a ``postgresql://`` URL, else the GeoPackage file in the data directory.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from gis.errors import StoreUnavailable
from gis.model import KIND_ORDER, SCHEMAS
from gis.settings import CoreSettings, DbSettings
from gis.store.base import IngestReport, Store, StoreStats
from gis.store.gpkg import GeoPackageStore

__all__ = ["GeoPackageStore", "IngestReport", "Store", "StoreStats", "content_hash",
           "open_store"]


def open_store(core: CoreSettings | None = None, db: DbSettings | None = None,
               *, url: str | None = None) -> Store:
    """Open the configured store (GeoPackage by default)."""
    core = core or CoreSettings()
    db = db or DbSettings()
    target = url if url is not None else db.url
    if target.startswith(("postgresql://", "postgres://")):
        from gis.store.postgis import PostGISStore

        return PostGISStore(target)
    if target.startswith("gpkg:"):
        return GeoPackageStore(Path(target[5:]))
    if target:
        raise StoreUnavailable("ONEMAP_DB_URL must be a postgresql:// or gpkg: URL")
    return GeoPackageStore(core.store_path)


def content_hash(store: Store) -> str:
    """SHA-256 of every entity row (all kinds, in id order, without storage ids).

    Two stores with the same content have the same hash whatever their backend or
    physical row order; build times and other metadata are not included.
    """
    h = hashlib.sha256()
    for kind in KIND_ORDER:
        sch = SCHEMAS[kind]
        order = ["id"] if "id" in sch.column_names else list(sch.column_names[:2])
        if sch.versioned and sch.start_col:
            order.append(sch.start_col)
        offset = 0
        page = 200_000
        h.update(kind.encode())
        while True:
            df = store.query(kind, order_by=order, limit=page, offset=offset)
            if df.empty:
                break
            df = df.drop(columns=["fid"])
            if "geometry" in df.columns:
                wkb = shapely.to_wkb(np.asarray(df.geometry.values), hex=True)
                df = pd.DataFrame(df.drop(columns="geometry")).assign(geometry=wkb)
            h.update(df.to_csv(index=False, header=offset == 0, float_format="%.9g").encode())
            offset += page
    return h.hexdigest()

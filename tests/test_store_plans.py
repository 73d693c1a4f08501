"""Both query plans of a paged bbox query give the same page."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from gis.store.gpkg import GeoPackageStore


def test_dense_and_sparse_bbox_plans_agree(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    n = 3000
    store = GeoPackageStore(tmp_path / "p.gpkg", create=True)
    store.ingest("enterprise", gpd.GeoDataFrame(
        {"id": [f"E{i}" for i in range(n)], "name": ["x"] * n, "industry": ["I"] * n,
         "valid_from": ["2020-01-01"] * n},
        geometry=gpd.GeoSeries(shapely.points(rng.uniform(114.0, 114.2, n),
                                              rng.uniform(22.5, 22.6, n)), crs=4326)))
    for box in [(113.9, 22.4, 114.3, 22.7),      # the whole layer: scanned in fid order
                (114.0, 22.5, 114.15, 22.58),    # most of it
                (114.05, 22.52, 114.06, 22.53)]:  # a small box: R-tree search first
        everything = store.query("enterprise", bbox=box, columns=["id"])["id"].tolist()
        for offset, limit in ((0, 10), (7, 25), (len(everything) - 3, 10)):
            page = store.query("enterprise", bbox=box, columns=["id"], limit=limit,
                               offset=max(offset, 0))["id"].tolist()
            assert page == everything[max(offset, 0):max(offset, 0) + limit]
    store.close()

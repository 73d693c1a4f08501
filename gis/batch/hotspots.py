"""Event hot spots (Getis-Ord Gi*) over H3 cells from the event partitions, on Dask.

The same analysis as :func:`gis.cases.spatial.hotspots` (which reads one store):
every cell at ``res`` whose centre is inside the districts is a unit (cells without
events count 0), an event counts in the cell of its representative point (as at
ingest, :func:`gis.ingest.representative_lnglat`), neighbours share an edge
(``grid_ring(cell, 1)``), weights are binary and Gi* includes the cell itself
(PySAL ``esda.G_Local(star=True)`` through :func:`gis.cases.spatial.gi_star`).

What runs where: the event partitions are filtered and counted per cell on the
workers (``dask_geopandas.read_parquet`` + ``map_partitions``), each district's
cells are listed on the workers too; the Gi* statistic itself needs every cell's
neighbourhood at once and runs on the client over the per-cell counts (one row a
cell: ~20,000 cells for the whole city at res 9).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.batch.partitions import list_partitions, read_partition

_META = {"cell": np.int64, "count": np.int64}


def event_counts(frame: pd.DataFrame, res: int, category: str | None, start: str | None,
                 end: str | None) -> pd.DataFrame:
    """Events per H3 cell at ``res`` of one partition (runs on a Dask worker).

    The filters are the store query's (:func:`gis.cases.spatial._cell_counts`):
    ``category =``, ``occurred_at >= start`` and ``occurred_at < end`` on ISO text.
    """
    from gis.h3cells import cell_parent, lnglat_to_cells
    from gis.ingest import representative_lnglat

    keep = np.ones(len(frame), dtype=bool)
    if category is not None:
        keep &= (frame["category"] == category).to_numpy()
    t = frame["occurred_at"].astype(str)
    if start is not None:
        keep &= (t >= start).to_numpy()
    if end is not None:
        keep &= (t < end).to_numpy()
    frame = frame.loc[keep]
    if frame.empty:
        return pd.DataFrame({k: pd.Series(dtype=v) for k, v in _META.items()})
    lng, lat = representative_lnglat(np.asarray(frame.geometry.to_numpy()))
    cells = lnglat_to_cells(lng, lat)
    cells = cell_parent(cells[cells != 0], res)
    u, n = np.unique(cells, return_counts=True)
    return pd.DataFrame({"cell": u.astype(np.int64), "count": n.astype(np.int64)})


def district_cells(path: str, res: int) -> list[int]:
    """Cells at ``res`` whose centre is inside the district partition at ``path``
    (the rule of :func:`gis.cases.spatial.district_cells`)."""
    import h3

    d = read_partition(Path(path))
    geom = shapely.union_all(np.asarray(d.geometry.values, dtype=object))
    shape = h3.geo_to_h3shape(shapely.geometry.mapping(geom))
    return sorted(h3.str_to_int(c) for c in h3.h3shape_to_cells(shape, res))


def hotspots(root: Path, res: int = 9, *, category: str | None = None,
             start: str | None = None, end: str | None = None, alpha: float = 0.05,
             districts: list[str] | None = None, client: Any = None) -> gpd.GeoDataFrame:
    """Gi* hot and cold spots of the events under ``root`` (of ``districts``) at ``res``.

    One row a cell: ``cell`` (hex), ``count``, ``z``, ``p``, ``class`` (hot, cold,
    none), ``res`` and the hexagon; cells sorted. Raises
    :class:`gis.cases.errors.DispatchInputError` on bad arguments, like the store path.
    """
    import dask
    import dask_geopandas
    import h3

    from gis.cases.errors import DispatchInputError
    from gis.cases.spatial import Period, _check_category, gi_star

    if not 7 <= res <= 10:
        raise DispatchInputError("res must be 7-10")
    if not 0 < alpha < 0.5:
        raise DispatchInputError("alpha must be in (0, 0.5)")
    _check_category(category)
    period = Period.parse(start, end)
    events = list_partitions(root, "event", districts)
    outlines = list_partitions(root, "district", districts)
    if not events or not outlines:
        raise DispatchInputError(f"no event or district partitions under {root}")
    ddf = dask_geopandas.read_parquet([str(p) for p in events])
    counts = ddf.map_partitions(event_counts, res, category, period.start, period.end,
                                meta=_META)
    cell_lists = [dask.delayed(district_cells)(str(p), res) for p in outlines]
    if client is not None:
        partial, lists = client.compute([counts, cell_lists], sync=True)
    else:
        partial, lists = dask.compute(counts, cell_lists)
    cells = sorted(set().union(*lists))
    index = {c: i for i, c in enumerate(cells)}
    values = np.zeros(len(cells))
    totals = partial.groupby("cell")["count"].sum()
    for c, k in totals.items():
        i = index.get(int(c))
        if i is not None:  # events just outside the districts' cells are left out
            values[i] += k
    neighbours = {i: [index[n] for n in (h3.str_to_int(x)
                                         for x in h3.grid_ring(h3.int_to_str(c), 1))
                      if n in index] for i, c in enumerate(cells)}
    if values.sum() > 0:
        z, p = gi_star(values, neighbours)
    else:
        z = p = np.full(len(cells), np.nan)
    sig = np.isfinite(p) & (p < alpha)
    cls = np.where(sig, np.where(z > 0, "hot", "cold"), "none")
    rings = [[(lng, lat) for lat, lng in h3.cell_to_boundary(h3.int_to_str(c))]
             for c in cells]
    return gpd.GeoDataFrame({
        "cell": [format(c, "x") for c in cells], "count": values.astype(np.int64),
        "z": z, "p": p, "class": cls, "res": res},
        geometry=shapely.polygons(rings) if rings else np.array([], dtype=object),
        crs="EPSG:4326")


def write_hotspots(frame: gpd.GeoDataFrame, path: Path) -> Path:
    """Write the hot spot cells as GeoParquet, atomically (temporary name, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)
    return path

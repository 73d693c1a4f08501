"""Block aggregates over GeoParquet city partitions, on Dask (dask-geopandas).

The same rules as the stores' :meth:`gis.store.base.Store.block_aggregate`:
each entity's cell is the H3 cell of its representative point (as at ingest,
:func:`gis.ingest.representative_lnglat`), taken up to ``res``; ``as_of``
selects the rows valid at the instant or overlapping the interval
(:class:`gis.timeaxis.TimeFilter`); ``age_band`` is ``min(age // 10, 8) * 10``
with the age at the filter's year (:data:`gis.model.AGE_BAND_SQL`). Each
partition is reduced on its worker; the partial counts are summed per cell
(a cell may straddle two districts).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.batch.partitions import list_partitions
from gis.errors import InvalidQuery
from gis.h3cells import AGGREGATE_RES, cell_parent, lnglat_to_cells
from gis.ingest import representative_lnglat
from gis.model import SCHEMAS
from gis.timeaxis import TimeFilter, parse_as_of

_META = {"cell": np.int64, "grp": object, "count": np.int64}


def _valid_mask(frame: pd.DataFrame, kind: str, tf: TimeFilter | None) -> np.ndarray:
    """Rows selected by ``tf`` (same predicate as :meth:`TimeFilter.sql`)."""
    sch = SCHEMAS[kind]
    n = len(frame)
    if tf is None or sch.start_col is None:
        return np.ones(n, dtype=bool)
    s = frame[sch.start_col].astype(str).to_numpy()
    e_raw = frame[sch.end_col] if sch.end_col in frame else pd.Series([None] * n)
    e_null = e_raw.isna().to_numpy()
    e = e_raw.fillna("").astype(str).to_numpy()
    if tf.is_instant:
        t = tf.start or ""
        return (s <= t) & (e_null | (e > t))
    ok = np.ones(n, dtype=bool)
    if sch.instantaneous:
        if tf.start is not None:
            ok &= s >= tf.start
        if tf.end is not None:
            ok &= s <= (tf.end + "T23:59:59Z" if len(tf.end) == 10 else tf.end)
    else:
        if tf.end is not None:
            ok &= s <= tf.end
        if tf.start is not None:
            ok &= e_null | (e > tf.start)
    return ok


def partition_counts(frame: pd.DataFrame, kind: str, res: int, as_of: str | None,
                     by: str | None) -> pd.DataFrame:
    """Counts per (cell, group) of one partition (runs on a Dask worker)."""
    tf = parse_as_of(as_of)
    frame = frame.loc[_valid_mask(frame, kind, tf)]
    if frame.empty:
        return pd.DataFrame({k: pd.Series(dtype=v) for k, v in _META.items()})
    lng, lat = representative_lnglat(np.asarray(frame.geometry.to_numpy()))
    cells = lnglat_to_cells(lng, lat)
    keep = cells != 0
    cells = cell_parent(cells[keep], res)
    if by is None:
        grp = np.full(len(cells), "", dtype=object)
    elif by == "age_band":
        year = tf.year if tf is not None else datetime.now(UTC).year
        born = frame["birth_date"].astype(str).str[:4].astype(int).to_numpy()[keep]
        age = year - born
        grp = (np.minimum(np.trunc(age / 10).astype(np.int64), 8) * 10).astype(object)
    else:
        grp = frame[by].to_numpy()[keep].astype(object)
    out = pd.DataFrame({"cell": cells, "grp": grp, "count": 1})
    return out.groupby(["cell", "grp"], sort=False, dropna=False)["count"].sum().reset_index()


def _compute(collection: Any, client: Any) -> pd.DataFrame:
    """Compute on ``client`` when given, else on Dask's current default scheduler."""
    if client is not None:
        return client.compute(collection).result()
    return collection.compute()


def block_aggregate(root: Path, kind: str, res: int, *, as_of: str | None = None,
                    by: str | None = None, districts: list[str] | None = None,
                    client: object | None = None) -> pd.DataFrame:
    """Counts per H3 cell at ``res`` (and per ``by``) over the partitions under ``root``.

    Columns ``cell``, [``by``], ``count``, sorted like the stores' answer. Runs on the
    current Dask client (``client`` or the default scheduler).
    """
    import dask_geopandas

    sch = SCHEMAS.get(kind)
    if sch is None or sch.geometry is None:
        raise InvalidQuery(f"kind {kind!r} has no geometry")
    if res not in AGGREGATE_RES:
        raise InvalidQuery(f"resolution must be {AGGREGATE_RES.start}-{AGGREGATE_RES.stop - 1}")
    if by is not None and by != "age_band" and by not in sch.column_names:
        raise InvalidQuery(f"cannot group {kind!r} by {by!r}")
    parse_as_of(as_of)  # a bad value fails here, before any task runs
    paths = list_partitions(root, kind, districts)
    if not paths:
        raise InvalidQuery(f"no partitions of {kind!r} under {root}")
    ddf = dask_geopandas.read_parquet([str(p) for p in paths])
    parts = ddf.map_partitions(partition_counts, kind, res, as_of, by, meta=_META)
    partial = _compute(parts, client)
    out = (partial.groupby(["cell", "grp"], sort=True)["count"].sum().reset_index())
    out["count"] = out["count"].astype(np.int64)
    if by is None:
        return out.drop(columns="grp").reset_index(drop=True)
    return out.rename(columns={"grp": by}).reset_index(drop=True)


def write_blocks(table: pd.DataFrame, path: Path, res: int,
                 by: str | None = None) -> Path:
    """Write an aggregate table as GeoParquet (one hexagon per row), atomically."""
    import h3.api.basic_int as h3i

    rings = [[(lng, lat) for lat, lng in h3i.cell_to_boundary(int(c))] for c in table["cell"]]
    geoms = shapely.polygons(rings) if rings else np.array([], dtype=object)
    gdf = gpd.GeoDataFrame(table.assign(res=res), geometry=geoms, crs="EPSG:4326")
    gdf["cell"] = [format(int(c), "x") for c in table["cell"]]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    gdf.to_parquet(tmp, index=False)
    tmp.replace(path)
    return path


def _admin_partition(frame: pd.DataFrame, kind: str, col: str,
                     as_of: str | None) -> pd.DataFrame:
    frame = frame.loc[_valid_mask(frame, kind, parse_as_of(as_of))]
    out = frame.groupby(col, sort=False, dropna=False).size().reset_index(name="count")
    return out.rename(columns={col: "code"}).astype({"code": object, "count": np.int64})


def admin_counts(root: Path, kind: str, level: str, *, as_of: str | None = None,
                 districts: list[str] | None = None, client: object | None = None
                 ) -> pd.DataFrame:
    """Counts per ``subdistrict`` or ``community`` code over the partitions (columns
    ``code``, ``count``, by code), as :meth:`gis.store.base.Store.admin_counts`."""
    import dask.dataframe as dd

    sch = SCHEMAS.get(kind)
    if sch is None:
        raise InvalidQuery(f"unknown kind {kind!r}")
    if level not in ("subdistrict", "community"):
        raise InvalidQuery("level must be 'subdistrict' or 'community'")
    col = f"{level}_code"
    if col not in sch.column_names:
        raise InvalidQuery(f"kind {kind!r} has no admin codes")
    parse_as_of(as_of)
    paths = list_partitions(root, kind, districts)
    if not paths:
        raise InvalidQuery(f"no partitions of {kind!r} under {root}")
    cols = [col, *(c for c in (sch.start_col, sch.end_col) if c)]
    ddf = dd.read_parquet([str(p) for p in paths], columns=cols)
    meta = {"code": object, "count": np.int64}
    partial = _compute(ddf.map_partitions(_admin_partition, kind, col, as_of, meta=meta),
                       client)
    out = partial.groupby("code", sort=True, dropna=False)["count"].sum().reset_index()
    out["count"] = out["count"].astype(np.int64)
    return out

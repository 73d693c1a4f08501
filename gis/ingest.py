"""Backend-independent ingest: validate a frame against the model and derive H3 and admin codes.

Everything here is vectorised (numpy, pandas, shapely 2): no Python code runs
per row, so a million persons validate in a few seconds. The first offending
row is reported by its 0-based position in the input with the reason; nothing is
written by this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from gis.errors import IngestError
from gis.h3cells import BLOCK_RES, cell_parent, lnglat_to_cells
from gis.model import ColType, GeomType, KindSchema, schema

_GEOM_TYPES: dict[GeomType, tuple[str, ...]] = {
    GeomType.POINT: ("Point",),
    GeomType.LINESTRING: ("LineString",),
    GeomType.POLYGON: ("Polygon",),
    GeomType.MULTIPOLYGON: ("MultiPolygon", "Polygon"),
    GeomType.GEOMETRY: (
        "Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon",
    ),
}

DERIVED = ("h3", "block")


@dataclass
class Prepared:
    """A validated frame, ready for a backend to write.

    ``columns`` maps each schema column to a Python list (``None`` for nulls);
    ``geometry`` is a shapely array (None entries allowed only where the kind
    allows null geometry) and ``bounds`` its (n, 4) envelope array.
    """

    schema: KindSchema
    n: int
    columns: dict[str, list[Any]]
    geometry: npt.NDArray[np.object_] | None
    bounds: npt.NDArray[np.float64] | None


def _first(mask: npt.NDArray[np.bool_]) -> int:
    return int(np.flatnonzero(mask)[0])


def _as_list(values: pd.Series | npt.NDArray[Any], null: npt.NDArray[np.bool_]) -> list[Any]:
    arr = np.asarray(values, dtype=object)
    if null.any():
        arr = arr.copy()
        arr[null] = None
    return arr.tolist()


def _coerce(col: str, ctype: ColType, series: pd.Series) -> list[Any]:
    """Check and convert one column; raise IngestError at the first bad value."""
    null = series.isna().to_numpy()
    if ctype is ColType.TEXT:
        text = series.astype(object)
        out = _as_list(text.map(str, na_action="ignore"), null)
        return out
    if ctype in (ColType.INTEGER, ColType.REAL):
        num = pd.to_numeric(series, errors="coerce")
        bad = num.isna().to_numpy() & ~null
        if bad.any():
            i = _first(bad)
            raise IngestError(f"not a number: {series.iloc[i]!r}", row=i, column=col)
        vals = num.to_numpy(dtype=np.float64, na_value=np.nan)
        if not np.isfinite(vals[~null]).all():
            i = _first(~null & ~np.isfinite(vals))
            raise IngestError(f"not a finite number: {series.iloc[i]!r}", row=i, column=col)
        if ctype is ColType.INTEGER:
            frac = ~null & (np.round(vals) != vals)
            if frac.any():
                i = _first(frac)
                raise IngestError(f"not an integer: {series.iloc[i]!r}", row=i, column=col)
            ints = np.where(null, 0, vals).astype(np.int64)
            return _as_list(ints, null)
        return _as_list(vals, null)
    if ctype is ColType.DATE:
        parsed = pd.to_datetime(series, format="%Y-%m-%d", errors="coerce")
        bad = parsed.isna().to_numpy() & ~null
        if bad.any():
            i = _first(bad)
            raise IngestError(f"not a date (YYYY-MM-DD): {series.iloc[i]!r}", row=i, column=col)
        return _as_list(_iso(parsed, "D"), null)
    # DATETIME: any ISO 8601 instant; naive values are taken as UTC.
    parsed = pd.to_datetime(series, format="ISO8601", errors="coerce", utc=True)
    bad = parsed.isna().to_numpy() & ~null
    if bad.any():
        i = _first(bad)
        raise IngestError(f"not an ISO 8601 date-time: {series.iloc[i]!r}", row=i, column=col)
    return _as_list(_iso(parsed.dt.tz_localize(None), "s", "Z"), null)


def _iso(parsed: pd.Series, unit: str, suffix: str = "") -> npt.NDArray[np.str_]:
    """ISO text of datetimes at ``unit`` precision (NaT → "NaT", masked by the caller).

    numpy's formatter rather than ``Series.dt.strftime``: with pyproj 3.7 imported
    before pandas 3.1, pandas' strftime crashes the interpreter (segmentation fault).
    """
    values = parsed.to_numpy(dtype=f"datetime64[{unit}]")
    text = np.datetime_as_string(values, unit=unit)  # type: ignore[call-overload]
    return np.char.add(text, suffix) if suffix else text


def _geometry(sch: KindSchema, frame: pd.DataFrame) -> npt.NDArray[np.object_]:
    if "geometry" not in frame.columns:
        raise IngestError("a geometry column is required for kind " + repr(sch.kind))
    gs = frame["geometry"]
    if isinstance(gs, gpd.GeoSeries):
        if gs.crs is not None and not gs.crs.equals("EPSG:4326") and not gs.crs.equals("OGC:CRS84"):
            gs = gs.to_crs("EPSG:4326")
        geoms = np.asarray(gs.values, dtype=object)
    else:
        raw = gs.to_numpy(dtype=object)
        if len(raw) and isinstance(raw[0], str):
            try:
                geoms = shapely.from_wkt(raw, on_invalid="raise")
            except shapely.errors.GEOSException as exc:
                raise IngestError(f"unreadable WKT geometry: {exc}", column="geometry") from None
        else:
            geoms = raw
    is_geom = np.array([g is None or isinstance(g, shapely.Geometry) for g in geoms[:1]])
    if len(geoms) and not is_geom.all():
        raise IngestError("geometry column does not hold geometries", column="geometry")
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any() and not sch.geometry_nullable:
        raise IngestError("missing or empty geometry", row=_first(missing), column="geometry")
    present = ~missing
    type_names = shapely.get_type_id(geoms)
    allowed = {
        "Point": 0, "LineString": 1, "Polygon": 3, "MultiPoint": 4, "MultiLineString": 5,
        "MultiPolygon": 6,
    }
    ok_ids = [allowed[t] for t in _GEOM_TYPES[sch.geometry or GeomType.GEOMETRY]]
    wrong = present & ~np.isin(type_names, ok_ids)
    if wrong.any():
        i = _first(wrong)
        raise IngestError(
            f"geometry type {shapely.get_type_id(geoms[i])} is not allowed; expected "
            f"{sch.geometry}", row=i, column="geometry")
    invalid = present & ~shapely.is_valid(geoms)
    if invalid.any():
        i = _first(invalid)
        raise IngestError(f"invalid geometry: {shapely.is_valid_reason(geoms[i])}",
                          row=i, column="geometry")
    bounds = shapely.bounds(geoms)
    out_of_range = present & (
        (bounds[:, 0] < -180) | (bounds[:, 2] > 180) | (bounds[:, 1] < -90) | (bounds[:, 3] > 90)
    )
    if out_of_range.any():
        raise IngestError("coordinates outside lon -180..180 / lat -90..90 (WGS84 expected)",
                          row=_first(out_of_range), column="geometry")
    if sch.geometry is GeomType.MULTIPOLYGON:
        single = present & (type_names == 3)
        if single.any():
            geoms = geoms.copy()
            geoms[single] = [shapely.MultiPolygon([g]) for g in geoms[single]]
    return np.asarray(geoms, dtype=object)


def representative_lnglat(
    geoms: npt.NDArray[np.object_],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Lon/lat of each geometry's point (the point itself, else a point on its surface)."""
    lng = np.full(len(geoms), np.nan)
    lat = np.full(len(geoms), np.nan)
    present = ~shapely.is_missing(geoms)
    if present.any():
        g = geoms[present]
        is_point = shapely.get_type_id(g) == 0
        pts = g.copy()
        others = ~is_point
        if others.any():
            pts[others] = shapely.point_on_surface(g[others])
        lng[present] = shapely.get_x(pts)
        lat[present] = shapely.get_y(pts)
    return lng, lat


def assign_admin(
    lng: npt.NDArray[np.float64], lat: npt.NDArray[np.float64], communities: gpd.GeoDataFrame
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.object_]]:
    """Subdistrict and community codes of points, by point-in-polygon (None outside)."""
    sub = np.full(len(lng), None, dtype=object)
    com = np.full(len(lng), None, dtype=object)
    if len(communities) == 0 or len(lng) == 0:
        return sub, com
    pts = shapely.points(lng, lat)
    tree = shapely.STRtree(np.asarray(communities.geometry.values))
    idx_pt, idx_poly = tree.query(pts, predicate="intersects")
    # A point on a shared boundary matches two communities: keep the first.
    _, first = np.unique(idx_pt, return_index=True)
    idx_pt, idx_poly = idx_pt[first], idx_poly[first]
    com[idx_pt] = communities["code"].to_numpy(dtype=object)[idx_poly]
    sub[idx_pt] = communities["subdistrict_code"].to_numpy(dtype=object)[idx_poly]
    return sub, com


def prepare(
    kind: str, frame: pd.DataFrame, communities: gpd.GeoDataFrame | None = None
) -> Prepared:
    """Validate ``frame`` for ``kind`` and derive ``h3``, ``block`` and admin codes.

    Columns not in the schema are refused (a typo must not silently drop data);
    the ``h3`` and ``block`` columns, if given, are recomputed from the geometry.
    """
    sch = schema(kind)
    if not isinstance(frame, pd.DataFrame):
        raise IngestError("input is not a table")
    frame = frame.reset_index(drop=True)
    n = len(frame)
    known = set(sch.column_names) | {"geometry", "fid"}
    unknown = [c for c in frame.columns if c not in known]
    if unknown:
        raise IngestError(f"unknown column(s) {unknown} for kind {kind!r}")
    missing = [c.name for c in sch.columns if c.required and c.name not in frame.columns]
    if missing:
        raise IngestError(f"missing required column(s) {missing} for kind {kind!r}")

    geoms = _geometry(sch, frame) if sch.geometry is not None else None
    columns: dict[str, list[Any]] = {}
    for col in sch.columns:
        if col.name in DERIVED and geoms is not None:
            continue
        if col.name not in frame.columns:
            columns[col.name] = [None] * n
            continue
        series = frame[col.name]
        if col.required:
            null = series.isna().to_numpy()
            if null.any():
                raise IngestError("required value is missing", row=_first(null), column=col.name)
        columns[col.name] = _coerce(col.name, col.type, series)

    if sch.start_col and sch.end_col:
        start = np.asarray(columns[sch.start_col], dtype=object)
        end = np.asarray(columns[sch.end_col], dtype=object)
        has_end = np.array([e is not None for e in end], dtype=bool) if n else np.zeros(0, bool)
        if has_end.any():
            bad = np.zeros(n, dtype=bool)
            bad[has_end] = end[has_end].astype(str) < start[has_end].astype(str)
            if bad.any():
                raise IngestError(f"{sch.end_col} is before {sch.start_col}",
                                  row=_first(bad), column=sch.end_col)

    key_cols = ["id", sch.start_col] if sch.versioned and sch.start_col else ["id"]
    if "id" in columns:
        keys = pd.DataFrame({k: columns[k] for k in key_cols})
        dup = keys.duplicated().to_numpy()
        if dup.any():
            raise IngestError("duplicate id " + repr(columns["id"][_first(dup)]),
                              row=_first(dup), column="id")

    bounds = None
    if geoms is not None:
        lng, lat = representative_lnglat(geoms)
        cells = lnglat_to_cells(lng, lat)
        has = cells != 0
        columns["h3"] = _as_list(cells, ~has)
        columns["block"] = _as_list(cell_parent(cells, BLOCK_RES), ~has)
        if communities is not None and kind not in ("district", "subdistrict", "community"):
            sub_missing = np.array([v is None for v in columns["subdistrict_code"]], bool)
            com_missing = np.array([v is None for v in columns["community_code"]], bool)
            need = (sub_missing | com_missing) & has
            if need.any():
                sub, com = assign_admin(lng[need], lat[need], communities)
                for name, vals, miss in (("subdistrict_code", sub, sub_missing),
                                         ("community_code", com, com_missing)):
                    arr = np.asarray(columns[name], dtype=object)
                    fill = np.flatnonzero(need)
                    arr[fill] = np.where(miss[need], vals, arr[fill])
                    columns[name] = arr.tolist()
        bounds = shapely.bounds(geoms)
    ordered = {c: columns[c] for c in sch.column_names}
    return Prepared(sch, n, ordered, geoms, bounds)


def read_file(path: str | Path, kind: str) -> pd.DataFrame:
    """Read CSV, GeoJSON or GeoParquet into a frame for :func:`prepare`.

    CSV rows carry either ``lon``/``lat`` columns or a ``wkt`` column (empty for no
    geometry); every value is read as text and typed by :func:`prepare`, so a broken
    row is reported with its row number instead of silently becoming NaN.
    """
    p = Path(path)
    sch = schema(kind)
    suffix = p.suffix.lower()
    if not p.exists():
        raise IngestError(f"file not found: {p.name}")
    if suffix == ".csv":
        try:
            df = pd.read_csv(p, dtype=str, keep_default_na=False, na_values=[""])
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise IngestError(f"unreadable CSV: {exc}") from None
        if sch.geometry is None:
            return df
        if "wkt" in df.columns:
            wkt = df.pop("wkt").to_numpy(dtype=object)
            try:
                geoms = shapely.from_wkt(wkt, on_invalid="raise")
            except shapely.errors.GEOSException:
                bad = [i for i, w in enumerate(wkt) if w is not None and _bad_wkt(w)]
                raise IngestError("unreadable WKT", row=bad[0] if bad else None,
                                  column="wkt") from None
        elif {"lon", "lat"} <= set(df.columns):
            lon = pd.to_numeric(df.pop("lon"), errors="coerce").to_numpy()
            lat = pd.to_numeric(df.pop("lat"), errors="coerce").to_numpy()
            geoms = np.asarray(shapely.points(lon, lat), dtype=object)
            geoms[~(np.isfinite(lon) & np.isfinite(lat))] = None
        elif sch.geometry_nullable:
            # e.g. hotline events with only an address text: geocoded by the caller
            geoms = np.full(len(df), None, dtype=object)
        else:
            raise IngestError("a CSV needs lon/lat columns or a wkt column")
        return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"))
    if suffix in (".geojson", ".json", ".gpkg", ".fgb", ".shp"):
        try:
            return gpd.read_file(p, engine="pyogrio")
        except Exception as exc:  # pyogrio raises several unrelated types
            raise IngestError(f"unreadable {suffix} file: {exc}") from None
    if suffix in (".parquet", ".geoparquet"):
        try:
            return gpd.read_parquet(p)
        except Exception as exc:  # pyarrow raises several unrelated types
            raise IngestError(f"unreadable GeoParquet file: {exc}") from None
    raise IngestError(f"unsupported file type {suffix!r} (CSV, GeoJSON, GeoParquet)")


def _bad_wkt(text: str) -> bool:
    try:
        shapely.from_wkt(text)
    except shapely.errors.GEOSException:
        return True
    return False

"""Columns of a GeoPackage layer read through GDAL's Arrow stream, for the indicator frames,
in a child process.

Why not rows: a frame's first read turned every row into a Python tuple (sqlite3) and
then into numpy; on the full-scale store (1.35 M person rows) that was 4.0 s of CPU
for persons alone, most of it SQLite evaluating the text-to-integer casts row by row
and Python building tuples. GDAL's GeoPackage driver has a native Arrow reader in C++
(it parses the DATE/DATETIME text itself): the same persons columns come back in about
0.5 s of CPU as Arrow arrays, and the conversions here are vectorised (pyarrow compute
and numpy). Measured figures: docs/indicators.md.

Why a child process: GDAL (pyogrio's wheel) carries its own copy of SQLite. Two SQLite
libraries in one process do not share their POSIX lock bookkeeping, so GDAL closing
its handle on the store file drops the locks of the server's own sqlite3 connections
(https://www.sqlite.org/howtocorrupt.html, section 2.2.1). Measured here: after an
in-process GDAL read, GDAL kept reading the file without the WAL's committed rows and
a new sqlite3 connection failed with "disk I/O error". In its own process GDAL is an
ordinary reader: it sees every committed row, WAL included (tested). The child costs
about 0.1-0.2 s of CPU to start (numpy, pyarrow, pyogrio), so only the two big frames
(persons, events) are read this way.

:func:`read_native` returns None when the fast path does not apply (not a GeoPackage
store, pyogrio/GDAL missing or failing, an unexpected column type, a NULL in a column
the schema declares NOT NULL, the child failing): the caller then reads rows with plain
SQL, which stays the reference (tests compare both on the seeded demo).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:  # the child process imports this file alone: numpy, pyarrow, pyogrio
    from gis.store.base import Store

log = logging.getLogger(__name__)

I64 = npt.NDArray[np.int64]


#: The child: this file loaded alone (not the gis package, whose imports would cost a
#: second of start-up), then :func:`main`. pyogrio imports geopandas (and so pandas and
#: shapely) when it can, 0.45 s of the child's 0.55 s start-up measured; the Arrow read
#: needs none of them, so they are marked absent in the child.
_CHILD = """
import importlib.abc, importlib.util, sys


class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("geopandas", "pandas", "shapely"):
            raise ModuleNotFoundError(name)


sys.meta_path.insert(0, Absent())
s = importlib.util.spec_from_file_location("onemap_indicator_arrow", sys.argv[1])
m = importlib.util.module_from_spec(s)
s.loader.exec_module(m)
sys.exit(m.main(sys.argv[2:]))
"""
#: Integer values of the frames (sources.py keeps the same constants).
OPEN_DAY = 99991231
KEYS = ("subdistrict_code", "community_code", "block")


def read_native(store: Store, kind: str, params: Mapping[str, Any] | None = None,
                timeout_s: float = 300.0) -> I64 | None:
    """The int64 matrix of the frame ``kind`` (``persons`` or ``events``, the same columns
    as the SQL read of gis/indicators/sources.py) read by a child process through
    GDAL's Arrow stream; None where that does not apply or fails (read SQL rows then).
    ``params``: the event deadline seconds per category (``secs``, ``default``)."""
    path = getattr(store, "path", None)
    if getattr(store, "backend", None) != "geopackage" or path is None:
        return None
    with tempfile.TemporaryDirectory(prefix="onemap-ind-") as tmp:
        out = Path(tmp) / "m.npy"
        spec = {"path": str(path), "kind": kind, "out": str(out), **(params or {})}
        try:
            done = subprocess.run(
                [sys.executable, "-c", _CHILD, __file__, json.dumps(spec)],
                capture_output=True, timeout=timeout_s, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            log.debug("indicator frame %s not read by a child: %s", kind, exc)
            return None
        if done.returncode != 0 or not out.exists():
            log.debug("indicator frame %s not read by a child: %s", kind,
                      done.stderr.decode(errors="replace")[-500:])
            return None
        m = np.load(out, allow_pickle=False)
    return m if m.dtype == np.int64 and m.ndim == 2 else None


def native_matrix(path: str, kind: str, spec: Mapping[str, Any]) -> I64 | None:
    """The matrix :func:`read_native` returns, computed in this process (the child's
    work: call it only in a process with no other SQLite connection to ``path``)."""
    if kind == "persons":
        t = layer_table(path, "persons", [*KEYS, "valid_from", "valid_to", "birth_date",
                                          "building_id"], not_null=("valid_from", "birth_date"))
        if t is None:
            return None
        # the building's fid as the SQL's sub-select finds it: the last version's
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            bfid = dict(conn.execute("SELECT id, MAX(fid) FROM buildings GROUP BY id"))
        return stack([*_keys(t), day_col(t.column("valid_from"), 0),
                      day_col(t.column("valid_to"), OPEN_DAY),
                      day_col(t.column("birth_date"), 0),
                      mapped_col(t.column("building_id"), bfid, -1)])
    if kind == "events":
        t = layer_table(path, "events", [*KEYS, "occurred_at", "closed_at", "category"],
                        not_null=("occurred_at",))
        if t is None:
            return None
        occ = epoch_col(t.column("occurred_at"), -1)
        clo = epoch_col(t.column("closed_at"), -1)
        return stack([*_keys(t), None if occ is None else epoch_to_stamp(occ, 0),
                      None if clo is None else epoch_to_stamp(clo, -1),
                      mapped_col(t.column("category"), spec.get("secs", {}),
                                 int(spec.get("default", 86400)))])
    return None


def _keys(t: Any) -> list[I64 | None]:
    """The three area keys (codes as integers, block) of an Arrow table."""
    return [code_col(t.column("subdistrict_code")), code_col(t.column("community_code")),
            int_col(t.column("block"), 0)]


def epoch_to_stamp(v: I64, null: int) -> I64:
    """Integers YYYYMMDDHHMMSS of Unix seconds (-1: ``null``), the inverse of
    sources._stamp_to_epoch: the Arrow read of events gives the same matrix (and the
    same persisted file) as the SQL read."""
    days, sod = np.divmod(np.where(v >= 0, v, 0), 86400)
    h, rest = np.divmod(sod, 3600)
    mi, sec = np.divmod(rest, 60)
    stamp = ymd(days) * 1_000_000 + h * 10000 + mi * 100 + sec
    return np.where(v >= 0, stamp, null).astype(np.int64)


def layer_table(path: str, layer: str, columns: Sequence[str],
                not_null: Sequence[str] = ()) -> Any | None:
    """The ``columns`` of every row of ``layer`` (no geometry) as a ``pyarrow.Table`` in
    fid order, or None (see the module docstring). ``not_null``: columns that must hold
    no NULL (a NULL there means GDAL could not parse a value: fall back to SQL). Only in
    a process with no other SQLite connection to the file (the module docstring)."""
    try:
        import pyarrow as pa
        from pyogrio.raw import read_arrow

        _, tbl = read_arrow(str(path), layer=layer, columns=list(columns),
                            read_geometry=False, return_fids=True)
    except Exception as exc:  # pyogrio/GDAL raise several types; read SQL rows then
        log.debug("indicator frame of %s not read through Arrow: %s", layer, exc)
        return None
    if tbl.num_rows == 0:
        return None  # an empty layer can come back without its columns; SQL is instant
    if "fid" not in tbl.column_names or any(c not in tbl.column_names for c in columns):
        return None
    if any(tbl.column(c).null_count for c in not_null):
        return None
    fid = tbl.column("fid").to_numpy()
    if len(fid) > 1 and not bool((np.diff(fid) > 0).all()):
        tbl = tbl.sort_by("fid")
    if not pa.types.is_integer(tbl.column("fid").type):
        return None
    return tbl


def _array(col: Any) -> Any:
    return col.combine_chunks() if hasattr(col, "combine_chunks") else col


def int_col(col: Any, null: int) -> I64 | None:
    """An integer column (NULL: ``null``); None if it is not integer-typed."""
    import pyarrow as pa
    import pyarrow.compute as pc

    a = _array(col)
    if not pa.types.is_integer(a.type):
        return None
    return np.asarray(pc.fill_null(a.cast(pa.int64()), null).to_numpy(), dtype=np.int64)


def float_col(col: Any) -> npt.NDArray[np.float64] | None:
    """A numeric column as float64 (NULL and NaN: 0.0); None if not numeric."""
    import pyarrow as pa
    import pyarrow.compute as pc

    a = _array(col)
    if not (pa.types.is_floating(a.type) or pa.types.is_integer(a.type)):
        return None
    out = np.asarray(pc.fill_null(a.cast(pa.float64()), 0.0).to_numpy(), dtype=np.float64)
    return np.nan_to_num(out, nan=0.0)


def day_col(col: Any, null: int) -> I64 | None:
    """A DATE column as the integer ``YYYYMMDD`` of sources.day_sql (NULL: ``null``)."""
    import pyarrow as pa

    a = _array(col)
    if not pa.types.is_date32(a.type):
        return None
    valid = np.asarray(a.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    days = np.asarray(a.cast(pa.int32()).fill_null(0).to_numpy(), dtype=np.int64)
    return np.where(valid, ymd(days), null).astype(np.int64)


def ymd(days: I64) -> I64:
    """``YYYYMMDD`` of days since 1970-01-01. Through a table of the distinct span of
    days (a century is 36 525 entries): numpy's calendar casts per row cost 0.1 s per
    million."""
    if len(days) == 0:
        return days.astype(np.int64)
    lo, hi = int(days.min()), int(days.max())
    span = np.arange(lo, hi + 1, dtype=np.int64) if hi - lo < 1_000_000 else days
    d = span.astype("datetime64[D]")
    month = d.astype("datetime64[M]")
    y = d.astype("datetime64[Y]").astype(np.int64) + 1970
    m = month.astype(np.int64) % 12 + 1
    dd = (d - month.astype("datetime64[D]")).astype(np.int64) + 1
    out = y * 10000 + m * 100 + dd
    return out[days - lo] if span is not days else out


def epoch_col(col: Any, null: int) -> I64 | None:
    """A DATETIME column as Unix seconds, whole seconds down (NULL: ``null``); the text
    path (sources._stamp_to_epoch) also drops fractions of a second."""
    import pyarrow as pa

    a = _array(col)
    if not pa.types.is_timestamp(a.type) or a.type.tz not in ("UTC", "+00:00", "Z"):
        return None
    unit = {"s": 1, "ms": 1000, "us": 1_000_000, "ns": 1_000_000_000}[a.type.unit]
    valid = np.asarray(a.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    raw = np.asarray(a.cast(pa.int64()).fill_null(0).to_numpy(), dtype=np.int64)
    return np.where(valid, np.floor_divide(raw, unit), null).astype(np.int64)


def _encoded(col: Any) -> tuple[I64, list[Any]] | None:
    """(number per row, -1 for NULL; the distinct values) of a text column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    a = _array(col)
    if not (pa.types.is_string(a.type) or pa.types.is_large_string(a.type)):
        return None
    enc = a.dictionary_encode()
    idx = np.asarray(pc.fill_null(enc.indices.cast(pa.int64()), -1).to_numpy(),
                     dtype=np.int64)
    return idx, enc.dictionary.to_pylist()


def mapped_col(col: Any, mapping: Mapping[str, int], missing: int) -> I64 | None:
    """A text column mapped through ``mapping`` (NULL or unknown: ``missing``)."""
    hit = _encoded(col)
    if hit is None:
        return None
    idx, values = hit
    lut = np.array([mapping.get(v, missing) for v in values] + [missing], dtype=np.int64)
    return lut[idx]  # idx -1 picks the trailing ``missing``


def code_col(col: Any) -> I64 | None:
    """An admin code (digits) as an integer, like ``CAST(code AS BIGINT)`` (NULL and codes
    that are not all digits: 0, i.e. no area)."""
    hit = _encoded(col)
    if hit is None:
        return None
    idx, values = hit
    lut = np.array([int(v) if isinstance(v, str) and v.isdigit() else 0 for v in values]
                   + [0], dtype=np.int64)
    return lut[idx]


def factorized_col(col: Any) -> I64 | None:
    """A number per distinct text value in order of first appearance (NULL: -1), as
    ``pandas.factorize`` numbers them."""
    hit = _encoded(col)
    return None if hit is None else hit[0]


def main(argv: Sequence[str]) -> int:
    """The child: ``python -c _CHILD arrow.py SPEC`` (JSON: path, kind, out, ...)
    writes the matrix to ``out`` as ``.npy``; exit status 1 where it could not."""
    spec = json.loads(argv[0])
    m = native_matrix(str(spec["path"]), str(spec["kind"]), spec)
    if m is None:
        return 1
    np.save(spec["out"], m, allow_pickle=False)
    return 0


def stack(cols: Sequence[I64 | None]) -> I64 | None:
    """The columns side by side as one (n, k) int64 matrix; None if any is None."""
    have = [c for c in cols if c is not None]
    if len(have) != len(cols):
        return None
    return np.ascontiguousarray(np.column_stack(have).astype(np.int64, copy=False))

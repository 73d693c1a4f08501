"""H3 cells as 64-bit integers: assignment and parent arithmetic.

The res-15 cell of every entity is stored; coarser cells (the res-9 ``block``
and any parent at res 0-15) are derived by bit arithmetic, which is the same
in numpy, in SQLite and in PostgreSQL, so no query ever goes back to the
coordinates.

H3 index layout (H3 v4 "index mode 1", bits from most significant):
bit 63 reserved (0), bits 59-62 mode, 56-58 reserved, 52-55 resolution,
45-51 base cell, then 15 three-bit digits (digit 1 at bits 42-44 ... digit 15
at bits 0-2). A cell at resolution r has digits r+1..15 set to 7. Its parent
at resolution p < r is therefore: resolution field := p, digits p+1..15 := 7.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from h3ronpy import vector as _h3v

#: Resolution of the stored cell.
CELL_RES = 15
#: Resolution of the default block.
BLOCK_RES = 9
#: Resolutions at which block aggregates are offered.
AGGREGATE_RES = range(7, 13)

_RES_SHIFT = 52
_RES_MASK = 0xF << _RES_SHIFT
_INT64_MASK = (1 << 64) - 1


def _to_signed(value: int) -> int:
    value &= _INT64_MASK
    return value - (1 << 64) if value >= 1 << 63 else value


def parent_constants(res: int) -> tuple[int, int]:
    """``(clear, set)`` such that ``parent = (cell & clear) | set`` at ``res``.

    Both are returned as signed 64-bit integers, the type SQLite and
    PostgreSQL ``bigint`` use.
    """
    if not 0 <= res <= CELL_RES:
        raise ValueError(f"H3 resolution must be 0-15, got {res}")
    low_digits = (1 << (3 * (CELL_RES - res))) - 1
    clear = ~_RES_MASK & ~low_digits
    set_bits = (res << _RES_SHIFT) | low_digits
    return _to_signed(clear), _to_signed(set_bits)


def parent_sql(column: str, res: int) -> str:
    """SQL expression for the parent cell at ``res`` of an integer cell column.

    Valid in SQLite and PostgreSQL (``&`` and ``|`` on 64-bit integers); the
    constants are inlined so the expression can be used in an index or GROUP BY.
    """
    clear, set_bits = parent_constants(res)
    return f"(({column} & ({clear})) | ({set_bits}))"


def cell_parent(cells: npt.ArrayLike, res: int) -> npt.NDArray[np.int64]:
    """Vectorised parent at ``res`` of integer cells (any resolution >= res)."""
    arr = np.asarray(cells, dtype=np.int64)
    clear, set_bits = parent_constants(res)
    return (arr & np.int64(clear)) | np.int64(set_bits)


def cell_resolution(cells: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Vectorised resolution of integer cells."""
    arr = np.asarray(cells, dtype=np.int64)
    return (arr >> _RES_SHIFT) & 0xF


def lnglat_to_cells(
    lng: npt.ArrayLike, lat: npt.ArrayLike, res: int = CELL_RES
) -> npt.NDArray[np.int64]:
    """Vectorised cells of lon/lat points (WGS84) at ``res``, as int64.

    Uses h3ronpy (the H3 C library behind an Arrow interface), about twice the
    rate of a Python loop over ``h3.latlng_to_cell``; the cells are identical
    (tested). NaN coordinates give 0 (no cell).
    """
    lng_a = np.ascontiguousarray(lng, dtype=np.float64)
    lat_a = np.ascontiguousarray(lat, dtype=np.float64)
    if lng_a.shape != lat_a.shape:
        raise ValueError("lng and lat must have the same shape")
    if lng_a.size == 0:
        return np.zeros(0, dtype=np.int64)
    ok = np.isfinite(lng_a) & np.isfinite(lat_a)
    out = np.zeros(lng_a.shape, dtype=np.int64)
    if ok.any():
        cells = _h3v.coordinates_to_cells(lat_a[ok], lng_a[ok], res)
        out[ok] = np.asarray(cells.to_numpy(), dtype=np.uint64).view(np.int64)
    return out


def cell_to_str(cell: int) -> str:
    """The hexadecimal string form of an integer cell (as h3-py prints it)."""
    return format(int(cell) & _INT64_MASK, "x")


def str_to_cell(text: str) -> int:
    """Integer form of a hexadecimal H3 string; ValueError if it is not one."""
    import h3.api.basic_int as h3i

    value = int(text, 16)
    if not h3i.is_valid_cell(value):
        raise ValueError(f"not an H3 cell: {text!r}")
    return _to_signed(value)


def child_range(cell: int, child_res: int) -> tuple[int, int]:
    """Inclusive integer range holding every descendant of ``cell`` at ``child_res``.

    Above the digits, a cell and its descendants differ only in the resolution
    field; the descendants' digits ``r+1..child_res`` run from 0 to 7 and the
    digits below ``child_res`` are 7. So ``col BETWEEN lo AND hi`` on a column of
    res-``child_res`` cells selects exactly the descendants, using a B-tree index.
    """
    res = int(cell_resolution(np.int64(cell)))
    if child_res < res:
        raise ValueError(f"child resolution {child_res} is coarser than the cell's {res}")
    value = int(cell) & _INT64_MASK
    value = (value & ~_RES_MASK) | (child_res << _RES_SHIFT)
    span_bits = 3 * (child_res - res)
    low_bits = 3 * (CELL_RES - child_res)
    varying = ((1 << span_bits) - 1) << low_bits
    lo = value & ~varying
    hi = value | varying
    return _to_signed(lo), _to_signed(hi)

"""Exact bbox and valid-time answers over a GeoPackage layer, from columns held in numpy.

Why: a layer with a valid time is served "as it is today" by default, so its
``numberMatched`` is ``bbox AND valid_from <= t AND (valid_to IS NULL OR valid_to > t)``.
SQLite answers the bbox on the R-tree, but then reads each candidate row for its two
dates: 110-165 ms for the 130,881 enterprises in central Luohu, against 13 ms for the
R-tree alone, and no index helps (a covering ``(fid, valid_from, valid_to)`` index, the
R-tree joined to it, or the R-tree count minus the rows not valid today all measured
220-270 ms; the per-row cost is the lookup, not the row width). Neither condition is
selective (52 % and 79 % of the rows), so the answer is a scan either way: over four
float32 envelope columns and two int32 day columns in numpy it takes a few ms.

Exactness, the same as :func:`gis.filters.sqlite_box_clause`: the envelopes are the
R-tree's own (float32, rounded outwards), so an envelope inside the box is a geometry
in it, an envelope apart from the box is a geometry outside it, and only the envelopes
straddling an edge go through shapely on the stored geometry. The dates are held as day
numbers ``YYYYMMDD``, which order as SQLite orders the ``YYYY-MM-DD`` texts (see
:func:`instant_day`); a layer holding any other value there (a date-time, or ``2020``
stored as an integer by the ``DATE`` column's numeric affinity) is not indexed and
takes the SQL path, as do intervals and every other filter.

The same object keeps the counts of attribute filters (``where``, CQL2), computed in
SQL, per kind until that kind is written: a client paging through a query asks for the
same ``numberMatched`` on every page.

Freshness: columns are read per kind and kept with the store's data version; when the
write log says the kind was written since (or no longer reaches back), they are read
again. Writes that bypass the store (the write log) are not seen, as by the tile cache.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely

from gis.filters import bbox_geometry
from gis.model import KindSchema
from gis.timeaxis import TimeFilter

#: A stored NULL date, as text of a date's length: it sorts after any ISO date ('~' is
#: after the digits), as for SQL a NULL start never precedes an instant and a NULL end
#: always follows it (a stored '~~~~~~~~~~' compares the same way).
_NULL = "~~~~~~~~~~"
_NULL_BYTE = ord("~")
#: Answers kept (kind, box, instant): a client paging through one query asks each again.
_ANSWERS = 32
#: Largest answer whose fids are kept as well as its bits (8 bytes a row).
_KEEP_FIDS = 400_000
#: Attribute-filter counts kept.
_COUNTS = 256

Decoder = Callable[[list[bytes | None]], npt.NDArray[np.object_]]


@dataclass
class _Columns:
    """One kind's rows in fid order."""

    version: int
    fid: npt.NDArray[np.int64]
    #: R-tree envelopes (NaN where a row has no entry: a NULL or empty geometry).
    minx: npt.NDArray[np.float32] | None
    maxx: npt.NDArray[np.float32] | None
    miny: npt.NDArray[np.float32] | None
    maxy: npt.NDArray[np.float32] | None
    #: Valid-time ends as day numbers YYYYMMDD (a NULL as _NO_DATE).
    start: npt.NDArray[np.int32] | None
    end: npt.NDArray[np.int32] | None


@dataclass
class Answer:
    """The rows matching one query: how many, and which (fids ascending, on demand)."""

    count: int
    _fid: npt.NDArray[np.int64]
    _bits: npt.NDArray[np.uint8]
    _fids: npt.NDArray[np.int64] | None = None

    def fids(self) -> npt.NDArray[np.int64]:
        """The matching fids in ascending order (kept once asked: the next page's)."""
        if self._fids is not None:
            return self._fids
        fids = self._fid[np.unpackbits(self._bits, count=len(self._fid)).astype(bool)]
        if self.count <= _KEEP_FIDS:
            self._fids = fids
        return fids


class BoxTimeIndex:
    """Per-kind numpy columns of one GeoPackage store, read on first use."""

    def __init__(self) -> None:
        self._cols: dict[str, _Columns | None] = {}
        self._lock = threading.Lock()
        #: Recent answers as packed bit masks over the kind's rows (170 KB for all persons).
        self._answers: OrderedDict[tuple[Any, ...], Answer] = OrderedDict()
        #: Counts of attribute filters: key -> (count, data version it holds at).
        self._counts: OrderedDict[tuple[Any, ...], tuple[int, int]] = OrderedDict()

    @staticmethod
    def supports(sch: KindSchema, bbox: tuple[float, float, float, float] | None,
                 tf: TimeFilter | None) -> bool:
        """Whether a query of ``bbox`` and ``tf`` alone (no other filter) can be answered."""
        if bbox is None and tf is None:
            return False
        if bbox is not None and sch.geometry is None:
            return False
        return tf is None or tf.is_instant

    def matching(self, conn: sqlite3.Connection, sch: KindSchema,
                 bbox: tuple[float, float, float, float] | None, tf: TimeFilter | None,
                 version: int, changed: Callable[[int], set[str] | None],
                 decode: Decoder) -> Answer | None:
        """The rows of ``sch`` meeting ``bbox`` (closed, exact) and valid at the instant
        ``tf``; None when this kind cannot be indexed.

        ``changed(v)``: the kinds written since version ``v`` (None: unknown, all).
        """
        cols = self._columns(conn, sch, version, changed)
        if cols is None:
            return None
        instant = None if tf is None else (tf.start or "")
        key = (sch.kind, cols.version, bbox, instant)
        with self._lock:
            hit = self._answers.get(key)
            if hit is not None:
                self._answers.move_to_end(key)
                return hit
        keep = np.ones(len(cols.fid), dtype=bool)
        if instant is not None and cols.start is not None and cols.end is not None:
            day = instant_day(instant)
            if day is None:
                return None
            # TimeFilter.sql: start <= t AND (end IS NULL OR end > t)
            keep = (cols.start <= day) & (cols.end > day)
        if bbox is not None:
            keep &= self._in_box(conn, sch, cols, bbox, keep, decode)
        answer = Answer(int(np.count_nonzero(keep)), cols.fid, np.packbits(keep))
        with self._lock:
            self._answers[key] = answer
            if len(self._answers) > _ANSWERS:
                self._answers.popitem(last=False)
        return answer

    def count(self, key: tuple[Any, ...], version: int,
              changed: Callable[[int], set[str] | None], compute: Callable[[], int]) -> int:
        """``compute()``, kept per ``key`` (kind first) until the kind is written."""
        with self._lock:
            hit = self._counts.get(key)
            if hit is not None:
                value, seen = hit
                if seen != version:
                    kinds = changed(seen)
                    if kinds is None or key[0] in kinds:
                        hit = None
                    else:
                        self._counts[key] = (value, version)
            if hit is not None:
                self._counts.move_to_end(key)
                return hit[0]
        value = compute()
        with self._lock:
            self._counts[key] = (value, version)
            if len(self._counts) > _COUNTS:
                self._counts.popitem(last=False)
        return value

    # -- internals ----------------------------------------------------------

    @staticmethod
    def _meets(cols: _Columns, bbox: tuple[float, float, float, float]
               ) -> npt.NDArray[np.bool_]:
        assert cols.minx is not None and cols.maxx is not None
        assert cols.miny is not None and cols.maxy is not None
        # float64 scalars: comparing float32 columns with a Python float would round the
        # box to float32 (NEP 50) and differ from the R-tree's own test.
        x0, y0, x1, y1 = (np.float64(v) for v in bbox)
        return (cols.maxx >= x0) & (cols.minx <= x1) & (cols.maxy >= y0) & (cols.miny <= y1)

    def _in_box(self, conn: sqlite3.Connection, sch: KindSchema, cols: _Columns,
                bbox: tuple[float, float, float, float], keep: npt.NDArray[np.bool_],
                decode: Decoder) -> npt.NDArray[np.bool_]:
        assert cols.minx is not None and cols.maxx is not None
        assert cols.miny is not None and cols.maxy is not None
        x0, y0, x1, y1 = (np.float64(v) for v in bbox)
        meets = self._meets(cols, bbox)
        inside = meets & (cols.minx >= x0) & (cols.maxx <= x1) & (cols.miny >= y0) & (
            cols.maxy <= y1)
        out = inside.copy()
        edge = np.flatnonzero(meets & ~inside & keep)
        if len(edge):
            # The few straddling an edge: shapely on the stored geometry decides
            # (intersects the closed box, as onemap_spatial does in SQL).
            fids = cols.fid[edge]
            rows = conn.execute(
                f"SELECT fid, geom FROM {sch.table} WHERE fid IN "
                "(SELECT value FROM json_each(?)) ORDER BY fid",
                (json.dumps(fids.tolist()),)).fetchall()
            got = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            hit = np.asarray(shapely.intersects(decode([r[1] for r in rows]),
                                                bbox_geometry(bbox)), dtype=bool)
            out[np.searchsorted(cols.fid, got[hit])] = True
        return out

    def _columns(self, conn: sqlite3.Connection, sch: KindSchema, version: int,
                 changed: Callable[[int], set[str] | None]) -> _Columns | None:
        with self._lock:
            if sch.kind in self._cols:
                cols = self._cols[sch.kind]
                if cols is None:
                    return None
                if cols.version == version:
                    return cols
                kinds = changed(cols.version)
                if kinds is not None and sch.kind not in kinds:
                    cols.version = version
                    return cols
            built = _read(conn, sch, version)
            self._cols[sch.kind] = built
            return built


def _read(conn: sqlite3.Connection, sch: KindSchema, version: int) -> _Columns | None:
    """The kind's columns from the store (None where they cannot be held exactly)."""
    t, s, e = sch.table, sch.start_col, sch.end_col
    start = end = None
    if s is not None:
        if e is None:
            return None
        # One row of three long strings: SQLite builds them in C, numpy parses them, ten
        # times faster than a Python tuple per row (1.35 million persons: ~1 s vs ~10 s).
        row = conn.execute(
            f"SELECT group_concat(fid), group_concat(s, ''), group_concat(e, ''), "
            f"SUM(typeof(s) != 'text' OR length(s) != 10) + "
            f"SUM(typeof(e) != 'text' OR length(e) != 10) FROM (SELECT fid, "
            f"COALESCE({s}, ?) AS s, COALESCE({e}, ?) AS e FROM {t})",
            (_NULL, _NULL)).fetchone()
        if row[0] is None:
            fid = np.zeros(0, dtype=np.int64)
            start = end = np.zeros(0, dtype=np.int32)
        else:
            if row[3]:
                return None  # a date that is not ISO date text: the SQL path
            fid = np.fromstring(row[0], dtype=np.int64, sep=",")
            start, end = _days(row[1], len(fid)), _days(row[2], len(fid))
            if start is None or end is None:
                return None
            if not bool((fid[1:] > fid[:-1]).all()):
                order = np.argsort(fid, kind="stable")
                fid, start, end = fid[order], start[order], end[order]
    else:
        fid = np.fromiter((r[0] for r in conn.execute(f"SELECT fid FROM {t} ORDER BY fid")),
                          dtype=np.int64)
    minx = maxx = miny = maxy = None
    if sch.geometry is not None:
        env = np.full((len(fid), 4), np.nan, dtype=np.float32)
        ids, boxes = _rtree_entries(conn, f"rtree_{t}_geom")
        if len(ids) and len(fid):
            # fids without gaps (a bulk-built layer) need no search
            dense = fid[-1] - fid[0] + 1 == len(fid)
            pos = np.clip(ids - fid[0] if dense else np.searchsorted(fid, ids), 0, len(fid) - 1)
            ok = fid[pos] == ids
            env[pos[ok]] = boxes[ok]
        minx, maxx, miny, maxy = (np.ascontiguousarray(env[:, i]) for i in range(4))
    return _Columns(version, fid, minx, maxx, miny, maxy, start, end)


def instant_day(instant: str) -> int | None:
    """``YYYYMMDD`` of an ISO instant's date (None if it does not start with one).

    For stored dates (``YYYY-MM-DD``) and an instant t, SQLite's text comparisons
    ``start <= t`` and ``end > t`` equal the same comparisons of the day numbers: a
    date equal to t's date is a prefix of a date-time t, so it sorts before it.
    """
    days = _days(instant[:10], 1)
    return None if days is None or days[0] == _NO_DATE else int(days[0])


#: The day number of a NULL (stored as _NULL): after every date.
_NO_DATE = np.iinfo(np.int32).max
_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9]


def _days(text: str, n: int) -> npt.NDArray[np.int32] | None:
    """Day numbers ``YYYYMMDD`` of ``n`` concatenated ``YYYY-MM-DD`` texts (NULLs as
    :data:`_NULL`); None if any is not of that form."""
    try:
        a = np.frombuffer(text.encode("ascii"), dtype=np.uint8).reshape(n, 10)
    except (UnicodeEncodeError, ValueError):
        return None
    null = (a == _NULL_BYTE).all(axis=1)
    d = a[:, _DIGITS].astype(np.int32) - 48
    ok = null | (((d >= 0) & (d <= 9)).all(axis=1) & (a[:, 4] == 45) & (a[:, 7] == 45))
    if not ok.all():
        return None
    weights = np.array([10_000_000, 1_000_000, 100_000, 10_000, 1000, 100, 10, 1],
                       dtype=np.int32)
    out = (d * weights).sum(axis=1, dtype=np.int32)
    out[null] = _NO_DATE
    return out


#: One cell of a leaf node of an SQLite R*Tree of two dimensions (rtree.c: an 8-byte
#: rowid, then min/max of each dimension as 32-bit floats, all big-endian).
_CELL = np.dtype([("id", ">i8"), ("minx", ">f4"), ("maxx", ">f4"), ("miny", ">f4"),
                  ("maxy", ">f4")])


def _rtree_entries(conn: sqlite3.Connection, rt: str
                   ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """(ids, (n, 4) minx/maxx/miny/maxy) of every entry of the R-tree ``rt``.

    Read from its node blobs (the file format of SQLite's rtree module: node 1 the
    root, a 2-byte depth on the root, a 2-byte cell count, then the cells; a node that
    is nobody's parent is a leaf): 10 ms for 250,000 entries, where ``SELECT`` on the
    virtual table takes 600-800 ms in Python. No library reads them. The entry count
    is checked against the R-tree's own; on any mismatch the plain ``SELECT`` is used.
    """
    expected = conn.execute(f"SELECT COUNT(*) FROM {rt}_rowid").fetchone()[0]
    try:
        nodes = conn.execute(f"SELECT nodeno, data FROM {rt}_node").fetchall()
        parents = {r[0] for r in conn.execute(f"SELECT DISTINCT parentnode FROM {rt}_parent")}
        leaves = [bytes(d) for no, d in nodes if no not in parents]
        size = len(leaves[0]) if leaves else 0
        if leaves and all(len(b) == size for b in leaves):
            buf = np.frombuffer(b"".join(leaves), dtype=np.uint8).reshape(len(leaves), size)
            count = buf[:, 2].astype(np.int64) * 256 + buf[:, 3]
            per = (size - 4) // _CELL.itemsize
            cells = np.ascontiguousarray(buf[:, 4:4 + per * _CELL.itemsize]).view(_CELL)
            cells = cells.reshape(len(leaves), per)[np.arange(per)[None, :] < count[:, None]]
            ids = cells["id"].astype(np.int64)
            ordered = np.sort(ids)
            if len(ids) == expected and bool((ordered[1:] != ordered[:-1]).all()):
                boxes = np.column_stack([cells[c].astype(np.float32)
                                         for c in ("minx", "maxx", "miny", "maxy")])
                return ids, boxes
    except sqlite3.DatabaseError:
        pass
    rows = conn.execute(f"SELECT id, minx, maxx, miny, maxy FROM {rt}").fetchall()
    arr = np.asarray(rows, dtype=np.float64).reshape(len(rows), 5)
    # R-tree coordinates are float32 values: the cast is exact.
    return arr[:, 0].astype(np.int64), arr[:, 1:].astype(np.float32)

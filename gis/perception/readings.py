"""Parsing and validating incoming readings (HTTP bodies, MQTT payloads, CSV rows).

A payload is one object ``{"t": ISO instant, "value": number}`` or an array of them.
Every element is checked before anything is written; the first bad one raises
:class:`BadReading` naming its field and array index, and nothing is stored.
"""

from __future__ import annotations

import math
import time
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from gis.perception.errors import BadReading

#: A reading may be at most this far in the future (device clocks drift a little).
MAX_FUTURE_S = 300


def parse_instant(text: Any) -> int:
    """An ISO 8601 instant (with ``Z`` or an offset; naive means UTC) as Unix seconds."""
    if not isinstance(text, str) or not text:
        raise ValueError("not a string")
    dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if dt.tzinfo is None:
        from datetime import UTC

        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


_SEPARATORS = np.frombuffer(b"--T::Z", dtype=np.uint8)
_SEP_AT = [4, 7, 10, 13, 16, 19]
_DIGIT_AT = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]


def _parse_canonical(items: list[Any], limit: float
                     ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]] | None:
    """The fast path of :func:`parse_payload` for the form devices send: every element
    an object with a finite int/float ``value`` and ``t`` as ``YYYY-MM-DDThh:mm:ssZ``
    (UTC, whole seconds), none in the future. The instants are decoded as one array of
    bytes (no library parses a fixed-width form faster than this handful of numpy
    operations); impossible dates and times (month 13, hour 24, 29 February of a common
    year, year 0) are refused as ``datetime.fromisoformat`` refuses them. Returns None
    when any element is not of that form: the element-by-element path then says which
    element is bad, or accepts the other ISO forms."""
    try:
        tl = [it["t"] for it in items]
        vl = [it["value"] for it in items]
    except (TypeError, KeyError, IndexError):
        return None
    if not all(type(v) is float or type(v) is int for v in vl):  # not bool, not str
        return None
    if not all(type(t) is str and len(t) == 20 for t in tl):
        return None
    joined = "".join(tl)
    if not joined.isascii():
        return None
    n = len(tl)
    a = np.frombuffer(joined.encode("ascii"), dtype=np.uint8).reshape(n, 20)
    if not (a[:, _SEP_AT] == _SEPARATORS).all():
        return None
    d = a[:, _DIGIT_AT].astype(np.int64) - 48
    if ((d < 0) | (d > 9)).any():
        return None
    year = d[:, 0] * 1000 + d[:, 1] * 100 + d[:, 2] * 10 + d[:, 3]
    month, day = d[:, 4] * 10 + d[:, 5], d[:, 6] * 10 + d[:, 7]
    hh, mm, ss = d[:, 8] * 10 + d[:, 9], d[:, 10] * 10 + d[:, 11], d[:, 12] * 10 + d[:, 13]
    if ((year < 1) | (month < 1) | (month > 12) | (day < 1) | (hh > 23) | (mm > 59)
            | (ss > 59)).any():
        return None
    months = ((year - 1970) * 12 + month - 1).astype("datetime64[M]")
    first = months.astype("datetime64[D]").astype(np.int64)
    length = (months + 1).astype("datetime64[D]").astype(np.int64) - first
    if (day > length).any():
        return None
    ts = (first + day - 1) * 86400 + hh * 3600 + mm * 60 + ss
    try:
        vals = np.array(vl, dtype=np.float64)
    except OverflowError:
        return None
    if not np.isfinite(vals).all() or (ts > limit).any():
        return None
    return ts, vals


def parse_payload(payload: Any, *, now: float | None = None
                  ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """``(ts, values)`` arrays of a reading payload, or :class:`BadReading`."""
    items = payload if isinstance(payload, list) else [payload]
    single = not isinstance(payload, list)
    if not items:
        raise BadReading("the array of readings is empty")
    limit = (time.time() if now is None else now) + MAX_FUTURE_S
    fast = _parse_canonical(items, limit)
    if fast is not None:
        return fast
    ts = np.empty(len(items), dtype=np.int64)
    vals = np.empty(len(items), dtype=np.float64)
    for i, item in enumerate(items):
        where = "" if single else f"[{i}]"
        if not isinstance(item, dict):
            raise BadReading(f"reading{where} is not an object with 't' and 'value'")
        v = item.get("value")
        # bool is an int subclass in Python, but true/false is not a measurement.
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise BadReading(f"value{where}: {v!r} is not a finite number")
        try:
            t = parse_instant(item.get("t"))
        except (ValueError, TypeError, OverflowError):
            raise BadReading(f"t{where}: {item.get('t')!r} is not an ISO 8601 instant") from None
        if t > limit:
            raise BadReading(f"t{where}: {item.get('t')} is more than {MAX_FUTURE_S // 60} "
                             "minutes in the future")
        ts[i], vals[i] = t, float(v)
    return ts, vals


def iso(ts: float) -> str:
    """Unix seconds as the store's canonical ISO instant."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))

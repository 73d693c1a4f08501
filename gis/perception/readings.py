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


def parse_payload(payload: Any, *, now: float | None = None
                  ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """``(ts, values)`` arrays of a reading payload, or :class:`BadReading`."""
    items = payload if isinstance(payload, list) else [payload]
    single = not isinstance(payload, list)
    if not items:
        raise BadReading("the array of readings is empty")
    limit = (time.time() if now is None else now) + MAX_FUTURE_S
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

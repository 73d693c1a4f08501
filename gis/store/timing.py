"""Store operation timing: a hook the host installs, no web framework here.

Each backend class is decorated with :func:`timed_operations`; its public
operations (``query``, ``count``, ``block_aggregate``, ``ingest``, ``mvt``...)
then report ``(backend, operation, seconds)`` to the store's
``query_observer`` when one is set (the FastAPI host sets one that feeds a
Prometheus histogram, ``spatial_api/metrics.py``). With no observer the cost is
one attribute read per call.

Only the outermost operation of a thread is reported: ``count`` or
``content_hash`` calling ``query`` inside is one operation for the caller, and
counting both would double the time spent.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

#: Called after each store operation with (backend, operation, seconds).
QueryObserver = Callable[[str, str, float], None]

#: The operations that are timed (those a request path calls; ``mvt`` is PostGIS only).
OPERATIONS = ("query", "count", "get", "nearest", "block_aggregate", "admin_counts",
              "block_timeline", "readings", "latest_readings", "ingest", "stats",
              "audit_append", "audit_entries", "mvt", "sql_read", "data_version")

class _Inside(threading.local):
    depth = 0


_inside = _Inside()
C = TypeVar("C", bound=type)


def _timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        observer: QueryObserver | None = self.query_observer
        if observer is None or _inside.depth:
            return fn(self, *args, **kwargs)
        _inside.depth = 1
        t0 = time.perf_counter()
        try:
            return fn(self, *args, **kwargs)
        finally:
            _inside.depth = 0
            # metrics must never fail a store operation
            with contextlib.suppress(Exception):
                observer(self.backend, name, time.perf_counter() - t0)

    wrapper.__timed__ = True  # type: ignore[attr-defined]
    return wrapper


def timed_operations(cls: C) -> C:
    """Class decorator: time the :data:`OPERATIONS` the class has (own or inherited)."""
    for name in OPERATIONS:
        fn = getattr(cls, name, None)
        if fn is None or getattr(fn, "__timed__", False):
            continue
        setattr(cls, name, _timed(name, fn))
    if not hasattr(cls, "query_observer"):  # declared by the class: None = not timed
        raise TypeError(f"{cls.__name__} must declare query_observer")
    return cls

"""Threshold alerts of indicators ("overdue events in 东门 above 50"), raised like sensor alerts.

An indicator alert is a row of perception's ``alerts`` table with ``kind`` ``indicator``
and ``sensor_id`` ``indicator:<id>:<area code>:<op><value>`` (the table's key of what
alerted). Its starts and ends are appended to the same ``alert_log`` and handed to the
same listeners (the SSE hub) as a sensor's, so ``GET /alerts`` and ``GET /alerts/stream``
carry them; the pushed data add ``indicator``, ``code``, ``name`` and ``area_level``.

:meth:`IndicatorAlerts.evaluate` compares the current values (k-anonymous: a suppressed
value never alerts) with each threshold of the catalogue: a crossing starts an alert, a
value back past the clear level ends it (hysteresis: ``clear`` below ``value`` for ``>``).
:meth:`IndicatorAlerts.start` runs it in a background thread after writes the store
reports and every ``interval_s`` seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from gis.errors import CoreError
from gis.indicators.engine import IndicatorEngine
from gis.perception.db import Alert, PerceptionDB
from gis.perception.readings import iso

log = logging.getLogger(__name__)

KIND = "indicator"
Listener = Callable[[int, dict[str, Any]], None]


def alert_key(indicator_id: str, code: str, op: str, value: float) -> str:
    """The ``sensor_id`` of an indicator alert: what alerted, where, past which value."""
    return f"{KIND}:{indicator_id}:{code}:{op}{value:g}"


class IndicatorAlerts:
    """Evaluates the catalogue's thresholds and keeps their alerts."""

    def __init__(self, engine: IndicatorEngine,
                 listeners: Sequence[Listener] | None = None) -> None:
        self.engine = engine
        self.db = PerceptionDB(engine.store)
        self.db.ensure_schema()
        #: called with (alert-log sequence, data) for every change (the SSE hub)
        self.listeners: Sequence[Listener] = listeners if listeners is not None else []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def active(self) -> dict[str, Alert]:
        """Active indicator alerts by key."""
        if not self.db.has_tables():
            return {}
        return {a.sensor_id: a for a in self.db.alerts(active=True, limit=100_000)
                if a.kind == KIND}

    def evaluate(self, as_of: str | date | None = None) -> list[dict[str, Any]]:
        """Compare every threshold with the values at ``as_of`` (default today); start and
        end alerts; returns the published changes."""
        with self._lock:
            day = as_of or iso(time.time())[:10]
            active = self.active()
            changes: list[tuple[str, Alert, dict[str, Any]]] = []
            for ind in self.engine.catalog.indicators:
                for th in ind.thresholds:
                    body = self.engine.indicator(ind.id, level=th.level, start=day, to=day,
                                                 freq="day", as_of=day)
                    for row in body["values"]:
                        if th.codes and row["code"] not in th.codes:
                            continue
                        v = row["value"]
                        if v is None:
                            continue
                        key = alert_key(ind.id, row["code"], th.op, th.value)
                        extra = {"indicator": ind.id, "code": row["code"], "name": row["name"],
                                 "area_level": th.level, "title": ind.title.model_dump(),
                                 "unit": ind.unit, "op": th.op, "clear": th.clear_value}
                        a = active.get(key)
                        now = iso(time.time())
                        if a is None and th.crossed(float(v)):
                            a = self.db.insert_alert(key, KIND, th.alert_level, float(v),
                                                     th.value, now)
                            changes.append(("start", a, extra))
                        elif a is not None and th.cleared(float(v)):
                            a.ended_at = a.updated_at = now
                            a.value = float(v)
                            self.db.update_alert(a)
                            changes.append(("end", a, extra))
            out = []
            for change, a, extra in changes:
                data = {**a.as_dict(), "state": "active" if a.active else "ended",
                        "change": change, **extra}
                seq = self.db.log(a.id, data)
                for fn in list(self.listeners):
                    try:
                        fn(seq, data)
                    except Exception:  # a broken listener must not stop the others
                        log.exception("alert listener failed")
                out.append(data)
            return out

    # -- background evaluation ------------------------------------------------------

    def start(self, interval_s: float = 60.0, debounce_s: float = 1.0) -> None:
        """Evaluate in a daemon thread every ``interval_s`` and ``debounce_s`` after a
        write the store reports."""
        self.engine.sources.listeners.append(self._on_write)

        def run() -> None:
            while not self._stop.is_set():
                woke = self._wake.wait(interval_s)
                if self._stop.is_set():
                    return
                if woke:
                    time.sleep(debounce_s)  # one evaluation for a burst of writes
                    self._wake.clear()
                try:
                    self.evaluate()
                except CoreError as exc:  # a read-only store: alerts cannot be written
                    log.warning("indicator thresholds not evaluated: %s", exc.message)
                except Exception:
                    log.exception("indicator thresholds not evaluated")

        self._thread = threading.Thread(target=run, name="indicator-alerts", daemon=True)
        self._thread.start()

    def _on_write(self, _kind: str) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Stop the background thread."""
        self._stop.set()
        self._wake.set()
        if self._on_write in self.engine.sources.listeners:
            self.engine.sources.listeners.remove(self._on_write)
        if self._thread is not None:
            self._thread.join(timeout=30)

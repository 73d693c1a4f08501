"""The perception engine: readings in, rules, alert lifecycle, impact, notifications.

One :class:`PerceptionService` per process, built at start-up. HTTP, MQTT and the
CLI all call :meth:`PerceptionService.ingest`. Alert changes are appended to the
alert log (its sequence number is the SSE event id) and handed to the listeners
(the SSE hub) in the ingesting thread, after the impact of a new alert is computed,
so the pushed event carries the impact.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import shapely

from gis.errors import CoreError
from gis.perception.db import Alert, PerceptionDB
from gis.perception.errors import DeviceAuthError, UnknownAlert, UnknownSensor
from gis.perception.impact import ImpactModel, SensorPlace
from gis.perception.readings import iso
from gis.perception.rules import Rule, Rules
from gis.store.base import Store

log = logging.getLogger(__name__)

#: Event category of an alert, by sensor type (offline alerts: 设备离线).
EVENT_CATEGORY = {
    "waterlogging": "积水", "rainwater_pipe_flow": "积水", "outfall_flow": "排口超标",
    "water_quality": "水质异常", "smoke": "火情", "temperature": "火情",
    "electrical_fire": "火情",
}

Listener = Callable[[int, dict[str, Any]], None]


def key_hash(key: str) -> str:
    """The stored form of a device key (hex SHA-256)."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass
class SensorState:
    """What the engine keeps in memory per sensor."""

    place: SensorPlace
    rule: Rule
    last_ts: int | None = None
    last_value: float | None = None
    alert: Alert | None = None  # the active threshold alert
    offline: Alert | None = None  # the active offline alert
    live: bool = False  # sent a reading through the engine since start-up
    lock: threading.Lock = field(default_factory=threading.Lock)


class PerceptionService:
    """Readings, rules and alerts over one store."""

    def __init__(self, store: Store, rules: Rules, terrain: Path | None = None,
                 *, write_events: bool = True, warm: bool = True) -> None:
        self.store = store
        self.db = PerceptionDB(store)
        self.db.ensure_schema()
        self.rules = rules
        self.impact_model = ImpactModel(store, terrain)
        self.write_events = write_events
        self.listeners: list[Listener] = []
        s = store.query("sensor", columns=["sensor_type", "threshold", "water_body"])
        self.sensors: dict[str, SensorState] = {}
        for sid, st, thr, wb, g in zip(s["id"], s["sensor_type"], s["threshold"],
                                       s["water_body"], s.geometry, strict=True):
            thr_f = float(thr) if thr is not None and thr == thr else None
            rule = rules.for_sensor(sid, st, thr_f)  # validates every sensor at start-up
            place = SensorPlace(sid, st, g.x, g.y, wb if isinstance(wb, str) else None,
                                rule.threshold)
            self.sensors[sid] = SensorState(place, rule)
        last = self.db.latest(list(self.sensors))
        for sid, ts, v in zip(last["sensor_id"], last["ts"], last["value"], strict=True):
            self.sensors[sid].last_ts, self.sensors[sid].last_value = int(ts), float(v)
        for a in self.db.alerts(active=True, limit=100_000):
            st_ = self.sensors.get(a.sensor_id)
            if st_ is not None:
                if a.kind == "offline":
                    st_.offline = a
                else:
                    st_.alert = a
        self.key_hashes = self.db.key_hashes()
        # Warm the per-building resident counts of today off the start-up path, so the
        # first alert does not pay for the scan of the persons table.
        if warm:  # a city-sized server may leave it to the first alert (docs/scale.md)
            threading.Thread(target=self._warm, name="perception-warm", daemon=True).start()

    def _warm(self) -> None:
        try:
            self.impact_model.warm(iso(time.time()))
        except Exception:  # the first impact will try again
            log.exception("warming the resident counts failed")

    # -- device keys ----------------------------------------------------------

    def make_keys(self) -> dict[str, str]:
        """New random device keys for every sensor (only their hashes are stored)."""
        keys = {sid: secrets.token_urlsafe(24) for sid in sorted(self.sensors)}
        hashes = {sid: key_hash(k) for sid, k in keys.items()}
        self.db.set_keys(hashes)
        self.key_hashes = hashes
        return keys

    def check_device(self, sensor_id: str, key: str | None) -> None:
        """Raise unless ``key`` is the device key of ``sensor_id``."""
        if not key:
            raise DeviceAuthError("missing device key (X-Device-Key) or API key")
        want = self.key_hashes.get(sensor_id)
        if want is None or not secrets.compare_digest(want, key_hash(key)):
            raise DeviceAuthError("wrong device key for this sensor")

    def state(self, sensor_id: str) -> SensorState:
        """The state of a known sensor, or :class:`UnknownSensor`."""
        st = self.sensors.get(sensor_id)
        if st is None:
            raise UnknownSensor(f"no sensor {sensor_id!r}")
        return st

    # -- readings -------------------------------------------------------------

    def ingest(self, sensor_id: str, ts: npt.NDArray[np.int64],
               values: npt.NDArray[np.float64]) -> int:
        """Store one sensor's readings (duplicates once) and run the rules on the new
        ones in time order. Returns the number accepted (all of them: a duplicate is
        accepted and stored once)."""
        return self.ingest_many([(sensor_id, ts, values)])

    def _plan(self, st: SensorState, ts: npt.NDArray[np.int64],
              values: npt.NDArray[np.float64]
              ) -> tuple[npt.NDArray[np.int64], list[tuple[int, float, int]],
                         tuple[int, float] | None]:
        """Alert level after each reading (``ts`` sorted), the alert changes (reading
        time, value, new level; only where the level changes) and the newest fresh
        reading (None when no reading is newer than the sensor's last)."""
        # Rules see only readings newer than the last one (late history is stored
        # but does not re-open old alerts).
        levels = np.zeros(len(ts), dtype=np.int64)
        fresh = ts > (st.last_ts if st.last_ts is not None else -2**62)
        fresh[1:] &= ts[1:] != ts[:-1]  # sorted: a repeat in the batch counts once
        idx = np.flatnonzero(fresh)
        if not len(idx):
            return levels, [], None
        t, v = ts[idx], values[idx]
        prev = ((st.last_ts, st.last_value) if st.last_ts is not None
                and st.last_value is not None else None)
        lv = st.rule.levels_of(v, t, prev)
        cur = st.alert.level if st.alert is not None else 0
        last = (int(t[-1]), float(v[-1]))
        if cur == 0 and not lv.any():  # the usual case: nothing to alert on
            return levels, [], last
        # Start, escalation (levels do not step down) and end are sequential: walk the
        # readings only when an alert is active or starts in this batch.
        changes: list[tuple[int, float, int]] = []
        out = np.empty(len(idx), dtype=np.int64)
        clear = st.rule.clear
        for i, (ti, vi, li) in enumerate(zip(t.tolist(), v.tolist(), lv.tolist(),
                                             strict=True)):
            new = 0 if cur and vi < clear else max(cur, li)
            if new != cur:
                changes.append((ti, vi, new))
                cur = new
            out[i] = cur
        levels[idx] = out
        return levels, changes, last

    def ingest_many(self, items: Sequence[tuple[str, npt.NDArray[np.int64],
                                                npt.NDArray[np.float64]]]) -> int:
        """Readings of several sensors written in one transaction (the MQTT bridge
        drains its queue this way), then the rules per sensor. Returns the number
        accepted. Unknown sensors raise :class:`UnknownSensor` before anything is
        written."""
        merged: dict[str, tuple[list[npt.NDArray[np.int64]], list[npt.NDArray[np.float64]]]] = {}
        for sid, ts, values in items:
            self.state(sid)
            m = merged.setdefault(sid, ([], []))
            m[0].append(ts)
            m[1].append(values)
        sids = sorted(merged)
        changes: list[tuple[str, Alert]] = []
        n = 0
        with ExitStack() as locks:  # every sensor's lock, in id order (no deadlock)
            for sid in sids:
                locks.enter_context(self.sensors[sid].lock)
            cols: list[tuple[npt.NDArray[np.object_], npt.NDArray[np.int64],
                             npt.NDArray[np.float64], npt.NDArray[np.int64]]] = []
            plans: dict[str, tuple[list[tuple[int, float, int]], tuple[int, float] | None]] = {}
            for sid in sids:
                ts = np.concatenate(merged[sid][0])
                values = np.concatenate(merged[sid][1])
                order = np.argsort(ts, kind="stable")
                ts, values = ts[order], values[order]
                levels, changed, last = self._plan(self.sensors[sid], ts, values)
                plans[sid] = (changed, last)
                cols.append((np.full(len(ts), sid, dtype=object), ts, values, levels))
                n += len(ts)
            xs = [self.sensors[sid].place.lon for sid in sids] or [0.0]
            ys = [self.sensors[sid].place.lat for sid in sids] or [0.0]
            area = (min(xs), min(ys), max(xs), max(ys))
            self.db.insert_many(np.concatenate([c[0] for c in cols]),
                                np.concatenate([c[1] for c in cols]),
                                np.concatenate([c[2] for c in cols]),
                                np.concatenate([c[3] for c in cols]), area=area)
            for sid in sids:
                st, (changed, last) = self.sensors[sid], plans[sid]
                st.live = True
                for t, v, lv in changed:
                    changes.extend(self._transition(st, t, v, lv))
                if last is not None:
                    st.last_ts, st.last_value = last
                if st.offline is not None and last is not None:
                    off = st.offline
                    off.ended_at = off.updated_at = iso(last[0])
                    self.db.update_alert(off)
                    st.offline = None
                    changes.append(("end", off))
        if changes:  # alert levels show on the sensors' tiles too
            self.db.sensors_changed(area)
        for change, alert in changes:
            self._publish(change, alert)
        return n

    def _transition(self, st: SensorState, t: int, v: float, lv: int
                    ) -> list[tuple[str, Alert]]:
        a = st.alert
        at = iso(t)
        if a is None and lv > 0:
            st.alert = self.db.insert_alert(st.place.id, "threshold", lv, v, st.rule.threshold, at)
            return [("start", st.alert)]
        if a is not None and lv == 0:
            a.ended_at = a.updated_at = at
            a.value = v
            self.db.update_alert(a)
            st.alert = None
            return [("end", a)]
        if a is not None and lv > a.level:
            a.level, a.value, a.updated_at = lv, v, at
            self.db.update_alert(a)
            return [("escalate", a)]
        return []

    def check_offline(self, now: float | None = None) -> int:
        """Raise offline alerts for live sensors silent for ``offline_after`` intervals;
        returns how many started."""
        now = time.time() if now is None else now
        started = []
        for st in self.sensors.values():
            if not st.live or st.offline is not None or st.last_ts is None:
                continue
            if now - st.last_ts > st.rule.offline_after * st.rule.interval_s:
                with st.lock:
                    if st.offline is None:
                        st.offline = self.db.insert_alert(st.place.id, "offline", 1, None,
                                                          None, iso(now))
                        started.append(st.offline)
        if started:  # the sensors' tiles show their alert state
            places = [self.sensors[a.sensor_id].place for a in started]
            self.db.sensors_changed((min(p.lon for p in places), min(p.lat for p in places),
                                     max(p.lon for p in places), max(p.lat for p in places)))
        for a in started:
            self._publish("start", a)
        return len(started)

    # -- alerts -----------------------------------------------------------------

    def _publish(self, change: str, alert: Alert) -> None:
        data: dict[str, Any] = {**alert.as_dict(),
                                "state": "active" if alert.active else "ended",
                                "change": change}
        st = self.sensors[alert.sensor_id]
        data["sensor_type"] = st.place.sensor_type
        if change == "start" and alert.kind == "threshold":
            try:
                impact = self.impact_model.impact(alert.id, st.place, alert.value or 0.0,
                                                  alert.started_at)
                self.db.set_impact(alert.id, impact)
                data["impact"] = impact
            except CoreError as exc:  # the alert stands even if its impact fails
                log.error("impact of alert %s failed: %s", alert.id, exc.message)
        seq = self.db.log(alert.id, data)
        for fn in list(self.listeners):
            try:
                fn(seq, data)
            except Exception:  # a broken listener must not stop the others
                log.exception("alert listener failed")
        if self.write_events:
            if change == "start":
                self._write_event(alert)
            else:
                self._move_event(alert, change)

    def _write_event(self, alert: Alert) -> None:
        """Record the alert as an event (source ``sensor_alarm``) for the case workflow."""
        st = self.sensors[alert.sensor_id]
        cat = "设备离线" if alert.kind == "offline" else EVENT_CATEGORY.get(
            st.place.sensor_type, "传感器告警")
        desc = self._event_text(alert)
        frame = gpd.GeoDataFrame({
            "id": [f"ALERT{alert.id:08d}"], "occurred_at": [alert.started_at],
            "closed_at": [None], "source": ["sensor_alarm"], "category": [cat],
            "status": ["received"], "description": [desc], "sensor_id": [st.place.id],
        }, geometry=[shapely.Point(st.place.lon, st.place.lat)], crs="EPSG:4326")
        try:
            self.store.ingest("event", frame)
        except CoreError as exc:
            log.error("event of alert %s not written: %s", alert.id, exc.message)

    def _event_text(self, alert: Alert) -> str:
        st = self.sensors[alert.sensor_id]
        if alert.kind == "offline":
            return f"{st.place.id} offline"
        return f"{st.place.id} {alert.value:g} ≥ {alert.threshold:g} (level {alert.level})"

    def _move_event(self, alert: Alert, change: str) -> None:
        """Move the alert's event on: an escalation updates its description (the new
        level); the end closes it (status ``closed``, ``closed_at`` = the alert's end),
        attributed to the system since no person closed it."""
        st = self.sensors[alert.sensor_id]
        if change == "end":
            why = ("a reading arrived" if alert.kind == "offline" else
                   f"{alert.value:g} < clear {st.rule.clear:g}")
            text = (f"{self._event_text(alert)}; ended {alert.ended_at} ({why}), "
                    f"closed by system")
            status, closed = "closed", alert.ended_at
        else:
            text, status, closed = self._event_text(alert), "received", None
        try:
            self.db.move_event(f"ALERT{alert.id:08d}", status=status, closed_at=closed,
                               description=text, lon=st.place.lon, lat=st.place.lat)
        except Exception:  # the alert's own state is written; its event is secondary
            log.exception("event of alert %s not moved on", alert.id)

    def alert(self, alert_id: int) -> Alert:
        """One alert, or :class:`UnknownAlert`."""
        a = self.db.alert(alert_id)
        if a is None:
            raise UnknownAlert(f"no alert {alert_id}")
        return a

    def impact(self, alert_id: int) -> dict[str, Any]:
        """The impact of an alert (computed now if it was not at start)."""
        a = self.alert(alert_id)
        out = self.db.impact(alert_id)
        if out is None:
            st = self.state(a.sensor_id)
            out = self.impact_model.impact(a.id, st.place, a.value or 0.0, a.started_at)
            self.db.set_impact(alert_id, out)
        return out

    def alert_features(self, active: bool | None) -> dict[str, Any]:
        """Alerts as a GeoJSON FeatureCollection (point of the sensor)."""
        feats = []
        for a in self.db.alerts(active=active):
            st = self.sensors.get(a.sensor_id)
            geom = ({"type": "Point", "coordinates": [st.place.lon, st.place.lat]}
                    if st else None)
            feats.append({"type": "Feature", "id": a.id, "geometry": geom,
                          "properties": {**a.as_dict(), "state":
                                         "active" if a.active else "ended",
                                         "sensor_type": st.place.sensor_type if st else None}})
        return {"type": "FeatureCollection", "features": feats,
                "numberReturned": len(feats)}

    def current_levels(self, ids: Iterable[str]) -> dict[str, int]:
        """Current alert level per sensor (offline counts as level 1)."""
        out = {}
        for sid in ids:
            st = self.sensors.get(sid)
            if st is None:
                continue
            out[sid] = st.alert.level if st.alert else (1 if st.offline else 0)
        return out

"""The perception tables on both store backends.

The readings table is the store's (``gis.model`` kind ``reading``: ``sensor_id``,
``ts`` Unix seconds, ``value``, ``alert``). Perception adds a unique index on
``(sensor_id, ts)`` — it makes a repeated reading idempotent and answers both
"latest per sensor" (one backward index probe per sensor) and "a sensor's series in
a window" (one range scan) — plus three small tables: ``sensor_keys`` (device key
hashes), ``alerts`` and ``alert_log`` (the numbered stream of alert changes that
Server-Sent Events replay from).

This module borrows the store's connections instead of adding methods to the store
classes, so the generic store code stays untouched. On PostGIS the same objects come
from migration ``0002_perception.sql``; on GeoPackage they are created here with
``IF NOT EXISTS`` when the service opens.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from gis.store.base import Store

log = logging.getLogger(__name__)

SQLITE_DDL = (
    "CREATE UNIQUE INDEX IF NOT EXISTS idx_readings_sensor_ts_unique ON readings (sensor_id, ts)",
    # The store's own (sensor_id, ts) index duplicates the unique one, which serves the
    # same lookups: every live insert would maintain both B-trees for nothing. (A bulk
    # store ingest of readings re-creates it; the next start drops it again.)
    "DROP INDEX IF EXISTS idx_readings_sensor_id_ts",
    "CREATE TABLE IF NOT EXISTS sensor_keys (sensor_id TEXT PRIMARY KEY, "
    "key_sha256 TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS alerts (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "sensor_id TEXT NOT NULL, kind TEXT NOT NULL, level INTEGER NOT NULL, value REAL, "
    "threshold REAL, started_at TEXT NOT NULL, ended_at TEXT, updated_at TEXT NOT NULL, "
    "impact TEXT)",
    "CREATE INDEX IF NOT EXISTS idx_alerts_sensor ON alerts (sensor_id, ended_at)",
    "CREATE TABLE IF NOT EXISTS alert_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
    "alert_id INTEGER NOT NULL, data TEXT NOT NULL)",
)

ALERT_COLS = ("id", "sensor_id", "kind", "level", "value", "threshold", "started_at",
              "ended_at", "updated_at")


@dataclass
class Alert:
    """One alert row."""

    id: int
    sensor_id: str
    kind: str  # "threshold" or "offline"
    level: int
    value: float | None
    threshold: float | None
    started_at: str
    ended_at: str | None
    updated_at: str

    @property
    def active(self) -> bool:
        """True while the alert has not ended."""
        return self.ended_at is None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return {c: getattr(self, c) for c in ALERT_COLS}


class PerceptionDB:
    """Perception reads and writes on one store (GeoPackage or PostGIS)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.pg = store.backend == "postgis"
        # Writes of one process are serialised (SQLite allows one writer anyway; on
        # PostGIS it keeps the duplicate check and the insert of one batch together).
        self._lock = threading.Lock()

    # -- plumbing -----------------------------------------------------------

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.pg else sql

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        """A connection inside one write transaction (commit on success)."""
        if self.pg:
            with self._lock, self.store._conn() as conn, conn.transaction():  # type: ignore[attr-defined]
                yield conn
        else:
            with self._lock, self.store._write_lock:  # type: ignore[attr-defined]
                conn = self.store._conn()  # type: ignore[attr-defined]
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise

    def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self.pg:
            return list(self.store._fetch(self._sql(sql), params))  # type: ignore[attr-defined]
        return list(self.store._conn().execute(sql, params).fetchall())  # type: ignore[attr-defined]

    def ensure_schema(self) -> None:
        """Create the perception objects if missing (PostGIS: the migration did)."""
        if self.pg:
            return
        try:
            with self._tx() as conn:
                for ddl in SQLITE_DDL:
                    conn.execute(ddl)
        except sqlite3.OperationalError as exc:  # a read-only file: serve, but ingest fails
            log.warning("perception tables not created: %s", exc)

    def has_tables(self) -> bool:
        """True when the perception tables exist in this store."""
        probe = ("SELECT to_regclass('alerts') IS NOT NULL" if self.pg else
                 "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'alerts'")
        return bool(self._fetch(probe)[0][0])

    # -- readings -----------------------------------------------------------

    def insert_readings(self, sensor_id: str, ts: npt.NDArray[np.int64],
                        values: npt.NDArray[np.float64],
                        alerts: npt.NDArray[np.int64] | None = None) -> npt.NDArray[np.bool_]:
        """Insert one sensor's readings in one transaction; a (sensor, ts) already stored
        is skipped. Returns the mask of the rows that were new."""
        return self.insert_many(np.full(len(ts), sensor_id, dtype=object), ts, values, alerts)

    def insert_many(self, sensor_ids: npt.NDArray[np.object_], ts: npt.NDArray[np.int64],
                    values: npt.NDArray[np.float64],
                    alerts: npt.NDArray[np.int64] | None = None,
                    area: tuple[float, float, float, float] | None = None
                    ) -> npt.NDArray[np.bool_]:
        """Insert readings of several sensors in one transaction (duplicates skipped);
        returns the mask of the rows that were new (first of equal keys in the batch).

        ``area``: the bounds of those sensors. The write is logged in the same
        transaction (the sensors' tiles carry their latest reading), so cached
        sensor tiles of every server process go once it commits.
        """
        n = len(ts)
        if n == 0:
            return np.zeros(0, dtype=bool)
        ts = ts.astype(np.int64, copy=False)
        sid_list = [str(x) for x in sensor_ids]
        uniq = sorted(set(sid_list))
        pos = {x: i for i, x in enumerate(uniq)}
        codes = (np.zeros(n, dtype=np.int64) if len(uniq) == 1 else
                 np.fromiter((pos[x] for x in sid_list), dtype=np.int64, count=n))
        # The first of equal (sensor, ts) keys in the batch is the new one.
        order = np.lexsort((np.arange(n), ts, codes))
        sc, stt = codes[order], ts[order]
        again = np.zeros(n, dtype=bool)
        again[1:] = (sc[1:] == sc[:-1]) & (stt[1:] == stt[:-1])
        new = np.ones(n, dtype=bool)
        new[order[again]] = False
        al = alerts if alerts is not None else np.zeros(n, dtype=np.int64)
        with self._tx() as conn:
            # Which keys exist already: one index range probe per sensor.
            for code, sid in enumerate(uniq):
                mine = new & (codes == code) if len(uniq) > 1 else new
                if not mine.any():
                    continue
                lo, hi = int(ts[mine].min()), int(ts[mine].max())
                have = np.array([r[0] for r in conn.execute(
                    self._sql("SELECT ts FROM readings WHERE sensor_id = ? AND ts >= ? "
                              "AND ts <= ?"), (sid, lo, hi)).fetchall()], dtype=np.int64)
                if len(have):
                    new[mine & np.isin(ts, have)] = False
            keep = np.flatnonzero(new)
            rows = list(zip([sid_list[i] for i in keep.tolist()], ts[keep].tolist(),
                            values[keep].astype(np.float64).tolist(),
                            al[keep].astype(np.int64).tolist(), strict=True))
            if rows:
                if self.pg:
                    with conn.cursor() as cur, cur.copy(
                            "COPY readings (sensor_id, ts, value, alert) FROM STDIN") as cp:
                        for r in rows:
                            cp.write_row(r)
                else:
                    conn.executemany("INSERT INTO readings (sensor_id, ts, value, alert) "
                                     "VALUES (?, ?, ?, ?)", rows)
                self._log_write(conn, area)
        if rows:
            self._notify(area)
        return new

    def _log_write(self, conn: Any, area: tuple[float, float, float, float] | None) -> None:
        log_write = getattr(self.store, "log_write", None)
        if callable(log_write):
            log_write(conn, "sensor", area)

    def _notify(self, area: tuple[float, float, float, float] | None) -> None:
        """This process's write listeners (its tile cache): the sensors in ``area`` changed."""
        for fn in list(getattr(self.store, "write_listeners", ())):
            fn("sensor", area)

    def sensors_changed(self, area: tuple[float, float, float, float] | None) -> None:
        """Log and announce a change of sensors' alert state (their tiles show it)."""
        with self._tx() as conn:
            self._log_write(conn, area)
        self._notify(area)

    def set_reading_alert(self, sensor_id: str, ts: int, level: int) -> None:
        """Record the alert level the rules gave a stored reading."""
        with self._tx() as conn:
            conn.execute(self._sql("UPDATE readings SET alert = ? WHERE sensor_id = ? "
                                   "AND ts = ?"), (level, sensor_id, ts))

    def count_readings(self, sensor_id: str | None = None) -> int:
        """Number of stored readings (of one sensor, or all)."""
        if sensor_id is None:
            return int(self._fetch("SELECT count(*) FROM readings")[0][0])
        return int(self._fetch("SELECT count(*) FROM readings WHERE sensor_id = ?",
                               (sensor_id,))[0][0])

    def series(self, sensor_id: str, lo: int, hi: int) -> pd.DataFrame:
        """Readings of one sensor with ``lo <= ts < hi`` (columns ts, value, alert)."""
        rows = self._fetch("SELECT ts, value, alert FROM readings WHERE sensor_id = ? "
                           "AND ts >= ? AND ts < ? ORDER BY ts", (sensor_id, lo, hi))
        return pd.DataFrame.from_records(rows, columns=["ts", "value", "alert"])

    def latest(self, sensor_ids: Sequence[str]) -> pd.DataFrame:
        """The last reading of each sensor (columns sensor_id, ts, value)."""
        out = self.store.latest_readings(list(sensor_ids))
        return out[["sensor_id", "ts", "value"]]

    # -- device keys --------------------------------------------------------

    def set_keys(self, hashes: dict[str, str]) -> None:
        """Replace the device key hashes of the given sensors."""
        with self._tx() as conn:
            for sid, h in hashes.items():
                conn.execute(self._sql("DELETE FROM sensor_keys WHERE sensor_id = ?"), (sid,))
                conn.execute(self._sql("INSERT INTO sensor_keys (sensor_id, key_sha256) "
                                       "VALUES (?, ?)"), (sid, h))

    def key_hashes(self) -> dict[str, str]:
        """Every stored device key hash by sensor id."""
        return {r[0]: r[1] for r in self._fetch("SELECT sensor_id, key_sha256 FROM sensor_keys")}

    # -- alerts -------------------------------------------------------------

    def _alert(self, row: Sequence[Any]) -> Alert:
        return Alert(int(row[0]), row[1], row[2], int(row[3]),
                     None if row[4] is None else float(row[4]),
                     None if row[5] is None else float(row[5]), row[6], row[7], row[8])

    def insert_alert(self, sensor_id: str, kind: str, level: int, value: float | None,
                     threshold: float | None, at: str) -> Alert:
        """Start an alert; returns it with its id."""
        with self._tx() as conn:
            row = conn.execute(self._sql(
                "INSERT INTO alerts (sensor_id, kind, level, value, threshold, started_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id"),
                (sensor_id, kind, level, value, threshold, at, at)).fetchone()
        return Alert(int(row[0]), sensor_id, kind, level, value, threshold, at, None, at)

    def update_alert(self, alert: Alert) -> None:
        """Write an alert's level, value and end."""
        with self._tx() as conn:
            conn.execute(self._sql(
                "UPDATE alerts SET level = ?, value = ?, ended_at = ?, updated_at = ? "
                "WHERE id = ?"),
                (alert.level, alert.value, alert.ended_at, alert.updated_at, alert.id))

    def set_impact(self, alert_id: int, impact: dict[str, Any]) -> None:
        """Store an alert's impact (JSON)."""
        with self._tx() as conn:
            conn.execute(self._sql("UPDATE alerts SET impact = ? WHERE id = ?"),
                         (json.dumps(impact, ensure_ascii=False), alert_id))

    def impact(self, alert_id: int) -> dict[str, Any] | None:
        """An alert's stored impact (None when not computed)."""
        rows = self._fetch("SELECT impact FROM alerts WHERE id = ?", (alert_id,))
        if not rows or rows[0][0] is None:
            return None
        out: dict[str, Any] = json.loads(rows[0][0])
        return out

    def alert(self, alert_id: int) -> Alert | None:
        """One alert by id."""
        rows = self._fetch(f"SELECT {', '.join(ALERT_COLS)} FROM alerts WHERE id = ?",
                           (alert_id,))
        return self._alert(rows[0]) if rows else None

    def alerts(self, *, active: bool | None = None, limit: int = 1000) -> list[Alert]:
        """Alerts, newest first; ``active`` True/False filters on ``ended_at``."""
        where = ("" if active is None else
                 " WHERE ended_at IS NULL" if active else " WHERE ended_at IS NOT NULL")
        rows = self._fetch(f"SELECT {', '.join(ALERT_COLS)} FROM alerts{where} "
                           f"ORDER BY id DESC LIMIT {int(limit)}")
        return [self._alert(r) for r in rows]

    # -- the alert's event -------------------------------------------------

    def move_event(self, event_id: str, *, status: str, closed_at: str | None,
                   description: str, lon: float, lat: float) -> bool:
        """Move an alert's event on (status, end time, description) in one transaction;
        False when the event is not there (events off, or written by another server).

        The store has no generic entity update, so this is one UPDATE of the
        ``events`` row; the tile cache's write listeners are told about the point it
        touched, as an ingest would tell them."""
        with self._tx() as conn:
            cur = conn.execute(self._sql(
                "UPDATE events SET status = ?, closed_at = ?, description = ? WHERE id = ?"),
                (status, closed_at, description, event_id))
            n = cur.rowcount
        for fn in list(getattr(self.store, "write_listeners", [])):
            fn("event", (lon, lat, lon, lat))
        return bool(n)

    # -- alert log ----------------------------------------------------------

    def log(self, alert_id: int, data: dict[str, Any]) -> int:
        """Append one alert change to the log; returns its sequence number."""
        with self._tx() as conn:
            row = conn.execute(self._sql("INSERT INTO alert_log (alert_id, data) VALUES (?, ?) "
                                         "RETURNING seq"),
                               (alert_id, json.dumps(data, ensure_ascii=False))).fetchone()
        return int(row[0])

    def log_since(self, seq: int, limit: int = 1000) -> list[tuple[int, dict[str, Any]]]:
        """Log entries after ``seq``, oldest first."""
        rows = self._fetch(f"SELECT seq, data FROM alert_log WHERE seq > ? ORDER BY seq "
                           f"LIMIT {int(limit)}", (seq,))
        return [(int(r[0]), json.loads(r[1])) for r in rows]


def active_alert_levels(store: Store, sensor_ids: Sequence[str]) -> dict[str, int] | None:
    """Current alert level per sensor from the alerts table (0 for sensors without an
    active alert); None when the store has no alerts table (perception never ran)."""
    db = PerceptionDB(store)
    if not db.has_tables():
        return None
    ids = list(sensor_ids)
    out = dict.fromkeys(ids, 0)
    rows = db._fetch("SELECT sensor_id, max(level) FROM alerts WHERE ended_at IS NULL "
                     "GROUP BY sensor_id")
    for sid, lv in rows:
        if sid in out:
            out[sid] = int(lv)
    return out

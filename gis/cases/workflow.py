"""The case workflow: 受理 → 分拨 → 处置 → 办结 → 评价, with reassignments, returns, reopens.

A case is an event with a lifecycle. Every transition is one row of ``case_transitions``
(timestamped, attributed to the key holder, with the department it leaves the case with),
written in the same transaction as the case's new state, so the history and the state can
never disagree. Illegal transitions raise :class:`IllegalTransition` and write nothing.

The tables live in the store: the PostGIS migration ``0013_cases.sql`` creates them; the
GeoPackage store gets the same DDL (derived from that file) on first use.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from gis.cases.config import CATEGORIES, DispatchTable
from gis.cases.errors import CaseNotFound, DispatchInputError, IllegalTransition

RECEIVED, DISPATCHED, IN_PROGRESS, CLOSED, RATED = "受理", "分拨", "处置", "办结", "评价"
STATES: tuple[str, ...] = (RECEIVED, DISPATCHED, IN_PROGRESS, CLOSED, RATED)
OPEN_STATES = (RECEIVED, DISPATCHED, IN_PROGRESS)
#: action -> (states it may start from, state it leads to)
ACTIONS: dict[str, tuple[frozenset[str], str]] = {
    "dispatch": (frozenset({RECEIVED}), DISPATCHED),
    "reassign": (frozenset({DISPATCHED, IN_PROGRESS}), DISPATCHED),
    "return": (frozenset({DISPATCHED, IN_PROGRESS}), RECEIVED),
    "start": (frozenset({DISPATCHED}), IN_PROGRESS),
    "close": (frozenset({IN_PROGRESS}), CLOSED),
    "rate": (frozenset({CLOSED}), RATED),
    "reopen": (frozenset({CLOSED, RATED}), IN_PROGRESS),
}
SOURCES = ("hotline_12345", "grid_patrol", "sensor_alarm")
_MIGRATION = Path(__file__).resolve().parent.parent / "store" / "migrations" / "0013_cases.sql"
CASE_COLUMNS = ("id", "text", "category", "department", "state", "source", "address_id",
                "address", "lon", "lat", "subdistrict_code", "community_code", "grid_code",
                "received_at", "deadline_at", "closed_at", "rating", "reopened", "repeat_of",
                "created_by")
Run = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]


class SqlStore(Protocol):
    """What the workflow needs of a store (both backends provide it)."""

    backend: str

    def sql_transaction(self) -> AbstractContextManager[Run]:
        """A write transaction yielding ``run(sql, params)``."""

    def sql_read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read query."""


def iso(t: datetime) -> str:
    """Canonical ISO instant text (UTC, seconds)."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_instant(value: str, name: str = "time") -> datetime:
    """An ISO date or instant (naive = UTC); raises :class:`DispatchInputError`."""
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        raise DispatchInputError(f"{name} must be an ISO date or date-time") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def sqlite_ddl() -> list[str]:
    """The statements of ``0013_cases.sql`` in SQLite's dialect (one source for both)."""
    sql = _MIGRATION.read_text(encoding="utf-8")
    sql = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    sql = sql.replace(' COLLATE "C"', "").replace("double precision", "REAL")
    return [s.strip() for s in sql.split(";") if s.strip()]


@dataclass
class Place:
    """Where a case is (all optional)."""

    address_id: str | None = None
    address: str | None = None
    lon: float | None = None
    lat: float | None = None
    subdistrict_code: str | None = None
    community_code: str | None = None
    grid_code: str | None = None


class CaseBook:
    """Cases and their transitions over a store."""

    def __init__(self, store: SqlStore, table: DispatchTable,
                 clock: Callable[[], datetime] | None = None, repeat_days: int = 30,
                 repeat_m: float = 50.0) -> None:
        self.store = store
        self.table = table
        self.clock = clock or (lambda: datetime.now(UTC))
        self.repeat_days = repeat_days
        self.repeat_m = repeat_m
        # PostGIS: the migration made the tables. GeoPackage: made on first use, not at
        # start-up, so that a read-only store still serves everything else.
        self._ready = store.backend == "postgis"

    def _ensure(self) -> None:
        if self._ready:
            return
        with self.store.sql_transaction() as run:
            for stmt in sqlite_ddl():
                run(stmt, ())
        self._ready = True

    # -- reading -------------------------------------------------------------

    def get(self, case_id: str) -> dict[str, Any]:
        """The case with its transitions; raises :class:`CaseNotFound`."""
        self._ensure()
        rows = self.store.sql_read(f"SELECT {', '.join(CASE_COLUMNS)} FROM cases WHERE id = ?",
                                   [case_id])
        if not rows:
            raise CaseNotFound(f"no case {case_id!r}")
        case = dict(zip(CASE_COLUMNS, rows[0], strict=True))
        case["transitions"] = [
            dict(zip(("seq", "action", "from_state", "to_state", "department", "at", "actor",
                      "note"), r, strict=True))
            for r in self.store.sql_read(
                "SELECT seq, action, from_state, to_state, department, at, actor, note "
                "FROM case_transitions WHERE case_id = ? ORDER BY seq", [case_id])]
        case["overdue"] = self._overdue(case)
        # A repeat of a closed case reopens attention: the complaint came back.
        case["repeats_closed"] = False
        if case["repeat_of"]:
            prev = self.store.sql_read("SELECT state FROM cases WHERE id = ?",
                                       [case["repeat_of"]])
            case["repeats_closed"] = bool(prev and prev[0][0] in (CLOSED, RATED))
        return case

    def _overdue(self, case: dict[str, Any]) -> bool:
        return bool(case["state"] in OPEN_STATES and case["deadline_at"] < iso(self.clock()))

    def frame(self, start: str | None = None, end: str | None = None) -> pd.DataFrame:
        """Cases received in ``[start, end)`` (ISO text bounds) as a frame."""
        self._ensure()
        sql = f"SELECT {', '.join(CASE_COLUMNS)} FROM cases WHERE 1=1"
        params: list[Any] = []
        if start:
            sql += " AND received_at >= ?"
            params.append(start)
        if end:
            sql += " AND received_at < ?"
            params.append(end)
        rows = self.store.sql_read(sql + " ORDER BY received_at, id", params)
        return pd.DataFrame.from_records(rows, columns=list(CASE_COLUMNS))

    def overdue(self) -> list[dict[str, Any]]:
        """Open cases past their deadline, most overdue first."""
        self._ensure()
        now = iso(self.clock())
        rows = self.store.sql_read(
            f"SELECT {', '.join(CASE_COLUMNS)} FROM cases WHERE state IN (?, ?, ?) "
            "AND deadline_at < ? ORDER BY deadline_at, id", [*OPEN_STATES, now])
        return [dict(zip(CASE_COLUMNS, r, strict=True), overdue=True) for r in rows]

    def closed_texts(self) -> tuple[list[str], list[str]]:
        """Texts and final categories of closed cases (training data for retraining)."""
        self._ensure()
        rows = self.store.sql_read("SELECT text, category FROM cases WHERE state IN (?, ?)",
                                   [CLOSED, RATED])
        return [r[0] for r in rows], [r[1] for r in rows]

    # -- writing -------------------------------------------------------------

    def create(self, text: str, category: str, *, source: str = "hotline_12345",
               department: str | None = None, place: Place | None = None,
               actor: str | None = None) -> dict[str, Any]:
        """Receive a case (state 受理). ``department`` defaults to the table's route;
        the case is marked ``repeat_of`` an earlier case of the same category at the same
        address or within ``repeat_m`` metres in the last ``repeat_days`` days."""
        if category not in CATEGORIES:
            raise DispatchInputError(f"unknown category {category!r}")
        if source not in SOURCES:
            raise DispatchInputError(f"source must be one of {', '.join(SOURCES)}")
        dep = department or self.table.route(category, text)
        if dep not in self.table.departments:
            raise DispatchInputError(f"unknown department {dep!r}")
        p = place or Place()
        self._ensure()
        now = self.clock()
        deadline = now + timedelta(hours=self.table.deadline_h(category))
        case_id = "C" + now.strftime("%Y%m%d") + "-" + uuid.uuid4().hex[:10]
        repeat = self._find_repeat(category, p, now)
        values = {"id": case_id, "text": text, "category": category, "department": dep,
                  "state": RECEIVED, "source": source, "address_id": p.address_id,
                  "address": p.address, "lon": p.lon, "lat": p.lat,
                  "subdistrict_code": p.subdistrict_code, "community_code": p.community_code,
                  "grid_code": p.grid_code, "received_at": iso(now),
                  "deadline_at": iso(deadline), "closed_at": None, "rating": None,
                  "reopened": 0, "repeat_of": repeat, "created_by": actor}
        with self.store.sql_transaction() as run:
            run(f"INSERT INTO cases ({', '.join(CASE_COLUMNS)}) VALUES "
                f"({', '.join('?' * len(CASE_COLUMNS))})", [values[c] for c in CASE_COLUMNS])
            run("INSERT INTO case_transitions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [case_id, 1, "receive", None, RECEIVED, dep, iso(now), actor, None])
        return self.get(case_id)

    def _find_repeat(self, category: str, p: Place, now: datetime) -> str | None:
        since = iso(now - timedelta(days=self.repeat_days))
        if p.address_id:
            rows = self.store.sql_read(
                "SELECT id FROM cases WHERE category = ? AND address_id = ? AND received_at >= ?"
                " ORDER BY received_at DESC, id LIMIT 1", [category, p.address_id, since])
            if rows:
                return str(rows[0][0])
        if p.lon is None or p.lat is None:
            return None
        # A degree box around the point first, then the true distance.
        dlat = self.repeat_m / 111_320.0
        dlon = dlat / max(np.cos(np.radians(p.lat)), 1e-6)
        rows = self.store.sql_read(
            "SELECT id, lon, lat FROM cases WHERE category = ? AND received_at >= ? "
            "AND lon BETWEEN ? AND ? AND lat BETWEEN ? AND ? ORDER BY received_at DESC, id",
            [category, since, p.lon - dlon, p.lon + dlon, p.lat - dlat, p.lat + dlat])
        for cid, lon, lat in rows:
            if haversine_m(p.lon, p.lat, lon, lat) <= self.repeat_m:
                return str(cid)
        return None

    def transition(self, case_id: str, action: str, *, actor: str | None = None,
                   department: str | None = None, rating: int | None = None,
                   note: str | None = None, category: str | None = None) -> dict[str, Any]:
        """Apply ``action`` (see :data:`ACTIONS`); raises :class:`IllegalTransition` (the
        action is not allowed in the case's state) or :class:`DispatchInputError`.

        ``category`` corrects the case's category on the way (an operator who finds the
        triage wrong); the category a case is closed with is what retraining learns.
        """
        if action not in ACTIONS:
            raise DispatchInputError(f"action must be one of {', '.join(ACTIONS)}")
        if category is not None and category not in CATEGORIES:
            raise DispatchInputError(f"unknown category {category!r}")
        if department is not None and department not in self.table.departments:
            raise DispatchInputError(f"unknown department {department!r}")
        if action == "reassign" and department is None:
            raise DispatchInputError("reassign needs a department")
        if action == "rate" and (not isinstance(rating, int) or not 1 <= rating <= 5):
            raise DispatchInputError("rate needs a rating from 1 to 5")
        allowed, to_state = ACTIONS[action]
        self._ensure()
        now = iso(self.clock())
        with self.store.sql_transaction() as run:
            rows = run("SELECT state, department, category, text FROM cases WHERE id = ?",
                       [case_id])
            if not rows:
                raise CaseNotFound(f"no case {case_id!r}")
            state, dep, old_category, text = rows[0]
            if state not in allowed:
                raise IllegalTransition(f"cannot {action} a case in state {state}")
            if action == "dispatch":
                # A corrected category is routed by the table unless a department is named.
                routed = self.table.route(category, text) if category is not None else None
                dep = department or routed or dep or self.table.route(old_category, text)
            elif action == "reassign":
                dep = department
            sets = {"state": to_state, "department": dep}
            if category is not None:
                sets["category"] = category
            if action == "close":
                sets["closed_at"] = now
            elif action == "rate":
                sets["rating"] = rating
            elif action == "reopen":
                sets["closed_at"] = None
            assign = ", ".join(f"{k} = ?" for k in sets)
            run(f"UPDATE cases SET {assign}"
                + (", reopened = reopened + 1" if action == "reopen" else "")
                + " WHERE id = ?", [*sets.values(), case_id])
            seq = int(run("SELECT COALESCE(MAX(seq), 0) FROM case_transitions WHERE case_id = ?",
                          [case_id])[0][0]) + 1
            run("INSERT INTO case_transitions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [case_id, seq, action, state, to_state, dep, now, actor, note])
        return self.get(case_id)

    # -- evaluation (统一考评) --------------------------------------------------

    def scorecard(self, start: str | None, end: str | None,
                  by: str = "department") -> list[dict[str, Any]]:
        """Per department or subdistrict, for cases received in ``[start, end)``: received,
        closed, closed on time, on-time rate, median hours to close, reopen rate."""
        if by not in ("department", "subdistrict"):
            raise DispatchInputError("by must be department or subdistrict")
        key = "department" if by == "department" else "subdistrict_code"
        df = self.frame(start, end)
        out: list[dict[str, Any]] = []
        if df.empty:
            return out
        df[key] = df[key].fillna("")
        closed = df["closed_at"].notna()
        rec = pd.to_datetime(df["received_at"], utc=True)
        clo = pd.to_datetime(df["closed_at"], utc=True)
        df["hours"] = (clo - rec).dt.total_seconds() / 3600.0
        df["on_time"] = closed & (df["closed_at"].fillna("") <= df["deadline_at"])
        for name, g in df.groupby(key, sort=True):
            n_closed = int(g["closed_at"].notna().sum())
            hours = g["hours"].dropna()
            out.append({by: name or None, "received": len(g), "closed": n_closed,
                        "closed_on_time": int(g["on_time"].sum()),
                        "on_time_rate": round(float(g["on_time"].sum()) / n_closed, 4)
                        if n_closed else None,
                        "median_hours_to_close": round(float(hours.median()), 2)
                        if len(hours) else None,
                        "reopen_rate": round(float((g["reopened"] > 0).mean()), 4)})
        return out


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres (mean Earth radius)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi, dl = p2 - p1, np.radians(lon2 - lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return float(2 * 6_371_008.8 * np.arcsin(np.sqrt(a)))


def iter_states() -> Iterator[str]:
    """The states in lifecycle order."""
    yield from STATES

"""Bulk history: a CSV of readings (``sensor_id,t,value``) checked as a whole and
written in one transaction (rules do not run on history)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from gis.errors import IngestError
from gis.perception.db import PerceptionDB
from gis.perception.readings import MAX_FUTURE_S
from gis.store.base import Store

MAX_ERRORS = 10


def read_readings_csv(path: Path, known: set[str], now: float | None = None) -> pd.DataFrame:
    """Columns ``sensor_id, ts, value`` of a readings CSV, every row checked (vectorised).

    Raises :class:`IngestError` listing the first bad rows (1-based data lines, header
    excluded) and why; nothing is returned then, so nothing gets written.
    """
    df = pd.read_csv(path, dtype={"sensor_id": str, "t": str, "value": str})
    missing = {"sensor_id", "t", "value"} - set(df.columns)
    if missing:
        raise IngestError(f"{path.name}: missing column(s) {', '.join(sorted(missing))}")
    t = pd.to_datetime(df["t"], utc=True, errors="coerce", format="ISO8601")
    v = pd.to_numeric(df["value"], errors="coerce")
    limit = (time.time() if now is None else now) + MAX_FUTURE_S
    epoch = pd.Timestamp(0, tz="UTC")
    ts = ((t.fillna(epoch) - epoch) // pd.Timedelta(seconds=1)).to_numpy(np.int64)
    bad = {
        "unknown sensor": ~df["sensor_id"].isin(known).to_numpy(),
        "unparsable time": t.isna().to_numpy(),
        "non-numeric value": (v.isna() | ~np.isfinite(v.fillna(0))).to_numpy(),
        "more than 5 minutes in the future": (ts > limit) & t.notna().to_numpy(),
    }
    errors = []
    for why, mask in bad.items():
        for i in np.flatnonzero(mask)[:MAX_ERRORS]:
            errors.append((int(i) + 1, why))
    if errors:
        errors.sort()
        lines = "; ".join(f"row {r}: {why}" for r, why in errors[:MAX_ERRORS])
        raise IngestError(f"{path.name}: {len(errors)}+ bad row(s), nothing written: {lines}")
    return pd.DataFrame({"sensor_id": df["sensor_id"].to_numpy(object),
                         "ts": ts.astype(np.int64), "value": v.to_numpy(np.float64)})


def ingest_readings(store: Store, frame: pd.DataFrame) -> int:
    """Write checked readings in one transaction; returns how many were new."""
    db = PerceptionDB(store)
    db.ensure_schema()
    new = db.insert_many(frame["sensor_id"].to_numpy(object), frame["ts"].to_numpy(np.int64),
                         frame["value"].to_numpy(np.float64))
    return int(new.sum())

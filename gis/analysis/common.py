"""Helpers shared by the analyses: age bands, the 12-month event window, suppression."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from gis.errors import InvalidQuery
from gis.timeaxis import parse_as_of

#: Labels of the 10-year age bands (the same bands as ``gis.model.AGE_BAND_SQL``).
AGE_BANDS = ("0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80+")


def as_of_date(as_of: str | date | None) -> str:
    """The analysis instant as ``YYYY-MM-DD`` (today when None); intervals are refused."""
    if as_of is None:
        return datetime.now(UTC).date().isoformat()
    tf = parse_as_of(as_of)
    if tf is None or not tf.is_instant or tf.start is None:
        raise InvalidQuery("as_of must be one instant (YYYY-MM-DD)")
    return tf.start[:10]


def year_before(day: str) -> str:
    """The event window ``(day - 365 days, day]`` as an interval string for the store."""
    d = date.fromisoformat(day)
    start = d - timedelta(days=365)
    return f"{(start + timedelta(days=1)).isoformat()}/{d.isoformat()}"


def age_bands(birth_dates: pd.Series, year: int) -> dict[str, int]:
    """Counts per age band at ``year`` (age = year - birth year), every band present."""
    out = dict.fromkeys(AGE_BANDS, 0)
    if len(birth_dates) == 0:
        return out
    births = pd.to_numeric(birth_dates.astype(str).str[:4], errors="coerce").to_numpy()
    ages = year - births[np.isfinite(births)]
    idx = np.clip((ages // 10).astype(int), 0, 8)
    counts = np.bincount(idx, minlength=9)
    for label, n in zip(AGE_BANDS, counts.tolist(), strict=True):
        out[label] = int(n)
    return out


def value_counts(series: pd.Series) -> dict[str, int]:
    """Counts per value (sorted by value; missing values as ``unknown``)."""
    if len(series) == 0:
        return {}
    vc = series.fillna("unknown").astype(str).value_counts().sort_index()
    return {str(k): int(v) for k, v in vc.items()}


def grouped_sum(frame: pd.DataFrame, by: str, col: str) -> dict[str, float]:
    """Sum of ``col`` per value of ``by``."""
    if len(frame) == 0:
        return {}
    g = frame.assign(**{by: frame[by].fillna("unknown").astype(str)}).groupby(by)[col].sum()
    return {str(k): round(float(v), 2) for k, v in g.sort_index().items()}


def suppress_counts(values: Mapping[str, Any], k: int) -> dict[str, Any]:
    """k-anonymity over a breakdown: counts from 1 to k-1 become None."""
    return {key: (None if isinstance(v, int) and 0 < v < k else v) for key, v in values.items()}

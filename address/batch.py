"""Batch geocoding of a CSV: the same rows out, with ``lon, lat, address_id, score,
level`` added. Unresolved rows are kept (empty cells) and reported, never dropped.

Each distinct text is geocoded once (hotline exports repeat addresses a lot),
and a progress callback (the CLI draws a rich progress bar with it) is called
as rows are done.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from address.errors import AddressInputError

if TYPE_CHECKING:
    from address.service import AddressAnswers

#: Columns tried, in order, when no address column is named.
ADDRESS_COLUMNS = ("address", "address_text", "地址", "详细地址", "addr", "text", "q", "query")
#: Columns the batch adds.
OUTPUT_COLUMNS = ("lon", "lat", "address_id", "score", "level")
#: Progress callback: (rows done, rows total).
Progress = Callable[[int, int], None]


@dataclass
class BatchReport:
    """What a batch did. ``unresolved_rows`` are 1-based data row numbers (the
    header is not counted), at most the first 1,000."""

    rows: int
    resolved: int
    column: str
    seconds: float
    unresolved_rows: list[int] = field(default_factory=list)

    @property
    def unresolved(self) -> int:
        """Rows without a match."""
        return self.rows - self.resolved

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {"rows": self.rows, "resolved": self.resolved, "unresolved": self.unresolved,
                "column": self.column, "seconds": round(self.seconds, 3),
                "rate_per_s": round(self.rows / self.seconds, 1) if self.seconds else None,
                "unresolved_rows": self.unresolved_rows}


def detect_column(frame: pd.DataFrame, column: str | None = None) -> str:
    """The address column: ``column`` if given (must exist), else the first of
    :data:`ADDRESS_COLUMNS` present, else the first column holding Han text."""
    if column is not None:
        if column not in frame.columns:
            raise AddressInputError(f"no column {column!r} in the CSV")
        return column
    for name in ADDRESS_COLUMNS:
        if name in frame.columns:
            return name
    for name in frame.columns:
        sample = frame[name].astype(str).head(50)
        if sample.str.contains(r"[\u4e00-\u9fff]", regex=True).any():
            return str(name)
    raise AddressInputError("no address column found; name it with --column")


def read_csv_text(data: bytes | str) -> pd.DataFrame:
    """A CSV (UTF-8 with or without BOM, or GB18030 as Excel writes it) as text columns."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("gb18030")
    else:
        text = data.removeprefix("\ufeff")
    try:
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise AddressInputError(f"not a readable CSV: {str(exc).splitlines()[0]}") from None


def geocode_frame(service: AddressAnswers, frame: pd.DataFrame, column: str | None = None,
                  progress: Progress | None = None) -> tuple[pd.DataFrame, BatchReport]:
    """``frame`` with the output columns added (suffixed ``_geocoded`` if the names are
    taken), in the same row order, and the report."""
    t0 = time.perf_counter()
    col = detect_column(frame, column)
    texts = frame[col].to_numpy(dtype=object)
    n = len(texts)
    codes, uniques = pd.factorize(pd.Series(texts, dtype=object), use_na_sentinel=True)
    results: list[Any] = [None] * len(uniques)
    step = max(1, len(uniques) // 200)
    for i, text in enumerate(uniques):
        results[i] = service.best(text) if isinstance(text, str) and text.strip() else None
        if progress is not None and (i % step == 0 or i == len(uniques) - 1):
            progress(min(n, int((i + 1) * n / max(len(uniques), 1))), n)
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    aid = np.full(n, None, dtype=object)
    score = np.full(n, np.nan)
    level = np.full(n, None, dtype=object)
    for k, cand in enumerate(results):
        if cand is None:
            continue
        rows = codes == k
        lon[rows], lat[rows] = round(cand.lon, 7), round(cand.lat, 7)
        aid[rows], score[rows], level[rows] = cand.address_id, cand.score, cand.level
    out = frame.copy()
    for name, values in zip(OUTPUT_COLUMNS, (lon, lat, aid, score, level), strict=True):
        key = name if name not in frame.columns else f"{name}_geocoded"
        out[key] = values
    unresolved = np.flatnonzero(pd.isna(aid))
    report = BatchReport(n, n - len(unresolved), col, time.perf_counter() - t0,
                         [int(i) + 1 for i in unresolved[:1000]])
    if progress is not None:
        progress(n, n)
    return out, report


def geocode_csv(service: AddressAnswers, src: str | Path, dst: str | Path,
                column: str | None = None, progress: Progress | None = None) -> BatchReport:
    """Geocode the CSV ``src`` into ``dst`` (UTF-8); see :func:`geocode_frame`."""
    frame = read_csv_text(Path(src).read_bytes())
    out, report = geocode_frame(service, frame, column, progress)
    out.to_csv(dst, index=False, encoding="utf-8")
    return report


def frame_to_csv(frame: pd.DataFrame) -> str:
    """CSV text of a frame (the HTTP batch answer for a CSV upload)."""
    return frame.to_csv(index=False)

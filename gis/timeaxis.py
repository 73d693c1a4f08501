"""The time axis: parsing ``as_of`` instants and intervals into store filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from gis.errors import InvalidQuery
from gis.model import KindSchema


def _parse_one(text: str) -> str:
    """Canonical text of one instant: ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM:SSZ`` (UTC)."""
    text = text.strip()
    if not text:
        raise InvalidQuery("empty date")
    try:
        if len(text) == 10:
            return date.fromisoformat(text).isoformat()
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidQuery(f"not an ISO 8601 date or date-time: {text!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class TimeFilter:
    """An instant (``start == end``) or a closed interval; ``None`` ends are open.

    Text values compare correctly against DATE and DATETIME columns (see
    :mod:`gis.model`).
    """

    start: str | None
    end: str | None

    @property
    def is_instant(self) -> bool:
        """True for a single instant."""
        return self.start is not None and self.start == self.end

    @property
    def year(self) -> int:
        """Year used for derived attributes such as age (the interval's end, else today)."""
        ref = self.end or self.start
        return int(ref[:4]) if ref else datetime.now(UTC).year

    def sql(self, schema: KindSchema, alias: str = "") -> tuple[str, list[str]]:
        """WHERE fragment and parameters selecting the rows valid under this filter.

        Instant t: ``start <= t AND (end IS NULL OR end > t)``, the half-open
        valid interval. Interval [a, b]: rows overlapping it, except for
        instantaneous kinds (events), where the occurrence must lie in [a, b].
        """
        if schema.start_col is None:
            return "1", []
        prefix = f"{alias}." if alias else ""
        s, e = prefix + schema.start_col, f"{prefix}{schema.end_col}"
        if self.is_instant:
            return f"({s} <= ? AND ({e} IS NULL OR {e} > ?))", [self.start or "", self.start or ""]
        clauses: list[str] = []
        params: list[str] = []
        if schema.instantaneous:
            if self.start is not None:
                clauses.append(f"{s} >= ?")
                params.append(self.start)
            if self.end is not None:
                # A date-only end includes the whole day.
                clauses.append(f"{s} <= ?")
                params.append(self.end + "T23:59:59Z" if len(self.end) == 10 else self.end)
        else:
            if self.end is not None:
                clauses.append(f"{s} <= ?")
                params.append(self.end)
            if self.start is not None:
                clauses.append(f"({e} IS NULL OR {e} > ?)")
                params.append(self.start)
        return ("(" + " AND ".join(clauses) + ")" if clauses else "1"), params


def parse_as_of(value: str | date | datetime | TimeFilter | None) -> TimeFilter | None:
    """Parse ``as_of``: an instant, or an interval ``a/b`` with ``..`` for an open end.

    The interval syntax follows OGC API Features ``datetime`` (RFC 3339 with
    ``/`` and ``..``). Raises :class:`InvalidQuery` on malformed input or an
    interval whose start is after its end.
    """
    if value is None or isinstance(value, TimeFilter):
        return value
    if isinstance(value, datetime | date):
        value = value.isoformat()
    text = str(value).strip()
    if "/" in text:
        a, _, b = text.partition("/")
        start = None if a.strip() in ("", "..") else _parse_one(a)
        end = None if b.strip() in ("", "..") else _parse_one(b)
        if start is None and end is None:
            raise InvalidQuery("an interval needs at least one end")
        if start is not None and end is not None and start[:10] > end[:10]:
            raise InvalidQuery(f"interval start {start} is after its end {end}")
        return TimeFilter(start, end)
    t = _parse_one(text)
    return TimeFilter(t, t)

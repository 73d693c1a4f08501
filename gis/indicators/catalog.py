"""The indicator catalogue ``config/indicators.yaml``, validated with pydantic.

Each indicator names one *core query* of :mod:`gis.indicators.queries` (what is
counted or summed, over which entities) with its parameters, the levels it exists
at, its direction, whether it is a headline of the cockpit, and thresholds that
raise alerts. An invalid file raises :class:`IndicatorConfigError` naming the
offending entry, so the server refuses to start rather than serve a broken cockpit.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gis.indicators.errors import IndicatorConfigError, UnknownIndicator
from gis.settings import PROJECT_ROOT

DEFAULT_PATH = PROJECT_ROOT / "config" / "indicators.yaml"
LEVELS: tuple[str, ...] = ("district", "subdistrict", "community", "block")
Level = Literal["district", "subdistrict", "community", "block"]


class Title(BaseModel):
    """Chinese and English titles."""

    model_config = ConfigDict(extra="forbid")
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Threshold(BaseModel):
    """An alert threshold: at ``level`` (optionally only the areas ``codes``), a value
    ``op`` (``>`` or ``<``) ``value`` raises an alert of ``alert_level``; it ends when
    the value is back on the right side of ``clear`` (default: ``value``)."""

    model_config = ConfigDict(extra="forbid")
    level: Level
    op: Literal[">", "<"]
    value: float
    alert_level: int = Field(ge=1, le=3)
    clear: float | None = None
    codes: list[str] | None = None

    @model_validator(mode="after")
    def _clear_side(self) -> Threshold:
        # A clear level on the wrong side of the value would end an alert the moment it
        # starts (hysteresis must widen the band, not invert it).
        if self.clear is not None and (
                (self.op == ">" and self.clear > self.value)
                or (self.op == "<" and self.clear < self.value)):
            raise ValueError("clear must be on the safe side of value")
        return self

    @property
    def clear_value(self) -> float:
        """The level the value must come back to for the alert to end."""
        return self.value if self.clear is None else self.clear

    def crossed(self, v: float) -> bool:
        """Whether ``v`` is past the threshold."""
        return v > self.value if self.op == ">" else v < self.value

    def cleared(self, v: float) -> bool:
        """Whether ``v`` is back on the safe side of the clear level."""
        c = self.clear_value
        return v <= c if self.op == ">" else v >= c


class Indicator(BaseModel):
    """One indicator of the catalogue."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: Title
    unit: str
    query: str
    params: dict[str, Any] = Field(default_factory=dict)
    levels: list[Level] = Field(min_length=1)
    direction: Literal["higher_is_better", "lower_is_better"]
    headline: bool = False
    thresholds: list[Threshold] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> Indicator:
        from gis.indicators.queries import QUERIES

        q = QUERIES.get(self.query)
        if q is None:
            raise ValueError(f"unknown query {self.query!r}; use one of {', '.join(QUERIES)}")
        q.check_params(self.params)
        for t in self.thresholds:
            if t.level not in self.levels:
                raise ValueError(f"threshold level {t.level!r} is not one of the levels")
        return self

    def public_dict(self) -> dict[str, Any]:
        """The catalogue entry as served by ``GET /indicators`` (``live``: it reads live
        data, so its default as_of is today)."""
        from gis.indicators.queries import QUERIES

        return {"id": self.id, "title": self.title.model_dump(), "unit": self.unit,
                "levels": list(self.levels), "direction": self.direction,
                "headline": self.headline, "live": QUERIES[self.query].live,
                "thresholds": [{"level": t.level, "op": t.op, "value": t.value,
                                "alert_level": t.alert_level, "clear": t.clear_value,
                                **({"codes": t.codes} if t.codes else {})}
                               for t in self.thresholds]}


class Catalog(BaseModel):
    """The whole catalogue."""

    model_config = ConfigDict(extra="forbid")
    version: int = 1
    indicators: list[Indicator] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Catalog:
        seen: set[str] = set()
        for ind in self.indicators:
            if ind.id in seen:
                raise ValueError(f"duplicate indicator id {ind.id!r}")
            seen.add(ind.id)
        return self

    def get(self, indicator_id: str) -> Indicator:
        """The indicator ``indicator_id``; raises :class:`UnknownIndicator`."""
        for ind in self.indicators:
            if ind.id == indicator_id:
                return ind
        raise UnknownIndicator(f"no indicator {indicator_id!r}")

    @property
    def headlines(self) -> list[Indicator]:
        """The headline indicators, in catalogue order."""
        return [i for i in self.indicators if i.headline]


def parse_catalog(doc: Any, source: str = "indicators.yaml") -> Catalog:
    """Validate a parsed YAML document; raises :class:`IndicatorConfigError`."""
    try:
        return Catalog.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = list(first.get("loc", ()))
        if len(loc) >= 2 and loc[0] == "indicators" and isinstance(loc[1], int):
            with contextlib.suppress(KeyError, IndexError, TypeError, AttributeError):
                loc[1] = doc["indicators"][loc[1]].get("id", loc[1])
        where = ".".join(str(x) for x in loc)
        msg = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        raise IndicatorConfigError(f"{source}: {where + ': ' if where else ''}{msg}") from None


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Read and validate ``config/indicators.yaml`` (or ``path``)."""
    p = Path(path) if path is not None else DEFAULT_PATH
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise IndicatorConfigError(f"cannot read the indicator catalogue {p.name}: "
                                   f"{type(exc).__name__}") from None
    return parse_catalog(doc, p.name)

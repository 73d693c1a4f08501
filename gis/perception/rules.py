"""Alert rules: per sensor type defaults and per sensor overrides (config/sensor_rules.yaml).

Semantics (docs/perception.md):
- level = how many of ``levels`` × threshold the value reaches (0 = normal);
- a rise faster than ``rate_of_rise`` (unit per hour, between consecutive readings)
  raises a non-zero level by one, up to the number of levels;
- an alert starts at level >= 1, escalates when a later reading reaches a higher level
  (levels never step down while the alert lasts), and ends when a reading falls below
  ``clear`` (0.9 × threshold unless set);
- a sensor that sent live readings and then misses ``offline_after`` intervals of
  ``interval_s`` raises an ``offline`` alert, which ends at its next reading.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gis.perception.errors import RulesConfigError
from gis.settings import PROJECT_ROOT

DEFAULT_RULES_FILE = PROJECT_ROOT / "config" / "sensor_rules.yaml"


class RuleSpec(BaseModel):
    """One rule set as written in the file (every field optional in overrides)."""

    model_config = ConfigDict(extra="forbid")

    threshold: float | None = Field(None, gt=0)
    clear: float | None = Field(None, ge=0)
    levels: list[float] | None = None
    rate_of_rise: float | None = Field(None, gt=0)
    interval_s: int | None = Field(None, gt=0)
    offline_after: int | None = Field(None, ge=1)
    #: False: readings of this type never raise a threshold alert (parking occupancy:
    #: a full lot is information, not a warning); offline detection still applies.
    alerts: bool | None = None

    @model_validator(mode="after")
    def _check(self) -> RuleSpec:
        if self.levels is not None and (not self.levels or self.levels[0] != 1.0 or any(
                b <= a for a, b in zip(self.levels, self.levels[1:], strict=False))):
            raise ValueError("levels must start at 1.0 and increase")
        return self


class RulesFile(BaseModel):
    """The whole rules file."""

    model_config = ConfigDict(extra="forbid")

    types: dict[str, RuleSpec]
    overrides: dict[str, RuleSpec] = {}

    @model_validator(mode="after")
    def _complete(self) -> RulesFile:
        for name, spec in self.types.items():
            missing = [f for f in ("threshold", "levels", "interval_s", "offline_after")
                       if getattr(spec, f) is None]
            if missing:
                raise ValueError(f"type {name}: missing {', '.join(missing)}")
        return self


@dataclass(frozen=True)
class Rule:
    """The effective rule of one sensor."""

    threshold: float
    clear: float
    levels: tuple[float, ...]
    rate_of_rise: float | None
    interval_s: int
    offline_after: int
    alerts: bool = True

    def level(self, value: float, prev: tuple[int, float] | None = None,
              ts: int | None = None) -> int:
        """Alert level of ``value`` (0 normal), given the previous reading (ts, value)."""
        if not self.alerts:
            return 0
        lv = sum(1 for m in self.levels if value >= m * self.threshold)
        if lv and self.rate_of_rise and prev is not None and ts is not None and ts > prev[0]:
            rise = (value - prev[1]) / ((ts - prev[0]) / 3600.0)
            if rise >= self.rate_of_rise:
                lv = min(lv + 1, len(self.levels))
        return lv


    def levels_of(self, values: npt.NDArray[np.float64], ts: npt.NDArray[np.int64],
                  prev: tuple[int, float] | None = None) -> npt.NDArray[np.int64]:
        """:meth:`level` of each reading of a time-ordered series at once, each
        reading's previous one being the one before it (the first's: ``prev``)."""
        n = len(values)
        if not self.alerts or n == 0:
            return np.zeros(n, dtype=np.int64)
        marks = np.asarray(self.levels, dtype=np.float64) * self.threshold
        lv = (values[:, None] >= marks[None, :]).sum(axis=1).astype(np.int64)
        if self.rate_of_rise:
            pt = np.empty(n, dtype=np.int64)
            pv = np.empty(n, dtype=np.float64)
            pt[1:], pv[1:] = ts[:-1], values[:-1]
            has = np.ones(n, dtype=bool)
            if prev is None:
                has[0], pt[0], pv[0] = False, 0, 0.0
            else:
                pt[0], pv[0] = prev
            ok = has & (lv > 0) & (ts > pt)
            hours = np.where(ok, ts - pt, 1) / 3600.0
            rise = np.where(ok, (values - pv) / hours, -np.inf)
            lv = np.where(ok & (rise >= self.rate_of_rise),
                          np.minimum(lv + 1, len(self.levels)), lv)
        return lv


class Rules:
    """Validated rules, resolved per sensor."""

    def __init__(self, doc: RulesFile) -> None:
        self.doc = doc

    def for_sensor(self, sensor_id: str, sensor_type: str,
                   own_threshold: float | None = None) -> Rule:
        """The rule of one sensor: type default < sensor's threshold < override."""
        base = self.doc.types.get(sensor_type)
        if base is None:
            raise RulesConfigError(f"no rules for sensor type {sensor_type!r}")
        merged: dict[str, Any] = base.model_dump()
        if own_threshold is not None and own_threshold == own_threshold and own_threshold > 0:
            merged["threshold"] = float(own_threshold)
        over = self.doc.overrides.get(sensor_id)
        if over is not None:
            merged.update({k: v for k, v in over.model_dump().items() if v is not None})
        thr = float(merged["threshold"])
        clear = float(merged["clear"]) if merged["clear"] is not None else 0.9 * thr
        if clear > thr:
            raise RulesConfigError(f"sensor {sensor_id}: clear level above the threshold")
        return Rule(thr, clear, tuple(merged["levels"]), merged["rate_of_rise"],
                    int(merged["interval_s"]), int(merged["offline_after"]),
                    merged["alerts"] is not False)


def load_rules(path: str | Path | None = None) -> Rules:
    """Read and validate a rules file; :class:`RulesConfigError` says what is wrong."""
    p = Path(path) if path else DEFAULT_RULES_FILE
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise RulesConfigError(f"sensor rules file not found: {p.name}") from None
    except yaml.YAMLError as exc:
        raise RulesConfigError(f"sensor rules file {p.name} is not valid YAML: {exc}") from None
    try:
        return Rules(RulesFile.model_validate(doc))
    except ValidationError as exc:
        msg = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise RulesConfigError(f"sensor rules file {p.name}: {msg}") from None

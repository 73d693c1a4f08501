"""The demo policy table (config/policies.yaml) and its evaluation over enterprises.

A policy is a conjunction of simple conditions on an enterprise's industry,
size, tax band, location and age, and on the industrial space of its building
(the file's header lists them). The table is read and validated once at
start-up (pydantic: unknown keys, wrong types, a min above its max and
duplicate ids are refused), then evaluated vectorised over the snapshot's
enterprise arrays, so "who is eligible" for the whole district is one pass.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gis.analysis.enterprise_data import Snapshot
from gis.errors import CoreError

#: The default policy file, next to the roles file.
DEFAULT_FILE = Path(__file__).resolve().parent.parent.parent / "config" / "policies.yaml"
SECTIONS = tuple("ABCDEFGHIJKLMNOPQRST")
TAX_BANDS = ("A", "B", "M", "C", "D")


class PolicyConfigError(CoreError):
    """The policy file is missing or malformed (the app refuses to start)."""


class UnknownPolicy(CoreError):
    """A policy id that the table does not hold."""


class PolicySettings(BaseSettings):
    """Where the policy table is (``ONEMAP_POLICIES_FILE``)."""

    model_config = SettingsConfigDict(env_prefix="ONEMAP_POLICIES_", extra="ignore")

    file: Path = DEFAULT_FILE


class Policy(BaseModel):
    """One policy: its id, names and the conditions an enterprise must all meet."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str
    description: str = ""
    industries: tuple[str, ...] | None = None
    min_employees: int | None = Field(default=None, ge=0)
    max_employees: int | None = Field(default=None, ge=0)
    min_headcount: int | None = Field(default=None, ge=0)
    max_headcount: int | None = Field(default=None, ge=0)
    min_headcount_ratio: float | None = Field(default=None, ge=0, le=1)
    min_capital: float | None = Field(default=None, ge=0)
    max_capital: float | None = Field(default=None, ge=0)
    tax_bands: tuple[str, ...] | None = None
    subdistricts: tuple[str, ...] | None = None
    min_years: float | None = Field(default=None, ge=0)
    space_types: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        for lo, hi in (("min_employees", "max_employees"), ("min_headcount", "max_headcount"),
                       ("min_capital", "max_capital")):
            a, b = getattr(self, lo), getattr(self, hi)
            if a is not None and b is not None and a > b:
                raise ValueError(f"{lo} is larger than {hi}")
        if self.industries is not None and not set(self.industries) <= set(SECTIONS):
            raise ValueError("industries must be GB/T 4754 section letters A-T")
        if self.tax_bands is not None and not set(self.tax_bands) <= set(TAX_BANDS):
            raise ValueError(f"tax_bands must be among {', '.join(TAX_BANDS)}")
        return self

    def conditions(self) -> dict[str, Any]:
        """The conditions this policy states (name → value)."""
        return {k: v for k, v in self.model_dump().items()
                if k not in ("id", "name", "description") and v is not None}


class PolicyTable(BaseModel):
    """The whole file: the headcount-gap threshold and the policies."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    headcount_gap_ratio: float = Field(default=0.7, gt=0, le=1)
    policies: tuple[Policy, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> PolicyTable:
        ids = [p.id for p in self.policies]
        if len(ids) != len(set(ids)):
            raise ValueError("policy ids must be unique")
        return self

    def get(self, policy_id: str) -> Policy:
        """The policy ``policy_id``; raises :class:`UnknownPolicy`."""
        for p in self.policies:
            if p.id == policy_id:
                return p
        raise UnknownPolicy(f"unknown policy {policy_id!r}")


def parse_policies(doc: Any, source: str = "policies") -> PolicyTable:
    """Validate a parsed policy document."""
    try:
        return PolicyTable.model_validate(doc or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first.get("loc", ()))
        msg = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        raise PolicyConfigError(f"{source}: {loc}: {msg}" if loc else f"{source}: {msg}") \
            from None


def load_policies(path: str | Path | None = None) -> PolicyTable:
    """Read and validate the policy file (default: $ONEMAP_POLICIES_FILE or config/)."""
    p = Path(path) if path is not None else PolicySettings().file
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyConfigError(f"policy file not found: {p.name}") from None
    except yaml.YAMLError as exc:
        raise PolicyConfigError(f"policy file {p.name} is not valid YAML: {exc}") from None
    return parse_policies(doc, p.name)


@functools.lru_cache(maxsize=4)
def _cached(path: str) -> PolicyTable:
    return load_policies(path)


def policy_table(path: str | Path | None = None) -> PolicyTable:
    """The validated policy table, read once per file (the app calls it at start-up)."""
    return _cached(str(Path(path) if path is not None else PolicySettings().file))


Mask = npt.NDArray[np.bool_]


def _isin(values: np.ndarray, options: Any) -> Mask:
    """``np.isin`` for many rows; a set lookup for a few (the portrait asks one row, and
    ``np.isin`` on object arrays costs about a millisecond whatever the size)."""
    if len(values) < 64:
        opts = set(options)
        return np.array([v in opts for v in values], dtype=bool)
    return np.asarray(np.isin(values, list(options)), dtype=bool)


def condition_masks(snap: Snapshot, policy: Policy, day: int,
                    rows: npt.NDArray[np.int64] | None = None) -> dict[str, Mask]:
    """Per condition of ``policy``, which enterprises (``rows``, default all) meet it."""
    e = snap.enterprises
    sel = np.arange(len(e)) if rows is None else rows
    emp = e["employees"][sel]
    ss = e["ss"][sel]
    cap = e["capital"][sel]
    out: dict[str, Mask] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(emp > 0, ss / emp, np.nan)
    if policy.industries is not None:
        out["industries"] = _isin(e["industry"][sel], policy.industries)
    for name, arr, op in (("min_employees", emp, np.greater_equal),
                          ("max_employees", emp, np.less_equal),
                          ("min_headcount", ss, np.greater_equal),
                          ("max_headcount", ss, np.less_equal),
                          ("min_headcount_ratio", ratio, np.greater_equal),
                          ("min_capital", cap, np.greater_equal),
                          ("max_capital", cap, np.less_equal)):
        value = getattr(policy, name)
        if value is not None:
            with np.errstate(invalid="ignore"):
                out[name] = np.asarray(op(arr, value), dtype=bool)  # NaN → False
    if policy.tax_bands is not None:
        out["tax_bands"] = _isin(e["tax_band"][sel], policy.tax_bands)
    if policy.subdistricts is not None:
        out["subdistricts"] = _isin(e["subdistrict_code"][sel], policy.subdistricts)
    if policy.min_years is not None:
        out["min_years"] = (day - e.vf[sel]) >= policy.min_years * 365.25
    if policy.space_types is not None:
        sp = snap.spaces
        m = sp.valid_at(day) & np.isin(sp["space_type"], list(policy.space_types))
        holders = {b for b in sp["building_id"][m] if b}
        out["space_types"] = _isin(e["building_id"][sel], holders)
    return out


def eligible_mask(snap: Snapshot, policy: Policy, day: int) -> Mask:
    """Enterprises registered and not cancelled at ``day`` that meet every condition."""
    m = snap.enterprises.valid_at(day)
    for cond in condition_masks(snap, policy, day).values():
        m &= cond
    return m

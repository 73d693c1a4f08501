"""The dispatch table: category → department (with place rules) and deadline.

``config/dispatch.yaml`` is read and validated with pydantic at start-up; an invalid table
raises :class:`DispatchConfigError` naming what is wrong, so the server never starts with a
table that would route a case nowhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gis.cases.errors import DispatchConfigError
from gis.settings import PROJECT_ROOT

#: The demo's fixed taxonomy (data/synth/activity.py), in its order.
CATEGORIES: tuple[str, ...] = (
    "占道经营", "出店经营", "垃圾暴露", "积水", "噪音扰民", "违章停车", "乱搭乱建", "道路破损",
    "井盖缺失", "绿化损坏", "消防通道堵塞", "油烟污染", "共享单车乱停放", "违规张贴小广告")
DEFAULT_PATH = PROJECT_ROOT / "config" / "dispatch.yaml"


class Rule(BaseModel):
    """A place rule: when the text contains any of the words, another department."""

    model_config = ConfigDict(extra="forbid")
    any_of: list[str] = Field(min_length=1)
    department: str


class CategoryRoute(BaseModel):
    """Department, deadline and place rules of one category."""

    model_config = ConfigDict(extra="forbid")
    department: str
    deadline_h: float = Field(gt=0)
    rules: list[Rule] = Field(default_factory=list)


class DispatchTable(BaseModel):
    """The whole table; every category of the taxonomy must be present."""

    model_config = ConfigDict(extra="forbid")
    version: int = 1
    departments: dict[str, str] = Field(min_length=1)
    categories: dict[str, CategoryRoute]

    @model_validator(mode="after")
    def _complete(self) -> DispatchTable:
        missing = [c for c in CATEGORIES if c not in self.categories]
        if missing:
            raise ValueError(f"categories missing: {', '.join(missing)}")
        unknown = [c for c in self.categories if c not in CATEGORIES]
        if unknown:
            raise ValueError(f"unknown categories: {', '.join(unknown)}")
        for cat, route in self.categories.items():
            for dep in [route.department, *(r.department for r in route.rules)]:
                if dep not in self.departments:
                    raise ValueError(f"{cat}: unknown department {dep!r}")
        return self

    def route(self, category: str, text: str = "") -> str:
        """The department key for a case of ``category`` described by ``text``
        (first place rule whose words occur in the text, else the category's own)."""
        entry = self.categories[category]
        for rule in entry.rules:
            if any(w in text for w in rule.any_of):
                return rule.department
        return entry.department

    def department_name(self, key: str) -> str:
        """The department's full name."""
        return self.departments[key]

    def deadline_h(self, category: str) -> float:
        """Hours allowed from receipt to closing for ``category``."""
        return self.categories[category].deadline_h


def parse_table(doc: Any, source: str = "dispatch table") -> DispatchTable:
    """Validate a parsed YAML document; raises :class:`DispatchConfigError`."""
    try:
        return DispatchTable.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ()))
        raise DispatchConfigError(
            f"{source}: {where + ': ' if where else ''}{first.get('msg', 'invalid')}") from None


def load_table(path: str | Path | None = None) -> DispatchTable:
    """Read and validate ``config/dispatch.yaml`` (or ``path``)."""
    p = Path(path) if path is not None else DEFAULT_PATH
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DispatchConfigError(f"cannot read the dispatch table {p.name}: {exc}") from None
    return parse_table(doc, p.name)

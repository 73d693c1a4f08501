"""Settings of the OGC APIs (prefix ``ONEMAP_OGC_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from gis.settings import PROJECT_ROOT


class OgcSettings(BaseSettings):
    """Where the roles file and the audit log live, and paging limits."""

    model_config = SettingsConfigDict(env_prefix="ONEMAP_OGC_", extra="ignore")

    roles_file: Path = PROJECT_ROOT / "config" / "roles.yaml"
    #: JSONL audit log of person-level reads; empty = ``<data dir>/audit.jsonl``.
    audit_file: str = ""
    max_items: int = 10_000
    default_items: int = 10

"""Settings of the core (pydantic-settings, environment prefix ``ONEMAP_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

#: Repository root (the folder holding ``data/``); used only for defaults.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class CoreSettings(BaseSettings):
    """Where the data lives. Read when a command or the app starts, never at import."""

    model_config = SettingsConfigDict(env_prefix="ONEMAP_", extra="ignore")

    data_dir: Path = PROJECT_ROOT / "data" / "build"
    store_file: str = "onemap.gpkg"

    @property
    def store_path(self) -> Path:
        """The GeoPackage file of the embedded store."""
        return self.data_dir / self.store_file


class DbSettings(BaseSettings):
    """Server database settings (prefix ``ONEMAP_DB_``); empty URL = GeoPackage store."""

    model_config = SettingsConfigDict(env_prefix="ONEMAP_DB_", extra="ignore")

    url: str = ""

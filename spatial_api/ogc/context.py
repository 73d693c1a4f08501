"""Per-request context of the OGC APIs: the app's runtime and the caller's principal.

pygeoapi instantiates providers and processes on every request, in a worker
thread, with nothing but their configuration; the request's runtime (store,
catalog, audit log) and principal reach them through this context variable,
which ``gate.py`` sets inside the worker thread before pygeoapi's handler runs.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gis.store.base import Store
from layers.access import Principal, RoleConfig
from layers.audit import AuditLog
from layers.auth import Authenticator
from layers.catalog import Layer


@dataclass
class OgcRuntime:
    """What the OGC plugins of one app need, built once at start-up."""

    catalog: dict[str, Layer]
    roles: Authenticator | RoleConfig
    audit: AuditLog
    base_url: str
    run_dir: Path
    max_items: int = 10_000
    default_items: int = 10
    store: Store | None = None
    extents: dict[str, dict[str, Any]] = field(default_factory=dict)
    apis: dict[str, Any] = field(default_factory=dict)  # role -> pygeoapi API

    def require_store(self) -> Store:
        """The store (raises if the app has not started)."""
        if self.store is None:
            from gis.errors import StoreUnavailable

            raise StoreUnavailable("the store is not open")
        return self.store


@dataclass(frozen=True)
class RequestContext:
    """The runtime and the principal of one request."""

    runtime: OgcRuntime
    principal: Principal


CURRENT: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "onemap_ogc_request", default=None)


#: True while pygeoapi answers an items request whose body only ``strict_to_json``
#: (orjson) writes: features may then carry their geometry as pre-written GeoJSON
#: (:attr:`layers.catalog.FeatureQuery.geometry_text`). HTML, CSV and JSON-LD read the
#: geometries as dicts, so they leave it False.
JSON_BODY: contextvars.ContextVar[bool] = contextvars.ContextVar("onemap_ogc_json_body",
                                                                default=False)


def current() -> RequestContext | None:
    """The context of the request being served in this thread (None outside one)."""
    return CURRENT.get()

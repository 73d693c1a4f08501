"""The road graphs of a store: built once, rebuilt when roads are written."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

import shapely

from gis.network.errors import NetworkError
from gis.network.graph import MODES, Mode, NetworkSettings, RoadNetwork, build_networks
from gis.store.base import Store

log = logging.getLogger(__name__)


class NetworkService:
    """Holds the walk and drive graphs of ``store``.

    Built once (at start-up, by the app's lifespan, or on first use); a write of
    the ``road`` kind rebuilds them (the store's write listeners), and the new
    graphs replace the old ones in one assignment, so a query running during
    the rebuild finishes on the graphs it started with.
    """

    def __init__(self, store: Store, settings: NetworkSettings | None = None) -> None:
        self.store = store
        self.settings = settings or NetworkSettings()
        self._nets: dict[Mode, RoadNetwork] | None = None
        self._lock = threading.Lock()
        self._cache_lock = threading.Lock()
        self.build_seconds = 0.0
        #: Derived data of the analyses (buildings joined to a graph...), dropped on rebuild.
        self.cache: dict[Any, Any] = {}

    def build(self) -> dict[Mode, RoadNetwork]:
        """(Re)build both graphs from the store's current roads."""
        t0 = time.perf_counter()
        roads = self.store.query("road", columns=["id", "name", "road_class"])
        district = self.store.query("district", columns=["id"])
        outline = shapely.union_all(district.geometry.to_numpy()) if len(district) else None
        try:
            nets = build_networks(roads, outline, self.settings)
        except NetworkError as exc:  # a store without roads still serves everything else
            log.warning("no road graphs: %s", exc.message)
            nets = {}
        self._nets = nets
        self.cache = {}
        self.build_seconds = time.perf_counter() - t0
        log.info("road graphs built in %.2f s", self.build_seconds)
        return nets

    def networks(self) -> dict[Mode, RoadNetwork]:
        """Both graphs (built on first use when not built yet)."""
        nets = self._nets
        if nets is None:
            with self._lock:
                nets = self._nets or self.build()
        return nets

    def get(self, mode: str) -> RoadNetwork:
        """The graph of ``mode`` (``walk`` or ``drive``)."""
        if mode not in MODES:
            raise NetworkError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        nets = self.networks()
        if mode not in nets:
            raise NetworkError("the store has no roads to build a network from")
        return nets[mode]  # type: ignore[index]

    def cache_put(self, key: Any, value: Any, keep: int = 8) -> None:
        """Remember a derived value (the oldest go beyond ``keep`` entries)."""
        with self._cache_lock:  # requests run in worker threads
            cache = self.cache
            while len(cache) >= keep:
                cache.pop(next(iter(cache)))
            cache[key] = value

    # ------------------------------------------------------------ listeners
    def on_write(self, kind: str, _bounds: Any) -> None:
        """Store write listener: rebuild after roads change."""
        if kind == "road":
            with self._lock:
                self.build()
        elif kind in ("building", "person"):
            self.cache = {}

    def attach(self) -> None:
        """Listen to the store's writes."""
        listeners = getattr(self.store, "write_listeners", None)
        if listeners is not None and self.on_write not in listeners:
            listeners.append(self.on_write)

    def detach(self) -> None:
        """Stop listening."""
        listeners = getattr(self.store, "write_listeners", None)
        if listeners is not None and self.on_write in listeners:
            listeners.remove(self.on_write)


def network_service(store: Store, settings: NetworkSettings | None = None) -> NetworkService:
    """The service of ``store``, kept on the store object so that every caller shares it."""
    svc = getattr(store, "_onemap_network", None)
    if not isinstance(svc, NetworkService):
        svc = NetworkService(store, settings)
        svc.attach()
        with contextlib.suppress(AttributeError):
            store._onemap_network = svc  # type: ignore[attr-defined]
    return svc

"""``/metrics`` (Prometheus text format, prometheus-client) and the health probe.

Requests are counted and timed per *route template* (``/enterprises/{enterprise_id}/portrait``,
``/ogc/*`` for the mounted pygeoapi), never per raw path, so the series stay few.
The tile cache's hits and misses are read when scraped. Store operations are
timed in the store layer (:mod:`gis.store.timing`, no web framework there): the
host installs an observer on the store it opens that feeds
``onemap_store_query_seconds{store, operation}``. Each app has its own
registry (several apps in one test process must not share counters).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Store operations go down to a fraction of a millisecond (an indexed lookup).
STORE_BUCKETS = (0.0005, 0.001, 0.0025, *BUCKETS)


class _TileCacheCollector(Collector):
    """Hits, misses and hit rate of the tile cache, read at scrape time."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def collect(self) -> Iterator[Any]:
        tiles = getattr(self.app.state, "tiles", None)
        cache = getattr(getattr(tiles, "service", None), "cache", None)
        if cache is None:
            return
        hits, misses = int(cache.hits), int(cache.misses)
        yield CounterMetricFamily("onemap_tile_cache_hits", "Tile cache hits.", value=hits)
        yield CounterMetricFamily("onemap_tile_cache_misses", "Tile cache misses.",
                                  value=misses)
        yield GaugeMetricFamily("onemap_tile_cache_hit_ratio",
                                "Tile cache hits / lookups since start.",
                                value=hits / (hits + misses) if hits + misses else 0.0)


class MetricsMiddleware:
    """Counts and times every HTTP request by method, route template and status."""

    def __init__(self, app: ASGIApp, fastapi_app: FastAPI, registry: CollectorRegistry) -> None:
        self.app = app
        self.fastapi_app = fastapi_app
        self.requests = Counter("onemap_http_requests", "HTTP requests.",
                                ["method", "route", "status"], registry=registry)
        self.latency = Histogram("onemap_http_request_seconds", "HTTP request latency.",
                                 ["method", "route"], buckets=BUCKETS, registry=registry)

    def _template(self, scope: Scope) -> str:
        raw: str = scope.get("path", "")
        # a mounted app first: its inner routes would otherwise label it (pygeoapi's
        # "/collections" would be mistaken for a host route)
        for r in self.fastapi_app.routes:
            if isinstance(r, Mount) and r.path and (raw == r.path
                                                    or raw.startswith(r.path + "/")):
                return f"{r.path}/*"
        path = getattr(scope.get("route"), "path", None)
        if isinstance(path, str):
            return path
        return "other"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time the request and count its status."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = [500]
        t0 = time.perf_counter()

        async def send_wrapper(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = self._template(scope)
            self.requests.labels(scope["method"], route, str(status[0])).inc()
            self.latency.labels(scope["method"], route).observe(time.perf_counter() - t0)


def install_metrics(app: FastAPI) -> None:
    """Add the middleware, ``/metrics`` and the tile cache collector to ``app``.

    The store's timings start flowing when the lifespan calls :func:`observe_store`.
    """
    registry = CollectorRegistry()
    registry.register(_TileCacheCollector(app))
    app.state.store_seconds = Histogram(
        "onemap_store_query_seconds", "Store operation time (outermost operation per call).",
        ["store", "operation"], buckets=STORE_BUCKETS, registry=registry)
    app.add_middleware(MetricsMiddleware, fastapi_app=app, registry=registry)
    app.state.metrics_registry = registry

    @app.get("/metrics", tags=["service"], include_in_schema=False)
    def metrics() -> Response:
        """Prometheus text exposition of the request and cache metrics."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def observe_store(app: FastAPI, store: Any) -> None:
    """Feed ``store``'s operation times (:mod:`gis.store.timing`) into the app's histogram."""
    hist: Histogram | None = getattr(app.state, "store_seconds", None)
    if hist is None or not hasattr(store, "query_observer"):
        return

    def observe(backend: str, operation: str, seconds: float) -> None:
        hist.labels(backend, operation).observe(seconds)

    store.query_observer = observe


#: Start-up threads reported in /health ``tasks`` while they run.
_WARM_THREADS = {"onemap-enterprise-snapshot": "enterprise_snapshot",
                 "perception-warm": "perception_warm", "onemap-tiles-prewarm": "tiles_prewarm",
                 "indicator-warm": "indicator_warm"}  # gis/indicators: frames + summary


def health_report(request: Request) -> JSONResponse:
    """Store and background-task state: ``ok``, ``degraded`` (a task failed) or ``down``.

    ``down`` (503): the store does not answer. ``degraded`` (200): the store
    answers but a background task (offline packs build, enterprise snapshot) failed.
    ``mqtt`` reports the broker (embedded, external or none; connected or not).
    ``ready`` is false while a start-up task (warm-ups, packs) still runs.
    """
    app = request.app
    store = getattr(app.state, "store", None)
    body: dict[str, Any] = {}
    try:
        if store is None:
            raise RuntimeError("not open")
        stats = store.stats().as_dict()
        body["store"] = {"state": "ok", "backend": stats["backend"],
                         "location": stats["location"]}
        body.update(counts=stats["counts"], rows=stats["rows"],
                    build_time=stats["meta"].get("build_time"),
                    seed=stats["meta"].get("seed"), scale=stats["meta"].get("scale"))
        store_ok = True
    except Exception:  # any failure of the store is "down"; never its message
        body["store"] = {"state": "down"}
        store_ok = False
    tasks: dict[str, str] = {}
    packs = getattr(getattr(app.state, "tiles", None), "packs", None)
    if packs is not None:
        tasks["packs"] = str(packs.state)
    for t in threading.enumerate():
        if t.name in _WARM_THREADS:
            tasks[_WARM_THREADS[t.name]] = "running"
    warm = getattr(app.state, "network_warm", None)
    if warm is not None and warm.is_alive():
        tasks["coverage_warm"] = "running"
    body["tasks"] = tasks
    # ready: no start-up task still running (they compete with requests for the CPU;
    # `make loadtest` waits for it, as a load balancer's readiness probe would)
    body["ready"] = not {"running", "building"} & set(tasks.values())
    perception = getattr(app.state, "perception_rt", None)
    if perception is not None:  # the MQTT broker (says so when there is none)
        body["mqtt"] = perception.health()
    if not store_ok:
        body["status"] = "down"
        return JSONResponse(body, status_code=503)
    body["status"] = "degraded" if "failed" in tasks.values() else "ok"
    return JSONResponse(body)

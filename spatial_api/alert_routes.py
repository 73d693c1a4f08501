"""Alerts over HTTP: ``GET /alerts``, ``GET /alerts/{id}/impact`` and the SSE stream.

The stream follows the WHATWG Server-Sent Events format: each alert change is one
``event: alert`` with ``id:`` = its alert-log sequence number, so a reconnecting
client's ``Last-Event-ID`` replays what it missed from the log; a comment line every
``heartbeat_s`` keeps proxies from closing an idle connection.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from gis.perception.errors import DeviceAuthError
from spatial_api.sensor_routes import WRITER_ROLES, perception, principal

Item = tuple[int, dict[str, Any]]


class AlertHub:
    """Fans alert changes out from the ingesting thread to the SSE connections."""

    def __init__(self) -> None:
        self._subs: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Item]]] = set()
        self._lock = threading.Lock()

    def publish(self, seq: int, data: dict[str, Any]) -> None:
        """Listener of :class:`PerceptionService` (called from any thread)."""
        with self._lock:
            subs = list(self._subs)
        for loop, q in subs:
            loop.call_soon_threadsafe(q.put_nowait, (seq, data))

    def subscribe(self) -> tuple[asyncio.AbstractEventLoop, asyncio.Queue[Item]]:
        """A queue receiving every change from now on."""
        sub = (asyncio.get_running_loop(), asyncio.Queue[Item]())
        with self._lock:
            self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: tuple[asyncio.AbstractEventLoop, asyncio.Queue[Item]]) -> None:
        """Stop delivering to ``sub``."""
        with self._lock:
            self._subs.discard(sub)


def _frame(seq: int, data: dict[str, Any]) -> str:
    return f"id: {seq}\nevent: alert\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _require(request: Request, roles: frozenset[str] | None) -> None:
    """401 unless the request's role is in ``roles`` (None: any department role)."""
    p = principal(request)
    if p.is_public or (roles is not None and p.role not in roles):
        raise DeviceAuthError("this resource needs an API key of role "
                              + ("/".join(sorted(roles)) if roles else "a department"))


def alert_router(heartbeat_s: float = 15.0) -> APIRouter:
    """The alert routes."""
    router = APIRouter(tags=["perception"])

    @router.get("/alerts")
    async def alerts(request: Request, active: bool | None = None) -> JSONResponse:
        """Alerts as GeoJSON (``active=true``: only those not ended). Departments only."""
        _require(request, None)
        body = await run_in_threadpool(perception(request).alert_features, active)
        return JSONResponse(body, media_type="application/geo+json")

    @router.get("/alerts/stream")
    async def stream(request: Request) -> StreamingResponse:
        """Server-Sent Events of alert changes (emergency/admin)."""
        _require(request, WRITER_ROLES)
        svc = perception(request)
        hub: AlertHub = request.app.state.alert_hub
        last = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
        try:
            since = int(last) if last else None
        except ValueError:
            since = None

        async def events() -> AsyncIterator[str]:
            sub = hub.subscribe()  # before the replay, so nothing falls between
            try:
                yield "retry: 2000\n: connected\n\n"
                done = since if since is not None else -1
                if since is not None:
                    for seq, data in await run_in_threadpool(svc.db.log_since, since):
                        yield _frame(seq, data)
                        done = seq
                while True:
                    try:
                        seq, data = await asyncio.wait_for(sub[1].get(), heartbeat_s)
                    except TimeoutError:
                        yield ": heartbeat\n\n"
                        continue
                    if seq > done:
                        yield _frame(seq, data)
            finally:
                hub.unsubscribe(sub)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache",
                                          "X-Accel-Buffering": "no"})

    @router.get("/alerts/{alert_id}/impact")
    async def impact(alert_id: int, request: Request) -> JSONResponse:
        """Who and what is in the alert's area as of its start. Departments only."""
        _require(request, None)
        body = await run_in_threadpool(perception(request).impact, alert_id)
        return JSONResponse(body)

    return router

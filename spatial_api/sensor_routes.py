"""``POST /sensors/{id}/readings``: readings in over HTTP (parse, authenticate, call the core)."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from gis.perception.errors import BadReading, DeviceAuthError
from gis.perception.mqtt import start_bridge
from gis.perception.readings import iso, parse_payload
from gis.perception.rules import load_rules
from gis.perception.service import PerceptionService
from gis.store.base import Store
from layers.access import ADMIN, Principal
from spatial_api.settings import Settings

log = logging.getLogger(__name__)

#: Roles that may post readings for any sensor (besides the sensor's own device key).
WRITER_ROLES = frozenset({"emergency", ADMIN})


def perception(request: Request) -> PerceptionService:
    """The perception service built at start-up."""
    svc: PerceptionService = request.app.state.perception
    return svc


def principal(request: Request) -> Principal:
    """The principal of the request's API key (``X-API-Key`` or ``api_key``)."""
    key = request.headers.get("x-api-key") or request.query_params.get("api_key")
    p: Principal = request.app.state.ogc.roles.principal(key)
    return p


def sensor_router() -> APIRouter:
    """The readings route."""
    router = APIRouter(tags=["perception"])

    @router.post("/sensors/{sensor_id}/readings", status_code=201)
    async def post_readings(sensor_id: str, request: Request) -> JSONResponse:
        """Store one reading ``{"t", "value"}`` or an array of them; 201 ``{"accepted": n}``.

        Authenticated by the sensor's device key (``X-Device-Key``) or an API key of
        role emergency or admin. A batch with one bad element writes nothing.
        """
        svc = perception(request)
        svc.state(sensor_id)  # 404 before anything else
        device_key = request.headers.get("x-device-key")
        if device_key:
            svc.check_device(sensor_id, device_key)
        elif principal(request).role not in WRITER_ROLES:
            raise DeviceAuthError("a device key (X-Device-Key) or an emergency/admin API key "
                                  "is required")
        raw = await request.body()
        try:
            payload: Any = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise BadReading("the body is not JSON") from None
        ts, values = parse_payload(payload)
        n = await run_in_threadpool(svc.ingest, sensor_id, ts, values)
        return JSONResponse({"accepted": n}, status_code=201)

    @router.get("/sensors/{sensor_id}/readings")
    async def get_readings(sensor_id: str, request: Request, hours: float = 24.0
                           ) -> JSONResponse:
        """The sensor's readings of the last ``hours`` (for the viewer's sparkline)."""
        svc = perception(request)
        svc.state(sensor_id)
        if not 0 < hours <= 24 * 366:
            raise BadReading("hours must be in (0, 8784]")
        hi = int(time.time()) + 1
        frame = await run_in_threadpool(svc.db.series, sensor_id, hi - int(hours * 3600), hi)
        return JSONResponse({"sensor_id": sensor_id,
                             "t": [iso(int(x)) for x in frame["ts"]],
                             "value": [float(v) for v in frame["value"]]})

    return router


class PerceptionRuntime:
    """The perception service and its background parts, started in the lifespan."""

    def __init__(self, service: PerceptionService, offline_check_s: float) -> None:
        self.service = service
        self.mqtt: Any = None  # gis.perception.mqtt.MqttBridge when a broker is reachable
        self.mqtt_status: dict[str, Any] = {"broker": None, "connected": False}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if offline_check_s > 0:
            self._thread = threading.Thread(target=self._offline_loop, args=(offline_check_s,),
                                            name="perception-offline", daemon=True)
            self._thread.start()

    def _offline_loop(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                self.service.check_offline()
            except Exception:  # keep checking; the next round may succeed
                log.exception("offline check failed")

    def health(self) -> dict[str, Any]:
        """The MQTT part of /health (says so when there is no broker)."""
        return self.mqtt.status() if self.mqtt is not None else self.mqtt_status

    def stop(self) -> None:
        """Stop the background parts."""
        self._stop.set()
        if self.mqtt is not None:
            self.mqtt.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)


def start_perception(store: Store, settings: Settings, hub: Any) -> PerceptionRuntime:
    """Build the perception service (rules validated here, at start-up) and its MQTT side."""
    rules = load_rules(settings.sensor_rules_file or None)
    terrain = settings.data_dir / store.get_meta().get("terrain", "terrain.tif")
    svc = PerceptionService(store, rules, terrain, warm=settings.warm("perception"))
    svc.listeners.append(hub.publish)
    rt = PerceptionRuntime(svc, settings.offline_check_s)
    rt.mqtt = start_bridge(svc, settings.mqtt_url, settings.mqtt_embedded)
    rt.mqtt_status = rt.mqtt.status() if rt.mqtt is not None else {
        "broker": None, "connected": False,
        "note": "no MQTT broker: readings arrive over HTTP only"}
    return rt

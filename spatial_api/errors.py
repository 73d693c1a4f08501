"""The one table from core exceptions to HTTP status codes, and the handlers using it.

Clients get ``{"code", "type", "description"}`` (the shape of an OGC API exception) with a
safe message; never a stack trace or an internal path.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gis.analysis.enterprise_policies import PolicyConfigError, UnknownPolicy
from gis.cases.errors import (
    DispatchConfigError,
    IllegalTransition,
    ModelUnavailable,
    RetrainBusy,
)
from gis.errors import (
    CoreError,
    EntityNotFound,
    IngestError,
    InvalidGeometry,
    InvalidQuery,
    StoreUnavailable,
    UnknownKind,
)
from gis.indicators.errors import (
    IndicatorAuthError,
    IndicatorConfigError,
    IndicatorInputError,
    UnknownArea,
    UnknownIndicator,
)
from gis.perception.errors import (
    BadReading,
    DeviceAuthError,
    RulesConfigError,
    UnknownAlert,
    UnknownSensor,
)
from gis.security.backup import BackupError
from layers.access import UnknownApiKey
from layers.auth import RateLimited

log = logging.getLogger(__name__)

#: Exception class → (HTTP status, OGC-style code). The first matching class wins.
ERROR_TABLE: list[tuple[type[CoreError], int, str]] = [
    (IllegalTransition, 409, "Conflict"),
    (RetrainBusy, 409, "Conflict"),
    (ModelUnavailable, 503, "ServiceUnavailable"),
    (DispatchConfigError, 500, "ServerError"),
    (EntityNotFound, 404, "NotFound"),
    (UnknownKind, 404, "NotFound"),
    (UnknownPolicy, 404, "NotFound"),
    (PolicyConfigError, 500, "ServerError"),
    (InvalidGeometry, 400, "InvalidParameterValue"),
    (InvalidQuery, 400, "InvalidParameterValue"),
    (IngestError, 422, "InvalidInput"),
    (StoreUnavailable, 503, "ServiceUnavailable"),
    # perception (issue 11)
    (UnknownSensor, 404, "NotFound"),
    (UnknownAlert, 404, "NotFound"),
    (BadReading, 400, "InvalidParameterValue"),
    (DeviceAuthError, 401, "Unauthorized"),
    (UnknownApiKey, 401, "Unauthorized"),
    (RulesConfigError, 500, "ServerError"),
    (RateLimited, 429, "TooManyRequests"),
    (BackupError, 409, "Conflict"),
    # indicators (issue 17)
    (UnknownIndicator, 404, "NotFound"),
    (UnknownArea, 404, "NotFound"),
    (IndicatorInputError, 400, "InvalidParameterValue"),
    (IndicatorAuthError, 401, "Unauthorized"),
    (IndicatorConfigError, 500, "ServerError"),
]


def status_for(exc: CoreError) -> tuple[int, str]:
    """HTTP status and code for a core exception (500 for anything unlisted)."""
    for cls, status, code in ERROR_TABLE:
        if isinstance(exc, cls):
            return status, code
    return 500, "ServerError"


def error_body(code: str, description: str) -> dict[str, str]:
    """The JSON body of an error response (``type`` too: OGC API Processes' exception
    schema, after RFC 7807, requires it; pygeoapi's bodies carry both)."""
    return {"code": code, "type": code, "description": description}


def install_handlers(app: FastAPI) -> None:
    """Register the exception handlers on ``app``."""

    @app.exception_handler(CoreError)
    async def _core(_: Request, exc: CoreError) -> JSONResponse:
        status, code = status_for(exc)
        if status >= 500:
            log.error("core error: %s", exc.message)
            message = "the service could not answer; try again later"
        else:
            message = exc.message
        headers = ({"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited)
                   else None)
        return JSONResponse(error_body(code, message), status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            loc = ".".join(str(x) for x in err.get("loc", ()) if x not in ("query", "body"))
            parts.append(f"{loc}: {err.get('msg', 'invalid')}")
        return JSONResponse(error_body("InvalidParameterValue", "; ".join(parts)),
                            status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, "HTTPError")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse(error_body("ServerError", "internal error"), status_code=500)

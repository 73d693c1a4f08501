"""``GET /audit``: the audit trail for the admin role, filtered by key, role, layer, time."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from layers.access import ADMIN, WWW_AUTHENTICATE, UnknownApiKey
from spatial_api.errors import error_body
from spatial_api.principal import request_principal as _principal


def audit_router() -> APIRouter:
    """The admin's audit route."""
    router = APIRouter(tags=["service"])

    @router.get("/audit")
    def audit(request: Request, key: str | None = Query(None, description="Key id."),
              role: str | None = None, layer: str | None = None,
              since: str | None = Query(None, description="ISO time, inclusive."),
              until: str | None = Query(None, description="ISO time, exclusive."),
              limit: int = Query(1000, ge=1, le=100_000)) -> Any:
        """Audit records (admin only), oldest first; reading them is itself audited."""
        try:
            principal = _principal(request)
        except UnknownApiKey:
            return JSONResponse(error_body("Unauthorized", "unknown credentials"),
                                status_code=401, headers={"WWW-Authenticate": WWW_AUTHENTICATE})
        if principal.is_public:
            return JSONResponse(error_body("Unauthorized", "the admin role is required"),
                                status_code=401, headers={"WWW-Authenticate": WWW_AUTHENTICATE})
        if principal.role != ADMIN:
            return JSONResponse(error_body("Forbidden", "the admin role is required"),
                                status_code=403)
        log = request.app.state.ogc.audit
        rows = log.entries(key_id=key, role=role, layer=layer, since=since, until=until,
                           limit=limit)
        log.record(principal, "audit", "audit-read", len(rows),
                   {k: v for k, v in request.query_params.items()})
        return {"numberReturned": len(rows), "records": rows}

    return router

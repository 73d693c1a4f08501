"""``GET /enterprises/{id}/portrait``: the enterprise portrait for departments.

Only the ``admin`` and ``enterprise`` roles see portraits; to every other role
an enterprise is not found (404, as for any hidden thing in OneMap), and an
unknown API key is 401. Event descriptions (citizens' words, which may name
natural persons) are shown to ``admin`` only (gis/analysis/enterprise_service.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from gis.analysis.enterprise_policies import policy_table
from gis.analysis.enterprise_service import enterprise_portrait
from layers.access import ADMIN, Principal, UnknownApiKey
from spatial_api.errors import error_body

#: Roles that may read enterprise portraits and the service lists.
ENTERPRISE_ROLES = frozenset({ADMIN, "enterprise"})


def _principal(request: Request) -> Principal:
    key = request.headers.get("x-api-key") or request.query_params.get("api_key")
    principal: Principal = request.app.state.ogc.roles.principal(key)
    return principal


def enterprise_router() -> APIRouter:
    """Routes of the enterprise service."""
    router = APIRouter(tags=["enterprise"])

    @router.get("/enterprises/{enterprise_id}/portrait")
    def portrait(request: Request, enterprise_id: str, as_of: str | None = None) -> Any:
        """Who is this enterprise: registration, size, headcount gap, address, building and
        space, events at its address, neighbourhood and matching policies."""
        try:
            principal = _principal(request)
        except UnknownApiKey:
            return JSONResponse(error_body("Unauthorized", "unknown API key"), status_code=401)
        if principal.role not in ENTERPRISE_ROLES:
            return JSONResponse(error_body("NotFound", f"no enterprise with id {enterprise_id!r}"),
                                status_code=404)
        result = enterprise_portrait(request.app.state.store, enterprise_id, policy_table(),
                                     as_of=as_of, reveal_personal=principal.role == ADMIN)
        return result.as_dict()

    return router

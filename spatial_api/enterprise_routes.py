"""``GET /enterprises/{id}/portrait``: the enterprise portrait for departments.

Only the ``admin`` and ``enterprise`` roles see portraits; to every other role
an enterprise is not found (404, as for any hidden thing in OneMap), and an
unknown API key is 401. Event descriptions (citizens' words, which may name
natural persons) are shown to ``admin`` only (gis/analysis/enterprise_service.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from gis.analysis.enterprise_policies import policy_table
from gis.analysis.enterprise_service import enterprise_portrait
from gis.errors import InvalidQuery
from layers.access import ADMIN, UnknownApiKey
from spatial_api.errors import error_body
from spatial_api.principal import request_principal as _principal

#: Roles that may read enterprise portraits and the service lists.
ENTERPRISE_ROLES = frozenset({ADMIN, "enterprise"})




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
        personal = principal.role == ADMIN
        result = enterprise_portrait(request.app.state.store, enterprise_id, policy_table(),
                                     as_of=as_of, reveal_personal=personal)
        if personal and result.events["items"]:
            # Event descriptions are citizens' words (person-level data): audited.
            request.app.state.ogc.audit.record(
                principal, "events", "enterprise-portrait", len(result.events["items"]),
                {"enterprise": enterprise_id, "as_of": result.as_of})
        return result.as_dict()

    @router.get("/enterprises/policies")
    def policies(request: Request) -> Any:
        """The policy table (config/policies.yaml) for the enterprise service."""
        try:
            principal = _principal(request)
        except UnknownApiKey:
            return JSONResponse(error_body("Unauthorized", "unknown API key"), status_code=401)
        if principal.role not in ENTERPRISE_ROLES:
            return JSONResponse(error_body("NotFound", "not found"), status_code=404)
        table = policy_table()
        return {"headcount_gap_ratio": table.headcount_gap_ratio,
                "policies": [{"id": p.id, "name": p.name, "description": p.description,
                              "conditions": p.conditions()} for p in table.policies]}

    return router


def space_router() -> APIRouter:
    """The viewer's API of the industrial-space one map (space data are public)."""
    router = APIRouter(tags=["enterprise"])

    @router.get("/enterprise/api/buildings/{building_id}/spaces")
    def building_spaces_route(request: Request, building_id: str,
                              as_of: str | None = None) -> Any:
        """The spaces of one building with their quarterly rent and vacancy."""
        from gis.analysis.enterprise_space import building_spaces

        try:
            _principal(request)
        except UnknownApiKey:
            return JSONResponse(error_body("Unauthorized", "unknown API key"), status_code=401)
        return building_spaces(request.app.state.store, building_id, as_of)

    @router.get("/enterprise/api/supply-demand")
    def supply_demand_route(request: Request, as_of: str | None = None,
                            use: str | None = None) -> Any:
        """Vacant vs occupied area per subdistrict, and the quarterly series."""
        from gis.analysis.enterprise_space import supply_demand

        try:
            _principal(request)
        except UnknownApiKey:
            return JSONResponse(error_body("Unauthorized", "unknown API key"), status_code=401)
        return supply_demand(request.app.state.store, as_of, use or None)

    @router.post("/enterprise/api/shortlist-report", response_class=HTMLResponse)
    async def shortlist_report(request: Request) -> Any:
        """The one-page offline HTML report of a shortlist: the demand is matched again
        and the candidates named in ``shortlist`` (lists of space ids) are reported."""
        from gis.analysis.space_match import match_spaces, parse_demand
        from viewer.enterprise_report import render_shortlist_report

        try:
            _principal(request)
        except UnknownApiKey:
            return JSONResponse(error_body("Unauthorized", "unknown API key"), status_code=401)
        try:
            body = await request.json()
        except ValueError:
            raise InvalidQuery("the body must be JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("shortlist"), list):
            raise InvalidQuery("give 'demand' and 'shortlist' (lists of space ids)")
        wanted = [tuple(map(str, s)) for s in body["shortlist"] if isinstance(s, list)]
        if not wanted:
            raise InvalidQuery("the shortlist is empty")
        demand = parse_demand({**(body.get("demand") or {}), "limit": 200})
        result = match_spaces(request.app.state.store, demand).as_dict()
        by_key = {tuple(c["space_ids"]): c for c in result["candidates"]}
        missing = [k for k in wanted if k not in by_key]
        if missing:
            raise InvalidQuery(f"not a candidate of this demand: {'+'.join(missing[0])}")
        html = render_shortlist_report(demand.model_dump(mode="json"), result,
                                       [by_key[k] for k in wanted])
        return HTMLResponse(html, headers={
            "Content-Disposition": 'attachment; filename="space-shortlist.html"'})

    return router

"""``/indicators``: the indicator catalogue, values with time series, the cockpit summary.

The catalogue is public; values need a department role or admin (401 otherwise).
Every role below admin gets k-anonymous values (gis/indicators/engine.py). The
contract with the cockpit is docs/indicators.md.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from gis.indicators import IndicatorEngine
from gis.indicators.errors import IndicatorAuthError
from layers.access import ADMIN, Principal
from spatial_api.oas import errors
from spatial_api.principal import request_principal

LevelParam = Literal["district", "subdistrict", "community", "block"]
FreqParam = Literal["day", "week", "month", "year"]


def engine(request: Request) -> IndicatorEngine:
    """The indicator engine built at start-up."""
    eng: IndicatorEngine = request.app.state.indicators
    return eng


def _department(request: Request) -> Principal:
    """The caller, if a department role or admin; :class:`IndicatorAuthError` (401) else."""
    p = request_principal(request)
    if p.is_public:
        raise IndicatorAuthError("indicator values need an API key of a department role")
    return p


_DATE = r"^\d{4}-\d{2}-\d{2}$"


def indicator_router() -> APIRouter:
    """The indicator routes."""
    router = APIRouter(tags=["indicators"])

    @router.get("/indicators", responses=errors(401))
    def catalogue(request: Request) -> dict[str, Any]:
        """The indicator catalogue (config/indicators.yaml): ids, titles, units, levels,
        directions, headline flags and alert thresholds. Public."""
        request_principal(request)  # an unknown key is still 401
        return {"indicators": [i.public_dict() for i in engine(request).catalog.indicators]}

    @router.get("/indicators/summary", responses=errors(400, 401, 404))
    async def summary(
        request: Request,
        level: Literal["district", "subdistrict", "community"] | None = None,
        code: str | None = Query(None, description="subdistrict or community code"),
        from_: str | None = Query(None, alias="from", pattern=_DATE),
        to: str | None = Query(None, pattern=_DATE),
        freq: FreqParam | None = None,
        as_of: str | None = Query(None, pattern=_DATE),
    ) -> Any:
        """Every headline indicator for the district (or the area ``code``): value, previous
        period, change and the series, for the cockpit's tiles. Department roles."""
        p = _department(request)
        return await run_in_threadpool(
            engine(request).summary, level=level, code=code, start=from_, to=to, freq=freq,
            as_of=as_of, reveal=p.role == ADMIN, k=p.k)

    @router.get("/indicators/{indicator_id}", responses=errors(400, 401, 404))
    async def indicator(
        request: Request,
        indicator_id: str,
        level: LevelParam | None = Query(None, description="default subdistrict"),
        res: int | None = Query(None, ge=7, le=9, description="H3 resolution of blocks"),
        code: str | None = Query(None, description="only the areas inside this subdistrict "
                                                   "or community"),
        from_: str | None = Query(None, alias="from", pattern=_DATE),
        to: str | None = Query(None, pattern=_DATE),
        freq: FreqParam | None = None,
        as_of: str | None = Query(None, pattern=_DATE),
        f: Literal["json", "geojson"] | None = None,
    ) -> Any:
        """Values per area at ``as_of`` (with the previous period and the change) and the
        series from ``from`` to ``to`` by ``freq``; ``f=geojson``: the areas as a
        FeatureCollection. Department roles; k-anonymous below admin."""
        p = _department(request)
        eng = engine(request)
        body = await run_in_threadpool(
            eng.indicator, indicator_id, level=level, res=res, code=code, start=from_, to=to,
            freq=freq, as_of=as_of, reveal=p.role == ADMIN, k=p.k)
        if f == "geojson":
            fc = await run_in_threadpool(eng.geojson, body)
            return JSONResponse(fc, media_type="application/geo+json")
        return body

    return router

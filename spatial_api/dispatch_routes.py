"""HTTP routes of unified supervision: triage, cases and their transitions, overdue cases,
the scorecard, the model and its retraining (``/dispatch/*`` and ``/events*``).

Every route needs a department's or the admin's API key (``X-API-Key`` or ``api_key``);
without one it answers 401. Retraining is the admin's only (403 for departments) and
audited. The routes parse the request, call :mod:`gis.cases` and render
JSON; core errors become 4xx through the table in :mod:`spatial_api.errors`.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from gis.cases import DispatchInputError, ModelUnavailable
from gis.cases.classifier import check_text
from gis.cases.live import LiveTriage, Retrainer
from gis.cases.triage import Triage
from gis.cases.workflow import CaseBook, Place, parse_instant
from layers.access import ADMIN, Principal, UnknownApiKey
from spatial_api.errors import error_body
from spatial_api.oas import errors

MAX_BODY_BYTES = 256 * 1024
#: The retraining request's body (all optional): a seeded subset of the events, the seed.
RETRAIN_BODY: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "properties": {"limit": {"type": ["integer", "null"], "minimum": 100,
                             "description": "train on a seeded subset of this many events "
                                            "(null or absent: every event)"},
                   "seed": {"type": "integer", "minimum": 0, "maximum": 2**32 - 1}}}


def _unauthorised(description: str) -> JSONResponse:
    return JSONResponse({"code": "Unauthorized", "description": description}, status_code=401)


def _principal(request: Request) -> Principal | JSONResponse:
    key = request.headers.get("x-api-key") or request.query_params.get("api_key")
    try:
        principal: Principal = request.app.state.ogc.roles.principal(key)
    except UnknownApiKey:
        return _unauthorised("unknown API key")
    if principal.is_public:
        return _unauthorised("a department's or the admin's API key is required")
    return principal


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise DispatchInputError("request body too large")
    try:
        doc = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise DispatchInputError("the body must be a JSON object") from None
    if not isinstance(doc, dict):
        raise DispatchInputError("the body must be a JSON object")
    return doc


def _live(request: Request) -> LiveTriage | None:
    live: LiveTriage | None = getattr(request.app.state, "triage", None)
    return live


def _triage(request: Request) -> Triage:
    """The newest model's triage (a retrained model is picked up here, per request)."""
    live = _live(request)
    if live is None:
        raise ModelUnavailable("no trained dispatch model; run 'onemap dispatch train'")
    return live.current()


_RETRAINER_LOCK = threading.Lock()


def _retrainer(request: Request) -> Retrainer:
    """The app's retrainer, made on first use (one per app, so one job at a time)."""
    state = request.app.state
    with _RETRAINER_LOCK:
        r: Retrainer | None = getattr(state, "retrainer", None)
        if r is None:
            live = _live(request)
            if live is None:
                raise ModelUnavailable("unified supervision is not started")
            r = Retrainer(state.store, live)
            state.retrainer = r
    return r


def _admin(request: Request) -> Principal | JSONResponse:
    who = _principal(request)
    if isinstance(who, JSONResponse):
        return who
    if who.role != ADMIN:
        return JSONResponse(error_body("Forbidden", "the admin role is required"),
                            status_code=403)
    return who


def _cases(request: Request) -> CaseBook:
    book: CaseBook = request.app.state.cases
    return book


def _actor(p: Principal) -> str:
    return p.holder or p.key_id or p.role


def _opt_str(doc: dict[str, Any], name: str) -> str | None:
    v = doc.get(name)
    if v is not None and not isinstance(v, str):
        raise DispatchInputError(f"{name} must be a string")
    return v


def dispatch_router() -> APIRouter:
    """The router (mounted at the root)."""
    router = APIRouter(tags=["dispatch"])

    @router.post("/dispatch/triage")
    async def triage(request: Request) -> Any:
        """Category, department, confidence, candidates and place of a report's text."""
        who = _principal(request)
        if isinstance(who, JSONResponse):
            return who
        doc = await _body(request)
        # In the thread pool as a whole: a newer model may be loaded on the way (seconds).
        return await run_in_threadpool(lambda: _triage(request)(doc.get("text")))

    @router.get("/dispatch/scorecard")
    def scorecard(request: Request, by: str = "department") -> Any:
        """Per department or subdistrict: received, closed on time, median hours, reopens."""
        who = _principal(request)
        if isinstance(who, JSONResponse):
            return who
        q = request.query_params
        start = parse_instant(q["from"], "from").strftime("%Y-%m-%dT%H:%M:%SZ") \
            if q.get("from") else None
        end = parse_instant(q["to"], "to").strftime("%Y-%m-%dT%H:%M:%SZ") \
            if q.get("to") else None
        return {"by": by, "from": start, "to": end,
                "rows": _cases(request).scorecard(start, end, by)}

    @router.get("/dispatch/repeats")
    def repeats_route(request: Request, category: str | None = None, days: int = 30,
                      radius_m: float = 50.0, limit: int = 100) -> Any:
        """Repeat-complaint clusters of stored events in ``[from, to)``, largest first."""
        from gis.cases.spatial import repeats

        who = _principal(request)
        if isinstance(who, JSONResponse):
            return who
        q = request.query_params
        df = repeats(request.app.state.store, category, q.get("from"), q.get("to"), days,
                     radius_m)
        return {"clusters": df.head(max(1, min(limit, 1000))).to_dict("records"),
                "numberMatched": len(df)}

    @router.get("/dispatch/trends")
    def trends_route(request: Request, category: str | None = None,
                     community: str | None = None, cell: str | None = None) -> Any:
        """Weekly counts with the same weeks a year earlier (district, community or block)."""
        from gis.cases.spatial import trends

        who = _principal(request)
        if isinstance(who, JSONResponse):
            return who
        q = request.query_params
        if not q.get("from") or not q.get("to"):
            raise DispatchInputError("from and to are required")
        return trends(request.app.state.store, q["from"], q["to"], category, community, cell)

    @router.post("/events", status_code=201)
    async def create(request: Request) -> Any:
        """Receive a case from a report (triaged unless ``category`` is given)."""
        who = _principal(request)
        if isinstance(who, JSONResponse):
            return who
        doc = await _body(request)
        text = check_text(doc.get("text"))
        category = _opt_str(doc, "category")
        department = _opt_str(doc, "department")
        source = _opt_str(doc, "source") or "hotline_12345"
        place = Place()
        live = _live(request)
        available = live is not None and await run_in_threadpool(lambda: live.available)
        if category is None or available:
            result = await run_in_threadpool(lambda: _triage(request)(text))
            category = category or result["category"]
            hit = result["address"]
            if hit:
                place = Place(hit.get("address_id"), hit.get("address"), hit.get("lon"),
                              hit.get("lat"), hit.get("subdistrict_code"),
                              hit.get("community_code"), hit.get("grid_code"))
        case = await run_in_threadpool(
            lambda: _cases(request).create(text, category, source=source,
                                           department=department, place=place,
                                           actor=_actor(who)))
        return JSONResponse(case, status_code=201)

    @router.get("/events")
    def list_cases(request: Request, state: str | None = None, limit: int = 200) -> Any:
        """Cases, newest first (optionally in one state), with their overdue flag."""
        who = _principal(request)
        if isinstance(who, JSONResponse):
            return who
        book = _cases(request)
        df = book.frame()
        if state:
            df = df[df["state"] == state]
        df = df.iloc[::-1].head(max(1, min(limit, 1000)))
        now = parse_instant(book.clock().isoformat()).strftime("%Y-%m-%dT%H:%M:%SZ")
        rows = df.astype(object).where(df.notna(), None).to_dict("records")
        for r in rows:
            r["overdue"] = bool(r["state"] in ("受理", "分拨", "处置") and r["deadline_at"] < now)
        return {"cases": rows}

    @router.get("/events/overdue")
    def overdue(request: Request) -> Any:
        """Open cases past their deadline."""
        who = _principal(request)
        if isinstance(who, JSONResponse):
            return who
        return {"cases": _cases(request).overdue()}

    @router.get("/events/{case_id}")
    def get_case(request: Request, case_id: str) -> Any:
        """One case with its transitions."""
        who = _principal(request)
        if isinstance(who, JSONResponse):
            return who
        return _cases(request).get(case_id)

    @router.post("/events/{case_id}/transitions")
    async def transition(request: Request, case_id: str) -> Any:
        """Move a case: ``{"action", "department"?, "category"?, "rating"?, "note"?}``
        (``category`` corrects the triage's); illegal → 409."""
        who = _principal(request)
        if isinstance(who, JSONResponse):
            return who
        doc = await _body(request)
        action = _opt_str(doc, "action")
        if not action:
            raise DispatchInputError("action is required")
        rating = doc.get("rating")
        if rating is not None and (isinstance(rating, bool) or not isinstance(rating, int)):
            raise DispatchInputError("rating must be an integer")
        return await run_in_threadpool(
            lambda: _cases(request).transition(
                case_id, action, actor=_actor(who), department=_opt_str(doc, "department"),
                rating=rating, note=_opt_str(doc, "note"), category=_opt_str(doc, "category")))

    @router.get("/dispatch/model")
    def model_info(request: Request) -> Any:
        """The model answering triage now: version, training time, counts (null without)."""
        who = _principal(request)
        if isinstance(who, JSONResponse):
            return who
        live = _live(request)
        return live.info() if live is not None else {"version": None}

    @router.post("/dispatch/model/retrain", status_code=202,
                 responses=errors(400, 401, 403, 409),
                 openapi_extra={"requestBody": {"required": False, "content": {
                     "application/json": {"schema": RETRAIN_BODY}}}})
    async def retrain(request: Request) -> Any:
        """Retrain on history and the closed cases (admin only, audited): 202 with the job;
        poll ``GET /dispatch/model/retrain/{id}``. Every worker answers with the new version
        from its next request on. Body (optional): ``{"limit", "seed"}``."""
        who = _admin(request)
        if isinstance(who, JSONResponse):
            return who
        raw = await request.body()
        doc = await _body(request) if raw.strip() else {}
        unknown = sorted(set(doc) - set(RETRAIN_BODY["properties"]))
        if unknown:
            raise DispatchInputError(f"unknown field {unknown[0]!r}")
        limit = doc.get("limit")
        seed = doc.get("seed", 0)
        retrainer = _retrainer(request)
        job = await run_in_threadpool(lambda: retrainer.submit(limit=limit, seed=seed,
                                                               actor=_actor(who)))
        request.app.state.ogc.audit.record(
            who, "dispatch-model", "retrain", 0,
            {"job": job["id"], "limit": limit, "seed": seed,
             "previous_version": job["previous_version"]})
        return JSONResponse(job, status_code=202,
                            headers={"Location": f"/dispatch/model/retrain/{job['id']}"})

    @router.get("/dispatch/model/retrain/{job_id}")
    def retrain_status(request: Request, job_id: str) -> Any:
        """A retraining job: ``state`` accepted, running, successful or failed, and the
        new ``version`` once successful (admin only)."""
        who = _admin(request)
        if isinstance(who, JSONResponse):
            return who
        return _retrainer(request).status(job_id)

    return router

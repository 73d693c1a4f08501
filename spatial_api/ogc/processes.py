"""pygeoapi process plugins: ``block-portrait``, ``renewal-impact`` and ``hotspots``.

Each parses its inputs into the analysis' typed input, calls the plain function
in ``gis.analysis`` on the app's store and returns the result object as JSON.
Results are aggregates; for roles that may not see persons individually, person
counts below k are suppressed (k-anonymity, docs/ogc.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from typing import Any

import shapely
from pygeoapi.process.base import BaseProcessor, ProcessorExecuteError
from shapely.geometry import shape

from gis.analysis.portrait import BlockPortraitInput, block_portrait
from gis.analysis.renewal import RenewalImpactInput, public_impact, renewal_impact
from gis.errors import CoreError, InvalidGeometry, InvalidQuery
from layers.catalog import DEPTS, PERSONS_ACCESS
from spatial_api.ogc.context import RequestContext, current


class ProcessInputError(ProcessorExecuteError):  # type: ignore[misc]
    """Bad process input: 400 with an OGC exception body."""

    http_status_code = HTTPStatus.BAD_REQUEST
    ogc_exception_code = "InvalidParameterValue"


def _ctx() -> RequestContext:
    ctx = current()
    if ctx is None:
        raise ProcessorExecuteError(user_msg="the service is not ready")
    return ctx


@contextmanager
def core_errors() -> Iterator[None]:
    """A core error in a process's inputs or run becomes pygeoapi's 400 (OGC exception body)."""
    try:
        yield
    except CoreError as exc:
        raise ProcessInputError(user_msg=exc.message) from None



_AS_OF = {"title": "As of", "description": "Date of the analysis (YYYY-MM-DD); today if absent",
          "schema": {"type": "string", "format": "date"}, "minOccurs": 0, "maxOccurs": 1}

BLOCK_PORTRAIT_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": "block-portrait",
    "title": {"en": "Block portrait", "zh": "网格画像"},
    "description": {"en": "Counts and breakdowns of one H3 block at a date: population by age "
                          "band and sex, households, houses, buildings by use, enterprises by "
                          "industry, events by category (12 months), industrial space and "
                          "vacancy."},
    "jobControlOptions": ["sync-execute"],
    "keywords": ["H3", "block", "portrait"],
    "links": [],
    "inputs": {
        "cell": {"title": "H3 cell", "description": "Block id (hex, res 7-12)",
                 "schema": {"type": "string"}, "minOccurs": 0, "maxOccurs": 1},
        "lon": {"title": "Longitude", "schema": {"type": "number"}, "minOccurs": 0,
                "maxOccurs": 1},
        "lat": {"title": "Latitude", "schema": {"type": "number"}, "minOccurs": 0,
                "maxOccurs": 1},
        "res": {"title": "Resolution", "schema": {"type": "integer", "minimum": 7,
                                                  "maximum": 12, "default": 9},
                "minOccurs": 0, "maxOccurs": 1},
        "as_of": _AS_OF,
    },
    "outputs": {"portrait": {"title": "Block portrait",
                             "schema": {"type": "object", "contentMediaType": "application/json"}}},
    "example": {"inputs": {"lon": 114.118, "lat": 22.548, "res": 9, "as_of": "2024-06-30"}},
}

RENEWAL_IMPACT_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": "renewal-impact",
    "title": {"en": "Renewal impact", "zh": "城市更新影响评估"},
    "description": {"en": "What an urban-renewal area holds at a date: buildings and floor area "
                          "by use, households, persons by age band, enterprises by industry "
                          "with employees, industrial spaces, facilities, events in the last "
                          "12 months."},
    "jobControlOptions": ["sync-execute"],
    "keywords": ["urban renewal", "impact"],
    "links": [],
    "inputs": {
        "area": {"title": "Renewal area", "description": "GeoJSON Polygon/MultiPolygon (WGS84)",
                 "schema": {"$ref": "http://schemas.opengis.net/ogcapi/features/part1/1.0/"
                                    "openapi/schemas/geometryGeoJSON.yaml"},
                 "minOccurs": 1, "maxOccurs": 1},
        "as_of": _AS_OF,
    },
    "outputs": {"impact": {"title": "Renewal impact",
                           "schema": {"type": "object", "contentMediaType": "application/json"}}},
    "example": {"inputs": {"area": {"type": "Polygon", "coordinates": [[
        [114.11, 22.54], [114.12, 22.54], [114.12, 22.55], [114.11, 22.55], [114.11, 22.54]]]},
        "as_of": "2024-06-30"}},
}


def _suppress(ctx: RequestContext) -> bool:
    return not PERSONS_ACCESS.allows(ctx.principal)


def _number(data: dict[str, Any], key: str) -> float | None:
    if data.get(key) is None:
        return None
    try:
        return float(data[key])
    except (TypeError, ValueError):
        raise InvalidQuery(f"{key} must be a number") from None


class BlockPortraitProcessor(BaseProcessor):  # type: ignore[misc]
    """OGC API Process ``block-portrait``."""

    def __init__(self, processor_def: dict[str, Any]) -> None:
        super().__init__(processor_def, BLOCK_PORTRAIT_METADATA)

    def execute(self, data: dict[str, Any], outputs: Any = None) -> tuple[str, dict[str, Any]]:
        """Run the portrait for the caller's role."""
        ctx = _ctx()
        with core_errors():
            res = data.get("res", 9)
            inp = BlockPortraitInput(
                cell=data.get("cell"), lon=_number(data, "lon"), lat=_number(data, "lat"),
                res=int(res) if str(res).lstrip("-").isdigit() else -1,
                as_of=data.get("as_of"))
            result = block_portrait(ctx.runtime.require_store(), inp)
        if _suppress(ctx):
            result = result.suppressed_copy(ctx.principal.k)
        return "application/json", result.as_dict()

    def __repr__(self) -> str:
        return "<BlockPortraitProcessor>"


class RenewalImpactProcessor(BaseProcessor):  # type: ignore[misc]
    """OGC API Process ``renewal-impact``."""

    def __init__(self, processor_def: dict[str, Any]) -> None:
        super().__init__(processor_def, RENEWAL_IMPACT_METADATA)

    def execute(self, data: dict[str, Any], outputs: Any = None) -> tuple[str, dict[str, Any]]:
        """Run the renewal impact for the caller's role."""
        ctx = _ctx()
        with core_errors():
            area = data.get("area")
            if isinstance(area, dict) and area.get("type") == "Feature":
                area = area.get("geometry")
            if not isinstance(area, dict):
                raise InvalidGeometry("input 'area' must be a GeoJSON geometry")
            try:
                geom = shape(area)
            except Exception:
                raise InvalidGeometry("input 'area' is not a valid GeoJSON geometry") from None
            if not isinstance(geom, shapely.Geometry):
                raise InvalidGeometry("input 'area' is not a geometry")
            inp = RenewalImpactInput(geom, data.get("as_of"))
            result = renewal_impact(ctx.runtime.require_store(), inp)
            if _suppress(ctx):  # whole-block person figures (docs/security.md)
                result = public_impact(ctx.runtime.require_store(), inp, result,
                                       ctx.principal.k)
        return "application/json", result.as_dict()

    def __repr__(self) -> str:
        return "<RenewalImpactProcessor>"


# ---------------------------------------------------------------------------
# enterprise service (docs/enterprise.md): space matching and the service lists

SPACE_MATCH_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": "space-match",
    "title": {"en": "Space matching", "zh": "产业空间匹配"},
    "description": {"en": "Industrial spaces ranked for a demand (area range, use, maximum "
                          "rent, place, move-in date, needs), each with its score and the "
                          "score's parts (area fit, rent, vacancy at the move-in date, "
                          "same-industry cluster, accessibility, building age). Units of one "
                          "building or park are combined only when no single unit fits."},
    "jobControlOptions": ["sync-execute"],
    "keywords": ["industrial space", "招商引资", "matching"],
    "links": [],
    "inputs": {
        "area_m2": {"title": "Area range (m²)", "schema": {
            "type": "array", "items": {"type": "number", "exclusiveMinimum": 0},
            "minItems": 2, "maxItems": 2}, "minOccurs": 1, "maxOccurs": 1},
        "use": {"title": "Use", "schema": {"type": "string",
                                           "enum": ["研发", "办公", "生产", "仓储", "商业"]},
                "minOccurs": 1, "maxOccurs": 1},
        "max_rent": {"title": "Maximum rent (CNY/m²/month)",
                     "schema": {"type": "number", "exclusiveMinimum": 0},
                     "minOccurs": 1, "maxOccurs": 1},
        "subdistricts": {"title": "Preferred subdistricts (codes)",
                         "schema": {"type": "array", "items": {"type": "string"}},
                         "minOccurs": 0, "maxOccurs": 1},
        "area": {"title": "Drawn area", "description": "GeoJSON Polygon/MultiPolygon (WGS84)",
                 "schema": {"type": "object"}, "minOccurs": 0, "maxOccurs": 1},
        "move_in": {"title": "Move-in date", "schema": {"type": "string", "format": "date"},
                    "minOccurs": 0, "maxOccurs": 1},
        "needs": {"title": "Needs", "schema": {"type": "array", "items": {
            "type": "string", "enum": ["near_arterial", "near_similar", "ground_floor"]}},
            "minOccurs": 0, "maxOccurs": 1},
        "reach": {"title": "Within N minutes of a place (road network)", "schema": {
            "type": "object", "required": ["origin", "minutes"],
            "properties": {
                "origin": {"type": "array", "items": {"type": "number"},
                           "minItems": 2, "maxItems": 2},
                "minutes": {"type": "number", "exclusiveMinimum": 0, "maximum": 120},
                "mode": {"type": "string", "enum": ["walk", "drive"], "default": "drive"}}},
            "minOccurs": 0, "maxOccurs": 1},
        "enterprise_id": {"title": "Enterprise", "schema": {"type": "string"},
                          "minOccurs": 0, "maxOccurs": 1},
        "industry": {"title": "Industry (GB/T 4754 section)", "schema": {"type": "string"},
                     "minOccurs": 0, "maxOccurs": 1},
        "limit": {"title": "Candidates", "schema": {"type": "integer", "minimum": 1,
                                                    "maximum": 200, "default": 20},
                  "minOccurs": 0, "maxOccurs": 1},
    },
    "outputs": {"candidates": {"title": "Ranked candidates", "schema": {
        "type": "object", "contentMediaType": "application/json"}}},
    "example": {"inputs": {"area_m2": [300, 1500], "use": "研发", "max_rent": 120,
                           "move_in": "2026-03-01", "industry": "I"}},
}


class SpaceMatchProcessor(BaseProcessor):  # type: ignore[misc]
    """OGC API Process ``space-match`` (gis.analysis.space_match)."""

    def __init__(self, processor_def: dict[str, Any]) -> None:
        super().__init__(processor_def, SPACE_MATCH_METADATA)

    def execute(self, data: dict[str, Any], outputs: Any = None) -> tuple[str, dict[str, Any]]:
        """Match the demand against the spaces at its move-in date."""
        from gis.analysis.space_match import match_spaces, parse_demand

        ctx = _ctx()
        with core_errors():
            result = match_spaces(ctx.runtime.require_store(), parse_demand(data))
        return "application/json", result.as_dict()

    def __repr__(self) -> str:
        return "<SpaceMatchProcessor>"


class ProcessHidden(ProcessorExecuteError):  # type: ignore[misc]
    """A process the caller's role may not run: 404, as for an unknown process."""

    http_status_code = HTTPStatus.NOT_FOUND
    ogc_exception_code = "NoSuchProcess"


#: Roles that may run the enterprise-service lists (as spatial_api/enterprise_routes.py).
ENTERPRISE_ROLES = ("admin", "enterprise")


def _enterprise_ctx() -> RequestContext:
    ctx = _ctx()
    if ctx.principal.role not in ENTERPRISE_ROLES:
        raise ProcessHidden(user_msg="no such process")
    return ctx


def _int_input(data: dict[str, Any], key: str, default: int) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise InvalidQuery(f"{key} must be an integer")
    return int(value)


_LIMIT = {"title": "Limit", "schema": {"type": "integer", "minimum": 1, "maximum": 100000,
                                       "default": 1000}, "minOccurs": 0, "maxOccurs": 1}

AT_RISK_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": "enterprises-at-risk",
    "title": {"en": "Enterprises at risk of leaving", "zh": "外迁风险企业"},
    "description": {"en": "Active enterprises with a risk score (0-100) from rising vacancy in "
                          "their building, their headcount gap and complaints at their "
                          "address in the last 12 months, as GeoJSON points, highest risk "
                          "first. Roles admin and enterprise only."},
    "jobControlOptions": ["sync-execute"],
    "keywords": ["enterprise", "稳商", "risk"],
    "links": [],
    "inputs": {"as_of": _AS_OF,
               "min_score": {"title": "Minimum risk", "schema": {
                   "type": "number", "minimum": 0, "maximum": 100, "default": 40},
                   "minOccurs": 0, "maxOccurs": 1},
               "limit": _LIMIT},
    "outputs": {"enterprises": {"title": "Enterprises at risk", "schema": {
        "type": "object", "contentMediaType": "application/geo+json"}}},
    "example": {"inputs": {"as_of": "2025-06-30", "min_score": 40}},
}

ELIGIBLE_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": "policy-eligible",
    "title": {"en": "Enterprises eligible for a policy", "zh": "政策匹配企业"},
    "description": {"en": "Active enterprises meeting every condition of one policy of the "
                          "policy table (config/policies.yaml), as GeoJSON points. Roles admin "
                          "and enterprise only."},
    "jobControlOptions": ["sync-execute"],
    "keywords": ["enterprise", "policy", "精准政策匹配"],
    "links": [],
    "inputs": {"policy": {"title": "Policy id", "schema": {"type": "string"},
                          "minOccurs": 1, "maxOccurs": 1},
               "as_of": _AS_OF, "limit": _LIMIT},
    "outputs": {"enterprises": {"title": "Eligible enterprises", "schema": {
        "type": "object", "contentMediaType": "application/geo+json"}}},
    "example": {"inputs": {"policy": "job-stabilisation", "as_of": "2025-06-30"}},
}


class EnterprisesAtRiskProcessor(BaseProcessor):  # type: ignore[misc]
    """OGC API Process ``enterprises-at-risk``."""

    def __init__(self, processor_def: dict[str, Any]) -> None:
        super().__init__(processor_def, AT_RISK_METADATA)

    def execute(self, data: dict[str, Any], outputs: Any = None) -> tuple[str, dict[str, Any]]:
        """The at-risk list at ``as_of``."""
        from gis.analysis.enterprise_policies import policy_table
        from gis.analysis.enterprise_service import enterprises_at_risk

        ctx = _enterprise_ctx()
        with core_errors():
            min_score = _number(data, "min_score")
            result = enterprises_at_risk(
                ctx.runtime.require_store(), policy_table(), as_of=data.get("as_of"),
                min_score=40.0 if min_score is None else min_score,
                limit=_int_input(data, "limit", 1000))
        return "application/json", result

    def __repr__(self) -> str:
        return "<EnterprisesAtRiskProcessor>"


class PolicyEligibleProcessor(BaseProcessor):  # type: ignore[misc]
    """OGC API Process ``policy-eligible``."""

    def __init__(self, processor_def: dict[str, Any]) -> None:
        super().__init__(processor_def, ELIGIBLE_METADATA)

    def execute(self, data: dict[str, Any], outputs: Any = None) -> tuple[str, dict[str, Any]]:
        """Enterprises eligible for the policy at ``as_of``."""
        from gis.analysis.enterprise_policies import policy_table
        from gis.analysis.enterprise_service import policy_eligible

        ctx = _enterprise_ctx()
        with core_errors():
            pid = data.get("policy")
            if not isinstance(pid, str):
                raise InvalidQuery("input 'policy' (a policy id) is required")
            result = policy_eligible(ctx.runtime.require_store(), policy_table().get(pid),
                                     as_of=data.get("as_of"),
                                     limit=_int_input(data, "limit", 1000))
        return "application/json", result

    def __repr__(self) -> str:
        return "<PolicyEligibleProcessor>"
# The network processes live in their own module; importing it here loads them
# with this module at start-up (gate.start), never lazily inside a request.
import spatial_api.ogc.network_processes  # noqa: E402, F401

HOTSPOTS_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": "hotspots",
    "title": {"en": "Event hot spots (Getis-Ord Gi*)", "zh": "事件热点（Gi*）"},
    "description": {"en": "Getis-Ord Gi* z-scores of event counts over the district's H3 "
                          "cells at a resolution, for one category (or all) and a period; "
                          "cells are hot or cold where the two-sided p-value is below alpha. "
                          "Departments only."},
    "jobControlOptions": ["sync-execute"],
    "keywords": ["hot spots", "Getis-Ord", "H3", "events"],
    "links": [],
    "inputs": {
        "res": {"title": "H3 resolution", "schema": {"type": "integer", "minimum": 7,
                                                     "maximum": 10, "default": 9},
                "minOccurs": 0, "maxOccurs": 1},
        "category": {"title": "Event category", "schema": {"type": "string"},
                     "minOccurs": 0, "maxOccurs": 1},
        "start": {"title": "Start (inclusive)", "schema": {"type": "string", "format": "date"},
                  "minOccurs": 0, "maxOccurs": 1},
        "end": {"title": "End (exclusive)", "schema": {"type": "string", "format": "date"},
                "minOccurs": 0, "maxOccurs": 1},
        "alpha": {"title": "Significance level", "schema": {"type": "number", "default": 0.05},
                  "minOccurs": 0, "maxOccurs": 1},
    },
    "outputs": {"hotspots": {"title": "Cells with count, z, p and class",
                             "schema": {"type": "object",
                                        "contentMediaType": "application/geo+json"}}},
    "example": {"inputs": {"res": 9, "category": "垃圾暴露", "start": "2025-01-01",
                           "end": "2026-01-01"}},
}


class ProcessForbidden(ProcessorExecuteError):  # type: ignore[misc]
    """The caller's role may not run the process."""

    http_status_code = HTTPStatus.UNAUTHORIZED
    ogc_exception_code = "Unauthorized"


class HotspotsProcessor(BaseProcessor):  # type: ignore[misc]
    """OGC API Process ``hotspots`` (gis.cases.spatial.hotspots)."""

    def __init__(self, processor_def: dict[str, Any]) -> None:
        super().__init__(processor_def, HOTSPOTS_METADATA)

    def execute(self, data: dict[str, Any], outputs: Any = None) -> tuple[str, dict[str, Any]]:
        """Gi* hot spots of events (department roles and admin)."""
        from gis.cases.spatial import hotspots

        ctx = _ctx()
        if not DEPTS.allows(ctx.principal):
            raise ProcessForbidden(user_msg="hot spots need a department's API key")
        with core_errors():
            res = data.get("res", 9)
            if isinstance(res, bool) or not str(res).lstrip("-").isdigit():
                raise InvalidQuery("res must be an integer")
            alpha = _number(data, "alpha")
            result = hotspots(ctx.runtime.require_store(), int(res), data.get("category"),
                              data.get("start"), data.get("end"),
                              0.05 if alpha is None else alpha)
        return "application/geo+json", result

    def __repr__(self) -> str:
        return "<HotspotsProcessor>"

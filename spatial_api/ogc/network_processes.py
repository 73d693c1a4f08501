"""pygeoapi process plugins of the road network: route, isochrone, nearest-facility,
service-coverage, fire-response and site-suggest (docs/network.md).

Inputs are first checked against the process description (required inputs
present, no unknown input, enumerations respected), then by the analysis; any
refusal is a 400 with the OGC exception body. Coverage figures are aggregates:
for roles that may not see persons individually, counts below k are suppressed
and the gap blocks with fewer than k residents are left out.
"""

from __future__ import annotations

from typing import Any

from pygeoapi.process.base import BaseProcessor

from gis.analysis.coverage import CoverageInput, service_coverage
from gis.analysis.fire import FireResponseInput, fire_response
from gis.analysis.isochrone import IsochroneInput, isochrone
from gis.analysis.nearest import NearestInput, nearest_facility
from gis.analysis.netinputs import FACILITY_ALIASES, FACILITY_TYPES
from gis.analysis.route import RouteInput, route
from gis.analysis.siting import SiteSuggestInput, site_suggest
from layers.catalog import PERSONS_ACCESS
from spatial_api.ogc.processes import ProcessInputError, _ctx, core_errors

_POINT = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
_MODE = {"type": "string", "enum": ["walk", "drive"], "default": "walk"}
_FTYPE = {"type": "string", "enum": [*FACILITY_TYPES, *FACILITY_ALIASES]}
_MINUTES_ONE = {"type": "number", "exclusiveMinimum": 0, "maximum": 120}
_MINUTES = {"oneOf": [_MINUTES_ONE, {"type": "array", "items": _MINUTES_ONE, "minItems": 1}]}
_DATE = {"type": "string", "format": "date"}


def _in(title: str, schema: dict[str, Any], required: bool = False,
        description: str = "") -> dict[str, Any]:
    return {"title": title, "description": description or title, "schema": schema,
            "minOccurs": 1 if required else 0, "maxOccurs": 1}


def _meta(pid: str, en: str, zh: str, description: str, inputs: dict[str, Any],
          example: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "1.0.0", "id": pid, "title": {"en": en, "zh": zh},
        "description": {"en": description}, "jobControlOptions": ["sync-execute"],
        "keywords": ["network", "routing"], "links": [], "inputs": inputs,
        "outputs": {"result": {"title": en, "schema": {"type": "object",
                                                       "contentMediaType": "application/json"}}},
        "example": {"inputs": example},
    }


ORIGIN = [114.118, 22.548]
METADATA: dict[str, dict[str, Any]] = {
    "route": _meta(
        "route", "Route", "路径规划",
        "The fastest path between two points on the walk or drive network, as a GeoJSON "
        "Feature LineString with distance_m, duration_s and mode.",
        {"from": _in("From [lon, lat]", _POINT, True), "to": _in("To [lon, lat]", _POINT, True),
         "mode": _in("Mode", _MODE)},
        {"from": ORIGIN, "to": [114.13, 22.56], "mode": "walk"}),
    "isochrone": _meta(
        "isochrone", "Isochrone", "等时圈",
        "The streets reached from a point within the given minutes, buffered: one "
        "(Multi)Polygon Feature per minutes value.",
        {"origin": _in("Origin [lon, lat]", _POINT, True), "minutes": _in("Minutes", _MINUTES),
         "mode": _in("Mode", _MODE)},
        {"origin": ORIGIN, "minutes": [5, 10, 15], "mode": "walk"}),
    "nearest-facility": _meta(
        "nearest-facility", "Nearest facility", "就近设施",
        "The k facilities of a type reached soonest from a point (for parking, only lots "
        "with free spaces at as_of), ordered by duration_s.",
        {"origin": _in("Origin [lon, lat]", _POINT, True),
         "facility_type": _in("Facility type", _FTYPE, True),
         "k": _in("How many", {"type": "integer", "minimum": 1, "maximum": 50, "default": 3}),
         "mode": _in("Mode", _MODE),
         "as_of": _in("As of (parking occupancy instant)", {"type": "string"})},
        {"origin": ORIGIN, "facility_type": "community_station", "k": 3, "mode": "walk"}),
    "service-coverage": _meta(
        "service-coverage", "Service coverage", "服务圈覆盖",
        "Residents within the given minutes of a facility type, per community and in total, "
        "with the H3 blocks of the residents outside reach.",
        {"facility_type": _in("Facility type", _FTYPE, True),
         "minutes": _in("Minutes", {**_MINUTES_ONE, "default": 10}),
         "mode": _in("Mode", _MODE), "as_of": _in("As of", _DATE)},
        {"facility_type": "community_station", "minutes": 10, "mode": "walk"}),
    "fire-response": _meta(
        "fire-response", "Fire response", "消防响应",
        "Drive time from the nearest fire station to every building, the shares of buildings "
        "and residents within the goal, and the buildings outside it.",
        {"minutes": _in("Goal (minutes)", {**_MINUTES_ONE, "default": 5}),
         "mode": _in("Mode", {**_MODE, "default": "drive"}), "as_of": _in("As of", _DATE),
         "include_buildings": _in("Every building's time as features",
                                  {"type": "boolean", "default": False})},
        {"minutes": 5}),
    "site-suggest": _meta(
        "site-suggest", "Site suggestion", "选址建议",
        "The k new sites (greedy maximal covering) that add the most covered residents, with "
        "the coverage before and after.",
        {"facility_type": _in("Facility type", _FTYPE, True),
         "minutes": _in("Minutes", {**_MINUTES_ONE, "default": 10}),
         "k": _in("New sites", {"type": "integer", "minimum": 1, "maximum": 20, "default": 3}),
         "mode": _in("Mode", _MODE), "as_of": _in("As of", _DATE),
         "candidates": _in("Candidate sites [[lon, lat], ...]",
                           {"type": "array", "items": _POINT})},
        {"facility_type": "community_station", "minutes": 10, "k": 3}),
}


def check_inputs(pid: str, data: Any) -> dict[str, Any]:
    """The inputs checked against the process description (required, known, enumerations)."""
    if not isinstance(data, dict):
        raise ProcessInputError(user_msg="inputs must be an object")
    spec = METADATA[pid]["inputs"]
    unknown = sorted(set(data) - set(spec))
    if unknown:
        raise ProcessInputError(user_msg=f"unknown input(s): {', '.join(unknown)}")
    for name, s in spec.items():
        if s["minOccurs"] >= 1 and data.get(name) is None:
            raise ProcessInputError(user_msg=f"missing input '{name}'")
        enum = s["schema"].get("enum")
        if enum is not None and name in data and data[name] not in enum:
            raise ProcessInputError(
                user_msg=f"input '{name}' must be one of {', '.join(map(str, enum))}")
    return {k: v for k, v in data.items() if v is not None}


def _default(pid: str, name: str) -> Any:
    return METADATA[pid]["inputs"][name]["schema"].get("default")


class _NetworkProcessor(BaseProcessor):  # type: ignore[misc]
    pid = ""

    def __init__(self, processor_def: dict[str, Any]) -> None:
        super().__init__(processor_def, METADATA[self.pid])

    def execute(self, data: dict[str, Any], outputs: Any = None) -> tuple[str, dict[str, Any]]:
        """Check the inputs, run the analysis for the caller's role."""
        ctx = _ctx()
        inputs = check_inputs(self.pid, data)
        with core_errors():
            store = ctx.runtime.require_store()
            result = self.run(store, inputs, not PERSONS_ACCESS.allows(ctx.principal),
                              ctx.principal.k)
        return "application/json", result

    def run(self, store: Any, d: dict[str, Any], suppress: bool, k: int) -> dict[str, Any]:
        """The analysis (overridden)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class RouteProcessor(_NetworkProcessor):
    """OGC API Process ``route``."""

    pid = "route"

    def run(self, store: Any, d: dict[str, Any], suppress: bool, k: int) -> dict[str, Any]:
        """Route between ``from`` and ``to``."""
        return route(store, RouteInput(d["from"], d["to"], d.get("mode", "walk")))


class IsochroneProcessor(_NetworkProcessor):
    """OGC API Process ``isochrone``."""

    pid = "isochrone"

    def run(self, store: Any, d: dict[str, Any], suppress: bool, k: int) -> dict[str, Any]:
        """Isochrones round ``origin``."""
        return isochrone(store, IsochroneInput(d["origin"], d.get("minutes", 10),
                                               d.get("mode", "walk")))


class NearestFacilityProcessor(_NetworkProcessor):
    """OGC API Process ``nearest-facility``."""

    pid = "nearest-facility"

    def run(self, store: Any, d: dict[str, Any], suppress: bool, k: int) -> dict[str, Any]:
        """The k nearest facilities."""
        return nearest_facility(store, NearestInput(
            d["origin"], d["facility_type"], d.get("k", 3), d.get("mode", "walk"),
            d.get("as_of")))


class ServiceCoverageProcessor(_NetworkProcessor):
    """OGC API Process ``service-coverage``."""

    pid = "service-coverage"

    def run(self, store: Any, d: dict[str, Any], suppress: bool, k: int) -> dict[str, Any]:
        """Coverage per community (k-anonymous for public callers)."""
        result = service_coverage(store, CoverageInput(
            d["facility_type"], d.get("minutes", 10), d.get("mode", "walk"), d.get("as_of")))
        if suppress:
            result = result.suppressed_copy(k)
        return result.as_dict()


class FireResponseProcessor(_NetworkProcessor):
    """OGC API Process ``fire-response``."""

    pid = "fire-response"

    def run(self, store: Any, d: dict[str, Any], suppress: bool, k: int) -> dict[str, Any]:
        """Response times from the fire stations."""
        inc = d.get("include_buildings", False)
        if not isinstance(inc, bool):
            raise ProcessInputError(user_msg="include_buildings must be true or false")
        return fire_response(store, FireResponseInput(
            d.get("minutes", 5), d.get("mode", "drive"), d.get("as_of"), inc))


class SiteSuggestProcessor(_NetworkProcessor):
    """OGC API Process ``site-suggest``."""

    pid = "site-suggest"

    def run(self, store: Any, d: dict[str, Any], suppress: bool, k: int) -> dict[str, Any]:
        """k new sites."""
        return site_suggest(store, SiteSuggestInput(
            d["facility_type"], d.get("minutes", 10), d.get("k", 3), d.get("mode", "walk"),
            d.get("as_of"), d.get("candidates")))


"""Space matching's "within N minutes of a place" need, on the seeded demo's roads.

Every offered space must be reachable within the limit by an independent route
query (gis.analysis.route, networkx engine), and the need must exclude the spaces
the unconstrained demand would offer beyond it.
"""

from __future__ import annotations

import pytest

from gis.analysis.route import RouteInput, route
from gis.analysis.space_match import InvalidDemand, match_spaces
from gis.store.gpkg import GeoPackageStore

ORIGIN = [114.118, 22.548]  # near Dongmen, inside the district


def _demand(**extra: object) -> dict[str, object]:
    base: dict[str, object] = {"area_m2": [20, 100000], "use": "办公", "max_rent": 10000,
                               "limit": 200}
    return {**base, **extra}


def test_reach_keeps_only_spaces_within_the_minutes(demo_store: GeoPackageStore) -> None:
    free = match_spaces(demo_store, _demand()).as_dict()["candidates"]
    assert free, "the seeded demo offers office space"
    minutes = 4.0
    near = match_spaces(demo_store, _demand(
        reach={"origin": ORIGIN, "minutes": minutes, "mode": "drive"})).as_dict()
    got = near["candidates"]
    assert {tuple(c["space_ids"]) for c in got} <= {tuple(c["space_ids"]) for c in free}
    for c in got:
        assert c["travel_min"] is not None and c["travel_min"] <= minutes
        r = route(demo_store, RouteInput(ORIGIN, [c["lon"], c["lat"]], "drive"),
                  engine="networkx")
        assert r["properties"]["duration_s"] <= minutes * 60 + 1.0
    # the need removed offers the free demand made (some spaces lie farther away)
    far = [c for c in free if tuple(c["space_ids"]) not in {tuple(x["space_ids"]) for x in got}]
    assert far
    for c in far[:5]:
        r = route(demo_store, RouteInput(ORIGIN, [c["lon"], c["lat"]], "drive"),
                  engine="networkx")
        assert r["properties"]["duration_s"] > minutes * 60 - 1.0
    assert any("minutes" in n for n in near["notes"])


@pytest.mark.parametrize("reach", [
    {"origin": [113.0, 22.0], "minutes": 10},  # outside the district
    {"origin": ORIGIN, "minutes": -1},
    {"origin": ORIGIN, "minutes": 10, "mode": "fly"},
    {"origin": "here", "minutes": 10},
])
def test_bad_reach_is_refused(demo_store: GeoPackageStore, reach: dict[str, object]) -> None:
    with pytest.raises(InvalidDemand.__mro__[1]):  # InvalidQuery: a 400
        match_spaces(demo_store, _demand(reach=reach))

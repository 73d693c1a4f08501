"""The one map's server side on the hand-built store (tests/test_enterprise_data.py):
a building's spaces over time, supply and demand worked out by hand, the shortlist report."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gis.analysis.enterprise_space import building_spaces, supply_demand
from gis.errors import EntityNotFound, InvalidQuery
from gis.store.gpkg import GeoPackageStore
from spatial_api.app import create_app
from spatial_api.settings import Settings
from tests.test_enterprise_data import build

RD = {"area_m2": [500, 1000], "use": "研发", "max_rent": 120, "move_in": "2026-09-01",
      "industry": "I"}


@pytest.fixture(scope="module")
def ent_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("ents")
    build(d / "onemap.gpkg").close()
    return d


@pytest.fixture()
def store(ent_dir: Path) -> Iterator[GeoPackageStore]:
    s = GeoPackageStore(ent_dir / "onemap.gpkg")
    yield s
    s.close()


def test_building_spaces_history(store: GeoPackageStore) -> None:
    b2 = building_spaces(store, "B2", "2026-09-01")
    s6 = next(s for s in b2["spaces"] if s["id"] == "S6")
    assert s6["vacant_m2"] == 900 and s6["space_type"] == "创新型产业用房"
    assert [h["vacancy_rate"] for h in s6["history"]] == [0.0, 0.75]
    assert building_spaces(store, "B2", "2026-03-01")["spaces"][2]["vacant_m2"] == 0
    with pytest.raises(EntityNotFound):
        building_spaces(store, "B404")


def test_supply_demand_by_hand(store: GeoPackageStore) -> None:
    sd = supply_demand(store, "2026-03-01")
    (row,) = sd["subdistricts"]
    # Vacant: 800+300+900+5000+1500+0+800+900+700 = 10,900 of 18,200 m².
    assert row["vacant_m2"] == 10900 and row["area_m2"] == 18200 and row["occupied_m2"] == 7300
    # Occupied per building, shared by employees: B1 1,400 (all I), B2 5,300 (E9, F),
    # B3 200 + B4 100 (C), B5 300 (E6, F).
    assert row["occupied_by_industry_m2"] == {"F": 5600.0, "I": 1400.0, "C": 300.0}
    assert [s["quarter"] for s in sd["series"]] == ["2025-10-01", "2026-07-01"]
    assert sd["series"][1]["vacant_m2"] == 11800
    assert row["vacancy_series"] == [round(10900 / 18200, 4), round(11800 / 18200, 4)]
    only = supply_demand(store, "2026-03-01", use="仓储")["subdistricts"][0]
    assert only["vacant_m2"] == 2400 and only["occupied_by_industry_m2"] == {"C": 300.0,
                                                                            "F": 300.0}
    with pytest.raises(InvalidQuery):
        supply_demand(store, use="养殖")


def test_space_endpoints_and_shortlist_report(ent_dir: Path) -> None:
    with TestClient(create_app(Settings(data_dir=ent_dir))) as c:
        r = c.get("/enterprise/api/supply-demand?as_of=2026-03-01")
        assert r.status_code == 200 and r.json()["subdistricts"][0]["vacant_m2"] == 10900
        assert c.get("/enterprise/api/supply-demand?use=x").status_code == 400
        assert c.get("/enterprise/api/buildings/B1/spaces").status_code == 200
        assert c.get("/enterprise/api/buildings/B404/spaces").status_code == 404
        r = c.post("/enterprise/api/shortlist-report",
                   json={"demand": RD, "shortlist": [["S6"], ["S1"]]})
        assert r.status_code == 200, r.text
        html = r.text
        assert html.index("B2研发空间S6") < html.index("B1研发空间S1")  # the shortlist's order
        assert html.count("class='cand'") == 2 and "<script src=\"http" not in html
        for bad in ({"demand": RD, "shortlist": []}, {"demand": RD, "shortlist": [["S2"]]},
                    {"demand": {**RD, "use": "x"}, "shortlist": [["S1"]]}, {"demand": RD}):
            assert c.post("/enterprise/api/shortlist-report", json=bad).status_code == 400
        assert c.get("/enterprise/api/supply-demand",
                      headers={"X-API-Key": "nope"}).status_code == 401

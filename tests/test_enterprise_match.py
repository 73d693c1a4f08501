"""Space matching on the hand-built store (tests/test_enterprise_data.py), by the core,
the OGC process and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import shapely
from fastapi.testclient import TestClient

from gis.analysis.space_match import InvalidDemand, match_spaces, parse_demand
from gis.store.gpkg import GeoPackageStore
from spatial_api.app import create_app
from spatial_api.settings import Settings
from tests.conftest import EAST
from tests.test_enterprise_data import build

RD = {"area_m2": [500, 1000], "use": "研发", "max_rent": 120, "move_in": "2026-03-01",
      "industry": "I"}


@pytest.fixture(scope="module")
def ent_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("ent")
    build(d / "onemap.gpkg").close()
    return d


@pytest.fixture()
def store(ent_dir: Path) -> Iterator[GeoPackageStore]:
    s = GeoPackageStore(ent_dir / "onemap.gpkg")
    yield s
    s.close()


def ids(result: dict) -> list[list[str]]:
    return [c["space_ids"] for c in result["candidates"]]


def test_the_obviously_right_space_ranks_first(store: GeoPackageStore) -> None:
    r = match_spaces(store, RD).as_dict()
    # S2 has too little vacant, S3 is too dear, S5 is another use, S6 is let until July.
    assert ids(r) == [["S1"], ["S4"]]
    s1, s4 = r["candidates"]
    assert s1["score"] > s4["score"]
    assert s1["vacant_m2"] == 800 and s1["rent"] == 80 and s1["building_id"] == "B1"
    assert s1["parts"]["area_fit"] == 1.0 and s4["parts"]["area_fit"] == 0.2  # 1,000/5,000
    assert s1["parts"]["rent"] == pytest.approx(1 - 80 / 120, abs=1e-3)
    assert s1["parts"]["vacancy"] == 0.8
    # E1, E2, E3 share B1 with S1 (E7 was cancelled in 2024): 3 / (3 + 20).
    assert s1["same_industry_nearby"] == 3
    assert s1["parts"]["cluster"] == pytest.approx(3 / 23, abs=1e-3)
    assert s1["parts"]["accessibility"] > s4["parts"]["accessibility"]
    assert s1["parts"]["building_age"] == pytest.approx(1 - 6 / 50, abs=1e-3)
    assert s4["parts"]["building_age"] == pytest.approx(1 - 46 / 50, abs=1e-3)
    weights = r["weights"]
    score = 100 * sum(weights[k] * v for k, v in s1["parts"].items()) / sum(weights.values())
    assert s1["score"] == pytest.approx(score, abs=0.06)
    assert r["combined"] is False and not any(c["combined"] for c in r["candidates"])
    # Without an industry the cluster part is left out of the score.
    no_ind = match_spaces(store, {**RD, "industry": None}).as_dict()
    assert no_ind["candidates"][0]["parts"]["cluster"] is None


def test_vacancy_at_a_future_date_is_respected(store: GeoPackageStore) -> None:
    later = match_spaces(store, {**RD, "move_in": "2026-09-01"}).as_dict()
    assert ["S6"] in ids(later)  # vacant from 2026-07-01
    s6 = next(c for c in later["candidates"] if c["space_ids"] == ["S6"])
    assert s6["vacant_m2"] == 900
    assert ["S6"] not in ids(match_spaces(store, RD).as_dict())


def test_combined_offer_only_when_no_single_unit_fits(store: GeoPackageStore) -> None:
    big = match_spaces(store, {"area_m2": [1500, 2000], "use": "仓储", "max_rent": 60,
                               "move_in": "2026-03-01"}).as_dict()
    # S7 (800) + S8 (900) in the park 甲园 reach 1,500; S9 (700, B5) alone cannot.
    assert big["combined"] is True
    assert ids(big) == [["S8", "S7"]]
    c = big["candidates"][0]
    assert c["combined"] is True and c["vacant_m2"] == 1700
    assert any("combine" in n for n in big["notes"])
    small = match_spaces(store, {"area_m2": [600, 1000], "use": "仓储", "max_rent": 60,
                                 "move_in": "2026-03-01"}).as_dict()
    assert small["combined"] is False
    assert sorted(ids(small)) == [["S7"], ["S8"], ["S9"]]


def test_place_and_needs_filter(store: GeoPackageStore) -> None:
    east = match_spaces(store, {"area_m2": [600, 1000], "use": "仓储", "max_rent": 60,
                                "area": shapely.geometry.mapping(EAST)}).as_dict()
    assert sorted(ids(east)) == [["S7"], ["S8"], ["S9"]]
    near = match_spaces(store, {**RD, "needs": ["near_arterial"]}).as_dict()
    assert ids(near) == [["S1"]]  # B2 is ~900 m from the arterial
    similar = match_spaces(store, {**RD, "needs": ["near_similar"]}).as_dict()
    assert ids(similar) == [["S1"]]
    ground = match_spaces(store, {"area_m2": [600, 1000], "use": "仓储", "max_rent": 60,
                                  "needs": ["ground_floor"]}).as_dict()
    assert len(ids(ground)) == 3  # B3-B5 are low industrial buildings
    assert ids(match_spaces(store, {**RD, "subdistricts": ["440303003"]}).as_dict()) == \
        ids(match_spaces(store, RD).as_dict())
    assert ids(match_spaces(store, {**RD, "enterprise_id": "E4", "industry": None}).as_dict())


BAD = [
    {**RD, "area_m2": [-10, 500]},
    {**RD, "area_m2": [900, 500]},
    {**RD, "use": "养殖"},
    {**RD, "move_in": "2010-01-01"},  # before the data begins (2025-10-01 here)
    {**RD, "move_in": "soon"},
    {**RD, "area": {"type": "Polygon", "coordinates": [[[113, 22], [113.01, 22],
                                                       [113.01, 22.01], [113, 22]]]}},
    {**RD, "area": {"type": "Point", "coordinates": [114.1, 22.55]}},
    {**RD, "subdistricts": ["440303999"]},
    {**RD, "needs": ["helipad"]},
    {**RD, "enterprise_id": "E404"},
    {**RD, "max_rent": 0},
    {**RD, "colour": "red"},
    {"use": "研发", "max_rent": 100},
]


@pytest.mark.parametrize("bad", BAD)
def test_bad_demands_are_refused(store: GeoPackageStore, bad: dict) -> None:
    with pytest.raises(InvalidDemand):
        match_spaces(store, parse_demand(bad))


def test_space_match_process(ent_dir: Path, store: GeoPackageStore) -> None:
    direct = match_spaces(store, RD).as_dict()
    with TestClient(create_app(Settings(data_dir=ent_dir))) as c:
        desc = c.get("/ogc/processes/space-match").json()
        assert {"area_m2", "use", "max_rent", "move_in", "needs"} <= set(desc["inputs"])
        r = c.post("/ogc/processes/space-match/execution", json={"inputs": RD})
        assert r.status_code == 200, r.text
        body = r.json()
        assert ids(body) == ids(direct) and body["candidates"] == direct["candidates"]
        for bad in BAD[:6]:
            r = c.post("/ogc/processes/space-match/execution", json={"inputs": bad})
            assert r.status_code == 400, (bad, r.text)
            assert r.json()["code"] == "InvalidParameterValue"
            assert "Traceback" not in r.text


def test_space_match_cli(ent_dir: Path, tmp_path: Path, store: GeoPackageStore) -> None:
    demand = tmp_path / "demand.json"
    demand.write_text(json.dumps(RD, ensure_ascii=False), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    cmd = [sys.executable, "-m", "spatial_api.cli", "enterprise", "match", str(demand),
           "--data-dir", str(ent_dir)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    assert ids(json.loads(out.stdout)) == ids(match_spaces(store, RD).as_dict())
    demand.write_text(json.dumps({**RD, "area_m2": [-1, 5]}), encoding="utf-8")
    bad = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "area_m2" in bad.stderr and "Traceback" not in bad.stderr

"""Enterprise portrait, service lists and the policy table on the hand-built store
(tests/test_enterprise_data.py), through the core, HTTP and OGC processes, by role."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gis.analysis.enterprise_policies import (
    PolicyConfigError,
    load_policies,
    parse_policies,
    policy_table,
)
from gis.analysis.enterprise_service import (
    enterprise_portrait,
    enterprises_at_risk,
    policy_eligible,
)
from gis.errors import EntityNotFound
from gis.store.gpkg import GeoPackageStore
from spatial_api.app import create_app
from spatial_api.settings import Settings
from tests.test_enterprise_data import build

ADMIN = {"X-API-Key": "demo-admin-key"}
ENT = {"X-API-Key": "demo-enterprise-key"}
PLAN = {"X-API-Key": "demo-planning-key"}
POP = {"X-API-Key": "demo-population-key"}
PERSON_NAME = "张三"  # in event V1's description (a citizen's words)


@pytest.fixture(scope="module")
def ent_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("entp")
    build(d / "onemap.gpkg").close()
    return d


@pytest.fixture()
def store(ent_dir: Path) -> Iterator[GeoPackageStore]:
    s = GeoPackageStore(ent_dir / "onemap.gpkg")
    yield s
    s.close()


@pytest.fixture(scope="module")
def client(ent_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(data_dir=ent_dir))) as c:
        yield c


def test_headcount_gap_and_policies_follow_the_rule_table(store: GeoPackageStore) -> None:
    table = load_policies()
    assert table.headcount_gap_ratio == 0.7
    e2 = enterprise_portrait(store, "E2", table, as_of="2026-03-01").as_dict()
    assert e2["headcount_gap"] == {"gap": 7, "ratio": 0.3, "threshold": 0.7, "flag": True}
    e1 = enterprise_portrait(store, "E1", table, as_of="2026-03-01").as_dict()
    assert e1["headcount_gap"]["flag"] is False and e1["headcount_gap"]["gap"] == 2
    pol = {p["id"]: p for p in e1["policies"]}
    # E1: I, 50 employees, 48 insured (0.96), band A, in B1 (only 社会物业 there).
    assert pol["innovative-space"]["eligible"] is True
    assert pol["job-stabilisation"]["eligible"] is True
    assert pol["small-micro-rent"]["eligible"] is False
    assert pol["small-micro-rent"]["conditions"] == {
        "max_employees": True, "max_capital": True, "min_years": True, "space_types": False}
    assert pol["headquarters"]["conditions"]["industries"] is False
    pol2 = {p["id"]: p for p in e2["policies"]}
    assert pol2["innovative-space"]["conditions"]["min_headcount_ratio"] is False
    assert not any(p["eligible"] for p in e2["policies"])
    e9 = enterprise_portrait(store, "E9", table, as_of="2026-03-01").as_dict()
    assert [p["id"] for p in e9["policies"] if p["eligible"]] == ["small-micro-rent"]
    # The vectorised lists agree with the per-enterprise evaluation.
    expected = {"innovative-space": ["E1", "E4"], "job-stabilisation": ["E1", "E3", "E4"],
                "small-micro-rent": ["E9"], "headquarters": []}
    for p in table.policies:
        got = policy_eligible(store, p, as_of="2026-03-01")
        assert [f["id"] for f in got["features"]] == expected[p.id]
        per_one = [eid for eid in ("E1", "E2", "E3", "E4", "E5", "E6", "E7", "E9")
                   if next(x for x in enterprise_portrait(store, eid, table, as_of="2026-03-01")
                           .policies if x["id"] == p.id)["eligible"]]
        assert per_one == expected[p.id]


def test_portrait_contents(store: GeoPackageStore) -> None:
    table = load_policies()
    p = enterprise_portrait(store, "E2", table, as_of="2026-03-01").as_dict()
    assert p["status"] == "active" and p["registration"]["registered_on"] == "2015-01-01"
    assert p["industry"] == "I" and p["employees"] == 10 and p["tax_band"] == "B"
    assert p["building"]["id"] == "B1" and p["address"]["address"] == "B1号"
    assert sorted(s["id"] for s in p["spaces"]) == ["S1", "S2", "S5"]
    # Events at B1's address in the 12 months to 2026-03-01: V1 (complaint) only.
    assert p["events"]["complaints"] == 1 and p["events"]["inspections"] == 0
    assert [e["id"] for e in p["events"]["items"]] == ["V1"]
    earlier = enterprise_portrait(store, "E2", table, as_of="2025-12-31").as_dict()
    assert earlier["events"]["complaints"] == 1 and earlier["events"]["inspections"] == 1
    # Same industry in the ring: E1 and E3 (E7 was cancelled in 2024).
    n = p["neighbourhood"]
    assert n["same_industry"] == 2
    assert sorted(c["id"] for c in n["competitors"]) == ["E1", "E3"]
    e7 = enterprise_portrait(store, "E7", table, as_of="2026-03-01").as_dict()
    assert e7["status"] == "cancelled" and e7["registration"]["cancelled_on"] == "2024-01-01"
    assert enterprise_portrait(store, "E7", table, as_of="2023-06-30").status == "active"
    with pytest.raises(EntityNotFound):
        enterprise_portrait(store, "E404", table)


def test_at_risk_list(store: GeoPackageStore) -> None:
    table = load_policies()
    r = enterprises_at_risk(store, table, as_of="2026-03-01", min_score=30)
    # E2: headcount gap 35 x (1 - 0.3) = 24.5, one complaint at B1 25 x 1/3 = 8.3.
    assert [f["id"] for f in r["features"]] == ["E2"]
    assert r["features"][0]["properties"]["risk"] == pytest.approx(24.5 + 25 / 3, abs=0.06)
    later = enterprises_at_risk(store, table, as_of="2026-09-01", min_score=21.2)
    # B2's vacancy rose from 5,900/11,200 to 6,800/11,200 when S6 fell vacant: E9 at risk.
    props = {f["id"]: f["properties"] for f in later["features"]}
    assert set(props) == {"E2", "E9"}
    assert props["E9"]["signals"]["vacancy_rise"] == pytest.approx(900 / 11200, abs=1e-4)
    assert props["E9"]["risk"] == pytest.approx(40 * (900 / 11200) / 0.15, abs=0.06)


def test_policy_file_is_validated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for bad in ({"policies": [{"id": "x", "name": "x", "min_employees": 10,
                               "max_employees": 5}]},
                {"policies": [{"id": "x", "name": "x", "industries": ["Z"]}]},
                {"policies": [{"id": "x", "name": "x", "colour": "red"}]},
                {"policies": [{"id": "x", "name": "a"}, {"id": "x", "name": "b"}]},
                {"headcount_gap_ratio": 2}):
        with pytest.raises(PolicyConfigError):
            parse_policies(bad)
    broken = tmp_path / "policies.yaml"
    broken.write_text("policies:\n  - id: x\n    name: x\n    tax_bands: [Q]\n",
                      encoding="utf-8")
    monkeypatch.setenv("ONEMAP_POLICIES_FILE", str(broken))
    with pytest.raises(PolicyConfigError):
        create_app(Settings(data_dir=tmp_path))
    monkeypatch.delenv("ONEMAP_POLICIES_FILE")
    assert [p.id for p in policy_table().policies][:2] == ["innovative-space",
                                                           "job-stabilisation"]


def test_roles_see_what_they_may(client: TestClient) -> None:
    url = "/enterprises/E2/portrait?as_of=2026-03-01"
    audit = client.app.state.ogc.audit  # type: ignore[attr-defined]
    before = len(audit.entries())
    admin = client.get(url, headers=ADMIN)
    assert admin.status_code == 200
    assert admin.json()["events"]["items"][0]["description"] == "张三投诉噪音"
    logged = audit.entries()[before:]
    assert [(e["role"], e["operation"], e["rows"]) for e in logged] == [
        ("admin", "enterprise-portrait", 1)]
    ent = client.get(url, headers=ENT)
    assert ent.status_code == 200 and ent.json()["headcount_gap"]["flag"] is True
    assert "description" not in ent.json()["events"]["items"][0]
    assert PERSON_NAME not in ent.text
    assert len(audit.entries()) == before + 1  # the enterprise role read nothing personal
    for headers in (PLAN, POP, {}):
        r = client.get(url, headers=headers)
        assert r.status_code == 404 and r.json()["code"] == "NotFound"
        assert "headcount" not in r.text
    assert client.get(url, headers={"X-API-Key": "nope"}).status_code == 401
    missing = client.get("/enterprises/E404/portrait", headers=ENT)
    assert missing.status_code == 404
    # A hidden portrait and a missing enterprise look alike to a planning key.
    assert client.get("/enterprises/E404/portrait", headers=PLAN).json()["code"] == "NotFound"
    assert client.get("/enterprises/E2/portrait?as_of=soon", headers=ENT).status_code == 400


def run(c: TestClient, pid: str, inputs: dict, headers: dict) -> tuple[int, dict]:
    r = c.post(f"/ogc/processes/{pid}/execution", json={"inputs": inputs}, headers=headers)
    return r.status_code, r.json()


def test_service_list_processes(client: TestClient, store: GeoPackageStore) -> None:
    status, body = run(client, "enterprises-at-risk", {"as_of": "2026-03-01", "min_score": 30},
                       ENT)
    assert status == 200, body
    assert body["type"] == "FeatureCollection" and [f["id"] for f in body["features"]] == ["E2"]
    assert body["features"][0]["geometry"]["type"] == "Point"
    status, body = run(client, "policy-eligible", {"policy": "job-stabilisation",
                                                   "as_of": "2026-03-01"}, ADMIN)
    assert status == 200 and [f["id"] for f in body["features"]] == ["E1", "E3", "E4"]
    for pid, inputs in (("enterprises-at-risk", {}), ("policy-eligible", {"policy": "x"})):
        for headers in (PLAN, {}):
            status, body = run(client, pid, inputs, headers)
            assert status == 404, body
    listed = {p["id"] for p in client.get("/ogc/processes", headers=PLAN).json()["processes"]}
    assert "space-match" in listed and "enterprises-at-risk" not in listed
    listed = {p["id"] for p in client.get("/ogc/processes", headers=ENT).json()["processes"]}
    assert {"enterprises-at-risk", "policy-eligible"} <= listed
    assert run(client, "policy-eligible", {"policy": "nope"}, ENT)[0] == 400
    assert run(client, "policy-eligible", {}, ENT)[0] == 400
    assert run(client, "enterprises-at-risk", {"min_score": 500}, ENT)[0] == 400
    assert run(client, "enterprises-at-risk", {"as_of": "soon"}, ENT)[0] == 400
    # No natural person's name in any list, to any role.
    for headers in (ENT, ADMIN):
        _, at_risk = run(client, "enterprises-at-risk", {"min_score": 0}, headers)
        assert PERSON_NAME not in json.dumps(at_risk, ensure_ascii=False)


def test_enterprise_cli(ent_dir: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    base = [sys.executable, "-m", "spatial_api.cli", "enterprise"]
    tail = ["--as-of", "2026-03-01", "--data-dir", str(ent_dir)]
    out = subprocess.run([*base, "portrait", "E2", *tail], capture_output=True, text=True,
                         env=env, check=True)
    assert json.loads(out.stdout)["headcount_gap"]["flag"] is True
    assert PERSON_NAME not in out.stdout
    out = subprocess.run([*base, "eligible", "job-stabilisation", *tail], capture_output=True,
                         text=True, env=env, check=True)
    assert [f["id"] for f in json.loads(out.stdout)["features"]] == ["E1", "E3", "E4"]
    bad = subprocess.run([*base, "eligible", "nope", *tail], capture_output=True, text=True,
                         env=env)
    assert bad.returncode == 2 and "unknown policy" in bad.stderr


def test_policy_table_endpoint(client: TestClient) -> None:
    r = client.get("/enterprises/policies", headers=ENT)
    assert r.status_code == 200
    pol = {p["id"]: p for p in r.json()["policies"]}
    assert pol["job-stabilisation"]["conditions"] == {
        "min_headcount": 5, "min_headcount_ratio": 0.8, "tax_bands": ["A", "B", "M", "C"]}
    assert client.get("/enterprises/policies", headers=PLAN).status_code == 404
    assert client.get("/enterprises/policies").status_code == 404

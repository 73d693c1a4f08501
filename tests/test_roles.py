"""Roles from API keys: visible collections, 404 for hidden ones, masking,
k-anonymity and the audit log of person-level reads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from layers.access import (
    PUBLIC,
    RolesConfigError,
    UnknownApiKey,
    load_roles,
    mask_value,
    parse_roles,
    suppress,
)
from layers.audit import AuditLog
from spatial_api.app import create_app
from spatial_api.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
POP = {"X-API-Key": "demo-population-key"}
PLAN = {"X-API-Key": "demo-planning-key"}
ADMIN = {"X-API-Key": "demo-admin-key"}


@pytest.fixture(scope="module")
def app_client(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[tuple[TestClient, AuditLog]]:
    app = create_app(Settings(data_dir=demo_dir))
    audit = AuditLog(tmp_path_factory.mktemp("audit") / "audit.jsonl")
    app.state.ogc.audit = audit
    with TestClient(app) as c:
        yield c, audit


def test_roles_file_parses() -> None:
    cfg = load_roles(ROOT / "config" / "roles.yaml")
    assert cfg.principal(None).role == PUBLIC
    p = cfg.principal("demo-population-key")
    assert p.role == "population" and p.grants_field("persons", "name")
    assert not p.grants_field("persons", "id_number")
    assert cfg.principal("demo-admin-key").grants_field("persons", "id_number")
    with pytest.raises(UnknownApiKey):
        cfg.principal("wrong")
    hashed = parse_roles({"roles": {"planning": {}}, "keys": [
        {"key_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
         "role": "planning"}]})
    assert hashed.principal("test").role == "planning"
    for bad in ({"roles": {"public": {"grants": ["*"]}}}, {"keys": [{"key": "x", "role": "zz"}]},
                {"k_anonymity": 1}):
        with pytest.raises(RolesConfigError):
            parse_roles(bad)


def test_masking_and_suppression_rules() -> None:
    assert mask_value("name", "梁永") == "梁*"
    assert mask_value("id_number", "440303198010055299") == "440303********5299"
    assert mask_value("phone", "10085486044") == "100****6044"
    assert mask_value("house_id", "H1") is None
    assert [suppress(n, 5) for n in (0, 1, 4, 5, 9)] == [0, None, None, 5, 9]


def collections(c: TestClient, headers: dict[str, str] | None = None) -> set[str]:
    r = c.get("/ogc/collections", headers=headers or {})
    assert r.status_code == 200
    return {x["id"] for x in r.json()["collections"]}


def test_visible_collections_per_role(app_client: tuple[TestClient, AuditLog]) -> None:
    c, _ = app_client
    public = collections(c)
    assert "persons" not in public and "houses" not in public and "events" not in public
    assert {"buildings", "population_blocks", "blocks", "addresses", "sensors"} <= public
    plan = collections(c, PLAN)
    assert "houses" in plan and "events" in plan and "persons" not in plan
    assert "persons" in collections(c, POP) and "persons" in collections(c, ADMIN)
    # Hidden collections answer 404, never 403, on every path.
    for path in ("/ogc/collections/persons", "/ogc/collections/persons/items",
                 "/ogc/collections/persons/items/P0000001", "/ogc/collections/persons/queryables"):
        assert c.get(path).status_code == 404
        assert c.get(path, headers=PLAN).status_code == 404
    assert c.get("/ogc/collections/houses/items").status_code == 404
    assert c.get("/ogc/collections/houses/items", headers=PLAN).status_code == 200
    # the OpenAPI document of the public role does not mention persons either
    oas = c.get("/ogc/openapi?f=json").text
    assert "/collections/persons" not in oas
    assert "/collections/persons" in c.get("/ogc/openapi?f=json", headers=ADMIN).text


def test_keys_by_header_or_query_and_bad_key(app_client: tuple[TestClient, AuditLog]) -> None:
    c, _ = app_client
    assert c.get("/ogc/collections/persons/items?api_key=demo-population-key&limit=1"
                 ).status_code == 200
    r = c.get("/ogc/collections", headers={"X-API-Key": "nope"})
    assert r.status_code == 401 and r.json()["code"] == "InvalidApiKey"


def test_masked_fields(app_client: tuple[TestClient, AuditLog]) -> None:
    c, _ = app_client
    pop = c.get("/ogc/collections/persons/items/P0000001", headers=POP).json()["properties"]
    adm = c.get("/ogc/collections/persons/items/P0000001", headers=ADMIN).json()["properties"]
    assert adm["id_number"] and "*" not in adm["id_number"]
    assert pop["name"] == adm["name"]  # granted to population
    assert pop["id_number"] == mask_value("id_number", adm["id_number"])
    assert pop["phone"] == mask_value("phone", adm["phone"])
    assert pop["household_id"] is None
    # Masked fields are not queryable (a filter would reveal them).
    q = c.get("/ogc/collections/persons/queryables", headers=POP).json()["properties"]
    assert "id_number" not in q and "sex" in q
    assert c.get("/ogc/collections/persons/items?filter=id_number LIKE '4403%'",
                 headers=POP).status_code == 400
    assert c.get(f"/ogc/collections/persons/items?phone={adm['phone']}",
                 headers=POP).status_code == 400
    assert c.get("/ogc/collections/persons/items?sortby=phone", headers=POP).status_code == 400
    assert c.get("/ogc/collections/persons/items?filter=id_number LIKE '4403%'&limit=1",
                 headers=ADMIN).status_code == 200


def test_k_anonymity_in_public_aggregates(app_client: tuple[TestClient, AuditLog]) -> None:
    c, _ = app_client
    feats = c.get("/ogc/collections/population_blocks/items?limit=10000").json()["features"]
    counts = [f["properties"]["count"] for f in feats]
    assert all(n is None or n == 0 or n >= 5 for n in counts)
    assert any(n is not None for n in counts)
    assert all(f["properties"]["suppressed"] == (f["properties"]["count"] is None)
               for f in feats)
    url = "/ogc/collections/blocks/items?kind=person&res=11&limit=10000"
    pub = [f["properties"]["count"] for f in c.get(url).json()["features"]]
    pop = [f["properties"]["count"] for f in c.get(url, headers=POP).json()["features"]]
    assert any(n is None for n in pub) and all(n is not None for n in pop)


def test_audit_log_of_person_reads(app_client: tuple[TestClient, AuditLog]) -> None:
    c, audit = app_client
    before = len(audit.entries())
    c.get("/ogc/collections/buildings/items?limit=5", headers=POP)
    assert len(audit.entries()) == before  # not person-level
    c.get("/ogc/collections/persons/items?limit=7&sex=F", headers=POP)
    c.get("/ogc/collections/persons/items/P0000002", headers=ADMIN)
    new = audit.entries()[before:]
    assert [e["operation"] for e in new] == ["items", "item"]
    assert new[0]["role"] == "population" and new[0]["key_id"] == "demo-population"
    assert new[0]["rows"] == 7 and new[0]["params"]["where.sex"] == "F"
    assert new[1]["role"] == "admin" and new[1]["params"]["id"] == "P0000002"
    assert all("api_key" not in e["params"] for e in new)

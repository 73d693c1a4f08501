"""Sign-in: OIDC bearer tokens checked against a JWKS file, hashed API keys,
rotation without restart, per-key rate limits; anything unverifiable is a 401."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from layers.access import RolesConfigError, parse_roles
from layers.auth import Authenticator
from spatial_api.app import create_app
from spatial_api.cli import cli
from spatial_api.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
ISSUER = "https://idp.example.test/realms/onemap"
AUDIENCE = "onemap"


def _jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    doc.update(kid=kid, use="sig", alg="RS256")
    return doc


@pytest.fixture(scope="module")
def idp_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def roles_file(tmp_path_factory: pytest.TempPathFactory, idp_key: rsa.RSAPrivateKey) -> Path:
    """A copy of config/roles.yaml with an ``oidc:`` section and a local JWKS file."""
    d = tmp_path_factory.mktemp("auth")
    (d / "jwks.json").write_text(json.dumps({"keys": [_jwk(idp_key, "test-1")]}))
    doc = yaml.safe_load((ROOT / "config" / "roles.yaml").read_text(encoding="utf-8"))
    doc["oidc"] = {"issuer": ISSUER, "audience": AUDIENCE, "jwks_file": "jwks.json",
                   "roles_claim": "realm_access.roles",
                   "role_map": {"onemap-admin": "admin", "onemap-population": "population"}}
    path = d / "roles.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def client(demo_dir: Path, roles_file: Path) -> Iterator[TestClient]:
    app = create_app(Settings(data_dir=demo_dir))
    auth = Authenticator(roles_file)
    auth.RELOAD_CHECK_S = 0.0  # look at the file on every request (rotation test)
    app.state.ogc.roles = auth
    with TestClient(app) as c:
        yield c


def token(key: rsa.RSAPrivateKey, *, kid: str = "test-1", aud: str = AUDIENCE,
          iss: str = ISSUER, exp_in: int = 300, roles: tuple[str, ...] = ("onemap-population",)
          ) -> str:
    now = int(time.time())
    claims = {"iss": iss, "aud": aud, "sub": "u-1", "preferred_username": "alice",
              "iat": now, "exp": now + exp_in, "realm_access": {"roles": list(roles)}}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def bearer(t: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {t}"}


def collections(c: TestClient, headers: dict[str, str]) -> tuple[int, set[str]]:
    r = c.get("/ogc/collections", headers=headers)
    return r.status_code, ({x["id"] for x in r.json()["collections"]}
                           if r.status_code == 200 else set())


def test_valid_token_maps_claim_to_role(client: TestClient, idp_key: rsa.RSAPrivateKey) -> None:
    r = client.get("/layers", headers=bearer(token(idp_key)))
    assert r.status_code == 200
    assert r.json()["role"] == "population" and r.json()["holder"] == "alice"
    status, ids = collections(client, bearer(token(idp_key)))
    assert status == 200 and "persons" in ids
    admin = client.get("/layers", headers=bearer(token(idp_key, roles=("x", "onemap-admin"))))
    assert admin.json()["role"] == "admin"


def test_unverifiable_tokens_are_401(client: TestClient, idp_key: rsa.RSAPrivateKey) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bad = {
        "expired": token(idp_key, exp_in=-3600),
        "wrong audience": token(idp_key, aud="someone-else"),
        "wrong issuer": token(idp_key, iss="https://evil.example.test"),
        "forged (other key, same kid)": token(other),
        "unknown kid": token(idp_key, kid="nope"),
        "no role": token(idp_key, roles=("unrelated",)),
        "garbage": "not.a.jwt",
    }
    for name, t in bad.items():
        for path in ("/layers", "/ogc/collections", "/viewer/api/blocks?metric=population",
                     "/enterprises/policies"):
            r = client.get(path, headers=bearer(t))
            assert r.status_code == 401, (name, path, r.status_code)
    hs = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60,
                     "realm_access": {"roles": ["onemap-admin"]}}, "s" * 40, algorithm="HS256")
    assert client.get("/layers", headers=bearer(hs)).status_code == 401


def test_bearer_without_issuer_is_401(demo_dir: Path, idp_key: rsa.RSAPrivateKey) -> None:
    app = create_app(Settings(data_dir=demo_dir))  # the repository's roles file: no oidc
    with TestClient(app) as c:
        assert c.get("/layers", headers=bearer(token(idp_key))).status_code == 401
        assert c.get("/ogc/collections", headers=bearer(token(idp_key))).status_code == 401
        assert c.get("/layers", headers={"X-API-Key": "nope"}).status_code == 401
        # the README's demo keys still work from their hashes
        r = c.get("/layers", headers={"X-API-Key": "demo-population-key"})
        assert r.status_code == 200 and r.json()["role"] == "population"
        assert c.get("/layers").json()["role"] == "public"


def test_keys_hashed_at_rest() -> None:
    text = (ROOT / "config" / "roles.yaml").read_text(encoding="utf-8")
    doc = yaml.safe_load(text)
    assert all("key" not in e and len(e["key_sha256"]) == 64 for e in doc["keys"])
    with pytest.raises(RolesConfigError):
        parse_roles({"roles": {"planning": {}}, "keys": [{"key": "x", "role": "planning"}]})


def test_rotation_without_restart_and_rate_limit(client: TestClient, roles_file: Path,
                                                 tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(cli, ["keys", "add", "--id", "t-plan", "--role", "planning",
                              "--holder", "test", "--rate-limit", "3",
                              "--roles-file", str(roles_file)])
    assert res.exit_code == 0, res.output
    key = res.output.strip().splitlines()[-1]
    assert key not in roles_file.read_text(encoding="utf-8")
    h = {"X-API-Key": key}
    seen = [client.get("/layers", headers=h) for _ in range(4)]
    assert [r.status_code for r in seen[:3]] == [200, 200, 200]
    assert seen[0].json()["role"] == "planning"
    assert seen[3].status_code == 429 and int(seen[3].headers["retry-after"]) >= 1
    r = client.get("/ogc/collections", headers=h)
    assert r.status_code == 429 and "retry-after" in r.headers
    res = runner.invoke(cli, ["keys", "revoke", "t-plan", "--roles-file", str(roles_file)])
    assert res.exit_code == 0, res.output
    assert client.get("/layers", headers=h).status_code == 401
    # other keys are untouched by the rewrite
    assert client.get("/layers", headers={"X-API-Key": "demo-admin-key"}).json()["role"] == "admin"


def test_keys_cli_refuses_unknown_role(roles_file: Path, tmp_path: Path) -> None:
    copy = tmp_path / "roles.yaml"
    shutil.copy(roles_file, copy)
    shutil.copy(roles_file.parent / "jwks.json", tmp_path / "jwks.json")
    before = copy.read_text(encoding="utf-8")
    res = CliRunner().invoke(cli, ["keys", "add", "--id", "x", "--role", "nobody",
                                   "--roles-file", str(copy)])
    assert res.exit_code != 0 and copy.read_text(encoding="utf-8") == before

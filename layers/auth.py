"""Sign-in: API keys (hashed at rest, reloaded without restart, rate-limited) and
OpenID Connect bearer tokens (JWT checked against the issuer's JWKS).

No web framework here: :class:`Authenticator` turns the credential a request
carries (see :func:`layers.access.request_api_key`) into a
:class:`~layers.access.Principal`, or raises :class:`~layers.access.UnknownApiKey`
(a 401) for anything it cannot verify, or :class:`RateLimited` (a 429). A
request that carries a credential is never served as ``public`` by accident.
See docs/security.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import yaml

from gis.errors import CoreError
from layers.access import (
    PUBLIC,
    BearerToken,
    Principal,
    RoleConfig,
    RolesConfigError,
    UnknownApiKey,
    parse_roles,
)

log = logging.getLogger(__name__)

#: Algorithms accepted for tokens. Asymmetric only: an HMAC token would need a
#: shared secret and ``alg: none`` is never acceptable (RFC 8725 §3.1).
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]
#: Default requests per minute of one key (0 = unlimited); the roles file may
#: set ``rate_limit_per_minute`` globally and ``rate_limit`` per key.
DEFAULT_RATE = 0


class RateLimited(CoreError):
    """A key made more requests than its limit allows; retry after ``retry_after`` s."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


@dataclass(frozen=True)
class OidcConfig:
    """Where tokens come from and how their claims map to roles.

    ``roles_claim`` is a dotted path into the token (``realm_access.roles`` for
    Keycloak realm roles, ``groups`` for many others); ``role_map`` maps a claim
    value to a OneMap role (values equal to a role name map to that role). When
    several values map, the first role in ``role_map`` order wins.
    """

    issuer: str
    audience: str
    jwks_url: str = ""
    jwks_file: str = ""
    roles_claim: str = "roles"
    role_map: Mapping[str, str] = field(default_factory=dict)
    leeway_s: int = 30

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any] | None) -> OidcConfig | None:
        """The ``oidc:`` section of the roles file, with ``ONEMAP_OIDC_*`` overrides."""
        doc = dict(doc or {})
        for name in ("issuer", "audience", "jwks_url", "jwks_file", "roles_claim"):
            env = os.environ.get(f"ONEMAP_OIDC_{name.upper()}")
            if env:
                doc[name] = env
        if not doc.get("issuer"):
            return None
        if not doc.get("audience") or not (doc.get("jwks_url") or doc.get("jwks_file")):
            raise RolesConfigError("oidc needs issuer, audience and jwks_url or jwks_file")
        return cls(str(doc["issuer"]), str(doc["audience"]), str(doc.get("jwks_url") or ""),
                   str(doc.get("jwks_file") or ""), str(doc.get("roles_claim") or "roles"),
                   {str(k): str(v) for k, v in (doc.get("role_map") or {}).items()},
                   int(doc.get("leeway_s", 30)))


class TokenVerifier:
    """Checks a JWT's signature (JWKS), issuer, audience and lifetime."""

    def __init__(self, cfg: OidcConfig, base_dir: Path) -> None:
        self.cfg = cfg
        self._client: jwt.PyJWKClient | None = None
        self._keys: dict[str, jwt.PyJWK] = {}
        if cfg.jwks_url:
            self._client = jwt.PyJWKClient(cfg.jwks_url, cache_keys=True, lifespan=600)
        else:
            path = Path(cfg.jwks_file)
            path = path if path.is_absolute() else base_dir / path
            try:
                keyset = jwt.PyJWKSet.from_dict(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, jwt.PyJWTError) as exc:
                raise RolesConfigError(f"cannot read the JWKS file {path.name}: {exc}") from None
            self._keys = {str(k.key_id): k for k in keyset.keys}

    def _signing_key(self, token: str) -> Any:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            raise UnknownApiKey("malformed bearer token") from None
        if self._client is not None:
            try:
                return self._client.get_signing_key_from_jwt(token).key
            except jwt.PyJWTError:
                raise UnknownApiKey("bearer token signed by an unknown key") from None
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values())).key
        hit = self._keys.get(str(kid))
        if hit is None:
            raise UnknownApiKey("bearer token signed by an unknown key")
        return hit.key

    def claims(self, token: str) -> dict[str, Any]:
        """The verified claims of ``token`` (raises :class:`UnknownApiKey`)."""
        key = self._signing_key(token)
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=ALGORITHMS, audience=self.cfg.audience,
                issuer=self.cfg.issuer, leeway=self.cfg.leeway_s,
                options={"require": ["exp", "iss", "aud"]})
        except jwt.ExpiredSignatureError:
            raise UnknownApiKey("bearer token expired") from None
        except jwt.InvalidAudienceError:
            raise UnknownApiKey("bearer token for another audience") from None
        except jwt.PyJWTError:
            raise UnknownApiKey("invalid bearer token") from None
        return claims

    def role(self, claims: Mapping[str, Any], known: Mapping[str, Any]) -> str:
        """The OneMap role of verified ``claims`` (raises if none maps)."""
        value: Any = claims
        for part in self.cfg.roles_claim.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        values = [value] if isinstance(value, str) else list(value or [])
        mapped = {self.cfg.role_map.get(str(v), str(v)) for v in values}
        order = [*self.cfg.role_map.values(), *known]
        for role in order:
            if role in mapped and role in known and role != PUBLIC:
                return role
        raise UnknownApiKey("the bearer token grants no OneMap role")


class _Buckets:
    """Token buckets per key id (requests per minute), thread-safe.

    Hand-written: a dozen lines, and the usual libraries (slowapi, limits) are
    bound to a web framework or to a storage server.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: dict[str, tuple[float, float]] = {}  # id -> (tokens, last)

    def take(self, key_id: str, per_minute: int) -> None:
        if per_minute <= 0:
            return
        rate = per_minute / 60.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._state.get(key_id, (float(per_minute), now))
            tokens = min(float(per_minute), tokens + (now - last) * rate)
            if tokens < 1.0:
                self._state[key_id] = (tokens, now)
                raise RateLimited(f"rate limit of {per_minute} requests a minute exceeded",
                                  retry_after=int((1.0 - tokens) / rate) + 1)
            self._state[key_id] = (tokens - 1.0, now)


class Authenticator:
    """The roles file, reloaded when it changes, plus OIDC and rate limits.

    It answers like a :class:`RoleConfig` (``principal``, ``role_names``, ``k``)
    so the routes need not know where a principal comes from.
    """

    #: Seconds between two looks at the roles file's modification time.
    RELOAD_CHECK_S = 1.0

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._buckets = _Buckets()
        self._checked = 0.0
        self._mtime: tuple[int, int] = (-1, -1)
        self._load()

    def _load(self) -> None:
        try:
            st = self.path.stat()
            doc = yaml.safe_load(self.path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise RolesConfigError(f"roles file not found: {self.path.name}") from None
        except yaml.YAMLError as exc:
            raise RolesConfigError(f"roles file {self.path.name} is not valid YAML: {exc}"
                                   ) from None
        config = parse_roles(doc, source=str(self.path))
        oidc = OidcConfig.from_doc(doc.get("oidc"))
        verifier = TokenVerifier(oidc, self.path.parent) if oidc else None
        default = int(doc.get("rate_limit_per_minute", DEFAULT_RATE))
        limits = {}
        for i, entry in enumerate(doc.get("keys") or []):
            limits[str(entry.get("id", f"key{i + 1}"))] = int(entry.get("rate_limit", default))
        self.config: RoleConfig = config
        self.verifier: TokenVerifier | None = verifier
        self.limits: dict[str, int] = limits
        self.default_limit = default
        self._mtime = (st.st_mtime_ns, st.st_size)

    def maybe_reload(self) -> None:
        """Re-read the roles file if it changed (checked at most once a second).

        A broken file keeps the previous configuration (logged by the caller's
        next ``onemap keys`` run, which validates before it writes).
        """
        now = time.monotonic()
        if now - self._checked < self.RELOAD_CHECK_S:
            return
        with self._lock:
            self._checked = now
            try:
                st = self.path.stat()
            except OSError:
                return
            if (st.st_mtime_ns, st.st_size) != self._mtime:
                try:
                    self._load()
                except RolesConfigError as exc:
                    log.warning("roles file not reloaded, keeping the previous one: %s", exc)

    def reload(self) -> None:
        """Re-read the roles file now."""
        with self._lock:
            self._load()

    # RoleConfig-like surface ------------------------------------------------

    @property
    def k(self) -> int:
        """The k of the k-anonymity rule."""
        return self.config.k

    @property
    def roles(self) -> Mapping[str, frozenset[str]]:
        """Role → grants."""
        return self.config.roles

    @property
    def role_names(self) -> list[str]:
        """Every role, public first."""
        return self.config.role_names

    def principal(self, credential: str | None) -> Principal:
        """The principal of a request carrying ``credential`` (None: public).

        Raises :class:`UnknownApiKey` for a key or token that cannot be verified
        and :class:`RateLimited` when the key is over its limit.
        """
        self.maybe_reload()
        cfg = self.config
        if isinstance(credential, BearerToken):
            if self.verifier is None:
                raise UnknownApiKey("bearer tokens are not accepted (no issuer configured)")
            claims = self.verifier.claims(str(credential))
            role = self.verifier.role(claims, cfg.roles)
            sub = str(claims.get("sub", ""))
            key_id = f"oidc:{sub}"
            self._buckets.take(key_id, self.default_limit)
            holder = str(claims.get("preferred_username") or claims.get("email") or sub)
            return Principal(role, key_id, holder, cfg.roles.get(role, frozenset()), cfg.k)
        principal = cfg.principal(credential)
        if principal.key_id is not None:
            self._buckets.take(principal.key_id,
                               self.limits.get(principal.key_id, self.default_limit))
        return principal


# ---------------------------------------------------------------------------
# key management (``onemap keys``)


def key_digest(key: str) -> str:
    """The hex SHA-256 of a key, the only form a key is stored in."""
    return hashlib.sha256(key.encode()).hexdigest()


def _read_doc(path: Path) -> tuple[str, dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    # only the leading comment block is kept (PyYAML drops comments)
    lead = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lead.append(line)
    header = "\n".join(lead) + ("\n\n" if lead else "")
    return header, yaml.safe_load(text) or {}


def _write_doc(path: Path, header: str, doc: dict[str, Any]) -> None:
    parse_roles(doc)  # never write a file the server would refuse
    body = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    # atomic: a server reloading concurrently reads the old or the new file, never half
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".roles-", suffix=".yaml")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(header + body)
    os.replace(tmp, path)


def add_key(path: str | Path, key_id: str, role: str, holder: str = "",
            rate_limit: int | None = None, key: str | None = None) -> str:
    """Add a key to the roles file (stored as its SHA-256); returns the key, shown once."""
    p = Path(path)
    header, doc = _read_doc(p)
    keys = list(doc.get("keys") or [])
    if any(str(e.get("id")) == key_id for e in keys):
        raise RolesConfigError(f"a key with id {key_id!r} already exists")
    key = key or secrets.token_urlsafe(32)
    entry: dict[str, Any] = {"id": key_id, "key_sha256": key_digest(key), "role": role}
    if holder:
        entry["holder"] = holder
    if rate_limit is not None:
        entry["rate_limit"] = int(rate_limit)
    keys.append(entry)
    doc["keys"] = keys
    _write_doc(p, header, doc)
    return key


def revoke_key(path: str | Path, key_id: str) -> None:
    """Remove the key ``key_id`` from the roles file."""
    p = Path(path)
    header, doc = _read_doc(p)
    keys = list(doc.get("keys") or [])
    kept = [e for e in keys if str(e.get("id")) != key_id]
    if len(kept) == len(keys):
        raise RolesConfigError(f"no key with id {key_id!r}")
    doc["keys"] = kept
    _write_doc(p, header, doc)

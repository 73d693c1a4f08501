"""Roles, API keys, field masking and k-anonymity (no web framework here).

The roles file (``config/roles.yaml`` by default, see docs/ogc.md) maps API keys
to roles and says which masked fields each role may see in clear. Which layers
a role sees is the layer's access rule in the catalog.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gis.errors import CoreError

#: The role of a request without a key.
PUBLIC = "public"
#: Department roles of the demo (the roles file may add more).
DEPARTMENTS = ("population", "planning", "emergency", "enterprise")
ADMIN = "admin"
#: Default k of the k-anonymity rule: aggregate counts below k are suppressed.
DEFAULT_K = 5


class RolesConfigError(CoreError):
    """The roles file is missing or malformed."""


class UnknownApiKey(CoreError):
    """An API key was given but matches no key in the roles file."""


#: The challenge sent with a 401 (RFC 7617): clients such as QGIS then offer
#: their stored Basic credentials.
WWW_AUTHENTICATE = 'Basic realm="OneMap", charset="UTF-8"'


class BearerToken(str):
    """A credential sent as ``Authorization: Bearer`` (an OIDC token, RFC 6750)."""

    __slots__ = ()


def request_api_key(x_api_key: str | None, authorization: str | None,
                    query_key: str | None) -> str | None:
    """The API key a request carries, wherever the client put it.

    In order: the ``X-API-Key`` header; HTTP Basic credentials
    (``Authorization: Basic base64(user:password)``, RFC 7617) whose *password*
    is the key, or the user name when the password is empty (``curl -u KEY:``);
    the ``api_key`` query parameter. ``Authorization: Bearer TOKEN`` returns a
    :class:`BearerToken` (checked by :mod:`layers.auth`). Basic credentials exist for desktop
    clients (QGIS) that cannot add a header but keep credentials encrypted in
    their own store. A malformed or non-Basic ``Authorization`` header raises
    :class:`UnknownApiKey` (a 401), never a silent downgrade to public.
    """
    if x_api_key:
        return x_api_key.strip()
    if authorization:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return BearerToken(token.strip())
        if scheme.lower() != "basic" or not token.strip():
            raise UnknownApiKey("only Basic credentials are accepted")
        try:
            decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise UnknownApiKey("malformed Basic credentials") from None
        user, sep, password = decoded.partition(":")
        if not sep:
            raise UnknownApiKey("malformed Basic credentials")
        key = password or user
        if not key:
            raise UnknownApiKey("empty Basic credentials")
        return key
    return query_key or None


@dataclass(frozen=True)
class Principal:
    """Who is asking: a role, the key's holder (for the audit log) and grants."""

    role: str = PUBLIC
    key_id: str | None = None
    holder: str | None = None
    grants: frozenset[str] = frozenset()
    k: int = DEFAULT_K

    def grants_field(self, layer_id: str, name: str) -> bool:
        """Whether this principal sees ``layer.name`` unmasked."""
        return "*" in self.grants or f"{layer_id}.{name}" in self.grants or (
            f"{layer_id}.*" in self.grants)

    @property
    def is_public(self) -> bool:
        """True for requests without a (valid) key."""
        return self.role == PUBLIC


@dataclass(frozen=True)
class RoleConfig:
    """Parsed roles file."""

    roles: Mapping[str, frozenset[str]]  # role -> grants
    keys: Mapping[str, tuple[str, str, str]]  # sha256(key) -> (role, key_id, holder)
    k: int = DEFAULT_K
    source: str = ""

    def principal(self, api_key: str | None) -> Principal:
        """The principal of a request carrying ``api_key`` (None: public).

        Raises :class:`UnknownApiKey` for a key that is not in the file, so a
        mistyped key is an error rather than a silent downgrade to public.
        """
        if not api_key:
            return Principal(PUBLIC, grants=self.roles.get(PUBLIC, frozenset()), k=self.k)
        digest = hashlib.sha256(api_key.encode()).hexdigest()
        hit = self.keys.get(digest)
        if hit is None:
            raise UnknownApiKey("unknown API key")
        role, key_id, holder = hit
        return Principal(role, key_id, holder, self.roles.get(role, frozenset()), self.k)

    @property
    def role_names(self) -> list[str]:
        """Every role, public first."""
        names = [PUBLIC, *(r for r in self.roles if r != PUBLIC)]
        return list(dict.fromkeys(names))


def load_roles(path: str | Path) -> RoleConfig:
    """Read a roles file (YAML). See docs/ogc.md for the format."""
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise RolesConfigError(f"roles file not found: {p.name}") from None
    except yaml.YAMLError as exc:
        raise RolesConfigError(f"roles file {p.name} is not valid YAML: {exc}") from None
    return parse_roles(doc, source=str(p))


def parse_roles(doc: Mapping[str, Any], source: str = "") -> RoleConfig:
    """Validate a roles document (already parsed)."""
    roles_doc = doc.get("roles") or {}
    if not isinstance(roles_doc, Mapping):
        raise RolesConfigError("'roles' must be a mapping of role name to settings")
    roles: dict[str, frozenset[str]] = {PUBLIC: frozenset()}
    for name, spec in roles_doc.items():
        spec = spec or {}
        grants = spec.get("grants", []) if isinstance(spec, Mapping) else []
        if name == PUBLIC and grants:
            raise RolesConfigError("the public role cannot be granted masked fields")
        roles[str(name)] = frozenset(str(g) for g in grants)
    keys: dict[str, tuple[str, str, str]] = {}
    for i, entry in enumerate(doc.get("keys") or []):
        if not isinstance(entry, Mapping) or "role" not in entry:
            raise RolesConfigError(f"keys[{i}] needs 'role' and 'key_sha256'")
        role = str(entry["role"])
        if role not in roles or role == PUBLIC:
            raise RolesConfigError(f"keys[{i}]: unknown role {role!r}")
        if "key" in entry:
            # keys are held hashed at rest only (docs/security.md): a file with a
            # usable secret in it is refused rather than served
            raise RolesConfigError(f"keys[{i}]: store 'key_sha256' (the hex SHA-256 of the "
                                   "key), never the key itself; see `onemap keys add`")
        if "key_sha256" not in entry:
            raise RolesConfigError(f"keys[{i}] needs 'key_sha256'")
        digest = str(entry["key_sha256"]).lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise RolesConfigError(f"keys[{i}]: key_sha256 must be 64 hex digits")
        key_id = str(entry.get("id", f"key{i + 1}"))
        keys[digest] = (role, key_id, str(entry.get("holder", "")))
    k = int(doc.get("k_anonymity", DEFAULT_K))
    if k < 2:
        raise RolesConfigError("k_anonymity must be at least 2")
    return RoleConfig(roles, keys, k, source)


@dataclass(frozen=True)
class AccessRule:
    """Who sees a layer and which of its fields are masked.

    ``roles``: roles that see the layer (``admin`` always does). ``masked``:
    fields shown masked unless the role's grants name them. ``personal``: the
    layer serves person-level rows; every read is audited and the public role
    is refused whatever ``roles`` says.
    """

    roles: frozenset[str]
    masked: tuple[str, ...] = ()
    personal: bool = False
    suppress_small_counts: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    def allows(self, principal: Principal) -> bool:
        """Whether ``principal`` may see the layer at all."""
        if principal.role == ADMIN:
            return True
        if self.personal and principal.is_public:
            return False
        return principal.role in self.roles or "*" in self.roles

    @staticmethod
    def everyone() -> frozenset[str]:
        """The roles value meaning every role, public included."""
        return frozenset({"*"})

    @staticmethod
    def departments(*extra: str) -> frozenset[str]:
        """Every department role (and ``extra``)."""
        return frozenset({*DEPARTMENTS, *extra})


# ---------------------------------------------------------------------------
# masking


def mask_value(name: str, value: Any) -> Any:
    """Masked form of a personal value (names, ID numbers, phones, ids).

    Names keep their first character (张**), ID numbers their first 6 and last
    4 characters, phone numbers the first 3 and last 4 digits; identifiers of
    houses and households are withheld.
    """
    if value is None:
        return None
    text = str(value)
    if name == "name":
        return text[:1] + "*" * max(len(text) - 1, 1)
    if name == "id_number":
        return text[:6] + "*" * max(len(text) - 10, 4) + text[-4:] if len(text) > 10 else "****"
    if name == "phone":
        return text[:3] + "****" + text[-4:] if len(text) >= 8 else "****"
    return None


def masked_fields(layer_id: str, masked: Iterable[str], principal: Principal) -> list[str]:
    """The fields of ``masked`` that ``principal`` must see masked."""
    return [f for f in masked if not principal.grants_field(layer_id, f)]


def suppress(count: int | None, k: int) -> int | None:
    """k-anonymity: counts from 1 to k-1 become None (0 stays 0)."""
    if count is None:
        return None
    return None if 0 < count < k else int(count)

"""Who is calling: the one place the host's routers turn a request's credentials into a role."""

from __future__ import annotations

from fastapi import Request

from layers.access import Principal, request_api_key


def request_principal(request: Request) -> Principal:
    """The caller's principal from ``X-API-Key``, Basic or Bearer credentials, or ``api_key``.

    Raises :class:`layers.access.UnknownApiKey` (→ 401) for credentials the server
    cannot verify; no credentials at all is the public role.
    """
    key = request_api_key(request.headers.get("x-api-key"),
                          request.headers.get("authorization"),
                          request.query_params.get("api_key"))
    principal: Principal = request.app.state.ogc.roles.principal(key)
    return principal

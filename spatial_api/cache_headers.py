"""Cache headers for answers that depend on who asks (RFC 9110 §12.5.5, RFC 9111 §5.2.2).

Every answer says it varies with the credentials, and an answer to a request that
carried one (``X-API-Key``, ``Authorization`` or ``?api_key=``) is ``private, no-store``
unless its route chose its own ``Cache-Control`` (the tiles do). A client cache keyed
by URL alone (Qt's, under QGIS) would otherwise hand a department's answer to the next
request for the same URL without the key. One middleware for the whole app, so the
OGC API, the indicators, the viewer's API and the tiles follow the same rule.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

#: The request headers an answer may depend on besides its URL.
VARY = ("Authorization", "X-API-Key")


def _credentialed(scope: Scope) -> bool:
    names = {name for name, _ in scope.get("headers", [])}
    return (b"x-api-key" in names or b"authorization" in names
            or b"api_key=" in scope.get("query_string", b""))


class CredentialCacheHeaders:
    """Pure ASGI middleware adding ``Vary`` and, for credentialed requests, ``private,
    no-store`` (streaming answers such as SSE pass through unbuffered)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Add the headers to the start of the answer."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = _credentialed(scope)

        async def wrapped(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": with_cache_headers(
                    list(message.get("headers", [])), private)}
            await send(message)

        await self.app(scope, receive, wrapped)


def with_cache_headers(headers: list[tuple[bytes, bytes]], private: bool
                       ) -> list[tuple[bytes, bytes]]:
    """``headers`` with the credentials in ``Vary`` (tokens already there kept once) and,
    when ``private``, ``Cache-Control: private, no-store`` if none was set."""
    names = [k.lower() for k, _ in headers]
    if b"vary" in names:
        i = names.index(b"vary")
        have = {t.strip().lower() for t in headers[i][1].decode("latin-1").split(",")}
        extra = [v for v in VARY if v.lower() not in have]
        if extra:
            headers[i] = (headers[i][0], headers[i][1] + (", " + ", ".join(extra)).encode())
    else:
        headers.append((b"vary", ", ".join(VARY).encode()))
    if private and b"cache-control" not in names:
        headers.append((b"cache-control", b"private, no-store"))
    return headers

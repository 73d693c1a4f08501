"""OpenAPI pieces of the host's routes: documented parameters, error responses, examples.

Several routers parse their query strings themselves (so that they answer the
same 400 in any host app, see ``address_routes.py``); FastAPI then only knows
them as optional strings. :func:`query` declares such a parameter as it really
is (type, range, pattern, an example) through the route's ``openapi_extra``,
so that clients and fuzzers see the real contract. The examples are real
places of the demo district (Luohu, Shenzhen) so that generated requests reach
the core logic instead of its input checks.
"""

from __future__ import annotations

from typing import Any

#: The body of every error answer (errors.py, and the routers' own 400s).
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["code", "description"],
    "properties": {"code": {"type": "string"}, "description": {"type": "string"}},
}

#: A text of at most 500 characters with a visible character and no control
#: character (what ``address.errors.check_text`` accepts).
TEXT_PATTERN = (r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*"
                r"[^\s\u0000-\u001f\u007f-\u009f]"
                r"[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$")

#: A point in Luohu (Dongmen), and an address there.
LON, LAT = 114.1195, 22.5485
ADDRESS = "深圳市罗湖区东门街道湖贝社区东门中路2001号"


def query(name: str, schema: dict[str, Any], description: str, *,
          required: bool = False, example: Any = None) -> dict[str, Any]:
    """An OpenAPI query parameter object."""
    param: dict[str, Any] = {"name": name, "in": "query", "required": required,
                             "description": description, "schema": schema}
    if example is not None:
        param["example"] = example
    return param


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for error statuses, with the error body's schema."""
    text = {400: "Invalid input", 401: "Unknown API key", 404: "Not found",
            415: "Unsupported media type", 503: "Service unavailable"}
    return {s: {"description": text.get(s, "Error"),
                "content": {"application/json": {"schema": ERROR_SCHEMA}}}
            for s in statuses}

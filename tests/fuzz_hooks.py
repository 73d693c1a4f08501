"""Schemathesis hooks of the fuzz campaigns (``SCHEMATHESIS_HOOKS=tests.fuzz_hooks``).

One check, ``negative_data_rejection_ogc``: schemathesis' ``negative_data_rejection``
with the one exception the OGC standard makes. The OpenAPI document declares
``limit`` with ``maximum`` (QGIS sizes its pages from it), and OGC API Features
Part 1 says a larger value SHALL NOT be an error: the server uses the maximum
(/req/core/fc-limit-response-1, B). So a request whose only fault is a
``limit`` above the maximum is sent again with ``limit`` at the maximum, and
that request is what the built-in check judges: any other invalid value in it
must still be rejected. Everything else is the built-in check, unchanged.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import schemathesis
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import negative_data_rejection


def _maximum(case: Any) -> int | None:
    params = case.operation.get_parameter_set(ParameterLocation.QUERY)
    if not params:
        return None
    schema = params.schema.get("properties", {}).get("limit") or {}
    maximum = schema.get("maximum")
    return int(maximum) if isinstance(maximum, int | float) else None


@schemathesis.check
def negative_data_rejection_ogc(ctx: Any, response: Any, case: Any) -> bool | None:
    """``negative_data_rejection`` where ``limit`` above its maximum is clamped, not refused."""
    meta = case.meta
    if meta is not None and meta.generation.mode.is_negative and response.status_code == 200:
        maximum = _maximum(case)
        sent = dict(parse_qsl(urlsplit(response.request.url).query, keep_blank_values=True))
        try:
            limit = int(sent.get("limit", ""))
        except ValueError:
            limit = None
        if maximum is not None and limit is not None and limit > maximum:
            query = {**case.query, "limit": maximum}
            again = case.derive(query=query, keep_auth=True)
            return negative_data_rejection(ctx, again.call(), again)  # type: ignore[no-any-return]
    return negative_data_rejection(ctx, response, case)  # type: ignore[no-any-return]

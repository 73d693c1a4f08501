"""``onemap audit``: the store's audit trail (placeholder until the store table lands)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def audit_cli_operation(operation: str, *, layer: str, rows: int,
                        params: Mapping[str, Any]) -> None:
    """Record a privileged CLI operation (no-op until the audit table exists)."""

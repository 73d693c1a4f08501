"""The audit trail: who read person-level data and who did privileged operations.

Every response that carries person-level rows (items, one item, tiles, portraits)
and every privileged operation (ingest, key changes, restore) is recorded before
it is answered: when, who (role, key id, holder), which layer, what operation,
the query parameters and how many rows. Records go to the store's append-only
``onemap_audit`` table (both backends), each chained by the hash of the previous
one (gis/security/audit_chain.py); ``onemap audit verify`` checks the chain.
Without a store (some tests, tools) the log falls back to a JSONL file.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gis.security.audit_chain import ChainReport, params_json, verify
from gis.store.base import Store
from layers.access import Principal


def now_iso() -> str:
    """The current UTC time as written in audit records."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_record(role: str, key_id: str | None, holder: str | None, layer: str,
                operation: str, rows: int, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """An unsealed audit record (API keys are never written)."""
    return {"ts": now_iso(), "role": role, "key_id": key_id, "holder": holder,
            "layer": layer, "operation": operation, "rows": int(rows),
            "params": params_json(params)}


class AuditLog:
    """Audit log: the store's chained table once :meth:`attach` ed, else a JSONL file."""

    def __init__(self, path: str | Path | None = None, *, use_store: bool = False) -> None:
        self.path = Path(path) if path is not None else None
        #: Whether the app should attach its store (the runtime's default log).
        self.use_store = use_store
        self.store: Store | None = None
        self._lock = threading.Lock()

    def attach(self, store: Store) -> None:
        """Write to ``store``'s audit table from now on."""
        self.store = store

    def record(self, principal: Principal, layer: str, operation: str, rows: int,
               params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Append one entry and return it."""
        rec = make_record(principal.role, principal.key_id, principal.holder, layer,
                          operation, rows, params)
        if self.store is not None:
            return _readable(self.store.audit_append(rec))
        entry = _readable(rec)
        if self.path is None:
            raise RuntimeError("audit log has neither a store nor a file")
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line)
                fh.flush()
        return entry

    def entries(self, **filters: Any) -> list[dict[str, Any]]:
        """Entries, oldest first (filters: key_id, role, layer, since, until, limit)."""
        if self.store is not None:
            return [_readable(r) for r in self.store.audit_entries(**filters)]
        if self.path is None or not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]


def _readable(rec: Mapping[str, Any]) -> dict[str, Any]:
    """A record with its parameters as a mapping (they are stored as canonical JSON)."""
    out = dict(rec)
    if isinstance(out.get("params"), str):
        out["params"] = json.loads(out["params"])
    return out


def verify_store(store: Store, expect_head: str | None = None) -> ChainReport:
    """Check the store's audit chain (changed, deleted or reordered records)."""
    return verify(store.audit_entries(), store.audit_high_water(), expect_head)


def record_operation(store: Store, *, operation: str, layer: str, rows: int,
                     params: Mapping[str, Any] | None = None, role: str = "admin",
                     holder: str | None = None) -> dict[str, Any]:
    """Record a privileged operation run outside a request (the CLI: the operator)."""
    return _readable(store.audit_append(
        make_record(role, None, holder, layer, operation, rows, params)))

"""The audit log of person-level reads: one JSON line per read, appended to a file.

Every response that carries person-level rows (items, one item, tiles) is
written here before it is sent: when, who (role, key id, holder), which layer,
what operation, the query parameters and how many person rows were served.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from layers.access import Principal


class AuditLog:
    """Append-only JSONL audit log (thread-safe; one ``write`` per line, flushed)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def record(self, principal: Principal, layer: str, operation: str, rows: int,
               params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Append one entry and return it."""
        entry = {
            "ts": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "role": principal.role,
            "key_id": principal.key_id,
            "holder": principal.holder,
            "layer": layer,
            "operation": operation,
            "rows": int(rows),
            "params": {k: str(v) for k, v in (params or {}).items() if k != "api_key"},
        }
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line)
                fh.flush()
        return entry

    def entries(self) -> list[dict[str, Any]]:
        """Every entry (for tests and the admin)."""
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

"""The hash chain of the audit trail.

Each record's ``hash`` is the SHA-256 of the previous record's hash and the
record's own fields (its sequence number included), so changing a record,
deleting one, or reordering them breaks the chain from that record on. The
store also keeps the sequence's high-water mark (SQLite ``sqlite_sequence``,
a PostgreSQL sequence), so deleting the *last* records shows as well; an
attacker able to rewrite every later hash and the high-water mark is caught by
comparing against a head hash taken earlier (``onemap audit verify --head``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: The hash "before" the first record.
GENESIS = "0" * 64
#: The fields of a record covered by its hash, in order.
FIELDS = ("seq", "ts", "role", "key_id", "holder", "layer", "operation", "rows", "params")


def seal(prev_hash: str, record: Mapping[str, Any]) -> str:
    """The hash of ``record`` chained to ``prev_hash``."""
    body = json.dumps([record.get(f) for f in FIELDS], ensure_ascii=False,
                      separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    """Outcome of :func:`verify`: ``ok``, records checked, head hash, problems."""

    ok: bool
    records: int
    head: str
    problems: list[str]


def verify(records: Sequence[Mapping[str, Any]], high_water: int,
           expect_head: str | None = None) -> ChainReport:
    """Check the chain of ``records`` (in ``seq`` order) against ``high_water``."""
    problems: list[str] = []
    prev = GENESIS
    expected_seq = 1
    for rec in records:
        seq = int(rec["seq"])
        if seq != expected_seq:
            problems.append(f"record {expected_seq}"
                            + (f"..{seq - 1}" if seq - 1 > expected_seq else "")
                            + " missing (deleted)")
        if rec.get("prev_hash") != prev:
            problems.append(f"record {seq}: previous hash does not match (chain broken)")
        if seal(str(rec.get("prev_hash")), rec) != rec.get("hash"):
            problems.append(f"record {seq}: contents changed (hash mismatch)")
        prev = str(rec.get("hash"))
        expected_seq = seq + 1
    if high_water >= expected_seq:
        problems.append(f"records {expected_seq}..{high_water} missing (deleted at the end)")
    if expect_head is not None and expect_head not in (prev, *[r.get("hash") for r in records]):
        problems.append("the expected head hash is not in the chain (rewritten)")
    return ChainReport(not problems, len(records), prev, problems)


def params_json(params: Mapping[str, Any] | None) -> str:
    """Canonical JSON of a record's parameters (API keys never written)."""
    clean = {str(k): str(v) for k, v in (params or {}).items()
             if k not in ("api_key", "key", "authorization")}
    return json.dumps(clean, ensure_ascii=False, sort_keys=True, separators=(",", ":"))

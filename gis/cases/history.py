"""Training data from history: the store's events and the closed cases."""

from __future__ import annotations

from typing import Any

import numpy as np

from gis.cases.config import CATEGORIES


def history(store: Any, *, limit: int | None = None, seed: int = 0,
            with_cases: bool = True) -> tuple[list[str], list[str]]:
    """Texts (``description``) and categories of the stored events, plus the texts and
    final categories of closed cases (retraining learns from the operators' corrections).

    ``limit`` keeps a seeded random subset of the events (for tests and quick runs).
    """
    df = store.query("event", columns=["description", "category"])
    df = df[df["description"].notna() & df["category"].isin(CATEGORIES)]
    if limit is not None and len(df) > limit:
        idx = np.random.default_rng(seed).choice(len(df), size=limit, replace=False)
        df = df.iloc[np.sort(idx)]
    texts = [str(t) for t in df["description"]]
    labels = [str(c) for c in df["category"]]
    if with_cases and hasattr(store, "sql_read"):
        try:
            rows = store.sql_read("SELECT text, category FROM cases WHERE state IN (?, ?)",
                                  ["办结", "评价"])
        except Exception:  # no cases table yet (never served): nothing to add
            rows = []
        texts += [str(r[0]) for r in rows]
        labels += [str(r[1]) for r in rows]
    return texts, labels

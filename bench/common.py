"""Timing helpers and the result table shared by the benchmark modules."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Row:
    """One line of the result table."""

    figure: str
    value: str
    anchor: str = ""
    goal: str = ""


def timeit(fn: Callable[[], Any], repeat: int = 7, warmup: int = 1) -> list[float]:
    """Wall-clock seconds of ``repeat`` calls after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def ms(seconds: float) -> str:
    """Milliseconds with sensible precision."""
    value = seconds * 1000
    return f"{value:.2f} ms" if value < 10 else f"{value:.0f} ms"


def p(values: list[float], q: float) -> float:
    """The q-quantile (0–1) of values."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


def table(rows: list[Row]) -> str:
    """Markdown table of the rows."""
    lines = ["| figure | value | anchor (same run) | goal |", "|---|---|---|---|"]
    lines += [f"| {r.figure} | {r.value} | {r.anchor} | {r.goal} |" for r in rows]
    return "\n".join(lines)

"""Timing helpers and the result table shared by the benchmark modules."""

from __future__ import annotations

import json
import statistics
import subprocess
import time
import urllib.request
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


def _ready(url: str) -> bool:
    """/health answers and says no start-up task (warm-ups, packs) is still running."""
    try:
        with urllib.request.urlopen(url, timeout=5) as r:  # 127.0.0.1 only
            return bool(r.status == 200 and json.load(r).get("ready", True))
    except (OSError, ValueError):
        return False


def wait_ready(url: str, workers: int = 1, timeout: float = 900,
               proc: subprocess.Popen[bytes] | None = None) -> bool:
    """Wait until several /health answers at ``url`` in a row say ready (each of the
    server's ``workers`` warms itself up; the probes land on any of them). False after
    ``timeout`` seconds, or at once when the server process ``proc`` has exited.

    A full-scale start takes ~10 s on a quiet 2-core machine but over a minute on a busy
    one, then its warm-ups; a load balancer would not send traffic before, nor do the
    benchmarks measure before.
    """
    deadline = time.monotonic() + timeout
    streak = 0
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        streak = streak + 1 if _ready(url) else 0
        if streak >= 4 * workers:
            return True
        time.sleep(0.5)
    return False

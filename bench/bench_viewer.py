"""Benchmark of the map viewer: navigation to the first idle map in headless Chromium.

``run(store)`` serves the store with ``onemap serve --no-packs`` in its own process on a
free port (its indicator summary warmed at start-up, as in production), opens the viewer
in Debian's Chromium (software WebGL) with Playwright, and measures the time from
navigation to the map's first ``idle`` event (cold: the server's tile cache is empty;
warm: fresh browser contexts once the server's start-up tasks are done, /health
``ready``) and the bytes the first load transferred (response bodies as received, so gzip
tiles count compressed; workers' tile requests included). The cockpit rows open ``/``
with a department key kept in the browser: first paint is navigation → the headline tiles
on screen, time to interactive is navigation → every panel loaded and its map idle (User
Timing marks ``cockpit-tiles`` and ``cockpit-interactive`` set by js/cockpit.js); warm is
a fresh browser context against a server whose indicator cache is warm.
Run alone: ``python -m bench.bench_viewer DATA_DIR``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gis.store.base import Store

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--enable-unsafe-swiftshader", "--use-angle=swiftshader",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run"]
IDLE = """() => new Promise((resolve) => {
  const go = () => { const m = window.onemap.map;
    if (m.loaded() && m.areTilesLoaded()) resolve(performance.now()); else
    m.once('idle', () => resolve(performance.now())); };
  window.onemapReady.then(go);
})"""


@contextmanager
def served(store_path: Path) -> Iterator[str]:
    """``onemap serve --no-packs`` on the store in its own process (as a user meets it; a
    server in a thread of this process would share its interpreter, and the GIL, with the
    Playwright client driving the browser); yields the base URL once it answers."""
    from bench.bench_ogc import _stop, _wait
    from spatial_api.local_server import free_port

    port = free_port()
    env = {**os.environ, "ONEMAP_STORE_FILE": store_path.name, "ONEMAP_DB_URL": ""}
    proc = subprocess.Popen([sys.executable, "-m", "spatial_api.cli", "serve", "--no-packs",
                             "--host", "127.0.0.1", "--port", str(port), "--data-dir",
                             str(store_path.parent)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(base + "/health", proc)
        yield base
    finally:
        _stop(proc)


def _load(browser: Any, url: str) -> tuple[float, int, int]:
    """(seconds to first idle, bytes received, requests) of one fresh page load."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    finished: list[Any] = []
    ctx.on("requestfinished", lambda r: finished.append(r))  # page and its workers
    page.goto(url, wait_until="commit")
    page.wait_for_function("window.onemapReady !== undefined")
    idle_ms = float(page.evaluate(IDLE))  # performance's time origin is the navigation start
    total = 0
    for req in finished:
        sizes = req.sizes()
        total += int(sizes["responseBodySize"]) + int(sizes["responseHeadersSize"])
    ctx.close()
    return idle_ms / 1000.0, total, len(finished)


COCKPIT_MARKS = """() => new Promise((resolve) => {
  const at = (n) => {
    const e = performance.getEntriesByName(n)[0]; return e ? e.startTime : null; };
  const poll = () => { const a = at('cockpit-tiles'), b = at('cockpit-interactive');
    if (a !== null && b !== null) resolve([a, b]); else setTimeout(poll, 10); };
  poll();
})"""
COCKPIT_KEY = "demo-emergency-key"


def _cockpit(browser: Any, url: str) -> tuple[float, float]:
    """(seconds to the tiles' first paint, seconds to interactive) of one fresh cockpit load."""
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    ctx.add_init_script(f"localStorage.setItem('onemap.key', '{COCKPIT_KEY}')")
    page = ctx.new_page()
    page.goto(url, wait_until="commit")
    paint_ms, tti_ms = page.evaluate(COCKPIT_MARKS)
    ctx.close()
    return float(paint_ms) / 1000.0, float(tti_ms) / 1000.0


def cockpit_rows(browser: Any, base: str) -> list[tuple[str, str, str, str]]:
    """Cockpit first paint and time to interactive, cold (first load after start) and warm."""
    cold = _cockpit(browser, f"{base}/")
    warm = sorted(_cockpit(browser, f"{base}/") for _ in range(3))
    paint = sorted(w[0] for w in warm)[1]
    tti = sorted(w[1] for w in warm)[1]
    return [
        ("cockpit: navigation → headline tiles painted, cold", f"{cold[0]:.2f} s", "", ""),
        ("cockpit: navigation → interactive (map idle), cold", f"{cold[1]:.2f} s", "", ""),
        ("cockpit: navigation → headline tiles painted, warm (median of 3)", f"{paint:.2f} s",
         "", "≤ 2 s"),
        ("cockpit: navigation → interactive (map idle), warm (median of 3)", f"{tti:.2f} s",
         "", "≤ 2 s"),
    ]


def run(store: Store) -> list[tuple[str, str, str, str]]:
    """Cold and warm time to the first idle map, and the first load's transfer size."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return [("viewer: first idle map", "skipped (playwright not installed)", "", "≤ 3 s")]
    if not Path(CHROMIUM).exists():
        return [("viewer: first idle map", "skipped (chromium not installed)", "", "≤ 3 s")]
    store_path = Path(getattr(store, "path", Path("data/build/onemap.gpkg")))
    with served(store_path) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        cold, cold_bytes, cold_n = _load(browser, f"{base}/")
        # Warm is a running server: after its start-up tasks (tile prewarm, warm-ups),
        # which otherwise compete with the page's requests for the CPU and the GIL
        # (/health "ready", as bench_ogc and the load test wait for it).
        from bench.loadtest import wait_ready

        ready = wait_ready(f"{base}/health", 1, timeout=600)
        warm = [_load(browser, f"{base}/")[0] for _ in range(3)]
        cockpit = cockpit_rows(browser, base)
        browser.close()
    warm.sort()
    note = "" if ready else " (start-up tasks still running)"
    return [
        ("viewer: navigation → first idle map, cold server cache", f"{cold:.2f} s", "", "≤ 3 s"),
        ("viewer: navigation → first idle map, warm (median of 3)", f"{warm[1]:.2f} s{note}", "",
         "≤ 3 s"),
        ("viewer: first load transferred", f"{cold_bytes / 1e6:.2f} MB in {cold_n} requests",
         "", ""),
        *cockpit,
    ]


if __name__ == "__main__":
    from bench.common import Row, table
    from gis.store.gpkg import GeoPackageStore

    st = GeoPackageStore(Path(sys.argv[1] if len(sys.argv) > 1 else "data/build") / "onemap.gpkg")
    print(table([Row(*r) for r in run(st)]))
    st.close()

"""The viewer's perception view in Chromium: a crossing reading turns the sensor red and
draws the alert's area (pushed over SSE, no polling); a clearing reading removes it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from spatial_api.app import create_app
from spatial_api.local_server import free_port, serve_in_thread
from spatial_api.settings import Settings
from tests.conftest import copy_demo
from tests.test_viewer_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, MISSING, Viewer

pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
EMERGENCY = {"X-API-Key": "demo-emergency-key"}


@pytest.fixture(scope="module")
def served(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    d = tmp_path_factory.mktemp("pview")
    copy_demo(demo_dir, d, terrain=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("ONEMAP_DB_URL", raising=False)
        port = free_port()
        app = create_app(Settings(data_dir=d, host="127.0.0.1", port=port, offline_check_s=0,
                                  mqtt_embedded=False))
        with serve_in_thread(app, port) as base:
            yield base, app


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def test_crossing_reading_turns_sensor_red_and_draws_area(served: tuple[str, Any]) -> None:
    from playwright.sync_api import sync_playwright

    base, app = served
    svc = app.state.perception
    sid = sorted(s for s, st in svc.sensors.items() if st.place.sensor_type == "waterlogging")[0]
    rule = svc.sensors[sid].rule
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        v = Viewer(browser, base, viewport={"width": 1280, "height": 800})
        page = v.page
        page.fill("#api-key", "demo-emergency-key")
        page.click("#sign-in")
        page.click(".tabs button[data-tab=perception]")
        page.wait_for_function("window.onemapPerception && window.onemapPerception.view.sensors"
                               " && window.onemapPerception.view.es"
                               " && window.onemapPerception.view.es.readyState === 1")
        level = ("(id) => window.onemapPerception.view.sensors.features"
                 ".find((f) => f.id === id).properties.alert")
        assert page.evaluate(level, sid) == 0
        t0 = time.monotonic()
        r = httpx.post(f"{base}/sensors/{sid}/readings", headers=EMERGENCY,
                       json={"t": _iso(time.time() - 5), "value": rule.threshold * 2.5})
        assert r.status_code == 201
        page.wait_for_function(
            f"({level})('{sid}') > 0 && window.onemapPerception.view.areas.size > 0",
            timeout=30_000)
        seen_s = time.monotonic() - t0
        v.idle()
        drawn = page.evaluate("window.onemap.map.queryRenderedFeatures("
                              "{layers: ['perception-areas']}).length")
        assert drawn > 0
        red = page.evaluate("window.onemap.map.queryRenderedFeatures("
                            "{layers: ['perception-sensors']}).filter("
                            "(f) => f.properties.alert >= 1).length")
        assert red >= 1
        assert page.locator("#alert-list li").count() >= 1
        v.shot("perception-alert")
        print(f"crossing reading → red sensor and area in the browser: {seen_s:.2f} s")
        httpx.post(f"{base}/sensors/{sid}/readings", headers=EMERGENCY,
                   json={"t": _iso(time.time() - 1), "value": rule.clear * 0.2})
        page.wait_for_function(
            f"({level})('{sid}') === 0 && window.onemapPerception.view.areas.size === 0",
            timeout=30_000)
        assert not [e for e in v.errors if "favicon" not in e], v.errors
        v.ctx.close()
        browser.close()

"""The events view in a real browser: triage → create → dispatch → close, and the hot-spot
layer (same Chromium/Playwright set-up as tests/test_viewer_browser.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from spatial_api.app import create_app
from spatial_api.cli import cli
from spatial_api.local_server import free_port, serve_in_thread
from spatial_api.settings import Settings
from tests.conftest import copy_demo
from tests.test_viewer_browser import CHROMIUM, CHROMIUM_ARGS, MISSING, Viewer

pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


@pytest.fixture(scope="module")
def base_url(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    d = tmp_path_factory.mktemp("dispatch_browser")
    copy_demo(demo_dir, d)
    r = CliRunner().invoke(cli, ["dispatch", "train", "--data-dir", str(d), "--limit", "2000"])
    assert r.exit_code == 0, r.output
    port = free_port()
    with serve_in_thread(create_app(Settings(data_dir=d, port=port)), port) as base:
        yield base


@pytest.fixture(scope="module")
def viewer(base_url: str) -> Iterator[Viewer]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        v = Viewer(b, base_url, viewport={"width": 1280, "height": 800})
        yield v
        v.ctx.close()
        b.close()


def _case_state(page: Any) -> str:
    return str(page.locator("#case-list li").first.get_attribute("data-state"))


def test_triage_create_dispatch_close(viewer: Viewer) -> None:
    page = viewer.page
    page.fill("#api-key", "demo-planning-key")
    page.click("#sign-in")
    page.wait_for_function("document.querySelector('#role').textContent === 'planning'")
    page.click("nav.tabs button[data-tab=events]")
    page.fill("#triage-text", "楼下餐馆油烟直排，熏到我家窗户，衣服都不敢晒")
    page.click("#triage-go")
    page.wait_for_selector("#triage-candidates li")
    assert page.locator("#triage-candidates li").count() >= 3
    assert "→" in page.locator("#triage-category").inner_text()
    page.click("#case-create")
    page.wait_for_selector("#case-list li[data-state='受理']")
    for action, state in (("dispatch", "分拨"), ("start", "处置"), ("close", "办结")):
        page.click(f"#case-list li >> nth=0 >> button[data-action={action}]")
        page.wait_for_function(
            f"document.querySelector('#case-list li')?.dataset.state === '{state}'")
    assert _case_state(page) == "办结"
    assert "done" in (page.locator("#case-list li").first.get_attribute("class") or "")
    page.click("#scorecard-go")
    page.wait_for_selector("#scorecard tr >> nth=1")
    viewer.shot("20-dispatch-cases")
    assert viewer.errors == []


def test_hotspot_layer(viewer: Viewer) -> None:
    page = viewer.page
    page.select_option("#hs-res", "8")
    page.click("#hotspots-go")
    page.wait_for_function("window.onemap.hotspots !== undefined")
    hs = page.evaluate("window.onemap.hotspots")
    assert hs["hot"] > 0 and "热点" in page.locator("#hs-legend").inner_text()
    hot = next(f for f in hs["features"] if f["properties"]["class"] == "hot")
    ring = hot["geometry"]["coordinates"][0]
    lon = sum(p[0] for p in ring[:-1]) / (len(ring) - 1)
    lat = sum(p[1] for p in ring[:-1]) / (len(ring) - 1)
    page.evaluate(f"window.onemap.map.jumpTo({{center: [{lon}, {lat}], zoom: 13}})")
    viewer.idle()
    rendered = page.evaluate("window.onemap.map.queryRenderedFeatures({layers: ['hotspots']})"
                             ".length")
    assert rendered > 0
    viewer.shot("21-hotspots")
    assert viewer.errors == []

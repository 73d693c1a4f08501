"""The events view in a real browser: triage → create → dispatch → close, the hot-spot layer
(the pane's and the catalog's), repeat clusters on the map and in the list, the trend chart
and the scorecard chart (same Chromium/Playwright set-up as tests/test_viewer_browser.py)."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
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


def _get(base_url: str, path: str, **params: Any) -> Any:
    """The API's own answer, as a client with the same key gets it."""
    url = f"{base_url}{path}?{urllib.parse.urlencode(params)}"
    req = urllib.request.Request(url, headers={"X-API-Key": "demo-planning-key"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


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
    # The scorecard as a chart beside the table: one bar pair per row.
    rows = page.evaluate("window.onemap.scorecard.rows")
    assert page.locator("#scorecard tr").count() == len(rows) + 1
    assert page.locator("#scorecard-chart rect.bar-received").count() == len(rows)
    assert page.locator("#scorecard-chart rect.bar-on-time").count() == len(rows)
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


def test_catalog_hotspot_layer(viewer: Viewer, base_url: str) -> None:
    """The catalog layer (tiles, res 9, every event) in the layer list, coloured by class."""
    page = viewer.page
    page.click("nav.tabs button[data-tab=layers]")
    page.wait_for_selector("#layer-list li[data-layer=event_hotspots]")
    page.check("#toggle-event_hotspots")
    # The tiles carry the time slider's instant (hot spots of the 12 months up to it).
    as_of = page.evaluate("window.onemap.state.asOf") or None
    extra = {"class": "hot", **({"datetime": as_of} if as_of else {})}
    hot = _get(base_url, "/ogc/collections/event_hotspots/items", f="json", limit=1,
               **extra)["features"][0]
    ring = hot["geometry"]["coordinates"][0]
    lon = sum(p[0] for p in ring[:-1]) / (len(ring) - 1)
    lat = sum(p[1] for p in ring[:-1]) / (len(ring) - 1)
    page.evaluate(f"window.onemap.map.jumpTo({{center: [{lon}, {lat}], zoom: 13}})")
    viewer.idle()
    paint = page.evaluate("window.onemap.map.getPaintProperty('cat-event_hotspots-fill', "
                          "'fill-color')")
    assert paint[0] == "match" and "hot" in paint
    got = page.evaluate(
        "window.onemap.map.queryRenderedFeatures({layers: ['cat-event_hotspots-fill']})"
        ".map(f => [f.properties.cell, f.properties.class])")
    assert [hot["id"], "hot"] in got
    assert all(c != "none" for _, c in got)
    page.uncheck("#toggle-event_hotspots")
    page.click("nav.tabs button[data-tab=events]")
    assert viewer.errors == []


def test_repeat_clusters(viewer: Viewer, base_url: str) -> None:
    page = viewer.page
    page.click("#repeats-go")
    page.wait_for_function("window.onemap.repeats !== undefined")
    want = _get(base_url, "/dispatch/repeats", days=30, limit=100)
    shown = page.evaluate("window.onemap.repeats")
    assert shown["numberMatched"] == want["numberMatched"] > 0
    assert page.locator("#repeat-list li").count() == len(want["clusters"])
    first = want["clusters"][0]
    assert f"{first['category']} ×{first['count']}" in page.locator(
        "#repeat-list li").first.inner_text()
    page.click("#repeat-list li >> nth=0")
    page.wait_for_function(
        f"Math.abs(window.onemap.map.getCenter().lng - {first['lon']}) < 1e-4 && "
        "!window.onemap.map.isMoving()")
    viewer.idle()
    rendered = page.evaluate("window.onemap.map.queryRenderedFeatures({layers: ['repeats']})"
                             ".map(f => f.properties.cluster)")
    assert first["cluster"] in rendered
    viewer.shot("22-repeats")
    assert viewer.errors == []


def test_trend_chart(viewer: Viewer, base_url: str) -> None:
    page = viewer.page
    page.fill("#ev-start", "2025-01-06")
    page.fill("#ev-end", "2025-03-31")
    page.click("#trends-go")
    page.wait_for_function("window.onemap.trends !== undefined")
    want = _get(base_url, "/dispatch/trends", **{"from": "2025-01-06", "to": "2025-03-31"})
    series = list(want["series"].values())
    weeks = [w["week"] for w in series[0]]
    total = sum(w["count"] for s in series for w in s)
    before = sum(w["last_year"] for s in series for w in s)
    shown = page.evaluate("window.onemap.trends")
    assert [w["week"] for w in shown["weeks"]] == weeks
    assert shown["total"] == total and shown["last_year"] == before and total > 0
    assert page.locator("#trend-chart .trend-point").count() == len(weeks)
    points = page.locator("#trend-chart polyline.trend-now").get_attribute("points") or ""
    assert len(points.split()) == len(weeks)
    assert page.locator("#trend-chart polyline.trend-last-year").count() == 1
    assert f"{total} 件" in page.locator("#trend-change").inner_text()
    viewer.shot("23-trends")
    assert viewer.errors == []

"""The map viewer in a real browser: Playwright for Python driving Debian's Chromium.

One uvicorn server (demo at scale 0.01) and one headless Chromium (software WebGL
through SwiftShader) for the module; each step waits for the map's ``idle`` event
and saves a screenshot under ``test-artifacts/viewer/``. Without Chromium or
Playwright the tests skip locally but fail in CI (``CI=true``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spatial_api.app import create_app
from spatial_api.local_server import free_port, serve_in_thread
from spatial_api.settings import Settings

CHROMIUM = os.environ.get("ONEMAP_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "viewer"
NODE_MODULES = Path(__file__).resolve().parent.parent / "viewer" / "node_modules"
CHROMIUM_ARGS = ["--enable-unsafe-swiftshader", "--use-angle=swiftshader",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def _missing() -> str | None:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        return "Chromium is not installed (make test installs it with apt-get)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[test]')"
    if not (NODE_MODULES / "maplibre-gl").is_dir():
        return "viewer/node_modules is missing (make test runs npm ci)"
    return None


MISSING = _missing()
if MISSING and os.environ.get("CI", "").lower() in ("1", "true", "yes"):
    raise RuntimeError(f"browser tests cannot run in CI: {MISSING}")
pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

WAIT_IDLE = """() => new Promise((resolve) => {
  const m = window.onemap.map;
  if (m.loaded() && m.areTilesLoaded() && !m.isMoving()) { resolve(true); return; }
  m.once('idle', () => resolve(true));
})"""

# Non-background pixels of the map canvas (the basemap background is #f4f1ea).
COUNT_PIXELS = """() => {
  const m = window.onemap.map; m.triggerRepaint();
  return new Promise((resolve) => m.once('render', () => {
    const src = m.getCanvas();
    const c = document.createElement('canvas'); c.width = src.width; c.height = src.height;
    const ctx = c.getContext('2d'); ctx.drawImage(src, 0, 0);
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    let n = 0, sum = 0;
    for (let i = 0; i < d.length; i += 16) {
      const dr = Math.abs(d[i] - 0xf4), dg = Math.abs(d[i + 1] - 0xf1);
      if (dr + dg + Math.abs(d[i + 2] - 0xea) > 24) n++;
      sum = (sum + d[i] * 3 + d[i + 1] * 7 + d[i + 2] * 11 + i) % 1000000007;
    }
    resolve({ n, sum, w: c.width, h: c.height });
  }));
}"""


@pytest.fixture(scope="module")
def base_url(demo_dir: Path) -> Iterator[str]:
    port = free_port()
    app = create_app(Settings(data_dir=demo_dir, host="127.0.0.1", port=port))
    with serve_in_thread(app, port) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Viewer:
    """One page of the viewer with its console errors collected."""

    def __init__(self, browser: Any, base_url: str, **context: Any) -> None:
        self.ctx = browser.new_context(**context)
        self.page = self.ctx.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(base_url + "/")
        self.page.wait_for_function("window.onemapReady !== undefined")
        self.page.evaluate("window.onemapReady")
        self.idle()

    def idle(self) -> None:
        self.page.evaluate(WAIT_IDLE)

    def pixels(self) -> dict[str, int]:
        result: dict[str, int] = self.page.evaluate(COUNT_PIXELS)
        return result

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"))

    def center(self) -> tuple[float, float]:
        c = self.page.evaluate("(() => { const c = window.onemap.map.getCenter(); "
                               "return [c.lng, c.lat]; })()")
        return float(c[0]), float(c[1])


@pytest.fixture(scope="module")
def viewer(browser: Any, base_url: str) -> Iterator[Viewer]:
    v = Viewer(browser, base_url, viewport={"width": 1280, "height": 800})
    yield v
    v.ctx.close()


def test_loads_without_errors_and_shows_the_district(viewer: Viewer) -> None:
    viewer.shot("01-loaded")
    assert viewer.errors == []
    px = viewer.pixels()
    assert px["n"] > 0.05 * (px["w"] * px["h"] / 4), px  # the district covers the canvas
    names = viewer.page.locator("#layer-list li").count()
    assert names >= 10
    assert viewer.page.locator("#role").inner_text() == "public"


def test_search_flies_to_the_address(viewer: Viewer) -> None:
    page = viewer.page
    before = viewer.center()
    page.fill("#search", "东门")
    page.wait_for_selector("#suggestions li[data-index]")
    page.locator("#suggestions li[data-index]").first.click()
    page.wait_for_function("window.onemap.state.lastSearch !== undefined")
    page.wait_for_timeout(1000)  # flyTo duration
    viewer.idle()
    target = page.evaluate("window.onemap.state.lastSearch")
    after = viewer.center()
    viewer.shot("02-search")
    assert abs(after[0] - target["lon"]) < 1e-3 and abs(after[1] - target["lat"]) < 1e-3
    assert abs(after[0] - before[0]) + abs(after[1] - before[1]) > 1e-3
    assert page.evaluate("window.onemap.map.getZoom()") > 13


def test_toggling_a_layer_changes_the_pixels(viewer: Viewer) -> None:
    page = viewer.page
    page.evaluate("window.onemap.map.jumpTo({center: [114.13, 22.565], zoom: 12})")
    viewer.idle()
    before = viewer.pixels()
    page.check("#toggle-roads")
    viewer.idle()
    after = viewer.pixels()
    viewer.shot("03-layer-roads")
    assert after["sum"] != before["sum"] and after["n"] > before["n"]
    page.uncheck("#toggle-roads")
    viewer.idle()


def test_clicking_a_block_opens_its_portrait(viewer: Viewer) -> None:
    page = viewer.page
    page.evaluate("window.onemap.map.jumpTo({center: [114.118, 22.548], zoom: 13})")
    viewer.idle()
    point = page.evaluate("""(() => { const m = window.onemap.map;
        const f = m.queryRenderedFeatures({layers: ['blocks-fill']})
          .find((x) => x.properties.value > 0);
        const r = m.getCanvas().getBoundingClientRect();
        const c = m.project([114.118, 22.548]);
        return f ? [r.left + c.x, r.top + c.y] : null; })()""")
    assert point is not None
    page.mouse.click(point[0], point[1])
    page.wait_for_selector("#portrait:not([hidden]) .kpi b")
    viewer.shot("04-portrait")
    text = page.locator("#portrait").inner_text()
    values = page.locator("#portrait .kpi b").all_inner_texts()
    assert any(v.isdigit() and int(v) > 0 for v in values), values
    assert page.locator("#portrait svg.chart").count() >= 2
    cell = page.locator("#portrait").get_attribute("data-cell")
    assert cell and cell.startswith("88") and cell in text  # a res-8 H3 cell (the default)
    page.click("#portrait-close")


def test_time_slider_updates_blocks_and_tiles(viewer: Viewer) -> None:
    page = viewer.page
    total = ("window.onemap.state.blocks.features"
             ".reduce((a, f) => a + (f.properties.value || 0), 0)")
    page.click("nav.tabs button[data-tab=blocks]")
    page.select_option("#metric", "enterprises")
    page.wait_for_function("window.onemap.state.blocks.metric === 'enterprises'")
    now = page.evaluate(total)
    loaded = page.evaluate("window.onemap.state.blocksLoaded")
    page.evaluate("""(() => { const s = document.querySelector('#time'); s.value = '0';
        s.dispatchEvent(new Event('input')); s.dispatchEvent(new Event('change')); })()""")
    page.wait_for_function(f"window.onemap.state.blocksLoaded > {loaded}")
    viewer.idle()
    viewer.shot("04b-time-2016")
    assert page.locator("#time-label").inner_text() == "2016-01-01"
    assert page.evaluate(total) < now
    url = page.evaluate("window.onemap.map.getSource('cat-district').tiles[0]")
    assert "datetime=2016-01-01" in url
    last = page.evaluate("window.onemap.state.dates.length - 1")
    page.evaluate(f"""(() => {{ const s = document.querySelector('#time'); s.value = '{last}';
        s.dispatchEvent(new Event('change')); }})()""")
    page.select_option("#metric", "population")
    viewer.idle()
    page.click("nav.tabs button[data-tab=layers]")


def test_language_toggle(viewer: Viewer) -> None:
    page = viewer.page
    page.click("#lang")
    assert page.locator("nav.tabs button[data-tab=layers]").inner_text() == "Layers"
    assert "Roads" in page.locator("#layer-list").inner_text()
    viewer.shot("04c-english")
    page.click("#lang")
    assert page.locator("nav.tabs button[data-tab=layers]").inner_text() == "图层"


def test_industrial_view_list_and_map_in_step(viewer: Viewer) -> None:
    page = viewer.page
    page.click("nav.tabs button[data-tab=industry]")
    page.wait_for_selector("#ind-list li")
    n_all = page.locator("#ind-list li").count()
    page.fill("#ind-min", "3000")
    page.press("#ind-min", "Tab")  # a native change event
    page.wait_for_function(f"document.querySelectorAll('#ind-list li').length < {n_all}")
    n = page.locator("#ind-list li").count()
    on_map = page.evaluate("window.onemap.state.industry.features.length")
    assert 0 < n == on_map
    page.locator("#ind-list li").first.click()
    viewer.page.wait_for_timeout(600)
    viewer.idle()
    viewer.shot("04d-industrial")
    first = page.locator("#ind-list li").first.get_attribute("data-id")
    assert page.locator("#ind-list li.active").get_attribute("data-id") == first
    assert page.evaluate("JSON.stringify(window.onemap.map.getFilter('industry-hl'))").find(
        str(first)) > 0


def test_clicking_a_feature_opens_a_popup(viewer: Viewer) -> None:
    page = viewer.page
    page.evaluate("window.onemap.map.jumpTo({center: [114.12, 22.55], zoom: 14})")
    viewer.idle()
    xy = page.evaluate("""(() => { const m = window.onemap.map;
        const f = m.queryRenderedFeatures({layers: ['cat-facilities-circle']})[0];
        if (!f) return null;
        const p = m.project(f.geometry.coordinates); return [p.x, p.y]; })()""")
    assert xy is not None
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + xy[0], box["y"] + xy[1])
    page.wait_for_selector(".maplibregl-popup-content table")
    viewer.shot("04e-popup")
    assert "name" in page.locator(".maplibregl-popup-content").inner_text()
    page.evaluate("document.querySelectorAll('.maplibregl-popup').forEach((p) => p.remove())")


def test_drawing_a_polygon_returns_impact_figures(viewer: Viewer) -> None:
    page = viewer.page
    page.click("nav.tabs button[data-tab=renewal]")
    page.evaluate("window.onemap.map.jumpTo({center: [114.115, 22.545], zoom: 14})")
    viewer.idle()
    page.click("#draw")
    box = page.locator("#map").bounding_box()
    corners = [[114.11, 22.54], [114.12, 22.54], [114.12, 22.55], [114.11, 22.55]]
    for lon, lat in corners:
        xy = page.evaluate(f"(() => {{ const p = window.onemap.map.project([{lon}, {lat}]); "
                           "return [p.x, p.y]; })()")
        page.mouse.click(box["x"] + xy[0], box["y"] + xy[1])
    page.click("#draw-done")
    page.wait_for_selector("#impact[data-ready='1']", timeout=30000)
    viewer.idle()
    viewer.shot("05-renewal-impact")
    impact = page.evaluate("window.onemap.state.impact")
    assert impact["buildings"] > 0 and impact["enterprises"] > 0
    assert 0.8 < impact["area_km2"] < 1.5
    assert page.locator("#affected-count").inner_text().split(":")[-1].strip() != "0"
    with page.expect_download() as dl:
        page.click("#report")
    path = dl.value.path()
    html = Path(path).read_text(encoding="utf-8")
    assert "Renewal impact report" in html and "leaflet" in html.lower()
    # the downloaded report renders offline: no request leaves the file, no script error
    report = viewer.ctx.browser.new_page()  # its own context: a background tab does not paint
    requests: list[str] = []
    errors: list[str] = []
    report.on("request", lambda r: requests.append(r.url))
    report.on("pageerror", lambda e: errors.append(str(e)))
    report.goto(Path(path).as_uri())
    report.wait_for_timeout(800)
    report.screenshot(path=str(ARTIFACTS / "05b-report.png"), timeout=10000)
    assert errors == []
    assert [u for u in requests if not u.startswith(("file:", "data:", "about:"))] == []
    report.close()


def test_api_key_reveals_restricted_layers(viewer: Viewer) -> None:
    page = viewer.page
    page.click("nav.tabs button[data-tab=layers]")
    assert page.locator("#layer-list li[data-layer=events]").count() == 0
    page.fill("#api-key", "demo-planning-key")
    page.click("#sign-in")
    page.wait_for_selector("#layer-list li[data-layer=events]")
    assert page.locator("#role").inner_text() == "planning"
    page.check("#toggle-events")
    page.evaluate("window.onemap.map.jumpTo({center: [114.12, 22.55], zoom: 14})")
    viewer.idle()
    viewer.shot("06-signed-in")
    rendered = page.evaluate("window.onemap.map.queryRenderedFeatures("
                             "{layers: ['cat-events-circle']}).length")
    assert rendered > 0
    page.click("nav.tabs button[data-tab=events]")
    page.wait_for_function("(window.onemap.state.events?.features.length || 0) > 0")
    viewer.idle()
    viewer.shot("06b-events-heat")
    page.click("nav.tabs button[data-tab=layers]")
    page.click("#sign-out")
    page.wait_for_function("document.querySelector('#role').textContent === 'public'")
    assert page.locator("#layer-list li[data-layer=events]").count() == 0
    assert page.evaluate("window.onemap.map.getLayer('cat-events-circle') === undefined")
    viewer.shot("07-signed-out")
    assert viewer.errors == []


def test_phone_sized_viewport(browser: Any, base_url: str) -> None:
    phone = Viewer(browser, base_url, viewport={"width": 390, "height": 844},
                   device_scale_factor=2, is_mobile=True, has_touch=True)
    try:
        page = phone.page
        phone.shot("08-phone")
        canvas = page.locator("#map canvas").bounding_box()
        assert canvas is not None and canvas["width"] <= 390 and canvas["height"] > 300
        panel = page.locator("#panel").bounding_box()
        assert panel is not None and panel["width"] <= 390
        assert page.locator("#search").is_visible()
        page.click("#panel-toggle")
        assert not page.locator("#panel").is_visible()
        px = phone.pixels()
        assert px["n"] > 0
        assert phone.errors == []
    finally:
        phone.ctx.close()

"""The cockpit in Chromium (Playwright): the desktop page at ``/`` for a department key, its
drill-down by a click on a subdistrict, the live alert tile, and the phone page ``/m`` at
390 × 844 that keeps working offline from its service worker's cache. Every value on a tile
is compared with what ``/indicators/summary`` answers the same key; screenshots go to
``test-artifacts/viewer/cockpit-*.png``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from gis.indicators import catalog as catalog_mod
from spatial_api.app import create_app
from spatial_api.local_server import free_port, serve_in_thread
from spatial_api.settings import Settings
from tests.conftest import copy_demo
from tests.test_viewer_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, MISSING

pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
KEY = "demo-emergency-key"
HEADERS = {"X-API-Key": KEY}
STORE_KEY = f"localStorage.setItem('onemap.key', '{KEY}')"
#: Issue 17: "a posted crossing reading appears within 2 s" on the live alert tile.
ALERT_BOUND_MS = 2_000
LOADED = ("window.onemapCockpit && window.onemapCockpit.state.loads > {n}"
          " && window.onemapCockpit.state.mapLoads > 0")
TILE_VALUES = ("[...document.querySelectorAll('#ck-tiles .ck-tile[data-id]')]"
               ".map((e) => [e.dataset.id, e.dataset.value, e.querySelector('b').textContent])")


@pytest.fixture(scope="module")
def served(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    d = tmp_path_factory.mktemp("cockpit")
    copy_demo(demo_dir, d, terrain=True)  # the alert test posts readings
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("ONEMAP_DB_URL", raising=False)
        port = free_port()
        app = create_app(Settings(data_dir=d, host="127.0.0.1", port=port, offline_check_s=0,
                                  mqtt_embedded=False, packs_on_start=True))
        with serve_in_thread(app, port) as base:
            yield base, app


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Page:
    """One browser context and page, its console errors collected."""

    def __init__(self, browser: Any, url: str, key: bool = True, **context: Any) -> None:
        self.ctx = browser.new_context(**context)
        if key:  # a returning user: the key was kept from an earlier sign-in
            self.ctx.add_init_script(STORE_KEY)
        self.page = self.ctx.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url)

    def shot(self, name: str, full: bool = False) -> None:
        self.page.screenshot(path=str(ARTIFACTS / f"cockpit-{name}.png"), full_page=full)

    def close(self) -> None:
        self.ctx.close()


def _summary(base: str, **params: Any) -> dict[str, Any]:
    r = httpx.get(f"{base}/indicators/summary", headers=HEADERS,
                  params={k: v for k, v in params.items() if v is not None}, timeout=60)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _assert_tiles_equal(shown: list[list[str]], doc: dict[str, Any]) -> None:
    assert [s[0] for s in shown] == [i["id"] for i in doc["items"]]
    for (iid, value, text), item in zip(shown, doc["items"], strict=True):
        if item["value"] is None:
            assert value == "" and text in ("—", "*"), iid
        else:
            assert float(value) == float(item["value"]), iid
            assert text not in ("", "—"), iid


def test_desktop_cockpit_tiles_map_and_drill_down(served: tuple[str, Any], browser: Any) -> None:
    from shapely.geometry import shape

    base, _ = served
    v = Page(browser, base + "/", viewport={"width": 1440, "height": 900})
    page = v.page
    page.wait_for_function(LOADED.format(n=0), timeout=90_000)
    assert page.evaluate("document.body.classList.contains('cockpit-on')")
    assert page.is_visible("#cockpit") and not page.is_visible("#map")
    st = page.evaluate("(() => { const s = window.onemapCockpit.state;"
                       " return {from: s.from, to: s.to, freq: s.freq}; })()")
    district = _summary(base, level="district", **{"from": st["from"], "to": st["to"],
                                                    "freq": st["freq"]})
    assert district["items"], "no headline indicator"
    shown = page.evaluate(TILE_VALUES)
    _assert_tiles_equal(shown, district)
    # Sparklines: one point per period of the series that has a value.
    points = page.evaluate("[...document.querySelectorAll('#ck-tiles .ck-tile[data-id] svg')]"
                           ".map((s) => Number(s.dataset.points))")
    assert points == [sum(p["value"] is not None for p in i["series"])
                      for i in district["items"]]
    # Change arrows coloured by the indicator's direction.
    for item in district["items"]:
        cls = page.get_attribute(f"#ck-tiles .ck-tile[data-id='{item['id']}'] .ck-change",
                                 "class") or ""
        c = item["change"]
        if c:
            good = (c > 0) == (item["direction"] == "higher_is_better")
            assert ("good" if good else "bad") in cls, (item["id"], cls)
    # The map: one polygon per subdistrict, as the GeoJSON of the chosen indicator.
    chosen = page.evaluate("window.onemapCockpit.state.indicator")
    fc = httpx.get(f"{base}/indicators/{chosen}", headers=HEADERS, timeout=60, params={
        "level": "subdistrict", "from": st["from"], "to": st["to"], "freq": st["freq"],
        "f": "geojson"}).json()
    assert len(fc["features"]) == 10
    page.evaluate("new Promise((r) => { const m = window.onemapCockpit.map;"
                  " if (m.loaded() && !m.isMoving()) r(true); else m.once('idle', r); })")
    codes = page.evaluate("[...new Set(window.onemapCockpit.map.queryRenderedFeatures("
                          "{layers: ['ck-fill']}).map((f) => f.properties.code))].sort()")
    assert codes == sorted(f["properties"]["code"] for f in fc["features"])
    # The whole district is in view: the map's bounds hold every subdistrict's (the first
    # view is fitted to the size the map has once the tiles above it are laid out).
    from shapely.ops import unary_union

    w, s_, e, n = unary_union([shape(f["geometry"]) for f in fc["features"]]).bounds
    view = page.evaluate("window.onemapCockpit.map.getBounds().toArray().flat()")
    assert view[0] <= w and view[1] <= s_ and view[2] >= e and view[3] >= n, (view, (w, s_, e, n))
    v.shot("desktop")

    # Drill down: a click inside the largest subdistrict filters the page.
    target = max(fc["features"], key=lambda f: shape(f["geometry"]).area)
    pt = shape(target["geometry"]).representative_point()
    xy = page.evaluate(f"(() => {{ const p = window.onemapCockpit.map.project([{pt.x}, {pt.y}]);"
                       " return [p.x, p.y]; })()")
    box = page.locator("#ck-map canvas").bounding_box()
    loads = page.evaluate("window.onemapCockpit.state.loads")
    page.mouse.click(box["x"] + xy[0], box["y"] + xy[1])
    code = target["properties"]["code"]
    page.wait_for_function(f"window.onemapCockpit.state.area === '{code}'"
                           f" && window.onemapCockpit.state.loads > {loads}", timeout=90_000)
    drilled = _summary(base, level="subdistrict", code=code, **{
        "from": st["from"], "to": st["to"], "freq": st["freq"]})
    shown = page.evaluate(TILE_VALUES)
    _assert_tiles_equal(shown, drilled)
    assert any(a["value"] != b["value"] for a, b in zip(district["items"], drilled["items"],
                                                         strict=True))
    crumb = page.text_content(".ck-crumb[aria-current=page]") or ""
    assert crumb == target["properties"]["name"]
    # The map now shows the communities of that subdistrict.
    page.evaluate("new Promise((r) => { const m = window.onemapCockpit.map;"
                  " if (m.loaded() && !m.isMoving()) r(true); else m.once('idle', r); })")
    inner = page.evaluate("window.onemapCockpit.state.values")
    assert inner["level"] == "community" and inner["features"]
    assert all(f["properties"]["code"].startswith(code) for f in inner["features"])
    v.shot("drilled")
    # Back to the district by its crumb.
    page.click(".ck-crumb[data-code='']")
    page.wait_for_function("window.onemapCockpit.state.area === null"
                           f" && window.onemapCockpit.state.loads > {loads + 1}", timeout=90_000)
    _assert_tiles_equal(page.evaluate(TILE_VALUES), district)

    # The time range: the last 30 days by day, ending at the data's as_of.
    loads = page.evaluate("window.onemapCockpit.state.loads")
    page.select_option("#ck-range", "30d")
    page.wait_for_function(f"window.onemapCockpit.state.loads > {loads}", timeout=90_000)
    st30 = page.evaluate("(() => { const s = window.onemapCockpit.state;"
                         " return {from: s.from, to: s.to, freq: s.freq}; })()")
    assert st30["freq"] == "day" and st30["to"] == district["as_of"]
    days = _summary(base, level="district", **{"from": st30["from"], "to": st30["to"],
                                                "freq": "day"})
    _assert_tiles_equal(page.evaluate(TILE_VALUES), days)
    assert all(len(i["series"]) == 30 for i in days["items"])
    points = page.evaluate("[...document.querySelectorAll('#ck-tiles .ck-tile[data-id] svg')]"
                           ".map((s) => Number(s.dataset.points))")
    assert points == [sum(p["value"] is not None for p in i["series"]) for i in days["items"]]

    # The map is one click away, and the cockpit one click back.
    assert page.evaluate("window.onemap.state.blocksLoaded") == 0  # waits behind the cockpit
    page.click("#ck-to-map")
    assert page.is_visible("#map") and not page.is_visible("#cockpit")
    assert page.evaluate("window.location.hash") == "#map"
    page.wait_for_function("window.onemap.state.blocksLoaded > 0", timeout=60_000)
    page.click("#to-cockpit")
    assert page.is_visible("#cockpit") and not page.is_visible("#map")
    assert not [e for e in v.errors if "favicon" not in e], v.errors
    v.close()


def test_public_keeps_the_map(served: tuple[str, Any], browser: Any) -> None:
    base, _ = served
    v = Page(browser, base + "/", key=False, viewport={"width": 1280, "height": 800})
    v.page.wait_for_function("window.onemapHome !== undefined", timeout=60_000)
    assert v.page.is_visible("#map") and not v.page.is_visible("#cockpit")
    assert not v.page.is_visible("#to-cockpit")
    assert v.page.evaluate("window.onemapHome.cockpit") is None  # never mounted
    v.close()


def _cockpit_listening(browser: Any, base: str) -> tuple[Any, Any, int]:
    """The desktop cockpit loaded with its alert stream open, and its alert count."""
    v = Page(browser, base + "/", viewport={"width": 1440, "height": 900})
    page = v.page
    page.wait_for_function(LOADED.format(n=0) + " && window.onemapCockpit.state.es"
                           " && window.onemapCockpit.state.es.readyState === 1",
                           timeout=90_000)
    return v, page, int(page.text_content("#ck-alert-count") or "0")


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def test_live_alert_tile_shows_a_crossing_reading(served: tuple[str, Any],
                                                  browser: Any) -> None:
    base, app = served
    svc = app.state.perception
    sid = sorted(s for s, st in svc.sensors.items()
                 if st.place.sensor_type == "waterlogging" and st.alert is None)[0]
    rule = svc.sensors[sid].rule
    v, page, before = _cockpit_listening(browser, base)
    assert page.locator(f"#ck-alert-list li:has-text('{sid}')").count() == 0
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    r = httpx.post(f"{base}/sensors/{sid}/readings", headers=HEADERS,
                   json={"t": _iso(time.time() - 5), "value": rule.threshold * 2.5})
    assert r.status_code == 201
    t0 = time.monotonic()
    # Issue 17: the crossing is on the live alert tile within 2 s of the accepted reading
    # (pushed over SSE, no polling). Waited for up to that bound; the test fails if not there.
    try:
        page.wait_for_function(f"Number(document.getElementById('ck-alert-count').textContent)"
                               f" > {before}", timeout=ALERT_BOUND_MS)
    except PlaywrightTimeout:
        pytest.fail(f"the crossing reading was not on the alert tile {ALERT_BOUND_MS} ms after"
                    " the POST")
    seen_s = time.monotonic() - t0
    assert page.locator(f"#ck-alert-list li:has-text('{sid}')").count() == 1
    assert "alarm" in (page.get_attribute("#ck-alert-tile", "class") or "")
    v.shot("alert")
    print(f"crossing reading → cockpit alert tile: {seen_s:.2f} s")
    httpx.post(f"{base}/sensors/{sid}/readings", headers=HEADERS,
               json={"t": _iso(time.time() - 1), "value": rule.clear * 0.2})
    page.wait_for_function(f"document.querySelectorAll(\"#ck-alert-list li[data-alert-id]\")"
                           f".length === {before}", timeout=30_000)
    assert not [e for e in v.errors if "favicon" not in e], v.errors
    v.close()


@pytest.fixture(scope="module")
def served_lowered(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[tuple[str, Any]]:
    """A server whose indicator catalogue has one threshold that a single new case crosses:
    events opened today in the district above 0 (config/indicators.yaml with its
    thresholds replaced; at scale 0.01 nothing crosses the shipped ones), evaluated
    every second."""
    d = tmp_path_factory.mktemp("cockpit-indicator")
    copy_demo(demo_dir, d)
    doc = yaml.safe_load(catalog_mod.DEFAULT_PATH.read_text(encoding="utf-8"))
    for ind in doc["indicators"]:
        ind["thresholds"] = ([{"level": "district", "op": ">", "value": 0, "alert_level": 2}]
                             if ind["id"] == "events_opened" else [])
    cat = d / "indicators.yaml"
    cat.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("ONEMAP_DB_URL", raising=False)
        mp.setattr(catalog_mod, "DEFAULT_PATH", cat)  # create_app reads the catalogue
        port = free_port()
        app = create_app(Settings(data_dir=d, host="127.0.0.1", port=port, offline_check_s=0,
                                  mqtt_embedded=False, indicator_alerts_s=1.0))
        with serve_in_thread(app, port) as base:
            yield base, app


def test_indicator_alert_reaches_the_cockpit(served_lowered: tuple[str, Any],
                                             browser: Any) -> None:
    """A case opened over HTTP pushes "events opened today" past its threshold: the
    indicator alert reaches the cockpit's alert list over SSE, with its indicator and area,
    as ``GET /alerts`` lists it."""
    base, _ = served_lowered
    ind = next(i for i in httpx.get(f"{base}/indicators", timeout=60).json()["indicators"]
               if i["id"] == "events_opened")
    district = httpx.get(f"{base}/indicators/events_opened", headers=HEADERS, timeout=60,
                         params={"level": "district"}).json()["values"][0]

    def indicator_alerts() -> list[dict[str, Any]]:
        r = httpx.get(f"{base}/alerts", headers=HEADERS, params={"active": "true"}, timeout=60)
        assert r.status_code == 200, r.text
        return [f for f in r.json()["features"] if f["properties"]["kind"] == "indicator"]

    assert indicator_alerts() == []  # nothing crosses before the write
    v, page, before = _cockpit_listening(browser, base)
    r = httpx.post(f"{base}/events", headers=HEADERS, timeout=60,
                   json={"text": "测试：路边占道经营", "category": "占道经营"})
    assert r.status_code == 201, r.text
    page.wait_for_function("[...document.querySelectorAll('#ck-alert-list li[data-alert-id]')]"
                           f".some((li) => li.textContent.includes({ind['title']['zh']!r}))",
                           timeout=60_000)
    listed = indicator_alerts()
    assert len(listed) == 1
    a = listed[0]
    assert a["properties"]["sensor_id"].startswith(f"indicator:events_opened:{district['code']}:")
    li = page.locator(f"#ck-alert-list li[data-alert-id='{a['id']}']")
    assert li.count() == 1
    text = li.text_content() or ""
    # Its indicator, its area (by name: the pushed alert carries it) and the level.
    assert ind["title"]["zh"] in text and district["name"] in text, text
    assert text.startswith("L2"), text
    assert int(page.text_content("#ck-alert-count") or "0") == before + 1
    assert "alarm" in (page.get_attribute("#ck-alert-tile", "class") or "")
    v.shot("indicator-alert")
    assert not [e for e in v.errors if "favicon" not in e], v.errors
    v.close()


def test_phone_cockpit_renders_and_works_offline(served: tuple[str, Any], browser: Any) -> None:
    base, _ = served
    v = Page(browser, base + "/m", viewport={"width": 390, "height": 844},
             device_scale_factor=2, is_mobile=True, has_touch=True)
    page = v.page
    page.wait_for_function("window.onemapMobile && window.onemapMobile.state.loads > 0",
                           timeout=90_000)
    assert page.evaluate("window.onemapMobile.state.worker") is True
    assert page.evaluate("navigator.serviceWorker.controller !== null")
    s = page.evaluate("window.onemapMobile.state.summary")
    doc = _summary(base, level="district", **{"from": s["from"], "to": s["to"],
                                               "freq": s["freq"]})
    shown = page.evaluate("[...document.querySelectorAll('#m-tiles .ck-tile[data-id]')]"
                          ".map((e) => [e.dataset.id, e.dataset.value,"
                          " e.querySelector('b').textContent])")
    _assert_tiles_equal(shown, doc)
    # One column: every tile spans the page's width.
    widths = page.evaluate("[...document.querySelectorAll('#m-tiles .ck-tile')]"
                           ".map((e) => e.getBoundingClientRect().width)")
    assert widths and min(widths) > 330
    size = page.evaluate("parseFloat(getComputedStyle(document.querySelector("
                         "'#m-tiles .ck-tile-value b')).fontSize)")
    assert size >= 32
    # The district pack is kept for offline use (the server builds it after start-up).
    page.wait_for_function("window.onemapMobile.state.pack", timeout=180_000)
    pack = page.evaluate("window.onemapMobile.state.pack")
    assert pack == "/packs/district.pmtiles"
    v.shot("phone", full=True)

    v.ctx.set_offline(True)
    page.reload()
    page.wait_for_function("window.onemapMobile && window.onemapMobile.state.loads > 0",
                           timeout=60_000)
    offline = page.evaluate("[...document.querySelectorAll('#m-tiles .ck-tile[data-id]')]"
                            ".map((e) => [e.dataset.id, e.dataset.value,"
                            " e.querySelector('b').textContent])")
    assert offline == shown
    assert "offline" in (page.get_attribute("#m-status", "class") or "")
    # The map: the basemap read from the kept pack, the subdistricts coloured over it.
    page.wait_for_function("window.onemapMobile.state.mapDraws > 0", timeout=60_000)
    page.evaluate("new Promise((r) => { const m = window.onemapMobile.state.map;"
                  " if (m.loaded() && m.areTilesLoaded()) r(true); else m.once('idle', r); })")
    assert page.evaluate("window.onemapMobile.state.mapSource") == "pack"
    assert page.evaluate("window.onemapMobile.state.map.querySourceFeatures('basemap',"
                         " {sourceLayer: 'district'}).length") > 0
    codes = page.evaluate("new Set(window.onemapMobile.state.map.queryRenderedFeatures("
                          "{layers: ['m-fill']}).map((f) => f.properties.code)).size")
    assert codes == 10
    # A range request into the pack is answered from the worker's cache.
    got = page.evaluate(f"fetch('{pack}', {{headers: {{Range: 'bytes=0-6'}}}})"
                        ".then(async (r) => [r.status, new TextDecoder().decode("
                        "await r.arrayBuffer())])")
    assert got == [206, "PMTiles"]
    v.shot("phone-offline", full=True)
    v.ctx.set_offline(False)
    v.close()

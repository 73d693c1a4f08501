"""The viewer's network tool in headless Chromium: route by two clicks, isochrones by one,
the coverage choropleth with its gaps, the fire-response layer and suggested sites.

Uses the browser, server and page helpers of tests/test_viewer_browser.py (same skip
rule: without Chromium or Playwright the tests skip locally, fail in CI).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.test_viewer_browser import (  # noqa: F401  (fixtures)
    ARTIFACTS,
    MISSING,
    Viewer,
    base_url,
    browser,
)

pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


@pytest.fixture(scope="module")
def viewer(browser: Any, base_url: str) -> Iterator[Viewer]:  # noqa: F811
    v = Viewer(browser, base_url, viewport={"width": 1280, "height": 800})
    v.page.wait_for_function("window.onemapNetwork && window.onemapNetwork.ready === true")
    v.page.click("#net-tab")
    v.page.evaluate("window.onemap.map.jumpTo({center: [114.118, 22.548], zoom: 14})")
    v.idle()
    yield v
    v.ctx.close()


def click_at(v: Viewer, lon: float, lat: float) -> None:
    box = v.page.locator("#map").bounding_box()
    xy = v.page.evaluate(f"(() => {{ const p = window.onemap.map.project([{lon}, {lat}]); "
                         "return [p.x, p.y]; })()")
    v.page.mouse.click(box["x"] + xy[0], box["y"] + xy[1])


def wait_result(v: Viewer, kind: str) -> dict[str, Any]:
    v.page.wait_for_selector(f"#net-result[data-ready='{kind}']", timeout=60000)
    v.idle()
    v.shot(f"net-{kind}")
    last: dict[str, Any] = v.page.evaluate("window.onemapNetwork.last")
    return last


def rendered(v: Viewer, layer: str) -> int:
    n: int = v.page.evaluate(
        f"window.onemap.map.queryRenderedFeatures({{layers: ['{layer}']}}).length")
    return n


def test_route_by_two_clicks(viewer: Viewer) -> None:
    viewer.page.select_option("#net-mode", "walk")
    viewer.page.click("#net-route")
    click_at(viewer, 114.116, 22.547)
    click_at(viewer, 114.121, 22.551)
    last = wait_result(viewer, "route")
    f = last["route"]
    assert f["geometry"]["type"] == "LineString"
    assert f["properties"]["mode"] == "walk" and f["properties"]["distance_m"] > 300
    assert rendered(viewer, "net-route") > 0
    assert viewer.page.locator("#net-result dd").count() == 2


def test_isochrones_by_one_click(viewer: Viewer) -> None:
    viewer.page.click("#net-iso")
    click_at(viewer, 114.118, 22.548)
    last = wait_result(viewer, "isochrone")
    assert [f["properties"]["minutes"] for f in last["isochrone"]["features"]] == [15, 10, 5]
    assert rendered(viewer, "net-iso") > 0


def test_coverage_choropleth_with_gaps(viewer: Viewer) -> None:
    viewer.page.select_option("#net-ftype", "community_station")
    viewer.page.fill("#net-minutes", "5")
    viewer.page.evaluate("window.onemap.map.jumpTo({center: [114.13, 22.565], zoom: 11.5})")
    viewer.idle()
    viewer.page.click("#net-coverage")
    last = wait_result(viewer, "coverage")
    cov = last["coverage"]
    assert len(cov["communities"]) == 109
    assert cov["totals"]["population"] > 0
    assert rendered(viewer, "net-cov") > 50
    if cov["gaps"]["features"]:
        assert rendered(viewer, "net-gaps") > 0


def test_fire_response_layer(viewer: Viewer) -> None:
    viewer.page.click("#net-fire")
    last = wait_result(viewer, "fire")
    fire = last["fire"]
    assert len(fire["buildings_layer"]["features"]) == fire["buildings"] > 0
    assert rendered(viewer, "net-fire") > 0


def test_suggest_k_sites(viewer: Viewer) -> None:
    viewer.page.fill("#net-k", "2")
    viewer.page.click("#net-suggest")
    last = wait_result(viewer, "sites")
    sites = last["sites"]
    assert 1 <= len(sites["sites"]["features"]) <= 2
    assert sites["after"]["covered"] >= sites["before"]["covered"]
    assert rendered(viewer, "net-sites") > 0
    assert viewer.errors == [], viewer.errors
    assert ARTIFACTS.is_dir()

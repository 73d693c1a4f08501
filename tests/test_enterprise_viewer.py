"""The industrial-space one map in a real browser (Playwright + Chromium, as
tests/test_viewer_browser.py): filters and colouring, a building's spaces with
sparklines, supply and demand, and the matching form driven to a shortlist report."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gis.analysis.space_match import match_spaces
from gis.store.gpkg import GeoPackageStore
from tests.test_viewer_browser import (  # noqa: F401 (fixtures)
    ARTIFACTS,
    MISSING,
    Viewer,
    base_url,
    browser,
)

pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

DEMAND = {"area_m2": [100, 3000], "use": "办公", "max_rent": 200}


@pytest.fixture(scope="module")
def viewer(browser: Any, base_url: str) -> Iterator[Viewer]:  # noqa: F811
    v = Viewer(browser, base_url, viewport={"width": 1280, "height": 900})
    yield v
    v.ctx.close()


def test_space_map_filters_colour_and_supply(viewer: Viewer, demo_dir: Path) -> None:
    page = viewer.page
    page.click("nav.tabs button[data-tab=industry]")
    page.wait_for_selector("#ind-list li")
    page.wait_for_selector("#sd-table[data-ready='1']")
    n_all = page.evaluate("window.onemap.state.industry.features.length")
    types = page.evaluate("[...new Set(window.onemap.state.industry.features"
                          ".map(f => f.properties.space_type))]")
    one = sorted(types)[0]
    page.select_option("#ind-type", one)
    page.wait_for_function(f"window.onemap.state.industry.features.length < {n_all}")
    got = page.evaluate("window.onemap.state.industry.features.map(f => f.properties.space_type)")
    assert got and set(got) == {one}
    page.select_option("#ind-type", "")
    page.wait_for_function(f"window.onemap.state.industry.features.length === {n_all}")
    page.select_option("#ind-colour", "rent")
    paint = page.evaluate("JSON.stringify(window.onemap.map.getPaintProperty('industry', "
                          "'circle-color'))")
    assert "rent" in paint
    # Supply and demand: one row per subdistrict holding space, plus the header.
    sd = page.evaluate("window.onemap.industry.state.supply")
    assert page.locator("#sd-table tr").count() == len(sd["subdistricts"]) + 1 > 1
    assert len(sd["series"]) >= 20  # quarters 2019-2025
    assert page.locator("#ind-trend svg.spark polyline").count() == 1
    viewer.idle()
    viewer.shot("ind-01-space-map")


def test_matching_form_to_shortlist_report(viewer: Viewer, demo_dir: Path) -> None:
    page = viewer.page
    store = GeoPackageStore(demo_dir / "onemap.gpkg")
    try:
        direct = match_spaces(store, DEMAND).as_dict()
    finally:
        store.close()
    assert direct["candidates"], "the demo must offer a space for this demand"
    page.fill("#m-min", "100")
    page.fill("#m-max", "3000")
    page.select_option("#m-use", "办公")
    page.fill("#m-rent", "200")
    page.click("#m-run")
    page.wait_for_selector("#match-list[data-ready='1']")
    keys = page.evaluate("[...document.querySelectorAll('#match-list li')]"
                         ".map(li => li.dataset.key)")
    assert keys == ["+".join(c["space_ids"]) for c in direct["candidates"]]
    first = direct["candidates"][0]
    assert f"{first['score']:g}" in page.locator("#match-list li").first.inner_text()
    on_map = page.evaluate("window.onemap.map.getSource('ind-match').serialize()"
                           ".data.features.length")
    assert on_map == len(keys)
    # The building of the best space: its spaces with rent and vacancy sparklines.
    page.evaluate(f"window.onemap.industry.showBuilding({first['building_id']!r})")
    page.wait_for_selector("#ind-building[data-ready='1']")
    assert page.locator("#ind-building svg.spark polyline").count() >= 2
    viewer.idle()
    viewer.shot("ind-02-matching")
    page.locator("#match-list li .pick").first.check()
    with page.expect_download() as dl:
        page.click("#match-export")
    path = dl.value.path()
    html = Path(path).read_text(encoding="utf-8")
    assert "Space shortlist" in html and first["name"] in html
    assert html.count("class='cand'") == 1
    report = viewer.ctx.browser.new_page()
    requests: list[str] = []
    errors: list[str] = []
    report.on("request", lambda r: requests.append(r.url))
    report.on("pageerror", lambda e: errors.append(str(e)))
    report.goto(Path(path).as_uri())
    report.wait_for_timeout(800)
    report.screenshot(path=str(ARTIFACTS / "ind-03-shortlist-report.png"), timeout=10000)
    assert errors == []
    assert [u for u in requests if not u.startswith(("file:", "data:", "about:"))] == []
    report.close()
    assert viewer.errors == []


def test_bad_demand_shows_a_message(viewer: Viewer) -> None:
    page = viewer.page
    page.fill("#m-min", "-5")
    page.click("#m-run")
    page.wait_for_function("document.getElementById('match-msg').textContent.includes('400')")
    assert page.locator("#match-list li").count() == 0


def test_service_lists_for_the_enterprise_role(viewer: Viewer, demo_dir: Path) -> None:
    from gis.analysis.enterprise_policies import policy_table
    from gis.analysis.enterprise_service import enterprises_at_risk

    page = viewer.page
    assert page.locator("#ind-lists").is_hidden()  # public: no lists
    page.fill("#api-key", "demo-enterprise-key")
    page.click("#sign-in")
    page.wait_for_selector("#ind-lists", state="visible")
    as_of = page.evaluate("window.onemap.state.asOf")
    store = GeoPackageStore(demo_dir / "onemap.gpkg")
    try:
        direct = enterprises_at_risk(store, policy_table(), as_of=as_of)
    finally:
        store.close()
    page.click("#l-risk")
    page.wait_for_selector("#l-msg[data-ready='1']")
    n = page.evaluate("window.onemap.map.getSource('ind-lists').serialize().data.features.length")
    assert n == direct["numberReturned"]
    assert page.locator("#l-msg").inner_text().startswith(str(direct["numberMatched"]))
    viewer.idle()
    viewer.shot("ind-04-at-risk")
    page.click("#sign-out")
    page.wait_for_selector("#ind-lists", state="hidden")

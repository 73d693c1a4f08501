"""The viewer's cartography in a real browser (Playwright + Chromium, as
tests/test_viewer_browser.py): the first view fits the district, labels draw above
every data layer with halos, the H3 choropleth fades out by street zoom, and every
visible thematic layer has a legend with its unit and class breaks. Screenshots at
z11, z14 and z17 go to ``test-artifacts/viewer/carto-z*.png``."""

from __future__ import annotations

import itertools
import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.test_viewer_browser import (  # noqa: F401 (fixtures)
    MISSING,
    Viewer,
    base_url,
    browser,
)

pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

#: Thematic map layers → the legend entry that must explain them while they are on screen.
THEMATIC = {"blocks-fill": "blocks", "industry": "industry", "events-heat": "events-heat",
            "net-cov": "net-cov", "net-fire": "net-fire", "net-iso": "net-iso",
            "perception-sensors": "perception", "affected": "renewal"}
#: Dongmen, a dense part of the district.
CENTRE = (114.118, 22.548)

# Which thematic layers draw something now: visible, in their zoom range, with
# features in the viewport and a non-zero opacity at this zoom.
ON_SCREEN = """(ids) => { const m = window.onemap.map; const z = m.getZoom();
  return ids.filter((id) => { const l = m.getLayer(id); if (!l) return false;
    if (m.getLayoutProperty(id, 'visibility') === 'none') return false;
    if (z < (l.minzoom ?? 0) || z >= (l.maxzoom ?? 24)) return false;
    const op = m.getPaintProperty(id, l.type + '-opacity');
    if (Array.isArray(op) && op[0] === 'interpolate') {
      const stops = op.slice(3); let v = stops[1];
      for (let i = 0; i < stops.length; i += 2) if (z >= stops[i]) v = stops[i + 1];
      for (let i = 0; i + 2 < stops.length; i += 2) if (z > stops[i] && z < stops[i + 2]) {
        const f = (z - stops[i]) / (stops[i + 2] - stops[i]);
        v = stops[i + 1] + (stops[i + 3] - stops[i + 1]) * f; }
      if (v <= 0) return false; }
    return m.queryRenderedFeatures({ layers: [id] }).length > 0; }); }"""


def _interpolate(expr: list[Any], zoom: float) -> float:
    """Value of a MapLibre ['interpolate', ['linear'], ['zoom'], z0, v0, ...] at ``zoom``."""
    assert expr[0] == "interpolate" and expr[1] == ["linear"] and expr[2] == ["zoom"], expr
    stops = list(zip(expr[3::2], expr[4::2], strict=True))
    if zoom <= stops[0][0]:
        return float(stops[0][1])
    for (z0, v0), (z1, v1) in itertools.pairwise(stops):
        if z0 <= zoom <= z1:
            return float(v0 + (v1 - v0) * (zoom - z0) / (z1 - z0))
    return float(stops[-1][1])


@pytest.fixture(scope="module")
def viewer(browser: Any, base_url: str) -> Iterator[Viewer]:  # noqa: F811
    v = Viewer(browser, base_url, viewport={"width": 1280, "height": 800})
    yield v
    v.ctx.close()


def _legend(v: Viewer) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = v.page.evaluate("""() => Object.fromEntries(
      [...document.querySelectorAll('#legend [data-legend]')].map((e) => [e.dataset.legend, {
        title: e.querySelector('h3').textContent,
        labels: [...e.querySelectorAll('li span:last-child, .legend-ends span')]
          .map((s) => s.textContent),
        swatches: [...e.querySelectorAll('.legend-swatch, .legend-ramp')]
          .map((s) => getComputedStyle(s).backgroundColor + getComputedStyle(s).backgroundImage),
      }]))""")
    return out


def _check_legends(v: Viewer) -> list[str]:
    """Every thematic layer on screen has its legend entry; returns those layers."""
    shown = v.page.evaluate(ON_SCREEN, list(THEMATIC))
    legend = _legend(v)
    for layer in shown:
        entry = legend.get(THEMATIC[layer])
        assert entry is not None, (layer, legend)
        assert entry["labels"] and all(lab.strip() for lab in entry["labels"][:1]), entry
        assert len(set(entry["swatches"])) >= 2, entry  # classes, not one colour
    return list(shown)


def test_first_view_fits_the_district(viewer: Viewer, base_url: str) -> None:  # noqa: F811
    with urllib.request.urlopen(f"{base_url}/ogc/collections/district?f=json") as r:
        w, s, e, n = json.load(r)["extent"]["spatial"]["bbox"][0][:4]
    view = viewer.page.evaluate(
        "(() => { const b = window.onemap.map.getBounds(); "
        "return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]; })()")
    # The whole district is inside the viewport ...
    assert view[0] <= w and view[1] <= s and view[2] >= e and view[3] >= n, (view, (w, s, e, n))
    # ... and fills it along one axis (fitted, not a small patch in the middle).
    fill = max((e - w) / (view[2] - view[0]), (n - s) / (view[3] - view[1]))
    assert fill > 0.8, fill
    viewer.shot("carto-z11-start")


def test_labels_draw_above_every_data_layer_with_halos(viewer: Viewer) -> None:
    # Open views that add overlays, so their layers are in the style too.
    for tab in ("industry", "layers"):
        viewer.page.click(f"nav.tabs button[data-tab={tab}]")
    layers: list[dict[str, Any]] = viewer.page.evaluate("window.onemap.map.getStyle().layers")
    kinds = [lyr["type"] for lyr in layers]
    assert "symbol" in kinds
    first_label = kinds.index("symbol")
    data = [lyr["id"] for lyr in layers[first_label:] if lyr["type"] != "symbol"]
    assert data == [], f"data layers above the labels: {data}"
    ids = [lyr["id"] for lyr in layers]
    for lid in ("blocks-fill", "industry", "cat-facilities-circle", "cat-subdistricts-line"):
        assert ids.index(lid) < first_label, lid
    # The choropleth is below the catalog layers (boundaries and points stay readable).
    assert ids.index("blocks-fill") < ids.index("cat-subdistricts-line")
    for lyr in layers[first_label:]:
        assert float(lyr.get("paint", {}).get("text-halo-width", 0)) >= 1, lyr["id"]


def test_choropleth_fades_out_and_legends_follow(viewer: Viewer) -> None:
    page = viewer.page
    page.click("nav.tabs button[data-tab=layers]")
    page.evaluate(f"window.onemap.map.jumpTo({{center: {list(CENTRE)}, zoom: 11}})")
    viewer.idle()
    assert "blocks-fill" in _check_legends(viewer)
    blocks = _legend(viewer)["blocks"]
    assert "(" in blocks["title"] and ")" in blocks["title"], blocks  # the unit
    assert any(ch.isdigit() for ch in "".join(blocks["labels"])), blocks  # the class breaks
    breaks = page.evaluate("window.onemap.state.blocksBreaks")
    assert breaks == sorted(breaks) and len(set(breaks)) == len(breaks)
    assert "catalog" in _legend(viewer)  # the visible catalog layers, with their symbols
    viewer.shot("carto-z11")

    opacity = page.evaluate("window.onemap.map.getPaintProperty('blocks-fill', 'fill-opacity')")
    assert _interpolate(opacity, 11) > 0.5
    assert 0 < _interpolate(opacity, 14) < _interpolate(opacity, 11)
    assert _interpolate(opacity, 17) == 0
    line = page.evaluate("window.onemap.map.getPaintProperty('blocks-line', 'line-opacity')")
    assert _interpolate(line, 17) == 0

    page.evaluate(f"window.onemap.map.jumpTo({{center: {list(CENTRE)}, zoom: 14}})")
    viewer.idle()
    _check_legends(viewer)
    viewer.shot("carto-z14")

    page.evaluate(f"window.onemap.map.jumpTo({{center: {list(CENTRE)}, zoom: 17}})")
    viewer.idle()
    shown = _check_legends(viewer)
    assert "blocks-fill" not in shown
    assert "blocks" not in _legend(viewer)  # faded out: no legend for what is not drawn
    viewer.shot("carto-z17")
    # On screen: the map at z17 looks the same with the choropleth switched off.
    with_blocks = viewer.pixels()["sum"]
    page.evaluate("window.onemap.setBlocksVisible(false)")
    viewer.idle()
    without = viewer.pixels()["sum"]
    page.evaluate("window.onemap.setBlocksVisible(true)")
    viewer.idle()
    assert with_blocks == without


def test_thematic_views_bring_their_legends(viewer: Viewer) -> None:
    page = viewer.page
    page.evaluate(f"window.onemap.map.jumpTo({{center: {list(CENTRE)}, zoom: 13}})")
    page.click("nav.tabs button[data-tab=industry]")
    page.wait_for_selector("#ind-list li")
    viewer.idle()
    shown = _check_legends(viewer)
    assert "industry" in shown
    assert "%" in _legend(viewer)["industry"]["title"]
    page.select_option("#ind-colour", "rent")
    viewer.idle()
    ind = _legend(viewer)["industry"]
    assert "/m²" in ind["title"] and len(ind["labels"]) == 4, ind
    viewer.shot("carto-industry-legend")
    page.select_option("#ind-colour", "vacancy")
    page.click("nav.tabs button[data-tab=layers]")

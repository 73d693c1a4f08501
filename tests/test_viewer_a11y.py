"""Accessibility of the viewer in a real browser (Playwright + Chromium, as
tests/test_viewer_browser.py): the tabs and panels work from the keyboard (tab
order, arrow keys, Enter/Space, Escape, visible focus), every control has a label,
and text meets WCAG 2.1 AA contrast (4.5:1, 3:1 for large text), computed with the
WCAG relative-luminance formula over the browser's computed styles."""

from __future__ import annotations

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

TABS = ["layers", "blocks", "industry", "events", "renewal", "perception", "network"]

# Controls without an accessible name from aria-labelledby, aria-label, a <label>
# (for= or around it), a title, or (buttons) their text. Placeholders do not count.
UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea, button')]
 .filter((e) => {
  if (e.type === 'hidden') return false;
  const by = e.getAttribute('aria-labelledby');
  const named = (id) => document.getElementById(id)?.textContent.trim();
  if (by && by.split(/\\s+/).some(named)) return false;
  if ((e.getAttribute('aria-label') || '').trim()) return false;
  if ([...(e.labels || [])].some((l) => l.textContent.trim())) return false;
  if ((e.getAttribute('title') || '').trim()) return false;
  if (e.tagName === 'BUTTON' && e.textContent.trim()) return false;
  return true;
}).map((e) => e.outerHTML.slice(0, 120))"""

# WCAG 2.1 contrast of every visible text against its effective background
# (ancestors' background colours composited, white under the page); 1.4.3 AA.
CONTRAST = """() => {
  const rgba = (s) => { const m = s.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const over = (top, under) => { const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + under[i] * (1 - a)).concat([1]); };
  const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = (c) => {
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const ratio = (a, b) => { const x = lum(a), y = lum(b);
    return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
  const background = (el) => { const layers = [];
    for (let e = el; e; e = e.parentElement) { const c = rgba(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; } }
    let bg = [255, 255, 255, 1]; for (const c of layers.reverse()) bg = over(c, bg); return bg; };
  const out = []; let checked = 0;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const text = n.textContent.trim();
    if (!/[\\p{L}\\p{N}]/u.test(text)) continue;  // symbols only (swatches): non-text contrast
    const el = n.parentElement;
    if (!el || el.closest('svg, canvas, [hidden]')) continue;
    if (!el.checkVisibility({ opacityProperty: true, visibilityProperty: true })) continue;
    if (el.closest('button:disabled, input:disabled, select:disabled')) continue;  // exempt
    const cs = getComputedStyle(el);
    const bg = background(el);
    const fg = over(rgba(cs.color), bg);
    const size = parseFloat(cs.fontSize); const bold = Number(cs.fontWeight) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    const r = ratio(fg, bg); checked += 1;
    if (r < need) out.push(`${text.slice(0, 30)} | ${cs.color} on ${bg.join(',')} | `
      + `${r.toFixed(2)} < ${need}`);
  }
  for (const el of document.querySelectorAll('input[placeholder], textarea[placeholder]')) {
    if (!el.checkVisibility()) continue;
    const bg = background(el);
    const r = ratio(over(rgba(getComputedStyle(el, '::placeholder').color), bg), bg);
    checked += 1;
    if (r < 4.5) out.push(`placeholder of #${el.id} | ${r.toFixed(2)}`);
  }
  return { out, checked };
}"""

FOCUSED = """() => { const e = document.activeElement; const cs = getComputedStyle(e);
  return { tab: e.dataset.tab || null, id: e.id, outline: cs.outlineStyle,
           width: parseFloat(cs.outlineWidth),
           pane: e.closest('section.pane')?.dataset.pane || null,
           selected: e.getAttribute('aria-selected') }; }"""


@pytest.fixture(scope="module")
def viewer(browser: Any, base_url: str) -> Iterator[Viewer]:  # noqa: F811
    v = Viewer(browser, base_url, viewport={"width": 1280, "height": 800})
    yield v
    v.ctx.close()


def _focused(v: Viewer) -> dict[str, Any]:
    out: dict[str, Any] = v.page.evaluate(FOCUSED)
    return out


def _active_pane(v: Viewer) -> str:
    return str(v.page.evaluate("document.querySelector('section.pane.active').dataset.pane"))


def test_tabs_work_from_the_keyboard(viewer: Viewer) -> None:
    page = viewer.page
    tabs = page.evaluate("[...document.querySelectorAll('nav.tabs [role=tab]')]"
                         ".map((b) => b.dataset.tab)")
    assert tabs == TABS
    assert page.get_attribute("nav.tabs", "role") == "tablist"
    # One stop in the tab order: only the open tab is focusable with Tab.
    assert page.evaluate("[...document.querySelectorAll('nav.tabs [role=tab]')]"
                         ".filter((b) => b.tabIndex === 0).map((b) => b.dataset.tab)") == ["layers"]
    page.focus("nav.tabs button[data-tab=layers]")
    page.keyboard.press("ArrowRight")
    f = _focused(viewer)
    assert f["tab"] == "blocks" and f["selected"] == "false"
    assert f["outline"] != "none" and f["width"] >= 2  # visible focus
    assert _active_pane(viewer) == "layers"  # arrows move, Enter/Space open
    page.keyboard.press("Enter")
    assert _active_pane(viewer) == "blocks"
    assert page.get_attribute("nav.tabs button[data-tab=blocks]", "aria-selected") == "true"
    assert page.get_attribute("nav.tabs button[data-tab=layers]", "aria-selected") == "false"
    assert page.is_visible("#metric") and not page.is_visible("#layer-list")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")  # wraps round to the last tab
    assert _focused(viewer)["tab"] == "network"
    page.keyboard.press(" ")
    assert _active_pane(viewer) == "network"
    page.keyboard.press("Home")
    assert _focused(viewer)["tab"] == "layers"
    page.keyboard.press("End")
    assert _focused(viewer)["tab"] == "network"
    page.keyboard.press("Home")
    page.keyboard.press("Enter")
    assert _active_pane(viewer) == "layers"
    # Tab leaves the tab list for the open panel's first control.
    page.keyboard.press("Tab")
    f = _focused(viewer)
    assert f["pane"] == "layers" and f["id"].startswith("toggle-"), f
    assert f["outline"] != "none" and f["width"] >= 2
    # Every tab panel names its tab.
    for tab in TABS:
        pane = f"section[data-pane={tab}]"
        assert page.get_attribute(pane, "role") == "tabpanel"
        labelled = page.get_attribute(pane, "aria-labelledby")
        assert page.get_attribute(f"#{labelled}", "data-tab") == tab


def test_layers_search_and_portrait_from_the_keyboard(viewer: Viewer) -> None:
    page = viewer.page
    page.click("nav.tabs button[data-tab=layers]")
    vis = "window.onemap.map.getLayoutProperty('cat-facilities-circle', 'visibility')"
    assert page.evaluate(vis) == "visible"
    page.focus("#toggle-facilities")
    page.keyboard.press("Space")
    assert page.evaluate(vis) == "none"
    page.keyboard.press("Space")
    assert page.evaluate(vis) == "visible"
    # The opacity slider next to it follows the arrow keys.
    page.focus("li[data-layer=facilities] input[type=range]")
    page.keyboard.press("ArrowLeft")
    op = "window.onemap.map.getPaintProperty('cat-facilities-circle', 'circle-opacity')"
    assert page.evaluate(op) < 1

    # Search: type, arrow down to a suggestion, Enter flies there.
    page.focus("#search")
    page.keyboard.type("东门")
    page.wait_for_selector("#suggestions li[data-index]")
    assert page.get_attribute("#search", "aria-expanded") == "true"
    page.keyboard.press("ArrowDown")
    active = page.get_attribute("#search", "aria-activedescendant")
    chosen = page.inner_text(f"#{active}")
    page.keyboard.press("Enter")
    page.wait_for_function("window.onemap.state.lastSearch !== undefined")
    assert page.evaluate("window.onemap.state.lastSearch.address") == chosen
    assert page.get_attribute("#search", "aria-expanded") == "false"
    viewer.idle()

    # The block portrait is a dialog: focus goes to its close button, Escape closes it.
    cell = page.evaluate("window.onemap.state.blocks.features"
                         ".find((f) => f.properties.value > 0).properties.cell")
    page.evaluate(f"window.onemap.openPortrait('{cell}')")
    page.wait_for_selector("#portrait:not([hidden])")
    assert page.get_attribute("#portrait", "role") == "dialog"
    assert _focused(viewer)["id"] == "portrait-close"
    page.keyboard.press("Escape")
    assert page.is_hidden("#portrait")


def test_every_control_has_a_label(viewer: Viewer) -> None:
    page = viewer.page
    for tab in TABS:
        page.click(f"nav.tabs button[data-tab={tab}]")
    missing = page.evaluate(UNLABELLED)
    assert missing == [], missing
    # Switching the language relabels the controls, it does not drop the labels.
    page.click("#lang")
    assert page.evaluate(UNLABELLED) == []
    assert page.get_attribute("#search", "aria-label") == "Search an address"
    page.click("#lang")
    page.click("nav.tabs button[data-tab=layers]")


def test_text_contrast_meets_aa(viewer: Viewer) -> None:
    page = viewer.page
    failures: list[str] = []
    checked = 0
    for tab in TABS:
        page.click(f"nav.tabs button[data-tab={tab}]")
        viewer.idle()
        r = page.evaluate(CONTRAST)
        failures += [f"{tab}: {x}" for x in r["out"]]
        checked += r["checked"]
    page.fill("#api-key", "demo-planning-key")  # the department's panes: cases, heat map
    page.click("#sign-in")
    page.wait_for_function("document.querySelector('#role').textContent === 'planning'")
    page.click("nav.tabs button[data-tab=events]")
    page.wait_for_function("(window.onemap.state.events?.features.length || 0) > 0")
    viewer.idle()
    r = page.evaluate(CONTRAST)
    failures += [f"events (planning): {x}" for x in r["out"]]
    checked += r["checked"]
    page.click("#sign-out")
    page.click("nav.tabs button[data-tab=layers]")
    assert checked > 100
    assert failures == [], "\n".join(sorted(set(failures)))


def test_legend_folds_from_the_keyboard(viewer: Viewer) -> None:
    page = viewer.page
    page.evaluate("window.onemap.map.jumpTo({center: [114.118, 22.548], zoom: 12})")
    viewer.idle()
    entries = "document.querySelectorAll('#legend [data-legend]').length"
    assert page.evaluate(entries) >= 1
    page.focus("#legend-title")
    assert page.get_attribute("#legend-title", "aria-expanded") == "true"
    page.keyboard.press("Enter")
    assert page.evaluate(entries) == 0
    assert page.get_attribute("#legend-title", "aria-expanded") == "false"
    assert _focused(viewer)["id"] == "legend-title"  # focus stays on the toggle
    page.keyboard.press("Enter")
    assert page.evaluate(entries) >= 1

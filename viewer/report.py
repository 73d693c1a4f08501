"""Standalone renewal-impact report: a folium map, tables and SVG charts in one HTML file.

folium references Leaflet, jQuery and Bootstrap on public CDNs. The report uses
a map class without those defaults and inlines Leaflet's JavaScript and CSS
from the npm package installed in ``viewer/node_modules`` (``make`` installs
it), so the file opens with no internet.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import folium
import shapely
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from gis.store.base import Store

LEAFLET_DIR = Path(__file__).resolve().parent / "node_modules" / "leaflet" / "dist"
_EXTERNAL = re.compile(r"""<(script|link)[^>]+(src|href)=["']https?://""", re.I)


class ReportError(RuntimeError):
    """The report cannot be written (e.g. the local Leaflet copy is missing)."""


class _OfflineMap(folium.Map):
    """A folium map that references no CDN (Leaflet is inlined by the report)."""

    default_js = []  # noqa: RUF012 (folium's own class attribute)
    default_css = []  # noqa: RUF012


def _leaflet_assets() -> tuple[str, str]:
    js, css = LEAFLET_DIR / "leaflet.js", LEAFLET_DIR / "leaflet.css"
    if not js.is_file() or not css.is_file():
        raise ReportError(f"Leaflet not found in {LEAFLET_DIR}: run `npm ci` in viewer/ "
                          "(make run / make test do it)")
    return js.read_text(encoding="utf-8"), css.read_text(encoding="utf-8")


def bar_chart_svg(title: str, data: dict[str, float], color: str = "#3b6fb6") -> str:
    """A horizontal bar chart as inline SVG (no script)."""
    items = [(str(k), float(v or 0)) for k, v in data.items()]
    if not items:
        return f"<figure><figcaption>{html.escape(title)}</figcaption><p>—</p></figure>"
    top = max(v for _, v in items) or 1.0
    row, width = 22, 420
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width + 220}" '
             f'height="{row * len(items) + 8}" role="img" aria-label="{html.escape(title)}">']
    for i, (k, v) in enumerate(items):
        y = i * row + 4
        w = max(1.0, v / top * width)
        parts.append(f'<text x="0" y="{y + 15}" font-size="12">{html.escape(k)}</text>'
                     f'<rect x="150" y="{y}" width="{w:.1f}" height="{row - 6}" fill="{color}"/>'
                     f'<text x="{150 + w + 4:.1f}" y="{y + 15}" font-size="12">{v:g}</text>')
    parts.append("</svg>")
    return (f"<figure><figcaption>{html.escape(title)}</figcaption>{''.join(parts)}"
            "</figure>")


def _table(result: dict[str, Any]) -> str:
    rows = [(k, v) for k, v in result.items() if not isinstance(v, (dict, list))]
    body = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                   for k, v in rows)
    return f"<table class='figures'>{body}</table>"


def _affected(store: Store, area: BaseGeometry, as_of: str | None) -> list[dict[str, Any]]:
    """Buildings intersecting the area at ``as_of`` (GeoJSON features with id, name, use)."""
    minx, miny, maxx, maxy = area.bounds
    df = store.query("building", bbox=(minx, miny, maxx, maxy), as_of=as_of)
    out = []
    for _, r in df.iterrows():
        geom = r.geometry
        if geom is None or not shapely.intersects(geom, area):
            continue
        props = {k: (None if v is None else str(v)) for k, v in r.items()
                 if k in ("id", "name", "use", "floors")}
        out.append({"type": "Feature", "geometry": mapping(geom), "properties": props})
    return out


def render_renewal_report(store: Store, area: BaseGeometry, result: dict[str, Any],
                          title: str = "城市更新影响评估报告 Renewal impact report") -> str:
    """The standalone HTML report of a renewal-impact result over ``area``."""
    js, css = _leaflet_assets()
    minx, miny, maxx, maxy = area.bounds
    fmap = _OfflineMap(location=[(miny + maxy) / 2, (minx + maxx) / 2], zoom_start=15,
                       tiles=None, control_scale=True)
    roads = store.query("road", bbox=area.buffer(0.003).bounds, as_of=result.get("as_of"))
    if len(roads):
        folium.GeoJson({"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": mapping(g), "properties": {}}
            for g in roads.geometry if g is not None]}, name="roads",
            style_function=lambda _: {"color": "#b8a98f", "weight": 1.5}).add_to(fmap)
    folium.GeoJson(mapping(area), name="renewal area",
                   style_function=lambda _: {"color": "#d7301f", "weight": 3,
                                             "fillOpacity": 0.1}).add_to(fmap)
    affected = _affected(store, area, result.get("as_of"))
    if affected:
        folium.GeoJson({"type": "FeatureCollection", "features": affected},
                       name="affected buildings",
                       style_function=lambda _: {"color": "#6a51a3", "weight": 1,
                                                 "fillOpacity": 0.5},
                       tooltip=folium.GeoJsonTooltip(fields=["id", "use"])).add_to(fmap)
    fmap.fit_bounds([[miny, minx], [maxy, maxx]])
    map_html = fmap.get_root().render()
    map_html = map_html.replace("<head>", f"<head><style>{css}</style><script>{js}</script>", 1)
    if _EXTERNAL.search(map_html):
        raise ReportError("the folium map still references an online resource")
    charts = "".join(bar_chart_svg(t, result.get(k) or {}) for t, k in (
        ("人口年龄结构 Persons by age band", "persons_by_age_band"),
        ("建筑面积 Floor area by use (m²)", "floor_area_by_use_m2"),
        ("企业行业 Enterprises by industry", "enterprises_by_industry"),
        ("事件类别 Events by category (12 months)", "events_by_category"),
        ("公共设施 Facilities by type", "facilities_by_type")))
    srcdoc = html.escape(map_html, quote=True)
    notes = "".join(f"<li>{html.escape(str(n))}</li>" for n in result.get("notes") or [])
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{{font-family:'Noto Sans CJK SC','Microsoft YaHei',sans-serif;margin:24px;color:#1f2933}}
h1{{font-size:22px}} table.figures{{border-collapse:collapse;margin:12px 0}}
table.figures th,table.figures td{{border:1px solid #d9dee5;padding:4px 10px;text-align:left}}
iframe{{width:100%;height:460px;border:1px solid #d9dee5}} figure{{margin:16px 0}}
figcaption{{font-weight:600;margin-bottom:4px}}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>OneMap · 罗湖区 Luohu · as of {html.escape(str(result.get("as_of")))} ·
受影响楼栋 affected buildings: {len(affected)}</p>
<iframe title="map" srcdoc="{srcdoc}"></iframe>
<h2>指标 Figures</h2>{_table(result)}
<h2>图表 Charts</h2>{charts}
<ul class="notes">{notes}</ul>
</body></html>
"""

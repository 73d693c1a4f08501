"""Standalone shortlist report of space matching: one page, opens with no internet.

Like the renewal report (viewer/report.py, whose offline folium map and SVG
charts it reuses): the demand, a map of the shortlisted spaces, a table of
them with their score and its parts, and how the score is made.
"""

from __future__ import annotations

import html
from typing import Any

import folium

from viewer.report import _EXTERNAL, ReportError, _leaflet_assets, _OfflineMap, bar_chart_svg

PART_NAMES = {"area_fit": "面积匹配 area fit", "rent": "租金 rent", "vacancy": "空置 vacancy",
              "cluster": "产业集聚 cluster", "accessibility": "交通 accessibility",
              "building_age": "楼龄 building age"}


def _cell(v: Any) -> str:
    return "—" if v is None else html.escape(str(v))


def render_shortlist_report(demand: dict[str, Any], result: dict[str, Any],
                            shortlist: list[dict[str, Any]],
                            title: str = "产业空间推荐清单 Space shortlist") -> str:
    """The HTML report of ``shortlist`` (candidates of ``result``) for ``demand``."""
    js, css = _leaflet_assets()
    lats = [c["lat"] for c in shortlist]
    lons = [c["lon"] for c in shortlist]
    fmap = _OfflineMap(location=[sum(lats) / len(lats), sum(lons) / len(lons)], zoom_start=14,
                       tiles=None, control_scale=True)
    for rank, c in enumerate(shortlist, 1):
        folium.CircleMarker([c["lat"], c["lon"]], radius=9, color="#c0392b", fill=True,
                            fill_opacity=0.8, tooltip=f"{rank}. {c['name']} ({c['score']})"
                            ).add_to(fmap)
    if len(shortlist) > 1:
        fmap.fit_bounds([[min(lats) - 0.002, min(lons) - 0.002],
                         [max(lats) + 0.002, max(lons) + 0.002]])
    map_html = fmap.get_root().render()
    map_html = map_html.replace("<head>", f"<head><style>{css}</style><script>{js}</script>", 1)
    if _EXTERNAL.search(map_html):
        raise ReportError("the folium map still references an online resource")
    want = [("面积 area m²", "–".join(f"{v:g}" for v in demand.get("area_m2") or [])),
            ("用途 use", demand.get("use")), ("最高租金 max rent", demand.get("max_rent")),
            ("入驻日期 move-in", result.get("move_in")),
            ("行业 industry", demand.get("industry") or demand.get("enterprise_id")),
            ("街道 subdistricts", ", ".join(demand.get("subdistricts") or []) or None),
            ("需求 needs", ", ".join(demand.get("needs") or []) or None)]
    want_rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{_cell(v)}</td></tr>"
                        for k, v in want)
    head = ("<tr><th>#</th><th>空间 space</th><th>类型 type</th><th>空置 vacant m²</th>"
            "<th>租金 rent</th><th>得分 score</th><th>说明 why</th></tr>")
    body = []
    charts = []
    for rank, c in enumerate(shortlist, 1):
        combined = " (合并 combined)" if c.get("combined") else ""
        why = "<br>".join(html.escape(w) for w in c.get("explanation") or [])
        body.append(f"<tr class='cand'><td>{rank}</td><td>{html.escape(c['name'])}{combined}"
                    f"<br><small>{html.escape(', '.join(c['space_ids']))}</small></td>"
                    f"<td>{html.escape(c['space_type'])}</td><td>{c['vacant_m2']:g}</td>"
                    f"<td>{c['rent']:g}</td><td><b>{c['score']:g}</b></td><td>{why}</td></tr>")
        parts = {PART_NAMES.get(k, k): round(100 * v, 1)
                 for k, v in (c.get("parts") or {}).items() if v is not None}
        charts.append(bar_chart_svg(f"{rank}. {c['name']} — 得分构成 score parts (0-100)",
                                    parts, "#4e79a7"))
    weights = ", ".join(f"{PART_NAMES.get(k, k)} {v:g}" for k, v in
                        (result.get("weights") or {}).items())
    notes = "".join(f"<li>{html.escape(str(n))}</li>" for n in result.get("notes") or [])
    srcdoc = html.escape(map_html, quote=True)
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{{font-family:'Noto Sans CJK SC','Microsoft YaHei',sans-serif;margin:24px;color:#1f2933}}
h1{{font-size:22px}} table{{border-collapse:collapse;margin:12px 0}}
th,td{{border:1px solid #d9dee5;padding:4px 10px;text-align:left;vertical-align:top}}
iframe{{width:100%;height:380px;border:1px solid #d9dee5}} figure{{margin:12px 0}}
figcaption{{font-weight:600;margin-bottom:4px}}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>OneMap · 罗湖区 Luohu · 数据季度 data quarter {html.escape(str(result.get("data_quarter")))}
· {len(shortlist)} 处 spaces</p>
<h2>需求 Demand</h2><table class="demand">{want_rows}</table>
<iframe title="map" srcdoc="{srcdoc}"></iframe>
<h2>推荐 Shortlist</h2><table class="shortlist">{head}{''.join(body)}</table>
<p>得分 = 各项加权平均 × 100 (score = weighted mean of the parts × 100): {html.escape(weights)}</p>
{''.join(charts)}
<ul class="notes">{notes}</ul>
</body></html>
"""

"""The one-page warning of an alert (一秒预警单): map of the area, counts, facilities to
notify. Standalone HTML, offline (Leaflet inlined), like the renewal report.

Vulnerable residents appear as counts only (persons 65+, children under 15): the page is
meant to be printed and passed on, so it never carries person-level data.
"""

from __future__ import annotations

import html
from typing import Any

import folium
from shapely.geometry import shape

from viewer.report import _EXTERNAL, ReportError, _leaflet_assets, _OfflineMap, _table

LABELS = {
    "buildings": "楼栋 buildings", "persons": "人口 persons",
    "persons_65_plus": "65岁以上 persons 65+", "children_under_15": "15岁以下 children <15",
    "households": "户数 households", "enterprises": "企业 enterprises",
}


def render_alert_report(alert: dict[str, Any], impact: dict[str, Any],
                        sensor_point: tuple[float, float]) -> str:
    """The HTML page of one alert and its impact."""
    js, css = _leaflet_assets()
    area = shape(impact["area"])
    minx, miny, maxx, maxy = area.bounds
    fmap = _OfflineMap(location=[(miny + maxy) / 2, (minx + maxx) / 2], zoom_start=15,
                       tiles=None, control_scale=True)
    folium.GeoJson(impact["area"], name="affected area",
                   style_function=lambda _: {"color": "#c62828", "weight": 2,
                                             "fillOpacity": 0.3}).add_to(fmap)
    folium.CircleMarker([sensor_point[1], sensor_point[0]], radius=7, color="#c62828",
                        fill=True, tooltip=html.escape(alert["sensor_id"])).add_to(fmap)
    fmap.fit_bounds([[miny, minx], [maxy, maxx]])
    map_html = fmap.get_root().render()
    map_html = map_html.replace("<head>", f"<head><style>{css}</style><script>{js}</script>", 1)
    if _EXTERNAL.search(map_html):
        raise ReportError("the folium map still references an online resource")
    counts = {LABELS[k]: impact[k] for k in LABELS}
    fac = "".join(f"<tr><td>{html.escape(str(f['id']))}</td><td>{html.escape(str(f['name']))}"
                  f"</td><td>{html.escape(str(f['type']))}</td></tr>"
                  for f in impact.get("facilities", []))
    title = f"预警单 Alert #{alert['id']} · {alert['sensor_id']}"
    ended = alert.get("ended_at")
    state = "进行中 active" if ended is None else f"已解除 ended {ended}"
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body{{font-family:'Noto Sans CJK SC','Microsoft YaHei',sans-serif;margin:24px;color:#1f2933}}
table.figures{{border-collapse:collapse;margin:12px 0}}
table.figures th,table.figures td{{border:1px solid #d9dee5;padding:4px 10px;text-align:left}}
iframe{{width:100%;height:420px;border:1px solid #d9dee5}}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>等级 level {alert['level']} · {html.escape(str(alert.get('kind')))} ·
读数 value {alert.get('value')} / 阈值 threshold {alert.get('threshold')} ·
开始 started {html.escape(str(alert['started_at']))} · {html.escape(state)} ·
模型 model {html.escape(str(impact.get('model')))}</p>
<iframe title="map" srcdoc="{html.escape(map_html, quote=True)}"></iframe>
<h2>受影响 Affected (as of {html.escape(str(impact.get('as_of')))})</h2>{_table(counts)}
<h2>需通知的设施 Facilities to notify</h2>
<table class="figures"><tr><th>id</th><th>名称 name</th><th>类型 type</th></tr>{fac}</table>
<p>道路 roads: {len(impact.get('roads', []))}</p>
</body></html>
"""

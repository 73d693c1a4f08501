"""MapLibre styles: the self-hosted basemap and one thematic style per catalog layer.

Every URL in a style points at this server (``base_url``): tiles through
TileJSON, glyphs at ``/styles/glyphs/{fontstack}/{range}.pbf``. Chinese labels
are drawn by MapLibre's local ideograph rendering (the map option
``localIdeographFontFamily``, on by default in MapLibre GL JS with
``sans-serif``): CJK glyphs never come from the glyph endpoint, which answers
an empty glyph set for every range (docs/tiles.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from layers.access import Principal
from layers.catalog import Layer
from tiles.engine import BASEMAP, TileEngine, is_aggregated, tile_zoom_range

FONT = ["Noto Sans Regular"]
LOCAL_IDEOGRAPHS = "'Noto Sans CJK SC', 'Source Han Sans SC', 'Microsoft YaHei', sans-serif"

_ROAD_CLASSES: list[tuple[str, str, int, list[list[float]]]] = [
                 ("arterial", "#f7c46c", 11, [[11, 1.5], [16, 10]]),
                 ("secondary", "#fde4a4", 12, [[12, 1.0], [16, 7]]),
                 ("branch", "#ffffff", 13, [[13, 0.8], [16, 4]]),
                 ("footpath", "#d9d0c0", 15, [[15, 0.5], [18, 2]])]


def _common(base_url: str, name: str) -> dict[str, Any]:
    return {
        "version": 8,
        "name": name,
        "metadata": {"onemap:localIdeographFontFamily": LOCAL_IDEOGRAPHS,
                     "onemap:note": "Chinese labels use the browser's local fonts "
                                    "(MapLibre localIdeographFontFamily); no online glyphs."},
        "glyphs": f"{base_url}/styles/glyphs/{{fontstack}}/{{range}}.pbf",
        "center": [114.13, 22.56],
        "zoom": 12,
    }


def basemap_style(base_url: str) -> dict[str, Any]:
    """The basemap style (district, admin boundaries, water, roads, buildings, labels)."""
    base_url = base_url.rstrip("/")
    src = "basemap"
    layers: list[dict[str, Any]] = [
        {"id": "background", "type": "background", "paint": {"background-color": "#f4f1ea"}},
        {"id": "district-fill", "type": "fill", "source": src, "source-layer": "district",
         "paint": {"fill-color": "#efece3"}},
        {"id": "water", "type": "fill", "source": src, "source-layer": "water",
         "paint": {"fill-color": "#a9cce3"}},
        {"id": "buildings", "type": "fill", "source": src, "source-layer": "buildings",
         "minzoom": 14, "paint": {"fill-color": "#d8d0c4", "fill-outline-color": "#bfb5a6"}},
    ]
    for cls, color, minzoom, stops in reversed(_ROAD_CLASSES):
        layers.append({"id": f"road-{cls}", "type": "line", "source": src,
                       "source-layer": "roads", "minzoom": minzoom,
                       "filter": ["==", ["get", "road_class"], cls],
                       "layout": {"line-cap": "round", "line-join": "round"},
                       "paint": {"line-color": color,
                                 "line-width": ["interpolate", ["linear"], ["zoom"],
                                                *[v for s in stops for v in s]]}})
    layers += [
        {"id": "community-line", "type": "line", "source": src, "source-layer": "communities",
         "minzoom": 12, "paint": {"line-color": "#b9a9c9", "line-dasharray": [2, 2],
                                  "line-width": 0.8}},
        {"id": "subdistrict-line", "type": "line", "source": src,
         "source-layer": "subdistricts", "paint": {"line-color": "#8e7aa8", "line-width": 1.4}},
        {"id": "district-line", "type": "line", "source": src, "source-layer": "district",
         "paint": {"line-color": "#5b4a75", "line-width": 2.5}},
        {"id": "road-label", "type": "symbol", "source": src, "source-layer": "roads",
         "minzoom": 14, "filter": ["has", "name"],
         "layout": {"symbol-placement": "line", "text-field": ["get", "name"],
                    "text-font": FONT, "text-size": 12},
         "paint": {"text-color": "#5a4a2a", "text-halo-color": "#ffffff",
                   "text-halo-width": 1.5}},
        {"id": "landmarks", "type": "circle", "source": src, "source-layer": "facilities",
         "minzoom": 14, "paint": {"circle-radius": 3, "circle-color": "#76b7b2"}},
        {"id": "landmark-label", "type": "symbol", "source": src,
         "source-layer": "facilities", "minzoom": 15,
         "layout": {"text-field": ["get", "name"], "text-font": FONT, "text-size": 11,
                    "text-offset": [0, 1.0], "text-anchor": "top"},
         "paint": {"text-color": "#2f5e5a", "text-halo-color": "#ffffff",
                   "text-halo-width": 1}},
        {"id": "place-label", "type": "symbol", "source": src, "source-layer": "labels",
         "layout": {"text-field": ["get", "name"], "text-font": FONT,
                    "text-size": ["match", ["get", "rank"], "subdistrict", 15, 12]},
         "paint": {"text-color": "#3d3350", "text-halo-color": "#ffffff",
                   "text-halo-width": 1.5}},
    ]
    style = _common(base_url, "OneMap basemap")
    style["sources"] = {src: {"type": "vector", "url": f"{base_url}/tiles/{BASEMAP}.json"}}
    style["layers"] = layers
    return style


def layer_style(layer: Layer, base_url: str, with_basemap: bool = True) -> dict[str, Any]:
    """A thematic style of one catalog layer (over the basemap)."""
    base_url = base_url.rstrip("/")
    style = basemap_style(base_url) if with_basemap else _common(base_url, layer.title)
    style["name"] = f"OneMap {layer.title}"
    style.setdefault("sources", {})
    style.setdefault("layers", [])
    style["sources"][layer.id] = {"type": "vector",
                                  "url": f"{base_url}/tiles/{layer.id}.json"}
    s = layer.style
    geom = layer.geometry.value.upper()
    aggregated = is_aggregated(layer) or "count" in layer.property_types()
    zmin, _ = tile_zoom_range(layer.id, layer)
    lyr: list[dict[str, Any]] = []
    ramp = ["interpolate", ["linear"], ["coalesce", ["get", "count"], 0],
            0, "#fff5eb", 10, "#fdbe85", 100, "#fd8d3c", 1000, "#d94701"]
    if aggregated:
        lyr.append({"id": f"{layer.id}-cells", "type": "fill", "source": layer.id,
                    "source-layer": layer.id, "minzoom": zmin,
                    "filter": ["any", ["has", "count"], ["has", "suppressed"]],
                    "paint": {"fill-color": ramp, "fill-opacity": 0.6,
                              "fill-outline-color": "#ffffff"}})
    if "POINT" in geom:
        lyr.append({"id": f"{layer.id}-points", "type": "circle", "source": layer.id,
                    "source-layer": layer.id, "filter": ["!", ["has", "count"]],
                    "paint": {"circle-color": s.color, "circle-radius": s.circle_radius,
                              "circle-stroke-color": "#ffffff", "circle-stroke-width": 0.5}})
    elif "LINE" in geom:
        lyr.append({"id": f"{layer.id}-lines", "type": "line", "source": layer.id,
                    "source-layer": layer.id,
                    "paint": {"line-color": s.color, "line-width": s.line_width}})
    elif not aggregated:
        lyr.append({"id": f"{layer.id}-fill", "type": "fill", "source": layer.id,
                    "source-layer": layer.id,
                    "paint": {"fill-color": s.color, "fill-opacity": s.fill_opacity}})
        lyr.append({"id": f"{layer.id}-outline", "type": "line", "source": layer.id,
                    "source-layer": layer.id,
                    "paint": {"line-color": s.color, "line-width": s.line_width}})
    # Thematic layers go under the place labels of the basemap.
    labels = [x for x in style["layers"] if x["type"] == "symbol"]
    others = [x for x in style["layers"] if x["type"] != "symbol"]
    style["layers"] = others + lyr + labels
    return style


def styles_index(engine: TileEngine, principal: Principal, base_url: str) -> list[dict[str, str]]:
    """The styles ``principal`` may load."""
    base_url = base_url.rstrip("/")
    out = [{"id": BASEMAP, "title": "底图 Basemap", "url": f"{base_url}/styles/{BASEMAP}.json"}]
    for lid, layer in _tiled(engine.catalog).items():
        if layer.access.allows(principal):
            out.append({"id": lid, "title": layer.title, "url": f"{base_url}/styles/{lid}.json"})
    return out


def _tiled(catalog: Mapping[str, Layer]) -> dict[str, Layer]:
    return {k: v for k, v in catalog.items() if v.geometry is not None and not v.parameters}

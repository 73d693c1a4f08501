// The map: MapLibre GL JS (ES module from npm, served by our server), the basemap style
// with its labels on top, fitDistrict(), the map-click chain and the legend.
import * as maplibregl from '/viewer/vendor/maplibre-gl/dist/maplibre-gl.mjs';
import { api } from './api.js';
import { t, onLangChange } from './i18n.js';

export { maplibregl };

/** Luohu's extent (CRS84), used when the district collection cannot be read. */
export const DISTRICT_BBOX = [114.08, 22.53, 114.25, 22.64];
const LOCAL_IDEOGRAPHS = "'Noto Sans CJK SC', 'Source Han Sans SC', 'Microsoft YaHei', sans-serif";

/**
 * A MapLibre map whose data layers go under the labels: addLayer() without a
 * beforeId puts a non-symbol layer below the first label layer of the basemap, so
 * street and place names stay readable over every overlay (issue #17, cartography).
 */
class OneMapMap extends maplibregl.Map {
  addLayer(layer, beforeId) {
    if (beforeId === undefined && layer.type !== 'symbol') beforeId = this.firstLabelLayer();
    return super.addLayer(layer, beforeId);
  }

  /** The id of the lowest symbol layer in the style (undefined when none). */
  firstLabelLayer() {
    const layers = this.getStyle()?.layers || [];
    return layers.find((l) => l.type === 'symbol')?.id;
  }
}

// MapLibre's worker (one module worker, 0.5 MB) starts now, while the style and the first
// answers are on their way, instead of when the first map is made.
maplibregl.prewarm();

/**
 * The vector sources of ``style`` with their TileJSON written in (tiles, zooms, bounds), so
 * the map asks for tiles at once instead of first reading each TileJSON (one round trip
 * less before the first tile). Only this server's TileJSON; a source that cannot be read
 * keeps its ``url``.
 */
async function inlineTileJSON(style) {
  await Promise.all(Object.entries(style.sources || {}).map(async ([id, src]) => {
    if (src.type !== 'vector' || !src.url) return;
    let u;
    try { u = new URL(src.url, window.location.href); } catch (e) { return; }
    if (u.origin !== window.location.origin) return;
    try {
      const tj = await api.get(u.pathname + u.search);
      if (!Array.isArray(tj.tiles) || !tj.tiles.length) return;
      const out = { type: 'vector', tiles: tj.tiles };
      for (const k of ['minzoom', 'maxzoom', 'bounds', 'attribution', 'scheme']) if (tj[k] !== undefined) out[k] = tj[k];
      style.sources[id] = out;
    } catch (e) { /* MapLibre reads the TileJSON itself */ }
  }));
  return style;
}

/** The basemap style with every symbol layer moved to the end (labels above all data). */
export async function basemapStyle() {
  const style = await inlineTileJSON(await api.get('/styles/basemap.json'));
  const labels = style.layers.filter((l) => l.type === 'symbol');
  style.layers = [...style.layers.filter((l) => l.type !== 'symbol'), ...labels];
  for (const l of labels) {  // halos on every label: white, wide enough to read over fills
    l.paint = { 'text-halo-color': '#ffffff', 'text-halo-width': 1.5, 'text-halo-blur': 0.5, ...(l.paint || {}) };
  }
  return style;
}

/** The district's bounding box [w, s, e, n] from its collection's extent. */
export async function districtBounds() {
  try {
    const c = await api.get('/ogc/collections/district', { f: 'json' });
    const b = c.extent?.spatial?.bbox?.[0];
    if (Array.isArray(b) && b.length >= 4 && b.every(Number.isFinite)) return b.length === 6 ? [b[0], b[1], b[3], b[4]] : b;
  } catch (e) { /* fall back to the known extent */ }
  return DISTRICT_BBOX;
}

/** Fit the whole district into the map's viewport (no animation). */
export async function fitDistrict(map, opts = {}) {
  const b = map.districtBounds || (map.districtBounds = await districtBounds());
  const c = map.getContainer();
  const pad = Math.max(8, Math.min(40, Math.round(Math.min(c.clientWidth, c.clientHeight) * 0.05)));
  map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: pad, duration: 0, ...opts });
  return b;
}

/** Create the map in ``container`` over the basemap; resolves once the style has loaded. */
export async function createMap(container) {
  const [style, bounds] = await Promise.all([basemapStyle(), districtBounds()]);
  const map = new OneMapMap({
    container,
    style,
    bounds: [[bounds[0], bounds[1]], [bounds[2], bounds[3]]],
    fitBoundsOptions: { padding: 20 },
    attributionControl: { compact: true },
    localIdeographFontFamily: LOCAL_IDEOGRAPHS,
    doubleClickZoom: false,
    fadeDuration: 0,
  });
  map.districtBounds = bounds;
  map.addControl(new maplibregl.NavigationControl(), 'top-right');
  map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-right');
  if (window.pmtiles) {  // offline packs (/packs/*.pmtiles) can be used as pmtiles:// sources
    const protocol = new window.pmtiles.Protocol();
    maplibregl.addProtocol('pmtiles', protocol.tile);
  }
  map.getCanvas().setAttribute('aria-label', t('map_label'));
  installClickChain(map);
  await new Promise((resolve) => (map.loaded() ? resolve() : map.once('load', resolve)));
  return map;
}

// ------------------------------------------------------------------ clicks
// One map click goes to the first handler that takes it (returns true): tools that
// draw or pick points come first, then feature popups, then the block portrait.
const clickHandlers = [];

/** Register ``fn(e)`` for map clicks at ``priority`` (lower runs first); returns it. */
export function onMapClick(fn, priority = 50) {
  clickHandlers.push({ fn, priority });
  clickHandlers.sort((a, b) => a.priority - b.priority);
  return fn;
}

function installClickChain(map) {
  map.on('click', (e) => {
    for (const { fn } of clickHandlers) {
      try {
        if (fn(e)) return;
      } catch (err) { console.error('map click', err); return; }
    }
  });
}

// ------------------------------------------------------------------ legend
// Each thematic overlay registers its legend: a title, a unit, and its classes
// (colour + label, the class breaks of the style). An entry shows while one of its
// map layers is visible at the current zoom, so the legend always says what the
// colours on screen mean.
const legends = new Map();
let legendMap = null;
let legendRoot = null;
let legendCollapsed = false;

/**
 * Set the legend of overlay ``id``: ``{title, unit, layers: [map layer ids], kind: 'fill'|'circle'|'line'|'ramp',
 * classes: [{color, label}], note, maxzoom, minzoom}``; ``title``/``unit``/``note`` are i18n keys or text.
 */
export function setLegend(id, entry) {
  legends.set(id, entry);
  renderLegend();
}

/** Remove the legend of overlay ``id``. */
export function removeLegend(id) {
  legends.delete(id);
  renderLegend();
}

/** The ids of the legend entries drawn now (for the tests and the cockpit). */
export function shownLegends() {
  return [...(legendRoot?.querySelectorAll('[data-legend]') || [])].map((e) => e.dataset.legend);
}

function layerShown(map, id, entry) {
  if (!map.getLayer(id)) return false;
  if (map.getLayoutProperty(id, 'visibility') === 'none') return false;
  const z = map.getZoom();
  const l = map.getLayer(id);
  if (z < (entry.minzoom ?? l.minzoom ?? 0) || z >= (entry.maxzoom ?? l.maxzoom ?? 24)) return false;
  return true;
}

/** Attach the legend panel to ``map`` (a box over its bottom-left corner). */
export function installLegend(map) {
  legendMap = map;
  legendRoot = document.createElement('section');
  legendRoot.id = 'legend';
  legendRoot.className = 'legend';
  legendRoot.setAttribute('aria-labelledby', 'legend-title');
  map.getContainer().append(legendRoot);
  map.on('zoomend', renderLegend);
  map.on('idle', renderLegend);
  onLangChange(renderLegend);
  renderLegend();
}

function txt(s) { return s == null ? '' : t(String(s)); }

function renderLegend() {
  if (!legendRoot || !legendMap) return;
  const shown = [...legends.entries()].filter(([, e]) => (e.layers || []).some((id) => layerShown(legendMap, id, e)));
  const key = JSON.stringify(shown.map(([id, e]) => [id, e.title, e.unit, e.classes, e.note]))
    + t('legend') + legendCollapsed;
  if (legendRoot.dataset.key === key) return;  // idle fires often: redraw only on change
  legendRoot.dataset.key = key;
  const hadFocus = legendRoot.contains(document.activeElement);
  legendRoot.textContent = '';
  legendRoot.hidden = !shown.length;
  if (!shown.length) return;
  // The title is a disclosure button: the legend folds away when it hides the map.
  const h = document.createElement('h2');
  const btn = document.createElement('button');
  btn.type = 'button'; btn.id = 'legend-title'; btn.className = 'legend-toggle';
  btn.textContent = `${t('legend')} `;
  const arrow = document.createElement('span');
  arrow.setAttribute('aria-hidden', 'true'); arrow.textContent = legendCollapsed ? '▸' : '▾';
  btn.append(arrow);
  btn.setAttribute('aria-expanded', legendCollapsed ? 'false' : 'true');
  btn.addEventListener('click', () => { legendCollapsed = !legendCollapsed; renderLegend(); });
  h.append(btn);
  legendRoot.append(h);
  if (hadFocus) btn.focus();
  if (legendCollapsed) return;
  for (const [id, e] of shown) {
    const sec = document.createElement('div');
    sec.className = 'legend-entry'; sec.dataset.legend = id;
    const title = document.createElement('h3');
    title.textContent = txt(e.title) + (e.unit ? ` (${txt(e.unit)})` : '');
    sec.append(title);
    if (e.kind === 'ramp') {
      const bar = document.createElement('div');
      bar.className = 'legend-ramp';
      bar.style.background = `linear-gradient(90deg, ${e.classes.map((c) => c.color).join(', ')})`;
      const ends = document.createElement('div');
      ends.className = 'legend-ends';
      const lo = document.createElement('span'); lo.textContent = txt(e.classes[0].label);
      const hi = document.createElement('span'); hi.textContent = txt(e.classes.at(-1).label);
      ends.append(lo, hi);
      sec.append(bar, ends);
    } else {
      const ul = document.createElement('ul');
      for (const c of e.classes) {
        const li = document.createElement('li');
        const sw = document.createElement('span');
        sw.className = `legend-swatch ${c.shape || e.kind || 'fill'}`;
        sw.style.background = c.color;
        if (c.stroke) sw.style.borderColor = c.stroke;
        const lab = document.createElement('span'); lab.textContent = txt(c.label);
        li.append(sw, lab); ul.append(li);
      }
      sec.append(ul);
    }
    if (e.note) { const n = document.createElement('p'); n.className = 'legend-note'; n.textContent = txt(e.note); sec.append(n); }
    legendRoot.append(sec);
  }
}

/** Round ``x`` to a "nice" class break (1, 2, 2.5, 5 × 10^n). */
export function niceBreak(x) {
  if (!(x > 0)) return 0;
  const p = 10 ** Math.floor(Math.log10(x));
  const m = x / p;
  const nice = m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10;
  return nice * p;
}

/**
 * Class breaks of ``values`` for ``n`` classes: quantiles of the non-null values,
 * rounded to nice numbers and made strictly increasing (fewer classes when the
 * values are few). Returns the inner breaks (n-1 at most).
 */
export function classBreaks(values, n = 5) {
  const v = values.filter((x) => x != null && Number.isFinite(Number(x))).map(Number).sort((a, b) => a - b);
  if (!v.length) return [];
  const out = [];
  for (let i = 1; i < n; i++) {
    const q = v[Math.min(v.length - 1, Math.floor((i / n) * v.length))];
    const b = niceBreak(q);
    if (b > 0 && b > (out.at(-1) ?? 0) && b <= v.at(-1)) out.push(b);
  }
  return out;
}

/** A legend label for a class [lo, hi) with ``fmt`` for the numbers. */
export function classLabel(lo, hi, fmt = (x) => x.toLocaleString()) {
  if (hi == null) return `≥ ${fmt(lo)}`;
  if (lo == null) return `< ${fmt(hi)}`;
  return `${fmt(lo)} – ${fmt(hi)}`;
}

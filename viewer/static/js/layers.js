// The layers view: the catalog layers the role may see (GET /layers) as vector tiles,
// each with a visibility switch and an opacity slider, and their features' popups.
import { api } from './api.js';
import { t, lang, onLangChange } from './i18n.js';
import { maplibregl, onMapClick, setLegend } from './map.js';
import { state, emit, on } from './state.js';
import { $, el, toast } from './ui.js';
import { propsTable } from './charts.js';

const SKIP = new Set(['blocks', 'population_blocks']);  // drawn by the choropleth instead (js/blocks.js)
// The basemap draws the district, subdistrict and community boundaries with their names:
// the catalog's copies start off (one click away in the list) so the map is not drawn twice.
const DEFAULT_ON = new Set(['facilities']);
// Boundaries are drawn by the basemap too; a click on them would hide the features under them.
const NOT_CLICKABLE = new Set(['district', 'subdistricts', 'communities', 'grids']);

let map = null;
state.layers = [];
/** The (empty) layer above which the views' overlays go: catalog layers are inserted below it. */
export const ANCHOR = 'overlays-anchor';

function tileUrl(id) {
  const p = {};
  if (state.asOf) p.datetime = state.asOf;
  return api.url(`/tiles/${id}/{z}/{x}/{y}.mvt`, p, true);
}

/** The map layer ids drawn for catalog layer ``l``. */
export function layerIds(l) {
  const g = l.geometry.toUpperCase();
  if (g.includes('POLYGON')) return [`cat-${l.id}-fill`, `cat-${l.id}-line`];
  if (g.includes('LINE')) return [`cat-${l.id}-line`];
  return [`cat-${l.id}-circle`];
}

function addCatalogLayer(l) {
  const src = `cat-${l.id}`;
  if (map.getSource(src)) return;
  map.addSource(src, { type: 'vector', tiles: [tileUrl(l.id)], minzoom: Math.min(l.minzoom, 14), maxzoom: 14 });
  const vis = l.visible ? 'visible' : 'none';
  const s = l.style; const op = l.opacity;
  // Above the block choropleth (added first), so boundaries and points stay on top of the
  // colour wash; all of them under the labels (map.js).
  const common = { source: src, 'source-layer': l.id, minzoom: l.minzoom, layout: { visibility: vis } };
  const before = map.getLayer(ANCHOR) ? ANCHOR : undefined;
  for (const id of layerIds(l)) {
    if (id.endsWith('-fill')) {
      map.addLayer({ ...common, id, type: 'fill', paint: { 'fill-color': s.color, 'fill-opacity': s.fill_opacity * op } }, before);
    } else if (id.endsWith('-line')) {
      map.addLayer({ ...common, id, type: 'line', layout: { ...common.layout, 'line-join': 'round' },
        paint: { 'line-color': s.color, 'line-width': Math.max(s.line_width, 1), 'line-opacity': op } }, before);
    } else {
      map.addLayer({ ...common, id, type: 'circle',
        // Small dots in the overview, full size at street zoom.
        paint: { 'circle-color': s.color, 'circle-opacity': op,
          'circle-radius': ['interpolate', ['linear'], ['zoom'], 11, Math.max(1.5, s.circle_radius * 0.5), 16, s.circle_radius + 1],
          'circle-stroke-color': '#fff', 'circle-stroke-width': 0.6 } }, before);
    }
  }
}

function removeCatalogLayer(id) {
  for (const lid of [`cat-${id}-fill`, `cat-${id}-line`, `cat-${id}-circle`]) if (map.getLayer(lid)) map.removeLayer(lid);
  if (map.getSource(`cat-${id}`)) map.removeSource(`cat-${id}`);
}

function setLayerVisible(l, on) {
  l.visible = on;
  for (const id of layerIds(l)) if (map.getLayer(id)) map.setLayoutProperty(id, 'visibility', on ? 'visible' : 'none');
  updateLegend();
}

function setLayerOpacity(l, op) {
  l.opacity = op;
  for (const id of layerIds(l)) {
    if (!map.getLayer(id)) continue;
    if (id.endsWith('-fill')) map.setPaintProperty(id, 'fill-opacity', l.style.fill_opacity * op);
    else if (id.endsWith('-line')) map.setPaintProperty(id, 'line-opacity', op);
    else map.setPaintProperty(id, 'circle-opacity', op);
  }
}

function title(l) { return lang() === 'zh' ? l.title_zh : l.title_en; }

// The catalog layers are categorical: one legend entry lists the visible ones with their symbol.
function updateLegend() {
  const shown = state.layers.filter((l) => l.visible);
  setLegend('catalog', {
    title: 'tab_layers', kind: 'fill', layers: shown.flatMap(layerIds),
    classes: shown.map((l) => {
      const g = l.geometry.toUpperCase();
      return { color: l.style.color, label: title(l), shape: g.includes('POINT') ? 'point' : g.includes('LINE') ? 'line' : 'fill' };
    }),
  });
}

function renderLayerList() {
  const ul = $('layer-list');
  ul.textContent = '';
  for (const l of state.layers) {
    const li = el('li', { 'data-layer': l.id, class: l.restricted ? 'restricted' : null });
    const cb = el('input', { type: 'checkbox', id: `toggle-${l.id}` });
    cb.checked = l.visible;
    cb.addEventListener('change', () => setLayerVisible(l, cb.checked));
    const g = l.geometry.toUpperCase();
    const sw = el('span', { class: `swatch ${g.includes('POINT') ? 'point' : g.includes('LINE') ? 'line' : ''}`, 'aria-hidden': 'true' });
    sw.style.background = l.style.color;
    const name = el('label', { class: 'name', for: cb.id, text: title(l), title: `${l.title_zh} ${l.title_en} (z${l.minzoom}+)` });
    const op = el('input', { type: 'range', min: '0', max: '1', step: '0.1', value: String(l.opacity),
      'aria-label': `${t('opacity')}: ${title(l)}` });
    op.addEventListener('input', () => setLayerOpacity(l, Number(op.value)));
    li.append(cb, sw, name, op);
    ul.append(li);
  }
  updateLegend();
}

/** Load the catalog for the current key (GET /layers) and rebuild the catalog layers. */
export async function loadLayers() {
  let doc;
  try {
    doc = await api.get('/layers');
  } catch (e) {
    if (e.status === 401 && api.key()) { toast(t('signin_failed')); api.setKey(''); return loadLayers(); }
    throw e;
  }
  const old = new Map(state.layers.map((l) => [l.id, l]));
  const next = doc.layers.filter((l) => !SKIP.has(l.id)).map((l) => ({
    ...l, visible: old.get(l.id)?.visible ?? DEFAULT_ON.has(l.id), opacity: old.get(l.id)?.opacity ?? 1,
  }));
  for (const l of state.layers) removeCatalogLayer(l.id);  // tile URLs carry the key: rebuild
  state.layers = next;
  for (const l of state.layers) addCatalogLayer(l);
  renderLayerList();
  api.setRole(doc.role);
  emit('layers', state.layers);
  return state.layers;
}

/** Point the catalog tiles at the current date. */
export function refreshTiles() {
  for (const l of state.layers) {
    const src = map.getSource(`cat-${l.id}`);
    if (src && src.setTiles) src.setTiles([tileUrl(l.id)]);
  }
}

/** A popup of the catalog feature under a click (layers handled by their own views are skipped). */
function popupClick(e) {
  const catLayers = state.layers.filter((l) => l.visible && !NOT_CLICKABLE.has(l.id)).flatMap(layerIds)
    .filter((id) => map.getLayer(id));
  const extra = ['industry'].filter((id) => map.getLayer(id));
  const feats = map.queryRenderedFeatures(e.point, { layers: [...catLayers, ...extra] });
  if (!feats.length) return false;
  const f = feats[0];
  if (f.layer.id === 'industry') emit('industry-pick', f.properties.id);
  new maplibregl.Popup({ maxWidth: '320px' }).setLngLat(e.lngLat).setDOMContent(propsTable(f.properties)).addTo(map);
  return true;
}

/** Start the layers view on ``ctx.map``. */
export function init(ctx) {
  map = ctx.map;
  onMapClick(popupClick, 50);
  on('asof', refreshTiles);
  onLangChange(renderLayerList);
  return { loadLayers, refreshTiles, layerIds };
}

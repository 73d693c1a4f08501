// The renewal view: draw a polygon on the map, run the renewal-impact process on it,
// show the figures and the affected buildings, and download the HTML report.
import { api } from './api.js';
import { t } from './i18n.js';
import { onMapClick, setLegend, removeLegend } from './map.js';
import { state } from './state.js';
import { $ } from './ui.js';
import { kpis, barChart } from './charts.js';

const EMPTY = { type: 'FeatureCollection', features: [] };
const DRAW = '#b2182b';
const AFFECTED = '#5e3c99';
let map = null;
state.drawing = false;
state.drawPts = [];
state.area = null;
state.impact = null;

function drawData() {
  const pts = state.drawPts;
  const feats = pts.map((c) => ({ type: 'Feature', geometry: { type: 'Point', coordinates: c }, properties: {} }));
  if (pts.length >= 3) {
    feats.push({ type: 'Feature', geometry: { type: 'Polygon', coordinates: [[...pts, pts[0]]] }, properties: {} });
  } else if (pts.length === 2) {
    feats.push({ type: 'Feature', geometry: { type: 'LineString', coordinates: pts }, properties: {} });
  }
  map.getSource('draw').setData({ type: 'FeatureCollection', features: feats });
}

/** Start drawing: each map click adds a vertex. */
export function startDraw() {
  state.drawing = true; state.drawPts = []; drawData();
  map.getCanvas().style.cursor = 'crosshair';
  $('draw-done').disabled = false;
}

// Even-odd ray test of the first vertex of each building against the drawn ring: a
// client-side preview only; the process computes the figures with shapely.
function insidePolygon(pt, ring) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i]; const [xj, yj] = ring[j];
    if (((yi > pt[1]) !== (yj > pt[1])) && (pt[0] < ((xj - xi) * (pt[1] - yi)) / (yj - yi) + xi)) inside = !inside;
  }
  return inside;
}

/** Close the polygon and show its renewal impact. */
export async function finishDraw() {
  if (state.drawPts.length < 3) return null;
  state.drawing = false;
  map.getCanvas().style.cursor = '';
  $('draw-done').disabled = true;
  const ring = [...state.drawPts, state.drawPts[0]];
  state.area = { type: 'Polygon', coordinates: [ring] };
  $('impact').textContent = '…';
  const res = await api.execute('renewal-impact', { area: state.area, as_of: state.asOf });
  state.impact = res;
  const box = $('impact');
  box.textContent = '';
  const h = document.createElement('h3'); h.textContent = t('impact'); box.append(h);
  box.append(kpis([[t('area_km2'), res.area_km2], [t('buildings'), res.buildings], [t('floor_area'), res.floor_area_m2],
    [t('households'), res.households], [t('persons'), res.persons], [t('enterprises'), res.enterprises],
    [t('employees'), res.employees], [t('facilities'), res.facilities], [t('ind_spaces'), res.industrial_spaces]]));
  box.append(barChart(res.persons_by_age_band, '#1f5f99'));
  box.append(barChart(res.enterprises_by_industry, '#2e7d32'));
  const xs = ring.map((c) => c[0]); const ys = ring.map((c) => c[1]);
  const bbox = [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)].join(',');
  try {
    const fc = await api.get('/ogc/collections/buildings/items', { f: 'json', limit: 2000, bbox });
    const hit = (fc.features || []).filter((f) => {
      const c = f.geometry.type === 'Polygon' ? f.geometry.coordinates[0][0] : f.geometry.coordinates[0][0][0];
      return insidePolygon(c, ring);
    });
    map.getSource('affected').setData({ type: 'FeatureCollection', features: hit });
    setLegend('renewal', { title: 'tab_renewal', kind: 'fill', layers: ['affected', 'draw-line'],
      classes: [{ color: AFFECTED, label: 'affected' }, { color: DRAW, label: 'draw_area' }] });
    const p = document.createElement('p'); p.className = 'hint'; p.id = 'affected-count';
    p.textContent = `${t('affected')}: ${hit.length}`; box.append(p);
  } catch (e) { console.warn('affected buildings', e.message); }
  $('report').hidden = false;
  box.dataset.ready = '1';
  return res;
}

function clearDraw() {
  state.drawing = false; state.drawPts = []; drawData(); $('impact').textContent = ''; $('report').hidden = true;
  map.getSource('affected').setData(EMPTY);
  removeLegend('renewal');
  map.getCanvas().style.cursor = '';
  $('draw-done').disabled = true;
}

async function downloadReport() {
  const r = await api('/viewer/api/report', { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ area: state.area, as_of: state.asOf }) });
  const blob = await r.blob();
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob); a.download = 'renewal-report.html';
  document.body.append(a); a.click(); a.remove();
}

function drawClick(e) {
  if (!state.drawing) return false;
  state.drawPts.push([e.lngLat.lng, e.lngLat.lat]); drawData();
  return true;
}

/** Start the renewal view: its layers, buttons and the drawing clicks. */
export function init(ctx) {
  map = ctx.map;
  map.addSource('affected', { type: 'geojson', data: EMPTY });
  map.addLayer({ id: 'affected', type: 'fill', source: 'affected', paint: { 'fill-color': AFFECTED, 'fill-opacity': 0.7 } });
  map.addSource('draw', { type: 'geojson', data: EMPTY });
  map.addLayer({ id: 'draw-fill', type: 'fill', source: 'draw', filter: ['==', ['geometry-type'], 'Polygon'],
    paint: { 'fill-color': DRAW, 'fill-opacity': 0.12 } });
  map.addLayer({ id: 'draw-line', type: 'line', source: 'draw', filter: ['!=', ['geometry-type'], 'Point'],
    paint: { 'line-color': DRAW, 'line-width': 2, 'line-dasharray': [2, 1] } });
  map.addLayer({ id: 'draw-pts', type: 'circle', source: 'draw', filter: ['==', ['geometry-type'], 'Point'],
    paint: { 'circle-radius': 4, 'circle-color': '#fff', 'circle-stroke-color': DRAW, 'circle-stroke-width': 2 } });
  $('draw').addEventListener('click', startDraw);
  $('draw-done').addEventListener('click', finishDraw);
  $('draw-clear').addEventListener('click', clearDraw);
  $('report').addEventListener('click', downloadReport);
  onMapClick(drawClick, 20);
  map.on('dblclick', (e) => { if (state.drawing) { e.preventDefault(); finishDraw(); } });
  return { startDraw, finishDraw, clearDraw };
}

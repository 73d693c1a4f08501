// The blocks view: the H3 choropleth of one metric (GET /viewer/api/blocks) in five
// classes, its legend, and the block portrait (the block-portrait process) on click.
//
// Cartography (issue #17): the choropleth is an overview. It fades out between z12
// and z14.5, as the basemap's buildings appear (z14), so street zoom shows buildings,
// not a colour wash; its outline goes with it. The legend names the metric, its unit
// and the class breaks.
import { api } from './api.js';
import { t } from './i18n.js';
import { onMapClick, setLegend, removeLegend, classBreaks, classLabel } from './map.js';
import { state, on } from './state.js';
import { $, toast } from './ui.js';
import { kpis, barChart, agePyramid } from './charts.js';

/** Sequential palette of the five classes (ColorBrewer RdPu): distinct from roads, water and boundaries. */
export const RAMP = ['#feebe2', '#fbb4b9', '#f768a1', '#c51b8a', '#7a0177'];
export const NO_DATA = '#d9d9d9';
/** Zoom range over which the choropleth fades out (buildings appear at z14). */
export const FADE = [12, 14.5];
const OPACITY = 0.72;
const UNITS = { population: 'u_persons', enterprises: 'u_enterprises', events: 'u_events', vacancy: 'u_percent' };
const METRIC_KEY = { population: 'm_population', enterprises: 'm_enterprises', events: 'm_events', vacancy: 'm_vacancy' };
// Vacancy is a share: fixed breaks read better than quantiles of a few cells.
const VACANCY_BREAKS = [0.05, 0.1, 0.2, 0.4];

let map = null;
state.blocksLoaded = 0;

function fade(max) {
  return ['interpolate', ['linear'], ['zoom'], FADE[0], max, FADE[1], 0];
}

function breaksFor(metric, fc) {
  if (metric === 'vacancy') return VACANCY_BREAKS;
  return classBreaks(fc.features.map((f) => f.properties.value).filter((v) => v > 0), RAMP.length);
}

function fmt(metric) {
  return metric === 'vacancy' ? (x) => `${Math.round(x * 100)}` : (x) => x.toLocaleString();
}

/** Load the choropleth of the chosen metric and resolution at the current date. */
export async function loadBlocks() {
  if (!map || !map.getSource('blocks')) return null;
  const metric = $('metric').value;
  const fc = await api.get('/viewer/api/blocks', { metric, res: $('res').value, as_of: state.asOf });
  map.getSource('blocks').setData(fc);
  state.blocks = fc;
  const breaks = breaksFor(metric, fc);
  const colours = RAMP.slice(RAMP.length - breaks.length - 1);
  const step = ['step', ['get', 'value'], colours[0]];
  breaks.forEach((b, i) => step.push(b, colours[i + 1]));
  map.setPaintProperty('blocks-fill', 'fill-color', ['case', ['==', ['get', 'value'], null], NO_DATA, step]);
  const f = fmt(metric);
  const classes = breaks.length
    ? colours.map((color, i) => ({ color, label: classLabel(i === 0 ? null : breaks[i - 1], breaks[i] ?? null, f) }))
    : [{ color: colours[0], label: classLabel(0, fc.max || 0, f) }];
  classes.push({ color: NO_DATA, label: 'lg_no_data' });
  setLegend('blocks', { title: METRIC_KEY[metric], unit: UNITS[metric], kind: 'fill', layers: ['blocks-fill'],
    classes, note: 'lg_fades', maxzoom: FADE[1] });
  state.blocksBreaks = breaks;
  state.blocksLoaded += 1;
  return fc;
}

/** Show or hide the choropleth (the pane's switch and the legend follow). */
export function setBlocksVisible(on) {
  for (const id of ['blocks-fill', 'blocks-line']) map.setLayoutProperty(id, 'visibility', on ? 'visible' : 'none');
  $('blocks-on').checked = on;
  if (!on) removeLegend('blocks'); else if (state.blocks) loadBlocks();
}

/** Open the portrait of H3 cell ``cell`` (the block-portrait process). */
export async function openPortrait(cell) {
  const p = await api.execute('block-portrait', { cell, as_of: state.asOf });
  const box = $('portrait-body');
  box.textContent = '';
  const h = document.createElement('h2');
  h.id = 'portrait-title';
  h.textContent = `${t('portrait')} · ${p.cell}`;
  box.append(h, kpis([[t('population'), p.population], [t('households'), p.households], [t('enterprises'), p.enterprises],
    [t('employees'), p.employees], [t('buildings'), p.buildings], [t('events12'), p.events_last_12_months]]));
  const sec = (title, node) => { const h3 = document.createElement('h3'); h3.textContent = title; box.append(h3, node); };
  sec(`${t('age')} (F | M)`, agePyramid(p));
  sec(t('industry'), barChart(p.enterprises_by_industry, '#2e7d32'));
  sec(t('event_trend'), barChart(p.events_by_category, '#b2182b', { labelWidth: 110 }));
  const vac = p.industrial_vacancy_rate == null ? '—' : `${(p.industrial_vacancy_rate * 100).toFixed(1)}%`;
  sec(t('vacancy'), document.createTextNode(`${vac} · ${p.industrial_spaces} ${t('spaces')}`));
  if (p.suppressed) { const n = document.createElement('p'); n.className = 'hint'; n.textContent = t('suppressed'); box.append(n); }
  const panel = $('portrait');
  panel.hidden = false;
  panel.dataset.cell = p.cell;
  $('portrait-close').focus({ preventScroll: true });
  return p;
}

function closePortrait() {
  $('portrait').hidden = true;
  map.getCanvas().focus({ preventScroll: true });
}

function blockClick(e) {
  if (map.getLayoutProperty('blocks-fill', 'visibility') === 'none') return false;
  if (map.getZoom() >= FADE[1]) return false;  // faded out: not on screen
  const blocks = map.queryRenderedFeatures(e.point, { layers: ['blocks-fill'] });
  if (!blocks.length) return false;
  openPortrait(blocks[0].properties.cell).catch((err) => toast(err.message));
  return true;
}

/** Start the blocks view: its layers (lowest of the overlays), controls and click. */
export function init(ctx) {
  map = ctx.map;
  const empty = { type: 'FeatureCollection', features: [] };
  map.addSource('blocks', { type: 'geojson', data: empty });
  map.addLayer({ id: 'blocks-fill', type: 'fill', source: 'blocks',
    paint: { 'fill-color': NO_DATA, 'fill-opacity': fade(OPACITY) } });
  map.addLayer({ id: 'blocks-line', type: 'line', source: 'blocks',
    paint: { 'line-color': '#ffffff', 'line-width': 0.5, 'line-opacity': fade(0.8) } });
  $('metric').addEventListener('change', loadBlocks);
  $('res').addEventListener('change', loadBlocks);
  $('blocks-on').addEventListener('change', (e) => setBlocksVisible(e.target.checked));
  $('portrait-close').addEventListener('click', closePortrait);
  $('portrait').addEventListener('keydown', (e) => { if (e.key === 'Escape') closePortrait(); });
  onMapClick(blockClick, 80);
  on('asof', () => { loadBlocks().catch((err) => toast(err.message)); });
  return { loadBlocks, openPortrait, setBlocksVisible };
}

// Network tool of the viewer: route by two clicks, isochrones (5/10/15 min) by one click,
// service-coverage choropleth per community with the gap blocks, the fire-response layer
// and "suggest k new sites". Every answer comes from the OGC processes under /ogc/processes.
import { api } from './api.js';
import { t, addStrings, applyI18n } from './i18n.js';
import { onMapClick, setLegend, removeLegend } from './map.js';
import { state, on } from './state.js';
import { addTab } from './tabs.js';
import { $ } from './ui.js';

const L = {
  zh: { tab: '网络分析', mode: '出行方式', walk: '步行', drive: '驾车', route: '路径（点两点）',
    iso: '等时圈（点一点）', ftype: '设施类型', minutes: '分钟', coverage: '服务圈覆盖', fire: '消防响应',
    k: '新增站点数', suggest: '建议选址', clear: '清除', click_from: '点击起点', click_to: '点击终点',
    click_origin: '点击中心点', covered: '覆盖人口', share: '覆盖率', gaps: '未覆盖网格',
    distance: '距离', duration: '时间', before: '现状', after: '新增后', gain: '增加',
    buildings: '楼栋', residents: '居民', iso_title: '等时圈', seconds: '秒', no_route: '不可达' },
  en: { tab: 'Network', mode: 'Mode', walk: 'Walk', drive: 'Drive', route: 'Route (click two points)',
    iso: 'Isochrones (click a point)', ftype: 'Facility type', minutes: 'Minutes', coverage: 'Service coverage',
    fire: 'Fire response', k: 'New sites', suggest: 'Suggest sites', clear: 'Clear', click_from: 'Click the start',
    click_to: 'Click the destination', click_origin: 'Click the centre', covered: 'Covered residents',
    share: 'Share', gaps: 'Gap blocks', distance: 'Distance', duration: 'Time', before: 'Now', after: 'After',
    gain: 'Gain', buildings: 'Buildings', residents: 'Residents', iso_title: 'Isochrones', seconds: 's',
    no_route: 'no route' },
};
const FTYPES = ['community_station', 'subdistrict_service_centre', 'fire_station', 'hospital', 'health_centre',
  'school', 'parking'];
const EMPTY = { type: 'FeatureCollection', features: [] };

addStrings(Object.fromEntries(Object.entries(L).map(([l, d]) =>
  [l, Object.fromEntries(Object.entries(d).map(([k, v]) => [`net.${k}`, v]))])));

/** The network view's state (the tests read ``last``). */
export const net = { tool: null, pts: [], last: {}, communities: null, ready: false };
let map = null;
function tr(k) { return t(`net.${k}`); }

async function execute(pid, inputs) {
  try {
    return await api.execute(pid, inputs);
  } catch (e) {
    throw new Error(e.body?.description || `${e.status || e.message}`);
  }
}

function buildPane() {
  const pane = addTab('network', 'net.tab', 'net-tab');
  pane.innerHTML = `
    <label><span data-i18n="net.mode"></span><select id="net-mode"><option value="walk" data-i18n="net.walk"></option>
      <option value="drive" data-i18n="net.drive"></option></select></label>
    <div class="row"><button id="net-route" data-i18n="net.route"></button><button id="net-iso" data-i18n="net.iso"></button></div>
    <p id="net-hint" class="hint" aria-live="polite"></p>
    <div class="grid2">
      <label><span data-i18n="net.ftype"></span><select id="net-ftype">${FTYPES.map((f) => `<option>${f}</option>`).join('')}</select></label>
      <label><span data-i18n="net.minutes"></span><input id="net-minutes" type="number" value="10" min="1" max="120"></label>
    </div>
    <div class="row"><button id="net-coverage" data-i18n="net.coverage"></button><button id="net-fire" data-i18n="net.fire"></button></div>
    <div class="grid2">
      <label><span data-i18n="net.k"></span><input id="net-k" type="number" value="3" min="1" max="20"></label>
      <div class="cell-bottom"><button id="net-suggest" data-i18n="net.suggest"></button></div>
    </div>
    <button id="net-clear" data-i18n="net.clear"></button>
    <div id="net-result" class="figures" aria-live="polite"></div>`;
  applyI18n(pane);
}

// Classes of the thematic results, shared by the style and the legend.
const COV = { breaks: [0.5, 0.8, 0.95], colours: ['#d73027', '#fc8d59', '#91cf60', '#1a9850'] };
const FIRE = { breaks: [180, 300, 600], colours: ['#1a9850', '#91cf60', '#fc8d59', '#d73027'] };
const ISO = { 5: '#08519c', 10: '#3182bd', 15: '#9ecae1' };
const GAP = '#67001f';

function stepExpr(value, c) {
  const e = ['step', value, c.colours[0]];
  c.breaks.forEach((b, i) => e.push(b, c.colours[i + 1]));
  return e;
}

function stepClasses(c, f) {
  return c.colours.map((color, i) => ({ color, label: i === 0 ? `< ${f(c.breaks[0])}`
    : i === c.breaks.length ? `≥ ${f(c.breaks[i - 1])}` : `${f(c.breaks[i - 1])} – ${f(c.breaks[i])}` }));
}

function addLayers() {
  const src = (id) => map.addSource(id, { type: 'geojson', data: EMPTY });
  ['net-cov', 'net-gaps', 'net-iso', 'net-route', 'net-pts', 'net-fire', 'net-sites'].forEach(src);
  map.addLayer({ id: 'net-cov', type: 'fill', source: 'net-cov', paint: {
    'fill-color': stepExpr(['coalesce', ['get', 'share'], 0], COV), 'fill-opacity': 0.55 } });
  map.addLayer({ id: 'net-gaps', type: 'fill', source: 'net-gaps',
    paint: { 'fill-color': GAP, 'fill-opacity': 0.65, 'fill-outline-color': '#ffffff' } });
  map.addLayer({ id: 'net-iso', type: 'fill', source: 'net-iso', paint: {
    'fill-color': ['match', ['get', 'minutes'], 5, ISO[5], 10, ISO[10], ISO[15]], 'fill-opacity': 0.35 } });
  map.addLayer({ id: 'net-route', type: 'line', source: 'net-route',
    paint: { 'line-color': '#b2182b', 'line-width': 5, 'line-opacity': 0.85 } });
  map.addLayer({ id: 'net-fire', type: 'circle', source: 'net-fire', paint: {
    'circle-radius': 4, 'circle-stroke-width': 0.5, 'circle-stroke-color': '#333',
    'circle-color': ['case', ['==', ['get', 'response_s'], null], '#000000', stepExpr(['get', 'response_s'], FIRE)] } });
  map.addLayer({ id: 'net-pts', type: 'circle', source: 'net-pts',
    paint: { 'circle-radius': 6, 'circle-color': '#fff', 'circle-stroke-color': '#b2182b', 'circle-stroke-width': 3 } });
  map.addLayer({ id: 'net-sites', type: 'circle', source: 'net-sites',
    paint: { 'circle-radius': 9, 'circle-color': '#5e3c99', 'circle-stroke-color': '#fff', 'circle-stroke-width': 2 } });
}

function setData(id, data) { map.getSource(id).setData(data || EMPTY); }

function setTool(tool) {
  net.tool = tool; net.pts = [];
  map.getCanvas().style.cursor = tool ? 'crosshair' : '';
  $('net-hint').textContent = tool === 'route' ? tr('click_from') : tool === 'iso' ? tr('click_origin') : '';
}

function showPoints() {
  setData('net-pts', { type: 'FeatureCollection', features: net.pts.map((c) => ({
    type: 'Feature', geometry: { type: 'Point', coordinates: c }, properties: {} })) });
}

function result(kind, rows) {
  const el = $('net-result');
  el.textContent = '';
  const dl = document.createElement('dl');
  for (const [k, v] of rows) {
    const dt = document.createElement('dt'); dt.textContent = k;
    const dd = document.createElement('dd'); dd.textContent = v ?? '—';
    dl.append(dt, dd);
  }
  el.append(dl);
  el.dataset.ready = kind;
}

function fail(e) {
  $('net-result').textContent = String(e.message || e);
  $('net-result').dataset.ready = 'error';
}

// Map clicks while a tool is active (first in the map's click chain).
function netClick(e) {
  if (!net.tool) return false;
  const c = [e.lngLat.lng, e.lngLat.lat];
  net.pts.push(c); showPoints();
  const mode = $('net-mode').value;
  if (net.tool === 'route' && net.pts.length === 1) { $('net-hint').textContent = tr('click_to'); return true; }
  if (net.tool === 'route') {
    const [a, b] = net.pts; setTool(null); net.pts = [a, b]; showPoints();
    $('net-result').dataset.ready = '';
    execute('route', { from: a, to: b, mode }).then((f) => {
      net.last.route = f; setData('net-route', { type: 'FeatureCollection', features: [f] });
      result('route', [[tr('distance'), `${Math.round(f.properties.distance_m)} m`],
        [tr('duration'), `${(f.properties.duration_s / 60).toFixed(1)} min`]]);
    }).catch(fail);
    return true;
  }
  if (net.tool === 'iso') {
    setTool(null); net.pts = [c]; showPoints();
    $('net-result').dataset.ready = '';
    execute('isochrone', { origin: c, minutes: [5, 10, 15], mode }).then((fc) => {
      net.last.isochrone = fc; setData('net-iso', fc);
      setLegend('net-iso', { title: 'net.iso_title', unit: 'net.minutes', kind: 'fill', layers: ['net-iso'],
        classes: [5, 10, 15].map((m) => ({ color: ISO[m], label: `≤ ${m}` })) });
      result('isochrone', fc.features.map((f) => [`${f.properties.minutes} ${tr('minutes')}`,
        `${f.properties.nodes_reached} nodes`]));
    }).catch(fail);
    return true;
  }
  return false;
}

async function communities() {
  if (!net.communities) {
    net.communities = await api.get('/ogc/collections/communities/items', { f: 'json', limit: 500 });
  }
  return net.communities;
}

async function coverage() {
  $('net-result').dataset.ready = '';
  try {
    const inputs = { facility_type: $('net-ftype').value, minutes: Number($('net-minutes').value),
      mode: $('net-mode').value };
    if (state.asOf) inputs.as_of = state.asOf;
    const res = await execute('service-coverage', inputs);
    net.last.coverage = res;
    const byCode = new Map(res.communities.map((c) => [c.community_code, c]));
    const coms = await communities();
    setData('net-cov', { type: 'FeatureCollection', features: coms.features.map((f) => ({
      type: 'Feature', geometry: f.geometry,
      properties: { ...(byCode.get(f.properties.code) || {}), name: f.properties.name } })) });
    setData('net-gaps', res.gaps);
    setLegend('net-cov', { title: 'net.coverage', unit: 'u_percent', kind: 'fill', layers: ['net-cov', 'net-gaps'],
      classes: [...stepClasses(COV, (x) => `${Math.round(x * 100)}`), { color: GAP, label: 'net.gaps' }] });
    result('coverage', [[tr('covered'), `${res.totals.covered} / ${res.totals.population}`],
      [tr('share'), `${(100 * (res.totals.share || 0)).toFixed(1)} %`], [tr('gaps'), res.gaps.features.length]]);
  } catch (e) { fail(e); }
}

async function fire() {
  $('net-result').dataset.ready = '';
  try {
    const inputs = { minutes: 5, mode: 'drive', include_buildings: true };
    if (state.asOf) inputs.as_of = state.asOf;
    const res = await execute('fire-response', inputs);
    net.last.fire = res;
    setData('net-fire', res.buildings_layer);
    setLegend('net-fire', { title: 'net.fire', unit: 'net.seconds', kind: 'circle', layers: ['net-fire'],
      classes: [...stepClasses(FIRE, String), { color: '#000000', label: 'net.no_route' }] });
    result('fire', [[tr('buildings'), `${res.buildings_covered} / ${res.buildings}`],
      [tr('residents'), `${(100 * (res.residents_share || 0)).toFixed(1)} %`],
      ['p50 / p95', `${res.response_s_p50} / ${res.response_s_p95} s`]]);
  } catch (e) { fail(e); }
}

async function suggest() {
  $('net-result').dataset.ready = '';
  try {
    const inputs = { facility_type: $('net-ftype').value, minutes: Number($('net-minutes').value),
      k: Number($('net-k').value), mode: $('net-mode').value };
    if (state.asOf) inputs.as_of = state.asOf;
    const res = await execute('site-suggest', inputs);
    net.last.sites = res;
    setData('net-sites', res.sites);
    result('sites', [[tr('before'), `${res.before.covered} (${(100 * res.before.share).toFixed(1)} %)`],
      [tr('after'), `${res.after.covered} (${(100 * res.after.share).toFixed(1)} %)`],
      ...res.sites.features.map((f) => [`#${f.properties.rank}`, `${tr('gain')} +${f.properties.gain}`])]);
  } catch (e) { fail(e); }
}

function clearAll() {
  setTool(null);
  ['net-cov', 'net-gaps', 'net-iso', 'net-route', 'net-pts', 'net-fire', 'net-sites'].forEach((id) => setData(id));
  ['net-cov', 'net-fire', 'net-iso'].forEach(removeLegend);
  $('net-result').textContent = ''; $('net-result').dataset.ready = '';
}

/** Start the network view: its tab, layers and buttons. */
export function init(ctx) {
  map = ctx.map;
  buildPane();
  addLayers();
  onMapClick(netClick, 10);
  on('tab', (id) => { if (id !== 'network') setTool(null); });
  $('net-route').addEventListener('click', () => setTool('route'));
  $('net-iso').addEventListener('click', () => setTool('iso'));
  $('net-coverage').addEventListener('click', coverage);
  $('net-fire').addEventListener('click', fire);
  $('net-suggest').addEventListener('click', suggest);
  $('net-clear').addEventListener('click', clearAll);
  net.ready = true;
  return net;
}

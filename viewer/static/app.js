// OneMap viewer: MapLibre GL JS (ES module from npm, served by our server), no online resource.
import * as maplibregl from '/viewer/vendor/maplibre-gl/dist/maplibre-gl.mjs';
import { initPerception } from '/js/perception.js';
import { initEvents } from '/js/events.js';

const ORIGIN = window.location.origin;
const $ = (id) => document.getElementById(id);
const NS = 'http://www.w3.org/2000/svg';

const I18N = {
  zh: {
    app_title: '罗湖一张图', search_ph: '搜索地址，如：东门街道', key_ph: 'API 密钥', sign_in: '登录', sign_out: '退出',
    tab_layers: '图层', tab_blocks: '网格', tab_industry: '产业空间', tab_events: '事件', tab_renewal: '更新评估',
    blocks_show: '显示网格统计', metric: '指标', m_population: '人口', m_enterprises: '企业', m_events: '事件',
    m_vacancy: '产业空置率', resolution: 'H3 分辨率', blocks_hint: '点击网格查看画像', min_area: '最小面积 m²',
    max_area: '最大面积 m²', use: '用途', all: '全部', max_rent: '最高租金 元/m²·月', min_vacancy: '最低空置率',
    category: '类别', from: '开始', to: '结束', draw_hint: '点击地图绘制多边形，双击或点“完成”结束',
    draw: '绘制区域', finish: '完成', clear: '清除', download_report: '下载报告', as_of: '时点',
    portrait: '网格画像', population: '人口', households: '户数', enterprises: '企业', employees: '从业人员',
    buildings: '楼栋', events12: '近12月事件', age: '年龄结构', industry: '行业构成', event_trend: '事件类别',
    vacancy: '产业空置率', impact: '影响评估', area_km2: '面积 km²', floor_area: '建筑面积 m²', persons: '人口',
    houses: '房屋', facilities: '公共设施', ind_spaces: '产业空间', affected: '受影响楼栋', spaces: '处产业空间',
    signin_failed: '密钥无效', events_need_key: '事件图层需要登录部门账号', suppressed: '小于 k 的人数已隐藏',
    no_result: '无结果', rent: '租金', area: '面积',
    tab_perception: '感知预警', active_alerts: '当前告警', alerts_need_key: '实时告警需要应急或管理员密钥',
  },
  en: {
    app_title: 'Luohu OneMap', search_ph: 'Search an address', key_ph: 'API key', sign_in: 'Sign in', sign_out: 'Sign out',
    tab_layers: 'Layers', tab_blocks: 'Blocks', tab_industry: 'Industry', tab_events: 'Events', tab_renewal: 'Renewal',
    blocks_show: 'Show block statistics', metric: 'Metric', m_population: 'Population', m_enterprises: 'Enterprises',
    m_events: 'Events', m_vacancy: 'Industrial vacancy', resolution: 'H3 resolution', blocks_hint: 'Click a block for its portrait',
    min_area: 'Min area m²', max_area: 'Max area m²', use: 'Use', all: 'All', max_rent: 'Max rent', min_vacancy: 'Min vacancy',
    category: 'Category', from: 'From', to: 'To', draw_hint: 'Click the map to draw a polygon; double-click or Finish to end',
    draw: 'Draw area', finish: 'Finish', clear: 'Clear', download_report: 'Download report', as_of: 'As of',
    portrait: 'Block portrait', population: 'Population', households: 'Households', enterprises: 'Enterprises',
    employees: 'Employees', buildings: 'Buildings', events12: 'Events (12 mo)', age: 'Age structure',
    industry: 'Industry mix', event_trend: 'Event categories', vacancy: 'Industrial vacancy', impact: 'Impact',
    area_km2: 'Area km²', floor_area: 'Floor area m²', persons: 'Persons', houses: 'Houses', facilities: 'Facilities',
    ind_spaces: 'Industrial spaces', affected: 'Affected buildings', spaces: 'industrial spaces',
    signin_failed: 'Unknown API key', events_need_key: 'Events need a department key', suppressed: 'counts below k are hidden',
    no_result: 'No result', rent: 'Rent', area: 'Area',
    tab_perception: 'Perception', active_alerts: 'Active alerts', alerts_need_key: 'Live alerts need an emergency or admin key',
  },
};

const state = {
  lang: localStorage.getItem('onemap.lang') || 'zh',
  key: localStorage.getItem('onemap.key') || '',
  role: 'public',
  layers: [],
  asOf: null,
  dates: [],
  drawing: false,
  drawPts: [],
  area: null,
  impact: null,
  blocksLoaded: 0,
};
const t = (k) => (I18N[state.lang][k] ?? k);

function toast(msg) {
  const el = $('toast');
  el.textContent = msg; el.hidden = false;
  clearTimeout(toast.timer); toast.timer = setTimeout(() => { el.hidden = true; }, 3000);
}

function headers(extra = {}) {
  return state.key ? { 'X-API-Key': state.key, ...extra } : extra;
}

async function api(path, opts = {}) {
  const r = await fetch(ORIGIN + path, { ...opts, headers: headers(opts.headers || {}) });
  if (!r.ok) {
    const err = new Error(`${r.status} ${path}`); err.status = r.status; throw err;
  }
  return r;
}

function applyI18n() {
  document.documentElement.lang = state.lang === 'zh' ? 'zh-CN' : 'en';
  document.querySelectorAll('[data-i18n]').forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll('[data-i18n-placeholder]').forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  $('lang').textContent = state.lang === 'zh' ? 'EN' : '中文';
  document.title = `${t('app_title')} OneMap`;
  renderLayerList();
}

// ---------------------------------------------------------------- time slider
function buildDates() {
  const out = [];
  const now = new Date();
  for (let y = 2016; y <= now.getFullYear(); y++) {
    for (let m = 0; m < 12; m += 3) {
      const d = new Date(Date.UTC(y, m, 1));
      if (d <= now) out.push(d.toISOString().slice(0, 10));
    }
  }
  out.push(now.toISOString().slice(0, 10));
  state.dates = out;
  const s = $('time');
  s.max = String(out.length - 1); s.value = String(out.length - 1);
  state.asOf = out[out.length - 1];
  $('time-label').textContent = state.asOf;
}

// ---------------------------------------------------------------- map
const map = new maplibregl.Map({
  container: 'map',
  style: `${ORIGIN}/styles/basemap.json`,
  center: [114.13, 22.565],
  zoom: 11.6,
  attributionControl: { compact: true },
  localIdeographFontFamily: "'Noto Sans CJK SC', 'Source Han Sans SC', 'Microsoft YaHei', sans-serif",
  doubleClickZoom: false,
  fadeDuration: 0,
});
map.addControl(new maplibregl.NavigationControl(), 'top-right');
map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-right');
if (window.pmtiles) {  // offline packs (/packs/*.pmtiles) can be used as pmtiles:// sources
  const protocol = new window.pmtiles.Protocol();
  maplibregl.addProtocol('pmtiles', protocol.tile);
}

const SKIP = new Set(['blocks', 'population_blocks']);  // drawn by the choropleth instead
const DEFAULT_ON = new Set(['district', 'subdistricts', 'communities', 'facilities']);

function tileUrl(id) {
  const p = new URLSearchParams();
  if (state.asOf) p.set('datetime', state.asOf);
  if (state.key) p.set('api_key', state.key);
  return `${ORIGIN}/tiles/${id}/{z}/{x}/{y}.mvt?${p}`;
}

function layerIds(l) {
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
  const before = map.getLayer('blocks-fill') ? 'blocks-fill' : undefined;
  const common = { source: src, 'source-layer': l.id, minzoom: l.minzoom, layout: { visibility: vis } };
  for (const id of layerIds(l)) {
    if (id.endsWith('-fill')) {
      map.addLayer({ ...common, id, type: 'fill', paint: { 'fill-color': s.color, 'fill-opacity': s.fill_opacity * op } }, before);
    } else if (id.endsWith('-line')) {
      map.addLayer({ ...common, id, type: 'line', layout: { ...common.layout, 'line-join': 'round' },
        paint: { 'line-color': s.color, 'line-width': Math.max(s.line_width, 1), 'line-opacity': op } }, before);
    } else {
      map.addLayer({ ...common, id, type: 'circle',
        paint: { 'circle-color': s.color, 'circle-radius': s.circle_radius + 1, 'circle-opacity': op,
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

function renderLayerList() {
  const ul = $('layer-list');
  ul.textContent = '';
  for (const l of state.layers) {
    const li = document.createElement('li');
    li.dataset.layer = l.id;
    if (l.restricted) li.classList.add('restricted');
    const cb = document.createElement('input');
    cb.type = 'checkbox'; cb.checked = l.visible; cb.id = `toggle-${l.id}`;
    cb.addEventListener('change', () => setLayerVisible(l, cb.checked));
    const sw = document.createElement('span');
    const g = l.geometry.toUpperCase();
    sw.className = `swatch ${g.includes('POINT') ? 'point' : g.includes('LINE') ? 'line' : ''}`;
    sw.style.background = l.style.color;
    const name = document.createElement('label');
    name.className = 'name'; name.htmlFor = cb.id;
    name.textContent = state.lang === 'zh' ? l.title_zh : l.title_en;
    name.title = `${l.title_zh} ${l.title_en} (z${l.minzoom}+)`;
    const op = document.createElement('input');
    op.type = 'range'; op.min = '0'; op.max = '1'; op.step = '0.1'; op.value = String(l.opacity);
    op.setAttribute('aria-label', 'opacity');
    op.addEventListener('input', () => setLayerOpacity(l, Number(op.value)));
    li.append(cb, sw, name, op);
    ul.append(li);
  }
}

async function loadLayers() {
  let doc;
  try {
    doc = await (await api('/layers')).json();
  } catch (e) {
    if (e.status === 401) { toast(t('signin_failed')); state.key = ''; localStorage.removeItem('onemap.key'); return loadLayers(); }
    throw e;
  }
  state.role = doc.role;
  const old = new Map(state.layers.map((l) => [l.id, l]));
  const next = doc.layers.filter((l) => !SKIP.has(l.id)).map((l) => ({
    ...l, visible: old.get(l.id)?.visible ?? DEFAULT_ON.has(l.id), opacity: old.get(l.id)?.opacity ?? 1,
  }));
  for (const l of state.layers) removeCatalogLayer(l.id);  // tile URLs carry the key: rebuild
  state.layers = next;
  for (const l of state.layers) addCatalogLayer(l);
  $('role').textContent = doc.role;
  $('sign-in').hidden = !!state.key; $('api-key').hidden = !!state.key; $('sign-out').hidden = !state.key;
  renderLayerList();
}

function refreshTiles() {
  for (const l of state.layers) {
    const src = map.getSource(`cat-${l.id}`);
    if (src && src.setTiles) src.setTiles([tileUrl(l.id)]);
  }
}

// ---------------------------------------------------------------- blocks
const RAMP = ['#fff5eb', '#fdbe85', '#fd8d3c', '#d94701', '#8c2d04'];
async function loadBlocks() {
  if (!map.getSource('blocks')) return;
  const p = new URLSearchParams({ metric: $('metric').value, res: $('res').value });
  if (state.asOf) p.set('as_of', state.asOf);
  const fc = await (await api(`/viewer/api/blocks?${p}`)).json();
  const max = fc.max || 1;
  map.getSource('blocks').setData(fc);
  state.blocks = fc;
  map.setPaintProperty('blocks-fill', 'fill-color', ['case', ['==', ['get', 'value'], null], '#cccccc',
    ['interpolate', ['linear'], ['get', 'value'], 0, RAMP[0], max * 0.25, RAMP[1], max * 0.5, RAMP[2], max * 0.75, RAMP[3], max, RAMP[4]]]);
  $('blocks-legend').title = `0 – ${max}`;
  $('blocks-legend').dataset.max = String(max);
  state.blocksLoaded += 1;
}

// ---------------------------------------------------------------- popups, portrait
function propsTable(props) {
  const tbl = document.createElement('table');
  for (const [k, v] of Object.entries(props)) {
    if (v === null || v === undefined || v === '') continue;
    const tr = tbl.insertRow();
    tr.insertCell().textContent = k;
    tr.insertCell().textContent = String(v);
  }
  return tbl;
}

function barChart(data, color = '#3b6fb6', opts = {}) {
  const entries = Object.entries(data || {});
  const row = 18; const w = 300; const lab = opts.labelWidth || 70;
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('width', String(w)); svg.setAttribute('height', String(Math.max(row, entries.length * row)));
  svg.setAttribute('class', 'chart');
  const max = Math.max(1, ...entries.map(([, v]) => Number(v) || 0));
  entries.forEach(([k, v], i) => {
    const y = i * row;
    const text = document.createElementNS(NS, 'text');
    text.setAttribute('x', '0'); text.setAttribute('y', String(y + 13)); text.setAttribute('font-size', '11');
    text.textContent = k; svg.append(text);
    const bw = v == null ? 0 : Math.max(1, (Number(v) / max) * (w - lab - 40));
    const rect = document.createElementNS(NS, 'rect');
    rect.setAttribute('x', String(lab)); rect.setAttribute('y', String(y + 3)); rect.setAttribute('height', String(row - 6));
    rect.setAttribute('width', String(bw)); rect.setAttribute('fill', color); svg.append(rect);
    const val = document.createElementNS(NS, 'text');
    val.setAttribute('x', String(lab + bw + 4)); val.setAttribute('y', String(y + 13)); val.setAttribute('font-size', '11');
    val.textContent = v == null ? '<k' : String(v); svg.append(val);
  });
  return svg;
}

function kpis(items) {
  const div = document.createElement('div');
  div.className = 'kpis';
  for (const [label, value] of items) {
    const k = document.createElement('div');
    k.className = 'kpi';
    const b = document.createElement('b'); b.textContent = value == null ? '—' : String(value);
    const s = document.createElement('span'); s.textContent = label;
    k.append(b, s); div.append(k);
  }
  return div;
}

async function openPortrait(cell) {
  const body = { inputs: { cell, as_of: state.asOf } };
  const r = await api('/ogc/processes/block-portrait/execution', {
    method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
  const p = await r.json();
  const el = $('portrait-body');
  el.textContent = '';
  const h = document.createElement('h3');
  h.textContent = `${t('portrait')} · ${p.cell}`;
  el.append(h, kpis([[t('population'), p.population], [t('households'), p.households], [t('enterprises'), p.enterprises],
    [t('employees'), p.employees], [t('buildings'), p.buildings], [t('events12'), p.events_last_12_months]]));
  const sec = (title, node) => { const h4 = document.createElement('h4'); h4.textContent = title; el.append(h4, node); };
  sec(`${t('age')} (F | M)`, agePyramid(p));
  sec(t('industry'), barChart(p.enterprises_by_industry, '#59a14f'));
  sec(t('event_trend'), barChart(p.events_by_category, '#e15759', { labelWidth: 110 }));
  const vac = p.industrial_vacancy_rate == null ? '—' : `${(p.industrial_vacancy_rate * 100).toFixed(1)}%`;
  sec(t('vacancy'), document.createTextNode(`${vac} · ${p.industrial_spaces} ${t('spaces')}`));
  if (p.suppressed) { const n = document.createElement('p'); n.className = 'hint'; n.textContent = t('suppressed'); el.append(n); }
  $('portrait').hidden = false;
  $('portrait').dataset.cell = p.cell;
  return p;
}

function agePyramid(p) {
  // The portrait gives counts by age band and by sex: bars by band, split by the sex ratio.
  const bands = Object.entries(p.population_by_age_band || {}).reverse();
  const f = (p.population_by_sex || {}).F || 0; const m = (p.population_by_sex || {}).M || 0;
  const share = f + m > 0 ? f / (f + m) : 0.5;
  const row = 16; const w = 300; const mid = w / 2;
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('width', String(w)); svg.setAttribute('height', String(bands.length * row + 4));
  svg.setAttribute('class', 'chart pyramid');
  const max = Math.max(1, ...bands.map(([, v]) => Number(v) || 0));
  bands.forEach(([band, v], i) => {
    const y = i * row; const total = Number(v) || 0; const scale = (mid - 30) / max;
    const mk = (x, width, color) => { const r = document.createElementNS(NS, 'rect');
      r.setAttribute('x', String(x)); r.setAttribute('y', String(y + 2)); r.setAttribute('width', String(width));
      r.setAttribute('height', String(row - 4)); r.setAttribute('fill', color); svg.append(r); };
    const fw = total * share * scale; const mw = total * (1 - share) * scale;
    mk(mid - 20 - fw, fw, '#e15759'); mk(mid + 20, mw, '#4e79a7');
    const tx = document.createElementNS(NS, 'text');
    tx.setAttribute('x', String(mid)); tx.setAttribute('y', String(y + 12)); tx.setAttribute('font-size', '10');
    tx.setAttribute('text-anchor', 'middle'); tx.textContent = v == null ? `${band}*` : band; svg.append(tx);
  });
  return svg;
}

// ---------------------------------------------------------------- search
let searchTimer = null;
let suggestions = [];
async function suggest(q) {
  if (!q.trim()) { $('suggestions').hidden = true; return; }
  const fc = await (await api(`/address/geocode?${new URLSearchParams({ q, limit: '6' })}`)).json();
  suggestions = fc.features || [];
  const ul = $('suggestions');
  ul.textContent = '';
  if (!suggestions.length) {
    const li = document.createElement('li'); li.textContent = t('no_result'); ul.append(li);
  }
  suggestions.forEach((f, i) => {
    const li = document.createElement('li');
    li.textContent = f.properties.address;
    li.dataset.index = String(i);
    li.addEventListener('mousedown', (e) => { e.preventDefault(); goTo(f); });
    ul.append(li);
  });
  ul.hidden = false;
}

const marker = new maplibregl.Marker({ color: '#c0392b' });
function goTo(f) {
  const [lon, lat] = f.geometry.coordinates;
  $('search').value = f.properties.address;
  $('suggestions').hidden = true;
  marker.setLngLat([lon, lat]).addTo(map);
  map.flyTo({ center: [lon, lat], zoom: f.properties.level === 'subdistrict' ? 14 : 16.5, duration: 800 });
  state.lastSearch = { lon, lat, address: f.properties.address };
}

// ---------------------------------------------------------------- drawing, renewal impact
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

function startDraw() {
  state.drawing = true; state.drawPts = []; drawData();
  map.getCanvas().style.cursor = 'crosshair';
  $('draw-done').disabled = false;
}

function insidePolygon(pt, ring) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i]; const [xj, yj] = ring[j];
    if (((yi > pt[1]) !== (yj > pt[1])) && (pt[0] < ((xj - xi) * (pt[1] - yi)) / (yj - yi) + xi)) inside = !inside;
  }
  return inside;
}

async function finishDraw() {
  if (state.drawPts.length < 3) return;
  state.drawing = false;
  map.getCanvas().style.cursor = '';
  $('draw-done').disabled = true;
  const ring = [...state.drawPts, state.drawPts[0]];
  state.area = { type: 'Polygon', coordinates: [ring] };
  $('impact').textContent = '…';
  const r = await api('/ogc/processes/renewal-impact/execution', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ inputs: { area: state.area, as_of: state.asOf } }) });
  const res = await r.json();
  state.impact = res;
  const el = $('impact');
  el.textContent = '';
  const h = document.createElement('h4'); h.textContent = t('impact'); el.append(h);
  el.append(kpis([[t('area_km2'), res.area_km2], [t('buildings'), res.buildings], [t('floor_area'), res.floor_area_m2],
    [t('households'), res.households], [t('persons'), res.persons], [t('enterprises'), res.enterprises],
    [t('employees'), res.employees], [t('facilities'), res.facilities], [t('ind_spaces'), res.industrial_spaces]]));
  el.append(barChart(res.persons_by_age_band, '#4e79a7'));
  el.append(barChart(res.enterprises_by_industry, '#59a14f'));
  // affected buildings on the map
  const xs = ring.map((c) => c[0]); const ys = ring.map((c) => c[1]);
  const bbox = [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)].join(',');
  try {
    const fc = await (await api(`/ogc/collections/buildings/items?f=json&limit=2000&bbox=${bbox}`)).json();
    const hit = (fc.features || []).filter((f) => {
      const c = f.geometry.type === 'Polygon' ? f.geometry.coordinates[0][0] : f.geometry.coordinates[0][0][0];
      return insidePolygon(c, ring);
    });
    map.getSource('affected').setData({ type: 'FeatureCollection', features: hit });
    const p = document.createElement('p'); p.className = 'hint'; p.id = 'affected-count';
    p.textContent = `${t('affected')}: ${hit.length}`; el.append(p);
  } catch (e) { console.warn('affected buildings', e.message); }
  $('report').hidden = false;
  el.dataset.ready = '1';
  return res;
}

async function downloadReport() {
  const r = await api('/viewer/api/report', { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ area: state.area, as_of: state.asOf }) });
  const blob = await r.blob();
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob); a.download = 'renewal-report.html';
  document.body.append(a); a.click(); a.remove();
}

// ---------------------------------------------------------------- industrial spaces
async function loadIndustry() {
  const p = new URLSearchParams({ min_area: $('ind-min').value || '0', max_area: $('ind-max').value || '1e12',
    min_vacancy: $('ind-vac').value || '0' });
  if ($('ind-use').value) p.set('use', $('ind-use').value);
  if ($('ind-rent').value) p.set('max_rent', $('ind-rent').value);
  if (state.asOf) p.set('as_of', state.asOf);
  const raw = await (await api(`/viewer/api/industrial?${p}`)).json();
  const fc = state.industryFilter ? state.industryFilter(raw) : raw;  // js/industry.js (type filter)
  const sel = $('ind-use');
  if (sel.options.length <= 1) for (const u of fc.uses) sel.add(new Option(u, u));
  map.getSource('industry').setData(fc);
  state.industry = fc;
  $('ind-count').textContent = `${fc.features.length} ${t('spaces')}`;
  const ul = $('ind-list'); ul.textContent = '';
  for (const f of fc.features.slice(0, 300)) {
    const li = document.createElement('li'); const pr = f.properties;
    li.dataset.id = pr.id;
    li.textContent = pr.name;
    const s = document.createElement('small');
    s.textContent = `${pr.use} · ${t('area')} ${pr.area_m2} m² · ${t('rent')} ${pr.rent ?? '—'} · ${(100 * (pr.vacancy_rate || 0)).toFixed(0)}%`;
    li.append(s);
    li.addEventListener('click', () => { highlightSpace(pr.id); map.flyTo({ center: f.geometry.coordinates, zoom: 16 }); });
    ul.append(li);
  }
}

function highlightSpace(id) {
  map.setFilter('industry-hl', ['==', ['get', 'id'], id || '']);
  document.querySelectorAll('#ind-list li').forEach((li) => li.classList.toggle('active', li.dataset.id === id));
  const li = document.querySelector(`#ind-list li[data-id="${id}"]`);
  if (li) li.scrollIntoView({ block: 'nearest' });
}

// ---------------------------------------------------------------- events
async function loadEvents() {
  const p = new URLSearchParams();
  if ($('ev-cat').value) p.set('category', $('ev-cat').value);
  if ($('ev-start').value) p.set('start', $('ev-start').value);
  if ($('ev-end').value) p.set('end', $('ev-end').value);
  try {
    const fc = await (await api(`/viewer/api/events?${p}`)).json();
    const sel = $('ev-cat');
    if (sel.options.length <= 1) for (const c of fc.categories) sel.add(new Option(c, c));
    map.getSource('events-heat').setData(fc);
    state.events = fc;
    map.setLayoutProperty('events-heat', 'visibility', 'visible');
    $('ev-msg').textContent = `${fc.features.length}`;
  } catch (e) {
    if (e.status !== 404) throw e;
    map.getSource('events-heat').setData({ type: 'FeatureCollection', features: [] });
    $('ev-msg').textContent = t('events_need_key');
  }
}

// ---------------------------------------------------------------- wiring
function addOverlays() {
  const empty = { type: 'FeatureCollection', features: [] };
  map.addSource('blocks', { type: 'geojson', data: empty });
  map.addLayer({ id: 'blocks-fill', type: 'fill', source: 'blocks', paint: { 'fill-color': '#ccc', 'fill-opacity': 0.55 } });
  map.addLayer({ id: 'blocks-line', type: 'line', source: 'blocks', paint: { 'line-color': '#ffffff', 'line-width': 0.6 } });
  map.addSource('events-heat', { type: 'geojson', data: empty });
  map.addLayer({ id: 'events-heat', type: 'heatmap', source: 'events-heat', layout: { visibility: 'none' },
    paint: { 'heatmap-radius': 18, 'heatmap-intensity': 1, 'heatmap-opacity': 0.8 } });
  map.addSource('industry', { type: 'geojson', data: empty });
  map.addLayer({ id: 'industry', type: 'circle', source: 'industry',
    paint: { 'circle-radius': 5, 'circle-color': '#edc948', 'circle-stroke-color': '#7a5c00', 'circle-stroke-width': 1 } });
  map.addLayer({ id: 'industry-hl', type: 'circle', source: 'industry', filter: ['==', ['get', 'id'], ''],
    paint: { 'circle-radius': 9, 'circle-color': 'rgba(0,0,0,0)', 'circle-stroke-color': '#c0392b', 'circle-stroke-width': 3 } });
  map.addSource('affected', { type: 'geojson', data: empty });
  map.addLayer({ id: 'affected', type: 'fill', source: 'affected', paint: { 'fill-color': '#6a51a3', 'fill-opacity': 0.7 } });
  map.addSource('draw', { type: 'geojson', data: empty });
  map.addLayer({ id: 'draw-fill', type: 'fill', source: 'draw', filter: ['==', ['geometry-type'], 'Polygon'],
    paint: { 'fill-color': '#c0392b', 'fill-opacity': 0.12 } });
  map.addLayer({ id: 'draw-line', type: 'line', source: 'draw', filter: ['!=', ['geometry-type'], 'Point'],
    paint: { 'line-color': '#c0392b', 'line-width': 2, 'line-dasharray': [2, 1] } });
  map.addLayer({ id: 'draw-pts', type: 'circle', source: 'draw', filter: ['==', ['geometry-type'], 'Point'],
    paint: { 'circle-radius': 4, 'circle-color': '#fff', 'circle-stroke-color': '#c0392b', 'circle-stroke-width': 2 } });
}

function wire() {
  $('lang').addEventListener('click', () => {
    state.lang = state.lang === 'zh' ? 'en' : 'zh'; localStorage.setItem('onemap.lang', state.lang); applyI18n();
  });
  $('panel-toggle').addEventListener('click', () => $('panel').classList.toggle('collapsed'));
  document.querySelectorAll('.tabs button').forEach((b) => b.addEventListener('click', () => {
    document.querySelectorAll('.tabs button').forEach((x) => x.classList.toggle('active', x === b));
    document.querySelectorAll('.pane').forEach((p) => p.classList.toggle('active', p.dataset.pane === b.dataset.tab));
    if (b.dataset.tab === 'industry') loadIndustry();
    if (b.dataset.tab === 'events') loadEvents();
    if (b.dataset.tab === 'perception') perception.start();
  }));
  $('search').addEventListener('input', (e) => {
    clearTimeout(searchTimer); searchTimer = setTimeout(() => suggest(e.target.value), 150);
  });
  $('search').addEventListener('keydown', async (e) => {
    if (e.key === 'Enter') {
      await suggest(e.target.value);
      if (suggestions.length) goTo(suggestions[0]);
    }
  });
  $('search').addEventListener('blur', () => setTimeout(() => { $('suggestions').hidden = true; }, 150));
  $('sign-in').addEventListener('click', async () => {
    state.key = $('api-key').value.trim();
    if (state.key) localStorage.setItem('onemap.key', state.key);
    $('api-key').value = '';
    await loadLayers(); refreshAll();
  });
  $('sign-out').addEventListener('click', async () => {
    state.key = ''; localStorage.removeItem('onemap.key');
    await loadLayers(); refreshAll();
  });
  $('metric').addEventListener('change', loadBlocks);
  $('res').addEventListener('change', loadBlocks);
  $('blocks-on').addEventListener('change', (e) => {
    for (const id of ['blocks-fill', 'blocks-line']) map.setLayoutProperty(id, 'visibility', e.target.checked ? 'visible' : 'none');
  });
  $('time').addEventListener('input', () => { $('time-label').textContent = state.dates[Number($('time').value)]; });
  $('time').addEventListener('change', () => {
    state.asOf = state.dates[Number($('time').value)]; $('time-label').textContent = state.asOf;
    refreshTiles(); loadBlocks();
  });
  for (const id of ['ind-min', 'ind-max', 'ind-use', 'ind-rent', 'ind-vac']) $(id).addEventListener('change', loadIndustry);
  for (const id of ['ev-cat', 'ev-start', 'ev-end']) $(id).addEventListener('change', loadEvents);
  $('draw').addEventListener('click', startDraw);
  $('draw-done').addEventListener('click', finishDraw);
  $('draw-clear').addEventListener('click', () => {
    state.drawing = false; state.drawPts = []; drawData(); $('impact').textContent = ''; $('report').hidden = true;
    map.getSource('affected').setData({ type: 'FeatureCollection', features: [] });
  });
  $('report').addEventListener('click', downloadReport);
  $('portrait-close').addEventListener('click', () => { $('portrait').hidden = true; });

  map.on('click', (e) => {
    if (window.onemapNetwork?.onClick(e)) return; // the network tool (js/network.js) takes its clicks
    if (state.drawing) { state.drawPts.push([e.lngLat.lng, e.lngLat.lat]); drawData(); return; }
    const catLayers = state.layers.filter((l) => l.visible).flatMap(layerIds).filter((id) => map.getLayer(id));
    const feats = map.queryRenderedFeatures(e.point, { layers: [...catLayers, 'industry'] })
      .filter((f) => !['district', 'subdistricts', 'communities', 'grids'].includes(f.sourceLayer));
    if (feats.length) {
      const f = feats[0];
      if (f.layer.id === 'industry') highlightSpace(f.properties.id);
      new maplibregl.Popup({ maxWidth: '320px' }).setLngLat(e.lngLat).setDOMContent(propsTable(f.properties)).addTo(map);
      return;
    }
    const blocks = map.getLayoutProperty('blocks-fill', 'visibility') !== 'none'
      ? map.queryRenderedFeatures(e.point, { layers: ['blocks-fill'] }) : [];
    if (blocks.length) openPortrait(blocks[0].properties.cell).catch((err) => toast(err.message));
  });
  map.on('dblclick', (e) => { if (state.drawing) { e.preventDefault(); finishDraw(); } });
}

let perception = null;

async function init() {
  buildDates();
  applyI18n();
  wire();
  addOverlays();
  perception = initPerception({ map, state, api, t, origin: ORIGIN });
  window.onemap.events = initEvents({ map, api, pane: document.querySelector('section[data-pane=events]') });
  await loadLayers();
  await loadBlocks();
}

function refreshAll() { loadBlocks(); if (document.querySelector('.tabs button.active').dataset.tab === 'events') loadEvents(); }

window.onemap = { map, state, openPortrait, finishDraw, goTo, loadBlocks, loadLayers, loadIndustry, api, t, toast };
window.onemapReady = new Promise((resolve, reject) => {
  map.on('load', () => { init().then(resolve, reject); });
});
window.onemapReady.catch((e) => { console.error('viewer init failed', e); toast(String(e.message || e)); });

// The phone cockpit (/m): the cockpit's headline indicators in one column, large type. Its
// service worker (/m/sw.js) keeps the page, the last values and the district pack, so a
// leader without network sees the last sync (docs/cockpit.md).
import { RANGES, STRINGS, eventBars, fmt, getJSON, tile, title, unit } from '/js/cockpit-tiles.js';

const $ = (id) => document.getElementById(id);
const state = {
  key: localStorage.getItem('onemap.key') || '',
  lang: localStorage.getItem('onemap.lang') || 'zh',
  range: localStorage.getItem('onemap.m.range') || '12m',
  area: localStorage.getItem('onemap.m.area') || '',
  asOf: null, summary: null, areas: [], indicator: null, synced: false, offline: !navigator.onLine,
  loads: 0, pack: null, worker: null, map: null, mapSource: null, mapDraws: 0,
};
const t = (k) => (STRINGS[state.lang] || STRINGS.zh)[k] ?? k;

const api = {
  async get(path, params = {}) {
    const q = new URLSearchParams(params).toString();
    const r = await fetch(q ? `${path}?${q}` : path, { headers: state.key ? { 'X-API-Key': state.key } : {} });
    if (r.headers.get('X-OneMap-Cached')) state.fromCache = true;  // answered by the worker's cache
    return r;
  },
};

function relabel() {
  document.documentElement.lang = state.lang === 'zh' ? 'zh-CN' : 'en';
  $('m-title').textContent = t('ck_title');
  $('m-lang').textContent = state.lang === 'zh' ? 'EN' : '中文';
  $('m-key-label').textContent = t('ck_key');
  $('m-sign-in').textContent = t('ck_sign_in');
  $('m-sign-out').textContent = t('ck_sign_out');
  $('m-area-label').textContent = t('ck_area');
  $('m-range-label').textContent = t('ck_range');
  $('m-by-area').textContent = t('ck_by_area');
  $('m-events-title').textContent = t('ck_events');
  $('m-to-map').textContent = t('ck_map');
  const rs = $('m-range');
  rs.innerHTML = '';
  for (const k of Object.keys(RANGES)) { const o = document.createElement('option'); o.value = k; o.textContent = t(`ck_r${k}`); rs.appendChild(o); }
  rs.value = state.range;
  renderAreas();
}

function status(text, offline = false) {
  const s = $('m-status');
  s.textContent = text; s.classList.toggle('offline', offline);
}

function renderAreas() {
  const sel = $('m-area');
  sel.innerHTML = '';
  const all = document.createElement('option'); all.value = ''; all.textContent = t('ck_district'); sel.appendChild(all);
  for (const a of state.areas) { const o = document.createElement('option'); o.value = a.code; o.textContent = a.name; sel.appendChild(o); }
  sel.value = state.area;
}

function renderTiles() {
  const box = $('m-tiles');
  box.innerHTML = '';
  for (const item of state.summary?.items || []) {
    const b = tile(item, { t, lang: state.lang, selected: item.id === state.indicator });
    b.addEventListener('click', () => { state.indicator = item.id; renderTiles(); loadByArea().catch(show); });
    box.appendChild(b);
  }
}

function renderByArea(doc) {
  const box = $('m-areas');
  box.innerHTML = '';
  const item = (state.summary?.items || []).find((i) => i.id === state.indicator);
  const h = document.createElement('p'); h.className = 'ck-sub';
  h.textContent = item ? `${title(item, state.lang)}${item.unit ? ` (${unit(item.unit, state.lang)})` : ''}` : '';
  box.appendChild(h);
  const rows = (doc.values || []).filter((v) => v.value !== null && v.value !== undefined)
    .sort((a, b) => Number(b.value) - Number(a.value));
  const max = Math.max(...rows.map((r) => Math.abs(Number(r.value))), 1);
  const ul = document.createElement('ul'); ul.className = 'ck-bars';
  for (const r of rows) {
    const li = document.createElement('li'); li.dataset.code = r.code; li.setAttribute('role', 'button'); li.tabIndex = 0;
    const name = document.createElement('span'); name.className = 'ck-bar-name'; name.textContent = String(r.name || r.code).replace(/街道$/, '');
    const bar = document.createElement('span'); bar.className = 'ck-bar';
    const fill = document.createElement('i'); fill.style.width = `${(100 * Math.abs(Number(r.value))) / max}%`; bar.appendChild(fill);
    const n = document.createElement('b'); n.textContent = fmt(r.value, state.lang);
    li.append(name, bar, n);
    const pick = () => { setArea(r.code); };
    li.addEventListener('click', pick);
    li.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); pick(); } });
    ul.appendChild(li);
  }
  if (!rows.length) { const p = document.createElement('p'); p.className = 'ck-empty'; p.textContent = t('ck_no_values'); box.appendChild(p); }
  box.appendChild(ul);
}

function level() { return !state.area ? 'district' : state.area.length > 9 ? 'community' : 'subdistrict'; }

function range() { return state.asOf ? RANGES[state.range](state.asOf) : { freq: 'month' }; }

async function loadByArea() {
  if (!state.indicator) return;
  const r = range();
  const fc = await getJSON(api, `/indicators/${encodeURIComponent(state.indicator)}`, {
    level: 'subdistrict', from: state.summary?.from || r.from, to: state.summary?.to || r.to,
    freq: state.summary?.freq || r.freq, f: 'geojson' });
  const values = (fc.features || []).map((f) => f.properties);
  state.areas = values.map((v) => ({ code: v.code, name: v.name || v.code }));
  renderAreas();
  renderByArea({ values });
  drawMap(fc).catch((e) => { state.mapError = String(e.message || e); });
}

// ------------------------------------------------------------------ the map (from the pack)
const RAMP = ['#edf8fb', '#b2e2e2', '#66c2a4', '#2ca25f', '#006d2c'];
const RAMP_BAD = ['#fef0d9', '#fdcc8a', '#fc8d59', '#e34a33', '#b30000'];
let mapPromise = null;

/** The MapLibre map on the basemap style, its tiles read from the district pack when one is
 * kept (pmtiles://, answered by the worker from its cache), else from /tiles. */
function makeMap() {
  mapPromise ??= (async () => {
    const maplibregl = await import('/viewer/vendor/maplibre-gl/dist/maplibre-gl.mjs');
    const style = await (await fetch('/styles/basemap.json')).json();
    const pack = localStorage.getItem('onemap.m.pack');
    if (!pack && !navigator.onLine) throw new Error('offline, and no pack kept yet');
    if (pack && window.pmtiles) {
      const protocol = new window.pmtiles.Protocol();
      maplibregl.addProtocol('pmtiles', protocol.tile);
      style.sources.basemap = { type: 'vector', url: `pmtiles://${window.location.origin}${pack}` };
      state.mapSource = 'pack';
    } else state.mapSource = 'tiles';
    const map = new maplibregl.Map({ container: 'm-map', style, center: [114.14, 22.56], zoom: 10.4,
      attributionControl: { compact: true }, fadeDuration: 0, dragRotate: false, pitchWithRotate: false,
      localIdeographFontFamily: "'Noto Sans CJK SC', 'Source Han Sans SC', 'Microsoft YaHei', sans-serif" });
    await new Promise((resolve) => map.on('load', resolve));
    map.addSource('m-areas', { type: 'geojson', data: { type: 'FeatureCollection', features: [] } });
    const firstSymbol = (map.getStyle().layers || []).find((l) => l.type === 'symbol');
    map.addLayer({ id: 'm-fill', type: 'fill', source: 'm-areas', paint: { 'fill-color': '#c8ccd2', 'fill-opacity': 0.7 } },
      firstSymbol ? firstSymbol.id : undefined);
    map.addLayer({ id: 'm-line', type: 'line', source: 'm-areas', paint: { 'line-color': '#ffffff', 'line-width': 1 } },
      firstSymbol ? firstSymbol.id : undefined);
    map.on('click', 'm-fill', (e) => { const f = e.features && e.features[0]; if (f) setArea(f.properties.code); });
    state.map = map;
    return map;
  })();
  return mapPromise;
}

async function drawMap(fc) {
  const map = await makeMap();
  const item = (state.summary?.items || []).find((i) => i.id === state.indicator) || {};
  const ramp = item.direction === 'lower_is_better' ? RAMP_BAD : RAMP;
  const vals = fc.features.map((f) => f.properties.value).filter((v) => v !== null && v !== undefined).sort((a, b) => a - b);
  const step = ['step', ['to-number', ['get', 'value'], 0], ramp[0]];
  for (let i = 1; i < ramp.length && vals.length; i++) {
    const q = vals[Math.floor((i * vals.length) / ramp.length)];
    if (q > step[step.length - 2] || step.length === 3) step.push(q, ramp[i]);
  }
  map.setPaintProperty('m-fill', 'fill-color', ['case', ['==', ['get', 'value'], null], '#c8ccd2', step.length > 3 ? step : ramp[2]]);
  map.setPaintProperty('m-fill', 'fill-opacity', ['case', ['==', ['get', 'code'], state.area || ''], 0.95, state.area ? 0.35 : 0.7]);
  map.getSource('m-areas').setData(fc);
  let x0 = Infinity; let y0 = Infinity; let x1 = -Infinity; let y1 = -Infinity;
  const walk = (c) => {
    if (typeof c[0] === 'number') { x0 = Math.min(x0, c[0]); y0 = Math.min(y0, c[1]); x1 = Math.max(x1, c[0]); y1 = Math.max(y1, c[1]); return; }
    for (const d of c) walk(d);
  };
  for (const f of fc.features) if (f.geometry) walk(f.geometry.coordinates);
  if (Number.isFinite(x0)) map.fitBounds([[x0, y0], [x1, y1]], { padding: 10, duration: 0 });
  state.mapDraws = (state.mapDraws || 0) + 1;
}

async function loadEvents() {
  try {
    const doc = await getJSON(api, '/viewer/api/events/categories', { day: state.summary?.to || state.asOf, code: state.area });
    const box = $('m-events'); box.innerHTML = ''; box.appendChild(eventBars(doc, { t, lang: state.lang }));
  } catch (e) {
    $('m-events').textContent = t('ck_events_need');
  }
}

/** Keep the district pack for offline maps (the worker answers range requests from it). While
 * the server still builds its packs, ask again a little later. */
async function keepPack(tries = 24) {
  try {
    const doc = await getJSON(api, '/packs');
    const packs = doc.packs || [];
    const p = packs.find((x) => x.name === 'district');
    if (!p) {
      if (doc.status === 'building' && tries > 0) setTimeout(() => { keepPack(tries - 1); }, 5000);
      return;
    }
    const url = new URL(p.url, window.location.origin).pathname;
    const cache = await caches.open('onemap-m-pack');
    if (!(await cache.match(url))) await cache.add(url);
    state.pack = url;
    localStorage.setItem('onemap.m.pack', url);  // the next start draws its map from the pack
  } catch (e) { /* offline: the next sync keeps it */ }
}

async function sync() {
  if (!state.key) { $('m-signin').hidden = false; status(t('ck_need_key')); return; }
  $('m-signin').hidden = true;
  const first = !state.asOf;
  state.fromCache = false;
  const r = range();
  const doc = await getJSON(api, '/indicators/summary', { level: level(), code: state.area, ...r });
  state.summary = doc;
  if (first && doc.as_of) {
    state.asOf = doc.as_of;
    if (state.range !== '12m' || doc.freq !== 'month') { return sync(); }  // now with the chosen range's dates
  }
  if (!state.indicator || !doc.items.some((i) => i.id === state.indicator)) state.indicator = doc.items[0]?.id || null;
  renderTiles();
  await Promise.all([loadByArea(), loadEvents()]);
  const when = state.offline ? localStorage.getItem('onemap.m.synced') : new Date().toISOString();
  if (!state.offline) localStorage.setItem('onemap.m.synced', when);
  state.offline = !navigator.onLine || state.fromCache;
  status(state.offline ? `${t('ck_offline')} (${(when || '').slice(0, 16).replace('T', ' ')})`
    : `${doc.from || ''} – ${doc.to || ''} · ${t('ck_synced')} ${when.slice(11, 16)}`, state.offline);
  state.synced = true;
  state.loads += 1;
  if (!state.offline) keepPack();
}

function show(e) { status(`${t('ck_error')}: ${e.message || e}`, true); }

function setArea(code) {
  state.area = code || '';
  localStorage.setItem('onemap.m.area', state.area);
  $('m-area').value = state.area;
  return sync().catch(show);
}

/** Register the worker and wait until it controls the page, so the first sync is kept. */
async function worker() {
  if (!('serviceWorker' in navigator)) return;
  try {
    await navigator.serviceWorker.register('/m/sw.js', { scope: '/m' });
    if (!navigator.serviceWorker.controller) {
      await Promise.race([
        new Promise((resolve) => navigator.serviceWorker.addEventListener('controllerchange', resolve, { once: true })),
        new Promise((resolve) => { setTimeout(resolve, 4000); }),
      ]);
    }
    state.worker = !!navigator.serviceWorker.controller;
  } catch (e) { state.worker = false; }
}

function wire() {
  $('m-lang').addEventListener('click', () => {
    state.lang = state.lang === 'zh' ? 'en' : 'zh'; localStorage.setItem('onemap.lang', state.lang); relabel(); renderTiles(); sync().catch(show);
  });
  $('m-signin').addEventListener('submit', (e) => {
    e.preventDefault();
    state.key = $('m-key').value.trim(); localStorage.setItem('onemap.key', state.key); sync().catch(show);
  });
  $('m-sign-out').addEventListener('click', () => {
    state.key = ''; localStorage.removeItem('onemap.key'); $('m-tiles').innerHTML = ''; sync().catch(show);
  });
  $('m-area').addEventListener('change', () => setArea($('m-area').value));
  $('m-range').addEventListener('change', () => {
    state.range = $('m-range').value; localStorage.setItem('onemap.m.range', state.range); sync().catch(show);
  });
  window.addEventListener('online', () => { state.offline = false; state.fromCache = false; sync().catch(show); });
  window.addEventListener('offline', () => { state.offline = true; });
}

window.onemapMobile = { state, sync, setArea };
relabel();
wire();
window.onemapMobile.ready = worker().then(sync).catch(show);

// The cockpit: the home page of signed-in department roles (the map is one click away).
// Headline tiles (GET /indicators/summary) with sparklines and change arrows, a map of the
// chosen indicator by subdistrict/community/H3 block (GET /indicators/{id}?f=geojson), the
// live alerts (SSE /alerts/stream), the day's events by category, a time range selector.
// Clicking a subdistrict (or community) on the map, or a crumb, filters the whole page.
import * as maplibregl from '/viewer/vendor/maplibre-gl/dist/maplibre-gl.mjs';
import { RANGES, STRINGS, eventBars, fmt, getJSON, tile, title, unit } from '/js/cockpit-tiles.js';

/** Roles that get the cockpit at `/` (the public keeps the map). */
export const COCKPIT_ROLES = new Set(['population', 'planning', 'emergency', 'enterprise', 'admin']);
const STREAM_ROLES = new Set(['emergency', 'admin']);  // GET /alerts/stream's roles
// Sequential ramps (light → dark); "lower is better" indicators darken towards red.
const RAMP_GOOD = ['#edf8fb', '#b2e2e2', '#66c2a4', '#2ca25f', '#006d2c'];
const RAMP_BAD = ['#fef0d9', '#fdcc8a', '#fc8d59', '#e34a33', '#b30000'];
const NO_DATA = '#c8ccd2';
const EMPTY = { type: 'FeatureCollection', features: [] };
/** Luohu's extent (CRS84): the map's first view until the basemap's bounds are read. */
const DISTRICT_BOUNDS = [[114.061, 22.5296], [114.2151, 22.6192]];

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Class breaks (quantiles, at most five classes) of the non-null values. */
export function breaks(values, n = 5) {
  const v = values.filter((x) => x !== null && x !== undefined && !Number.isNaN(Number(x))).map(Number).sort((a, b) => a - b);
  if (!v.length) return [];
  const out = [];
  for (let i = 1; i < n; i++) {
    const q = v[Math.min(v.length - 1, Math.floor((i * v.length) / n))];
    if (!out.length || q > out[out.length - 1]) out.push(q);
  }
  return out.filter((q) => q > v[0]);
}

/**
 * Mount the cockpit into `root`. ctx = {api, i18n, showMap()} (docs/cockpit.md).
 * Returns the controller (also `window.onemapCockpit`): `ready` (first load), `state`,
 * `setArea(code)`, `setRange(key)`, `setLevel(level)`, `choose(id)`, `show()`, `hide()`, `refresh()`.
 */
export function mount(root, ctx) {
  const { api } = ctx;
  const i18n = ctx.i18n || {};
  if (i18n.addStrings) i18n.addStrings(STRINGS);
  const lang = () => (i18n.lang ? i18n.lang() : 'zh');
  const t = (k) => (i18n.t ? i18n.t(k) : (STRINGS[lang()] || STRINGS.zh)[k] ?? k);

  const state = {
    asOf: null, range: '12m', from: null, to: null, freq: 'month', level: 'subdistrict',
    area: null, trail: [], indicator: null, summary: null, catalog: [], values: null,
    alerts: new Map(), es: null, loads: 0, mapLoads: 0, eventsDoc: null, error: null,
  };

  root.classList.add('cockpit');
  root.innerHTML = '';
  const head = el('div', 'ck-head');
  const h1 = el('h1', 'ck-title');
  const crumbs = el('nav', 'ck-crumbs'); crumbs.setAttribute('aria-label', 'area');
  const controls = el('div', 'ck-controls');
  const rangeLabel = el('label', 'ck-field');
  const rangeText = el('span');
  const rangeSel = el('select'); rangeSel.id = 'ck-range';
  for (const k of Object.keys(RANGES)) { const o = el('option'); o.value = k; rangeSel.appendChild(o); }
  rangeSel.value = state.range;
  rangeLabel.append(rangeText, rangeSel);
  const levelLabel = el('label', 'ck-field');
  const levelText = el('span');
  const levelSel = el('select'); levelSel.id = 'ck-level';
  for (const k of ['subdistrict', 'community', 'block']) { const o = el('option'); o.value = k; levelSel.appendChild(o); }
  levelLabel.append(levelText, levelSel);
  const period = el('span', 'ck-period');
  const mapBtn = el('button', 'ck-switch'); mapBtn.type = 'button'; mapBtn.id = 'ck-to-map';
  controls.append(period, rangeLabel, levelLabel, mapBtn);
  head.append(h1, crumbs, controls);

  const tiles = el('section', 'ck-tiles'); tiles.id = 'ck-tiles'; tiles.setAttribute('aria-live', 'polite');
  const alertTile = el('div', 'ck-tile ck-alert-tile'); alertTile.id = 'ck-alert-tile';

  const body = el('div', 'ck-body');
  const mapPanel = el('section', 'ck-panel ck-map-panel');
  const mapHead = el('h2', 'ck-panel-title');
  const mapDiv = el('div', 'ck-map'); mapDiv.id = 'ck-map';
  const legend = el('div', 'ck-legend'); legend.id = 'ck-legend';
  const hint = el('p', 'ck-hint');
  mapPanel.append(mapHead, mapDiv, legend, hint);
  const side = el('div', 'ck-side');
  const alertPanel = el('section', 'ck-panel');
  const alertHead = el('h2', 'ck-panel-title');
  const alertList = el('ul', 'ck-alerts'); alertList.id = 'ck-alert-list'; alertList.setAttribute('aria-live', 'polite');
  alertPanel.append(alertHead, alertList);
  const eventPanel = el('section', 'ck-panel');
  const eventHead = el('h2', 'ck-panel-title');
  const eventBody = el('div'); eventBody.id = 'ck-events';
  eventPanel.append(eventHead, eventBody);
  side.append(alertPanel, eventPanel);
  body.append(mapPanel, side);
  const msg = el('p', 'ck-msg'); msg.id = 'ck-msg'; msg.hidden = true;
  root.append(head, msg, tiles, body);

  // ------------------------------------------------------------------ map
  // Made once the tiles above it are on the page (startMap, from renderTiles): the map's
  // box then has its size, so WebGL's drawing buffer is allocated once (each resize
  // reallocates it, a tenth of a second or more in software WebGL) and the first view is
  // fitted to the right height.
  const styleUrl = `${window.location.origin}/styles/basemap.json`;
  let map = null;
  let mapIsReady;
  const mapReady = new Promise((resolve) => { mapIsReady = resolve; });
  // The viewer's basemap style (js/map.js), read from the answers index.html asked for
  // before the modules loaded, its TileJSON written in: asked for now, used by startMap.
  const style = ctx.style ? Promise.resolve().then(() => ctx.style()).catch(() => styleUrl) : Promise.resolve(styleUrl);

  function startMap() {
    if (map) return;
    // The first view is the district (the areas' fit below then hardly moves it), so the
    // first basemap tiles asked for are the ones drawn.
    map = new maplibregl.Map({
      container: mapDiv, bounds: DISTRICT_BOUNDS, fitBoundsOptions: { padding: 24 },
      attributionControl: { compact: true }, fadeDuration: 0,
      localIdeographFontFamily: "'Noto Sans CJK SC', 'Source Han Sans SC', 'Microsoft YaHei', sans-serif",
    });
    controller.map = map;
    style.then((s) => {
      const b = typeof s === 'object' ? s.sources?.basemap?.bounds : null;
      if (Array.isArray(b) && b.length === 4) map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 24, duration: 0 });
      map.setStyle(s);
    });
    map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-right');
    // On the style's load, not the map's (which waits for the first full render): the data
    // join the first render instead of a second one.
    map.once('style.load', () => {
      map.addSource('ck-areas', { type: 'geojson', data: EMPTY });
      // The areas are labelled by the cockpit's own layer (short names, over the colours).
      if (map.getLayer('place-label')) map.setLayoutProperty('place-label', 'visibility', 'none');
      performance.mark('cockpit-map-load');
      // Under the basemap's labels, so names stay readable over the colours.
      const firstSymbol = (map.getStyle().layers || []).find((l) => l.type === 'symbol');
      const before = firstSymbol ? firstSymbol.id : undefined;
      map.addLayer({ id: 'ck-fill', type: 'fill', source: 'ck-areas', paint: { 'fill-color': NO_DATA, 'fill-opacity': 0.72 } }, before);
      map.addLayer({ id: 'ck-line', type: 'line', source: 'ck-areas', paint: { 'line-color': '#ffffff', 'line-width': 1 } }, before);
      map.addLayer({ id: 'ck-label', type: 'symbol', source: 'ck-areas',
        layout: { 'text-field': ['coalesce', ['get', 'short'], ''], 'text-size': 12, 'text-font': ['Noto Sans Regular'] },
        paint: { 'text-color': '#1f2933', 'text-halo-color': '#ffffff', 'text-halo-width': 1.4 } });
      mapIsReady(true);
    });
    map.on('click', 'ck-fill', (e) => {
      const f = e.features && e.features[0];
      if (!f) return;
      const p = f.properties;
      const lvl = state.values && state.values.level;
      if (lvl === 'subdistrict' || lvl === 'community') { setArea(p.code, p.name); return; }
      new maplibregl.Popup().setLngLat(e.lngLat)
        .setText(`${p.name || p.code}: ${fmt(p.value === 'null' ? null : p.value, lang())}`).addTo(map);
    });
    map.on('mouseenter', 'ck-fill', () => { map.getCanvas().style.cursor = 'pointer'; });
    map.on('mouseleave', 'ck-fill', () => { map.getCanvas().style.cursor = ''; });
  }

  // ------------------------------------------------------------------ labels
  function relabel() {
    h1.textContent = t('ck_title');
    rangeText.textContent = t('ck_range');
    levelText.textContent = t('ck_level');
    for (const o of rangeSel.options) o.textContent = t(`ck_r${o.value}`);
    for (const o of levelSel.options) o.textContent = t(`ck_l_${o.value}`);
    mapBtn.textContent = t('ck_map');
    mapBtn.title = t('ck_map');
    alertHead.textContent = t('ck_alerts');
    eventHead.textContent = t('ck_events');
    hint.textContent = t('ck_click_hint');
    renderCrumbs();
  }

  function renderCrumbs() {
    crumbs.innerHTML = '';
    const parts = [{ code: null, name: t('ck_district') }, ...state.trail];
    parts.forEach((p, i) => {
      if (i) crumbs.appendChild(el('span', 'ck-sep', '›'));
      const b = el('button', 'ck-crumb', p.name); b.type = 'button'; b.dataset.code = p.code || '';
      if (i === parts.length - 1) b.setAttribute('aria-current', 'page');
      b.addEventListener('click', () => setArea(p.code, p.name));
      crumbs.appendChild(b);
    });
  }

  function showMsg(text) { msg.textContent = text || ''; msg.hidden = !text; }

  // ------------------------------------------------------------------ data
  function rangeParams() {
    if (!state.asOf) return { freq: state.freq };
    return RANGES[state.range](state.asOf);
  }

  function areaLevel() {
    if (!state.area) return 'district';
    return state.area.length > 9 ? 'community' : 'subdistrict';
  }

  function mapLevel() {
    // Drilling in shows the next level down inside the chosen area.
    const order = ['subdistrict', 'community', 'block'];
    let lvl = state.level;
    if (areaLevel() === 'subdistrict' && lvl === 'subdistrict') lvl = 'community';
    if (areaLevel() === 'community' && lvl !== 'block') lvl = 'block';
    return order.includes(lvl) ? lvl : 'subdistrict';
  }

  async function loadSummary() {
    const rp = rangeParams();
    const doc = await getJSON(api, '/indicators/summary', { level: areaLevel(), code: state.area, ...rp });
    state.summary = doc;
    if (!state.asOf && doc.as_of) state.asOf = doc.as_of;
    state.from = doc.from; state.to = doc.to; state.freq = doc.freq || rp.freq;
    period.textContent = doc.from && doc.to ? `${doc.from} – ${doc.to}` : '';
    if (!state.indicator || !doc.items.some((i) => i.id === state.indicator)) state.indicator = doc.items[0]?.id || null;
    renderTiles();
  }

  function renderTiles() {
    tiles.innerHTML = '';
    const items = state.summary ? state.summary.items : [];
    for (const item of items) {
      const b = tile(item, { t, lang: lang(), selected: item.id === state.indicator });
      b.addEventListener('click', () => choose(item.id));
      tiles.appendChild(b);
    }
    tiles.appendChild(alertTile);
    renderAlertTile();
    if (items.length) startMap();
    // User Timing marks read by bench/bench_viewer.py: the tiles' first paint, then the
    // whole page interactive (map drawn and idle, events and alerts in).
    if (items.length && !performance.getEntriesByName('cockpit-tiles').length) performance.mark('cockpit-tiles');
  }

  async function loadMap() {
    if (!state.indicator) return;
    const lvl = mapLevel();
    const rp = rangeParams();
    const params = { level: lvl, from: state.from || rp.from, to: state.to || rp.to, freq: state.freq, f: 'geojson' };
    if (lvl === 'block' && state.area) params.code = state.area;
    const fc = await getJSON(api, `/indicators/${encodeURIComponent(state.indicator)}`, params);
    // Areas inside the chosen one: codes of communities start with their subdistrict's.
    const feats = (fc.features || []).filter((f) => lvl === 'block' || !state.area
      || String(f.properties.code || '').startsWith(state.area));
    for (const f of feats) {
      const p = f.properties;
      p.short = lvl === 'block' ? '' : String(p.name || '').replace(/(街道|社区居民委员会|社区)$/, '');
    }
    state.values = { level: lvl, features: feats, unit: fc.unit };
    await mapReady;
    const item = (state.summary?.items || []).find((i) => i.id === state.indicator) || {};
    const ramp = item.direction === 'lower_is_better' ? RAMP_BAD : RAMP_GOOD;
    const br = breaks(feats.map((f) => f.properties.value), ramp.length);
    const step = br.length ? ['step', ['to-number', ['get', 'value'], 0], ramp[0]] : ramp[2];
    br.forEach((b, i) => { step.push(b, ramp[Math.min(i + 1, ramp.length - 1)]); });
    map.setPaintProperty('ck-fill', 'fill-color', ['case', ['==', ['get', 'value'], null], NO_DATA, step]);
    map.setPaintProperty('ck-line', 'line-color', lvl === 'block' ? 'rgba(255,255,255,0.6)' : '#ffffff');
    map.getSource('ck-areas').setData({ type: 'FeatureCollection', features: feats });
    mapHead.textContent = `${title(item, lang())} · ${t(`ck_l_${lvl}`)}`;
    renderLegend(br, ramp, unit(item.unit || fc.unit || '', lang()));
    fit(feats);
    state.mapLoads += 1;
  }

  function renderLegend(br, ramp, unit) {
    legend.innerHTML = '';
    legend.appendChild(el('span', 'ck-legend-title', `${t('ck_legend')}${unit ? ` (${unit})` : ''}`));
    const vals = (state.values?.features || []).map((f) => f.properties.value).filter((v) => v !== null && v !== undefined);
    const lo = vals.length ? Math.min(...vals) : null;
    const edges = [lo, ...br];
    edges.forEach((e, i) => {
      const row = el('span', 'ck-legend-row');
      const sw = el('i'); sw.style.background = ramp[Math.min(i, ramp.length - 1)];
      row.append(sw, document.createTextNode(`≥ ${fmt(e, lang())}`));
      legend.appendChild(row);
    });
    const nd = el('span', 'ck-legend-row'); const sw = el('i'); sw.style.background = NO_DATA;
    nd.append(sw, document.createTextNode(t('ck_suppressed'))); legend.appendChild(nd);
  }

  function fit(feats) {
    let x0 = Infinity; let y0 = Infinity; let x1 = -Infinity; let y1 = -Infinity;
    const walk = (c) => {
      if (typeof c[0] === 'number') { x0 = Math.min(x0, c[0]); y0 = Math.min(y0, c[1]); x1 = Math.max(x1, c[0]); y1 = Math.max(y1, c[1]); return; }
      for (const d of c) walk(d);
    };
    for (const f of feats) if (f.geometry) walk(f.geometry.coordinates);
    // The tiles above may have just changed the map's height, and MapLibre hears of it only
    // at the next frame (ResizeObserver): fit to the size the map has now.
    const box = map.getContainer(); const canvas = map.getCanvas();
    if (box.clientWidth !== canvas.clientWidth || box.clientHeight !== canvas.clientHeight) map.resize();
    if (Number.isFinite(x0)) map.fitBounds([[x0, y0], [x1, y1]], { padding: 24, duration: 0 });
  }

  async function loadEvents() {
    try {
      const doc = await getJSON(api, '/viewer/api/events/categories', { day: state.to || state.asOf, code: state.area });
      state.eventsDoc = doc;
      eventBody.innerHTML = '';
      eventBody.appendChild(eventBars(doc, { t, lang: lang() }));
    } catch (e) {
      eventBody.textContent = e.status === 404 || e.status === 401 ? t('ck_events_need') : `${t('ck_error')}: ${e.message}`;
    }
  }

  // ------------------------------------------------------------------ alerts (SSE)
  const KIND = { zh: { threshold: '超阈值', offline: '设备离线', indicator: '指标' }, en: {} };
  // Indicator alerts carry `indicator`, `code`, `name`, `title` when pushed; the listed ones
  // (GET /alerts) only their sensor_id `indicator:<id>:<code>:<op><value>` (docs/indicators.md).
  function indicatorParts(a) {
    const m = /^indicator:([^:]+):([^:]+):/.exec(String(a.sensor_id || ''));
    return { id: a.indicator || (m && m[1]) || '', code: a.code || (m && m[2]) || '' };
  }

  function alertText(a) {
    let where = a.sensor_id || '';
    if (a.kind === 'indicator') {
      const p = indicatorParts(a);
      const item = (state.summary?.items || []).find((i) => i.id === p.id);
      const name = a.title ? title(a, lang()) : item ? title(item, lang()) : p.id;
      where = `${name} · ${a.name || p.code}${a.value !== undefined && a.value !== null ? ` ${fmt(a.value, lang())}` : ''}`;
    }
    return `L${a.level ?? '?'} · ${(KIND[lang()] || {})[a.kind] || a.kind || ''} · ${where}`;
  }

  function inArea(a) {
    if (!state.area) return true;
    const code = a.kind === 'indicator' ? indicatorParts(a).code : (a.code || a.subdistrict_code || a.community_code);
    return !code || String(code).startsWith(state.area) || state.area.startsWith(String(code));
  }

  function renderAlertTile() {
    const active = [...state.alerts.values()].filter(inArea);
    alertTile.innerHTML = '';
    alertTile.dataset.count = String(active.length);
    alertTile.classList.toggle('alarm', active.length > 0);
    const h = el('span', 'ck-tile-title', t('ck_alerts'));
    const v = el('span', 'ck-tile-value'); const n = el('b', null, String(active.length)); n.id = 'ck-alert-count';
    v.appendChild(n);
    const last = active.sort((a, b) => String(b.started_at || b.id).localeCompare(String(a.started_at || a.id)))[0];
    const foot = el('span', 'ck-tile-foot ck-alert-last', last ? alertText(last) : t('ck_alerts_none'));
    alertTile.append(h, v, foot);
    alertList.innerHTML = '';
    if (!active.length) { alertList.appendChild(el('li', 'ck-empty', t('ck_alerts_none'))); return; }
    for (const a of active.sort((x, y) => (y.level ?? 0) - (x.level ?? 0))) {
      const li = el('li', `lvl${a.level ?? 0}`, alertText(a)); li.dataset.alertId = String(a.id);
      alertList.appendChild(li);
    }
  }

  function onAlert(d) {
    if (d.state === 'active' || d.active === true) state.alerts.set(d.id, { ...(state.alerts.get(d.id) || {}), ...d });
    else state.alerts.delete(d.id);
    renderAlertTile();
  }

  async function loadAlerts() {
    if (state.es) { state.es.close(); state.es = null; }
    clearInterval(state.poll);
    state.alerts.clear();
    const role = api.role ? api.role() : null;
    try {
      const fc = await getJSON(api, '/alerts', { active: 'true' });
      for (const f of fc.features || []) onAlert({ ...f.properties, id: f.id ?? f.properties.id, state: 'active' });
    } catch (e) {
      alertList.innerHTML = ''; alertList.appendChild(el('li', 'ck-empty', t('ck_alerts_need')));
      return;
    }
    renderAlertTile();
    const key = api.key ? api.key() : '';
    if (STREAM_ROLES.has(role) && key) {
      const es = new EventSource(`/alerts/stream?api_key=${encodeURIComponent(key)}`);
      es.addEventListener('alert', (ev) => { try { onAlert(JSON.parse(ev.data)); } catch (err) { /* a malformed frame is skipped */ } });
      state.es = es;
    } else {
      // Roles without the stream see the list refreshed every 30 s.
      state.poll = setInterval(() => { loadAlerts().catch(() => {}); }, 30000);
    }
  }

  // ------------------------------------------------------------------ actions
  let seq = 0;
  async function refresh() {
    const my = ++seq;
    showMsg('');
    try {
      await loadSummary();
      if (my !== seq) return;
      await Promise.all([loadMap(), loadEvents()]);
      if (my !== seq) return;
      renderAlertTile();
      state.error = null;
      state.loads += 1;
      if (state.loads === 1) performance.mark('cockpit-data');
    } catch (e) {
      state.error = String(e.message || e);
      showMsg(e.status === 401 || e.status === 403 ? t('ck_need_key') : `${t('ck_error')}: ${e.message || e}`);
      throw e;
    }
  }

  function setArea(code, name) {
    code = code || null;
    if (!code) state.trail = [];
    else {
      const i = state.trail.findIndex((p) => p.code === code);
      if (i >= 0) state.trail = state.trail.slice(0, i + 1);
      else state.trail = [...state.trail.filter((p) => code.startsWith(p.code)), { code, name: name || code }];
    }
    state.area = code;
    renderCrumbs();
    return refresh();
  }

  function setRange(k) { state.range = k; rangeSel.value = k; return refresh(); }
  function setLevel(l) { state.level = l; levelSel.value = l; return loadMap(); }
  function choose(id) { state.indicator = id; renderTiles(); return loadMap(); }

  rangeSel.addEventListener('change', () => { setRange(rangeSel.value).catch(() => {}); });
  levelSel.addEventListener('change', () => { setLevel(levelSel.value).catch(() => {}); });
  mapBtn.addEventListener('click', () => { if (ctx.showMap) ctx.showMap(); });

  relabel();
  function relabelAll() {
    relabel();
    renderTiles();
    if (state.eventsDoc) { eventBody.innerHTML = ''; eventBody.appendChild(eventBars(state.eventsDoc, { t, lang: lang() })); }
    return loadMap();
  }
  const controller = {
    state, map, refresh, setArea, setRange, setLevel, choose, relabel: relabelAll,
    show() { root.hidden = false; if (map) map.resize(); },
    hide() { root.hidden = true; },
    restart() { state.asOf = null; return Promise.all([refresh(), loadAlerts()]); },
    reloadAlerts: loadAlerts,
    destroy() { if (state.es) state.es.close(); clearInterval(state.poll); if (map) map.remove(); root.innerHTML = ''; },
  };
  controller.ready = Promise.all([refresh(), loadAlerts()]).then(() => new Promise((resolve) => {
    if (!map || (map.loaded() && map.areTilesLoaded() && !map.isMoving())) resolve(); else map.once('idle', resolve);
  })).then(() => { performance.mark('cockpit-interactive'); });
  controller.ready.catch((e) => console.warn('cockpit', e));
  if (i18n.onLangChange) i18n.onLangChange(() => { controller.relabel(); });
  window.onemapCockpit = controller;
  return controller;
}

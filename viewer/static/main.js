// OneMap viewer, the entry module: builds the map, starts every view module and wires
// the top bar (search, sign-in, language), the panel's tabs and the time slider.
// Native ES modules, no bundler; MapLibre GL JS comes from npm (/viewer/vendor).
import { api } from './js/api.js';
import { i18n, t, lang, setLang, applyI18n, onLangChange } from './js/i18n.js';
import { basemapStyle, createMap, fitDistrict, installLegend, shownLegends } from './js/map.js';
import { state, setAsOf } from './js/state.js';
import { initTabs, activate } from './js/tabs.js';
import { $, toast } from './js/ui.js';
import * as layers from './js/layers.js';
import * as blocks from './js/blocks.js';
import * as search from './js/search.js';
import * as renewal from './js/renewal.js';
import * as industry from './js/industry.js';
import * as eventmap from './js/eventmap.js';
import { initEvents } from './js/events.js';
import { initPerception } from './js/perception.js';
import * as network from './js/network.js';
import { initHome } from './js/home.js';

// Test and console handle: the views never read it (they import the shared modules).
const onemap = { state, api, t, toast, i18n };
window.onemap = onemap;

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
  s.setAttribute('aria-valuetext', state.asOf);
  s.addEventListener('input', () => {
    const d = state.dates[Number(s.value)];
    $('time-label').textContent = d; s.setAttribute('aria-valuetext', d);
  });
  s.addEventListener('change', () => {
    const d = state.dates[Number(s.value)];
    $('time-label').textContent = d; setAsOf(d);
  });
}

// ---------------------------------------------------------------- top bar
function showAuth() {
  $('role').textContent = api.role();
  const signedIn = !!api.key();
  $('sign-in').hidden = signedIn; $('api-key').hidden = signedIn; $('sign-out').hidden = !signedIn;
}

async function signIn() {
  api.setKey($('api-key').value);
  $('api-key').value = '';
  await layers.loadLayers();
  showAuth();
  await blocks.loadBlocks();
  (api.key() ? $('sign-out') : $('api-key')).focus();
}

async function signOut() {
  api.setKey('');
  await layers.loadLayers();
  showAuth();
  await blocks.loadBlocks();
  $('api-key').focus();
}

function labelLang() {
  const b = $('lang');
  b.textContent = lang() === 'zh' ? 'EN' : '中文';
  b.setAttribute('lang', lang() === 'zh' ? 'en' : 'zh-CN');
  b.setAttribute('aria-label', t('lang_switch'));
  document.title = `${t('app_title')} OneMap`;
}

function wireTopBar() {
  $('lang').addEventListener('click', () => setLang(lang() === 'zh' ? 'en' : 'zh'));
  onLangChange(labelLang);
  const toggle = $('panel-toggle');
  toggle.addEventListener('click', () => {
    const collapsed = $('panel').classList.toggle('collapsed');
    toggle.setAttribute('aria-expanded', collapsed ? 'false' : 'true');
  });
  $('sign-in').addEventListener('click', () => signIn().catch((e) => toast(e.message)));
  $('api-key').addEventListener('keydown', (e) => { if (e.key === 'Enter') signIn().catch((err) => toast(err.message)); });
  $('sign-out').addEventListener('click', () => signOut().catch((e) => toast(e.message)));
  api.onRoleChange(showAuth);
}

// ---------------------------------------------------------------- start
/** The kept key's role from ``GET /layers`` (no map yet); a key the server does not know is forgotten. */
async function readRole() {
  try {
    api.setRole((await api.get('/layers')).role);
  } catch (e) {
    if (e.status !== 401 || !api.key()) throw e;
    toast(t('signin_failed'));
    api.setKey('');
    api.setRole('public');
  }
}

async function init() {
  document.documentElement.lang = lang() === 'zh' ? 'zh-CN' : 'en';
  // The cockpit (department keys) starts at once (docs/cockpit.md).
  onemap.home = initHome({ api, i18n, map: () => onemap.map, style: basemapStyle });
  applyI18n(document);
  labelLang();
  buildDates();
  initTabs(document.querySelector('nav.tabs'));
  wireTopBar();
  if (onemap.home.shown()) {
    // Behind the cockpit the map waits until it is shown: nobody sees it yet, and its
    // start (style, tiles, catalog layers, the block choropleth) would share the page's
    // one MapLibre worker and the software renderer with the cockpit's own map.
    await readRole();
    showAuth();
    onemap.home.settle();
    await new Promise((resolve) => onemap.home.onMapShown(resolve));
  }
  const map = await createMap('map');
  onemap.map = map;
  const ctx = { map, api, i18n, state };
  // Layer order, bottom to top: the block choropleth, the catalog layers, the views'
  // overlays; the labels stay above all of them (js/map.js).
  Object.assign(onemap, blocks.init(ctx));
  Object.assign(onemap, { loadLayers: layers.loadLayers, layerIds: layers.layerIds });
  layers.init(ctx);
  map.addSource('overlays-anchor', { type: 'geojson', data: { type: 'FeatureCollection', features: [] } });
  map.addLayer({ id: 'overlays-anchor', type: 'line', source: 'overlays-anchor' });
  eventmap.init(ctx);
  onemap.industry = industry.init(ctx);
  onemap.loadIndustry = industry.loadIndustry;
  Object.assign(onemap, search.init(ctx));
  Object.assign(onemap, renewal.init(ctx));
  onemap.events = initEvents({ map, api, pane: document.querySelector('section[data-pane=events]') });
  window.onemapPerception = initPerception({ map });
  window.onemapNetwork = network.init(ctx);
  installLegend(map);
  onemap.fitDistrict = () => fitDistrict(map);
  onemap.shownLegends = shownLegends;
  onemap.activateTab = activate;
  // The catalog layers and the block choropleth together (index.html asked for both
  // before the modules loaded); a kept key the server refuses is forgotten by
  // loadLayers, and the choropleth then asked for again without it.
  const choropleth = blocks.loadBlocks().then(() => null, (e) => e);
  await layers.loadLayers();
  showAuth();
  onemap.home.settle();
  const failed = await choropleth;
  if (failed) await blocks.loadBlocks();
}

window.onemapReady = init();
window.onemapReady.catch((e) => { console.error('viewer init failed', e); toast(String(e.message || e)); });

// Which home `/` shows: the cockpit for signed-in department roles, the map for the public.
// The map stays one click away (the cockpit's "地图/Map" switch, `#map` in the URL) and the
// cockpit too (the top bar's "驾驶舱/Cockpit" button, shown to department roles).
import { COCKPIT_ROLES, mount } from '/js/cockpit.js';
import { STRINGS } from '/js/cockpit-tiles.js';

/**
 * Wire the cockpit into the page. ctx = {api, i18n, map, style}: the viewer's api and i18n
 * modules (docs/cockpit.md), its MapLibre map or a function answering it (resized when
 * shown; null until the map has been shown once), and optionally a function answering the
 * basemap style (js/map.js basemapStyle), which the cockpit's map then uses.
 *
 * A page opened with a kept key starts on the cockpit at once, before the server has said
 * the key's role (every key has a department role or admin; the public has no key); a key
 * that turns out to be public or unknown goes back to the map. Signing in on the map keeps
 * the map (the user is working there) and shows the 驾驶舱 button.
 */
export function initHome({ api, i18n, map, style }) {
  i18n.addStrings(STRINGS);  // before the page's first applyI18n: the top bar's button
  const root = document.getElementById('cockpit');
  const button = document.getElementById('to-cockpit');
  const header = document.querySelector('body > header');
  const getMap = () => (typeof map === 'function' ? map() : map);
  let cockpit = null;
  let resolved = api.role() !== 'public';  // the server has answered the key's role

  function place() {
    if (header) document.body.style.setProperty('--ck-top', `${header.getBoundingClientRect().bottom}px`);
  }

  let mapWaiters = [];
  function showMap(chosen = true) {
    document.body.classList.remove('cockpit-on');
    root.hidden = true;
    if (chosen && window.location.hash !== '#map') history.replaceState(null, '', '#map');
    update();
    const m = getMap();
    if (m) m.resize();
    const fns = mapWaiters; mapWaiters = [];
    for (const fn of fns) Promise.resolve().then(fn).catch((e) => console.warn('map', e));
  }

  /** Run ``fn`` when the map is next shown (at once when it is). */
  function onMapShown(fn) {
    if (root.hidden) Promise.resolve().then(fn).catch((e) => console.warn('map', e));
    else mapWaiters.push(fn);
  }

  function showCockpit() {
    if (window.location.hash === '#map') history.replaceState(null, '', window.location.pathname + window.location.search);
    place();
    document.body.classList.add('cockpit-on');
    root.hidden = false;
    if (!cockpit) cockpit = mount(root, { api, i18n, style, showMap: () => showMap(true) });
    else cockpit.show();
    update();
  }

  function update() {
    const dept = COCKPIT_ROLES.has(api.role());
    if (button) button.hidden = !dept || !root.hidden;
    if (resolved && !dept && !root.hidden) showMap(false);
  }

  if (button) button.addEventListener('click', showCockpit);
  window.addEventListener('resize', place);
  /** The server has answered the kept key's role (main.js calls it after the first /layers). */
  function settle() {
    if (resolved) return;
    resolved = true;
    update();
    // The role decides whether alerts come over SSE: start them again once it is known.
    if (cockpit && !root.hidden) cockpit.reloadAlerts().catch(() => {});
  }
  api.onRoleChange(() => {
    if (!resolved) { settle(); return; }
    update();
    if (cockpit && !root.hidden) cockpit.restart().catch(() => {});
  });
  if (api.key() && (resolved ? COCKPIT_ROLES.has(api.role()) : true) && window.location.hash !== '#map') showCockpit();
  else update();
  const home = { showMap, showCockpit, settle, onMapShown, shown: () => !root.hidden,
    get cockpit() { return cockpit; } };
  window.onemapHome = home;
  return home;
}

// Which home `/` shows: the cockpit for signed-in department roles, the map for the public.
// The map stays one click away (the cockpit's "地图/Map" switch, `#map` in the URL) and the
// cockpit too (the top bar's "驾驶舱/Cockpit" button, shown to department roles).
import { COCKPIT_ROLES, mount } from '/js/cockpit.js';

/**
 * Wire the cockpit into the page. ctx = {api, i18n, map}: the viewer's api and i18n modules
 * (docs/cockpit.md) and its MapLibre map (resized when it is shown again).
 */
export function initHome({ api, i18n, map }) {
  const root = document.getElementById('cockpit');
  const button = document.getElementById('to-cockpit');
  let cockpit = null;

  function showMap(chosen = true) {
    document.body.classList.remove('cockpit-on');
    root.hidden = true;
    if (chosen && window.location.hash !== '#map') history.replaceState(null, '', '#map');
    update();
    if (map) map.resize();
  }

  function showCockpit() {
    if (window.location.hash === '#map') history.replaceState(null, '', window.location.pathname + window.location.search);
    document.body.classList.add('cockpit-on');
    root.hidden = false;
    if (!cockpit) cockpit = mount(root, { api, i18n, showMap: () => showMap(true) });
    else cockpit.show();
    update();
  }

  function update() {
    const dept = COCKPIT_ROLES.has(api.role());
    if (button) button.hidden = !dept || !root.hidden;
    if (!dept && !root.hidden) showMap(false);
  }

  if (button) button.addEventListener('click', showCockpit);
  // Signing in on the map keeps the map (the user is working there); the 驾驶舱 button
  // appears. A page opened with a department key starts on the cockpit.
  api.onRoleChange(() => {
    update();
    if (cockpit && !root.hidden) cockpit.restart().catch(() => {});
  });
  if (COCKPIT_ROLES.has(api.role()) && window.location.hash !== '#map') showCockpit();
  else update();
  const home = { showMap, showCockpit, get cockpit() { return cockpit; } };
  window.onemapHome = home;
  return home;
}

// Until the viewer is split into modules (js/api.js, js/i18n.js), the cockpit's ctx is built
// from the single-file viewer's window.onemap.
import { STRINGS } from '/js/cockpit-tiles.js';
import { initHome } from '/js/home.js';

await window.onemapReady;
const o = window.onemap;
const listeners = [];
new MutationObserver(() => listeners.forEach((fn) => fn())).observe(document.getElementById('role'), { childList: true, characterData: true, subtree: true });
const api = {
  async get(path, params = {}) {
    const q = new URLSearchParams(params).toString();
    return o.api(q ? `${path}?${q}` : path);
  },
  role: () => o.state.role,
  key: () => o.state.key,
  onRoleChange: (fn) => listeners.push(fn),
};
const i18n = {
  t: (k) => (STRINGS[o.state.lang] || STRINGS.zh)[k] ?? o.t(k),
  lang: () => o.state.lang,
};
const home = initHome({ api, i18n, map: o.map });
// The top bar's language button: the cockpit writes its labels again.
document.getElementById('lang').addEventListener('click', () => { if (home.cockpit) home.cockpit.relabel(); });

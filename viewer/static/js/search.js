// Address search: suggestions from /address/geocode as the user types (a combobox:
// arrow keys move through them, Enter picks, Escape closes), then a marker and a flight.
import { api } from './api.js';
import { t } from './i18n.js';
import { maplibregl } from './map.js';
import { state } from './state.js';
import { $ } from './ui.js';

let map = null;
let marker = null;
let timer = null;
let suggestions = [];
let active = -1;

function setActive(i) {
  const items = [...$('suggestions').querySelectorAll('li[data-index]')];
  active = items.length ? (i + items.length) % items.length : -1;
  items.forEach((li, j) => {
    li.classList.toggle('active', j === active);
    li.setAttribute('aria-selected', j === active ? 'true' : 'false');
  });
  const input = $('search');
  if (active >= 0) input.setAttribute('aria-activedescendant', items[active].id);
  else input.removeAttribute('aria-activedescendant');
}

function close() {
  $('suggestions').hidden = true;
  $('search').setAttribute('aria-expanded', 'false');
  $('search').removeAttribute('aria-activedescendant');
  active = -1;
}

/** Suggest addresses for ``q`` under the search box. */
export async function suggest(q) {
  if (!q.trim()) { close(); return []; }
  const fc = await api.get('/address/geocode', { q, limit: '6' });
  suggestions = fc.features || [];
  const ul = $('suggestions');
  ul.textContent = '';
  if (!suggestions.length) {
    const li = document.createElement('li'); li.textContent = t('no_result'); li.setAttribute('role', 'option');
    li.setAttribute('aria-disabled', 'true'); ul.append(li);
  }
  suggestions.forEach((f, i) => {
    const li = document.createElement('li');
    li.textContent = f.properties.address;
    li.dataset.index = String(i);
    li.id = `suggestion-${i}`;
    li.setAttribute('role', 'option');
    li.addEventListener('mousedown', (e) => { e.preventDefault(); goTo(f); });
    ul.append(li);
  });
  ul.hidden = false;
  $('search').setAttribute('aria-expanded', 'true');
  active = -1;
  return suggestions;
}

/** Fly to a geocoded feature and mark it. */
export function goTo(f) {
  const [lon, lat] = f.geometry.coordinates;
  $('search').value = f.properties.address;
  close();
  marker.setLngLat([lon, lat]).addTo(map);
  map.flyTo({ center: [lon, lat], zoom: f.properties.level === 'subdistrict' ? 14 : 16.5, duration: 800 });
  state.lastSearch = { lon, lat, address: f.properties.address };
}

/** Start the search box. */
export function init(ctx) {
  map = ctx.map;
  marker = new maplibregl.Marker({ color: '#b2182b' });
  const input = $('search');
  input.addEventListener('input', (e) => {
    clearTimeout(timer); timer = setTimeout(() => suggest(e.target.value), 150);
  });
  input.addEventListener('keydown', async (e) => {
    const open = !$('suggestions').hidden && suggestions.length;
    if (e.key === 'ArrowDown' && open) { e.preventDefault(); setActive(active + 1); return; }
    if (e.key === 'ArrowUp' && open) { e.preventDefault(); setActive(active - 1); return; }
    if (e.key === 'Escape') { close(); return; }
    if (e.key === 'Enter') {
      e.preventDefault();
      if (open && active >= 0) { goTo(suggestions[active]); return; }
      await suggest(e.target.value);
      if (suggestions.length) goTo(suggestions[0]);
    }
  });
  input.addEventListener('blur', () => setTimeout(close, 150));
  return { suggest, goTo };
}

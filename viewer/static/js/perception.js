// Perception view: sensors coloured by alert state, live from the SSE stream (no polling),
// a 24 h sparkline on click, active alerts with their areas, and the impact panel.
import { api } from './api.js';
import { t } from './i18n.js';
import { setLegend } from './map.js';
import { on } from './state.js';
import { $, clickable } from './ui.js';

const COLORS = ['#2e7d32', '#f9a825', '#ef6c00', '#c62828'];

/** Start the perception view on ``map``; its sensors and alerts load when the tab opens. */
export function initPerception({ map }) {
  const view = { sensors: null, areas: new Map(), alerts: new Map(), es: null };

  map.addSource('perception-sensors', { type: 'geojson', data: { type: 'FeatureCollection', features: [] }, promoteId: 'id' });
  map.addSource('perception-areas', { type: 'geojson', data: { type: 'FeatureCollection', features: [] } });
  map.addLayer({ id: 'perception-areas', type: 'fill', source: 'perception-areas', layout: { visibility: 'none' },
    paint: { 'fill-color': '#c62828', 'fill-opacity': 0.35, 'fill-outline-color': '#8e0000' } });
  map.addLayer({ id: 'perception-sensors', type: 'circle', source: 'perception-sensors', layout: { visibility: 'none' },
    paint: {
      'circle-radius': ['case', ['>', ['get', 'alert'], 0], 8, 5],
      'circle-color': ['match', ['get', 'alert'], 0, COLORS[0], 1, COLORS[1], 2, COLORS[2], COLORS[3]],
      'circle-stroke-color': '#fff', 'circle-stroke-width': 1,
    } });

  function setVisible(on) {
    for (const id of ['perception-areas', 'perception-sensors']) map.setLayoutProperty(id, 'visibility', on ? 'visible' : 'none');
  }

  async function loadSensors() {
    view.sensors = await api.get('/ogc/collections/sensors/items', { limit: 2000, f: 'json' });
    for (const f of view.sensors.features) f.properties.alert = f.properties.alert || 0;
    map.getSource('perception-sensors').setData(view.sensors);
  }

  function drawAreas() {
    map.getSource('perception-areas').setData({ type: 'FeatureCollection',
      features: [...view.areas.entries()].map(([id, g]) => ({ type: 'Feature', id, geometry: g, properties: { alert_id: id } })) });
  }

  function renderAlerts() {
    const ul = $('alert-list');
    ul.innerHTML = '';
    for (const a of view.alerts.values()) {
      const li = document.createElement('li');
      li.dataset.alertId = a.id;
      li.textContent = `#${a.id} ${a.sensor_id} · L${a.level} · ${a.kind}` + (a.impact ? ` · ${t('buildings')} ${a.impact.buildings} · ${t('persons')} ${a.impact.persons}` : '');
      clickable(li, () => showImpact(a));
      ul.appendChild(li);
    }
    $('alert-count').textContent = String(view.alerts.size);
  }

  function showImpact(a) {
    const p = $('impact-panel');
    if (!a.impact) { p.textContent = `${a.sensor_id}: ${a.kind}`; return; }
    const i = a.impact;
    p.innerHTML = '';
    const rows = [['buildings', i.buildings], ['persons', i.persons], ['65+', i.persons_65_plus],
      ['<15', i.children_under_15], ['households', i.households], ['enterprises', i.enterprises],
      ['facilities', i.facilities.length], ['roads', i.roads.length], ['ms', i.computed_ms]];
    for (const [k, v] of rows) {
      const d = document.createElement('div'); d.className = 'kpi';
      d.innerHTML = `<b></b><span></span>`; d.querySelector('b').textContent = v; d.querySelector('span').textContent = t(k);
      p.appendChild(d);
    }
    const fl = document.createElement('ul');
    for (const f of i.facilities) { const li = document.createElement('li'); li.textContent = `${f.name} (${f.type})`; fl.appendChild(li); }
    p.appendChild(fl);
  }

  function onAlert(d) {
    const f = view.sensors && view.sensors.features.find((x) => x.id === d.sensor_id);
    if (d.state === 'active') {
      const prev = view.alerts.get(d.id) || {};
      view.alerts.set(d.id, { ...prev, ...d, impact: d.impact || prev.impact });
      if (d.impact && d.impact.area) view.areas.set(d.id, d.impact.area);
    } else {
      view.alerts.delete(d.id); view.areas.delete(d.id);
    }
    if (f) {
      const levels = [...view.alerts.values()].filter((a) => a.sensor_id === d.sensor_id).map((a) => a.level);
      f.properties.alert = levels.length ? Math.max(...levels) : 0;
      if (d.value != null) f.properties.last_value = d.value;
      map.getSource('perception-sensors').setData(view.sensors);
    }
    drawAreas(); renderAlerts();
  }

  async function loadActive() {
    try {
      const fc = await api.get('/alerts', { active: 'true' });
      for (const f of fc.features) view.alerts.set(f.properties.id, f.properties);
      renderAlerts();
    } catch (e) { /* public role: no alert list */ }
  }

  function connect() {
    if (view.es) { view.es.close(); view.es = null; }
    if (!api.key()) { $('perception-msg').textContent = t('alerts_need_key'); return; }
    $('perception-msg').textContent = '';
    // EventSource cannot send headers: the key goes in the query (same-origin, TLS in production).
    view.es = new EventSource(api.url('/alerts/stream', {}, true));
    view.es.addEventListener('alert', (e) => onAlert(JSON.parse(e.data)));
  }

  async function sparkline(id) {
    const d = await api.get(`/sensors/${encodeURIComponent(id)}/readings`, { hours: 24 });
    const svg = $('sparkline');
    svg.innerHTML = '';
    if (!d.value.length) return;
    const lo = Math.min(...d.value), hi = Math.max(...d.value), n = d.value.length;
    const pts = d.value.map((v, i) => `${(i / Math.max(n - 1, 1)) * 200},${40 - ((v - lo) / (hi - lo || 1)) * 36 - 2}`).join(' ');
    const pl = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
    pl.setAttribute('points', pts); pl.setAttribute('fill', 'none'); pl.setAttribute('stroke', '#3b6fb6');
    svg.appendChild(pl);
    $('sparkline-label').textContent = `${id}: ${d.value[n - 1]} (${n})`;
  }

  map.on('click', 'perception-sensors', (e) => { if (e.features.length) sparkline(e.features[0].properties.id); });

  async function start() {
    setVisible(true);
    setLegend('perception', { title: 'lg_sensors', kind: 'circle', layers: ['perception-sensors', 'perception-areas'],
      classes: [...COLORS.map((color, i) => ({ color, label: `lg_alert${i}`, stroke: '#fff' })),
        { color: '#c62828', label: 'lg_alert_area', shape: 'fill' }] });
    await loadSensors();
    await loadActive();
    connect();
  }

  on('tab', (id) => { if (id === 'perception') start(); });
  api.onRoleChange(() => { if (view.es || view.sensors) connect(); });
  return { view, start, setVisible, connect, onAlert };
}

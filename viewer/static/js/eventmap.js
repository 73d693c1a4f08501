// The events pane's map: a heat map of the events (GET /viewer/api/events) filtered by
// category and dates; departments only (the public gets 404 and a hint). The pane's
// case handling (triage, cases, hot spots, scorecard) is js/events.js.
import { api } from './api.js';
import { t } from './i18n.js';
import { setLegend, removeLegend } from './map.js';
import { state, on } from './state.js';
import { $ } from './ui.js';

const EMPTY = { type: 'FeatureCollection', features: [] };
// Sequential heat colours (ColorBrewer YlOrRd) from transparent to dark red.
const HEAT = ['rgba(255,255,178,0)', '#fecc5c', '#fd8d3c', '#f03b20', '#bd0026'];
let map = null;

/** Load the events that pass the pane's filters into the heat map. */
export async function loadEvents() {
  const p = { category: $('ev-cat').value, start: $('ev-start').value, end: $('ev-end').value };
  try {
    const fc = await api.get('/viewer/api/events', p);
    const sel = $('ev-cat');
    if (sel.options.length <= 1) for (const c of fc.categories) sel.add(new Option(c, c));
    map.getSource('events-heat').setData(fc);
    state.events = fc;
    map.setLayoutProperty('events-heat', 'visibility', 'visible');
    $('ev-msg').textContent = `${fc.features.length}`;
    setLegend('events-heat', { title: 'lg_events', unit: 'lg_events_note', kind: 'ramp', layers: ['events-heat'],
      classes: [{ color: HEAT[1], label: 'lg_low' }, ...HEAT.slice(2, 4).map((color) => ({ color, label: '' })),
        { color: HEAT[4], label: 'lg_high' }], note: `${fc.features.length} ${t('u_events')}` });
    return fc;
  } catch (e) {
    if (e.status !== 404) throw e;
    map.getSource('events-heat').setData(EMPTY);
    removeLegend('events-heat');
    $('ev-msg').textContent = t('events_need_key');
    return null;
  }
}

/** Start the events heat map (hidden until the events tab opens). */
export function init(ctx) {
  map = ctx.map;
  map.addSource('events-heat', { type: 'geojson', data: EMPTY });
  map.addLayer({ id: 'events-heat', type: 'heatmap', source: 'events-heat', layout: { visibility: 'none' },
    paint: { 'heatmap-radius': 18, 'heatmap-intensity': 1, 'heatmap-opacity': 0.8,
      'heatmap-color': ['interpolate', ['linear'], ['heatmap-density'], 0, HEAT[0], 0.2, HEAT[1], 0.4, HEAT[2],
        0.7, HEAT[3], 1, HEAT[4]] } });
  for (const id of ['ev-cat', 'ev-start', 'ev-end']) $(id).addEventListener('change', loadEvents);
  on('tab', (id) => { if (id === 'events') loadEvents(); });
  api.onRoleChange(() => { if (state.tab === 'events') loadEvents(); });
  return { loadEvents };
}

// The industrial-space one map (产业空间一张图): the spaces filtered by area, use, rent and
// vacancy (GET /viewer/api/industrial) with their list, the type filter and colouring of
// the spaces, each building's spaces with rent/vacancy sparklines, the space-matching
// form with its explained ranking and the shortlist report, and supply vs demand
// per subdistrict.
import { api } from './api.js';
import { t, addStrings } from './i18n.js';
import { setLegend, removeLegend } from './map.js';
import { state, on } from './state.js';
import { $, el, toast, clickable } from './ui.js';

const NS = 'http://www.w3.org/2000/svg';
const TYPES = ['创新型产业用房', '政府物业', '产业园区', '社会物业'];
const USES = ['研发', '办公', '生产', '仓储', '商业'];
const NEEDS = ['near_arterial', 'near_similar', 'ground_floor'];
const SECTIONS = 'ABCDEFGHIJKLMNOPQRST'.split('');

const ind = { type: '', colour: 'vacancy', demand: null, result: null };
const w = (k) => t(`ind.${k}`);
let map = null;

const WORDS = {
  zh: {
    type: '类型', use: '用途', colour: '着色', by_vacancy: '按空置率', by_rent: '按租金', trend: '全区空置率（季度）',
    match: '空间匹配', area_min: '最小面积 m²', area_max: '最大面积 m²', max_rent: '最高租金', move_in: '入驻日期',
    industry: '行业', needs: '需求', near_arterial: '临主干道', near_similar: '同业集聚', ground_floor: '首层/承重',
    run: '匹配', export: '导出推荐清单', none: '无匹配空间', combined: '合并', score: '得分',
    supply: '供需（按街道）', vacant: '空置 m²', occupied: '在用 m²', rate: '空置率', subdistrict: '街道',
    spaces_here: '本楼产业空间', lists: '企业服务清单', at_risk: '外迁风险企业', eligible: '政策匹配企业', found: '家企业', trend_short: '走势', rent: '租金', vacancy: '空置率', pick_one: '请勾选至少一处空间',
  },
  en: {
    type: 'Type', use: 'Use', colour: 'Colour', by_vacancy: 'by vacancy', by_rent: 'by rent', trend: 'District vacancy (quarters)',
    match: 'Space matching', area_min: 'Min area m²', area_max: 'Max area m²', max_rent: 'Max rent', move_in: 'Move-in',
    industry: 'Industry', needs: 'Needs', near_arterial: 'Near arterial', near_similar: 'Near similar', ground_floor: 'Ground floor',
    run: 'Match', export: 'Export shortlist', none: 'No matching space', combined: 'combined', score: 'Score',
    supply: 'Supply and demand', vacant: 'Vacant m²', occupied: 'Occupied m²', rate: 'Vacancy', subdistrict: 'Subdistrict',
    spaces_here: 'Spaces in this building', lists: 'Service lists', at_risk: 'At risk of leaving', eligible: 'Eligible for', found: 'enterprises', trend_short: 'Trend', rent: 'Rent', vacancy: 'Vacancy', pick_one: 'Tick at least one space',
  },
};

addStrings(Object.fromEntries(Object.entries(WORDS).map(([l, d]) =>
  [l, Object.fromEntries(Object.entries(d).map(([k, v]) => [`ind.${k}`, v]))])));

function labelled(key, input) {
  const l = el('label'); l.append(el('span', { 'data-i18n': `ind.${key}`, text: w(key) }), input); return l;
}

function select(id, values, first) {
  const s = el('select', { id });
  if (first !== undefined) s.add(new Option(first, ''));
  for (const v of values) s.add(new Option(v, v));
  return s;
}

// A sparkline of values (nulls skipped) as inline SVG.
export function sparkline(values, color = '#3b6fb6', width = 120, height = 26) {
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('width', width); svg.setAttribute('height', height); svg.classList.add('spark');
  const v = values.map((x) => (x == null ? null : Number(x)));
  const ok = v.filter((x) => x != null);
  if (ok.length < 1) return svg;
  const lo = Math.min(...ok), hi = Math.max(...ok), span = hi - lo || 1;
  const pts = v.map((x, i) => (x == null ? null
    : `${(i / Math.max(v.length - 1, 1)) * (width - 2) + 1},${height - 2 - ((x - lo) / span) * (height - 4)}`))
    .filter(Boolean).join(' ');
  const line = document.createElementNS(NS, 'polyline');
  line.setAttribute('points', pts); line.setAttribute('fill', 'none');
  line.setAttribute('stroke', color); line.setAttribute('stroke-width', '1.5');
  svg.append(line);
  return svg;
}

function bars(rows, keys, colors, width = 300) {
  const row = 18, svg = document.createElementNS(NS, 'svg');
  const top = Math.max(1, ...rows.flatMap((r) => keys.map((k) => r[k] || 0)));
  svg.setAttribute('width', width); svg.setAttribute('height', rows.length * row * keys.length + 4);
  let y = 2;
  for (const r of rows) {
    keys.forEach((k, i) => {
      const rect = document.createElementNS(NS, 'rect');
      rect.setAttribute('x', 90); rect.setAttribute('y', y); rect.setAttribute('height', row - 4);
      rect.setAttribute('width', Math.max(1, ((r[k] || 0) / top) * (width - 100))); rect.setAttribute('fill', colors[i]);
      svg.append(rect);
      if (i === 0) {
        const tx = document.createElementNS(NS, 'text');
        tx.setAttribute('x', 0); tx.setAttribute('y', y + 12); tx.setAttribute('font-size', '11');
        tx.textContent = r.label; svg.append(tx);
      }
      y += row;
    });
  }
  return svg;
}

// ------------------------------------------------------------ the space map
// Four classes each, so the legend can name the breaks: vacancy on a green–red scale
// (ColorBrewer RdYlGn), rent on an orange–red one (OrRd).
const CLASSES = {
  vacancy: { prop: 'vacancy_rate', breaks: [0.1, 0.2, 0.4], colours: ['#1a9850', '#fee08b', '#fc8d59', '#d73027'],
    unit: 'u_percent', title: 'lg_industry_vacancy', fmt: (x) => `${Math.round(x * 100)}` },
  rent: { prop: 'rent', breaks: [60, 100, 150], colours: ['#fef0d9', '#fdcc8a', '#fc8d59', '#d7301f'],
    unit: 'u_rent', title: 'lg_industry_rent', fmt: (x) => String(x) },
};

function colourExpr() {
  const c = CLASSES[ind.colour] || CLASSES.vacancy;
  const step = ['step', ['to-number', ['get', c.prop], 0], c.colours[0]];
  c.breaks.forEach((b, i) => step.push(b, c.colours[i + 1]));
  return step;
}

function applyColour() {
  if (!map.getLayer('industry')) return;
  map.setPaintProperty('industry', 'circle-color', colourExpr());
  const c = CLASSES[ind.colour] || CLASSES.vacancy;
  const classes = c.colours.map((color, i) => ({ color, stroke: '#4d3800',
    label: i === 0 ? `< ${c.fmt(c.breaks[0])}` : i === c.breaks.length ? `≥ ${c.fmt(c.breaks[i - 1])}`
      : `${c.fmt(c.breaks[i - 1])} – ${c.fmt(c.breaks[i])}` }));
  if (state.industry && state.industry.features.length) {
    setLegend('industry', { title: c.title, unit: c.unit, kind: 'circle', layers: ['industry'], classes });
  } else removeLegend('industry');
}

async function showBuilding(bid) {
  const box = $('ind-building');
  box.textContent = '';
  if (!bid) return;
  const p = new URLSearchParams();
  if (state.asOf) p.set('as_of', state.asOf);
  const data = await (await api(`/enterprise/api/buildings/${encodeURIComponent(bid)}/spaces?${p}`)).json();
  box.append(el('h4', { text: `${w('spaces_here')} · ${bid}` }));
  for (const s of data.spaces) {
    const li = el('div', { class: 'ind-space', 'data-id': s.id });
    li.append(el('b', { text: s.name }),
      el('small', { text: ` ${s.space_type} · ${s.use} · ${s.area_m2} m²` }), el('br'),
      el('span', { text: `${w('rent')} ${s.rent ?? '—'} ` }), sparkline(s.history.map((h) => h.rent), '#b30000'),
      el('span', { text: ` ${w('vacancy')} ${s.vacancy_rate == null ? '—' : (100 * s.vacancy_rate).toFixed(0) + '%'} ` }),
      sparkline(s.history.map((h) => h.vacancy_rate), '#d73027'));
    box.append(li);
  }
  box.dataset.ready = '1';
}

// ------------------------------------------------------------ matching
function demandFromForm() {
  const num = (id) => ($(id).value === '' ? null : Number($(id).value));
  const d = { area_m2: [num('m-min'), num('m-max')], use: $('m-use').value, max_rent: num('m-rent') };
  if ($('m-date').value) d.move_in = $('m-date').value;
  if ($('m-ind').value) d.industry = $('m-ind').value;
  const needs = NEEDS.filter((n) => $(`m-need-${n}`).checked);
  if (needs.length) d.needs = needs;
  return d;
}

function partsBar(parts) {
  const wrap = el('div', { class: 'parts' });
  for (const [k, v] of Object.entries(parts)) {
    if (v == null) continue;
    const row = el('div', { class: 'part', title: `${k}: ${v}` });
    row.append(el('span', { text: k }), el('i', { style: `width:${Math.round(v * 80)}px` }));
    wrap.append(row);
  }
  return wrap;
}

async function runMatch(ev) {
  if (ev) ev.preventDefault();
  const demand = demandFromForm();
  const out = $('match-list'); out.textContent = ''; $('match-msg').textContent = '';
  delete $('match-list').dataset.ready;
  let r;
  try {
    r = await api('/ogc/processes/space-match/execution', { method: 'POST',
      headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ inputs: demand }) });
  } catch (e) {
    const body = e.status === 400 ? ' (400)' : '';
    $('match-msg').textContent = `${e.message}${body}`; return;
  }
  const res = await r.json();
  ind.demand = demand; ind.result = res;
  const feats = res.candidates.map((c, i) => ({ type: 'Feature', geometry: { type: 'Point', coordinates: [c.lon, c.lat] },
    properties: { rank: i + 1, key: c.space_ids.join('+'), score: c.score } }));
  map.getSource('ind-match').setData({ type: 'FeatureCollection', features: feats });
  if (!res.candidates.length) $('match-msg').textContent = w('none');
  if (res.notes.length) $('match-msg').textContent += ` ${res.notes.join('; ')}`;
  res.candidates.forEach((c, i) => {
    const li = el('li', { 'data-key': c.space_ids.join('+') });
    const cb = el('input', { type: 'checkbox', class: 'pick', 'aria-label': `${i + 1}. ${c.name}` });
    const head = el('div', { class: 'cand-head' });
    head.append(cb, el('b', { text: ` ${i + 1}. ${c.name}` }),
      el('span', { class: 'score', text: ` ${w('score')} ${c.score}` }));
    li.append(head, el('small', { text: `${c.space_type} · ${c.vacant_m2} m² · ${w('rent')} ${c.rent}${c.combined ? ' · ' + w('combined') : ''}` }),
      partsBar(c.parts), el('small', { class: 'why', text: c.explanation.join('; ') }));
    li.addEventListener('click', (e) => { if (e.target !== cb) map.flyTo({ center: [c.lon, c.lat], zoom: 16 }); });
    out.append(li);
  });
  $('match-export').hidden = !res.candidates.length;
  out.dataset.ready = '1';
}

async function exportShortlist() {
  const keys = [...document.querySelectorAll('#match-list li')].filter((li) => li.querySelector('.pick').checked)
    .map((li) => li.dataset.key.split('+'));
  if (!keys.length) { toast(w('pick_one')); return; }
  const r = await api('/enterprise/api/shortlist-report', { method: 'POST',
    headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ demand: ind.demand, shortlist: keys }) });
  const blob = await r.blob();
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob); a.download = 'space-shortlist.html';
  document.body.append(a); a.click(); a.remove();
}

// ------------------------------------------------------------ supply and demand
async function loadSupply() {
  const p = new URLSearchParams();
  if (state.asOf) p.set('as_of', state.asOf);
  if ($('ind-use').value) p.set('use', $('ind-use').value);
  const sd = await (await api(`/enterprise/api/supply-demand?${p}`)).json();
  const tb = $('sd-table'); tb.textContent = '';
  tb.append(el('tr', {}, el('th', { text: w('subdistrict') }), el('th', { text: w('vacant') }),
    el('th', { text: w('occupied') }), el('th', { text: w('rate') }), el('th', { text: w('trend_short') })));
  for (const r of sd.subdistricts) {
    tb.append(el('tr', {}, el('td', { text: r.name }), el('td', { text: String(Math.round(r.vacant_m2)) }),
      el('td', { text: String(Math.round(r.occupied_m2)) }),
      el('td', { text: r.vacancy_rate == null ? '—' : `${(100 * r.vacancy_rate).toFixed(1)}%` }),
      el('td', {}, sparkline(r.vacancy_series || [], '#d73027', 80, 18))));
  }
  const chart = $('sd-chart'); chart.textContent = '';
  chart.append(bars(sd.subdistricts.map((r) => ({ label: r.name, v: r.vacant_m2, o: r.occupied_m2 })), ['v', 'o'], ['#d73027', '#4575b4']));
  const trend = $('ind-trend'); trend.textContent = '';
  trend.append(el('small', { text: `${w('trend')} ${sd.series[0]?.quarter ?? ''} – ${sd.series.at(-1)?.quarter ?? ''} ` }),
    sparkline(sd.series.map((s) => s.vacancy_rate), '#d73027', 260, 40));
  ind.supply = sd;
  tb.dataset.ready = '1';
}

// ------------------------------------------------------------ service lists (admin, enterprise)
async function loadPolicies() {
  const box = $('ind-lists'), sel = $('l-policy');
  box.hidden = true;
  sel.textContent = '';
  if (!['admin', 'enterprise'].includes(api.role())) return;  // others get 404: do not ask
  try {
    const t = await (await api('/enterprises/policies')).json();
    for (const p of t.policies) sel.add(new Option(p.name, p.id));
    box.hidden = false;
  } catch (e) {
    if (e.status !== 404) throw e;  // other roles do not see the lists
  }
}

async function runList(pid, inputs) {
  const r = await api(`/ogc/processes/${pid}/execution`, { method: 'POST',
    headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ inputs }) });
  const fc = await r.json();
  map.getSource('ind-lists').setData(fc);
  ind.list = fc;
  $('l-msg').textContent = `${fc.numberMatched} ${w('found')}`;
  $('l-msg').dataset.ready = '1';
}

// ------------------------------------------------------------ build the pane
function buildPane() {
  const pane = document.querySelector('section[data-pane=industry]');
  const filters = el('div', { class: 'grid2', id: 'ind-extra' });
  const typeSel = select('ind-type', TYPES, '—');
  const colourSel = el('select', { id: 'ind-colour' });
  colourSel.add(new Option(w('by_vacancy'), 'vacancy')); colourSel.add(new Option(w('by_rent'), 'rent'));
  filters.append(labelled('type', typeSel), labelled('colour', colourSel));
  pane.insertBefore(filters, $('ind-count'));
  pane.insertBefore(el('div', { id: 'ind-trend', class: 'hint' }), $('ind-count'));
  pane.append(el('div', { id: 'ind-building', class: 'figures' }));

  const form = el('form', { id: 'match-form' });
  const grid = el('div', { class: 'grid2' });
  grid.append(labelled('area_min', el('input', { id: 'm-min', type: 'number', value: '200' })),
    labelled('area_max', el('input', { id: 'm-max', type: 'number', value: '2000' })),
    labelled('use', select('m-use', USES)), labelled('max_rent', el('input', { id: 'm-rent', type: 'number', value: '150' })),
    labelled('move_in', el('input', { id: 'm-date', type: 'date' })), labelled('industry', select('m-ind', SECTIONS, '—')));
  const needs = el('div', { class: 'needs' });
  for (const n of NEEDS) {
    const l = el('label'); l.append(el('input', { type: 'checkbox', id: `m-need-${n}` }), el('span', { 'data-i18n': `ind.${n}`, text: w(n) }));
    needs.append(l);
  }
  form.append(el('h3', { 'data-i18n': 'ind.match', text: w('match') }), grid, needs,
    el('button', { id: 'm-run', type: 'submit', 'data-i18n': 'ind.run', text: w('run') }));
  pane.append(form, el('p', { id: 'match-msg', class: 'hint' }), el('ol', { id: 'match-list', class: 'feature-list match' }),
    el('button', { id: 'match-export', 'data-i18n': 'ind.export', text: w('export'), hidden: '' }));
  pane.append(el('h3', { 'data-i18n': 'ind.supply', text: w('supply') }), el('table', { id: 'sd-table', class: 'sd' }),
    el('div', { id: 'sd-chart' }));

  const lists = el('div', { id: 'ind-lists', hidden: '' });
  const riskBtn = el('button', { id: 'l-risk', type: 'button', 'data-i18n': 'ind.at_risk', text: w('at_risk') });
  const polBtn = el('button', { id: 'l-eligible', type: 'button', 'data-i18n': 'ind.eligible', text: w('eligible') });
  lists.append(el('h3', { 'data-i18n': 'ind.lists', text: w('lists') }), riskBtn, el('br'), polBtn, el('select', { id: 'l-policy', 'aria-label': w('eligible') }),
    el('p', { id: 'l-msg', class: 'hint' }));
  pane.append(lists);
  riskBtn.addEventListener('click', () => runList('enterprises-at-risk', { as_of: state.asOf }).catch((e) => toast(e.message)));
  polBtn.addEventListener('click', () => runList('policy-eligible', { policy: $('l-policy').value, as_of: state.asOf })
    .catch((e) => toast(e.message)));
  api.onRoleChange(() => { loadPolicies().catch(() => {}); });

  typeSel.addEventListener('change', () => { ind.type = typeSel.value; loadIndustry(); });
  colourSel.addEventListener('change', () => { ind.colour = colourSel.value; applyColour(); });
  form.addEventListener('submit', runMatch);
  $('match-export').addEventListener('click', exportShortlist);
  $('ind-use').addEventListener('change', loadSupply);
  for (const id of ['ind-min', 'ind-max', 'ind-use', 'ind-rent', 'ind-vac']) $(id).addEventListener('change', loadIndustry);
  on('asof', () => { if (state.tab === 'industry') { loadIndustry(); loadSupply(); } });
  on('tab', (tab) => { if (tab === 'industry') { loadIndustry(); loadSupply(); } });
}

// ------------------------------------------------------------ the spaces and their list
/** Load the spaces that pass the pane's filters onto the map and into the list. */
export async function loadIndustry() {
  const p = { min_area: $('ind-min').value || '0', max_area: $('ind-max').value || '1e12',
    min_vacancy: $('ind-vac').value || '0', use: $('ind-use').value, max_rent: $('ind-rent').value, as_of: state.asOf };
  const raw = await api.get('/viewer/api/industrial', p);
  const fc = ind.type ? { ...raw, features: raw.features.filter((f) => f.properties.space_type === ind.type) } : raw;
  const sel = $('ind-use');
  if (sel.options.length <= 1) for (const u of fc.uses) sel.add(new Option(u, u));
  map.getSource('industry').setData(fc);
  state.industry = fc;
  applyColour();
  $('ind-count').textContent = `${fc.features.length} ${t('spaces')}`;
  const ul = $('ind-list'); ul.textContent = '';
  for (const f of fc.features.slice(0, 300)) {
    const li = el('li', { 'data-id': f.properties.id, text: f.properties.name }); const pr = f.properties;
    li.append(el('small', { text: `${pr.use} · ${t('area')} ${pr.area_m2} m² · ${t('rent')} ${pr.rent ?? '—'} · ${(100 * (pr.vacancy_rate || 0)).toFixed(0)}%` }));
    clickable(li, () => { highlightSpace(pr.id); map.flyTo({ center: f.geometry.coordinates, zoom: 16 }); });
    ul.append(li);
  }
  return fc;
}

/** Ring the space ``id`` on the map and mark it in the list. */
export function highlightSpace(id) {
  map.setFilter('industry-hl', ['==', ['get', 'id'], id || '']);
  document.querySelectorAll('#ind-list li').forEach((li) => li.classList.toggle('active', li.dataset.id === id));
  const li = document.querySelector(`#ind-list li[data-id="${id}"]`);
  if (li) li.scrollIntoView({ block: 'nearest' });
}

function addLayers() {
  const m = map;
  const empty = { type: 'FeatureCollection', features: [] };
  m.addSource('industry', { type: 'geojson', data: empty });
  m.addLayer({ id: 'industry', type: 'circle', source: 'industry',
    paint: { 'circle-radius': 5, 'circle-color': '#f1a340', 'circle-stroke-color': '#4d3800', 'circle-stroke-width': 1 } });
  m.addLayer({ id: 'industry-hl', type: 'circle', source: 'industry', filter: ['==', ['get', 'id'], ''],
    paint: { 'circle-radius': 9, 'circle-color': 'rgba(0,0,0,0)', 'circle-stroke-color': '#b2182b', 'circle-stroke-width': 3 } });
  m.addSource('ind-match', { type: 'geojson', data: empty });
  m.addLayer({ id: 'ind-match', type: 'circle', source: 'ind-match',
    paint: { 'circle-radius': 10, 'circle-color': 'rgba(178,24,43,0.25)', 'circle-stroke-color': '#b2182b', 'circle-stroke-width': 2 } });
  m.addSource('ind-lists', { type: 'geojson', data: empty });
  m.addLayer({ id: 'ind-lists', type: 'circle', source: 'ind-lists',
    paint: { 'circle-radius': 4, 'circle-color': '#5e3c99', 'circle-stroke-color': '#fff', 'circle-stroke-width': 1 } });
  applyColour();
  m.on('click', 'industry', (e) => {
    const f = e.features && e.features[0];
    if (f) showBuilding(f.properties.building_id).catch((err) => toast(err.message));
  });
}

const CSS = `
#match-list li { cursor: pointer; } #match-list .why { display: block; color: #52606d; }
.parts { margin: 2px 0; } .part { display: flex; align-items: center; gap: 4px; font-size: 11px; }
.part span { width: 84px; color: #52606d; } .part i { display: inline-block; height: 7px; background: #4e79a7; }
.ind-space { margin: 4px 0; font-size: 12px; } .spark { vertical-align: middle; }
table.sd { border-collapse: collapse; font-size: 12px; } table.sd td, table.sd th { border: 1px solid #d9dee5; padding: 2px 6px; }
.needs label { display: inline-flex; gap: 2px; margin-right: 8px; font-size: 12px; }`;

/** Start the industry view: its pane, layers and the service lists of the role. */
export function init(ctx) {
  map = ctx.map;
  document.head.append(el('style', { text: CSS }));
  buildPane();
  addLayers();
  on('industry-pick', highlightSpace);  // a click on a space's point (js/layers.js popups)
  loadPolicies().catch(() => {});
  return { state: ind, loadIndustry, highlightSpace, runMatch, loadSupply, showBuilding, loadPolicies, runList };
}

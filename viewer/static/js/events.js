// OneMap viewer, events view: triage box, case list with state and deadline colours,
// the Gi* hot-spot layer (the event_hotspots collection) with its legend, repeat clusters
// on the map and in a list, weekly trends against last year as a chart, and the
// department scorecard as a table and a chart (docs/dispatch.md).
// Own ES module: app.js calls initEvents(ctx) once the map has loaded. The pane's
// category and period fields (#ev-cat, #ev-start, #ev-end) filter hot spots, repeats and
// trends too. Charts are plain SVG drawn here (no chart library, nothing from a CDN).

const NEXT = {
  '受理': ['dispatch'], '分拨': ['start', 'return'], '处置': ['close', 'return'],
  '办结': ['rate', 'reopen'], '评价': ['reopen'],
};
const ACTION_ZH = { dispatch: '分拨', start: '处置', return: '退回', close: '办结', rate: '评价', reopen: '重启' };
const HOT = { hot: '#d7301f', cold: '#2b8cbe', none: 'rgba(0,0,0,0)' };
const HS_COLOR = ['match', ['get', 'class'], 'hot', HOT.hot, 'cold', HOT.cold, HOT.none];
const HS_FILTER = ['!=', ['get', 'class'], 'none'];
// The catalog layer as app.js draws it from tiles (cat-<id>-fill / -line).
const CATALOG_HS = ['cat-event_hotspots-fill', 'cat-event_hotspots-line'];
const NS = 'http://www.w3.org/2000/svg';
const REPEAT = '#6a3d9a';

function el(tag, attrs = {}, text = '') {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text) e.textContent = text;
  return e;
}

function svgEl(tag, attrs = {}, text = '') {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text) e.textContent = text;
  return e;
}

function pct(x) {
  return x === null || x === undefined ? '—' : `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;
}

// Weekly counts (solid) against the same weeks a year earlier (dashed), one SVG.
export function drawTrend(svg, weeks) {
  svg.textContent = '';
  const w = 300; const h = 120; const left = 30; const bottom = 18; const top = 8;
  svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
  const max = Math.max(1, ...weeks.map((x) => Math.max(x.count, x.last_year)));
  const n = weeks.length;
  const X = (i) => left + (n <= 1 ? 0 : (i * (w - left - 6)) / (n - 1));
  const Y = (v) => h - bottom - (v * (h - bottom - top)) / max;
  svg.appendChild(svgEl('line', { x1: left, y1: h - bottom, x2: w - 4, y2: h - bottom, stroke: '#999' }));
  svg.appendChild(svgEl('line', { x1: left, y1: top, x2: left, y2: h - bottom, stroke: '#999' }));
  svg.appendChild(svgEl('text', { x: left - 3, y: top + 8, 'text-anchor': 'end', 'font-size': 9 }, String(max)));
  svg.appendChild(svgEl('text', { x: left - 3, y: h - bottom, 'text-anchor': 'end', 'font-size': 9 }, '0'));
  if (n) {
    svg.appendChild(svgEl('text', { x: left, y: h - 4, 'font-size': 9 }, weeks[0].week));
    svg.appendChild(svgEl('text', { x: w - 4, y: h - 4, 'text-anchor': 'end', 'font-size': 9 }, weeks[n - 1].week));
  }
  const line = (key, attrs) => svgEl('polyline', {
    points: weeks.map((x, i) => `${X(i).toFixed(1)},${Y(x[key]).toFixed(1)}`).join(' '),
    fill: 'none', 'stroke-width': 1.5, ...attrs,
  });
  svg.appendChild(line('last_year', { class: 'trend-last-year', stroke: '#888', 'stroke-dasharray': '3 2' }));
  svg.appendChild(line('count', { class: 'trend-now', stroke: '#d94701' }));
  weeks.forEach((x, i) => {
    const dot = svgEl('circle', { cx: X(i).toFixed(1), cy: Y(x.count).toFixed(1), r: 2, fill: '#d94701', class: 'trend-point' });
    dot.appendChild(svgEl('title', {}, `${x.week}: ${x.count}（去年 ${x.last_year}，${pct(x.change)}）`));
    svg.appendChild(dot);
  });
}

// Scorecard as bars: received (grey) with the part closed on time (green), per row.
export function drawScorecard(svg, rows, key) {
  svg.textContent = '';
  const w = 300; const row = 18; const lab = 90; const h = rows.length * row + 4;
  svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
  svg.setAttribute('height', String(h));
  const max = Math.max(1, ...rows.map((r) => r.received));
  rows.forEach((r, i) => {
    const y = i * row + 2; const scale = (w - lab - 50) / max;
    svg.appendChild(svgEl('text', { x: lab - 4, y: y + 12, 'text-anchor': 'end', 'font-size': 10 }, String(r[key] ?? '—')));
    svg.appendChild(svgEl('rect', { x: lab, y, width: (r.received * scale).toFixed(1), height: row - 5, fill: '#c8ccd4', class: 'bar-received' }));
    svg.appendChild(svgEl('rect', { x: lab, y, width: (r.closed_on_time * scale).toFixed(1), height: row - 5, fill: '#59a14f', class: 'bar-on-time' }));
    const rate = r.on_time_rate === null ? '—' : `${Math.round(r.on_time_rate * 100)}%`;
    svg.appendChild(svgEl('text', { x: lab + r.received * scale + 4, y: y + 12, 'font-size': 10 }, `${r.received} · ${rate}`));
  });
}

export function initEvents({ map, api, pane }) {
  const box = el('div', { id: 'dispatch', class: 'dispatch' });
  box.innerHTML = `
    <h4>智能分拨 Triage</h4>
    <textarea id="triage-text" rows="3" placeholder="粘贴或输入市民诉求…" aria-label="市民诉求 Citizen request"></textarea>
    <div class="row"><button id="triage-go">分拨建议</button>
      <button id="case-create" disabled>受理立案</button></div>
    <div id="triage-result" class="figures"></div>
    <h4>案件 Cases</h4>
    <ul id="case-list" class="feature-list"></ul>
    <h4>热点 Hot spots (Gi*)</h4>
    <div class="row"><select id="hs-res" aria-label="H3 分辨率 resolution"><option>7</option><option>8</option><option selected>9</option><option>10</option></select>
      <button id="hotspots-go">计算热点</button></div>
    <div id="hs-legend" class="hint"></div>
    <h4>重复投诉 Repeat complaints</h4>
    <div class="row"><label>天数 <input id="rep-days" type="number" min="1" value="30" style="width:4em"></label>
      <button id="repeats-go">查找</button></div>
    <p id="rep-msg" class="hint"></p>
    <ul id="repeat-list" class="feature-list"></ul>
    <h4>趋势 Trends</h4>
    <div class="row"><select id="trend-scope" aria-label="范围 scope"><option value="district">全区</option>
      <option value="community">社区</option><option value="cell">网格块</option></select>
      <input id="trend-code" aria-label="社区编码或 H3 块 community code or H3 cell" placeholder="社区编码 / H3" style="width:9em">
      <button id="trends-go">周趋势</button></div>
    <svg id="trend-chart" width="300" height="120" role="img" aria-label="weekly trend"></svg>
    <p id="trend-change" class="hint"></p>
    <h4>考评 Scorecard</h4>
    <div class="row"><select id="sc-by" aria-label="考评维度 group by"><option value="department">部门</option><option value="subdistrict">街道</option></select>
      <button id="scorecard-go">考评</button></div>
    <svg id="scorecard-chart" width="300" height="10" role="img" aria-label="scorecard"></svg>
    <table id="scorecard" class="scorecard"></table>`;
  pane.appendChild(box);
  const $ = (id) => document.getElementById(id);
  const val = (id) => ($(id) ? $(id).value : '');
  let last = null;

  const empty = { type: 'FeatureCollection', features: [] };
  map.addSource('hotspots', { type: 'geojson', data: empty });
  map.addLayer({ id: 'hotspots', type: 'fill', source: 'hotspots', filter: HS_FILTER,
    paint: { 'fill-color': HS_COLOR, 'fill-opacity': 0.55 } });
  map.addSource('repeats', { type: 'geojson', data: empty });
  map.addLayer({ id: 'repeats', type: 'circle', source: 'repeats',
    paint: { 'circle-color': REPEAT, 'circle-opacity': 0.8, 'circle-stroke-color': '#fff', 'circle-stroke-width': 1,
      'circle-radius': ['interpolate', ['linear'], ['get', 'count'], 2, 5, 10, 12] } });

  // The hot-spot layer of the catalog (drawn by app.js from tiles in one colour): colour
  // it by class here, every time app.js (re)creates it.
  const styleCatalog = () => {
    for (const id of CATALOG_HS) {
      if (!map.getLayer(id)) continue;
      if (JSON.stringify(map.getFilter(id)) !== JSON.stringify(HS_FILTER)) map.setFilter(id, HS_FILTER);
      const prop = id.endsWith('-fill') ? 'fill-color' : 'line-color';
      if (JSON.stringify(map.getPaintProperty(id, prop)) !== JSON.stringify(HS_COLOR)) map.setPaintProperty(id, prop, HS_COLOR);
    }
  };
  map.on('styledata', styleCatalog);

  const post = (path, body) => api(path, { method: 'POST', body: JSON.stringify(body),
    headers: { 'Content-Type': 'application/json' } }).then((r) => r.json());
  const period = () => {
    const a = val('ev-start'); const b = val('ev-end');
    return a || b ? `${a || '..'}/${b || '..'}` : '';
  };

  async function triage() {
    const text = $('triage-text').value;
    const out = $('triage-result');
    try {
      last = await post('/dispatch/triage', { text });
    } catch (e) {
      out.textContent = e.status === 401 ? '需要部门密钥' : `无法分拨 (${e.status})`;
      $('case-create').disabled = true;
      return;
    }
    out.innerHTML = '';
    out.appendChild(el('div', { id: 'triage-category' }, `${last.category} → ${last.department_name}`));
    out.appendChild(el('div', {}, `置信度 ${(last.confidence * 100).toFixed(0)}% · 时限 ${last.deadline_h} h`));
    out.appendChild(el('div', {}, last.address ? `地点：${last.address.address}` : '地点：未识别'));
    const ul = el('ul', { id: 'triage-candidates' });
    for (const c of last.candidates) ul.appendChild(el('li', {}, `${c.category} ${(c.score * 100).toFixed(0)}%`));
    out.appendChild(ul);
    $('case-create').disabled = false;
  }

  async function create() {
    await post('/events', { text: $('triage-text').value, category: last.category });
    $('case-create').disabled = true;
    await loadCases();
  }

  async function loadCases() {
    const ul = $('case-list');
    let cases = [];
    try { cases = (await (await api('/events?limit=50')).json()).cases; } catch (e) { ul.textContent = ''; return; }
    ul.innerHTML = '';
    for (const c of cases) {
      const li = el('li', { 'data-case': c.id, 'data-state': c.state,
        class: c.overdue ? 'case overdue' : (['办结', '评价'].includes(c.state) ? 'case done' : 'case open') });
      li.appendChild(el('span', { class: 'case-state' }, c.state));
      li.appendChild(el('span', {}, ` ${c.category} · ${c.department} · 时限 ${c.deadline_at.slice(5, 16)}`));
      if (c.repeat_of) li.appendChild(el('span', { class: 'case-repeat', style: `color:${REPEAT}` }, ' · 重复'));
      for (const a of NEXT[c.state] || []) {
        const b = el('button', { 'data-action': a }, ACTION_ZH[a]);
        b.addEventListener('click', async () => {
          try {
            await post(`/events/${c.id}/transitions`, a === 'rate' ? { action: a, rating: 5 } : { action: a });
          } finally { await loadCases(); }
        });
        li.appendChild(b);
      }
      ul.appendChild(li);
    }
  }

  async function hotspots() {
    const p = new URLSearchParams({ res: $('hs-res').value, limit: '20000', f: 'json' });
    if (val('ev-cat')) p.set('category', val('ev-cat'));
    if (period()) p.set('datetime', period());
    const fc = await (await api(`/ogc/collections/event_hotspots/items?${p}`)).json();
    map.getSource('hotspots').setData(fc);
    const count = (k) => fc.features.filter((f) => f.properties.class === k).length;
    const r = { ...fc, hot: count('hot'), cold: count('cold'), alpha: 0.05 };
    $('hs-legend').innerHTML = '';
    const item = (cls, label, n) => {
      const s = el('span', { class: `legend-${cls}` });
      s.appendChild(el('span', { style: `color:${HOT[cls]}` }, '■'));
      s.appendChild(document.createTextNode(` ${label} ${n}　`));
      return s;
    };
    $('hs-legend').append(item('hot', '热点', r.hot), item('cold', '冷点', r.cold),
      document.createTextNode(`Gi* z，双侧 p < ${r.alpha}（res ${p.get('res')}）`));
    window.onemap.hotspots = r;
  }

  async function repeats() {
    const p = new URLSearchParams({ days: val('rep-days') || '30', limit: '100' });
    if (val('ev-cat')) p.set('category', val('ev-cat'));
    if (val('ev-start')) p.set('from', val('ev-start'));
    if (val('ev-end')) p.set('to', val('ev-end'));
    const r = await (await api(`/dispatch/repeats?${p}`)).json();
    map.getSource('repeats').setData({ type: 'FeatureCollection',
      features: r.clusters.map((c) => ({ type: 'Feature', id: c.cluster,
        geometry: { type: 'Point', coordinates: [c.lon, c.lat] },
        properties: { cluster: c.cluster, category: c.category, count: c.count } })) });
    const ul = $('repeat-list');
    ul.textContent = '';
    for (const c of r.clusters) {
      const li = el('li', { 'data-cluster': String(c.cluster) });
      li.appendChild(el('span', {}, `${c.category} ×${c.count}`));
      li.appendChild(el('small', {}, `${String(c.first).slice(0, 10)} – ${String(c.last).slice(0, 10)}`));
      li.addEventListener('click', () => map.flyTo({ center: [c.lon, c.lat], zoom: 16 }));
      ul.appendChild(li);
    }
    $('rep-msg').textContent = `${r.numberMatched} 组（显示 ${r.clusters.length}）`;
    window.onemap.repeats = r;
  }

  async function trends() {
    const to = val('ev-end') || '2026-01-01';
    const from = val('ev-start') || new Date(Date.parse(to) - 26 * 7 * 86400e3).toISOString().slice(0, 10);
    const p = new URLSearchParams({ from, to });
    if (val('ev-cat')) p.set('category', val('ev-cat'));
    const scope = $('trend-scope').value; const code = $('trend-code').value.trim();
    if (scope !== 'district' && code) p.set(scope, code);
    const r = await (await api(`/dispatch/trends?${p}`)).json();
    // Sum the categories' series week by week (one category when one is chosen).
    const series = Object.values(r.series);
    const weeks = series.length ? series[0].map((x, i) => {
      const count = series.reduce((s, c) => s + c[i].count, 0);
      const before = series.reduce((s, c) => s + c[i].last_year, 0);
      return { week: x.week, count, last_year: before, change: before ? (count - before) / before : null };
    }) : [];
    drawTrend($('trend-chart'), weeks);
    const now = weeks.reduce((s, x) => s + x.count, 0);
    const before = weeks.reduce((s, x) => s + x.last_year, 0);
    const where = scope === 'district' || !code ? '全区' : code;
    $('trend-change').textContent = `${where} ${from} – ${to}：${now} 件，去年同期 ${before} 件，`
      + `${before ? pct((now - before) / before) : '—'}`;
    window.onemap.trends = { ...r, weeks, total: now, last_year: before };
  }

  async function scorecard() {
    const by = $('sc-by').value;
    const p = new URLSearchParams({ by });
    if (val('ev-start')) p.set('from', val('ev-start'));
    if (val('ev-end')) p.set('to', val('ev-end'));
    const r = await (await api(`/dispatch/scorecard?${p}`)).json();
    const tb = $('scorecard');
    tb.innerHTML = `<tr><th>${by === 'department' ? '部门' : '街道'}</th><th>受理</th><th>办结</th><th>按时</th><th>中位时长 h</th><th>重启率</th></tr>`;
    for (const x of r.rows) {
      const tr = el('tr');
      for (const v of [x[by], x.received, x.closed, x.closed_on_time,
        x.median_hours_to_close ?? '—', x.reopen_rate]) tr.appendChild(el('td', {}, String(v)));
      tb.appendChild(tr);
    }
    drawScorecard($('scorecard-chart'), r.rows, by);
    window.onemap.scorecard = r;
  }

  // Clicking a hot-spot cell makes it the trend's block.
  map.on('click', 'hotspots', (e) => {
    const f = e.features && e.features[0];
    if (!f) return;
    $('trend-scope').value = 'cell';
    $('trend-code').value = f.properties.cell;
  });

  $('triage-go').addEventListener('click', triage);
  $('case-create').addEventListener('click', create);
  $('hotspots-go').addEventListener('click', hotspots);
  $('repeats-go').addEventListener('click', repeats);
  $('trends-go').addEventListener('click', trends);
  $('scorecard-go').addEventListener('click', scorecard);
  return { loadCases, triage, hotspots, repeats, trends, scorecard };
}

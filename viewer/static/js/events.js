// OneMap viewer, events view: triage box, case list with state and deadline colours,
// Gi* hot-spot layer with its legend, and the department scorecard (docs/dispatch.md).
// Own ES module: app.js calls initEvents(ctx) once the map has loaded.

const NEXT = {
  '受理': ['dispatch'], '分拨': ['start', 'return'], '处置': ['close', 'return'],
  '办结': ['rate', 'reopen'], '评价': ['reopen'],
};
const ACTION_ZH = { dispatch: '分拨', start: '处置', return: '退回', close: '办结', rate: '评价', reopen: '重启' };
const HOT = { hot: '#d7301f', cold: '#2b8cbe', none: 'rgba(0,0,0,0)' };

function el(tag, attrs = {}, text = '') {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text) e.textContent = text;
  return e;
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
    <div class="row"><select id="hs-res" aria-label="H3 分辨率 resolution"><option>8</option><option selected>9</option></select>
      <button id="hotspots-go">计算热点</button></div>
    <div id="hs-legend" class="hint"></div>
    <h4>考评 Scorecard</h4>
    <button id="scorecard-go">部门考评</button>
    <table id="scorecard" class="scorecard"></table>`;
  pane.appendChild(box);
  const $ = (id) => document.getElementById(id);
  let last = null;

  const empty = { type: 'FeatureCollection', features: [] };
  map.addSource('hotspots', { type: 'geojson', data: empty });
  map.addLayer({ id: 'hotspots', type: 'fill', source: 'hotspots',
    filter: ['!=', ['get', 'class'], 'none'],
    paint: { 'fill-color': ['match', ['get', 'class'], 'hot', HOT.hot, 'cold', HOT.cold, HOT.none],
      'fill-opacity': 0.55 } });

  const post = (path, body) => api(path, { method: 'POST', body: JSON.stringify(body),
    headers: { 'Content-Type': 'application/json' } }).then((r) => r.json());

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
    const res = Number($('hs-res').value);
    const r = await post('/ogc/processes/hotspots/execution', { inputs: { res } });
    map.getSource('hotspots').setData(r);
    $('hs-legend').innerHTML = `<span style="color:${HOT.hot}">■</span> 热点 ${r.hot}　`
      + `<span style="color:${HOT.cold}">■</span> 冷点 ${r.cold}　(p < ${r.alpha})`;
    window.onemap.hotspots = r;
  }

  async function scorecard() {
    const r = await (await api('/dispatch/scorecard?by=department')).json();
    const tb = $('scorecard');
    tb.innerHTML = '<tr><th>部门</th><th>受理</th><th>办结</th><th>按时</th><th>中位时长 h</th><th>重启率</th></tr>';
    for (const x of r.rows) {
      const tr = el('tr');
      for (const v of [x.department, x.received, x.closed, x.closed_on_time,
        x.median_hours_to_close ?? '—', x.reopen_rate]) tr.appendChild(el('td', {}, String(v)));
      tb.appendChild(tr);
    }
  }

  $('triage-go').addEventListener('click', triage);
  $('case-create').addEventListener('click', create);
  $('hotspots-go').addEventListener('click', hotspots);
  $('scorecard-go').addEventListener('click', scorecard);
  return { loadCases, triage, hotspots, scorecard };
}

// The cockpit's pieces that the desktop page (js/cockpit.js) and the phone page (/m) share:
// strings, number formatting, the sparkline (inline SVG, drawn here: a polyline over the
// series is a few lines, no chart library needed), the headline tiles and the time ranges.
const NS = 'http://www.w3.org/2000/svg';

export const STRINGS = {
  zh: {
    ck_title: '罗湖运行驾驶舱', ck_map: '地图', ck_cockpit: '驾驶舱', ck_district: '罗湖区',
    ck_range: '时间范围', ck_r30d: '近30天', ck_r12m: '近12个月', ck_r5y: '近5年',
    ck_level: '地图层级', ck_l_subdistrict: '街道', ck_l_community: '社区', ck_l_block: '网格 (H3)',
    ck_alerts: '实时告警', ck_alerts_none: '当前无告警', ck_alerts_need: '实时告警需要部门密钥',
    ck_events: '今日事件', ck_events_none: '当日无事件', ck_events_need: '事件需要部门密钥',
    ck_total: '合计', ck_prev: '上期', ck_suppressed: '人数过少已隐藏', ck_no_values: '无数据',
    ck_need_key: '驾驶舱需要部门账号登录', ck_legend: '图例', ck_click_hint: '点击街道或社区下钻',
    ck_up: '上升', ck_down: '下降', ck_flat: '持平', ck_offline: '离线：显示上次同步的数据',
    ck_synced: '上次同步', ck_key: 'API 密钥', ck_sign_in: '登录', ck_sign_out: '退出', ck_area: '区域',
    ck_by_area: '各街道', ck_error: '加载失败',
  },
  en: {
    ck_title: 'Luohu operations cockpit', ck_map: 'Map', ck_cockpit: 'Cockpit', ck_district: 'Luohu district',
    ck_range: 'Time range', ck_r30d: 'Last 30 days', ck_r12m: 'Last 12 months', ck_r5y: 'Last 5 years',
    ck_level: 'Map level', ck_l_subdistrict: 'Subdistricts', ck_l_community: 'Communities', ck_l_block: 'Blocks (H3)',
    ck_alerts: 'Live alerts', ck_alerts_none: 'No active alert', ck_alerts_need: 'Live alerts need a department key',
    ck_events: "Today's events", ck_events_none: 'No event that day', ck_events_need: 'Events need a department key',
    ck_total: 'Total', ck_prev: 'previous', ck_suppressed: 'suppressed (small count)', ck_no_values: 'No data',
    ck_need_key: 'The cockpit needs a department key', ck_legend: 'Legend', ck_click_hint: 'Click a subdistrict or community to drill down',
    ck_up: 'up', ck_down: 'down', ck_flat: 'unchanged', ck_offline: 'Offline: the values of the last sync',
    ck_synced: 'Last sync', ck_key: 'API key', ck_sign_in: 'Sign in', ck_sign_out: 'Sign out', ck_area: 'Area',
    ck_by_area: 'By subdistrict', ck_error: 'Could not load',
  },
};

// Units of the catalogue (config/indicators.yaml) as each language writes them.
const UNITS = {
  zh: { persons: '人', households: '户', enterprises: '家', events: '件', alerts: '条', sensors: '台' },
  en: {},
};

/** An indicator's unit in the page's language. */
export function unit(u, lang = 'zh') { return (UNITS[lang] || {})[u] ?? u ?? ''; }

/** The time ranges of the selector: `from`/`to`/`freq` relative to the data's `as_of`. */
export const RANGES = {
  '30d': (asOf) => ({ from: addDays(asOf, -29), to: asOf, freq: 'day' }),
  '12m': (asOf) => ({ from: `${addMonths(asOf, -11).slice(0, 7)}-01`, to: asOf, freq: 'month' }),
  '5y': (asOf) => ({ from: `${Number(asOf.slice(0, 4)) - 4}-01-01`, to: asOf, freq: 'year' }),
};

function addDays(day, n) {
  const d = new Date(`${day}T00:00:00Z`); d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

function addMonths(day, n) {
  const d = new Date(`${day.slice(0, 7)}-01T00:00:00Z`); d.setUTCMonth(d.getUTCMonth() + n);
  return d.toISOString().slice(0, 10);
}

/** A value as the tiles print it: thousands separated, at most two decimals. */
export function fmt(v, lang = 'zh') {
  if (v === null || v === undefined || Number.isNaN(Number(v))) return '—';
  const n = Number(v);
  const digits = Math.abs(n) >= 100 || Number.isInteger(n) ? 0 : 2;
  return n.toLocaleString(lang === 'zh' ? 'zh-CN' : 'en-GB', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

/** The title of an indicator (or catalogue entry) in the page's language. */
export function title(item, lang) {
  const tt = item.title;
  if (tt && typeof tt === 'object') return tt[lang] || tt.zh || tt.en || item.id;
  return tt || item.id;
}

/** Whether a change is good news: up for higher_is_better, down for lower_is_better. */
export function trend(item) {
  const c = item.change;
  if (c === null || c === undefined || Number(c) === 0 || Number.isNaN(Number(c))) return 'flat';
  const up = Number(c) > 0;
  const good = item.direction === 'lower_is_better' ? !up : up;
  return `${up ? 'up' : 'down'} ${good ? 'good' : 'bad'}`;
}

/** An inline SVG sparkline of `series` ([{t, value}]); nulls break the line. */
export function sparkline(series, { width = 120, height = 32 } = {}) {
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('width', String(width)); svg.setAttribute('height', String(height));
  svg.setAttribute('class', 'ck-spark'); svg.setAttribute('aria-hidden', 'true');
  const pts = (series || []).map((p, i) => [i, p.value === null || p.value === undefined ? null : Number(p.value)]);
  const vals = pts.filter((p) => p[1] !== null).map((p) => p[1]);
  svg.dataset.points = String(vals.length);
  if (!vals.length) return svg;
  const lo = Math.min(...vals); const hi = Math.max(...vals); const span = hi - lo || 1;
  const n = Math.max(pts.length - 1, 1); const pad = 3;
  const x = (i) => pad + (i / n) * (width - 2 * pad);
  const y = (v) => height - pad - ((v - lo) / span) * (height - 2 * pad);
  let seg = [];
  const flush = () => {
    if (seg.length > 1) {
      const pl = document.createElementNS(NS, 'polyline');
      pl.setAttribute('points', seg.join(' ')); pl.setAttribute('fill', 'none');
      pl.setAttribute('stroke', 'currentColor'); pl.setAttribute('stroke-width', '1.6');
      pl.setAttribute('stroke-linejoin', 'round');
      svg.appendChild(pl);
    }
    seg = [];
  };
  for (const [i, v] of pts) { if (v === null) flush(); else seg.push(`${x(i).toFixed(1)},${y(v).toFixed(1)}`); }
  flush();
  const last = [...pts].reverse().find((p) => p[1] !== null);
  const dot = document.createElementNS(NS, 'circle');
  dot.setAttribute('cx', x(last[0]).toFixed(1)); dot.setAttribute('cy', y(last[1]).toFixed(1));
  dot.setAttribute('r', '2.4'); dot.setAttribute('fill', 'currentColor');
  svg.appendChild(dot);
  return svg;
}

/** One headline tile (a button: clicking it chooses the map's indicator). */
export function tile(item, { t, lang, selected = false }) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = `ck-tile${selected ? ' selected' : ''}`;
  b.dataset.id = item.id;
  b.dataset.value = item.value === null || item.value === undefined ? '' : String(item.value);
  b.setAttribute('aria-pressed', selected ? 'true' : 'false');
  const h = document.createElement('span'); h.className = 'ck-tile-title'; h.textContent = title(item, lang);
  const v = document.createElement('span'); v.className = 'ck-tile-value';
  const num = document.createElement('b'); num.textContent = fmt(item.value, lang);
  const u = document.createElement('small'); u.textContent = item.unit ? ` ${unit(item.unit, lang)}` : '';
  v.append(num, u);
  if (item.value === null && item.suppressed) { v.title = t('ck_suppressed'); num.textContent = '*'; }
  const tr = trend(item);
  const c = document.createElement('span'); c.className = `ck-change ${tr}`;
  const arrow = tr.startsWith('up') ? '▲' : tr.startsWith('down') ? '▼' : '▬';
  const word = tr.startsWith('up') ? t('ck_up') : tr.startsWith('down') ? t('ck_down') : t('ck_flat');
  c.textContent = `${arrow} ${item.change === null || item.change === undefined ? '—' : fmt(Math.abs(Number(item.change)), lang)}`;
  c.setAttribute('aria-label', `${word} ${fmt(item.change, lang)}`);
  c.title = `${t('ck_prev')} ${fmt(item.previous, lang)}`;
  const s = sparkline(item.series);
  s.classList.add(tr.includes('bad') ? 'bad' : tr.includes('good') ? 'good' : 'flat');
  const foot = document.createElement('span'); foot.className = 'ck-tile-foot';
  foot.append(c, s);
  b.append(h, v, foot);
  return b;
}

/** Fetch JSON through ctx.api (its `get` may answer a Response or the parsed body). */
export async function getJSON(api, path, params) {
  const clean = {};
  for (const [k, v] of Object.entries(params || {})) if (v !== null && v !== undefined && v !== '') clean[k] = v;
  const r = await api.get(path, clean);
  if (r && typeof r.json === 'function') {
    if (!r.ok) { const e = new Error(`${r.status} ${path}`); e.status = r.status; throw e; }
    return r.json();
  }
  return r;
}

/** Bars of the day's events by category (a list; each row's bar is a CSS width). */
export function eventBars(doc, { t, lang }) {
  const wrap = document.createElement('div');
  const head = document.createElement('p'); head.className = 'ck-sub';
  head.textContent = `${doc.day || ''} · ${t('ck_total')} ${fmt(doc.total, lang)}`;
  wrap.appendChild(head);
  if (!doc.categories || !doc.categories.length) {
    const p = document.createElement('p'); p.className = 'ck-empty'; p.textContent = t('ck_events_none');
    wrap.appendChild(p); return wrap;
  }
  const max = Math.max(...doc.categories.map((c) => c.count), 1);
  const ul = document.createElement('ul'); ul.className = 'ck-bars';
  for (const c of doc.categories) {
    const li = document.createElement('li'); li.dataset.category = c.category; li.dataset.count = String(c.count);
    const name = document.createElement('span'); name.className = 'ck-bar-name'; name.textContent = c.category;
    const bar = document.createElement('span'); bar.className = 'ck-bar';
    const fill = document.createElement('i'); fill.style.width = `${(100 * c.count) / max}%`; bar.appendChild(fill);
    const n = document.createElement('b'); n.textContent = fmt(c.count, lang);
    li.append(name, bar, n); ul.appendChild(li);
  }
  wrap.appendChild(ul);
  return wrap;
}

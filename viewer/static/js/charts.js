// Figures and small SVG charts of the portrait, the renewal impact and the popups.
const NS = 'http://www.w3.org/2000/svg';

/** A two-column table of a feature's properties (empty values left out). */
export function propsTable(props) {
  const tbl = document.createElement('table');
  for (const [k, v] of Object.entries(props)) {
    if (v === null || v === undefined || v === '') continue;
    const tr = tbl.insertRow();
    tr.insertCell().textContent = k;
    tr.insertCell().textContent = String(v);
  }
  return tbl;
}

/** Horizontal bars of ``{label: value}`` (null values are shown as "<k"). */
export function barChart(data, color = '#3b6fb6', opts = {}) {
  const entries = Object.entries(data || {});
  const row = 18; const w = 300; const lab = opts.labelWidth || 70;
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('width', String(w)); svg.setAttribute('height', String(Math.max(row, entries.length * row)));
  svg.setAttribute('class', 'chart');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', entries.map(([k, v]) => `${k}: ${v == null ? '<k' : v}`).join('; '));
  const max = Math.max(1, ...entries.map(([, v]) => Number(v) || 0));
  entries.forEach(([k, v], i) => {
    const y = i * row;
    const text = document.createElementNS(NS, 'text');
    text.setAttribute('x', '0'); text.setAttribute('y', String(y + 13)); text.setAttribute('font-size', '11');
    text.textContent = k; svg.append(text);
    const bw = v == null ? 0 : Math.max(1, (Number(v) / max) * (w - lab - 40));
    const rect = document.createElementNS(NS, 'rect');
    rect.setAttribute('x', String(lab)); rect.setAttribute('y', String(y + 3)); rect.setAttribute('height', String(row - 6));
    rect.setAttribute('width', String(bw)); rect.setAttribute('fill', color); svg.append(rect);
    const val = document.createElementNS(NS, 'text');
    val.setAttribute('x', String(lab + bw + 4)); val.setAttribute('y', String(y + 13)); val.setAttribute('font-size', '11');
    val.textContent = v == null ? '<k' : String(v); svg.append(val);
  });
  return svg;
}

/** A grid of key figures: ``[[label, value], ...]``. */
export function kpis(items) {
  const div = document.createElement('div');
  div.className = 'kpis';
  for (const [label, value] of items) {
    const k = document.createElement('div');
    k.className = 'kpi';
    const b = document.createElement('b'); b.textContent = value == null ? '—' : String(value);
    const s = document.createElement('span'); s.textContent = label;
    k.append(b, s); div.append(k);
  }
  return div;
}

/** The age pyramid of a block portrait: bars by age band, split by the sex ratio. */
export function agePyramid(p) {
  const bands = Object.entries(p.population_by_age_band || {}).reverse();
  const f = (p.population_by_sex || {}).F || 0; const m = (p.population_by_sex || {}).M || 0;
  const share = f + m > 0 ? f / (f + m) : 0.5;
  const row = 16; const w = 300; const mid = w / 2;
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('width', String(w)); svg.setAttribute('height', String(bands.length * row + 4));
  svg.setAttribute('class', 'chart pyramid');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', bands.map(([band, v]) => `${band}: ${v == null ? '<k' : v}`).join('; '));
  const max = Math.max(1, ...bands.map(([, v]) => Number(v) || 0));
  bands.forEach(([band, v], i) => {
    const y = i * row; const total = Number(v) || 0; const scale = (mid - 30) / max;
    const mk = (x, width, color) => { const r = document.createElementNS(NS, 'rect');
      r.setAttribute('x', String(x)); r.setAttribute('y', String(y + 2)); r.setAttribute('width', String(width));
      r.setAttribute('height', String(row - 4)); r.setAttribute('fill', color); svg.append(r); };
    const fw = total * share * scale; const mw = total * (1 - share) * scale;
    mk(mid - 20 - fw, fw, '#c2185b'); mk(mid + 20, mw, '#1f5f99');
    const tx = document.createElementNS(NS, 'text');
    tx.setAttribute('x', String(mid)); tx.setAttribute('y', String(y + 12)); tx.setAttribute('font-size', '10');
    tx.setAttribute('text-anchor', 'middle'); tx.textContent = v == null ? `${band}*` : band; svg.append(tx);
  });
  return svg;
}

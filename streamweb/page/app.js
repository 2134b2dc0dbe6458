// The live view of a stream pipeline: fetches "stats" (relative, so the
// handler can sit under any prefix) every second and draws the graph and the
// table. Names are user data: they only ever go into textContent or
// attributes, never into markup.
'use strict';

const REFRESH_MS = 1000;
const SVG = 'http://www.w3.org/2000/svg';
const BOX_W = 250, BOX_H = 106, GAP_X = 96, GAP_Y = 28, PAD = 16;
const NAME_CHARS = 32;

let prev = null;     // the previous snapshot, for rates
let refreshes = 0;   // snapshots drawn, exposed as body[data-refreshes]

function el(name, attrs, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function short(s, n) {
  const chars = Array.from(s);
  return chars.length <= n ? s : chars.slice(0, n - 1).join('') + '…';
}

function fmtCount(n) {
  if (n >= 1e9) return (n / 1e9).toFixed(2) + 'G';
  if (n >= 1e6) return (n / 1e6).toFixed(2) + 'M';
  if (n >= 1e4) return (n / 1e3).toFixed(1) + 'k';
  return String(Math.round(n));
}

function fmtRate(r) {
  return r === null ? '–' : fmtCount(r) + '/s';
}

function fmtDur(s, samples) {
  if (!samples) return '–';
  if (s >= 1) return s.toFixed(2) + ' s';
  if (s >= 1e-3) return (s * 1e3).toFixed(2) + ' ms';
  if (s >= 1e-6) return (s * 1e6).toFixed(1) + ' µs';
  return Math.round(s * 1e9) + ' ns';
}

// rates computes in/s and out/s per stage from the previous snapshot.
function rates(cur) {
  const out = new Map();
  const before = new Map();
  if (prev) for (const st of prev.stages) before.set(st.name, st);
  const dt = prev ? cur.time - prev.time : 0;
  for (const st of cur.stages) {
    const p = before.get(st.name);
    if (!p || dt <= 0) { out.set(st.name, { in: null, out: null }); continue; }
    out.set(st.name, { in: Math.max(0, st.in - p.in) / dt, out: Math.max(0, st.out - p.out) / dt });
  }
  return out;
}

function fillColor(f) {
  if (f >= 0.9) return '#d32f2f';
  if (f >= 0.5) return '#f57c00';
  if (f > 0) return '#43a047';
  return '#9e9e9e';
}

function drawGraph(snap, rate) {
  const svg = document.getElementById('graph');
  const pos = new Map();
  let maxCol = 0, maxRow = 0;
  for (const st of snap.stages) {
    pos.set(st.name, { x: PAD + st.column * (BOX_W + GAP_X), y: PAD + st.row * (BOX_H + GAP_Y) });
    maxCol = Math.max(maxCol, st.column);
    maxRow = Math.max(maxRow, st.row);
  }
  const width = 2 * PAD + (maxCol + 1) * BOX_W + maxCol * GAP_X;
  const height = 2 * PAD + (maxRow + 1) * BOX_H + maxRow * GAP_Y;
  const root = el('svg', { width, height, viewBox: `0 0 ${width} ${height}` });

  // Edges: one line per pair of stages, the fill of all its channels.
  const pairs = new Map();
  for (const e of snap.edges) {
    const k = JSON.stringify([e.from, e.to]);
    const p = pairs.get(k) || { from: e.from, to: e.to, len: 0, cap: 0, n: 0 };
    p.len += e.queue_len; p.cap += e.queue_cap; p.n++;
    pairs.set(k, p);
  }
  const fed = new Set(snap.edges.map(e => e.to));
  const edges = el('g', { class: 'edges' });
  for (const p of pairs.values()) {
    const a = pos.get(p.from), b = pos.get(p.to);
    if (!a || !b) continue;
    const x1 = a.x + BOX_W, y1 = a.y + BOX_H / 2, x2 = b.x, y2 = b.y + BOX_H / 2;
    const f = p.cap > 0 ? p.len / p.cap : 0;
    const g = el('g', { class: 'edge-group' });
    g.dataset.from = p.from;
    g.dataset.to = p.to;
    g.appendChild(el('path', {
      class: 'edge', d: `M${x1},${y1} C${x1 + GAP_X / 2},${y1} ${x2 - GAP_X / 2},${y2} ${x2},${y2}`,
      stroke: fillColor(f), 'stroke-width': 1.5 + 4 * f,
    }));
    const mx = (x1 + x2) / 2, my = (y1 + y2) / 2;
    g.appendChild(el('rect', { class: 'bar-bg', x: mx - 20, y: my - 14, width: 40, height: 5 }));
    g.appendChild(el('rect', { x: mx - 20, y: my - 14, width: 40 * Math.min(1, f), height: 5, fill: fillColor(f) }));
    g.appendChild(el('text', { class: 'edge-label', x: mx, y: my + 12, 'text-anchor': 'middle' },
      `${p.len}/${p.cap}` + (p.n > 1 ? ` (${p.n} ch)` : '')));
    g.appendChild(el('title', {}, `${p.from} → ${p.to}: ${p.len} of ${p.cap} queued`));
    edges.appendChild(g);
  }
  root.appendChild(edges);

  for (const st of snap.stages) {
    const { x, y } = pos.get(st.name);
    const r = rate.get(st.name);
    const slow = st.name === snap.bottleneck;
    const g = el('g', { class: 'stage' + (slow ? ' slow' : '') + (st.done ? ' done' : ''), transform: `translate(${x},${y})` });
    g.dataset.name = st.name;
    g.dataset.in = st.in;
    g.dataset.out = st.out;
    g.appendChild(el('title', {}, st.name));
    g.appendChild(el('rect', { class: 'box', width: BOX_W, height: BOX_H, rx: 6 }));
    g.appendChild(el('text', { class: 'name', x: 8, y: 17 }, short(st.name, NAME_CHARS)));
    const workers = st.workers > 1 ? ` ×${st.workers}` : '';
    g.appendChild(el('text', { class: 'dim', x: 8, y: 33 },
      `${st.kind}${workers} · busy ${st.busy}/${st.limit}` + (st.done ? ' · done' : '')));
    const ins = fed.has(st.name) || st.in > 0 ? `in ${fmtRate(r.in)} · ` : ''; // a source has no input
    g.appendChild(el('text', { class: 'rates', x: 8, y: 50 }, `${ins}out ${fmtRate(r.out)}`));
    g.appendChild(el('text', { class: 'faults', x: 8, y: 66 },
      `drops ${fmtCount(st.dropped)} · errors ${fmtCount(st.errors)}` + (st.queue_cap > 0 ? ` · q ${st.queue_len}/${st.queue_cap}` : '')));
    g.appendChild(el('text', { class: 'latency', x: 8, y: 82 },
      `p50 ${fmtDur(st.p50_seconds, st.latency_samples)} · p99 ${fmtDur(st.p99_seconds, st.latency_samples)}`));
    if (slow) g.appendChild(el('text', { class: 'slow-tag', x: 8, y: 99 }, 'holding the others back'));
    root.appendChild(g);
  }
  svg.replaceWith(root);
  root.id = 'graph';
  root.setAttribute('role', 'img');
  root.setAttribute('aria-label', "the pipeline's stages and channels");
}

function drawTable(snap, rate) {
  const body = document.querySelector('#stages tbody');
  const rows = [];
  for (const st of snap.stages) {
    const r = rate.get(st.name);
    const tr = document.createElement('tr');
    if (st.name === snap.bottleneck) tr.className = 'slow';
    tr.dataset.name = st.name;
    const cells = [st.name, st.kind, st.workers, st.busy, st.in, st.out, fmtRate(r.in), fmtRate(r.out),
      st.errors, st.dropped, st.queue_cap > 0 ? `${st.queue_len}/${st.queue_cap}` : '–',
      fmtDur(st.p50_seconds, st.latency_samples), fmtDur(st.p99_seconds, st.latency_samples)];
    const cls = ['name', 'kind', 'workers', 'busy', 'in', 'out', 'in-rate', 'out-rate', 'errors', 'dropped', 'queue', 'p50', 'p99'];
    cells.forEach((c, i) => {
      const td = document.createElement('td');
      td.className = cls[i];
      td.textContent = String(c);
      if (i === 0) td.title = st.name;
      tr.appendChild(td);
    });
    rows.push(tr);
  }
  body.replaceChildren(...rows);
}

function drawSummary(snap) {
  const p = document.getElementById('summary');
  const n = snap.stages.length;
  const parts = [`${n} stage${n === 1 ? '' : 's'}, ${snap.edges.length} channel${snap.edges.length === 1 ? '' : 's'} between them. `];
  const nodes = parts.map(t => document.createTextNode(t));
  if (snap.bottleneck) {
    nodes.push(document.createTextNode('Holding the others back: '));
    const b = document.createElement('span');
    b.className = 'slow-name';
    b.id = 'bottleneck';
    b.textContent = snap.bottleneck;
    nodes.push(b);
    nodes.push(document.createTextNode(' (all its workers busy, its input backed up, its output not).'));
  } else {
    nodes.push(document.createTextNode('No stage is holding the others back.'));
  }
  p.replaceChildren(...nodes);
}

async function tick() {
  const status = document.getElementById('status');
  try {
    const resp = await fetch('stats', { cache: 'no-store' });
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    const snap = await resp.json();
    const rate = rates(snap);
    drawGraph(snap, rate);
    drawTable(snap, rate);
    drawSummary(snap);
    prev = snap;
    refreshes++;
    if (refreshes === 1) performance.mark('first-draw');
    document.body.dataset.refreshes = String(refreshes);
    status.className = '';
    status.textContent = 'updated ' + new Date(snap.time * 1000).toLocaleTimeString();
  } catch (err) {
    status.className = 'error';
    status.textContent = 'cannot read stats: ' + err.message;
  }
  setTimeout(tick, REFRESH_MS);
}

tick();

// The graph explorer over Neuronpedia's graph JSON (ours or a file of that schema): layers as rows
// (embeddings at the bottom, logits on top), positions as columns; pan (drag) and zoom (wheel).
// Built once per graph: node indices, adjacency lists sorted by |weight|, and positions. Drawn:
// only the strongest edges among the nodes the pruning slider keeps (a few paths, one per sign
// and strength bucket), and on hover or pin the node's strongest inputs and outputs as lines of
// their own while the rest dims. Labels (`clerp`), supernodes (`qParams.supernodes`), the selected
// nodes (`qParams.pinnedIds`) and the pinned one (`qParams.clickedId`) go into the JSON the user
// downloads.
let graphView = null;
// The SVG namespace as the HTML parser gives it (the page holds no URL).
const SVGNS = (() => { const d = document.createElement('div'); d.innerHTML = '<svg></svg>'; return d.firstChild.namespaceURI; })();
const MAX_BASE_EDGES = 4000, NEIGHBOURS = 10;
window.graphTimings = {};

const isFeature = n => n.feature_type === 'cross layer transcoder';
const isError = n => n.feature_type === 'mlp reconstruction error';
const alwaysShown = n => n.feature_type === 'embedding' || n.feature_type === 'logit';

// The explorer's model of a graph: adjacency (Int32/Float32 arrays, each node's lists by |w|).
function graphModel(g) {
  const t0 = performance.now(), nodes = g.nodes, N = nodes.length, idx = new Map();
  nodes.forEach((n, i) => idx.set(n.node_id, i));
  const L = g.links.length, src = new Int32Array(L), tgt = new Int32Array(L), w = new Float32Array(L);
  let kept = 0;
  for (const l of g.links) {
    const s = idx.get(l.source), t = idx.get(l.target);
    if (s === undefined || t === undefined) continue;
    src[kept] = s; tgt[kept] = t; w[kept] = l.weight; kept++;
  }
  const order = new Int32Array(kept).map((_, k) => k).sort((a, b) => Math.abs(w[b]) - Math.abs(w[a]));
  const ins = Array.from({length: N}, () => []), outs = Array.from({length: N}, () => []);
  for (const k of order) { outs[src[k]].push(k); ins[tgt[k]].push(k); }  // already strongest first
  const maxLayer = Math.max(0, ...nodes.filter(n => n.feature_type !== 'logit' && n.layer !== 'E').map(n => Number(n.layer)));
  const rows = maxLayer + 3, row = n => n.feature_type === 'logit' ? rows - 1 : n.layer === 'E' ? 0 : Number(n.layer) + 1;
  const tokens = g.metadata.prompt_tokens || [], positions = Math.max(tokens.length, 1 + Math.max(0, ...nodes.map(n => n.ctx_idx)));
  const cells = new Map(), perColumn = new Array(positions).fill(1);
  nodes.forEach((n, i) => { const key = row(n) * 100000 + n.ctx_idx; if (!cells.has(key)) cells.set(key, []); cells.get(key).push(i); });
  cells.forEach((members, key) => { const p = key % 100000; perColumn[p] = Math.max(perColumn[p], members.length); });
  const colWidth = perColumn.map(c => Math.max(90, c * 11 + 20)), colX = [70];
  colWidth.forEach((cw, p) => colX.push(colX[p] + cw));
  const rowH = 42, top = 24, x = new Float32Array(N), y = new Float32Array(N);
  const rowY = r => top + rowH * (rows - 1 - r) + rowH / 2;
  cells.forEach((members, key) => {
    const p = key % 100000, r = Math.floor(key / 100000), spread = (colWidth[p] - 16) / members.length;
    members.sort((a, b) => (nodes[a].influence || 0) - (nodes[b].influence || 0));
    members.forEach((i, k) => { x[i] = colX[p] + 8 + spread * (k + 0.5); y[i] = rowY(r); });
  });
  const view = {g, nodes, idx, src, tgt, w, order, ins, outs, x, y, rows, rowY, colX, positions, tokens, width: colX[positions] + 20,
                height: top + rowH * rows + 30, pinned: null, hovered: null, selected: new Set(), groups: [], group: new Int32Array(N).fill(-1),
                scale: 1, tx: 0, ty: 0, lit: []};
  // The file's supernodes: [label, node ids...] each (two groups may share a label).
  ((g.qParams || {}).supernodes || []).filter(s => Array.isArray(s) && s.length > 2)
    .forEach(([label, ...ids]) => makeGroup(view, ids.map(id => idx.get(id)).filter(i => i !== undefined), String(label)));
  window.graphTimings.model_ms = performance.now() - t0;
  return view;
}

function makeGroup(v, members, label) {
  members = members.filter(i => v.group[i] < 0);
  if (members.length < 2) return;
  const gi = v.groups.length;
  members.forEach(i => v.group[i] = gi);
  const cx = members.reduce((a, i) => a + v.x[i], 0) / members.length, cy = members.reduce((a, i) => a + v.y[i], 0) / members.length;
  v.groups.push({label, members, x: cx, y: cy});
}

// A supernode's mark: a rounded square at its members' centre.
function superElement(v, gi, parent) {
  const gr = v.groups[gi];
  return svgEl('rect', {class: 'gnode super', 'data-group': gi, x: gr.x - 9, y: gr.y - 9, width: 18, height: 18, rx: 4}, parent);
}

// Where an end of an edge is drawn: the node, or its supernode.
const endX = (v, i) => v.group[i] >= 0 ? v.groups[v.group[i]].x : v.x[i];
const endY = (v, i) => v.group[i] >= 0 ? v.groups[v.group[i]].y : v.y[i];
const visible = (v, i) => alwaysShown(v.nodes[i]) || (v.nodes[i].influence ?? 0) <= Number($('gv-prune').value) + 1e-9;

function svgEl(name, attrs, parent) {
  const e = document.createElementNS(SVGNS, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}

function drawGraphView() {
  const t0 = performance.now(), v = graphView, box = $('graph');
  box.innerHTML = '';
  const svg = svgEl('svg', {id: 'graph-svg'}, box);
  const vp = svgEl('g', {id: 'gv-vp'}, svg);
  const frame = svgEl('g', {class: 'frame'}, vp);
  for (let r = 0; r < v.rows; r++)
    svgEl('text', {x: 8, y: v.rowY(r) + 4, 'font-size': 11, fill: '#555'}, frame).textContent = r === 0 ? 'emb' : r === v.rows - 1 ? 'logit' : 'L' + (r - 1);
  for (let p = 0; p < v.positions; p++)
    svgEl('text', {x: (v.colX[p] + v.colX[p + 1]) / 2, y: v.height - 10, 'font-size': 12, 'text-anchor': 'middle', 'font-family': 'Menlo,monospace'}, frame)
      .textContent = shown(v.tokens[p] ?? p);
  svgEl('g', {id: 'gv-base'}, vp); svgEl('g', {id: 'gv-hl'}, vp);
  const nodeLayer = svgEl('g', {id: 'gv-nodes'}, vp); svgEl('g', {id: 'gv-labels'}, vp);
  v.elements = new Array(v.nodes.length);
  v.nodes.forEach((n, i) => {
    const x = v.x[i], y = v.y[i], a = {class: 'gnode', 'data-node': n.node_id, 'data-index': i};
    let e;
    if (isFeature(n)) e = svgEl('circle', {...a, cx: x.toFixed(1), cy: y.toFixed(1), r: 4.5, fill: '#e08a3c'}, nodeLayer);
    else if (isError(n)) e = svgEl('rect', {...a, x: (x - 4.5).toFixed(1), y: (y - 4.5).toFixed(1), width: 9, height: 9, fill: '#888'}, nodeLayer);
    else if (n.feature_type === 'embedding') e = svgEl('rect', {...a, x: (x - 7).toFixed(1), y: (y - 5).toFixed(1), width: 14, height: 10, fill: '#6aa84f'}, nodeLayer);
    else e = svgEl('polygon', {...a, points: `${x},${y - 7} ${x + 7},${y} ${x},${y + 7} ${x - 7},${y}`, fill: '#8e44ad'}, nodeLayer);
    v.elements[i] = e;
  });
  v.groupElements = v.groups.map((_, gi) => superElement(v, gi, nodeLayer));
  redrawGraph();
  attachGraphEvents(svg);
  fitGraph();
  const built = performance.now();
  requestAnimationFrame(() => requestAnimationFrame(() => {
    window.graphTimings.draw_ms = built - t0;
    window.graphTimings.first_paint_ms = performance.now() - t0;
    window.graphTimings.drawn_at = performance.now();
  }));
}

// The parts that change with the sliders, groups and labels: which nodes show, the base edges, labels.
function redrawGraph() {
  const v = graphView;
  if (!v) return;
  const shownNode = new Uint8Array(v.nodes.length);
  v.nodes.forEach((n, i) => {
    shownNode[i] = visible(v, i) ? 1 : 0;
    v.elements[i].style.display = shownNode[i] && v.group[i] < 0 ? '' : 'none';
    v.elements[i].classList.toggle('selected', v.selected.has(i));
    v.elements[i].classList.toggle('pinned', v.pinned === i);
  });
  v.shownNode = shownNode;
  // The strongest edges between shown nodes, up to the slider's share of their total |weight|.
  let total = 0;
  for (const k of v.order) if (shownNode[v.src[k]] && shownNode[v.tgt[k]]) total += Math.abs(v.w[k]);
  const share = Number($('gv-edges').value), buckets = Array.from({length: 8}, () => []);
  let sum = 0, count = 0, strongest = 0;
  for (const k of v.order) {
    const s = v.src[k], t = v.tgt[k];
    if (!shownNode[s] || !shownNode[t] || (v.group[s] >= 0 && v.group[s] === v.group[t])) continue;
    const a = Math.abs(v.w[k]);
    if (count >= MAX_BASE_EDGES || (sum > 0 && sum + a > share * total)) break;
    if (!strongest) strongest = a;
    sum += a; count++;
    const b = Math.min(3, Math.floor(4 * Math.sqrt(a / strongest))) + (v.w[k] >= 0 ? 0 : 4);
    buckets[b].push(`M${endX(v, s).toFixed(1)} ${endY(v, s).toFixed(1)}L${endX(v, t).toFixed(1)} ${endY(v, t).toFixed(1)}`);
  }
  const base = $('gv-base');
  base.innerHTML = '';
  buckets.forEach((d, b) => {
    if (!d.length) return;
    const level = (b % 4 + 1) / 4;
    svgEl('path', {class: 'base', d: d.join(''), fill: 'none', stroke: b < 4 ? '#2a5db0' : '#c0392b',
                   'stroke-opacity': (0.12 + 0.5 * level).toFixed(2), 'stroke-width': (0.4 + 2.2 * level).toFixed(2)}, base);
  });
  v.baseEdges = count;
  const labels = $('gv-labels');
  labels.innerHTML = '';
  v.labelElements = new Map();
  v.nodes.forEach((n, i) => {
    if (!shownNode[i] || v.group[i] >= 0) return;
    const text = n.feature_type === 'logit' ? shown(n.clerp.replace(/^Output "(.*)" \(p=.*$/, '$1')) : isFeature(n) || isError(n) ? n.clerp : '';
    if (!text) return;
    const e = svgEl('text', {class: 'glabel', x: v.x[i] + 6, y: v.y[i] - 6}, labels);
    e.textContent = text.length > 24 ? text.slice(0, 23) + '…' : text;
    v.labelElements.set(i, e);
  });
  v.groups.forEach((gr, gi) => {
    const e = svgEl('text', {class: 'glabel', x: gr.x + 11, y: gr.y + 4, 'font-weight': 'bold'}, labels);
    e.textContent = gr.label;
    v.labelElements.set(-1 - gi, e);
  });
  $('gv-prune-value').textContent = Number($('gv-prune').value).toFixed(2);
  $('gv-edges-value').textContent = Number($('gv-edges').value).toFixed(2);
  $('gv-group').disabled = v.selected.size < 2;
  $('gv-selected').innerHTML = v.selected.size ? `selected (${v.selected.size}): ` + [...v.selected].map(i =>
    `<a class="gv-jump" data-key="${i}">${esc(nodeName(v, i))}</a>`).join(' · ') : '';
  document.querySelectorAll('#gv-selected .gv-jump').forEach(a => a.onclick = () => { pinGraphNode(Number(a.dataset.key)); syncURL(true); });
  const summary = $('gv-counts');
  if (summary) summary.textContent = `${shownNode.reduce((a, b) => a + b, 0)} of ${v.nodes.length} nodes shown, ${count} of ${v.order.length} edges drawn`;
  highlight(v.hovered ?? v.pinned);
}

// A node's (or a supernode's, by -1 - index) strongest inputs and outputs among the shown nodes,
// summed over a supernode's members and by the other end's supernode.
function neighbours(v, key, limit = NEIGHBOURS) {
  const members = key >= 0 ? [key] : v.groups[-1 - key].members, inside = new Set(members);
  const collect = (lists, far) => {
    const sums = new Map();
    for (const i of members) for (const k of lists[i]) {
      const j = far[k];
      if (!v.shownNode[j] || inside.has(j)) continue;
      const end = v.group[j] >= 0 ? -1 - v.group[j] : j;
      sums.set(end, (sums.get(end) || 0) + v.w[k]);
      if (members.length === 1 && sums.size >= limit && v.group[j] < 0) break;
    }
    return [...sums.entries()].sort((a, b) => Math.abs(b[1]) - Math.abs(a[1])).slice(0, limit);
  };
  return {inputs: collect(v.ins, v.src), outputs: collect(v.outs, v.tgt)};
}

const keyX = (v, key) => key >= 0 ? endX(v, key) : v.groups[-1 - key].x;
const keyY = (v, key) => key >= 0 ? endY(v, key) : v.groups[-1 - key].y;
const keyElement = (v, key) => key >= 0 ? v.elements[key] : v.groupElements[-1 - key];

// Dims everything but `key`, its strongest inputs and outputs, and the lines between them.
function highlight(key) {
  const v = graphView, svg = $('graph-svg'), hl = $('gv-hl');
  v.lit.forEach(e => e.classList.remove('hi'));
  v.lit = [];
  hl.innerHTML = '';
  if (key === null || key === undefined) { svg.classList.remove('dim'); return; }
  svg.classList.add('dim');
  const {inputs, outputs} = neighbours(v, key), strongest = Math.max(1e-12, ...[...inputs, ...outputs].map(e => Math.abs(e[1])));
  const lit = e => { if (e) { e.classList.add('hi'); v.lit.push(e); } };
  lit(keyElement(v, key)); lit(v.labelElements.get(key));
  for (const [list, incoming] of [[inputs, true], [outputs, false]]) for (const [j, weight] of list) {
    lit(keyElement(v, j)); lit(v.labelElements.get(j));
    const [a, b] = incoming ? [j, key] : [key, j], s = Math.abs(weight) / strongest;
    svgEl('line', {x1: keyX(v, a), y1: keyY(v, a), x2: keyX(v, b), y2: keyY(v, b), stroke: weight >= 0 ? '#2a5db0' : '#c0392b',
                   'stroke-width': (0.8 + 3.5 * s).toFixed(2), 'stroke-opacity': 0.85, class: incoming ? 'in' : 'out'}, hl);
  }
}

function attachGraphEvents(svg) {
  const v = graphView;
  const keyOf = e => { const n = e.target.closest('.gnode'); return !n ? null : n.dataset.group !== undefined ? -1 - Number(n.dataset.group) : Number(n.dataset.index); };
  svg.addEventListener('mouseover', e => { const k = keyOf(e); if (k !== null) hoverGraph(k); });
  svg.addEventListener('mouseout', e => { if (keyOf(e) !== null) { v.hovered = null; highlight(v.pinned); $('tip').style.display = 'none'; } });
  svg.addEventListener('mousemove', e => {
    const k = keyOf(e), tip = $('tip');
    if (k === null) return;
    tip.textContent = k >= 0 ? nodeName(v, k) : `supernode ${v.groups[-1 - k].label} (${v.groups[-1 - k].members.length} nodes)`;
    tip.style.display = 'block'; tip.style.left = (e.clientX + 12) + 'px'; tip.style.top = (e.clientY + 12) + 'px';
  });
  svg.addEventListener('click', e => {
    const k = keyOf(e);
    if (k === null || v.dragged) return;
    if (e.shiftKey && k >= 0) { v.selected.has(k) ? v.selected.delete(k) : v.selected.add(k); redrawGraph(); return; }
    pinGraphNode(v.pinned === k ? null : k);
    syncURL(true);
  });
  let drag = null;
  svg.addEventListener('mousedown', e => { if (e.button === 0) { drag = {x: e.clientX, y: e.clientY, tx: v.tx, ty: v.ty}; v.dragged = false; } });
  window.addEventListener('mousemove', e => {
    if (!drag || graphView !== v) return;
    if (Math.abs(e.clientX - drag.x) + Math.abs(e.clientY - drag.y) > 3) { v.dragged = true; svg.classList.add('panning'); }
    if (v.dragged) { v.tx = drag.tx + e.clientX - drag.x; v.ty = drag.ty + e.clientY - drag.y; applyTransform(); }
  });
  window.addEventListener('mouseup', () => { drag = null; svg.classList.remove('panning'); setTimeout(() => { v.dragged = false; }, 0); });
  svg.addEventListener('wheel', e => {
    e.preventDefault();
    const r = svg.getBoundingClientRect(), mx = e.clientX - r.left, my = e.clientY - r.top, f = Math.exp(-e.deltaY * 0.0015);
    const scale = Math.max(0.1, Math.min(20, v.scale * f)), k = scale / v.scale;
    v.tx = mx - k * (mx - v.tx); v.ty = my - k * (my - v.ty); v.scale = scale;
    applyTransform();
  }, {passive: false});
}

function hoverGraph(key) {
  const t0 = performance.now();
  graphView.hovered = key;
  highlight(key);
  window.graphTimings.hover_ms = performance.now() - t0;
}

// Hovers a node and reports the work and the time to the next painted frame (for the tests).
function measureHover(nodeId) {
  return new Promise(resolve => {
    const i = graphView.idx.get(nodeId), t0 = performance.now();
    hoverGraph(i);
    const work = performance.now() - t0;
    requestAnimationFrame(() => requestAnimationFrame(() => resolve({hover_ms: work, hover_paint_ms: performance.now() - t0,
      lit: graphView.lit.length, lines: $('gv-hl').children.length})));
  });
}

function applyTransform() { $('gv-vp').setAttribute('transform', `translate(${graphView.tx.toFixed(1)},${graphView.ty.toFixed(1)}) scale(${graphView.scale.toFixed(4)})`); }

function fitGraph() {
  const v = graphView, svg = $('graph-svg');
  if (!v || !svg) return;
  const r = svg.getBoundingClientRect(), width = r.width || 900, height = r.height || 640;
  v.scale = Math.min(width / v.width, height / v.height, 2);
  v.tx = (width - v.width * v.scale) / 2; v.ty = (height - v.height * v.scale) / 2;
  applyTransform();
}

// Groups the selected nodes into a supernode (named by the user), kept in the JSON's qParams.
function groupSelected() {
  const v = graphView, members = [...v.selected];
  if (members.length < 2) return;
  const label = (window.prompt ? window.prompt('Supernode label', `group ${v.groups.length + 1}`) : null) || `group ${v.groups.length + 1}`;
  makeGroup(v, members, label);
  v.selected.clear();
  v.groupElements.push(superElement(v, v.groups.length - 1, $('gv-nodes')));
  redrawGraph();
  pinGraphNode(-v.groups.length);
}

// The graph as Neuronpedia's JSON, with the user's labels, supernodes and pinned node.
function graphJSON() {
  const v = graphView, g = v.g;
  g.qParams = Object.assign({}, g.qParams || {}, {
    supernodes: v.groups.map(gr => [gr.label, ...gr.members.map(i => v.nodes[i].node_id)]),
    pinnedIds: [...v.selected].map(i => v.nodes[i].node_id),
    clickedId: v.pinned !== null && v.pinned >= 0 ? v.nodes[v.pinned].node_id : ''});
  return JSON.stringify(g, null, 1);
}

function graphSVG() {
  const clone = $('graph-svg').cloneNode(true);
  clone.classList.remove('dim');
  clone.setAttribute('width', graphView.width); clone.setAttribute('height', graphView.height);
  clone.setAttribute('viewBox', `0 0 ${graphView.width} ${graphView.height}`);
  clone.querySelector('#gv-vp').removeAttribute('transform');
  clone.querySelectorAll('[style]').forEach(e => { if (e.style.display === 'none') e.remove(); });
  const style = document.createElementNS(SVGNS, 'style');
  style.textContent = '.glabel{font:10px Menlo,monospace;fill:#1d1d1f}.super{fill:#fff1b8;stroke:#8a6d00;stroke-width:1.5}.pinned{stroke:#b00020;stroke-width:2.5}';
  clone.insertBefore(style, clone.firstChild);
  return '<?xml version="1.0" encoding="UTF-8"?>\n' + new XMLSerializer().serializeToString(clone);
}

$('gv-prune').oninput = $('gv-edges').oninput = () => { redrawGraph(); syncURL(false); };
$('gv-fit').onclick = fitGraph;
// Escape unpins the node and clears the selection.
document.addEventListener('keydown', e => {
  if (e.key !== 'Escape' || !graphView || currentTab() !== 'circuits' || e.target.tagName === 'INPUT') return;
  graphView.selected.clear();
  if (graphView.pinned !== null) { pinGraphNode(null); syncURL(true); } else redrawGraph();
});
$('gv-group').onclick = groupSelected;
$('gv-clear').onclick = () => { if (graphView) { graphView.selected.clear(); redrawGraph(); } };
$('gv-json').onclick = () => download(`${(graphView.g.metadata.slug || 'graph')}.json`, graphJSON(), 'application/json');
$('gv-svg').onclick = () => download(`${(graphView.g.metadata.slug || 'graph')}.svg`, graphSVG(), 'image/svg+xml');

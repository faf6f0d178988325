// The Circuits tab: builds the attribution graph over server-sent progress (or opens a graph JSON
// from disk), shows its dark-matter share, and the pinned node's card: its strongest inputs and
// outputs, an editable label, a transcoder feature's top contexts and logit effects (its label from
// the contexts' strongest tokens), an error node's layer's share of the dark matter. graphview.js
// draws it.
let graphAbort = null, graphData = null, graphOrigin = null, graphPending = null;
let graphPrompt = null;  // the prompt a graph was built for (its JSON holds the decoded tokens)

function graphPanelStart() {
  if (!info.transcoders) { $('graph-status').textContent = 'The server has no transcoders (start it with --transcoders DIR); a graph JSON can still be opened.'; $('graph-run').disabled = true; return; }
  $('graph-status').textContent = `${info.transcoders.kind} transcoders, ${info.transcoders.layers} layers; prompts up to ${info.limits.graph_tokens} tokens`;
}

// The tab was opened: a graph drawn while hidden is fitted to the now visible box.
function graphShown() { if (graphView) requestAnimationFrame(fitGraph); }

async function buildGraph() {
  if (graphAbort) graphAbort.abort();  // the server cancels the old graph when we hang up
  graphAbort = new AbortController();
  // Batches of 16 targets: as fast as the CLI's 64 on the default model, and a `next` waits
  // for one batch (under a second) instead of up to five.
  const body = {prompt: $('prompt').value, node_threshold: Number($('graph-node').value), edge_threshold: Number($('graph-edge').value), batch_size: 16};
  if ($('graph-max').value !== '') body.max_feature_nodes = Number($('graph-max').value);
  graphPrompt = body.prompt;
  $('graph').innerHTML = ''; $('graph-summary').innerHTML = ''; $('graph-node-info').innerHTML = ''; $('graph-tools').hidden = true;
  graphData = graphView = null;
  $('graph-progress').value = 0;
  $('graph-status').className = 'legend';
  $('graph-status').textContent = 'forward pass…';
  const started = performance.now();
  try {
    await streamEvents('/api/graph/stream', body, graphAbort.signal, (event, data) => {
      if (event === 'progress') {
        $('graph-progress').max = Math.max(data.total, 1); $('graph-progress').value = data.done;
        $('graph-status').textContent = `backward passes: ${data.done} of ${data.total} targets`;
      }
      if (event === 'done') {
        showGraph(data, 'built');
        $('graph-status').textContent = `done in ${((performance.now() - started) / 1000).toFixed(1)} s`;
        syncURL(!restoring);
      }
      if (event === 'error') graphFailed(data.error);
    });
  } catch (e) { if (e.name !== 'AbortError') graphFailed(e.message); }
}

function graphFailed(message) {
  $('graph').innerHTML = ''; $('graph-summary').innerHTML = ''; $('graph-node-info').innerHTML = ''; $('graph-tools').hidden = true;
  graphData = graphView = null;
  $('graph-status').className = 'err'; $('graph-status').textContent = message;
}

// Draws a graph (`origin`: 'built' here, or 'file'); restores its pinned node from qParams.
function showGraph(data, origin) {
  const t0 = performance.now();
  if (!data || !Array.isArray(data.nodes) || !Array.isArray(data.links) || !data.metadata) throw new Error('not a graph JSON: it needs metadata, nodes and links');
  graphData = data; graphOrigin = origin;
  graphView = graphModel(data);
  $('graph-tools').hidden = false;
  drawGraphSummary();
  drawGraphView();
  window.graphTimings.nodes = data.nodes.length; window.graphTimings.links = data.links.length; window.graphTimings.started = t0;
  // The schema's pinned nodes are the selection here; its clicked node is the pinned one (the card).
  const q = data.qParams || {};
  (q.pinnedIds || []).forEach(id => graphView.idx.has(id) && graphView.selected.add(graphView.idx.get(id)));
  if (graphPending !== null) { pinGraphNode(graphView.idx.get(graphPending) ?? null); graphPending = null; }
  else if (q.clickedId && graphView.idx.has(q.clickedId)) pinGraphNode(graphView.idx.get(q.clickedId));
  else redrawGraph();
}

function drawGraphSummary() {
  const g = graphData, dark = (g.metadata || {}).lantern;
  $('graph-summary').innerHTML = `<div class="card" id="dark-matter">` + (dark ?
    `<b>Dark matter:</b> ${(dark.error_share * 100).toFixed(1)}% of the logits' influence flows from error nodes ` +
    `(replacement score ${dark.replacement_score.toFixed(3)}, completeness score ${dark.completeness_score.toFixed(3)}). ` +
    '<div class="legend">error share by layer: ' + dark.error_share_by_layer.map((s, l) => `L${l} ${(s * 100).toFixed(1)}%`).join(' · ') + '</div>'
    : `<b>${esc(g.metadata.slug || 'graph')}</b> <span class="legend">(no dark-matter figures in this file: not made by Lantern)</span>`) +
    `<div>${g.nodes.length} nodes and ${g.links.length} edges; <span id="gv-counts"></span></div>` +
    '<div class="legend">orange: features · grey squares: error nodes · green: embeddings · purple: logits · yellow: supernodes · blue/red: positive/negative edges</div></div>';
}

function describeNode(n, tokens) {
  const at = `${n.ctx_idx} (${shown(tokens[n.ctx_idx] ?? '')})`;
  switch (n.feature_type) {
    case 'cross layer transcoder': return `feature ${featureOf(n)} of layer ${n.layer} at ${at}` + (n.activation != null ? `, activation ${n.activation.toPrecision(4)}` : '');
    case 'mlp reconstruction error': return `error node of MLP ${n.layer} at ${at}`;
    case 'embedding': return `embedding of ${shown(tokens[n.ctx_idx] ?? '')} at ${n.ctx_idx}`;
    default: return n.clerp || n.node_id;
  }
}
const featureOf = n => Number(String(n.jsNodeId || n.node_id).split('_')[1].split('-')[0]);
const nodeName = (v, key) => key >= 0 ? (v.nodes[key].clerp && v.nodes[key].feature_type !== 'logit' ? `${v.nodes[key].clerp} · ` : '') + describeNode(v.nodes[key], v.tokens)
  : `supernode ${v.groups[-1 - key].label}`;

// Pins a node (or supernode, by -1 - index; null unpins) and opens its card.
async function pinGraphNode(key) {
  const v = graphView;
  if (!v) return;
  v.pinned = key === undefined ? null : key;
  redrawGraph();
  if (v.pinned === null) { $('graph-node-info').innerHTML = ''; return; }
  const {inputs, outputs} = neighbours(v, key, 8);
  const list = items => items.map(([j, w]) => `<div><a class="gv-jump" data-key="${j}">${w >= 0 ? '+' : ''}${w.toPrecision(3)}</a> ${esc(nodeName(v, j))}</div>`).join('') || '<div class="legend">none shown</div>';
  const n = key >= 0 ? v.nodes[key] : null;
  let html = `<div class="card" id="graph-node-card"><b>${esc(key >= 0 ? describeNode(n, v.tokens) : nodeName(v, key))}</b>`;
  if (n) html += `<div class="legend">input ${n.input != null ? n.input.toPrecision(4) : '–'} · cumulative influence ${n.influence != null ? n.influence.toFixed(3) : '–'}` +
    (n.unattributed != null ? ` · unattributed ${n.unattributed.toPrecision(3)}` : '') + '</div>' +
    (n.feature_type !== 'logit' && n.feature_type !== 'embedding' ? `<div>label <input class="label" id="gv-label" value="${esc(n.clerp || '')}" placeholder="a label, kept in the JSON"></div>` : '');
  else html += `<div class="legend">${v.groups[-1 - key].members.length} nodes: ${v.groups[-1 - key].members.map(i => esc(describeNode(v.nodes[i], v.tokens))).join('; ')}</div>`;
  const dark = (v.g.metadata || {}).lantern;
  if (n && isError(n) && dark) html += `<div id="gv-dark"><b>dark matter</b>: error nodes of MLP ${n.layer} carry ${(dark.error_share_by_layer[Number(n.layer)] * 100).toFixed(1)}% ` +
    `of the logits' influence (all error nodes ${(dark.error_share * 100).toFixed(1)}%); this node's input ${n.input != null ? n.input.toPrecision(4) : '–'} is what the transcoder misses here.</div>`;
  html += `<div class="side"><div id="gv-inputs"><b>strongest inputs</b>${list(inputs)}</div><div id="gv-outputs"><b>strongest outputs</b>${list(outputs)}</div></div><div id="graph-contexts"></div></div>`;
  $('graph-node-info').innerHTML = html;
  document.querySelectorAll('#graph-node-card .gv-jump').forEach(a => a.onclick = () => { pinGraphNode(Number(a.dataset.key)); syncURL(true); });
  if ($('gv-label')) $('gv-label').oninput = e => { n.clerp = e.target.value; redrawGraph(); };
  if (!n || !isFeature(n) || !info.transcoders || info.transcoders.kind !== 'per-layer' || graphOrigin !== 'built') return;
  $('graph-contexts').textContent = 'top contexts: loading…';
  try {
    const r = await api('/api/transcoder-feature', {layer: Number(n.layer), feature: featureOf(n)});
    if (graphView !== v || v.pinned !== key) return;
    // The label from the contexts' strongest tokens (the «marked» ones), most frequent first.
    const counts = new Map();
    r.contexts.forEach(c => { const m = c.match(/«([^»]*)»/); if (m) counts.set(m[1], (counts.get(m[1]) || 0) + 1); });
    const top = [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([t]) => shown(t).trim() || shown(t)).join(' · ');
    if (!n.clerp && top) { n.clerp = top; $('gv-label').value = top; redrawGraph(); }
    const logits = l => l.map(t => `${esc(shown(t.text))} <span class="legend">${t.logit >= 0 ? '+' : ''}${t.logit.toFixed(2)}</span>`).join(', ');
    $('graph-contexts').innerHTML = (r.logits ? `<div id="gv-logits"><span class="legend">direct logit effects (W_dec·W_U through the final norm's gain, without its 1/rms)</span><br>` +
      `<b>promoted</b> ${logits(r.logits.positive)}<br><b>suppressed</b> ${logits(r.logits.negative)}</div>` : '') +
      `<b>top contexts</b> <span class="legend">(${r.scanned_tokens} corpus tokens on demand; density ${(r.density * 100).toFixed(3)}%)</span>` +
      r.contexts.map(c => `<div class="mono ctx">${esc(c)}</div>`).join('');
  } catch (e) { $('graph-contexts').innerHTML = `<span class="err">${esc(e.message)}</span>`; }
}

// A graph named by the address: built again when it was built here (and pinned once drawn).
async function restoreGraph(p) {
  const pin = p.get('pin');
  if (p.get('graph') === '1' && info.transcoders && (!graphData || graphOrigin !== 'built' || graphPrompt !== lastRunPrompt)) {
    graphPending = pin; buildGraph();
  } else if (graphView) {
    const key = pin && graphView.idx.has(pin) ? graphView.idx.get(pin) : null;
    if (key !== graphView.pinned) pinGraphNode(key);
  }
}

$('graph-file').onchange = async e => {
  const file = e.target.files[0];
  if (!file) return;
  try { showGraph(JSON.parse(await file.text()), 'file'); $('graph-status').className = 'legend'; $('graph-status').textContent = `opened ${file.name}`; syncURL(true); }
  catch (err) { graphFailed(`${file.name}: ${err.message}`); }
};

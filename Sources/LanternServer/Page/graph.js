// The page's attribution graph panel: builds the graph over server-sent progress and draws the
// JSON `/api/graph` returns as `lantern graph --html` draws it (layers × positions; features orange
// circles, error nodes — dark matter — grey squares, embeddings green, logits purple; edges blue or
// red by sign, wider by |weight|). Clicking a node shows its edges and, for a feature, its contexts.
let graphAbort = null, graphData = null;

function graphPanelStart() {
  if (!info.transcoders) { $('graph-status').textContent = 'The server has no transcoders (start it with --transcoders DIR).'; $('graph-run').disabled = true; return; }
  $('graph-status').textContent = `${info.transcoders.kind} transcoders, ${info.transcoders.layers} layers; prompts up to ${info.limits.graph_tokens} tokens`;
}

async function buildGraph() {
  if (graphAbort) graphAbort.abort();  // the server cancels the old graph when we hang up
  graphAbort = new AbortController();
  // Batches of 16 targets: as fast as the CLI's 64 on the default model, and a `next` waits
  // for one batch (under a second) instead of up to five.
  const body = {prompt: $('prompt').value, node_threshold: Number($('graph-node').value), edge_threshold: Number($('graph-edge').value), batch_size: 16};
  if ($('graph-max').value !== '') body.max_feature_nodes = Number($('graph-max').value);
  $('graph').innerHTML = ''; $('graph-summary').innerHTML = ''; $('graph-node-info').innerHTML = '';
  $('graph-progress').value = 0;
  $('graph-status').textContent = 'forward pass…';
  const started = performance.now();
  try {
    await streamEvents('/api/graph/stream', body, graphAbort.signal, (event, data) => {
      if (event === 'progress') {
        $('graph-progress').max = Math.max(data.total, 1); $('graph-progress').value = data.done;
        $('graph-status').textContent = `backward passes: ${data.done} of ${data.total} targets`;
      }
      if (event === 'done') {
        graphData = data; drawGraph();
        $('graph-status').textContent = `done in ${((performance.now() - started) / 1000).toFixed(1)} s`;
      }
      if (event === 'error') $('graph-status').textContent = data.error;
    });
  } catch (e) { if (e.name !== 'AbortError') $('graph-status').textContent = e.message; }
}

// Rows as the static page draws them: embeddings at the bottom (0), layer L at L + 1, logits on top.
function nodeRow(n, layers) { return n.feature_type === 'logit' ? layers + 1 : n.layer === 'E' ? 0 : Number(n.layer) + 1; }

function describeNode(n, tokens) {
  const at = `${n.ctx_idx} (${shown(tokens[n.ctx_idx])})`;
  switch (n.feature_type) {
    case 'cross layer transcoder': return `feature ${n.jsNodeId.split('_')[1].split('-')[0]} of layer ${n.layer} at ${at}, activation ${n.activation.toPrecision(4)}`;
    case 'mlp reconstruction error': return `error node of MLP ${n.layer} at ${at}`;
    case 'embedding': return `embedding of ${shown(tokens[n.ctx_idx])} at ${n.ctx_idx}`;
    default: return n.clerp;
  }
}

function drawGraph() {
  const g = graphData, tokens = g.metadata.prompt_tokens, n = tokens.length, layers = info.layers;
  const cellWidth = 120, rowHeight = 34, left = 60, top = 20;
  const width = left + cellWidth * n + 20, height = top + rowHeight * (layers + 2) + 40;
  const rowY = row => top + rowHeight * (layers + 1 - row) + rowHeight / 2;
  const cells = {}, point = {};
  g.nodes.forEach(node => { const key = `${nodeRow(node, layers)},${node.ctx_idx}`; (cells[key] = cells[key] || []).push(node); });
  Object.values(cells).forEach(members => members.forEach((node, k) => {
    const spread = cellWidth * 0.84 / members.length;
    point[node.node_id] = {x: left + cellWidth * node.ctx_idx + cellWidth * 0.08 + spread * (k + 0.5), y: rowY(nodeRow(node, layers))};
  }));
  const links = g.links.slice().sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight)).slice(0, 3000);
  const strongest = links.length ? Math.abs(links[0].weight) : 1;
  let svg = `<svg id="graph-svg" width="${width}" height="${height}" style="background:#fff;border:1px solid #e3e3e3">`;
  for (let row = 0; row <= layers + 1; row++)
    svg += `<text x="8" y="${rowY(row) + 4}" font-size="11" fill="#666">${row === 0 ? 'emb' : row === layers + 1 ? 'logit' : 'L' + (row - 1)}</text>`;
  tokens.forEach((t, p) => { svg += `<text x="${left + cellWidth * (p + 0.5)}" y="${height - 12}" font-size="12" text-anchor="middle" font-family="Menlo,monospace">${esc(shown(t))}</text>`; });
  links.slice().reverse().forEach(l => {
    const a = point[l.source], b = point[l.target];
    if (!a || !b) return;
    const s = Math.abs(l.weight) / strongest;
    svg += `<line x1="${a.x.toFixed(1)}" y1="${a.y.toFixed(1)}" x2="${b.x.toFixed(1)}" y2="${b.y.toFixed(1)}" stroke="${l.weight >= 0 ? '#2a5db0' : '#c0392b'}" stroke-opacity="${(0.15 + 0.6 * s).toFixed(2)}" stroke-width="${(0.4 + 3 * s).toFixed(2)}"/>`;
  });
  g.nodes.forEach(node => {
    const p = point[node.node_id], tip = esc(describeNode(node, tokens) + `\ninput ${node.input.toPrecision(4)} · influence rank ${node.influence.toFixed(3)}`);
    const attrs = `class="gnode" data-node="${esc(node.node_id)}" data-tip="${tip}" style="cursor:pointer"`;
    switch (node.feature_type) {
      case 'cross layer transcoder': svg += `<circle ${attrs} cx="${p.x.toFixed(1)}" cy="${p.y.toFixed(1)}" r="4.5" fill="#e08a3c"/>`; break;
      case 'mlp reconstruction error': svg += `<rect ${attrs} x="${(p.x - 4.5).toFixed(1)}" y="${(p.y - 4.5).toFixed(1)}" width="9" height="9" fill="#888"/>`; break;
      case 'embedding': svg += `<rect ${attrs} x="${(p.x - 7).toFixed(1)}" y="${(p.y - 5).toFixed(1)}" width="14" height="10" fill="#6aa84f"/>`; break;
      default: svg += `<polygon ${attrs} points="${p.x},${p.y - 7} ${p.x + 7},${p.y} ${p.x},${p.y + 7} ${p.x - 7},${p.y}" fill="#8e44ad"/>`;
    }
  });
  $('graph').innerHTML = svg + '</svg>';
  const dark = g.metadata.lantern;
  $('graph-summary').innerHTML = `<div class="card" id="dark-matter"><b>Dark matter:</b> ${(dark.error_share * 100).toFixed(1)}% of the logits' influence flows from error nodes ` +
    `(replacement score ${dark.replacement_score.toFixed(3)}, completeness score ${dark.completeness_score.toFixed(3)}). ` +
    `${g.nodes.length} nodes and ${g.links.length} edges kept; the ${links.length} strongest edges drawn.` +
    '<div class="legend">orange: features · grey squares: error nodes · green: embeddings · purple: logits · blue/red: positive/negative edges · click a node</div>' +
    '<div class="legend">error share by layer: ' + dark.error_share_by_layer.map((s, l) => `L${l} ${(s * 100).toFixed(1)}%`).join(' · ') + '</div></div>';
  document.querySelectorAll('#graph .gnode').forEach(e => e.onclick = () => showGraphNode(e.dataset.node));
  tips();
}

async function showGraphNode(id) {
  const g = graphData, tokens = g.metadata.prompt_tokens, node = g.nodes.find(x => x.node_id === id);
  const byId = Object.fromEntries(g.nodes.map(x => [x.node_id, x]));
  const edges = (list, end) => list.sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight)).slice(0, 8)
    .map(l => `<div>${l.weight >= 0 ? '+' : ''}${l.weight.toPrecision(3)} ${esc(describeNode(byId[l[end]], tokens))}</div>`).join('') || '<div class="legend">none kept</div>';
  let html = `<div class="card" id="graph-node-card"><b>${esc(describeNode(node, tokens))}</b>` +
    `<div class="legend">input ${node.input.toPrecision(4)} · influence rank ${node.influence.toFixed(3)} · unattributed ${node.unattributed.toPrecision(3)}</div>` +
    `<div class="side"><div><b>strongest inputs</b>${edges(g.links.filter(l => l.target === id), 'source')}</div>` +
    `<div><b>strongest outputs</b>${edges(g.links.filter(l => l.source === id), 'target')}</div></div><div id="graph-contexts"></div></div>`;
  $('graph-node-info').innerHTML = html;
  if (node.feature_type !== 'cross layer transcoder' || info.transcoders.kind !== 'per-layer') return;
  $('graph-contexts').textContent = 'top contexts: loading…';
  try {
    const r = await api('/api/transcoder-feature', {layer: Number(node.layer), feature: Number(node.jsNodeId.split('_')[1].split('-')[0])});
    $('graph-contexts').innerHTML = `<b>top contexts</b> <span class="legend">(${r.scanned_tokens} corpus tokens on demand; density ${(r.density * 100).toFixed(3)}%)</span>` +
      r.contexts.map(c => `<div class="mono">${esc(c)}</div>`).join('');
  } catch (e) { $('graph-contexts').textContent = e.message; }
}

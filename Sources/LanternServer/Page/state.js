// Tabs and the address: every view's state (tab, prompt, token, feature or neuron, attention
// head, steering settings, graph settings and pinned node) lives in the query string, so a view
// can be shared and restored, and Back and Forward step through what the user did.
let restoring = false;
const TABS = ['next', 'lens', 'attention', 'features', 'steering', 'circuits', 'sweep'];
const SWEEP_FIELDS = [['clean', 'sweep-clean', ''], ['corrupted', 'sweep-corrupted', ''], ['target', 'sweep-target', ''],
                      ['baseline', 'sweep-baseline', ''], ['hooks', 'sweep-hooks', 'blocks.*.hook_resid_pre']];

function showTab(name) {
  if (!TABS.includes(name)) name = 'next';
  document.querySelectorAll('#tabs button').forEach(b => b.setAttribute('aria-selected', String(b.dataset.tab === name)));
  document.querySelectorAll('.panel').forEach(p => p.classList.toggle('shown', p.id === 'tab-' + name));
  if (name === 'circuits' && typeof graphShown === 'function') graphShown();
}
const currentTab = () => (document.querySelector('#tabs button[aria-selected=true]') || {dataset: {tab: 'next'}}).dataset.tab;

// The view as query parameters (only what differs from the defaults).
function viewParams() {
  const p = new URLSearchParams();
  p.set('tab', currentTab());
  if (lastRunPrompt !== null) p.set('prompt', lastRunPrompt);
  if (attention && selected !== attention.pieces.length - 1) p.set('token', selected);
  if (saeIndex()) p.set('sae', saeIndex());
  if (openUnit) p.set(openUnit.kind, openUnit.kind === 'neuron' ? `${openUnit.layer}.${openUnit.id}` : openUnit.id);
  if ($('search-q').value) p.set('search', $('search-q').value);
  if (info && Number($('layer').value) !== info.layers - 1) p.set('layer', $('layer').value);
  if (Number($('head').value)) p.set('head', $('head').value);
  const steering = steeringFeatures();
  if (steering.length) p.set('steer', steering.map(f => `${f.feature}:${f.strength}`).join(','));
  if ($('steer-mode').value !== 'add') p.set('mode', $('steer-mode').value);
  for (const [key, id, fallback] of [['tokens', 'steer-tokens', '24'], ['temperature', 'steer-temp', '0'], ['seed', 'steer-seed', '0'],
                                     ['positions', 'steer-positions', ''],
                                     ['node_threshold', 'graph-node', '0.8'], ['edge_threshold', 'graph-edge', '0.98'], ['max_nodes', 'graph-max', ''],
                                     ['prune', 'gv-prune', '1'], ['edges', 'gv-edges', '0.8'], ...SWEEP_FIELDS])
    if ($(id).value !== fallback) p.set(key, $(id).value);
  if (graphData && graphOrigin === 'built' && graphPrompt === lastRunPrompt) p.set('graph', '1');
  if (graphView && graphView.pinned !== null && graphView.pinned >= 0) p.set('pin', graphView.nodes[graphView.pinned].node_id);  // a node, not a supernode
  return p;
}

// Writes the view into the address: a new history entry (`push`) or the current one replaced.
function syncURL(push) {
  if (restoring || !info) return;
  const query = '?' + viewParams().toString();
  if (query === location.search) return;
  if (push) history.pushState(null, '', query); else history.replaceState(null, '', query);
}

// Restores a view from its parameters: the prompt is run again only when it changed.
async function applyURL(p, initial) {
  restoring = true;
  try {
    showTab(p.get('tab') || 'next');
    const set = (id, key, fallback) => { $(id).value = p.has(key) ? p.get(key) : fallback; };
    set('steer-mode', 'mode', 'add'); set('steer-tokens', 'tokens', '24'); set('steer-temp', 'temperature', '0'); set('steer-seed', 'seed', '0');
    set('steer-positions', 'positions', '');
    set('graph-node', 'node_threshold', '0.8'); set('graph-edge', 'edge_threshold', '0.98'); set('graph-max', 'max_nodes', '');
    set('gv-prune', 'prune', '1'); set('gv-edges', 'edges', '0.8'); set('search-q', 'search', '');
    SWEEP_FIELDS.forEach(([key, id, fallback]) => set(id, key, fallback));
    $('layer').value = p.has('layer') ? p.get('layer') : info.layers - 1;
    $('head').value = p.get('head') || 0;
    if (p.has('sae') && info.saes.length) $('sae').value = p.get('sae');
    const prompt = p.has('prompt') ? p.get('prompt') : (initial ? $('prompt').value : lastRunPrompt);
    const token = p.has('token') ? Number(p.get('token')) : undefined;
    if (prompt !== lastRunPrompt) { $('prompt').value = prompt; await run(token); }
    else if (attention) { showFeatures(token !== undefined ? token : attention.pieces.length - 1); renderAttention(); }
    if (p.has('feature')) { if (!openUnit || openUnit.kind !== 'feature' || openUnit.id !== Number(p.get('feature'))) await openFeature(Number(p.get('feature'))); }
    else if (p.has('neuron')) {
      const [l, n] = p.get('neuron').split('.').map(Number);
      if (!openUnit || openUnit.kind !== 'neuron' || openUnit.layer !== l || openUnit.id !== n) await openNeuron(l, n);
    } else if (openUnit) { openUnit = null; $('dashboard').innerHTML = 'Click a feature or a neuron, or open a feature by id.'; }
    if (p.has('search') && p.get('search') && $('search-results').dataset.query !== p.get('search')) {
      $('search-results').dataset.query = p.get('search'); searchFeatures();
    }
    const wanted = (p.get('steer') || '').split(',').filter(s => s).map(s => s.split(':').map(Number));
    const have = steeringFeatures().map(f => `${f.feature}:${f.strength}`).join(',');
    if (wanted.map(w => w.join(':')).join(',') !== have) {
      $('sliders').innerHTML = '';
      wanted.forEach(([f, s]) => addSlider(f, 0, s));
      if (!wanted.length) { if (steerAbort) steerAbort.abort(); $('baseline-text').textContent = ''; $('steered-text').textContent = ''; $('steer-status').textContent = ''; }
    }
    await restoreGraph(p);
  } finally { restoring = false; }
  if (initial) history.replaceState(null, '', '?' + viewParams().toString());
}

document.querySelectorAll('#tabs button').forEach(b => b.onclick = () => { showTab(b.dataset.tab); syncURL(true); });
// Left and right arrows move between tabs, as in a tab list.
$('tabs').onkeydown = e => {
  const step = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
  if (!step) return;
  const next = TABS[(TABS.indexOf(currentTab()) + step + TABS.length) % TABS.length];
  showTab(next); syncURL(true);
  document.querySelector(`#tabs button[data-tab=${next}]`).focus();
};
window.addEventListener('popstate', () => applyURL(new URLSearchParams(location.search), false));
$('share').onclick = () => { syncURL(false); navigator.clipboard && navigator.clipboard.writeText(location.href).catch(() => {}); status('address copied'); };

// The Features tab: the selected token's SAE features and MLP neurons, a feature opened by id,
// search over the background scan's top contexts, and a unit's dashboard (summary, logit
// effects, activation histogram, top contexts shaded by activation with readable ink).
let openUnit = null;  // {kind: 'feature', id} or {kind: 'neuron', layer, id}: what the address restores

function showFeatures(pos) {
  selected = pos;
  showNeurons(pos);
  document.querySelectorAll('#tokens .tok').forEach(e => e.classList.toggle('sel', Number(e.dataset.pos) === pos));
  if (!features) { $('features').textContent = info.saes.length ? '' : 'The server has no SAE (start it with --sae).'; return; }
  const t = features.tokens[pos];
  $('features').innerHTML = `<div class="legend">token ${pos} ${esc(shown(t.text))} · L0 ${t.l0} · ‖x−x̂‖/‖x‖ ${t.relative_error.toFixed(3)}</div>` +
    '<table class="metrics"><tr><th>feature</th><th>activation</th><th>density</th><th>label (top tokens in the scan)</th></tr>' +
    t.features.map(f => `<tr><td><a class="feat" data-feature="${f.feature}">${f.feature}</a></td><td>${f.activation.toFixed(2)}</td>` +
      `<td>${f.density !== undefined ? (f.density * 100).toFixed(3) + '%' : '–'}</td><td style="text-align:left" class="mono">${esc(f.label || '')}</td></tr>`).join('') + '</table>';
  document.querySelectorAll('#features .feat').forEach(e => e.onclick = () => { openFeature(Number(e.dataset.feature)); syncURL(true); });
}

async function reloadNeurons() {
  try {
    neurons = await api('/api/neurons', {prompt: $('prompt').value, layer: Number($('neuron-layer').value), top: 6});
    showNeurons(selected);
  } catch (e) { panelError('neurons', e.message); }
}

function showNeurons(pos) {
  if (!neurons || !neurons.tokens[pos]) return;
  const top = Math.max(neurons.tokens[pos].neurons[0].activation, 1e-9);
  $('neurons').innerHTML = neurons.tokens[pos].neurons.map(n =>
    `<span class="tok click" style="${shadeStyle(n.activation / top, 24)}">` +
    `<a class="neuron" data-neuron="${n.neuron}">${neurons.layer}.${n.neuron}</a> ${n.activation.toFixed(2)}</span>`).join(' ');
  document.querySelectorAll('#neurons .neuron').forEach(e => e.onclick = () => { openNeuron(neurons.layer, Number(e.dataset.neuron)); syncURL(true); });
}

async function openNeuron(layer, n) {
  openUnit = {kind: 'neuron', layer, id: n};
  $('dashboard').textContent = `neuron ${layer}.${n}: loading…`;
  try {
    const r = await api('/api/neuron', {layer, neuron: n});
    renderDashboard(`Neuron ${layer}.${n}`, `neuron-${layer}-${n}`, `on demand at ${r.hook}`, r.dashboard, null);
  } catch (e) { panelError('dashboard', e.message); }
}

async function openFeature(f) {
  openUnit = {kind: 'feature', id: f};
  $('dashboard').textContent = `feature ${f}: loading…`;
  try {
    const r = await api('/api/feature', {sae: saeIndex(), feature: f});
    renderDashboard(`Feature ${f}`, `dash-${f}`, `${r.source}, ${r.scanned_tokens} tokens`, r.dashboard, f);
  } catch (e) { panelError('dashboard', e.message); }
}

// A small histogram of nonzero activations (the dashboard's `histogram`), as inline bars.
function miniHistogram(h, title) {
  const top = Math.max(1, ...h.counts);
  return `<span class="hist-mini" data-tip="${esc(`${title}: ${h.lower.toFixed(2)} … ${h.upper.toFixed(2)}`)}">` +
    h.counts.map(c => `<span style="height:${Math.max(1, Math.round(22 * c / top))}px"></span>`).join('') + '</span>';
}

// One context: its tokens shaded by activation relative to `top`, the maximum outlined.
function contextRun(e, top) {
  return '<div class="run">' + e.text.map((t, i) =>
    `<span class="tok${i === e.position - e.window_start ? ' max' : ''}" style="${shadeStyle(e.activations[i] / top, 24)}" data-tip="${e.activations[i].toFixed(3)}">${esc(shown(t))}</span>`).join('') + '</div>';
}

// A dashboard as the static pages draw it: summary, logit effects, histogram, top contexts.
function renderDashboard(title, id, source, d, feature) {
  const list = l => l.map(t => `${esc(shown(t.text))} <span class="legend">${t.logit >= 0 ? '+' : ''}${t.logit.toFixed(2)}</span>`).join(', ');
  const top = Math.max(d.max_activation, 1e-9);
  $('dashboard').innerHTML = `<div class="card" id="${id}"><b>${esc(title)}</b> ` + (feature === null ? '' : '<button id="steer-add">steer with it</button>') +
    `<div class="legend">${esc(source)} · density ${(d.density * 100).toFixed(3)}% · max ${d.max_activation.toFixed(2)} · mean ${d.mean_activation.toFixed(2)}</div>` +
    `<div>activations ${miniHistogram(d.histogram, 'nonzero activations')} <span class="legend">${d.histogram.lower.toFixed(2)} … ${d.histogram.upper.toFixed(2)}</span></div>` +
    `<div>promoted: ${list(d.logits.positive)}</div><div>suppressed: ${list(d.logits.negative)}</div>` +
    '<h2>Top activating contexts</h2>' + d.examples.map(e => contextRun(e, top)).join('') + '</div>';
  if (feature !== null) $('steer-add').onclick = () => { addSlider(feature, d.max_activation); syncURL(false); };
  tips();
}

// Search: features whose top contexts in the background scan fire on the query's tokens or text.
async function searchFeatures() {
  const query = $('search-q').value;
  $('search-status').textContent = 'searching…';
  try {
    const r = await api('/api/feature/search', {sae: saeIndex(), query, top: 20});
    $('search-status').textContent = `${r.results.length} features over ${r.scanned_tokens} scanned tokens, ranked by activation on the query`;
    $('search-results').innerHTML = r.results.length ? '<table class="metrics"><tr><th>feature</th><th>score</th><th>density</th><th>max</th><th>activations</th><th>strongest match</th></tr>' +
      r.results.map(f => `<tr><td><a class="feat" data-feature="${f.feature}">${f.feature}</a></td><td>${f.score.toFixed(2)}</td>` +
        `<td>${(f.density * 100).toFixed(3)}%</td><td>${f.max_activation.toFixed(2)}</td><td>${miniHistogram(f.histogram, `feature ${f.feature}`)}</td>` +
        `<td style="text-align:left">${contextRun(f.example, Math.max(f.max_activation, 1e-9))}</td></tr>`).join('') + '</table>'
      : '<div class="legend">no feature fires on it in the scanned contexts</div>';
    document.querySelectorAll('#search-results .feat').forEach(e => e.onclick = () => { openFeature(Number(e.dataset.feature)); syncURL(true); });
    tips();
  } catch (e) { $('search-status').textContent = ''; panelError('search-results', e.message); }
}

$('find-open').onclick = () => { if ($('find-id').value !== '') { openFeature(Number($('find-id').value)); syncURL(true); } };
$('find-id').onkeydown = e => { if (e.key === 'Enter') $('find-open').click(); };
$('search-run').onclick = () => { searchFeatures(); syncURL(true); };
$('search-q').onkeydown = e => { if (e.key === 'Enter') $('search-run').click(); };

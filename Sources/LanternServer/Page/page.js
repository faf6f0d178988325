// The page's script: calls the JSON API and draws what it returns (the graph and sweep panels are
// graph.js and sweep.js).
const $ = id => document.getElementById(id);
let info = null, features = null, neurons = null, selected = 0, attention = null, steerAbort = null, steerTimer = null;
const esc = s => String(s).replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
const shown = s => String(s).replace(/\n/g, '\\n').replace(/\t/g, '\\t');
const shade = (v, hue = 215) => `hsl(${hue},70%,${Math.round(100 - 58 * Math.max(0, Math.min(1, v)))}%)`;
const status = (text, bad) => { $('status').textContent = text; $('status').className = bad ? 'err' : 'legend'; };
const saeIndex = () => Number($('sae').value || 0);

async function api(path, body, signal) {
  const r = await fetch(path, body === undefined ? {} : {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body), signal});
  const j = await r.json();
  if (!r.ok) throw new Error(j.error || r.statusText);
  return j;
}

async function start() {
  info = await api('/api/info');
  $('model').textContent = `${info.model} · ${info.layers} layers · ${info.heads} heads · ${info.backend}` + (info.tuned_lens ? ' · tuned lens' : '');
  $('sae').innerHTML = info.saes.map(s => `<option value="${s.index}">${esc(s.source.split('/').pop())} @ ${esc(s.hook)}</option>`).join('');
  for (let l = 0; l < info.layers; l++) $('layer').add(new Option(`layer ${l}`, l));
  for (let h = 0; h < info.heads; h++) $('head').add(new Option(`head ${h}`, h));
  $('layer').value = info.layers - 1;
  for (let l = 0; l < info.layers; l++) $('neuron-layer').add(new Option(`layer ${l}`, l));
  $('neuron-layer').value = Math.floor(info.layers / 2);
  graphPanelStart();
  pollScan();
  run();
}

async function pollScan() {
  try {
    const s = (await api('/api/scan')).scans[saeIndex()];
    if (!s) return;
    $('scan').textContent = s.state === 'done' ? `dashboards from ${s.tokens_done} corpus tokens`
      : s.state === 'failed' ? `scan failed: ${s.error}` : `scanning the corpus: ${s.contexts_done}/${s.contexts} contexts (dashboards on demand meanwhile)`;
    if (s.state === 'scanning') setTimeout(pollScan, 2000);
  } catch (e) { $('scan').textContent = e.message; }
}

async function run() {
  const prompt = $('prompt').value;
  status('running…');
  try {
    renderNext(await api('/api/next', {prompt, top: 10}));
    renderLens(await api('/api/lens', {prompt, top_k: 3}));
    attention = await api('/api/attention', {prompt});
    renderAttention();
    features = info.saes.length ? await api('/api/features', {prompt, sae: saeIndex(), top: 8}) : null;
    neurons = await api('/api/neurons', {prompt, layer: Number($('neuron-layer').value), top: 6});
    renderTokens();
    status('');
    if ($('sliders').children.length) steerSoon();
  } catch (e) { status(e.message, true); }
}

function renderNext(r) {
  $('next-table').tBodies[0].innerHTML = r.top.map((t, i) =>
    `<tr><td>${i + 1}</td><td class="mono">${esc(shown(t.token))}</td><td>${(t.prob * 100).toFixed(2)}%</td>` +
    `<td style="text-align:left"><span class="bar" style="width:${Math.round(t.prob * 200)}px"></span></td></tr>`).join('');
}

function lensTable(layers, answer, tokens, name) {
  let html = `<table class="lens"><tr><th>${name}</th>` + tokens.map(t => `<th>${esc(shown(t))}</th>`).join('') + `<th>rank of ${esc(shown(answer.text))}</th></tr>`;
  for (let row = layers.length - 1; row >= 0; row--) {
    const l = layers[row];
    html += `<tr><th>${esc(l.label)}</th>` + l.positions.map(c => {
      const t = c.top[0];
      return `<td style="background:${shade(t.p)}" data-tip="${esc(c.top.map(x => shown(x.text) + ' ' + (x.p * 100).toFixed(1) + '%').join('\n'))}">${esc(shown(t.text))}</td>`;
    }).join('') + `<td class="rank">${answer.ranks[row]}</td></tr>`;
  }
  return html + '</table>';
}

function renderLens(r) {
  const a = r.answer;
  $('lens-caption').textContent = `answer ${shown(a.text)}: the model's top-1 at the last position; ` +
    (a.first_top_layer !== null ? `top-1 from layer ${a.first_top_layer} on` : 'not the top-1 at the last layer');
  $('lens').innerHTML = lensTable(r.layers, a, r.token_text, 'logit lens');
  $('tuned').innerHTML = r.tuned ? lensTable(r.tuned.layers, r.tuned.answer, r.token_text, 'tuned lens') : '';
  tips();
}

function renderAttention() {
  if (!attention) return;
  const li = attention.layers.indexOf(Number($('layer').value)), h = Number($('head').value);
  const p = attention.patterns[li][h], toks = attention.pieces.map(shown);
  let html = '<table class="att"><tr><th></th>' + toks.map(t => `<th style="writing-mode:vertical-rl">${esc(t)}</th>`).join('') + '</tr>';
  p.forEach((row, q) => {
    html += `<tr><th>${esc(toks[q])}</th>` + row.map((w, k) => `<td style="background:${k > q ? '#f4f4f4' : shade(w, 24)}" data-tip="${esc(toks[q] + ' → ' + toks[k] + ' ' + (w * 100).toFixed(1) + '%')}"></td>`).join('') + '</tr>';
  });
  $('attention').innerHTML = html + '</table>';
  tips();
}

function renderTokens() {
  const pieces = attention ? attention.pieces : [];
  $('tokens').innerHTML = pieces.map((t, i) => `<span class="tok click" data-pos="${i}">${esc(shown(t))}</span>`).join('');
  document.querySelectorAll('#tokens .tok').forEach(e => e.onclick = () => showFeatures(Number(e.dataset.pos)));
  if (pieces.length) showFeatures(pieces.length - 1);
}

async function reloadNeurons() {
  try {
    neurons = await api('/api/neurons', {prompt: $('prompt').value, layer: Number($('neuron-layer').value), top: 6});
    showNeurons(selected);
  } catch (e) { $('neurons').innerHTML = `<span class="err">${esc(e.message)}</span>`; }
}

function showNeurons(pos) {
  if (!neurons || !neurons.tokens[pos]) return;
  $('neurons').innerHTML = neurons.tokens[pos].neurons.map(n =>
    `<span class="tok click" style="background:${shade(n.activation / Math.max(neurons.tokens[pos].neurons[0].activation, 1e-9), 24)}">` +
    `<a class="neuron" data-neuron="${n.neuron}">${neurons.layer}.${n.neuron}</a> ${n.activation.toFixed(2)}</span>`).join(' ');
  document.querySelectorAll('#neurons .neuron').forEach(e => e.onclick = () => openNeuron(neurons.layer, Number(e.dataset.neuron)));
}

async function openNeuron(layer, n) {
  $('dashboard').textContent = `neuron ${layer}.${n}: loading…`;
  try {
    const r = await api('/api/neuron', {layer, neuron: n});
    renderDashboard(`Neuron ${layer}.${n}`, `neuron-${layer}-${n}`, `on demand at ${r.hook}`, r.dashboard, null);
  } catch (e) { $('dashboard').innerHTML = `<span class="err">${esc(e.message)}</span>`; }
}

function showFeatures(pos) {
  selected = pos;
  showNeurons(pos);
  document.querySelectorAll('#tokens .tok').forEach(e => e.classList.toggle('sel', Number(e.dataset.pos) === pos));
  if (!features) { $('features').textContent = 'The server has no SAE (start it with --sae).'; return; }
  const t = features.tokens[pos];
  $('features').innerHTML = `<div class="legend">token ${pos} ${esc(shown(t.text))} · L0 ${t.l0} · ‖x−x̂‖/‖x‖ ${t.relative_error.toFixed(3)}</div>` +
    '<table class="metrics"><tr><th>feature</th><th>activation</th><th>label</th></tr>' +
    t.features.map(f => `<tr><td><a class="feat" data-feature="${f.feature}">${f.feature}</a></td><td>${f.activation.toFixed(2)}</td>` +
      `<td style="text-align:left" class="mono">${esc(f.label || '')}</td></tr>`).join('') + '</table>';
  document.querySelectorAll('#features .feat').forEach(e => e.onclick = () => openFeature(Number(e.dataset.feature)));
}

async function openFeature(f) {
  $('dashboard').textContent = `feature ${f}: loading…`;
  try {
    const r = await api('/api/feature', {sae: saeIndex(), feature: f});
    renderDashboard(`Feature ${f}`, `dash-${f}`, `${r.source}, ${r.scanned_tokens} tokens`, r.dashboard, f);
  } catch (e) { $('dashboard').innerHTML = `<span class="err">${esc(e.message)}</span>`; }
}

// A dashboard as the static pages draw it: summary, logit effects, top contexts shaded by activation.
function renderDashboard(title, id, source, d, feature) {
  const list = l => l.map(t => `${esc(shown(t.text))} <span class="legend">${t.logit >= 0 ? '+' : ''}${t.logit.toFixed(2)}</span>`).join(', ');
  const top = Math.max(d.max_activation, 1e-9);
  $('dashboard').innerHTML = `<div class="card" id="${id}"><b>${esc(title)}</b> ` + (feature === null ? '' : '<button id="steer-add">steer with it</button>') +
    `<div class="legend">${esc(source)} · density ${(d.density * 100).toFixed(3)}% · max ${d.max_activation.toFixed(2)} · mean ${d.mean_activation.toFixed(2)}</div>` +
    `<div>promoted: ${list(d.logits.positive)}</div><div>suppressed: ${list(d.logits.negative)}</div>` +
    '<h2>Top activating contexts</h2>' + d.examples.map(e => '<div class="run">' + e.text.map((t, i) =>
      `<span class="tok${i === e.position - e.window_start ? ' max' : ''}" style="background:${shade(e.activations[i] / top, 24)}" data-tip="${e.activations[i].toFixed(3)}">${esc(shown(t))}</span>`).join('') + '</div>').join('') +
    '</div>';
  if (feature !== null) $('steer-add').onclick = () => addSlider(feature, d.max_activation);
  tips();
}

function addSlider(f, maxActivation) {
  if ($(`slider-${f}`)) return;
  const range = Math.max(10, Math.ceil(8 * maxActivation));
  const row = document.createElement('div');
  row.className = 'slider';
  row.innerHTML = `<span>feature ${f}</span><input type="range" id="slider-${f}" data-feature="${f}" min="${-range}" max="${range}" step="${range / 100}" value="0">` +
    `<span id="value-${f}" class="mono">0</span><button data-remove="${f}">remove</button>`;
  $('sliders').appendChild(row);
  row.querySelector('input').oninput = e => { $(`value-${f}`).textContent = Number(e.target.value).toFixed(1); steerSoon(); };
  row.querySelector('button').onclick = () => { row.remove(); steerSoon(); };
  steerSoon();
}

function steerSoon() { clearTimeout(steerTimer); steerTimer = setTimeout(steer, 200); }

async function steer() {
  const sliders = [...document.querySelectorAll('#sliders input')];
  if (steerAbort) steerAbort.abort();  // the server drops the old generation when we hang up
  if (!sliders.length) return;
  steerAbort = new AbortController();
  const body = {prompt: $('prompt').value, sae: saeIndex(), max_new_tokens: 24, mode: $('steer-mode').value,
                features: sliders.map(s => ({feature: Number(s.dataset.feature), strength: Number(s.value)}))};
  $('baseline-text').textContent = ''; $('steered-text').textContent = '';
  $('steer-status').textContent = 'generating…';
  try {
    await streamEvents('/api/steer/stream', body, steerAbort.signal, (event, data) => {
      if (event === 'token') $(data.run === 'baseline' ? 'baseline-text' : 'steered-text').textContent += data.text;
      if (event === 'done') {
        $('baseline-text').textContent = data.baseline_text; $('steered-text').textContent = data.steered_text;
        $('steer-status').textContent = `done (${data.mode}): ${data.features.map((f, i) => `feature ${f} ${data.mode === 'clamp' ? '=' : '×'} ${data.strengths[i].toFixed(1)}`).join(', ')}`;
      }
      if (event === 'error') $('steer-status').textContent = data.error;
    });
  } catch (e) { if (e.name !== 'AbortError') $('steer-status').textContent = e.message; }
}

// A POST answered with server-sent events: `onEvent(name, data)` for each as it arrives.
async function streamEvents(path, body, signal, onEvent) {
  const r = await fetch(path, {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body), signal});
  if (!r.ok) throw new Error((await r.json()).error);
  const reader = r.body.getReader(), decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, {stream: true});
    let cut;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
      const event = (block.match(/^event: (.*)$/m) || [])[1], data = JSON.parse((block.match(/^data: (.*)$/m) || [])[1] || '{}');
      onEvent(event, data);
    }
  }
}

function tips() {
  const tip = $('tip');
  document.querySelectorAll('[data-tip]').forEach(e => {
    e.onmousemove = ev => { tip.textContent = e.dataset.tip; tip.style.display = 'block'; tip.style.left = (ev.clientX + 12) + 'px'; tip.style.top = (ev.clientY + 12) + 'px'; };
    e.onmouseleave = () => tip.style.display = 'none';
  });
}

$('run').onclick = run;
$('prompt').onkeydown = e => { if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); run(); } };
$('layer').onchange = $('head').onchange = renderAttention;
$('sae').onchange = () => { pollScan(); run(); };
$('neuron-layer').onchange = reloadNeurons;
$('steer-mode').onchange = steerSoon;
$('graph-run').onclick = buildGraph;
$('sweep-run').onclick = runSweep;
start().catch(e => status(e.message, true));

// The page's core: the API client, the prompt bar's run (next token, lens, attention, features,
// neurons), colours with readable ink, tooltips. The other panels are their own files: state.js
// (tabs, the address), features.js, attention.js, steering.js, graph.js + graphview.js, sweep.js.
const $ = id => document.getElementById(id);
let info = null, features = null, neurons = null, selected = 0, attention = null, lastRunPrompt = null;
const esc = s => String(s).replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
const shown = s => String(s).replace(/\n/g, '\\n').replace(/\t/g, '\\t');
const clamp01 = v => Math.max(0, Math.min(1, v));
const status = (text, bad) => { $('status').textContent = text; $('status').className = bad ? 'err' : 'legend'; };
const saeIndex = () => Number($('sae').value || 0);

// A shade of a hue for a value in [0, 1], as background and the ink (black or white) that reads
// best on it: max(contrast with black, contrast with white) ≥ 4.58 for any colour, so text
// on a shade always meets WCAG AA.
function hslRGB(h, s, l) {
  const a = s * Math.min(l, 1 - l), f = n => { const k = (n + h / 30) % 12; return l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1)); };
  return [f(0), f(8), f(4)];
}
function luminance([r, g, b]) {
  const lin = c => c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}
const inkOn = rgb => { const y = luminance(rgb); return (y + 0.05) / 0.05 >= 1.05 / (y + 0.05) ? '#000' : '#fff'; };
const contrast = (a, b) => { const x = luminance(a), y = luminance(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
function shadeOf(v, hue = 215) { const l = 1 - 0.6 * clamp01(v); return {bg: `hsl(${hue},70%,${(l * 100).toFixed(1)}%)`, ink: inkOn(hslRGB(hue, 0.7, l))}; }
const shade = (v, hue) => shadeOf(v, hue).bg;
const shadeStyle = (v, hue) => { const s = shadeOf(v, hue); return `background:${s.bg};color:${s.ink}`; };

async function api(path, body, signal) {
  const r = await fetch(path, body === undefined ? {} : {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body), signal});
  const j = await r.json();
  if (!r.ok) throw new Error(j.error || r.statusText);
  return j;
}

// An error in a panel replaces what it showed (never a stale result under a new prompt's error).
function panelError(id, message) { $(id).innerHTML = `<div class="err">${esc(message)}</div>`; }

async function start() {
  info = await api('/api/info');
  $('model').textContent = `${info.model} · ${info.layers} layers · ${info.heads} heads · ${info.backend}` + (info.tuned_lens ? ' · tuned lens' : '') +
    (info.limits.prompt_tokens ? ` · prompts up to ${info.limits.prompt_tokens} tokens` : '');
  $('sae').innerHTML = info.saes.map(s => `<option value="${s.index}">${esc(s.source.split('/').pop())} @ ${esc(s.hook)}</option>`).join('');
  for (let l = 0; l < info.layers; l++) $('layer').add(new Option(`${l}`, l));
  for (let h = 0; h < info.heads; h++) $('head').add(new Option(`${h}`, h));
  $('layer').value = info.layers - 1;
  for (let l = 0; l < info.layers; l++) $('neuron-layer').add(new Option(`layer ${l}`, l));
  $('neuron-layer').value = Math.floor(info.layers / 2);
  steeringPanelStart();
  graphPanelStart();
  pollScan();
  await applyURL(new URLSearchParams(location.search), true);
}

async function pollScan() {
  try {
    const s = (await api('/api/scan')).scans[saeIndex()];
    if (!s) return;
    $('scan').textContent = s.state === 'done' ? `dashboards and search over ${s.tokens_done} corpus tokens`
      : s.state === 'failed' ? `scan failed: ${s.error}` : `scanning the corpus: ${s.contexts_done}/${s.contexts} contexts (dashboards on demand meanwhile)`;
    if (s.state === 'scanning') setTimeout(pollScan, 2000);
  } catch (e) { $('scan').textContent = e.message; }
}

// Runs the prompt through every per-prompt panel; `pos` selects a token (default: the last).
async function run(pos) {
  const prompt = $('prompt').value;
  status('running…');
  lastRunPrompt = prompt;
  try {
    renderNext(await api('/api/next', {prompt, top: 10}));
    renderLens(await api('/api/lens', {prompt, top_k: 3}));
    attention = await api('/api/attention', {prompt});
    renderAttention();
    features = info.saes.length ? await api('/api/features', {prompt, sae: saeIndex(), top: 8}) : null;
    neurons = await api('/api/neurons', {prompt, layer: Number($('neuron-layer').value), top: 6});
    renderTokens(pos);
    status('');
    if (graphData && graphOrigin === 'built' && graphPrompt !== prompt) {
      $('graph-status').className = 'err';
      $('graph-status').textContent = `this graph is of an earlier prompt (${graphPrompt}): Build graph for this one`;
    }
    syncURL(false);  // the token the run selected
    if ($('sliders').children.length) steerSoon();
  } catch (e) {
    status(e.message, true);
    attention = features = neurons = null;
    $('next-table').tBodies[0].innerHTML = '';
    panelError('next-error', e.message);
    for (const id of ['lens', 'attention', 'att-overview', 'features', 'neurons']) panelError(id, e.message);
    $('tuned').innerHTML = ''; $('lens-caption').textContent = ''; $('tokens').innerHTML = '';
  }
}

function renderNext(r) {
  $('next-error').innerHTML = '';
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
      return `<td style="${shadeStyle(t.p)}" data-tip="${esc(c.top.map(x => shown(x.text) + ' ' + (x.p * 100).toFixed(1) + '%').join('\n'))}">${esc(shown(t.text))}</td>`;
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

function renderTokens(pos) {
  const pieces = attention ? attention.pieces : [];
  $('tokens').innerHTML = pieces.map((t, i) => `<span class="tok click" data-pos="${i}">${esc(shown(t))}</span>`).join('');
  document.querySelectorAll('#tokens .tok').forEach(e => e.onclick = () => { showFeatures(Number(e.dataset.pos)); syncURL(true); });
  if (pieces.length) showFeatures(pos !== undefined && pos >= 0 && pos < pieces.length ? pos : pieces.length - 1);
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
    if (e.tipped) return;
    e.tipped = true;
    e.addEventListener('mousemove', ev => { tip.textContent = e.dataset.tip; tip.style.display = 'block'; tip.style.left = (ev.clientX + 12) + 'px'; tip.style.top = (ev.clientY + 12) + 'px'; });
    e.addEventListener('mouseleave', () => tip.style.display = 'none');
  });
}

// A file the browser saves (the graph's JSON and SVG).
function download(name, text, type) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([text], {type}));
  a.download = name;
  document.body.appendChild(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

$('run').onclick = () => { run(); syncURL(true); };
$('prompt').onkeydown = e => { if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); run(); syncURL(true); } };
$('sae').onchange = () => { pollScan(); run(selected); syncURL(false); };
$('neuron-layer').onchange = () => { reloadNeurons(); syncURL(false); };
$('graph-run').onclick = () => { buildGraph(); };
$('sweep-run').onclick = runSweep;
window.addEventListener('DOMContentLoaded', () => start().catch(e => status(e.message, true)));

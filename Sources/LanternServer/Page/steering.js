// The Steering tab: features with a slider and an exact number each, the steering request's
// fields (mode, new tokens, temperature, seed), and baseline and steered text streamed side by side.
let steerAbort = null, steerTimer = null;

function steeringPanelStart() {
  const sae = info.saes[saeIndex()];
  $('steer-hook').textContent = sae ? `at ${sae.hook} (the SAE's hook), every position of the prompt and of each step` : 'the server has no SAE (start it with --sae)';
  if (info.limits.new_tokens) $('steer-tokens').max = info.limits.new_tokens;
}

function addSlider(f, maxActivation, strength = 0) {
  if ($(`slider-${f}`)) return;
  const range = Math.max(10, Math.ceil(8 * (maxActivation || 0)), Math.ceil(Math.abs(strength)));
  const row = document.createElement('div');
  row.className = 'slider';
  row.dataset.feature = f;
  row.innerHTML = `<span>feature ${f}</span><input type="range" id="slider-${f}" data-feature="${f}" min="${-range}" max="${range}" step="any" value="${strength}">` +
    `<input type="number" id="value-${f}" step="any" value="${strength}" aria-label="strength of feature ${f}"><button data-remove="${f}">remove</button>`;
  $('sliders').appendChild(row);
  const slider = row.querySelector('input[type=range]'), number = row.querySelector('input[type=number]');
  slider.oninput = () => { number.value = Number(Number(slider.value).toPrecision(3)); steerSoon(); };
  number.oninput = () => {
    const v = Number(number.value);
    if (number.value === '' || !isFinite(v)) return;
    if (Math.abs(v) > Number(slider.max)) { slider.max = Math.ceil(Math.abs(v)); slider.min = -slider.max; }  // the slider follows
    slider.value = v; steerSoon();
  };
  row.querySelector('button').onclick = () => { row.remove(); steerSoon(); };
  steerSoon();
}

// The features and their exact strengths (the number fields, not the slider's steps).
const steeringFeatures = () => [...document.querySelectorAll('#sliders .slider')].map(r =>
  ({feature: Number(r.dataset.feature), strength: Number(r.querySelector('input[type=number]').value || 0)}));

function steerSoon() { clearTimeout(steerTimer); steerTimer = setTimeout(steer, 200); syncURL(false); }

async function steer() {
  const chosen = steeringFeatures();
  if (steerAbort) steerAbort.abort();  // the server drops the old generation when we hang up
  if (!chosen.length) return;
  steerAbort = new AbortController();
  const body = {prompt: $('prompt').value, sae: saeIndex(), max_new_tokens: Number($('steer-tokens').value || 24), mode: $('steer-mode').value,
                temperature: Number($('steer-temp').value || 0), seed: Number($('steer-seed').value || 0), features: chosen};
  const positions = $('steer-positions').value.split(',').map(s => s.trim()).filter(s => s !== '');
  if (positions.length) body.positions = positions.map(Number);  // the server names a bad one
  $('baseline-text').textContent = ''; $('steered-text').textContent = '';
  $('steer-status').className = 'legend';
  $('steer-status').textContent = 'generating…';
  const failed = message => {
    $('baseline-text').textContent = ''; $('steered-text').textContent = '';
    $('steer-status').className = 'err'; $('steer-status').textContent = message;
  };
  try {
    await streamEvents('/api/steer/stream', body, steerAbort.signal, (event, data) => {
      if (event === 'token') $(data.run === 'baseline' ? 'baseline-text' : 'steered-text').textContent += data.text;
      if (event === 'done') {
        $('baseline-text').textContent = data.baseline_text; $('steered-text').textContent = data.steered_text;
        $('steer-status').textContent = `done (${data.mode}): ${data.features.map((f, i) => `feature ${f} ${data.mode === 'clamp' ? '=' : '×'} ${data.strengths[i]}`).join(', ')}`;
      }
      if (event === 'error') failed(data.error);
    });
  } catch (e) { if (e.name !== 'AbortError') failed(e.message); }
}

$('steer-mode').onchange = $('steer-tokens').onchange = $('steer-temp').onchange = $('steer-seed').onchange = $('steer-positions').onchange = steerSoon;
$('steer-add-id').onclick = () => { if ($('steer-id').value !== '') addSlider(Number($('steer-id').value), 0); };

// The page's patching sweep panel: clean and corrupted prompts, a target token, then a heatmap
// hook × position of the normalised effect (`lantern patch sweep --html`'s diverging scale: red
// toward the clean run's 1, blue below the corrupted run's 0), filled from `/api/patch/sweep/stream`.
let sweepAbort = null;
// Background and readable ink (page.js's inkOn) for a value on the diverging scale.
const diverging = (v, scale) => {
  const x = Math.max(-1, Math.min(1, scale > 0 ? v / scale : 0)), hue = x >= 0 ? 8 : 215, l = Math.round(100 - 55 * Math.abs(x));
  return `background:hsl(${hue},75%,${l}%);color:${inkOn(hslRGB(hue, 0.75, l / 100))}`;
};
// A token field: an integer is an id, anything else the text of one token.
const tokenField = s => /^\s*\d+\s*$/.test(s) ? Number(s) : s;

async function runSweep() {
  syncURL(true);
  if (sweepAbort) sweepAbort.abort();
  sweepAbort = new AbortController();
  const body = {prompt: $('sweep-clean').value || $('prompt').value, corrupted_prompt: $('sweep-corrupted').value,
                target: tokenField($('sweep-target').value), hooks: $('sweep-hooks').value.split(',').map(s => s.trim()).filter(s => s)};
  if ($('sweep-baseline').value !== '') body.baseline = tokenField($('sweep-baseline').value);
  $('sweep').innerHTML = ''; $('sweep-progress').value = 0;
  $('sweep-status').className = 'legend'; $('sweep-status').textContent = 'clean and corrupted runs…';
  try {
    await streamEvents('/api/patch/sweep/stream', body, sweepAbort.signal, (event, data) => {
      if (event === 'progress') {
        $('sweep-progress').max = Math.max(data.total, 1); $('sweep-progress').value = data.done;
        $('sweep-status').textContent = `patched ${data.done} of ${data.total} cells`;
      }
      if (event === 'done') { drawSweep(data); $('sweep-status').textContent = 'done'; }
      if (event === 'error') sweepFailed(data.error);
    });
  } catch (e) { if (e.name !== 'AbortError') sweepFailed(e.message); }
}

function sweepFailed(message) {
  $('sweep').innerHTML = '';
  $('sweep-status').className = 'err'; $('sweep-status').textContent = message;
}

function drawSweep(s) {
  const columns = s.clean_pieces.map((t, p) => s.corrupted_tokens[p] === s.clean_tokens[p] ? `${p} ${shown(t)}` : `${p} ${shown(t)}/${shown(s.corrupted_pieces[p])}`);
  let html = `<div class="legend">logit difference at the last position: clean ${s.clean_logit_difference.toFixed(4)} (1), corrupted ${s.corrupted_logit_difference.toFixed(4)} (0)</div>`;
  for (const grid of s.grids) {
    const scale = Math.max(1, ...grid.values.flat().map(Math.abs));
    html += `<h3 class="mono">${esc(grid.family)}${grid.method === 'activation' ? '' : ` (${grid.method} patching, approximate)`}</h3>` +
      '<table class="lens sweep"><tr><th></th>' + columns.map(c => `<th>${esc(c)}</th>`).join('') + '</tr>';
    // The last layer on top, as the lens draws it.
    for (let r = grid.rows.length - 1; r >= 0; r--) {
      const row = grid.rows[r];
      html += `<tr><th>${esc(row.label)}</th>` + grid.values[r].map((v, p) =>
        `<td style="${diverging(v, scale)}" ` +
        `data-tip="${esc(`${row.hook}${row.head !== undefined ? ' head ' + row.head : ''} @ ${p}\nnormalised ${v.toFixed(4)}\nlogit difference ${grid.logit_differences[r][p].toFixed(4)}`)}">${v.toFixed(2)}</td>`).join('') + '</tr>';
    }
    html += '</table>';
  }
  $('sweep').innerHTML = html;
  tips();
}

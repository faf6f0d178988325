// The Attention tab: every head of every layer as small multiples (a canvas per head, a pixel
// block per query × key), and the selected head in detail with its tokens.
function renderAttention() {
  if (!attention) return;
  renderOverview();
  const li = attention.layers.indexOf(Number($('layer').value)), h = Number($('head').value);
  if (li < 0) { $('attention').innerHTML = '<div class="legend">that layer is not in the answer</div>'; return; }
  const p = attention.patterns[li][h], toks = attention.pieces.map(shown);
  let html = '<table class="att"><tr><th></th>' + toks.map(t => `<th style="writing-mode:vertical-rl">${esc(t)}</th>`).join('') + '</tr>';
  p.forEach((row, q) => {
    html += `<tr><th>${esc(toks[q])}</th>` + row.map((w, k) => `<td style="background:${k > q ? '#f4f4f4' : shade(w, 24)}" data-tip="${esc(toks[q] + ' → ' + toks[k] + ' ' + (w * 100).toFixed(1) + '%')}"></td>`).join('') + '</tr>';
  });
  $('attention').innerHTML = html + '</table>';
  document.querySelectorAll('#att-overview canvas').forEach(c => c.classList.toggle('sel', Number(c.dataset.layer) === Number($('layer').value) && Number(c.dataset.head) === h));
  tips();
}

function renderOverview() {
  const n = attention.pieces.length, heads = attention.patterns[0] ? attention.patterns[0].length : 0;
  const cell = Math.max(1, Math.floor(44 / n)), size = cell * n;
  const box = $('att-overview');
  box.style.gridTemplateColumns = `auto repeat(${heads}, ${size + 2}px)`;
  box.innerHTML = '<span></span>' + Array.from({length: heads}, (_, h) => `<span class="lab">h${h}</span>`).join('');
  for (let li = attention.layers.length - 1; li >= 0; li--) {
    const label = document.createElement('span');
    label.className = 'lab'; label.textContent = `L${attention.layers[li]}`;
    box.appendChild(label);
    for (let h = 0; h < heads; h++) {
      const canvas = document.createElement('canvas');
      canvas.width = canvas.height = size;
      canvas.dataset.layer = attention.layers[li]; canvas.dataset.head = h;
      canvas.title = `layer ${attention.layers[li]} head ${h}`;
      const g = canvas.getContext('2d'), p = attention.patterns[li][h];
      for (let q = 0; q < n; q++) for (let k = 0; k < n; k++) {
        g.fillStyle = k > q ? '#f4f4f4' : shade(p[q][k], 24);
        g.fillRect(k * cell, q * cell, cell, cell);
      }
      canvas.onclick = () => { $('layer').value = canvas.dataset.layer; $('head').value = h; renderAttention(); syncURL(true); };
      box.appendChild(canvas);
    }
  }
}

$('layer').onchange = $('head').onchange = () => { renderAttention(); syncURL(false); };

import Lantern

/// The page app: one HTML document (the look of Lantern's static pages, `HTMLReport.page`) with
/// its script inline, so the server needs no files and the browser no network.
enum Page {
    static let html = HTMLReport.page(title: "Lantern", subtitle: "", sections: [body, "<style>\(style)</style>",
                                                                                   "<script>\(PageScript.source)\(PageGraphScript.source)\(PageSweepScript.source)</script>"])

    static let body = #"""
    <div class="sub" id="model">connecting…</div>
    <div class="card"><textarea id="prompt" rows="2" style="width:100%;font:14px Menlo,Consolas,monospace">The reliability of Wikipedia is very</textarea>
    <button id="run">Run</button> <span id="status" class="legend"></span></div>
    <h2>Tokens</h2><div class="legend">Click a token for its SAE features.</div><div id="tokens" class="card"></div>
    <div class="side">
      <div><h2>Next token</h2><table id="next-table" class="metrics"><thead><tr><th>#</th><th>token</th><th>p</th><th></th></tr></thead><tbody></tbody></table></div>
      <div><h2>SAE features <select id="sae"></select></h2><div id="scan" class="legend"></div><div id="features"></div></div>
    </div>
    <h2>MLP neurons <select id="neuron-layer"></select></h2><div class="legend">The selected token's most active neurons at this layer; click one for its dashboard.</div>
    <div id="neurons"></div>
    <h2>Logit lens</h2><div class="legend" id="lens-caption"></div><div id="lens" style="overflow-x:auto"></div>
    <div id="tuned" style="overflow-x:auto"></div>
    <h2>Attention <select id="layer"></select> <select id="head"></select></h2><div class="legend">Rows: queries; columns: keys.</div>
    <div id="attention" style="overflow-x:auto"></div>
    <h2>Dashboard</h2><div id="dashboard" class="legend">Click a feature or a neuron.</div>
    <h2>Steering <select id="steer-mode"><option value="add">add</option><option value="clamp">clamp</option></select></h2>
    <div class="legend">Add a feature from its dashboard; move its slider. add: strength·W_dec added at every position of every step; clamp: the feature's activation set to its slider's value (each feature its own).</div>
    <div id="sliders"></div><div id="steer-status" class="legend"></div>
    <div class="side"><div class="card"><b>Baseline</b><div class="gen" id="baseline-text"></div></div>
    <div class="card"><b>Steered</b><div class="gen" id="steered-text"></div></div></div>
    <h2 id="graph-section">Attribution graph</h2><div class="legend">The prompt's attribution graph through the transcoders (as <span class="mono">lantern graph</span>): one backward pass per feature and logit, pruned by influence.</div>
    <div class="card"><button id="graph-run">Build graph</button>
      max feature nodes <input id="graph-max" type="number" min="0" placeholder="all" style="width:70px">
      node threshold <input id="graph-node" type="number" step="0.01" min="0.01" max="1" value="0.8" style="width:60px">
      edge threshold <input id="graph-edge" type="number" step="0.01" min="0.01" max="1" value="0.98" style="width:60px">
      <progress id="graph-progress" max="1" value="0"></progress> <span id="graph-status" class="legend"></span></div>
    <div id="graph-summary"></div><div id="graph" style="overflow-x:auto"></div><div id="graph-node-info"></div>
    <h2>Patching sweep</h2><div class="legend">The clean prompt run with one activation (row) at one position (column) taken from the corrupted prompt's run (as <span class="mono">lantern patch sweep</span>); the prompts need the same number of tokens. A target is a token id or the text of one token.</div>
    <div class="card sweep-form">clean <input id="sweep-clean" placeholder="the prompt above" style="width:260px">
      corrupted <input id="sweep-corrupted" style="width:260px"> target <input id="sweep-target" style="width:90px">
      baseline <input id="sweep-baseline" placeholder="none" style="width:70px">
      hooks <input id="sweep-hooks" value="blocks.*.hook_resid_pre" style="width:200px">
      <button id="sweep-run">Sweep</button> <progress id="sweep-progress" max="1" value="0"></progress> <span id="sweep-status" class="legend"></span></div>
    <div id="sweep" style="overflow-x:auto"></div>
    """#

    static let style = #"""
    .tok.click{cursor:pointer}.tok.sel{outline:2px solid #2a5db0}.feat,.neuron{cursor:pointer;color:#2a5db0}#neurons .neuron{color:inherit;text-decoration:underline}
    .att td{width:14px;height:14px;padding:0;border:1px solid #fff}.att th{font:11px Menlo,monospace;white-space:pre}
    .slider{display:flex;gap:8px;align-items:center;margin:4px 0}.slider input[type=range]{width:320px}
    .err{color:#b00020}.sweep td{min-width:40px}#graph .gnode:hover{stroke:#000;stroke-width:1.5}
    """#
}

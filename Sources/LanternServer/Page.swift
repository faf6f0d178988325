import Lantern

/// The page app: one HTML document (the look of Lantern's static pages, `HTMLReport.page`) with
/// its script inline, so the server needs no files and the browser no network.
enum Page {
    static let html = HTMLReport.page(title: "Lantern", subtitle: "", sections: [body, "<style>\(style)</style>", "<script>\(PageScript.source)</script>"])

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
    <h2>Steering</h2><div class="legend">Add a feature from its dashboard; move its slider (strength, added as strength·W_dec at every position of every step).</div>
    <div id="sliders"></div><div id="steer-status" class="legend"></div>
    <div class="side"><div class="card"><b>Baseline</b><div class="gen" id="baseline-text"></div></div>
    <div class="card"><b>Steered</b><div class="gen" id="steered-text"></div></div></div>
    """#

    static let style = #"""
    .tok.click{cursor:pointer}.tok.sel{outline:2px solid #2a5db0}.feat,.neuron{cursor:pointer;color:#2a5db0}#neurons .neuron{color:inherit;text-decoration:underline}
    .att td{width:14px;height:14px;padding:0;border:1px solid #fff}.att th{font:11px Menlo,monospace;white-space:pre}
    .slider{display:flex;gap:8px;align-items:center;margin:4px 0}.slider input[type=range]{width:320px}
    .err{color:#b00020}
    """#
}

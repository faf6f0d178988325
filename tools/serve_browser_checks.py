"""The page app's interactions, checked in headless Chromium by tools/serve_browser_test.py: tabs,
the address (a view restored from its URL, Back and Forward), errors that replace stale results and
name the limit, readable contrast, the favicon, feature search and opening a feature by id, the
steering fields, the attention overview, and the graph explorer (hover, pin, labels, supernodes,
pruning, the JSON downloaded and opened again from disk, first-paint and hover timings).

Each check takes the Browser of serve_browser_test.py and calls its `fail` on a mismatch."""
import json
import os
import time


def log(message):
    print(f"serve browser test: {message}", flush=True)


def click_tab(browser, tab):
    browser.js(f"document.querySelector('#tabs button[data-tab={tab}]').click()")


def tabs(browser, fail):
    """Each tab shows its panel and only it; the address names the tab."""
    tabs = browser.js("[...document.querySelectorAll('#tabs button')].map(b => b.dataset.tab)")
    if tabs != ["next", "lens", "attention", "features", "steering", "circuits", "sweep"]:
        fail(f"the tabs are {tabs}")
    for tab in tabs:
        click_tab(browser, tab)
        state = browser.js("({shown: [...document.querySelectorAll('.panel')].filter(p => getComputedStyle(p).display !== 'none').map(p => p.id),"
                           " tab: new URLSearchParams(location.search).get('tab')})")
        if state["shown"] != [f"tab-{tab}"] or state["tab"] != tab:
            fail(f"clicking the {tab} tab shows {state['shown']} with tab={state['tab']} in the address")
    click_tab(browser, "next")
    browser.js("document.querySelector('#tabs button[data-tab=next]').dispatchEvent(new KeyboardEvent('keydown', {key: 'ArrowRight', bubbles: true}))")
    if browser.js("currentTab()") != "lens":
        fail("the right arrow on the tabs did not move to the lens tab")
    click_tab(browser, "next")
    height = browser.js("Math.round(document.body.getBoundingClientRect().height)")
    log(f"7 tabs, each showing only its panel and named in the address, the arrow keys move between them; the page is {height} px tall on the next-token tab")


def favicon_and_contrast(browser, fail):
    """A favicon, and every shaded token's text at WCAG AA contrast (4.5:1) on its background."""
    icon = browser.js("(document.querySelector('link[rel=icon]') || {}).href || ''")
    if not icon.startswith("data:image/svg+xml"):
        fail(f"no inline favicon: {icon[:60]!r}")
    drawn = browser.js(f"(async () => {{ const i = new Image(); i.src = {json.dumps(icon)}; try {{ await i.decode(); return i.naturalWidth; }} catch (e) {{ return 0; }} }})()")
    if not drawn:
        fail("the favicon does not decode as an image")
    worst = browser.js("""(() => {
      const rgb = s => s.match(/[\\d.]+/g).slice(0, 3).map(Number).map(v => v / 255);
      let worst = {ratio: 99};
      document.querySelectorAll('#lens td[data-tip], #dashboard .tok, #neurons .tok, #sweep td, #search-results .tok').forEach(e => {
        const st = getComputedStyle(e), r = contrast(rgb(st.color), rgb(st.backgroundColor));
        if (r < worst.ratio) worst = {ratio: r, text: e.textContent, color: st.color, background: st.backgroundColor};
      });
      return worst })()""")
    if worst["ratio"] < 4.5:
        fail(f"text below WCAG AA contrast: {worst}")
    log(f"inline SVG favicon; the lowest text contrast on shaded cells and tokens is {worst['ratio']:.2f}:1 ({worst.get('text', '')!r})")


def long_tokens(browser, fail):
    """No lens cell cuts its token: the cell's text fits (it wraps instead of an ellipsis)."""
    cut = browser.js("[...document.querySelectorAll('#lens td[data-tip]')].filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)")
    style = browser.js("(() => { const c = document.querySelector('#lens td[data-tip]'); return c ? getComputedStyle(c).textOverflow : '' })()")
    if cut or style == "ellipsis":
        fail(f"lens cells cut their tokens: {cut[:5]} (text-overflow {style})")
    log("lens cells wrap long tokens (none cut)")


def error_names_limit(browser, wait, fail, prompt_bytes_limit):
    """A prompt over the limit: the error names the limit and replaces the old results."""
    long_prompt = "x" * (prompt_bytes_limit + 100)
    browser.js(f"(() => {{ document.getElementById('prompt').value = {json.dumps(long_prompt)}; run(); }})()")
    message = wait("(() => { const s = document.getElementById('status'); return s.className === 'err' ? s.textContent : null })()",
                   "no error for a prompt over the limit")
    if str(prompt_bytes_limit) not in message or "prompt" not in message:
        fail(f"the error does not name the field and the limit ({prompt_bytes_limit}): {message!r}")
    stale = browser.js("({rows: document.querySelectorAll('#next-table tbody tr').length, lens: document.querySelectorAll('#lens td').length,"
                       " shown: document.getElementById('next-error').textContent, lensError: document.getElementById('lens').textContent})")
    if stale["rows"] or stale["lens"] or message not in stale["shown"] or message not in stale["lensError"]:
        fail(f"stale results beside the error: {stale}")
    log(f"a {len(long_prompt)}-byte prompt: {message!r}, shown in place of the old results")


def url_round_trip(browser, url, wait, fail, prompt, token, feature):
    """The view (tab, prompt, token, feature) in the address; a fresh load restores it; Back and
    Forward step through the views."""
    click_tab(browser, "features")
    browser.js(f"document.querySelector('#tokens .tok[data-pos=\"{token}\"]').click()")
    browser.js(f"(() => {{ document.getElementById('find-id').value = '{feature}'; document.getElementById('find-open').click(); }})()")
    wait(f"document.getElementById('dash-{feature}') !== null", f"feature {feature} did not open by id")
    address = browser.js("location.href")
    params = browser.js("Object.fromEntries(new URLSearchParams(location.search))")
    if params.get("tab") != "features" or params.get("prompt") != prompt or params.get("feature") != str(feature):
        fail(f"the address does not hold the view: {params}")
    # A fresh page at that address: the same view.
    browser.send("Page.navigate", url=url)
    wait("document.readyState === 'complete' && info !== null && document.getElementById('status').textContent === ''", "the plain page did not load")
    browser.send("Page.navigate", url=address)
    restored = wait(f"(() => {{ const d = document.getElementById('dash-{feature}'), s = document.querySelector('#tokens .tok.sel');"
                    " return d && s ? {tab: currentTab(), prompt: document.getElementById('prompt').value, token: Number(s.dataset.pos)} : null })()",
                    "the address did not restore the view")
    if restored != {"tab": "features", "prompt": prompt, "token": token}:
        fail(f"the address restored {restored}, not features / {prompt!r} / token {token}")
    if params.get("corrupted") and browser.js("document.getElementById('sweep-corrupted').value") != params["corrupted"]:
        fail(f"the sweep's corrupted prompt {params['corrupted']!r} was not restored from the address")
    # Back: the previous view (the lens tab, then the next tab), Forward again.
    click_tab(browser, "lens")
    click_tab(browser, "attention")
    browser.js("history.back()")
    wait("currentTab() === 'lens'", "Back did not return to the lens tab")
    browser.js("history.back()")
    wait(f"currentTab() === 'features' && document.getElementById('dash-{feature}') !== null", "a second Back did not return to the feature")
    browser.js("history.forward()")
    wait("currentTab() === 'lens'", "Forward did not return to the lens tab")
    log(f"the view at {address[len(url) - 1:]} restored on a fresh load (tab, prompt, token {token}, feature {feature}); Back and Forward step through tabs")


def search(browser, wait, fail, query):
    """Search over the scanned corpus: ranked features, each with its density and histogram."""
    click_tab(browser, "features")
    browser.js(f"(() => {{ document.getElementById('search-q').value = {json.dumps(query)}; document.getElementById('search-run').click(); }})()")
    rows = wait("(() => { const t = document.querySelector('#search-results table'); if (!t) return document.querySelector('#search-results .err, #search-results .legend') ? 'none' : null;"
                " return [...t.querySelectorAll('tr')].slice(1).map(r => ({feature: r.querySelector('.feat').textContent, score: Number(r.children[1].textContent),"
                " bars: r.querySelectorAll('.hist-mini span').length, max: r.querySelector('.tok.max') ? r.querySelector('.tok.max').textContent : ''})) })()",
                "the search did not answer")
    if rows == "none" or not rows:
        found = browser.js("document.getElementById('search-results').textContent")
        fail(f"searching {query!r} found nothing: {found!r}")
    if any(r["bars"] != 16 for r in rows) or [r["score"] for r in rows] != sorted([r["score"] for r in rows], reverse=True):
        fail(f"the search results are not ranked with histograms: {rows[:5]}")
    browser.js("document.querySelector('#search-results .feat').click()")
    wait(f"document.getElementById('dash-{rows[0]['feature']}') !== null", "a search result's dashboard did not open")
    log(f"search {query!r}: {len(rows)} features ranked (top {rows[0]}), each with a 16-bin histogram; the first opens its dashboard")


def steering_fields(browser, wait, fail, feature):
    """Exact strengths (a number field, not the slider's steps), tokens, temperature and seed go
    into the request; the settings are in the address."""
    click_tab(browser, "steering")
    browser.js("document.getElementById('sliders').innerHTML = ''")
    browser.js(f"(() => {{ document.getElementById('steer-id').value = '{feature}'; document.getElementById('steer-add-id').click(); }})()")
    browser.js("window.steerBodies = []; window.realFetch = window.realFetch || fetch;"
               " window.fetch = (path, init) => { if (String(path).includes('/api/steer')) window.steerBodies.push(JSON.parse(init.body)); return window.realFetch(path, init); }")
    browser.js("(() => { const set = (id, v) => { const e = document.getElementById(id); e.value = v; e.dispatchEvent(new Event('change')); };"
               " set('steer-tokens', '7'); set('steer-temp', '0.7'); set('steer-seed', '11'); set('steer-positions', '3, 5');"
               f" const n = document.getElementById('value-{feature}'); n.value = '70'; n.dispatchEvent(new Event('input'));"
               " document.getElementById('steer-status').textContent = ''; })()")
    wait("(() => { const b = window.steerBodies[window.steerBodies.length - 1];"
         " return b && b.seed === 11 && b.features[0].strength === 70 && document.getElementById('steer-status').textContent.startsWith('done') })()",
         "steering with the fields did not finish")
    body = browser.js("window.steerBodies[window.steerBodies.length - 1]")
    browser.js("window.fetch = window.realFetch")
    want = {"max_new_tokens": 7, "temperature": 0.7, "seed": 11, "positions": [3, 5], "features": [{"feature": int(feature), "strength": 70}]}
    if any(body.get(k) != v for k, v in want.items()):
        fail(f"the steering request {body} does not carry the fields {want}")
    params = browser.js("Object.fromEntries(new URLSearchParams(location.search))")
    if params.get("steer") != f"{feature}:70" or params.get("tokens") != "7" or params.get("seed") != "11" or params.get("positions") != "3, 5":
        fail(f"the steering settings are not in the address: {params}")
    generated = browser.js("document.getElementById('steered-text').textContent")
    slider = browser.js(f"document.getElementById('slider-{feature}').value")
    log(f"steering fields: strength exactly 70 (slider {slider}), "
        f"7 tokens, temperature 0.7, seed 11, positions 3 and 5 in the request and the address; steered {generated!r}")


def attention_overview(browser, wait, fail, layers, heads):
    """Small multiples of every head; clicking one selects it in the detailed view."""
    click_tab(browser, "attention")
    count = wait("document.querySelectorAll('#att-overview canvas').length", "the all-heads overview did not draw")
    if count != layers * heads:
        fail(f"the overview has {count} heads, the model {layers}×{heads}")
    browser.js("document.querySelector('#att-overview canvas[data-layer=\"0\"][data-head=\"1\"]').click()")
    chosen = browser.js("[document.getElementById('layer').value, document.getElementById('head').value, new URLSearchParams(location.search).get('head')]")
    if chosen != ["0", "1", "1"]:
        fail(f"clicking layer 0 head 1 in the overview chose {chosen}")
    log(f"attention overview: {count} heads as small multiples; a click selects the head (and the address)")


def graph_explorer(browser, wait, fail, tmpdir, measure=False):
    """The explorer on the drawn graph: hover dims all but a node's strongest inputs and outputs;
    a click pins it and opens its card; a label edit and a supernode of two nodes survive the
    downloaded JSON opened again from disk; the pruning slider hides nodes; the pinned node is in
    the address. Returns the timings measured in the page."""
    click_tab(browser, "circuits")
    browser.js("pinGraphNode(null)")
    stats = browser.js("({nodes: graphView.nodes.length, links: graphView.order.length, drawn: graphView.baseEdges,"
                       " timings: window.graphTimings})")
    # Zoom (the wheel, about the cursor) and pan (a drag on the background).
    browser.js("fitGraph()")
    fitted = browser.js("[graphView.scale, graphView.tx, graphView.ty]")
    box = browser.js("(() => { const r = document.getElementById('graph-svg').getBoundingClientRect(); return [r.left + 20, r.top + 20] })()")
    browser.js(f"document.getElementById('graph-svg').dispatchEvent(new WheelEvent('wheel', {{deltaY: -300, clientX: {box[0]}, clientY: {box[1]}, bubbles: true, cancelable: true}}))")
    zoomed = browser.js("[graphView.scale, graphView.tx, graphView.ty]")
    browser.js(f"(() => {{ const s = document.getElementById('graph-svg');"
               f" s.dispatchEvent(new MouseEvent('mousedown', {{button: 0, clientX: {box[0]}, clientY: {box[1]}, bubbles: true}}));"
               f" window.dispatchEvent(new MouseEvent('mousemove', {{clientX: {box[0] + 60}, clientY: {box[1] + 25}}}));"
               " window.dispatchEvent(new MouseEvent('mouseup', {})); })()")
    panned = browser.js("[graphView.scale, graphView.tx, graphView.ty]")
    if not zoomed[0] > fitted[0] * 1.2 or abs(panned[1] - zoomed[1] - 60) > 0.5 or abs(panned[2] - zoomed[2] - 25) > 0.5:
        fail(f"zoom and pan: {fitted} → wheel {zoomed} → drag {panned}")
    browser.js("fitGraph()")
    # The feature with the most inputs.
    target = browser.js("(() => { let best = null, n = -1; graphView.nodes.forEach((x, i) => {"
                        " if (x.feature_type === 'cross layer transcoder' && graphView.ins[i].length > n) { n = graphView.ins[i].length; best = x.node_id; } }); return best })()")
    hover = browser.js(f"measureHover({json.dumps(target)})")
    if not hover["lines"] or hover["lit"] < 2 or not browser.js("document.getElementById('graph-svg').classList.contains('dim')"):
        fail(f"hovering {target} highlighted nothing: {hover}")
    dimmed = browser.js("(() => { const e = document.querySelector('#gv-nodes .gnode:not(.hi)'); return e ? Number(getComputedStyle(e).opacity) : 1 })()")
    if dimmed > 0.5:
        fail(f"hovering {target} did not dim the other nodes (opacity {dimmed})")
    browser.js(f"document.querySelector('#gv-nodes [data-node=\"{target}\"]').dispatchEvent(new MouseEvent('click', {{bubbles: true}}))")
    card = wait("(() => { const c = document.getElementById('graph-node-card'); return c ? {title: c.querySelector('b').textContent,"
                " inputs: document.querySelectorAll('#gv-inputs .gv-jump').length, outputs: document.querySelectorAll('#gv-outputs .gv-jump').length} : null })()",
                "clicking a node did not open its card")
    pin = browser.js("new URLSearchParams(location.search).get('pin')")
    pinned_address = browser.js("location.href")
    if card["inputs"] == 0 or pin != target:
        fail(f"the pinned node's card {card} or the address (pin={pin}) is wrong for {target}")
    browser.js("document.querySelector('#gv-nodes .gnode').dispatchEvent(new MouseEvent('mouseout', {bubbles: true}))")
    if browser.js("graphView.pinned === null || !document.getElementById('graph-svg').classList.contains('dim')"):
        fail("the pinned node's highlight did not stay after the hover ended")
    # A label, then a supernode of two feature or error nodes, shift-clicked.
    if browser.js("!!document.getElementById('gv-label')"):
        browser.js("(() => { const l = document.getElementById('gv-label'); l.value = 'my label'; l.dispatchEvent(new Event('input')); })()")
    members = browser.js("graphView.nodes.filter(n => n.feature_type !== 'embedding' && n.feature_type !== 'logit' && n.node_id !== "
                         f"{json.dumps(target)}).slice(0, 2).map(n => n.node_id)")
    for node in members:
        browser.js(f"document.querySelector('#gv-nodes [data-node=\"{node}\"]').dispatchEvent(new MouseEvent('click', {{bubbles: true, shiftKey: true}}))")
    listed = browser.js("document.querySelectorAll('#gv-selected .gv-jump').length")
    if listed != 2:
        fail(f"two shift-clicked nodes, {listed} in the selection list")
    browser.js("window.prompt = () => 'my group'; document.getElementById('gv-group').click()")
    group = browser.js("({groups: graphView.groups.length, label: graphView.groups[0] && graphView.groups[0].label, drawn: document.querySelectorAll('#gv-nodes .super').length,"
                       " hidden: graphView.groups[0] && graphView.groups[0].members.every(i => graphView.elements[i].style.display === 'none'),"
                       " card: (document.getElementById('graph-node-card') || {textContent: ''}).textContent.slice(0, 80)})")
    if group["groups"] != 1 or group["label"] != "my group" or group["drawn"] != 1 or not group["hidden"] or "my group" not in group["card"]:
        fail(f"grouping {members} into a supernode: {group}")
    # A click on the supernode pins it (its card; the address keeps no node); then the node again.
    browser.js("pinGraphNode(null); document.querySelector('#gv-nodes .super').dispatchEvent(new MouseEvent('click', {bubbles: true}))")
    super_card = browser.js("[(document.getElementById('graph-node-card') || {textContent: ''}).textContent.slice(0, 40), viewParams().get('pin')]")
    if "my group" not in super_card[0] or super_card[1] is not None:
        fail(f"clicking the supernode: card {super_card[0]!r}, pin {super_card[1]!r} in the address")
    browser.js(f"document.querySelector('#gv-nodes [data-node=\"{target}\"]').dispatchEvent(new MouseEvent('click', {{bubbles: true}}))")
    # One more node selected: the schema's pinnedIds (the clicked node is its clickedId).
    extra = browser.js("graphView.nodes.filter((n, i) => graphView.group[i] < 0 && n.feature_type === 'embedding')[0].node_id")
    browser.js(f"document.querySelector('#gv-nodes [data-node=\"{extra}\"]').dispatchEvent(new MouseEvent('click', {{bubbles: true, shiftKey: true}}))")
    # Pruning: a lower threshold shows fewer nodes and edges.
    before = browser.js("graphView.shownNode.reduce((a, b) => a + b, 0)")
    browser.js("(() => { const s = document.getElementById('gv-prune'); s.value = '0.3'; s.dispatchEvent(new Event('input')); })()")
    after = browser.js("graphView.shownNode.reduce((a, b) => a + b, 0)")
    browser.js("(() => { const s = document.getElementById('gv-prune'); s.value = '1'; s.dispatchEvent(new Event('input')); })()")
    if not after < before:
        fail(f"the pruning slider at 0.3 shows {after} of {before} nodes")
    # The JSON as downloaded, opened again through the file input: label, supernode and pin kept.
    saved = browser.js("graphJSON()")
    svg = browser.js("graphSVG()")
    path = os.path.join(tmpdir, "saved-graph.json")
    with open(path, "w") as f:
        f.write(saved)
    data = json.loads(saved)
    if data["qParams"]["supernodes"][0][0] != "my group" or data["qParams"]["clickedId"] != target or data["qParams"]["pinnedIds"] != [extra]:
        fail(f"the saved JSON's qParams {data['qParams']} lack the supernode or the pin")
    document = browser.send("DOM.getDocument")
    node = browser.send("DOM.querySelector", nodeId=document["root"]["nodeId"], selector="#graph-file")
    browser.send("DOM.setFileInputFiles", nodeId=node["nodeId"], files=[path])
    reopened = wait("graphOrigin === 'file' && graphView ? {groups: graphView.groups.map(g => g.label), pinned: graphView.pinned !== null ? graphView.nodes[graphView.pinned].node_id : null,"
                    " labels: graphView.nodes.filter(n => n.clerp === 'my label').length, selected: [...graphView.selected].map(i => graphView.nodes[i].node_id)} : null",
                    "the saved JSON did not open from disk")
    if reopened["groups"] != ["my group"] or reopened["pinned"] != target or reopened["labels"] != 1 or reopened["selected"] != [extra]:
        fail(f"the reopened graph lost the supernode or the pin: {reopened}")
    # A file of the schema without Lantern's additions (another tool's graph) opens too.
    plain = json.loads(saved)
    plain["metadata"].pop("lantern", None)
    plain.pop("qParams", None)
    for n in plain["nodes"]:
        for key in ("input", "influence", "unattributed"):
            n.pop(key, None)
    other = os.path.join(tmpdir, "other-graph.json")
    with open(other, "w") as f:
        json.dump(plain, f)
    browser.send("DOM.setFileInputFiles", nodeId=node["nodeId"], files=[other])
    opened = wait("graphOrigin === 'file' && graphView && graphView.groups.length === 0 ? {nodes: document.querySelectorAll('#gv-nodes .gnode').length,"
                  " edges: graphView.baseEdges, summary: document.getElementById('dark-matter').textContent} : null", "a graph without Lantern's keys did not open")
    if opened["nodes"] != stats["nodes"] or not opened["edges"] or "not made by Lantern" not in opened["summary"]:
        fail(f"a graph without Lantern's keys: {opened}")
    browser.send("DOM.setFileInputFiles", nodeId=node["nodeId"], files=[path])
    wait("graphView && graphView.groups.length === 1 && graphView.pinned !== null", "the saved graph did not open again")
    browser.js("document.body.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape', bubbles: true}))")
    if browser.js("graphView.pinned !== null || !!document.getElementById('graph-node-card')"):
        fail("Escape did not unpin the node")
    log(f"graph explorer: {stats['nodes']} nodes, {stats['links']} edges ({stats['drawn']} drawn); zoom ×{zoomed[0] / fitted[0]:.2f} by the wheel, "
        f"a drag pans by (60, 25); hover {target}: {hover['lines']} lines, "
        f"{hover['lit']} elements lit, the rest dimmed; pinned card with {card['inputs']} inputs / {card['outputs']} outputs; "
        f"supernode 'my group'; pruning at 0.3 shows {after} of {before} nodes; JSON ({len(saved)} bytes) and SVG ({len(svg)} bytes) "
        f"saved, the JSON reopened from disk with its supernode, pin and {reopened['labels']} label(s); a copy without Lantern's keys opens too; Escape unpins")
    return pinned_address


def pin_strongest(browser, wait):
    """Pins the feature with the most inputs (its strongest inputs and outputs highlighted), for a screenshot."""
    browser.js("(() => { let best = 0, n = -1; graphView.nodes.forEach((x, i) => {"
               " if (x.feature_type === 'cross layer transcoder' && graphView.ins[i].length > n) { n = graphView.ins[i].length; best = i; } });"
               " pinGraphNode(best); })()")
    wait("!!document.getElementById('graph-node-card') && !/loading/.test(document.getElementById('graph-contexts').textContent)", "the pinned node's card did not fill")


def graph_address(browser, wait, fail, address):
    """An address with a built graph and a pinned node: a fresh page builds the graph and pins it."""
    pin = address.split("pin=")[1].split("&")[0]
    browser.send("Page.navigate", url=address)
    got = wait("typeof graphView !== 'undefined' && graphView && graphView.pinned !== null && document.getElementById('graph-node-card') ?"
               " encodeURIComponent(graphView.nodes[graphView.pinned].node_id) : null", "the address with a graph and a pinned node did not restore them")
    if got != pin and got != pin.replace("%2D", "-"):
        fail(f"the address pinned {got}, not {pin}")
    log(f"a fresh page at the graph's address built it again and pinned {got}")


def measure_graph(browser, wait, fail, repeats=5):
    """First paint (model + draw + two frames) and hover of the built graph, redrawn `repeats` times
    in the page; the median and the worst of each, in milliseconds."""
    click_tab(browser, "circuits")
    paints, hovers, frames = [], [], []
    target = browser.js("(() => { let best = null, n = -1; graphView.nodes.forEach((x, i) => {"
                        " if (graphView.ins[i].length + graphView.outs[i].length > n) { n = graphView.ins[i].length + graphView.outs[i].length; best = x.node_id; } }); return best })()")
    for _ in range(repeats):
        browser.js("graphPending = null; window.graphTimings = {}; showGraph(graphData, graphOrigin)")
        t = wait("window.graphTimings.first_paint_ms !== undefined ? window.graphTimings : null", "the graph did not repaint")
        paints.append(t["model_ms"] + t["first_paint_ms"])
        h = browser.js(f"measureHover({json.dumps(target)})")
        hovers.append(h["hover_ms"])
        frames.append(h["hover_paint_ms"])
        time.sleep(0.2)
    # Parsing the JSON (what the stream's last event or a file costs before the explorer starts).
    parse = browser.js("(() => { const text = JSON.stringify(graphData), t0 = performance.now(); JSON.parse(text);"
                       " return {ms: performance.now() - t0, bytes: text.length} })()")
    median = lambda xs: sorted(xs)[len(xs) // 2]
    out = {"first_paint_ms": median(paints), "first_paint_worst_ms": max(paints), "hover_ms": median(hovers),
           "hover_worst_ms": max(hovers), "hover_to_frame_ms": median(frames), "node": target, "parse_ms": parse["ms"]}
    log(f"graph timings over {repeats} redraws ({browser.js('graphView.nodes.length')} nodes, {browser.js('graphView.order.length')} edges): "
        f"first paint {out['first_paint_ms']:.0f} ms (worst {out['first_paint_worst_ms']:.0f}), hover {out['hover_ms']:.1f} ms "
        f"(worst {out['hover_worst_ms']:.1f}), hover to the next frame {out['hover_to_frame_ms']:.0f} ms; "
        f"parsing its {parse['bytes'] / 1e6:.1f} MB of JSON {parse['ms']:.0f} ms")
    return out


def stale_graph(browser, wait, fail, prompt):
    """A new prompt marks the built graph as an earlier prompt's, and its address no longer asks
    for the graph."""
    browser.js(f"(() => {{ document.getElementById('prompt').value = {json.dumps(prompt)}; run(); }})()")
    message = wait("(() => { const s = document.getElementById('graph-status'); return s.className === 'err' ? s.textContent : null })()",
                   "a new prompt left the graph unmarked")
    params = browser.js("Object.fromEntries(new URLSearchParams(location.search))")
    if "earlier prompt" not in message or "graph" in params or params.get("prompt") != prompt:
        fail(f"after a new prompt: graph status {message!r}, address {params}")
    log(f"a new prompt: {message!r}, and the address no longer builds the graph")

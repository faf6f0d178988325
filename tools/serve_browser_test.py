#!/usr/bin/env python3
"""Drives `lantern serve`'s page in headless Chromium (Debian's `chromium`) over the DevTools protocol.

Starts `lantern serve --port 0` with the given model/SAE, loads the page, types the prompt, and
checks, as a person would see them: the next-token table fills (with --expect-token among its
rows), the lens heatmap fills (a cell per layer and position, and the answer's rank per layer),
a token's SAE features list, a feature's dashboard opens, and moving a steering slider changes the
steered text; with --tuned, the tuned-lens heatmap fills too; with --sweep-corrupted and
--sweep-target, the patching sweep heatmap fills (a shaded cell per row and position, the values the
API returns); with --transcoders, the attribution graph panel draws its nodes and edges, shows the
dark-matter share, and a clicked feature node opens its card. The page's OpenAPI document is
validated with openapi-spec-validator. Optionally saves screenshots.

  # the tiny fixture (CI, a few seconds), then its graph fixtures (the tiny Gemma 3 and its transcoders):
  python3 tools/serve_browser_test.py --lantern .build/release/lantern --fixtures
  python3 tools/serve_browser_test.py --lantern .build/release/lantern --graph-fixtures
  # the default model with its SAE, tuned lens and transcoders (about two minutes):
  python3 tools/serve_browser_test.py --lantern .build/release/lantern \
      --sae saes/gemma3-270m-res6-topk4096 --tuned lenses/gemma3-270m-tuned --transcoders transcoders/gemma3-270m \
      --expect-token " important" --sweep-corrupted "The reliability of Britannica is very" --sweep-target " important" \
      --screenshot /tmp/serve.png --graph-screenshot /tmp/serve-graph.png

Needs `chromium` (apt) and `websocket-client` (pip); the Makefile's test target installs both.
Exits non-zero, naming the check, when a check fails or the browser cannot run (never a silent pass).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import serve_browser_checks as check  # noqa: E402
SEED = "The reliability of Wikipedia is very"


def fail(message):
    print(f"serve browser test: FAILED: {message}", flush=True)
    print("serve browser test: 0 passed, 1 failed", flush=True)
    sys.exit(1)


class Browser:
    """One page of a headless Chromium, driven over the DevTools protocol."""

    def __init__(self, chromium):
        import websocket  # websocket-client
        self.profile = tempfile.mkdtemp(prefix="lantern-chromium-")
        self.proc = subprocess.Popen(
            [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             "--remote-debugging-port=0", f"--user-data-dir={self.profile}", "--window-size=1280,2200", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        port = None
        deadline = time.time() + 60
        while time.time() < deadline and port is None:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                fail(f"chromium exited with {self.proc.returncode} before DevTools started")
            m = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            if m:
                port = int(m.group(1))
        if port is None:
            fail("chromium did not start DevTools within 60 s")
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json"))
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=120, suppress_origin=True)
        self.next_id = 0

    def send(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    fail(f"{method}: {message['error']}")
                return message.get("result", {})

    def js(self, expression):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            fail(f"script error in {expression[:80]!r}: {result['exceptionDetails'].get('exception', {}).get('description')}")
        return result["result"].get("value")

    def wait(self, expression, what, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.1)
        status = self.js("document.getElementById('status').textContent + ' ' + document.getElementById('steer-status').textContent")
        fail(f"{what} (waited {timeout} s; page status: {status!r})")

    def close(self):
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            shutil.rmtree(self.profile, ignore_errors=True)


def post(url, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=300) as r:
        return json.load(r)


def check_cross_origin(browser, url, timeout):
    """A page on another origin (a local http.server on another port) POSTs to the API as a
    hostile site would: blind `no-cors` requests with the bodies a page may send without asking
    (text/plain, form) to the patching sweep and next, and a JSON request that needs a preflight.
    None may start a job: the sliced-job counters in /api/info must not move."""
    import http.server
    import threading
    sweep = json.dumps({"prompt": "to be, or not", "corrupted_prompt": "to be, or yes", "target": 32})
    page = ("<!doctype html><title>elsewhere</title><script>"
            f"const api = {json.dumps(url)}, body = {json.dumps(sweep)}; window.results = [];"
            "(async () => {"
            " for (const [path, type] of [['api/patch/sweep', 'text/plain'], ['api/patch/sweep', 'application/x-www-form-urlencoded'],"
            "                             ['api/next', 'text/plain']]) {"
            "  try { await fetch(api + path, {method: 'POST', mode: 'no-cors', headers: {'Content-Type': type}, body}); window.results.push('sent'); }"
            "  catch (e) { window.results.push('error'); } }"
            " try { const r = await fetch(api + 'api/patch/sweep', {method: 'POST', headers: {'Content-Type': 'application/json'}, body});"
            "       window.results.push('read ' + r.status); }"
            " catch (e) { window.results.push('blocked'); }"
            " window.done = true; })();</script>").encode()

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    elsewhere = http.server.HTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=elsewhere.serve_forever, daemon=True).start()
    before = json.load(urllib.request.urlopen(url + "api/info"))["jobs"]
    try:
        browser.send("Page.navigate", url=f"http://127.0.0.1:{elsewhere.server_address[1]}/")
        results = browser.wait("window.done ? window.results : null", "the other origin's page did not finish its requests", timeout)
    finally:
        elsewhere.shutdown()
    time.sleep(1)
    after = json.load(urllib.request.urlopen(url + "api/info"))["jobs"]
    if after != before:
        fail(f"a page on another origin started jobs: {before} → {after} (its requests: {results})")
    if results[-1].startswith("read 2"):
        fail(f"a page on another origin read an API answer: {results}")
    print(f"serve browser test: a page on another origin started no job ({results}; jobs {after})", flush=True)


def check_openapi(url):
    """The served OpenAPI document is valid OpenAPI 3.1."""
    try:
        from openapi_spec_validator import validate
    except ImportError:
        fail("the Python package openapi-spec-validator is missing (pip install openapi-spec-validator)")
    spec = json.load(urllib.request.urlopen(url + "openapi.json"))
    try:
        validate(spec)
    except Exception as e:  # the validator's own error types vary by version
        fail(f"/openapi.json is not valid OpenAPI: {e}")
    print(f"serve browser test: /openapi.json is valid OpenAPI {spec['openapi']} ({len(spec['paths'])} paths)", flush=True)


def check_tuned(browser, info, timeout):
    """The tuned lens's heatmap beside the logit lens: a shaded cell per layer and position, its ranks."""
    tuned = browser.wait("(() => { const t = document.querySelector('#tuned table'); if (!t) return null;"
                         " return {rows: t.querySelectorAll('tr').length - 1, cells: t.querySelectorAll('td[data-tip]').length,"
                         " ranks: [...t.querySelectorAll('td.rank')].map(e => Number(e.textContent)),"
                         " shaded: [...t.querySelectorAll('td[data-tip]')].every(e => e.style.background.length > 0)} })()",
                         "the tuned-lens heatmap did not draw", timeout)
    if tuned["rows"] < info["layers"] or not tuned["cells"] or not tuned["shaded"] or len(tuned["ranks"]) != tuned["rows"]:
        fail(f"the tuned-lens heatmap is not full: {tuned}")
    print(f"serve browser test: tuned lens {tuned['rows']} rows, {tuned['cells']} shaded cells; answer's rank per layer "
          f"(last layer first): {tuned['ranks']}", flush=True)


def check_sweep(browser, url, clean, corrupted, target, timeout):
    """Fills the sweep panel, runs it, and checks the heatmap shows the API's values, every cell shaded."""
    target_field = target if not re.fullmatch(r"\d+", target) else int(target)
    browser.js(f"(() => {{ document.getElementById('sweep-clean').value = {json.dumps(clean)};"
               f" document.getElementById('sweep-corrupted').value = {json.dumps(corrupted)};"
               f" document.getElementById('sweep-target').value = {json.dumps(target)};"
               " document.getElementById('sweep-run').click() })()")
    shown = browser.wait("(() => { if (document.getElementById('sweep-status').textContent !== 'done') return null;"
                         " const t = document.querySelector('#sweep table'); if (!t) return null;"
                         " const rows = [...t.querySelectorAll('tr')].slice(1).map(r => [...r.querySelectorAll('td')].map(c => c.textContent));"
                         " const shaded = [...t.querySelectorAll('td')].every(e => e.style.background.length > 0);"
                         " return {rows, shaded} })()", "the patching sweep heatmap did not fill", timeout)
    expected = post(url + "api/patch/sweep", {"prompt": clean, "corrupted_prompt": corrupted, "target": target_field})
    grid = expected["grids"][0]
    want = [[f"{v:.2f}" for v in row] for row in reversed(grid["values"])]
    if not shown["shaded"] or [[c.replace("-0.00", "0.00") for c in r] for r in shown["rows"]] != [[c.replace("-0.00", "0.00") for c in r] for r in want]:
        fail(f"the sweep heatmap {shown} is not the API's grid {want}")
    print(f"serve browser test: patching sweep heatmap {len(want)} rows × {len(want[0])} positions, every cell shaded; "
          f"last row (layer 0): {shown['rows'][-1]}", flush=True)


def check_graph(browser, max_feature_nodes, timeout):
    """Builds the graph in the page: its nodes and edges drawn, the dark-matter share shown, a feature's card."""
    if max_feature_nodes is not None:
        browser.js(f"document.getElementById('graph-max').value = '{max_feature_nodes}'")
    started = time.time()
    browser.js("document.getElementById('graph-run').click()")
    drawn = browser.wait("(() => { const s = document.querySelector('#graph svg'); if (!s || !graphData || !graphView) return null;"
                         " const kinds = {}; graphData.nodes.forEach(n => kinds[n.feature_type] = (kinds[n.feature_type] || 0) + 1);"
                         " const segments = [...s.querySelectorAll('#gv-base path')].reduce((a, p) => a + (p.getAttribute('d').match(/M/g) || []).length, 0);"
                         " return {nodes: s.querySelectorAll('#gv-nodes .gnode').length, json_nodes: graphData.nodes.length, lines: segments,"
                         " drawn: graphView.baseEdges, links: graphData.links.length, kinds, dark: (document.getElementById('dark-matter') || {}).textContent || '',"
                         " share: graphData.metadata.lantern.error_share} })()", "the attribution graph did not draw", timeout)
    seconds = time.time() - started
    if drawn["nodes"] == 0 or drawn["nodes"] != drawn["json_nodes"] or drawn["lines"] != drawn["drawn"] or not 0 < drawn["lines"] <= min(drawn["links"], 4000):
        fail(f"the graph's drawing does not match its JSON: {drawn}")
    if f"{drawn['share'] * 100:.1f}%" not in drawn["dark"]:
        fail(f"the dark-matter share is not shown: {drawn['dark']!r}")
    print(f"serve browser test: attribution graph drawn in {seconds:.1f} s: {drawn['nodes']} nodes {drawn['kinds']}, "
          f"{drawn['lines']} edges; dark matter {drawn['share'] * 100:.1f}%", flush=True)
    if drawn["kinds"].get("cross layer transcoder"):
        browser.js("document.querySelector('#graph circle.gnode').dispatchEvent(new MouseEvent('click', {bubbles: true}))")
        browser.wait("!!document.getElementById('graph-node-card')", "a feature node's card did not open", timeout)
        card = browser.wait("(() => { const c = document.getElementById('graph-node-card'); const x = document.getElementById('graph-contexts');"
                            " return c && x && !x.textContent.includes('loading') ? c.querySelector('b').textContent + ' | ' + x.textContent.slice(0, 120) : null })()",
                            "a feature node's card did not open", timeout)
        logits = browser.js("(document.getElementById('gv-logits') || {textContent: ''}).textContent")
        if "promoted" not in logits or "suppressed" not in logits:
            fail(f"the feature node's card has no logit effects: {logits!r}")
        print(f"serve browser test: feature node card: {card}; {logits[:100]}", flush=True)


def screenshot(browser, path, element=None, tab=None, height=None):
    """A PNG of the page's top (or of one element and what follows it, up to 2200 pixels), with
    `tab` shown first."""
    import base64
    if tab:
        check.click_tab(browser, tab)
        time.sleep(0.3)
    if element:
        top = browser.js(f"document.getElementById('{element}').getBoundingClientRect().top + window.scrollY - 8")
    else:
        browser.js("window.scrollTo(0, 0)")
        top = 0
    height = height or browser.js(f"Math.min(document.documentElement.scrollHeight - {top}, 2200)")
    shot = browser.send("Page.captureScreenshot", format="png",
                        clip={"x": 0, "y": top, "width": 1280, "height": height, "scale": 1}, captureBeyondViewport=True)
    with open(path, "wb") as f:
        f.write(base64.b64decode(shot["data"]))
    print(f"serve browser test: screenshot {path}", flush=True)


def start_server(args, extra):
    command = [args.lantern, "serve", "--port", "0", "--backend", "cpu"] + extra
    print("serve browser test: " + " ".join(command), flush=True)
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + args.start_timeout
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            fail(f"lantern serve exited with {proc.returncode} before serving")
        m = re.search(r"on (http://[\d.]+:\d+/)", line)
        if m:
            return proc, m.group(1)
        if line.strip():
            print("  " + line.rstrip(), flush=True)
    fail(f"lantern serve did not start within {args.start_timeout} s")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lantern", default=os.path.join(ROOT, ".build/release/lantern"))
    p.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    p.add_argument("--fixtures", action="store_true", help="the tiny Gemma 2 fixture, its SAE and tuned lens, a byte corpus")
    p.add_argument("--graph-fixtures", action="store_true", help="the tiny Gemma 3 and its transcoders: the graph panel only")
    p.add_argument("--model", help="model for lantern serve (default: its default model)")
    p.add_argument("--sae", help="SAE for lantern serve")
    p.add_argument("--tuned", help="tuned lens for lantern serve (its heatmap is checked)")
    p.add_argument("--transcoders", help="transcoders for lantern serve (the graph panel is checked)")
    p.add_argument("--graph-max-feature-nodes", type=int, help="the graph panel's feature budget (default: all active features)")
    p.add_argument("--sweep-corrupted", help="the patching sweep's corrupted prompt (the sweep panel is checked)")
    p.add_argument("--sweep-target", help="the patching sweep's target token (text of one token, or an id)")
    p.add_argument("--graph-screenshot", help="save a PNG of the graph panel here")
    p.add_argument("--prompt", default=SEED)
    p.add_argument("--expect-token", help="a token that must appear in the next-token table")
    p.add_argument("--screenshot", help="save a PNG of the page here")
    p.add_argument("--steer-feature", type=int, help="the feature to open and steer (default: the last token's first)")
    p.add_argument("--screenshot-strength", type=float, help="the slider's strength in the screenshot")
    p.add_argument("--search-query", help="the text the feature search looks for (default: one in the corpus)")
    p.add_argument("--screenshot-dir", help="save a PNG of each tab here (the graph explorer with a pinned node)")
    p.add_argument("--timeout", type=float, default=180, help="seconds each check may wait")
    p.add_argument("--start-timeout", type=float, default=300)
    args = p.parse_args()
    if not os.path.exists(args.chromium):
        fail(f"no chromium at {args.chromium} (apt-get install chromium)")
    try:
        import websocket  # noqa: F401
    except ImportError:
        fail("the Python package websocket-client is missing (pip install websocket-client)")

    corpus_dir = tempfile.mkdtemp(prefix="lantern-serve-")
    if args.fixtures:
        fixtures = os.path.join(ROOT, "Tests/Fixtures")
        corpus = os.path.join(corpus_dir, "corpus.txt")
        with open(corpus, "w") as f:
            f.write("".join(f"Line {i}: to be, or not to be, that is the question.\n" for i in range(40)))
        extra = ["--model", os.path.join(fixtures, "gemma2_tiny"), "--sae", os.path.join(fixtures, "sae/gemmascope/layer_1/width_96"),
                 "--tuned", os.path.join(fixtures, "tuned_lens/gemma2_tiny"), "--corpus", corpus, "--byte-tokens",
                 "--context", "32", "--scan-tokens", "256"]
        prompt = "to be, or not"  # the fixture's context is 64 bytes
        args.search_query = args.search_query or "#101"  # without a tokenizer a byte shows as its id ('e')
        args.sweep_corrupted, args.sweep_target = args.sweep_corrupted or "to be, or yes", args.sweep_target or "32"
    elif args.graph_fixtures:
        corpus = os.path.join(corpus_dir, "corpus.txt")
        with open(corpus, "w") as f:
            f.write("".join(f"Sentence {i} of a small corpus for the graph test.\n\n" for i in range(40)))
        extra = ["--model", os.path.join(ROOT, "Tests/Fixtures/gemma3_tiny"), "--transcoders",
                 os.path.join(ROOT, "Tests/Fixtures/graphs/gemma3_tiny/transcoders"), "--corpus", corpus, "--byte-tokens",
                 "--context", "32", "--scan-tokens", "256"]
        prompt = "the graph"
    else:
        extra = (["--model", args.model] if args.model else []) + (["--sae", args.sae] if args.sae else []) + [
            "--scan-tokens", "2048", "--context", "64"]
        extra += (["--tuned", args.tuned] if args.tuned else []) + (["--transcoders", args.transcoders] if args.transcoders else [])
        prompt = args.prompt
        args.search_query = args.search_query or " the"
    server, url = start_server(args, extra)
    tmpdir = tempfile.mkdtemp(prefix="lantern-browser-")
    wait = lambda expression, what: browser.wait(expression, what, args.timeout)  # noqa: E731
    shots = args.screenshot_dir
    if shots:
        os.makedirs(shots, exist_ok=True)
    browser = None
    checks = 0
    try:
        browser = Browser(args.chromium)
        browser.send("Page.enable")
        browser.send("Runtime.enable")
        check_cross_origin(browser, url, args.timeout)
        checks += 1
        browser.send("Page.navigate", url=url)
        browser.wait("document.readyState === 'complete' && !!document.getElementById('prompt')", "the page did not load", args.timeout)
        # Wait for the first (automatic) run on the page's default prompt, then type ours.
        browser.wait("document.querySelectorAll('#next-table tbody tr').length > 0 && document.getElementById('status').textContent === ''"
                     " && document.querySelectorAll('#tokens .tok').length > 0", "the first run (the page's own prompt) did not finish", args.timeout)
        browser.js("(() => { const t = document.getElementById('prompt'); t.focus(); t.select(); })()")
        browser.send("Input.insertText", text=prompt)
        browser.js("document.getElementById('next-table').tBodies[0].innerHTML = ''; document.getElementById('lens').innerHTML = ''")
        for kind in ("keyDown", "keyUp"):
            browser.send("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter", windowsVirtualKeyCode=13)
        rows = browser.wait("(() => { const r = [...document.querySelectorAll('#next-table tbody tr td.mono')].map(e => e.textContent);"
                            " return r.length ? r : null })()", "the next-token table did not fill", args.timeout)
        expected = post(url + "api/next", {"prompt": prompt, "top": 10})
        if rows != [t["token"].replace("\n", "\\n").replace("\t", "\\t") for t in expected["top"]]:
            fail(f"the next-token table {rows} is not the API's answer for the typed prompt {expected['top']}")
        checks += 1
        print(f"serve browser test: next-token table for {len(expected['ids'])} tokens: {rows[:5]}", flush=True)
        if args.expect_token is not None:
            if args.expect_token not in rows:
                fail(f"{args.expect_token!r} is not in the next-token table {rows}")
            print(f"serve browser test: {args.expect_token!r} is in the next-token table (rank {rows.index(args.expect_token) + 1})", flush=True)
            checks += 1
        lens = browser.wait("(() => { const t = document.querySelector('#lens table'); if (!t) return null;"
                            " const rows = t.querySelectorAll('tr').length - 1, cells = t.querySelectorAll('td[data-tip]').length,"
                            " ranks = [...t.querySelectorAll('td.rank')].map(e => Number(e.textContent)),"
                            " shaded = [...t.querySelectorAll('td[data-tip]')].every(e => e.style.background.length > 0);"
                            " return cells ? {rows, cells, ranks, shaded, tokens: t.querySelectorAll('tr')[0].querySelectorAll('th').length - 2} : null })()",
                            "the lens heatmap did not fill", args.timeout)
        info = json.load(urllib.request.urlopen(url + "api/info"))
        if lens["tokens"] != len(expected["ids"]):
            fail(f"the lens heatmap shows {lens['tokens']} tokens, the typed prompt has {len(expected['ids'])}")
        if lens["rows"] != info["layers"] + 1 or lens["cells"] != lens["rows"] * lens["tokens"] or not lens["shaded"]:
            fail(f"the lens heatmap is not full: {lens} for {info['layers']} layers")
        if len(lens["ranks"]) != lens["rows"] or lens["ranks"][0] != 1:
            fail(f"the answer's rank per layer is missing or not 1 at the last layer: {lens['ranks']}")
        checks += 1
        if info["tuned_lens"]:
            check_tuned(browser, info, args.timeout)
            checks += 1
        print(f"serve browser test: lens heatmap {lens['rows']} rows × {lens['tokens']} tokens; answer's rank per layer "
              f"(last layer first): {lens['ranks']}", flush=True)
        browser.wait("document.querySelectorAll('#attention td').length > 0", "the attention pattern did not draw", args.timeout)
        checks += 1
        check.tabs(browser, fail)
        check.long_tokens(browser, fail)
        check.attention_overview(browser, wait, fail, info["layers"], info["heads"])
        checks += 3
        check_openapi(url)
        checks += 1
        if args.sweep_corrupted and args.sweep_target:
            check_sweep(browser, url, prompt, args.sweep_corrupted, args.sweep_target, args.timeout)
            checks += 1
        if info["transcoders"]:
            check_graph(browser, args.graph_max_feature_nodes, args.timeout)
            checks += 1
            check.measure_graph(browser, wait, fail)
            if args.graph_screenshot or shots:
                check.pin_strongest(browser, wait)
                for path in [args.graph_screenshot, shots and os.path.join(shots, "serve-circuits.png")]:
                    if path:
                        screenshot(browser, path, "graph-section", tab="circuits", height=1000)
            pinned_address = check.graph_explorer(browser, wait, fail, tmpdir)
            checks += 1
            if args.graph_fixtures:
                check.graph_address(browser, wait, fail, pinned_address)
                check.stale_graph(browser, wait, fail, prompt + "s")
                checks += 2
        if not info["saes"]:
            check.error_names_limit(browser, wait, fail, info["limits"]["prompt_tokens"] * 16)
            checks += 1
            return print(f"serve browser test: {checks} passed, 0 failed (no SAE: no features, dashboards or steering to check)", flush=True)
        # Click the last token: its neurons, then its first feature.
        browser.js("(() => { const t = [...document.querySelectorAll('#tokens .tok')]; t[t.length - 1].click(); })()")
        neuron = browser.wait("(() => { const n = document.querySelector('#neurons .neuron'); return n ? n.textContent : null })()",
                              "no MLP neurons listed for the last token", args.timeout)
        browser.js("document.querySelector('#neurons .neuron').click()")
        layer, unit = neuron.split(".")
        browser.wait(f"(() => {{ const d = document.getElementById('neuron-{layer}-{unit}'); return d ? d.querySelectorAll('.run').length : 0 }})()",
                     f"neuron {neuron}'s dashboard did not open", args.timeout)
        checks += 1
        print(f"serve browser test: neuron {neuron}'s dashboard opened", flush=True)
        feature = browser.wait("(() => { const f = document.querySelector('#features .feat'); return f ? f.textContent : null })()",
                               "no SAE features listed for the last token", args.timeout)
        feature = str(args.steer_feature) if args.steer_feature is not None else feature
        if args.steer_feature is not None:
            browser.js(f"openFeature({feature})")
        else:
            browser.js("document.querySelector('#features .feat').click()")
        examples = browser.wait(f"(() => {{ const d = document.getElementById('dash-{feature}'); return d ? d.querySelectorAll('.run').length : 0 }})()",
                                f"feature {feature}'s dashboard did not open", args.timeout)
        checks += 1
        print(f"serve browser test: feature {feature}'s dashboard opened with {examples} top contexts", flush=True)
        browser.js("document.getElementById('steer-add').click()")
        done = "document.getElementById('steer-status').textContent.startsWith('done')"
        browser.wait(done, "the steering panel did not generate at strength 0", args.timeout)
        base = browser.js("[document.getElementById('baseline-text').textContent, document.getElementById('steered-text').textContent]")
        if base[0] != base[1]:
            fail(f"at strength 0 the steered text differs from the baseline: {base}")
        changed = None
        for end in ("max", "min"):
            browser.js(f"(() => {{ const s = document.getElementById('slider-{feature}'); s.value = s.{end};"
                       " s.dispatchEvent(new Event('input')); document.getElementById('steer-status').textContent = '' })()")
            browser.wait(done, f"no steered text after moving the slider to its {end}", args.timeout)
            texts = browser.js("[document.getElementById('baseline-text').textContent, document.getElementById('steered-text').textContent,"
                               f" document.getElementById('slider-{feature}').value]")
            if texts[1] != base[1]:
                changed = texts
                break
        if changed is None:
            fail(f"moving feature {feature}'s slider to either end left the steered text as it was: {base[1]!r}")
        checks += 1
        print(f"serve browser test: strength {changed[2]} on feature {feature}: baseline {changed[0]!r} → steered {changed[1]!r}", flush=True)
        check.steering_fields(browser, wait, fail, feature)
        check.search(browser, wait, fail, args.search_query)
        if shots:  # before the address checks load fresh pages (the sweep's heatmap is on this one)
            for tab in ("next", "lens", "attention", "features", "steering", "sweep"):
                screenshot(browser, os.path.join(shots, f"serve-{tab}.png"), tab=tab, height=900)
        check.url_round_trip(browser, url, wait, fail, prompt, 1, feature)
        check.favicon_and_contrast(browser, fail)
        checks += 4
        if args.screenshot and args.screenshot_strength is not None:
            browser.js(f"(() => {{ const s = document.getElementById('slider-{feature}'); s.value = {args.screenshot_strength};"
                       f" s.dispatchEvent(new Event('input')); document.getElementById('steer-status').textContent = '' }})()")
            browser.wait(done, "no steered text at the screenshot's strength", args.timeout)
        if args.screenshot:
            screenshot(browser, args.screenshot)
        check.error_names_limit(browser, wait, fail, info["limits"]["prompt_tokens"] * 16)
        checks += 1
    finally:
        if browser:
            browser.close()
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(corpus_dir, ignore_errors=True)
        shutil.rmtree(tmpdir, ignore_errors=True)
    print(f"serve browser test: {checks} passed, 0 failed", flush=True)


if __name__ == "__main__":
    main()

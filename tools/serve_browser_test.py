#!/usr/bin/env python3
"""Drives `lantern serve`'s page in headless Chromium (Debian's `chromium`) over the DevTools protocol.

Starts `lantern serve --port 0` with the given model/SAE, loads the page, types the prompt, and
checks, as a person would see them: the next-token table fills (with --expect-token among its
rows), the lens heatmap fills (a cell per layer and position, and the answer's rank per layer),
a token's SAE features list, a feature's dashboard opens, and moving a steering slider changes the
steered text. Optionally saves a screenshot.

  # the tiny fixture (CI, about 20 s):
  python3 tools/serve_browser_test.py --lantern .build/release/lantern --fixtures
  # the default model and its SAE (about a minute):
  python3 tools/serve_browser_test.py --lantern .build/release/lantern \
      --sae saes/gemma3-270m-res6-topk4096 --expect-token " important" --screenshot /tmp/serve.png

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
    p.add_argument("--model", help="model for lantern serve (default: its default model)")
    p.add_argument("--sae", help="SAE for lantern serve")
    p.add_argument("--prompt", default=SEED)
    p.add_argument("--expect-token", help="a token that must appear in the next-token table")
    p.add_argument("--screenshot", help="save a PNG of the page here")
    p.add_argument("--steer-feature", type=int, help="the feature to open and steer (default: the last token's first)")
    p.add_argument("--screenshot-strength", type=float, help="the slider's strength in the screenshot")
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
    else:
        extra = (["--model", args.model] if args.model else []) + (["--sae", args.sae] if args.sae else []) + [
            "--scan-tokens", "2048", "--context", "64"]
        prompt = args.prompt
    server, url = start_server(args, extra)
    browser = None
    checks = 0
    try:
        browser = Browser(args.chromium)
        browser.send("Page.enable")
        browser.send("Runtime.enable")
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
        print(f"serve browser test: lens heatmap {lens['rows']} rows × {lens['tokens']} tokens; answer's rank per layer "
              f"(last layer first): {lens['ranks']}", flush=True)
        browser.wait("document.querySelectorAll('#attention td').length > 0", "the attention pattern did not draw", args.timeout)
        checks += 1
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
        if args.screenshot and args.screenshot_strength is not None:
            browser.js(f"(() => {{ const s = document.getElementById('slider-{feature}'); s.value = {args.screenshot_strength};"
                       f" s.dispatchEvent(new Event('input')); document.getElementById('steer-status').textContent = '' }})()")
            browser.wait(done, "no steered text at the screenshot's strength", args.timeout)
        if args.screenshot:
            browser.js("window.scrollTo(0, 0)")
            height = browser.js("Math.min(document.documentElement.scrollHeight, 2200)")
            shot = browser.send("Page.captureScreenshot", format="png",
                                clip={"x": 0, "y": 0, "width": 1280, "height": height, "scale": 1}, captureBeyondViewport=True)
            import base64
            with open(args.screenshot, "wb") as f:
                f.write(base64.b64decode(shot["data"]))
            print(f"serve browser test: screenshot {args.screenshot}", flush=True)
    finally:
        if browser:
            browser.close()
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(corpus_dir, ignore_errors=True)
    print(f"serve browser test: {checks} passed, 0 failed", flush=True)


if __name__ == "__main__":
    main()

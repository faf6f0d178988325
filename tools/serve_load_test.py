#!/usr/bin/env python3
"""A bounded load test of `lantern serve` on loopback: requests/s and latency percentiles for `next`.

Starts `lantern serve --port 0` (the default model unless --model; no SAE), warms it up, then sends
--requests POST /api/next requests from --clients concurrent clients (each waits for its answer
before sending the next), and prints throughput and p50/p90/p99 latency. Bounded in count and in
time (--max-seconds); loopback only. A benchmark, not a test.

  python3 tools/serve_load_test.py --lantern .build/release/lantern --requests 200 --clients 4
  python3 tools/serve_load_test.py --requests 320 --clients 32 --merge-rows 0   # merging off
"""
import argparse
import json
import re
import subprocess
import sys
import threading
import time
import urllib.request


def post(url, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as r:
        return json.load(r)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lantern", default=".build/release/lantern")
    p.add_argument("--model", help="model (default: lantern's default)")
    p.add_argument("--prompt", default="The reliability of Wikipedia is very")
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--max-seconds", type=float, default=300)
    p.add_argument("--merge-rows", type=int, help="lantern serve --merge-rows (0: every request a pass of its own)")
    args = p.parse_args()
    command = [args.lantern, "serve", "--port", "0", "--backend", "cpu"] + (["--model", args.model] if args.model else [])
    command += ["--merge-rows", str(args.merge_rows)] if args.merge_rows is not None else []
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = None
        while url is None:
            line = server.stdout.readline()
            if not line:
                sys.exit(f"lantern serve exited with {server.wait()}")
            m = re.search(r"on (http://127\.0\.0\.1:\d+/)", line)
            url = m.group(1) if m else None
        info = json.load(urllib.request.urlopen(url + "api/info"))
        body = {"prompt": args.prompt, "top": 10}
        top = post(url + "api/next", body)["top"][0]
        for _ in range(3):
            post(url + "api/next", body)
        latencies, errors, lock = [], [], threading.Lock()
        remaining = [args.requests]
        deadline = time.time() + args.max_seconds

        def client():
            while time.time() < deadline:
                with lock:
                    if remaining[0] == 0:
                        return
                    remaining[0] -= 1
                t0 = time.perf_counter()
                try:
                    post(url + "api/next", body)
                except Exception as e:  # noqa: BLE001 — counted and reported
                    with lock:
                        errors.append(str(e))
                    continue
                with lock:
                    latencies.append(time.perf_counter() - t0)

        start = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
        latencies.sort()

        def pct(q):
            return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

        tokens = len(top and post(url + "api/next", body)["ids"])
        print(f"model {info['model']} ({info['backend']}), prompt of {tokens} tokens, top token {top['token']!r} {top['prob']:.3f}")
        print(f"{len(latencies)} requests ({len(errors)} errors) from {args.clients} clients in {elapsed:.1f} s: "
              f"{len(latencies) / elapsed:.1f} requests/s; latency p50 {pct(0.5):.0f} ms, p90 {pct(0.9):.0f} ms, p99 {pct(0.99):.0f} ms")
        if errors:
            print("first error: " + errors[0])
            sys.exit(1)
    finally:
        server.terminate()
        server.wait(20)


if __name__ == "__main__":
    main()

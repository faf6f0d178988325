#!/usr/bin/env python3
"""How much Python adds to a forward pass: `run_with_cache` from Python beside the same forward in
Swift. Not a test (timings depend on the machine); prints one table.

    python3 python/bench_overhead.py [--model gemma3-270m] [--tokens 128] [--runs 10]

Rows (best of --runs wall times, CPU backend, the prompt `lantern bench` uses):
  lantern bench (CLI)    `lantern bench --only model`'s prefill: Transformer.forward in Swift, last logits
  C call, last logits    the same forward through liblanternc from this process (no Python work)
  model(tokens)          the same through lantern.Model, every row's logits as numpy (TransformerLens's default)
  C call + capture       lantern_run capturing every block's hook_resid_post, all logits
  run_with_cache         model.run_with_cache(tokens, names_filter="blocks.*.hook_resid_post")
Overhead = run_with_cache / (C call + capture) − 1: what the Python layer adds to the same work.
"""
import argparse
import ctypes
import json
import subprocess
import time
from pathlib import Path

import numpy as np

import lantern
from lantern import _lib


def interleaved(fns, runs):
    """Best and median wall time of each function, run in turns so that load from other processes
    falls on all of them alike."""
    for fn in fns.values():
        fn()  # warm up
    times = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: (min(t), float(np.median(t))) for name, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="gemma3-270m")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--cli", default=str(Path(__file__).resolve().parents[1] / ".build" / "release" / "lantern"))
    args = parser.parse_args()

    model = lantern.Model.load(args.model, backend="cpu")
    vocab = model.cfg.d_vocab
    # `lantern bench`'s prompt.
    tokens = np.array([3 + (i * 7919) % (vocab - 3) for i in range(args.tokens)], dtype=np.int32)
    pointer = tokens.ctypes.data_as(ctypes.POINTER(ctypes.c_int32))
    resid = [n for n in model.hook_names if n.endswith("hook_resid_post")]
    capture = _lib.lib.lantern_hooks_new("\n".join(resid).encode())

    def c_call(hooks, logits):
        def run():
            handle = _lib.call(_lib.lib.lantern_run, model._handle, pointer, tokens.size, hooks, logits, -1)
            _lib.lib.lantern_result_free(handle)
        return run

    bench = subprocess.run([args.cli, "bench", "--only", "model", "--model", args.model, "--prefill", str(args.tokens),
                            "--decode", "1", "--no-reference", "--json"], capture_output=True, text=True, check=True)
    cli_seconds = args.tokens / json.loads(bench.stdout)["model"][0]["prefill_tokens_per_second"]
    measured = interleaved({
        "C call, last logits": c_call(None, 1),
        "model(tokens)": lambda: model(tokens),
        "C call + capture": c_call(capture, 2),
        "run_with_cache": lambda: model.run_with_cache(tokens, names_filter="blocks.*.hook_resid_post"),
    }, args.runs)
    rows = [("lantern bench (CLI)", cli_seconds, None)] + [(name, *t) for name, t in measured.items()]
    _lib.lib.lantern_hooks_free(capture)

    print(f"{model.cfg.model_name}, {args.tokens} tokens, {model.cfg.backend}, best of {args.runs}")
    for name, seconds, median in rows:
        print(f"  {name:22s} {seconds * 1000:8.1f} ms" + (f"   (median {median * 1000:.1f} ms)" if median else ""))
    by_name = {name: seconds for name, seconds, _ in rows}
    added = by_name["run_with_cache"] - by_name["C call + capture"]
    print(f"overhead of run_with_cache over the same C call: {100 * added / by_name['C call + capture']:+.1f}% "
          f"({added * 1000:+.2f} ms a call)")
    print(f"C call (in Python's process) vs lantern bench: {100 * (by_name['C call, last logits'] / cli_seconds - 1):+.1f}%")


if __name__ == "__main__":
    main()

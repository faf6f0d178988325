#!/usr/bin/env python3
"""The CPU reference for `lantern bench`: numpy's `a @ b.T` (OpenBLAS sgemm) on the shapes given.

Usage: python3 tools/bench_numpy.py N,K,M [N,K,M ...]   → one JSON object {"N,K,M": GFLOP/s, ...,
"blas": ...}. With --serve it answers one line "N,K,M" on stdin with one GFLOP/s figure on stdout,
so that `lantern bench` can time numpy right after itself on each shape (a shared machine's load
then affects both alike). Weights are float32 (numpy has no bf16), as [M, K] like ours.
Run with the same thread count as Lantern (OpenBLAS uses all cores by default, as Lantern does).
"""
import json
import sys
import time

import numpy as np


def gflops(n, k, m):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, k), dtype=np.float32)
    w = rng.standard_normal((m, k), dtype=np.float32)
    (a @ w.T)  # warm up
    best, spent, reps = float("inf"), 0.0, 0
    while reps < 3 or (spent < 0.5 and reps < 50):
        t = time.perf_counter()
        a @ w.T
        dt = time.perf_counter() - t
        best, spent, reps = min(best, dt), spent + dt, reps + 1
    return 2 * n * k * m / best / 1e9


def blas():
    try:
        from threadpoolctl import threadpool_info
        return ", ".join(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')} x{i.get('num_threads')}"
                         for i in threadpool_info())
    except Exception:
        return "numpy " + np.__version__


def serve():
    print(json.dumps({"blas": blas()}), flush=True)
    for line in sys.stdin:
        n, k, m = (int(x) for x in line.strip().split(","))
        print(gflops(n, k, m), flush=True)


def main():
    if sys.argv[1:] == ["--serve"]:
        return serve()
    out = {}
    for spec in sys.argv[1:]:
        n, k, m = (int(x) for x in spec.split(","))
        out[spec] = gflops(n, k, m)
    out["blas"] = blas()
    print(json.dumps(out))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The CPU reference for `lantern bench`: numpy's `a @ b.T` (OpenBLAS sgemm) on the shapes given.

Usage: python3 tools/bench_numpy.py N,K,M [N,K,M ...]   → one JSON object {"N,K,M": GFLOP/s, ...,
"threads": ..., "blas": ...}. Weights are float32 (numpy has no bf16), as [M, K] like ours.
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


def main():
    out = {}
    for spec in sys.argv[1:]:
        n, k, m = (int(x) for x in spec.split(","))
        out[spec] = gflops(n, k, m)
    try:
        from threadpoolctl import threadpool_info
        info = threadpool_info()
        out["blas"] = ", ".join(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')} x{i.get('num_threads')}" for i in info)
    except Exception:
        out["blas"] = np.__version__
    print(json.dumps(out))


if __name__ == "__main__":
    main()

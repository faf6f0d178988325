#!/usr/bin/env python3
"""llama.cpp's speed on a GGUF, for `lantern bench --model M` to print beside its own.

Usage: python3 tools/bench_llamacpp.py MODEL.gguf PREFILL DECODE THREADS  → one JSON object
{"prefill_tokens_per_second", "decode_tokens_per_second", "version"}. Needs llama-cpp-python
(`make bench-llamacpp` installs it; it compiles llama.cpp from source, ~11 minutes on 2 cores).
The prompt is the same token ids Lantern uses: 3 + (i·7919) mod (vocab − 3).
"""
import json
import sys
import time

import llama_cpp


def main():
    path, prefill, decode, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    llm = llama_cpp.Llama(model_path=path, n_ctx=prefill + decode + 8, n_batch=prefill, n_ubatch=prefill,
                          n_threads=threads, n_threads_batch=threads, verbose=False)
    vocab = llm.n_vocab()
    prompt = [3 + (i * 7919) % (vocab - 3) for i in range(prefill)]
    llm.eval(prompt[:4])  # warm up
    best = float("inf")
    for _ in range(2):
        llm.reset()
        t = time.perf_counter()
        llm.eval(prompt)
        best = min(best, time.perf_counter() - t)
    token = 5  # the same fixed token as Lantern's decode loop
    # Each token timed on its own, the rate from the median token, as Lantern's bench does.
    times = []
    for _ in range(decode):
        t = time.perf_counter()
        llm.eval([token])
        times.append(time.perf_counter() - t)
    median = sorted(times)[decode // 2] if times else 0.0
    print(json.dumps({"prefill_tokens_per_second": prefill / best,
                      "decode_tokens_per_second": 1 / median if median else 0.0,
                      "decode_tokens_per_second_mean": decode / sum(times) if times else 0.0,
                      "version": getattr(llama_cpp, "__version__", "?")}))


if __name__ == "__main__":
    main()

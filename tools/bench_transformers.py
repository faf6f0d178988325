#!/usr/bin/env python3
"""transformers fp32 running `lantern bench`'s trace, for bench to print beside its own figure.

Usage: python3 tools/bench_transformers.py MODEL.gguf TOKENS THREADS  → one JSON object
{"trace_seconds", "tokens", "version"}. Needs torch, transformers and gguf
(`pip install torch transformers gguf accelerate`: transformers reads a GGUF file only with accelerate); bench notes the reference as unavailable without them.
The model is loaded as tools/make_real_goldens.py loads it (the GGUF dequantised to float32, eager
attention); the prompt is Lantern's token ids 3 + (i·7919) mod (vocab − 3). Timed: one forward
pass with every hidden state and all logits (what `lantern trace --hooks 'blocks.*.hook_resid_post'`
computes), best of 3 after a warm-up, torch limited to THREADS threads. Loading is not timed.
"""
import json
import os
import sys
import time

import torch
import transformers
from transformers import AutoModelForCausalLM


def main():
    path, tokens, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(threads)
    model = AutoModelForCausalLM.from_pretrained(os.path.dirname(path) or ".", gguf_file=os.path.basename(path),
                                                 torch_dtype=torch.float32, attn_implementation="eager").eval()
    vocab = model.config.vocab_size
    ids = torch.tensor([[3 + (i * 7919) % (vocab - 3) for i in range(tokens)]])
    best = float("inf")
    with torch.no_grad():
        model(ids[:, :4], output_hidden_states=True)  # warm up
        for _ in range(3):
            t = time.perf_counter()
            out = model(ids, output_hidden_states=True)
            _ = [h.numpy() for h in out.hidden_states], out.logits.numpy()
            best = min(best, time.perf_counter() - t)
    print(json.dumps({"trace_seconds": best, "tokens": tokens, "version": transformers.__version__,
                      "torch": torch.__version__, "threads": threads}))


if __name__ == "__main__":
    main()

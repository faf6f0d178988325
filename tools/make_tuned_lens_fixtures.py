#!/usr/bin/env python3
"""Writes a small random tuned lens for the gemma2_tiny fixture in Lantern's tuned-lens folder form
(the tuned-lens package's config.json fields; params.safetensors with the package's state-dict
names `{i}.weight` [d, d] and `{i}.bias` [d], float16), plus numpy goldens of what it does to
transformers' own residuals (the fixture's reference.safetensors), for TunedLensFixtureTests.

    python3 tools/make_tuned_lens_fixtures.py     # needs numpy and safetensors

Translator i acts on lens row i (0 = hook_embed = HF hidden_states[0], i >= 1 =
blocks.{i-1}.hook_resid_post = hidden_states[i]) as torch's Linear does, residually:
    t = h + h @ W.T + b
then the model's head: n = t / sqrt(mean(t^2) + eps) * (1 + norm.weight)  (Gemma RMSNorm),
logits = n @ embed_tokens.T, then cap * tanh(logits / cap) (gemma2_tiny's final softcap, 3).
The goldens are computed in float64 from the float16-rounded parameters.

Writes Tests/Fixtures/tuned_lens/gemma2_tiny/{config.json, params.safetensors} and
Tests/Fixtures/tuned_lens/gemma2_tiny_golden.safetensors ("{i}:translated", "{i}:logits" for the
reference's sequence 0, i = 0 … num_hidden_layers − 1).
"""
import json
import os

import numpy as np
from safetensors.numpy import load_file, save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures")


def main():
    model_dir = os.path.join(ROOT, "gemma2_tiny")
    config = json.load(open(os.path.join(model_dir, "config.json")))
    weights = load_file(os.path.join(model_dir, "model.safetensors"))
    reference = load_file(os.path.join(model_dir, "reference.safetensors"))
    d, layers = config["hidden_size"], config["num_hidden_layers"]
    eps, cap = config["rms_norm_eps"], config["final_logit_softcapping"]

    rng = np.random.default_rng(9)
    params = {}
    for i in range(layers):
        # Large enough that a wrong orientation (W instead of W.T) or a missing bias fails the test.
        params[f"{i}.weight"] = rng.normal(0, 0.3 / np.sqrt(d), (d, d)).astype(np.float16)
        params[f"{i}.bias"] = rng.normal(0, 0.5, d).astype(np.float16)
    out = os.path.join(ROOT, "tuned_lens", "gemma2_tiny")
    os.makedirs(out, exist_ok=True)
    save_file(params, os.path.join(out, "params.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump({"base_model_name_or_path": "gemma2_tiny", "d_model": d, "num_hidden_layers": layers, "bias": True,
                   "base_model_revision": None, "unembed_hash": None, "lens_type": "linear_tuned_lens"}, f, indent=2)

    norm = weights["model.norm.weight"].astype(np.float64)
    unembed = weights["model.embed_tokens.weight"].astype(np.float64)
    goldens = {}
    for i in range(layers):
        hook = "hook_embed" if i == 0 else f"blocks.{i - 1}.hook_resid_post"
        h = reference[f"0:{hook}"].astype(np.float64)
        w = params[f"{i}.weight"].astype(np.float64)
        b = params[f"{i}.bias"].astype(np.float64)
        t = h + h @ w.T + b
        n = t / np.sqrt((t * t).mean(-1, keepdims=True) + eps) * (1 + norm)
        logits = n @ unembed.T
        if cap:
            logits = cap * np.tanh(logits / cap)
        goldens[f"{i}:translated"] = t.astype(np.float32)
        goldens[f"{i}:logits"] = logits.astype(np.float32)
    save_file(goldens, os.path.join(ROOT, "tuned_lens", "gemma2_tiny_golden.safetensors"))
    print("wrote", out, "and the goldens")


if __name__ == "__main__":
    main()

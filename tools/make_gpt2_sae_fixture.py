#!/usr/bin/env python3
"""A tiny SAELens folder for gpt2_tiny in the form GPT-2 small's residual SAEs have on the Hub
(the `gpt2-small-res-jb` release: one folder per hook, `blocks.L.hook_resid_pre/` with cfg.json and
sae_weights.safetensors), with numpy goldens on transformers' activations.

Their cfg.json is SAELens's old form: `hook_point` and `hook_point_layer` (not hook_name and
hook_layer), no architecture, activation or apply_b_dec_to_input (SAELens defaults them to
standard, relu and true). They were trained on TransformerLens's GPT-2 with its writing weights
centred (`center_writing_weights`, which SAELens's registry adds for that release as
`model_from_pretrained_kwargs`), so their input is the residual stream with each position's mean
removed. Two folders with the same weights:

  sae/gpt2_tiny_res/blocks.1.hook_resid_pre/           cfg.json exactly in the Hub's form
  sae/gpt2_tiny_res_centred/blocks.1.hook_resid_pre/   the same, plus
                                                       "model_from_pretrained_kwargs": {"center_writing_weights": true}

and sae/gpt2_tiny_res.safetensors: "x" (gpt2_tiny's reference blocks.1.hook_resid_pre, sequence
1, from transformers), "acts" = relu((x - b_dec) @ W_enc + b_enc), "acts_centred" the same of
x - mean(x) per row, "reconstruction" = acts @ W_dec + b_dec (float64 arithmetic, stored f32).

    python3 tools/make_gpt2_sae_fixture.py   (numpy, safetensors; after make_fixtures.py)
"""
import json
import os

import numpy as np
from safetensors.numpy import load_file, save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures")
D_IN, D_SAE, HOOK = 32, 48, "blocks.1.hook_resid_pre"


def main():
    rng = np.random.default_rng(2024)
    w = {"W_enc": rng.normal(0, 1 / np.sqrt(D_IN), (D_IN, D_SAE)), "W_dec": rng.normal(0, 1 / np.sqrt(D_SAE), (D_SAE, D_IN)),
         "b_enc": rng.normal(0, 0.2, D_SAE), "b_dec": rng.normal(0, 0.3, D_IN)}
    w = {k: v.astype(np.float32) for k, v in w.items()}
    hub = {"d_in": D_IN, "d_sae": D_SAE, "hook_point": HOOK, "hook_point_layer": 1, "model_name": "gpt2_tiny",
           "dataset_path": "Skylion007/openwebtext", "context_size": 128, "dtype": "torch.float32"}
    for name, cfg in [("gpt2_tiny_res", hub),
                      ("gpt2_tiny_res_centred", dict(hub, model_from_pretrained_kwargs={"center_writing_weights": True}))]:
        folder = os.path.join(ROOT, "sae", name, HOOK)
        os.makedirs(folder, exist_ok=True)
        save_file(w, os.path.join(folder, "sae_weights.safetensors"))
        with open(os.path.join(folder, "cfg.json"), "w") as f:
            json.dump(cfg, f, indent=1)
            f.write("\n")
    x = load_file(os.path.join(ROOT, "gpt2_tiny", "reference.safetensors"))[f"1:{HOOK}"].astype(np.float64)
    wd = {k: v.astype(np.float64) for k, v in w.items()}

    def encode(v):
        return np.maximum((v - wd["b_dec"]) @ wd["W_enc"] + wd["b_enc"], 0)

    acts, centred = encode(x), encode(x - x.mean(1, keepdims=True))
    assert (acts > 0).sum() and (acts != centred).any(), "the centring must change the features"
    out = {"x": x, "acts": acts, "acts_centred": centred, "reconstruction": acts @ wd["W_dec"] + wd["b_dec"]}
    save_file({k: v.astype(np.float32) for k, v in out.items()}, os.path.join(ROOT, "sae", "gpt2_tiny_res.safetensors"))
    print("l0 per row", (acts > 0).sum(1).tolist(), "centred", (centred > 0).sum(1).tolist())


if __name__ == "__main__":
    main()

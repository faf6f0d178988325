#!/usr/bin/env python3
"""Writes small random SAEs in Gemma Scope (params.npz) and SAELens (cfg.json +
sae_weights.safetensors) form under Tests/Fixtures/sae, with numpy-computed expected feature
activations, reconstructions and metrics for fixed inputs, plus malformed files for the error
tests. d_in = 64, the hidden size of the tiny fixture models. Needs numpy and safetensors.

Formulas (see DESIGN.md "SAE facts"):
  Gemma Scope / jumprelu: pre = x @ W_enc + b_enc; acts = (pre > threshold) * relu(pre)
  SAELens: x' = x - b_dec if apply_b_dec_to_input else x; pre = x' @ W_enc + b_enc;
           standard: relu(pre); topk: relu of the k largest pre per row, zero elsewhere
  decode: acts @ W_dec + b_dec
  explained variance = 1 - sum((x - x_hat)^2) / sum((x - mean_over_tokens(x))^2)
"""
import argparse
import json
import os
import shutil

import numpy as np
from safetensors.numpy import save_file

D_IN, D_SAE, TOKENS = 64, 96, 7


def weights(rng, d_in=D_IN, d_sae=D_SAE, jump=False):
    w = {
        "W_enc": rng.normal(0, 1 / np.sqrt(d_in), (d_in, d_sae)),
        "W_dec": rng.normal(0, 1 / np.sqrt(d_sae), (d_sae, d_in)),
        "b_enc": rng.normal(0, 0.2, d_sae),
        "b_dec": rng.normal(0, 0.3, d_in),
    }
    if jump:
        w["threshold"] = rng.uniform(0.2, 0.8, d_sae)
    return {k: v.astype(np.float32) for k, v in w.items()}


def encode(w, x, kind, apply_b_dec, k=None):
    x = x.astype(np.float64)
    if apply_b_dec:
        x = x - w["b_dec"]
    pre = x @ w["W_enc"].astype(np.float64) + w["b_enc"]
    if kind == "jumprelu":
        return (pre > w["threshold"]) * np.maximum(pre, 0)
    if kind == "relu":
        return np.maximum(pre, 0)
    out = np.zeros_like(pre)
    idx = np.argsort(-pre, axis=1, kind="stable")[:, :k]
    np.put_along_axis(out, idx, np.maximum(np.take_along_axis(pre, idx, 1), 0), 1)
    return out


def metrics(x, x_hat, acts):
    x, x_hat = x.astype(np.float64), x_hat.astype(np.float64)
    err = ((x - x_hat) ** 2).sum(1)
    centred = ((x - x.mean(0)) ** 2).sum(1)
    return {
        "l0": (acts > 0).sum(1).tolist(),
        "explained_variance_per_token": (1 - err / centred).tolist(),
        "explained_variance": float(1 - err.sum() / centred.sum()),
        "cosine": ((x * x_hat).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(x_hat, axis=1)).tolist(),
        "relative_error": (np.sqrt(err) / np.linalg.norm(x, axis=1)).tolist(),
    }


def saelens(dir, w, cfg):
    os.makedirs(dir, exist_ok=True)
    save_file(w, os.path.join(dir, "sae_weights.safetensors"))
    with open(os.path.join(dir, "cfg.json"), "w") as f:
        json.dump(cfg, f, indent=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="Tests/Fixtures/sae")
    out = ap.parse_args().out
    shutil.rmtree(out, ignore_errors=True)
    rng = np.random.default_rng(1234)
    x = rng.normal(0, 1, (TOKENS, D_IN)).astype(np.float32)
    base = {"d_in": D_IN, "d_sae": D_SAE, "hook_name": "blocks.1.hook_resid_post", "hook_layer": 1,
            "normalize_activations": "none", "dtype": "float32", "model_name": "gemma2_tiny"}
    saes = {}  # name -> (weights, kind, apply_b_dec, k)

    # Gemma Scope: deflated (savez_compressed) and stored (savez); the layer comes from the path.
    w = weights(rng, jump=True)
    os.makedirs(f"{out}/gemmascope/layer_1/width_96", exist_ok=True)
    np.savez_compressed(f"{out}/gemmascope/layer_1/width_96/params.npz", **w)
    saes["gemmascope/layer_1/width_96"] = (w, "jumprelu", False, None)
    w = weights(rng, jump=True)
    os.makedirs(f"{out}/gemmascope_stored/layer_2", exist_ok=True)
    np.savez(f"{out}/gemmascope_stored/layer_2/params.npz", **w)
    saes["gemmascope_stored/layer_2"] = (w, "jumprelu", False, None)

    for name, apply in [("saelens_relu_bdec", True), ("saelens_relu_nobdec", False)]:
        w = weights(rng)
        saelens(f"{out}/{name}", w, dict(base, architecture="standard", activation_fn_str="relu",
                                          apply_b_dec_to_input=apply))
        saes[name] = (w, "relu", apply, None)
    w = weights(rng)
    saelens(f"{out}/saelens_topk", w, dict(base, architecture="topk", activation_fn_str="topk",
                                           activation_fn_kwargs={"k": 8}, apply_b_dec_to_input=True))
    saes["saelens_topk"] = (w, "topk", True, 8)
    w = weights(rng, jump=True)
    saelens(f"{out}/saelens_jumprelu", w, dict(base, architecture="jumprelu", activation_fn_str="relu",
                                               apply_b_dec_to_input=False))
    saes["saelens_jumprelu"] = (w, "jumprelu", False, None)

    tensors, meta = {"input": x}, {}
    for name, (w, kind, apply, k) in saes.items():
        acts = encode(w, x, kind, apply, k)
        recon = acts @ w["W_dec"].astype(np.float64) + w["b_dec"]
        tensors[f"{name}:acts"] = acts.astype(np.float32)
        tensors[f"{name}:reconstruction"] = recon.astype(np.float32)
        meta[name] = metrics(x, recon, acts)
    save_file(tensors, f"{out}/expected.safetensors")
    with open(f"{out}/expected.json", "w") as f:
        json.dump(meta, f, indent=1)

    # Malformed files: each must be refused with one line naming the file and field.
    bad = f"{out}/malformed"
    small = weights(rng, d_sae=8, jump=True)
    def npz(name, **arrays):
        os.makedirs(f"{bad}/{name}/layer_1", exist_ok=True)
        np.savez(f"{bad}/{name}/layer_1/params.npz", **arrays)
    npz("missing_threshold", **{k: v for k, v in small.items() if k != "threshold"})
    npz("wrong_shape", **dict(small, b_enc=small["b_enc"][:5]))
    nan = small["W_dec"].copy(); nan[3, 7] = np.nan
    npz("nan_weights", **dict(small, W_dec=nan))
    npz("d_in_32", **weights(rng, d_in=32, d_sae=8, jump=True))
    npz("float64", **dict(small, b_dec=small["b_dec"].astype(np.float64)))
    data = open(f"{bad}/wrong_shape/layer_1/params.npz", "rb").read()
    os.makedirs(f"{bad}/truncated/layer_1", exist_ok=True)
    open(f"{bad}/truncated/layer_1/params.npz", "wb").write(data[: len(data) // 2])
    sw = {k: v for k, v in small.items() if k != "threshold"}
    small_cfg = dict(base, d_sae=8, architecture="standard", activation_fn_str="relu", apply_b_dec_to_input=True)
    saelens(f"{bad}/saelens_gated", sw, dict(small_cfg, architecture="gated"))
    saelens(f"{bad}/saelens_no_d_sae", sw, {k: v for k, v in small_cfg.items() if k != "d_sae"})
    saelens(f"{bad}/saelens_missing_b_dec", {k: v for k, v in sw.items() if k != "b_dec"}, small_cfg)
    saelens(f"{bad}/saelens_bad_hook", sw, dict(small_cfg, hook_name="blocks.9.hook_resid_post", hook_layer=9))
    saelens(f"{bad}/saelens_normalized", sw, dict(small_cfg, normalize_activations="expected_average_only_in"))
    print("wrote", out)


if __name__ == "__main__":
    main()

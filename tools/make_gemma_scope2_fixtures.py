#!/usr/bin/env python3
"""Writes small random dictionaries in the Gemma Scope 2 folder layout under
Tests/Fixtures/gemma_scope2/, sized to the gemma3_tiny fixture model (d_model 64, 4 heads x 16),
plus numpy goldens of what they compute on that model's own activations.

Run from the repository root (numpy only, deterministic, under a second):

    python3 tools/make_gemma_scope2_fixtures.py

Layout (as in the Hub repos google/gemma-scope-2-{size}-{pt|it}):
  resid_post/layer_2_width_96_l0_small/        SAE on model.layers.2.output (f32)
  attn_out/layer_1_width_48_l0_small/          SAE on model.layers.1.self_attn.o_proj.input (f16)
  transcoder/layer_3_width_80_l0_small_affine/ transcoder with affine_skip_connection (f32)
  transcoder/layer_4_width_64_l0_small/        transcoder without a skip (bf16)
  clt/width_32_l0_small_affine/                cross-layer transcoder, params_layer_{0,1,2}
                                               (w_dec [d_sae, 3, d_model], slots before i zero)
  lantern/transcoder_topk_layer_3/             a TopK transcoder as Lantern writes one
                                               (architecture "topk", k in config.json)
  goldens.safetensors                          inputs and numpy outputs, float32

Each folder: params.safetensors (w_enc [d_in, d_sae], w_dec [d_sae, d_out], b_enc, b_dec,
threshold, affine_skip_connection [d_in, d_out]) and config.json (architecture, hf_hook_point_in,
hf_hook_point_out for transcoders, width, l0, model_name, affine_connection).

Formulas (Gemma Scope 2 tutorial; circuit-tracer for the skip and the CLT):
  pre  = x @ w_enc + b_enc                      (no b_dec subtraction)
  acts = (pre > threshold) * relu(pre)          jump_relu
         relu of the k largest pre, 0 elsewhere topk
  decoded = acts @ w_dec + b_dec;  skip = x @ affine_skip_connection;  output = decoded + skip
  CLT: output_j = sum_{i<=j} acts_i @ w_dec_i[:, j, :] + b_dec_j + x_j @ affine_j

Inputs are sequence 1 (11 tokens) of Tests/Fixtures/gemma3_tiny/reference.safetensors. Thresholds
sit midway between two neighbouring pre-activations, and TopK's k-th and (k+1)-th values are
apart, so float32 rounding in the engine cannot flip which features fire (checked below).
Golden names: "{name}.x", "{name}.acts", "{name}.decoded", "{name}.skip", "{name}.output";
for the CLT "clt.x.{i}", "clt.acts.{i}", "clt.decoded.{j}", "clt.skip.{j}", "clt.output.{j}".
"""
import json
import os
import shutil
import struct

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures")
OUT = os.path.join(ROOT, "gemma_scope2")
MODEL = "gemma3_tiny"
D = 64
MARGIN = 1e-3


def read_safetensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32", (name, e["dtype"])
        b, t = e["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + b:8 + n + t], dtype="<f4").reshape(e["shape"])
    return out


def bf16_bits(a):
    """Round float32 to bfloat16 (nearest, ties to even), as uint16 bit patterns."""
    bits = np.ascontiguousarray(a, dtype="<f4").view("<u4").astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype("<u2")


def stored(a, dtype):
    """The float32 values a reader gets back from `a` stored as `dtype`."""
    a = np.asarray(a, dtype=np.float32)
    if dtype == "F16":
        return a.astype("<f2").astype(np.float32)
    if dtype == "BF16":
        return (bf16_bits(a).astype(np.uint32) << 16).view("<f4")
    return a


def write_safetensors(path, tensors, dtype="F32"):
    header, blobs, offset = {}, [], 0
    for name, a in tensors.items():
        if dtype == "F16":
            raw = np.asarray(a, dtype=np.float32).astype("<f2").tobytes()
        elif dtype == "BF16":
            raw = bf16_bits(a).tobytes()
        else:
            raw = np.asarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def write_config(folder, cfg):
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")


def thresholds(rng, pre):
    """Per feature, a threshold midway between two neighbouring positive pre-activations (or
    between 0 and the smallest) at least 4 margins apart, so some rows fire and none sits near
    the edge; above every row when no such gap exists."""
    out = np.empty(pre.shape[1])
    for f in range(pre.shape[1]):
        values = np.sort(np.concatenate([[0.0], pre[:, f][pre[:, f] > 0]]))
        gaps = [i for i in range(len(values) - 1) if values[i + 1] - values[i] > 4 * MARGIN]
        if gaps:
            i = gaps[rng.integers(0, len(gaps))]
            out[f] = (values[i] + values[i + 1]) / 2
        else:
            out[f] = values[-1] + 1.0
    return out


def encode(w, x, kind, k=None):
    pre = x.astype(np.float64) @ w["w_enc"].astype(np.float64) + w["b_enc"]
    if kind == "jump_relu":
        margin = np.abs(pre - w["threshold"]).min()
        assert margin > MARGIN, f"a pre-activation sits {margin} from its threshold"
        return (pre > w["threshold"]) * np.maximum(pre, 0)
    part = -np.sort(-pre, axis=1)
    assert (part[:, k - 1] - part[:, k]).min() > MARGIN, "TopK's k-th and (k+1)-th values are too close"
    out = np.zeros_like(pre)
    idx = np.argsort(-pre, axis=1)[:, :k]
    np.put_along_axis(out, idx, np.maximum(np.take_along_axis(pre, idx, 1), 0), 1)
    return out


def random_weights(rng, d_in, d_sae, d_out, scale_x):
    return {
        "w_enc": rng.normal(0, 1 / (np.sqrt(d_in) * scale_x), (d_in, d_sae)),
        "w_dec": rng.normal(0, 1 / np.sqrt(d_sae), (d_sae, d_out)),
        "b_enc": rng.normal(0, 0.1, d_sae),
        "b_dec": rng.normal(0, 0.2, d_out),
    }


def dictionary(rng, refs, goldens, name, folder, hook_in, x_name, d_sae, dtype="F32", hook_out=None,
               affine=False, kind="jump_relu", k=None):
    x = refs[x_name]
    d_in = x.shape[1]
    w = random_weights(rng, d_in, d_sae, D if hook_out else d_in, np.sqrt((x ** 2).mean()))
    if affine:
        w["affine_skip_connection"] = rng.normal(0, 0.5 / np.sqrt(d_in), (d_in, D))
    w = {key: stored(v, dtype) for key, v in w.items()}
    if kind == "jump_relu":
        pre = x.astype(np.float64) @ w["w_enc"].astype(np.float64) + w["b_enc"]
        w["threshold"] = stored(thresholds(rng, pre), dtype)
    acts = encode(w, x, kind, k)
    decoded = acts @ w["w_dec"].astype(np.float64) + w["b_dec"]
    skip = x.astype(np.float64) @ w["affine_skip_connection"] if affine else np.zeros_like(decoded)
    path = os.path.join(OUT, folder)
    os.makedirs(path)
    order = ["w_enc", "w_dec", "b_enc", "b_dec", "threshold", "affine_skip_connection"]
    write_safetensors(os.path.join(path, "params.safetensors"), {n: w[n] for n in order if n in w}, dtype)
    cfg = {"architecture": kind, "hf_hook_point_in": hook_in, "width": d_sae,
           "l0": round(float((acts > 0).sum(1).mean()), 2), "model_name": f"lantern-fixture/{MODEL}"}
    if hook_out:
        cfg["hf_hook_point_out"] = hook_out
        cfg["affine_connection"] = affine
    if k is not None:
        cfg["k"] = k
    write_config(path, cfg)
    for key, value in [("x", x), ("acts", acts), ("decoded", decoded), ("skip", skip), ("output", decoded + skip)]:
        goldens[f"{name}.{key}"] = value
    print(f"{folder}: d_in {d_in}, d_sae {d_sae}, {dtype}, mean L0 {cfg['l0']}")


def cross_layer(rng, refs, goldens, layers=3, d_sae=32):
    xs = [refs[f"1:blocks.{i}.ln2.hook_normalized"] for i in range(layers)]
    path = os.path.join(OUT, "clt", f"width_{d_sae}_l0_small_affine")
    os.makedirs(path)
    all_acts, params = [], []
    for i, x in enumerate(xs):
        w = random_weights(rng, D, d_sae, D, np.sqrt((x ** 2).mean()))
        w["w_dec"] = rng.normal(0, 1 / np.sqrt(d_sae * (layers - i)), (d_sae, layers, D))
        w["w_dec"][:, :i, :] = 0  # features of layer i never write to earlier layers
        w["affine_skip_connection"] = rng.normal(0, 0.5 / np.sqrt(D), (D, D))
        w = {key: stored(v, "F32") for key, v in w.items()}
        pre = x.astype(np.float64) @ w["w_enc"].astype(np.float64) + w["b_enc"]
        w["threshold"] = stored(thresholds(rng, pre), "F32")
        all_acts.append(encode(w, x, "jump_relu"))
        params.append(w)
        order = ["w_enc", "w_dec", "b_enc", "b_dec", "threshold", "affine_skip_connection"]
        write_safetensors(os.path.join(path, f"params_layer_{i}.safetensors"), {n: w[n] for n in order})
    write_config(path, {"architecture": "jump_relu", "width": d_sae, "model_name": f"lantern-fixture/{MODEL}",
                        "hf_hook_point_in": "model.layers.0.pre_feedforward_layernorm.output",
                        "hf_hook_point_out": "model.layers.0.post_feedforward_layernorm.output",
                        "affine_connection": True})
    for j in range(layers):
        decoded = sum(all_acts[i] @ params[i]["w_dec"][:, j, :].astype(np.float64) for i in range(j + 1)) + params[j]["b_dec"]
        skip = xs[j].astype(np.float64) @ params[j]["affine_skip_connection"]
        goldens[f"clt.x.{j}"] = xs[j]
        goldens[f"clt.acts.{j}"] = all_acts[j]
        goldens[f"clt.decoded.{j}"] = decoded
        goldens[f"clt.skip.{j}"] = skip
        goldens[f"clt.output.{j}"] = decoded + skip
    print(f"clt: {layers} layers, d_sae {d_sae}, mean L0 {[float((a > 0).sum(1).mean()) for a in all_acts]}")


def main():
    refs = read_safetensors(os.path.join(ROOT, MODEL, "reference.safetensors"))
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    rng = np.random.default_rng(20251219)
    goldens = {}
    dictionary(rng, refs, goldens, "resid_post", "resid_post/layer_2_width_96_l0_small", "model.layers.2.output",
               "1:blocks.2.hook_resid_post", 96)
    dictionary(rng, refs, goldens, "attn_out", "attn_out/layer_1_width_48_l0_small",
               "model.layers.1.self_attn.o_proj.input", "1:blocks.1.attn.hook_z", 48, dtype="F16")
    dictionary(rng, refs, goldens, "affine", "transcoder/layer_3_width_80_l0_small_affine",
               "model.layers.3.pre_feedforward_layernorm.output", "1:blocks.3.ln2.hook_normalized", 80,
               hook_out="model.layers.3.post_feedforward_layernorm.output", affine=True)
    dictionary(rng, refs, goldens, "plain", "transcoder/layer_4_width_64_l0_small",
               "model.layers.4.pre_feedforward_layernorm.output", "1:blocks.4.ln2.hook_normalized", 64, dtype="BF16",
               hook_out="model.layers.4.post_feedforward_layernorm.output")
    dictionary(rng, refs, goldens, "topk", "lantern/transcoder_topk_layer_3",
               "model.layers.3.pre_feedforward_layernorm.output", "1:blocks.3.ln2.hook_normalized", 40,
               hook_out="model.layers.3.post_feedforward_layernorm.output", kind="topk", k=6)
    cross_layer(rng, refs, goldens)
    write_safetensors(os.path.join(OUT, "goldens.safetensors"),
                      {k: np.asarray(v, dtype=np.float32) for k, v in sorted(goldens.items())})


if __name__ == "__main__":
    main()

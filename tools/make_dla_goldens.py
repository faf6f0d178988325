#!/usr/bin/env python3
"""Writes Tests/Fixtures/dla/<fixture>.json: direct logit attribution of the tiny fixture models,
computed with numpy from transformers' own activations (the fixture's reference.safetensors, made
by tools/make_fixtures.py) and the checkpoint weights, independently of Lantern.

For sequence 0 of each fixture, target = the top-1 logit at the last position, baseline = the
lowest. TransformerLens's apply_ln_to_stack semantics with RMSNorm:
  u       = W_U[target] - W_U[baseline]                  (lm_head, or embed_tokens when tied)
  scale   = 1 / sqrt(mean(x_final^2) + eps)              x_final = last block's hook_resid_post
  dir     = final_gain * scale * u                       gain = 1 + w (Gemma), w (Llama)
  embed   = hook_embed . dir                             (= blocks.0.hook_resid_pre)
  head h  = r_h . (g_attn / rms(sum_h r_h)) . dir        r_h = z[:, h] @ W_O[:, h].T (Gemma, OLMo 2:
                                                         g_attn their post-attention norm's gain);
                                                         Llama-style blocks: r_h . dir
  mlp     = hook_mlp_out . dir
The components sum to the logit difference before Gemma 2's final softcap (also written).
GPT-2 and Pythia (LayerNorm, attribute_gpt): scale = 1 / sqrt(var(x_final) + eps), dir =
final_w * scale * u centred (dir - mean(dir), which centres every component), embed =
(hook_embed + hook_pos_embed) . dir, head h = r_h . dir with r_h from the output projection
(GPT-2's Conv1D c_proj transposed; no b_O), mlp = hook_mlp_out . dir; the final norm's bias and
the b_O terms are left out, so the components do not sum to the difference ("bias_terms" gives the
rest).

Run: python3 tools/make_dla_goldens.py   (needs numpy and safetensors; seconds)
"""
import json
import os

import numpy as np
from safetensors.numpy import load_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures")


def weights(folder):
    out = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith(".safetensors") and name.startswith("model"):
            out.update(load_file(os.path.join(folder, name)))
    return {k: v.astype(np.float64) for k, v in out.items()}


def rms_scale(x, eps):
    return 1.0 / np.sqrt(np.mean(x * x) + eps)


def attribute_gpt(fixture, config, ref, w):
    gpt2 = config["model_type"] == "gpt2"
    p = "transformer." if gpt2 else "gpt_neox."
    layers = config["n_layer"] if gpt2 else config["num_hidden_layers"]
    heads = config["n_head"] if gpt2 else config["num_attention_heads"]
    d = config["n_embd"] if gpt2 else config["hidden_size"]
    dh, eps = d // heads, config["layer_norm_epsilon"] if gpt2 else config["layer_norm_eps"]
    logits = ref["0:logits"][-1].astype(np.float64)
    target, baseline = int(np.argmax(logits)), int(np.argmin(logits))
    unembed = w.get("embed_out.weight", w.get("lm_head.weight", w.get(p + "wte.weight")))
    u = unembed[target] - unembed[baseline]
    final = ref[f"0:blocks.{layers - 1}.hook_resid_post"][-1].astype(np.float64)
    norm = p + ("ln_f" if gpt2 else "final_layer_norm")
    direction = w[norm + ".weight"] * rms_scale(final - final.mean(), eps) * u
    direction = direction - direction.mean()
    embedded = ref["0:hook_embed"][-1] + (ref["0:hook_pos_embed"][-1] if gpt2 else 0)
    components = [{"name": "embed", "value": float(embedded @ direction)}]
    bias_terms = float(w[norm + ".bias"] @ u)
    for l in range(layers):
        z = ref[f"0:blocks.{l}.attn.hook_z"][-1].astype(np.float64)
        out = f"{p}h.{l}.attn.c_proj" if gpt2 else f"{p}layers.{l}.attention.dense"
        w_o = w[out + ".weight"].T if gpt2 else w[out + ".weight"]   # [d, heads*dh]
        for h in range(heads):
            r = z[h * dh:(h + 1) * dh] @ w_o[:, h * dh:(h + 1) * dh].T
            components.append({"name": f"L{l}H{h}", "value": float(r @ direction)})
        components.append({"name": f"MLP{l}", "value": float(ref[f"0:blocks.{l}.hook_mlp_out"][-1] @ direction)})
        bias_terms += float(w[out + ".bias"] @ direction)
    difference = logits[target] - logits[baseline]
    return {"fixture": fixture, "sequence": 0, "target": target, "baseline": baseline,
            "logit_difference": float(difference), "uncapped_logit_difference": float(difference),
            "bias_terms": bias_terms, "components": components}


def attribute(fixture):
    folder = os.path.join(ROOT, fixture)
    config = json.load(open(os.path.join(folder, "config.json")))
    if config["model_type"] in ("gpt2", "gpt_neox"):
        return attribute_gpt(fixture, config, load_file(os.path.join(folder, "reference.safetensors")), weights(folder))
    ref = load_file(os.path.join(folder, "reference.safetensors"))
    w = weights(folder)
    gemma = config["model_type"].startswith("gemma")
    post_norm = gemma or config["model_type"] == "olmo2"  # a norm on the attention branch's output
    layers, heads = config["num_hidden_layers"], config["num_attention_heads"]
    dh = config.get("head_dim") or config["hidden_size"] // heads
    eps = config["rms_norm_eps"]

    def gain(name):
        g = w["model." + name]
        return 1 + g if gemma else g

    logits = ref["0:logits"][-1].astype(np.float64)
    target, baseline = int(np.argmax(logits)), int(np.argmin(logits))
    unembed = w.get("lm_head.weight", w["model.embed_tokens.weight"])
    u = unembed[target] - unembed[baseline]
    final = ref[f"0:blocks.{layers - 1}.hook_resid_post"][-1].astype(np.float64)
    direction = gain("norm.weight") * rms_scale(final, eps) * u

    components = [{"name": "embed", "value": float(ref["0:blocks.0.hook_resid_pre"][-1] @ direction)}]
    for l in range(layers):
        z = ref[f"0:blocks.{l}.attn.hook_z"][-1].astype(np.float64)
        w_o = w[f"model.layers.{l}.self_attn.o_proj.weight"]
        results = [z[h * dh:(h + 1) * dh] @ w_o[:, h * dh:(h + 1) * dh].T for h in range(heads)]
        scale = np.ones_like(direction)
        if post_norm:
            scale = gain(f"layers.{l}.post_attention_layernorm.weight") * rms_scale(sum(results), eps)
        for h, r in enumerate(results):
            components.append({"name": f"L{l}H{h}", "value": float((r * scale) @ direction)})
        components.append({"name": f"MLP{l}", "value": float(ref[f"0:blocks.{l}.hook_mlp_out"][-1] @ direction)})

    cap = config.get("final_logit_softcapping")
    capped = logits[target] - logits[baseline]
    uncapped = capped
    if cap:
        uncapped = cap * (np.arctanh(logits[target] / cap) - np.arctanh(logits[baseline] / cap))
    return {
        "fixture": fixture, "sequence": 0, "target": target, "baseline": baseline,
        "logit_difference": float(capped), "uncapped_logit_difference": float(uncapped),
        "components": components,
    }


def main():
    out_dir = os.path.join(ROOT, "dla")
    os.makedirs(out_dir, exist_ok=True)
    for fixture in ["gemma2_tiny", "gemma3_tiny", "llama_tiny", "qwen2_tiny", "qwen3_tiny", "mistral_tiny", "olmo2_tiny",
                    "gpt2_tiny", "pythia_tiny"]:
        golden = attribute(fixture)
        total = sum(c["value"] for c in golden["components"]) + golden.get("bias_terms", 0)
        print(f"{fixture}: target {golden['target']} baseline {golden['baseline']} "
              f"uncapped {golden['uncapped_logit_difference']:.6f} sum {total:.6f}")
        with open(os.path.join(out_dir, f"{fixture}.json"), "w") as f:
            json.dump(golden, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()

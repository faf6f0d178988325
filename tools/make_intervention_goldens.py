#!/usr/bin/env python3
"""Goldens for interventions on attention patterns: the logits transformers gives when a pattern is
edited between its softmax and its product with the values, for the tiny fixtures.

TransformerLens's `blocks.L.attn.hook_pattern` sits exactly there. transformers' eager attention
(`eager_attention_forward`, the fixtures load with attn_implementation="eager") computes
`attn_weights = softmax(...)`, passes them through `nn.functional.dropout` (the identity in eval
mode), then `attn_output = attn_weights @ value_states`. This script wraps that dropout call while
a chosen layer's `self_attn` runs (a forward pre-hook marks which layer it is), applies the edit to
the weights [1, heads, n, keys] and returns them, so the rest of the pass is transformers' own.

Edits (layer and head chosen so each fixture's sliding windows and GQA are exercised):
  zero_head   layer 1, head 1: every probability 0 (the head's output z is 0)
  bos_only    layer 0, head 0: each query attends only to position 0
  uniform     the last layer, head 0: each query spreads evenly over the keys it can see
              (causal, and the sliding window on a local layer)

Writes Tests/Fixtures/interventions/{model}.safetensors ("clean:logits" and "{edit}:logits",
[n, vocab] after the final softcap) and {model}.json (tokens, the edits, versions).

    python3 tools/make_intervention_goldens.py --fixtures Tests/Fixtures --out Tests/Fixtures/interventions

Needs torch, transformers and safetensors (pip install torch transformers safetensors).
"""
import argparse
import json
import os

import torch
import transformers
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

MODELS = ["gemma2_tiny", "gemma3_tiny", "llama_tiny"]


def edits(config):
    last = config.num_hidden_layers - 1
    window = getattr(config, "sliding_window", None)
    layer_types = getattr(config, "layer_types", None) or ["full_attention"] * config.num_hidden_layers

    def zero_head(w):
        w[:, 1] = 0
        return w

    def bos_only(w):
        w[:, 0] = 0
        w[:, 0, :, 0] = 1
        return w

    def uniform(w):
        n, keys = w.shape[2], w.shape[3]
        local = layer_types[last] == "sliding_attention" and window is not None
        for q in range(n):
            lo = max(0, q - window + 1) if local else 0
            w[:, 0, q] = 0
            w[:, 0, q, lo:q + 1] = 1.0 / (q + 1 - lo)
        return w

    return {"zero_head": (1, zero_head, "layer 1, head 1: every probability 0"),
            "bos_only": (0, bos_only, "layer 0, head 0: each query attends only to position 0"),
            "uniform": (last, uniform, f"layer {last}, head 0: each query spread evenly over the keys it sees")}


def run(model, ids, layer=None, edit=None):
    """Logits [n, vocab], with `edit` applied to layer `layer`'s attention weights."""
    state = {"layer": None}
    handles = [attn.register_forward_pre_hook(lambda _m, _a, l=l: state.__setitem__("layer", l))
               for l, attn in enumerate(layer.self_attn for layer in model.model.layers)]
    original = torch.nn.functional.dropout

    def dropout(x, *args, **kwargs):
        y = original(x, *args, **kwargs)
        if edit is not None and state["layer"] == layer and y.dim() == 4:
            y = edit(y.clone())
        return y

    torch.nn.functional.dropout = dropout
    try:
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids]), use_cache=False).logits[0]
    finally:
        torch.nn.functional.dropout = original
        for h in handles:
            h.remove()
    return logits.float().contiguous()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--fixtures", default="Tests/Fixtures")
    p.add_argument("--out", default="Tests/Fixtures/interventions")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(0)
    for name in MODELS:
        folder = os.path.join(args.fixtures, name)
        model = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float32, attn_implementation="eager").eval()
        ids = json.load(open(os.path.join(folder, "reference.json")))["sequences"][1]
        clean = run(model, ids)
        tensors, described = {"clean:logits": clean}, {}
        for edit_name, (layer, fn, text) in edits(model.config).items():
            edited = run(model, ids, layer, fn)
            assert (edited - clean).abs().max() > 1e-4, f"{name} {edit_name}: the edit must change the logits"
            tensors[f"{edit_name}:logits"] = edited
            described[edit_name] = {"layer": layer, "what": text}
        save_file(tensors, os.path.join(args.out, f"{name}.safetensors"))
        json.dump({"model": name, "tokens": ids, "edits": described, "transformers_version": transformers.__version__,
                   "torch_version": torch.__version__}, open(os.path.join(args.out, f"{name}.json"), "w"), indent=1)
        print(name, {k: float((v - clean).abs().max()) for k, v in tensors.items()})


if __name__ == "__main__":
    main()

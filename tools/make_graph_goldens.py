#!/usr/bin/env python3
"""Torch goldens for Lantern's attribution graphs (Tests/Fixtures/graphs/gemma3_tiny/).

What it does
------------
Writes seven random TopK transcoders with affine skips for the tiny Gemma 3 fixture in the Gemma
Scope 2 layout (``transcoders/layer_L_width_16_k_3_affine/{params.safetensors,config.json}``), then
builds the same attribution graph circuit-tracer would, independently of Lantern, in torch with
transformers: attention patterns and every RMSNorm's scale frozen (the ``frozen`` context of
tools/make_gradient_goldens.py), each MLP output replaced by ``skip + (mlp_out − skip).detach()``
(circuit-tracer's ``_configure_skip_connection``), and one ``torch.autograd.grad`` per target:
a feature's input ln2[L][p] · W_enc[:, f] or a logit's final_norm[n−1] · (W_U[t] − mean_v W_U[v]).
Edges: feature = activation · (W_dec[f] · grad at hook_mlp_out), error = error · grad there
(error = MLP output − features − skip, b_dec included: Lantern's complete conventions), embedding =
hook_embed · its grad. Nodes in circuit-tracer's order; logits by circuit-tracer's salient rule.

Also ``graph_circuit_tracer.*``: the same with circuit-tracer's conventions (b_dec left out of the
errors, features and errors of position 0 zeroed), whose rows are not complete.

Writes ``graph.safetensors`` (``adjacency`` [N, N] f32, rows targets; ``inputs`` [N]) and
``graph.json`` (tokens, active features (layer, position, feature, activation), logit tokens and
probabilities, versions). Regenerate from the repository root (CPU, seconds):

    python3 tools/make_graph_goldens.py
"""
import json
import os
import sys

import numpy as np
import torch
import transformers
from safetensors.torch import save_file
from transformers import Gemma3ForCausalLM
from transformers.models.gemma3 import modeling_gemma3

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_gradient_goldens import frozen  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures")
WIDTH, K = 16, 3


def write_transcoders(out, layers, d, rng):
    weights = []
    for l in range(layers):
        w = dict(w_enc=rng.uniform(-0.3, 0.3, (d, WIDTH)), w_dec=rng.uniform(-0.3, 0.3, (WIDTH, d)),
                 b_enc=rng.uniform(-0.2, 0.2, WIDTH), b_dec=rng.uniform(-0.5, 0.5, d),
                 affine_skip_connection=rng.uniform(-0.2, 0.2, (d, d)))
        w = {k: torch.tensor(v, dtype=torch.float32) for k, v in w.items()}
        folder = os.path.join(out, f"layer_{l}_width_{WIDTH}_k_{K}_affine")
        os.makedirs(folder, exist_ok=True)
        save_file({k: v.contiguous() for k, v in w.items()}, os.path.join(folder, "params.safetensors"))
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump({"architecture": "topk", "k": K, "width": WIDTH, "affine_connection": True,
                       "hf_hook_point_in": f"model.layers.{l}.pre_feedforward_layernorm.output",
                       "hf_hook_point_out": f"model.layers.{l}.post_feedforward_layernorm.output",
                       "model_name": "lantern-fixture/gemma3_tiny"}, f, indent=1)
        weights.append(w)
    return weights


def topk(pre):
    """Lantern's TopK: the k largest pre-activations, then ReLU."""
    idx = torch.topk(pre, K, dim=-1).indices
    out = torch.zeros_like(pre)
    out.scatter_(-1, idx, pre.gather(-1, idx).clamp(min=0))
    return out


def main():
    torch.manual_seed(0)
    rng = np.random.default_rng(11)
    mdir = os.path.join(ROOT, "gemma3_tiny")
    out = os.path.join(ROOT, "graphs", "gemma3_tiny")
    ids = json.load(open(os.path.join(mdir, "reference.json")))["sequences"][0]
    model = Gemma3ForCausalLM.from_pretrained(mdir, attn_implementation="eager", dtype=torch.float32).eval()
    inner, layers, d = model.model, model.config.num_hidden_layers, model.config.hidden_size
    tcs = write_transcoders(os.path.join(out, "transcoders"), layers, d, rng)
    n = len(ids)

    ln2, mlp_out, real_out, handles = {}, {}, {}, []
    final = {}
    for l, layer in enumerate(inner.layers):
        def keep_in(_m, _a, o, l=l):
            ln2[l] = o
        def replace_out(_m, _a, o, l=l):
            skip = ln2[l] @ tcs[l]["affine_skip_connection"]
            real_out[l] = o.detach()
            mlp_out[l] = skip + (o - skip).detach()
            return mlp_out[l]
        handles.append(layer.pre_feedforward_layernorm.register_forward_hook(keep_in))
        handles.append(layer.post_feedforward_layernorm.register_forward_hook(replace_out))
    handles.append(inner.norm.register_forward_hook(lambda _m, _a, o: final.__setitem__("x", o)))
    with frozen(model, modeling_gemma3):
        res = model(input_ids=torch.tensor([ids]), output_hidden_states=True, use_cache=False)
        embed = res.hidden_states[0]
        logits = res.logits[0, -1].detach()

        def build(bias_in_error, zeroed):
            """One graph: b_dec in the errors or not; features and errors of the first `zeroed` positions zeroed."""
            features, errors = [], []
            for l in range(layers):
                x = ln2[l][0].detach()
                acts = topk(x @ tcs[l]["w_enc"] + tcs[l]["b_enc"])
                acts[:zeroed] = 0
                for p in range(n):
                    for f in range(WIDTH):
                        if acts[p, f] != 0:
                            features.append((l, p, f, float(acts[p, f])))
                error = real_out[l][0] - acts @ tcs[l]["w_dec"] - x @ tcs[l]["affine_skip_connection"]
                if not bias_in_error:
                    error = error - tcs[l]["b_dec"]
                error[:zeroed] = 0
                errors.append(error)
            probs = torch.softmax(logits.double(), -1)
            top_p, top_i = torch.topk(probs, 10)
            cut = int(torch.searchsorted(torch.cumsum(top_p, 0), 0.95)) + 1
            top_p, top_i = top_p[:cut], top_i[:cut]
            w_u = model.lm_head.weight.detach()
            directions = w_u[top_i] - w_u.mean(0, keepdim=True)

            nf, ne = len(features), layers * n
            count = nf + ne + n + len(top_i)
            adjacency = torch.zeros(count, count, dtype=torch.float64)
            inputs = torch.zeros(count, dtype=torch.float64)

            def fill(row, scalar, below):
                srcs = [embed] + [mlp_out[l] for l in range(below)]
                grads = torch.autograd.grad(scalar, srcs, retain_graph=True, allow_unused=True)
                ge = grads[0][0] if grads[0] is not None else torch.zeros(n, d)
                adjacency[row, nf + ne:nf + ne + n] = (embed[0].detach() * ge).sum(-1).double()
                for l in range(below):
                    g = grads[1 + l][0] if grads[1 + l] is not None else torch.zeros(n, d)
                    adjacency[row, nf + l * n:nf + (l + 1) * n] = (errors[l] * g).sum(-1).double()
                    projected = g @ tcs[l]["w_dec"].T
                    for i, (fl, fp, ff, fa) in enumerate(features):
                        if fl == l:
                            adjacency[row, i] = fa * float(projected[fp, ff])

            for i, (l, p, f, _) in enumerate(features):
                scalar = ln2[l][0, p] @ tcs[l]["w_enc"][:, f]
                inputs[i] = float(scalar.detach())
                fill(i, scalar, l)
            for k in range(len(top_i)):
                scalar = final["x"][0, n - 1] @ directions[k]
                inputs[nf + ne + n + k] = float(scalar.detach())
                fill(nf + ne + n + k, scalar, layers)
            return features, top_i, top_p, adjacency, inputs, count, nf, ne

        graphs = {"graph": build(True, 0), "graph_circuit_tracer": build(False, 1)}
    for h in handles:
        h.remove()

    for stem, (features, top_i, top_p, adjacency, inputs, count, nf, ne) in graphs.items():
        gap = max(abs(float(adjacency[r].sum() - inputs[r])) / max(abs(float(inputs[r])), float(adjacency[r].abs().max()), 1e-12)
                  for r in list(range(nf)) + list(range(nf + ne + n, count)))
        save_file({"adjacency": adjacency.float().contiguous(), "inputs": inputs.float().contiguous()},
                  os.path.join(out, f"{stem}.safetensors"))
        with open(os.path.join(out, f"{stem}.json"), "w") as f:
            json.dump(dict(tokens=ids, features=features, logit_tokens=top_i.tolist(), logit_probabilities=top_p.tolist(),
                           completeness_gap=gap, torch_version=torch.__version__,
                           transformers_version=transformers.__version__), f, indent=1)
        print(f"{stem}: {nf} features, {len(top_i)} logits, {count} nodes; torch completeness gap (edges alone) {gap:.2e}")

if __name__ == "__main__":
    main()

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

TransformerLens's `blocks.L.attn.hook_attn_scores` is the input of that softmax (scaled, softcapped,
masked); this script wraps `nn.functional.softmax` the same way to read it (transformers adds the
dtype's minimum where a key is masked; it is written as -inf, as TransformerLens has it) and to
edit it. `ln1/ln2/ln_final.hook_scale` is each row's sqrt(mean(x^2) + eps) (for GPT-2's and
Pythia's LayerNorms sqrt(var(x) + eps)); it is read with a forward pre-hook on the norm, and edited
by running that norm as x / scale * gain ((x - mean) / scale * w + b).

Score and scale edits:
  score_boost  layer 1, head 0: +3 on every query's score for key 0 (before the softmax)
  scale_ln1    layer 0's ln1 (input_layernorm): position 1's scale doubled (a uniform factor would
               vanish in Gemma 3, whose q/k norms and post-attention norm undo it)
  scale_ln2    the last layer's ln2 (pre_feedforward_layernorm; Llama's post_attention_layernorm): x1.5
  scale_final  ln_final (model.norm): every row's scale halved
(OLMo 2 has no ln1 or ln2: only scale_final there.)

Every other hook point, edited the same way: 0.5 * sin(1 + j) added to column j of position 2 of
blocks.1's activation (hook_embed and ln_final.hook_normalized: the model's), applied in
transformers with torch hooks where that activation is made — forward hooks on the projections and
norms (q_proj … down_proj's input, input_layernorm, the MLP's input norm, q_norm/k_norm for
hook_q_normed/k_normed where the family has them), a pre-hook on the decoder layer for hook_embed
and hook_resid_pre, the layer's output for hook_resid_post, the rotary function for hook_rot_q/k,
o_proj's input for hook_z (every hook point the family has; GPT-2's and Pythia's through
run_added_gpt, hook_pos_embed included). An addition to hook_resid_mid is an
addition to hook_attn_out as far as the rest of the pass can tell, so both are made there. Logits
"add:{hook}:logits" in {model}_hooks.safetensors.

Writes Tests/Fixtures/interventions/{model}.safetensors ("clean:logits" and "{edit}:logits",
[n, vocab] after the final softcap; "clean:{hook}" for every layer's hook_attn_scores [heads, n, n]
and every hook_scale [n, 1]) and {model}.json (tokens, the edits, versions).

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

import gpt_fixtures  # GPT-2 and GPT-NeoX: their modules and hook points (tools/gpt_fixtures.py)

MODELS = ["gemma2_tiny", "gemma3_tiny", "llama_tiny", "qwen2_tiny", "qwen3_tiny", "mistral_tiny", "olmo2_tiny",
          "gpt2_tiny", "pythia_tiny"]


def edits(config):
    last = config.num_hidden_layers - 1
    window = getattr(config, "sliding_window", None)
    layer_types = getattr(config, "layer_types", None) or ["full_attention"] * config.num_hidden_layers
    if config.model_type == "mistral" and window is not None:  # Mistral's window is on every layer
        layer_types = ["sliding_attention"] * config.num_hidden_layers

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


def layer_tracker(model):
    """({"layer": index of the attention module running}, its pre-hooks to remove afterwards)."""
    state = {"layer": None}
    modules = ([b.attn for b in gpt_fixtures.blocks(model)] if gpt_fixtures.is_gpt(model)
               else [layer.self_attn for layer in model.model.layers])
    handles = [attn.register_forward_pre_hook(lambda _m, _a, l=l: state.__setitem__("layer", l))
               for l, attn in enumerate(modules)]
    return state, handles


def logits_of(model, ids):
    """The logits [n, vocab] of one sequence, without a cache (the patches in force apply)."""
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids]), use_cache=False).logits[0]


def norms(model):
    """TransformerLens's norm names -> the transformers modules (ln2 is the MLP's input norm)."""
    if gpt_fixtures.is_gpt(model):
        out = {"ln_final": gpt_fixtures.final_norm(model)}
        for l, b in enumerate(gpt_fixtures.blocks(model)):
            out[f"blocks.{l}.ln1"], out[f"blocks.{l}.ln2"] = b.ln1, b.ln2
        return out
    out = {"ln_final": model.model.norm}
    for l, block in enumerate(model.model.layers):
        if not hasattr(block, "input_layernorm"):  # OLMo 2: no norms on the branches' inputs
            continue
        out[f"blocks.{l}.ln1"] = block.input_layernorm
        out[f"blocks.{l}.ln2"] = getattr(block, "pre_feedforward_layernorm", None) or block.post_attention_layernorm
    return out


def rms_scale(module, x):
    """TransformerLens's hook_scale: sqrt(mean(x^2) + eps), or for a LayerNorm sqrt(var(x) + eps)."""
    eps = getattr(module, "eps", None) or module.variance_epsilon
    x = x.float()
    if isinstance(module, torch.nn.LayerNorm):
        x = x - x.mean(-1, keepdim=True)
    return (x.pow(2).mean(-1, keepdim=True) + eps).sqrt()


def scale_edits(config):
    last = config.num_hidden_layers - 1
    final = {"scale_final": ("ln_final", (0.5, None), "ln_final: every row's scale halved")}
    if config.model_type == "olmo2":
        return final
    return {"scale_ln1": ("blocks.0.ln1", (2.0, 1), "layer 0's ln1: position 1's scale doubled"),
            "scale_ln2": (f"blocks.{last}.ln2", (1.5, None), f"layer {last}'s ln2: every row's scale x1.5"), **final}


def run_scored(model, ids, score_edit=None, scale_edit=None):
    """(logits, {hook: activation}) with the attention scores read (and `score_edit` = (layer, fn)
    applied) at the softmax's input, and every norm's scale read (`scale_edit` = (norm, factor))."""
    (state, handles), seen = layer_tracker(model), {}
    gemma = model.config.model_type.startswith("gemma")
    for name, module in norms(model).items():
        handles.append(module.register_forward_pre_hook(
            lambda m, a, name=name: seen.__setitem__(f"{name}.hook_scale", rms_scale(m, a[0])[0].clone())))
        if scale_edit is not None and scale_edit[0] == name:
            factor, position = scale_edit[1]

            def forward(x, m=module, factor=factor, position=position):
                scale = rms_scale(m, x)
                if position is None:
                    scale = scale * factor
                else:
                    scale[:, position] *= factor
                if isinstance(m, torch.nn.LayerNorm):
                    return (x - x.mean(-1, keepdim=True)) / scale * m.weight + m.bias
                normed = x.float() / scale
                return (normed * (1.0 + m.weight.float()) if gemma else m.weight * normed).type_as(x)

            module.forward = forward
    original = torch.nn.functional.softmax

    def softmax(x, *args, **kwargs):
        if x.dim() == 4 and state["layer"] is not None:
            if score_edit is not None and score_edit[0] == state["layer"]:
                x = score_edit[1](x.clone())
            shown = x[0].clone()
            shown[shown <= torch.finfo(torch.float32).min / 2] = float("-inf")
            seen[f"blocks.{state['layer']}.attn.hook_attn_scores"] = shown
        return original(x, *args, **kwargs)

    torch.nn.functional.softmax = softmax
    try:
        logits = logits_of(model, ids)
    finally:
        torch.nn.functional.softmax = original
        for h in handles:
            h.remove()
        for module in norms(model).values():
            module.__dict__.pop("forward", None)
    return logits.float().contiguous(), {k: v.float().contiguous() for k, v in seen.items()}


def boost_key0(x):
    x[:, 0, :, 0] += 3.0
    return x


def additive_hooks(model):
    """The hook points of `model`'s family edited by addition: every one but the attention maps,
    the scales and hook_result, in layer 1 and outside the blocks."""
    if gpt_fixtures.is_gpt(model):
        gpt2 = model.config.model_type == "gpt2"
        names = ["hook_resid_pre", "ln1.hook_normalized", "attn.hook_q", "attn.hook_k", "attn.hook_v"]
        names += [] if gpt2 else ["attn.hook_rot_q", "attn.hook_rot_k"]
        names += ["attn.hook_z", "hook_attn_out"] + (["hook_resid_mid"] if gpt2 else [])
        names += ["ln2.hook_normalized", "mlp.hook_pre", "mlp.hook_post", "hook_mlp_out", "hook_resid_post"]
        return ["hook_embed"] + (["hook_pos_embed"] if gpt2 else []) + [f"blocks.1.{h}" for h in names] + ["ln_final.hook_normalized"]
    block = model.model.layers[1]
    pre_norms = hasattr(block, "input_layernorm")
    names = ["hook_resid_pre"] + (["ln1.hook_normalized"] if pre_norms else []) + ["attn.hook_q", "attn.hook_k", "attn.hook_v"]
    names += ["attn.hook_q_normed", "attn.hook_k_normed"] if hasattr(block.self_attn, "q_norm") else []
    names += ["attn.hook_rot_q", "attn.hook_rot_k", "attn.hook_z", "hook_attn_out", "hook_resid_mid"]
    names += (["ln2.hook_normalized"] if pre_norms else []) + ["mlp.hook_pre", "mlp.hook_pre_linear", "mlp.hook_post",
                                                               "hook_mlp_out", "hook_resid_post"]
    return ["hook_embed"] + [f"blocks.1.{h}" for h in names] + ["ln_final.hook_normalized"]


POSITION = 2


def addition(width):
    return 0.5 * torch.sin(torch.arange(1, width + 1, dtype=torch.float32))


def added_rows(x):
    """x [1, n, width] with the addition at POSITION; a q/k norm's output [1, n, heads, head_dim]
    (Qwen 3) takes it over heads × head_dim, position-major as Lantern's [n, heads·head_dim]."""
    x = x.clone()
    if x.dim() == 4:
        x[0, POSITION] += addition(x.shape[2] * x.shape[3]).view(x.shape[2], x.shape[3])
    else:
        x[0, POSITION] += addition(x.shape[-1])
    return x


def added_heads(x):
    """x [1, heads, n, head_dim] (Gemma 3's q/k norm output, rotated q/k) with the addition at
    POSITION, laid out over heads × head_dim."""
    x = x.clone()
    heads, dh = x.shape[1], x.shape[3]
    x[0, :, POSITION] += addition(heads * dh).view(heads, dh)
    return x


def run_added(model, ids, hook):
    """Logits with `addition` added at `hook` (a TransformerLens name) through torch hooks."""
    import importlib
    if gpt_fixtures.is_gpt(model):
        return run_added_gpt(model, ids, hook)
    block = model.model.layers[1]
    gemma = hasattr(block, "pre_feedforward_layernorm")
    pre_norms = hasattr(block, "input_layernorm")  # OLMo 2: norms on the branches' outputs only
    handles, patched = [], None

    def output(module):
        handles.append(module.register_forward_hook(
            lambda _m, _a, out: (added_rows(out[0]),) + tuple(out[1:]) if isinstance(out, tuple) else added_rows(out)))

    def layer_input(layer):
        def pre(_m, args, kwargs):
            if args:
                return (added_rows(args[0]),) + tuple(args[1:]), kwargs
            kwargs = dict(kwargs)
            kwargs["hidden_states"] = added_rows(kwargs["hidden_states"])
            return args, kwargs
        handles.append(layer.register_forward_pre_hook(pre, with_kwargs=True))

    leaf = hook.split(".")[-1] if hook.startswith("blocks.") else hook
    sub = hook.split(".")[-2] if hook.count(".") >= 3 else ""
    if hook == "hook_embed":
        layer_input(model.model.layers[0])
    elif leaf == "hook_resid_pre":
        layer_input(block)
    elif leaf == "hook_normalized" and sub == "ln1":
        output(block.input_layernorm)
    elif leaf == "hook_normalized" and sub == "ln2":
        output(block.pre_feedforward_layernorm if gemma else block.post_attention_layernorm)
    elif leaf in ("hook_q", "hook_k", "hook_v"):
        output(getattr(block.self_attn, leaf[-1] + "_proj"))
    elif leaf in ("hook_q_normed", "hook_k_normed"):
        norm = getattr(block.self_attn, leaf[5] + "_norm")
        if gemma:  # Gemma 3 normalises [1, heads, n, head_dim]
            handles.append(norm.register_forward_hook(lambda _m, _a, out: added_heads(out)))
        else:
            output(norm)
    elif leaf in ("hook_rot_q", "hook_rot_k"):
        module = importlib.import_module(type(block.self_attn).__module__)
        patched = (module, module.apply_rotary_pos_emb)
        state, tracking = layer_tracker(model)
        handles += tracking

        def rotary(q, k, *rest, original=patched[1], which=leaf[-1]):
            q, k = original(q, k, *rest)
            if state["layer"] == 1:
                target = added_heads(q if which == "q" else k)  # [1, heads, n, head_dim]
                q, k = (target, k) if which == "q" else (q, target)
            return q, k

        module.apply_rotary_pos_emb = rotary
    elif leaf == "hook_z":
        handles.append(block.self_attn.o_proj.register_forward_pre_hook(lambda _m, args: (added_rows(args[0]),)))
    elif leaf in ("hook_attn_out", "hook_resid_mid"):
        output(block.post_attention_layernorm if gemma or not pre_norms else block.self_attn.o_proj)
    elif leaf == "hook_pre":
        output(block.mlp.gate_proj)
    elif leaf == "hook_pre_linear":
        output(block.mlp.up_proj)
    elif leaf == "hook_post":
        handles.append(block.mlp.down_proj.register_forward_pre_hook(lambda _m, args: (added_rows(args[0]),)))
    elif leaf == "hook_mlp_out":
        output(block.post_feedforward_layernorm if gemma or not pre_norms else block.mlp)
    elif leaf == "hook_resid_post":
        output(block)
    elif hook == "ln_final.hook_normalized":
        output(model.model.norm)
    else:
        raise ValueError(hook)
    try:
        logits = logits_of(model, ids)
    finally:
        for h in handles:
            h.remove()
        if patched:
            patched[0].apply_rotary_pos_emb = patched[1]
    return logits.float().contiguous()


def run_added_gpt(model, ids, hook):
    """run_added for GPT-2 and GPT-NeoX, through gpt_fixtures' modules: q, k and v are added to
    their columns of the fused projection's output; GPT-2's hook_resid_mid, like hook_attn_out,
    to the attention's output projection."""
    b, handles, patched = gpt_fixtures.blocks(model)[1], [], None

    def output(module, edit=added_rows):
        handles.append(module.register_forward_hook(
            lambda _m, _a, out: (edit(out[0]),) + tuple(out[1:]) if isinstance(out, tuple) else edit(out)))

    def before(module):
        handles.append(module.register_forward_pre_hook(
            lambda _m, args, kwargs: ((added_rows(args[0]),) + tuple(args[1:]), kwargs) if args
            else (args, {**kwargs, "hidden_states": added_rows(kwargs["hidden_states"])}), with_kwargs=True))

    leaf = hook.split(".")[-1]
    sub = hook.split(".")[-2] if hook.count(".") >= 3 else ""
    if hook == "hook_embed":
        output(gpt_fixtures.embedding(model))
    elif hook == "hook_pos_embed":
        output(gpt_fixtures.inner(model).wpe)
    elif hook == "ln_final.hook_normalized":
        output(gpt_fixtures.final_norm(model))
    elif leaf == "hook_resid_pre":
        before(b.layer)
    elif leaf == "hook_normalized":
        output(b.ln1 if sub == "ln1" else b.ln2)
    elif leaf in ("hook_q", "hook_k", "hook_v"):
        output(b.qkv, lambda out: gpt_fixtures.add_to_qkv(out, leaf[-1], lambda part: added_rows(part), model.config))
    elif leaf in ("hook_rot_q", "hook_rot_k"):
        module = gpt_fixtures.rope_module(model)
        patched = (module, module.apply_rotary_pos_emb)
        state, tracking = layer_tracker(model)
        handles += tracking

        def rotary(q, k, *rest, original=patched[1], which=leaf[-1]):
            q, k = original(q, k, *rest)
            if state["layer"] == 1:
                target = added_heads(q if which == "q" else k)
                q, k = (target, k) if which == "q" else (q, target)
            return q, k

        module.apply_rotary_pos_emb = rotary
    elif leaf == "hook_z" or leaf == "hook_post":
        handles.append((b.out if leaf == "hook_z" else b.mlp_out).register_forward_pre_hook(lambda _m, args: (added_rows(args[0]),)))
    elif leaf in ("hook_attn_out", "hook_resid_mid"):
        output(b.out)
    elif leaf == "hook_pre":
        output(b.mlp_in)
    elif leaf == "hook_mlp_out":
        output(b.mlp_out)
    elif leaf == "hook_resid_post":
        output(b.layer)
    else:
        raise ValueError(hook)
    try:
        logits = logits_of(model, ids)
    finally:
        for h in handles:
            h.remove()
        if patched:
            patched[0].apply_rotary_pos_emb = patched[1]
    return logits.float().contiguous()


def run(model, ids, layer=None, edit=None):
    """Logits [n, vocab], with `edit` applied to layer `layer`'s attention weights."""
    state, handles = layer_tracker(model)
    original = torch.nn.functional.dropout

    def dropout(x, *args, **kwargs):
        y = original(x, *args, **kwargs)
        if edit is not None and state["layer"] == layer and y.dim() == 4:
            y = edit(y.clone())
        return y

    torch.nn.functional.dropout = dropout
    try:
        logits = logits_of(model, ids)
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
        scored, activations = run_scored(model, ids)
        assert (scored - clean).abs().max() == 0, f"{name}: reading scores and scales must not change the pass"
        tensors.update({f"clean:{hook}": value for hook, value in activations.items()})
        edited, _ = run_scored(model, ids, score_edit=(1, boost_key0))
        tensors["score_boost:logits"] = edited
        described["score_boost"] = {"layer": 1, "what": "layer 1, head 0: +3 on every query's score for key 0"}
        for edit_name, (norm, factor, text) in scale_edits(model.config).items():
            edited, _ = run_scored(model, ids, scale_edit=(norm, factor))
            tensors[f"{edit_name}:logits"] = edited
            described[edit_name] = {"norm": norm, "factor": factor[0], "position": factor[1], "what": text}
        for edit_name in ["score_boost"] + list(scale_edits(model.config)):
            assert (tensors[f"{edit_name}:logits"] - clean).abs().max() > 1e-4, f"{name} {edit_name}: the edit must change the logits"
        save_file(tensors, os.path.join(args.out, f"{name}.safetensors"))
        added = {}
        for hook in additive_hooks(model):
            edited = run_added(model, ids, hook)
            assert (edited - clean).abs().max() > 1e-4, f"{name} {hook}: the edit must change the logits"
            added[f"add:{hook}:logits"] = edited
        save_file(added, os.path.join(args.out, f"{name}_hooks.safetensors"))
        json.dump({"model": name, "tokens": ids, "edits": described, "transformers_version": transformers.__version__,
                   "torch_version": torch.__version__}, open(os.path.join(args.out, f"{name}.json"), "w"), indent=1)
        print(name, {k: float((v - clean).abs().max()) for k, v in tensors.items() if k.endswith(":logits")})


if __name__ == "__main__":
    main()

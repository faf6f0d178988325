#!/usr/bin/env python3
"""Gradient goldens from torch for Lantern's backward pass (Tests/Fixtures/gradients/).

What it does
------------
Loads each tiny fixture model (Tests/Fixtures/{gemma2,gemma3,llama,qwen2,qwen3,mistral,olmo2,gpt2,pythia}_tiny,
made by tools/make_fixtures.py) with transformers in float32, eager attention, and runs the fixture's
second (longer) token sequence. Hook points map to HF modules exactly as in make_fixtures.py; each
captured tensor is the very tensor the next module consumes, so after ``retain_grad`` and
``backward`` its ``.grad`` is the gradient of the metric with respect to that hook point.

Metrics (logit differences, after the final softcap where the model has one):

* ``last``: logits[n-1, target] - logits[n-1, baseline], target and baseline the top-1 and top-2
  tokens of the last position;
* ``mid`` (gemma2_tiny only, to keep the files small): logits[3, top-1] - logits[3, bottom-1]
  (gradients are zero after position 3, which the test also checks);
* ``frozen``: the ``last`` metric through the frozen linear system of circuit tracing: attention
  patterns held fixed (query and key detached where eager attention receives them, so gradients
  reach only the values) and every RMSNorm's 1/rms held fixed (its rsqrt detached), final and
  QK norms included; a LayerNorm (GPT-2, Pythia) keeps its centring and holds 1/sqrt(var + eps).
  Lantern's ``BackwardOptions(freezeAttentionPatterns:, freezeNormScales:)``.

Writes, per model, ``Tests/Fixtures/gradients/<model>.safetensors`` with float32 tensors
``"{metric}:{hook}"`` (no batch dimension, [n, width]) for every parameterless hook point but the
attention pattern (under ``frozen``, q/k/q_normed/k_normed/rot_q/rot_k get no gradient and are
left out) (hook_embed, resid_pre/mid/post, ln1/ln2 normalized where the family has them, q/k/v,
q_normed/k_normed where it has a QK-norm, rot_q/rot_k, z, attn_out, mlp pre/pre_linear/post,
mlp_out, ln_final; GPT-2's hook_pos_embed; the GPT families' hook points are gpt_fixtures.py's),
and ``<model>.json`` with the tokens, each
metric's target, baseline, position and value, and the torch/transformers versions.

Regenerate (repository root; CPU, a few seconds; needs torch, transformers, safetensors):

    python3 tools/make_gradient_goldens.py
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import types

import torch
import transformers
from safetensors.torch import save_file
from transformers import (Gemma2ForCausalLM, Gemma3ForCausalLM, GPT2LMHeadModel, GPTNeoXForCausalLM, LlamaForCausalLM,
                          MistralForCausalLM, Olmo2ForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM)
from transformers.models.gemma2 import modeling_gemma2
from transformers.models.gemma3 import modeling_gemma3
from transformers.models.gpt2 import modeling_gpt2
from transformers.models.gpt_neox import modeling_gpt_neox

import gpt_fixtures  # GPT-2 and GPT-NeoX: their modules and hook points (tools/gpt_fixtures.py)
from transformers.models.llama import modeling_llama
from transformers.models.mistral import modeling_mistral
from transformers.models.olmo2 import modeling_olmo2
from transformers.models.qwen2 import modeling_qwen2
from transformers.models.qwen3 import modeling_qwen3

MODELS = {
    "gemma2_tiny": (Gemma2ForCausalLM, modeling_gemma2, "gemma"),
    "gemma3_tiny": (Gemma3ForCausalLM, modeling_gemma3, "gemma"),
    "llama_tiny": (LlamaForCausalLM, modeling_llama, "llama"),
    "qwen2_tiny": (Qwen2ForCausalLM, modeling_qwen2, "llama"),
    "qwen3_tiny": (Qwen3ForCausalLM, modeling_qwen3, "llama"),
    "mistral_tiny": (MistralForCausalLM, modeling_mistral, "llama"),
    "olmo2_tiny": (Olmo2ForCausalLM, modeling_olmo2, "olmo2"),
    "gpt2_tiny": (GPT2LMHeadModel, modeling_gpt2, "gpt"),
    "pythia_tiny": (GPTNeoXForCausalLM, modeling_gpt_neox, "gpt"),
}
MID_POSITION = 3


class GradRecorder:
    """Keeps every hook point's tensor (with retain_grad) during one forward pass."""

    def __init__(self, model, module, family):
        self.model, self.module, self.family = model, module, family
        self.tensors, self.handles, self.layer = {}, [], None

    def keep(self, key, t):
        if key in self.tensors:
            raise RuntimeError(f"hook {key} fired twice")
        t.retain_grad()
        self.tensors[key] = t

    def out_hook(self, key):
        def fn(_m, _args, out):
            self.keep(key, out[0] if isinstance(out, tuple) else out)
        return fn

    def in_hook(self, key):
        def fn(_m, args, kwargs):
            self.keep(key, args[0] if args else kwargs["hidden_states"])
        return fn

    def layer_hook(self, l):
        def fn(_m, _args, _kwargs):
            self.layer = l
        return fn

    def __enter__(self):
        if self.family == "gpt":
            return self.enter_gpt()
        inner = self.model.model
        fwd = lambda m, f: self.handles.append(m.register_forward_hook(f))
        pre = lambda m, f: self.handles.append(m.register_forward_pre_hook(f, with_kwargs=True))
        for l, layer in enumerate(inner.layers):
            b = f"blocks.{l}"
            attn, mlp = layer.self_attn, layer.mlp
            pre(layer, self.in_hook(f"{b}.hook_resid_pre"))
            fwd(layer, self.out_hook(f"{b}.hook_resid_post"))
            if self.family != "olmo2":
                fwd(layer.input_layernorm, self.out_hook(f"{b}.ln1.hook_normalized"))
            pre(attn, self.layer_hook(l))
            if hasattr(attn, "q_norm"):
                fwd(attn.q_norm, self.out_hook(f"{b}.attn.hook_q_normed"))
                fwd(attn.k_norm, self.out_hook(f"{b}.attn.hook_k_normed"))
            fwd(attn.q_proj, self.out_hook(f"{b}.attn.hook_q"))
            fwd(attn.k_proj, self.out_hook(f"{b}.attn.hook_k"))
            fwd(attn.v_proj, self.out_hook(f"{b}.attn.hook_v"))
            pre(attn.o_proj, self.in_hook(f"{b}.attn.hook_z"))
            fwd(mlp.gate_proj, self.out_hook(f"{b}.mlp.hook_pre"))
            fwd(mlp.up_proj, self.out_hook(f"{b}.mlp.hook_pre_linear"))
            pre(mlp.down_proj, self.in_hook(f"{b}.mlp.hook_post"))
            if self.family == "gemma":
                fwd(layer.post_attention_layernorm, self.out_hook(f"{b}.hook_attn_out"))
                pre(layer.pre_feedforward_layernorm, self.in_hook(f"{b}.hook_resid_mid"))
                fwd(layer.pre_feedforward_layernorm, self.out_hook(f"{b}.ln2.hook_normalized"))
                fwd(layer.post_feedforward_layernorm, self.out_hook(f"{b}.hook_mlp_out"))
            elif self.family == "olmo2":
                fwd(layer.post_attention_layernorm, self.out_hook(f"{b}.hook_attn_out"))
                pre(mlp, self.in_hook(f"{b}.hook_resid_mid"))
                fwd(layer.post_feedforward_layernorm, self.out_hook(f"{b}.hook_mlp_out"))
            else:
                fwd(attn.o_proj, self.out_hook(f"{b}.hook_attn_out"))
                pre(layer.post_attention_layernorm, self.in_hook(f"{b}.hook_resid_mid"))
                fwd(layer.post_attention_layernorm, self.out_hook(f"{b}.ln2.hook_normalized"))
                fwd(mlp.down_proj, self.out_hook(f"{b}.hook_mlp_out"))
        fwd(inner.norm, self.out_hook("ln_final.hook_normalized"))

        # The rotated q and k are what apply_rotary_pos_emb returns (after Gemma 3's q/k norms).
        self.orig_rope = self.module.apply_rotary_pos_emb

        def recording_rope(q, k, cos, sin, *a, **kw):
            qe, ke = self.orig_rope(q, k, cos, sin, *a, **kw)
            self.keep(f"blocks.{self.layer}.attn.hook_rot_q", qe)
            self.keep(f"blocks.{self.layer}.attn.hook_rot_k", ke)
            return qe, ke

        self.module.apply_rotary_pos_emb = recording_rope
        return self

    def enter_gpt(self):
        """GPT-2 and GPT-NeoX: gpt_fixtures' hook points (the fused q/k/v output is split after the
        backward pass); GPT-NeoX's rotated q and k from its apply_rotary_pos_emb."""
        self.handles = gpt_fixtures.register(self.model, self.keep)
        self.orig_rope = getattr(self.module, "apply_rotary_pos_emb", None)
        if gpt_fixtures.rope_module(self.model) is None:
            return self
        for l, b in enumerate(gpt_fixtures.blocks(self.model)):
            self.handles.append(b.attn.register_forward_pre_hook(lambda _m, _a, l=l: setattr(self, "layer", l)))

        def recording_rope(q, k, cos, sin, *a, **kw):
            qe, ke = self.orig_rope(q, k, cos, sin, *a, **kw)
            self.keep(f"blocks.{self.layer}.attn.hook_rot_q", qe)
            self.keep(f"blocks.{self.layer}.attn.hook_rot_k", ke)
            return qe, ke

        self.module.apply_rotary_pos_emb = recording_rope
        return self

    def __exit__(self, *exc):
        if self.orig_rope is not None:
            self.module.apply_rotary_pos_emb = self.orig_rope
        for h in self.handles:
            h.remove()
        return False


@contextlib.contextmanager
def frozen(model, module):
    """Attention patterns and RMSNorm scales detached: the frozen linear system."""
    original_attention = module.eager_attention_forward

    def attention(mod, query, key, value, *args, **kwargs):
        return original_attention(mod, query.detach(), key.detach(), value, *args, **kwargs)

    def gemma_norm(self, x):
        xf = x.float()
        out = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps).detach()
        return (out * (1.0 + self.weight.float())).type_as(x)

    def llama_norm(self, x):
        xf = x.to(torch.float32)
        out = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.variance_epsilon).detach()
        return self.weight * out.to(x.dtype)

    def layer_norm(self, x):
        # The centring is linear and stays; only 1/sqrt(var + eps) is held.
        centred = x - x.mean(-1, keepdim=True)
        inv = torch.rsqrt(centred.pow(2).mean(-1, keepdim=True) + self.eps).detach()
        return centred * inv * self.weight + self.bias

    norms = [m for m in model.modules() if type(m).__name__.endswith("RMSNorm") or isinstance(m, torch.nn.LayerNorm)]
    module.eager_attention_forward = attention
    for m in norms:
        kind = layer_norm if isinstance(m, torch.nn.LayerNorm) else gemma_norm if type(m).__name__.startswith("Gemma") else llama_norm
        m.forward = types.MethodType(kind, m)
    try:
        yield len(norms)
    finally:
        module.eager_attention_forward = original_attention
        for m in norms:
            del m.forward


def flat(name, grad, family):
    """[1, n, w] -> [n, w]; rotated q/k [1, heads, n, d] -> [n, heads*d] (position-major), and
    Gemma 3's normed q/k alike; Qwen 3's normed q/k [1, n, heads, d] -> [n, heads*d]."""
    heads_first = name.endswith(("hook_rot_q", "hook_rot_k")) or (family == "gemma" and name.endswith("_normed"))
    if heads_first:
        _, h, n, d = grad.shape
        return grad[0].transpose(0, 1).reshape(n, h * d)
    return grad[0].reshape(grad.shape[1], -1)


def gradients(model, module, family, ids, position, pick):
    """Runs ids, backpropagates one logit difference at `position`; returns (grads, meta)."""
    with GradRecorder(model, module, family) as rec:
        out = model(input_ids=torch.tensor([ids]), output_hidden_states=True, use_cache=False)
    embed = out.hidden_states[0]
    embed.retain_grad()
    logits = out.logits[0]
    order = torch.argsort(logits[position].detach(), descending=True)
    target, baseline = pick(order)
    metric = logits[position, target] - logits[position, baseline]
    metric.backward()
    # Hooks that receive no gradient (q and k under frozen patterns) are left out; the test wants zeros there.
    grads = {name: flat(name, t.grad, family).detach().clone().contiguous() for name, t in rec.tensors.items() if t.grad is not None}
    for name in [n for n in grads if n.endswith(".attn.hook_qkv")]:  # GPT: the fused projection's gradient, split
        for which, g in zip("qkv", gpt_fixtures.split_qkv(grads.pop(name), model.config)):
            if which != "v" and not g.any():  # frozen patterns: q and k get none (left out, as above)
                continue
            grads[name.replace("hook_qkv", f"hook_{which}")] = g.contiguous()
    if not torch.equal(embed.grad, rec.tensors["blocks.0.hook_resid_pre"].grad):
        raise AssertionError("hook_embed and blocks.0.hook_resid_pre are one tensor; their gradients must agree")
    grads["hook_embed"] = embed.grad[0].detach().clone().contiguous()
    meta = dict(position=position, target=int(target), baseline=int(baseline), value=metric.item())
    return grads, meta


def main(argv=None):
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fixtures", default=root)
    args = ap.parse_args(argv)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    out_dir = os.path.join(args.fixtures, "gradients")
    os.makedirs(out_dir, exist_ok=True)
    for name, (cls, module, family) in MODELS.items():
        d = os.path.join(args.fixtures, name)
        ids = json.load(open(os.path.join(d, "reference.json")))["sequences"][1]
        model = cls.from_pretrained(d, attn_implementation="eager", dtype=torch.float32).eval()
        tensors, metrics = {}, {}
        metric_specs = [("last", len(ids) - 1, lambda o: (o[0], o[1]))]
        if name == "gemma2_tiny":
            metric_specs.append(("mid", MID_POSITION, lambda o: (o[0], o[-1])))
        metric_specs.append(("frozen", len(ids) - 1, lambda o: (o[0], o[1])))
        for metric, position, pick in metric_specs:
            model.zero_grad()
            with frozen(model, module) if metric == "frozen" else contextlib.nullcontext():
                grads, meta = gradients(model, module, family, ids, position, pick)
            for hook, g in grads.items():
                tensors[f"{metric}:{hook}"] = g
            metrics[metric] = meta
            print(f"{name} {metric}: {meta}, {len(grads)} hook points, |d embed| = {grads['hook_embed'].norm():.4g}")
        path = os.path.join(out_dir, f"{name}.safetensors")
        save_file(tensors, path)
        os.chmod(path, 0o644)
        with open(os.path.join(out_dir, f"{name}.json"), "w") as f:
            json.dump(dict(model=name, tokens=ids, metrics=metrics, torch_version=torch.__version__,
                           transformers_version=transformers.__version__), f, indent=1)
            f.write("\n")
        print(f"  wrote {path} ({os.path.getsize(path)} B)")


if __name__ == "__main__":
    main()

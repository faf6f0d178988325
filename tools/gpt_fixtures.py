"""GPT-2 and GPT-NeoX (Pythia) in the fixture and golden scripts: where transformers computes each
TransformerLens hook point of these two families, which differ from the Llama-like ones in module
names, in fusing q, k and v into one projection, and (GPT-NeoX) in running attention and the MLP in
parallel. Used by make_fixtures.py, make_gradient_goldens.py and make_intervention_goldens.py.

Hook points (as Lantern names them; batch dimension dropped, [n, width] unless said):

* ``hook_embed`` (wte / embed_in output), ``hook_pos_embed`` (GPT-2: wpe output);
  ``blocks.{l}.hook_resid_pre`` = the layer's input (GPT-2 block 0: embed + pos_embed);
* ``ln1.hook_normalized``, ``ln2.hook_normalized``: the LayerNorms' outputs, after their weight and
  bias (ln_1/ln_2; input_layernorm/post_attention_layernorm);
* ``attn.hook_q/k/v``: the fused projection's output (with its bias) split into q, k, v, each
  [n, heads*head_dim] head-major: GPT-2's c_attn output is [q | k | v]; GPT-NeoX's
  query_key_value output is [heads, 3, head_dim] per position;
* ``attn.hook_rot_q/k`` (GPT-NeoX only: GPT-2 has no RoPE): what apply_rotary_pos_emb returns,
  the first rotary_dim dimensions of each head rotated;
* ``attn.hook_pattern`` [heads, n, n], ``attn.hook_z`` (the output projection's input),
  ``hook_attn_out`` (its output, with its bias);
* ``hook_resid_mid`` (GPT-2 only: ln_2's input; a parallel block has none, as in TransformerLens);
* ``mlp.hook_pre`` (c_fc / dense_h_to_4h output), ``mlp.hook_post`` (the GELU's output, the second
  projection's input), ``hook_mlp_out`` (its output, with its bias);
* ``hook_resid_post``, ``ln_final.hook_normalized`` (ln_f / final_layer_norm output), ``logits``.
"""

import torch

GPT_TYPES = ("gpt2", "gpt_neox")


def is_gpt(model_or_config):
    config = getattr(model_or_config, "config", model_or_config)
    return config.model_type in GPT_TYPES


def inner(model):
    return model.transformer if model.config.model_type == "gpt2" else model.gpt_neox


def layers(model):
    return inner(model).h if model.config.model_type == "gpt2" else inner(model).layers


def final_norm(model):
    return inner(model).ln_f if model.config.model_type == "gpt2" else inner(model).final_layer_norm


def embedding(model):
    return inner(model).wte if model.config.model_type == "gpt2" else inner(model).embed_in


def unembedding(model):
    """lm_head (transformers 5 names GPT-NeoX's embed_out so, and saves it as embed_out)."""
    return model.get_output_embeddings()


class Block:
    """One layer's modules under TransformerLens-flavoured names."""

    def __init__(self, layer, model_type):
        gpt2 = model_type == "gpt2"
        self.layer = layer
        self.attn = layer.attn if gpt2 else layer.attention
        self.ln1 = layer.ln_1 if gpt2 else layer.input_layernorm
        self.ln2 = layer.ln_2 if gpt2 else layer.post_attention_layernorm
        self.qkv = self.attn.c_attn if gpt2 else self.attn.query_key_value
        self.out = self.attn.c_proj if gpt2 else self.attn.dense
        self.mlp_in = layer.mlp.c_fc if gpt2 else layer.mlp.dense_h_to_4h
        self.mlp_out = layer.mlp.c_proj if gpt2 else layer.mlp.dense_4h_to_h


def blocks(model):
    return [Block(layer, model.config.model_type) for layer in layers(model)]


def qkv_index(config):
    """For q, k, v: the columns of the fused projection's output [..., 3*hidden] that hold it,
    in Lantern's head-major order."""
    d, heads = config.hidden_size, config.num_attention_heads
    hd = d // heads
    if config.model_type == "gpt2":
        return [torch.arange(part * d, (part + 1) * d) for part in range(3)]
    return [torch.tensor([(h * 3 + part) * hd + j for h in range(heads) for j in range(hd)]) for part in range(3)]


def split_qkv(fused, config):
    """(q, k, v), each [..., heads*head_dim], from the fused projection's output."""
    return tuple(fused[..., index] for index in qkv_index(config))


def add_to_qkv(fused, which, rows_fn, config):
    """The fused output with `rows_fn` applied to the q, k or v part (a copy)."""
    index = qkv_index(config)["qkv".index(which)]
    out = fused.clone()
    out[..., index] = rows_fn(fused[..., index])
    return out


def rope_module(model):
    """The modeling module whose apply_rotary_pos_emb the attention calls (GPT-NeoX), or None."""
    if model.config.model_type != "gpt_neox":
        return None
    from transformers.models.gpt_neox import modeling_gpt_neox
    return modeling_gpt_neox


def register(model, keep, fused_key=lambda l: f"blocks.{l}.attn.hook_qkv"):
    """Forward hooks that hand every hook point's tensor (as transformers made it, batch kept) to
    `keep(name, tensor)`; the fused q/k/v output goes to `fused_key(l)` for the caller to split.
    Returns the handles."""
    handles = []
    gpt2 = model.config.model_type == "gpt2"
    fwd = lambda m, f: handles.append(m.register_forward_hook(f))
    pre = lambda m, f: handles.append(m.register_forward_pre_hook(f, with_kwargs=True))

    def out(key):
        return lambda _m, _a, o: keep(key, o[0] if isinstance(o, tuple) else o)

    def inp(key):
        return lambda _m, args, kwargs: keep(key, args[0] if args else kwargs["hidden_states"])

    fwd(embedding(model), out("hook_embed"))
    if gpt2:
        fwd(inner(model).wpe, out("hook_pos_embed"))
    for l, b in enumerate(blocks(model)):
        p = f"blocks.{l}"
        pre(b.layer, inp(f"{p}.hook_resid_pre"))
        fwd(b.layer, out(f"{p}.hook_resid_post"))
        fwd(b.ln1, out(f"{p}.ln1.hook_normalized"))
        fwd(b.qkv, out(fused_key(l)))
        pre(b.out, inp(f"{p}.attn.hook_z"))
        fwd(b.out, out(f"{p}.hook_attn_out"))
        if gpt2:
            pre(b.ln2, inp(f"{p}.hook_resid_mid"))
        fwd(b.ln2, out(f"{p}.ln2.hook_normalized"))
        fwd(b.mlp_in, out(f"{p}.mlp.hook_pre"))
        pre(b.mlp_out, inp(f"{p}.mlp.hook_post"))
        fwd(b.mlp_out, out(f"{p}.hook_mlp_out"))
    fwd(final_norm(model), out("ln_final.hook_normalized"))
    return handles


def reinit(model, std, gen):
    """Redraw every parameter from `gen`, in name order: LayerNorm weights 1 + N(0, 0.5) and biases
    N(0, std["bias"]); the token and position embeddings N(0, std["embed"]); the fused q/k/v
    N(0, std["qk"]) (larger, so attention is not uniform); other matrices N(0, std["default"]);
    other biases N(0, std["bias"])."""
    with torch.no_grad():
        for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            norm = any(s in name for s in (".ln_", "layernorm", "layer_norm", "ln_f."))
            if norm and name.endswith(".weight"):
                w = 1.0 + torch.randn(p.shape, generator=gen) * 0.5
            elif name.endswith(".bias"):
                w = torch.randn(p.shape, generator=gen) * std["bias"]
            elif any(s in name for s in ("wte.", "wpe.", "embed_in.")):
                w = torch.randn(p.shape, generator=gen) * std["embed"]
            elif "c_attn" in name or "query_key_value" in name:
                w = torch.randn(p.shape, generator=gen) * std["qk"]
            elif p.dim() == 2:
                w = torch.randn(p.shape, generator=gen) * std["default"]
            else:
                raise RuntimeError(f"unexpected parameter {name} {tuple(p.shape)}")
            p.copy_(w.to(p.dtype))


def heads_flat(x):
    """[1, heads, n, d] -> [n, heads*d] (position-major, then heads, then dims)."""
    _, h, n, d = x.shape
    return x[0].transpose(0, 1).reshape(n, h * d)


def run_sequence(model, ids, close):
    """Every hook point of one sequence (batch 1), with self-checks; (activations, diagnostics)."""
    cfg = model.config
    gpt2 = cfg.model_type == "gpt2"
    L, nh = cfg.num_hidden_layers, cfg.num_attention_heads
    hd = cfg.hidden_size // nh
    n = len(ids)
    acts, rope_calls, cos_sin, state = {}, [], {}, {"layer": None}

    def keep(key, t):
        if key in acts:
            raise RuntimeError(f"hook {key} fired twice")
        acts[key] = t[0].detach().clone()

    handles = register(model, keep)
    module = rope_module(model)
    if module is not None:
        original = module.apply_rotary_pos_emb

        def recording(q, k, cos, sin, *a, **kw):
            qe, ke = original(q, k, cos, sin, *a, **kw)
            rope_calls.append((state["layer"], q.detach().clone(), k.detach().clone(), qe.detach().clone(), ke.detach().clone()))
            cos_sin[state["layer"]] = (cos.detach().clone(), sin.detach().clone())
            return qe, ke

        module.apply_rotary_pos_emb = recording
        for l, b in enumerate(blocks(model)):
            handles.append(b.attn.register_forward_pre_hook(lambda _m, _a, l=l: state.__setitem__("layer", l)))
    try:
        with torch.no_grad():
            out = model(input_ids=torch.tensor([ids]), output_hidden_states=True, output_attentions=True, use_cache=False)
    finally:
        if module is not None:
            module.apply_rotary_pos_emb = original
        for h in handles:
            h.remove()
    hs, attns = out.hidden_states, out.attentions
    assert len(hs) == L + 1 and len(attns) == L, (len(hs), len(attns))
    acts["logits"] = out.logits[0].detach().clone()
    embedded = acts["hook_embed"] + (acts["hook_pos_embed"] if gpt2 else 0)
    close(hs[0][0], embedded, 0.0, "hidden_states[0] == embed (+ pos_embed)")
    if not gpt2 and [c[0] for c in rope_calls] != list(range(L)):
        raise AssertionError(f"unexpected apply_rotary_pos_emb calls: {[c[0] for c in rope_calls]}")

    for l in range(L):
        b = f"blocks.{l}"
        q, k, v = split_qkv(acts.pop(f"{b}.attn.hook_qkv"), cfg)
        acts[f"{b}.attn.hook_q"], acts[f"{b}.attn.hook_k"], acts[f"{b}.attn.hook_v"] = q, k, v
        acts[f"{b}.attn.hook_pattern"] = attns[l][0].detach().clone()
        close(hs[l][0], acts[f"{b}.hook_resid_pre"], 0.0, f"hidden_states[{l}] == resid_pre[{l}]")
        if gpt2:
            close(acts[f"{b}.hook_resid_mid"], acts[f"{b}.hook_resid_pre"] + acts[f"{b}.hook_attn_out"], 1e-5,
                  f"{b} resid_mid == resid_pre + attn_out")
            close(acts[f"{b}.hook_resid_post"], acts[f"{b}.hook_resid_mid"] + acts[f"{b}.hook_mlp_out"], 1e-5,
                  f"{b} resid_post == resid_mid + mlp_out")
            q_att, k_att = q, k
        else:
            close(acts[f"{b}.hook_resid_post"], acts[f"{b}.hook_resid_pre"] + acts[f"{b}.hook_attn_out"]
                  + acts[f"{b}.hook_mlp_out"], 1e-5, f"{b} resid_post == resid_pre + attn_out + mlp_out (parallel)")
            _, q_in, k_in, qe, ke = rope_calls[l]
            close(heads_flat(q_in), q, 0.0, f"{b} the rotary function's q is hook_q")
            close(heads_flat(k_in), k, 0.0, f"{b} the rotary function's k is hook_k")
            acts[f"{b}.attn.hook_rot_q"], acts[f"{b}.attn.hook_rot_k"] = heads_flat(qe), heads_flat(ke)
            # RoPE recomputed from the cos/sin the layer received: the first rotary_dim dims rotated by halves.
            cos, sin = cos_sin[l]
            rd = cos.shape[-1]
            assert rd == int(hd * cfg.rope_parameters["partial_rotary_factor"]) and rd < hd, (rd, hd)
            qh = q.view(n, nh, hd).transpose(0, 1)
            rot, rest = qh[..., :rd], qh[..., rd:]
            half = torch.cat((-rot[..., rd // 2:], rot[..., :rd // 2]), dim=-1)
            recomputed = torch.cat((rot * cos[0] + half * sin[0], rest), dim=-1)
            close(heads_flat(recomputed[None]), acts[f"{b}.attn.hook_rot_q"], 1e-6, f"{b} rot_q recomputed")
            q_att, k_att = acts[f"{b}.attn.hook_rot_q"], acts[f"{b}.attn.hook_rot_k"]
        pat = acts[f"{b}.attn.hook_pattern"]
        vh = v.view(n, nh, hd).transpose(0, 1)
        close((pat @ vh).transpose(0, 1).reshape(n, nh * hd), acts[f"{b}.attn.hook_z"], 1e-5, f"{b} z == pattern @ v")
        scores = q_att.view(n, nh, hd).transpose(0, 1) @ k_att.view(n, nh, hd).transpose(0, 1).transpose(1, 2) / hd ** 0.5
        scores = scores.masked_fill(torch.ones(n, n, dtype=torch.bool).triu(1), float("-inf"))
        close(torch.softmax(scores, -1), pat, 1e-5, f"{b} pattern == causal softmax(q k^T / sqrt(d))")
        act = torch.nn.functional.gelu(acts[f"{b}.mlp.hook_pre"], approximate="tanh" if gpt2 else "none")
        close(act, acts[f"{b}.mlp.hook_post"], 1e-6, f"{b} mlp post == gelu(pre)")

    close(hs[L][0], acts["ln_final.hook_normalized"], 0.0, "hidden_states[-1] == ln_final")
    close(acts["ln_final.hook_normalized"] @ unembedding(model).weight.T, acts["logits"], 1e-5, "logits recomputed from ln_final")
    widths = {"mlp.hook_pre": cfg.intermediate_size if not gpt2 else 4 * cfg.hidden_size, "mlp.hook_post": None}
    widths["mlp.hook_post"] = widths["mlp.hook_pre"]
    for key, t in acts.items():
        assert t.dtype == torch.float32, key
        if key.endswith("hook_pattern"):
            assert tuple(t.shape) == (nh, n, n), (key, t.shape)
        elif key == "logits":
            assert tuple(t.shape) == (n, cfg.vocab_size), (key, t.shape)
        else:
            suffix = key.split(".", 2)[2] if key.startswith("blocks.") else key
            assert tuple(t.shape) == (n, widths.get(suffix) or cfg.hidden_size), (key, t.shape)
    raw = acts["logits"]
    diag = dict(raw_logit_std=raw.std().item(),
                resid_post_rms=[round(acts[f"blocks.{l}.hook_resid_post"].pow(2).mean().sqrt().item(), 3) for l in range(L)],
                pattern_max_mean=torch.stack([attns[l][0].max(-1).values.mean() for l in range(L)]).mean().item())
    return acts, diag

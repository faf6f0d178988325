"""TransformerLens's surface over the engine: hook_attn_scores and hook_scale feed the pass (as the
same edits do in transformers), the parameters compose with the cache as TransformerLens's do, the
ActivationCache's residual-stream methods add up to the logits, torch mode, the tokenizer, and a
model whose tokenizer kind Lantern cannot run."""
import json
import shutil

import numpy as np
import pytest

from conftest import FIXTURES, TINY_MODELS, read_safetensors, torch_or_skip

GOLDENS = FIXTURES / "interventions"


def relative(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def scaling(factor, position=None):
    def hook(scale, _point):
        if position is None:
            scale *= factor
        else:
            scale[:, position] *= factor
    return hook


def boost_key0(scores, _point):
    scores[0, 0, :, 0] += 3


@pytest.mark.parametrize("name", TINY_MODELS)
def test_score_and_scale_edits_match_transformers(models, name):
    model = models[name]
    meta = json.loads((GOLDENS / f"{name}.json").read_text())
    golden = read_safetensors(GOLDENS / f"{name}.safetensors")
    tokens, last = meta["tokens"], model.cfg.n_layers - 1
    _, cache = model.run_with_cache(tokens, names_filter=["*.hook_attn_scores", "*.hook_scale"])
    for key, value in golden.items():
        if key.startswith("clean:") and key != "clean:logits":
            got = cache[key[len("clean:"):]][0]
            assert got.shape == value.shape, key
            assert np.array_equal(np.isneginf(got), np.isneginf(value)), key
            finite = np.isfinite(value)
            assert relative(got[finite], value[finite]) <= 1e-5, key
    edits = {"score_boost": ("blocks.1.attn.hook_attn_scores", boost_key0),
             "scale_ln1": ("blocks.0.ln1.hook_scale", scaling(2.0, position=1)),
             "scale_ln2": (f"blocks.{last}.ln2.hook_scale", scaling(1.5)),
             "scale_final": ("ln_final.hook_scale", scaling(0.5))}
    if "blocks.0.ln1.hook_scale" not in model.hook_names:  # OLMo 2: no norms on the branches' inputs
        edits = {"score_boost": edits["score_boost"], "scale_final": edits["scale_final"]}
    clean = np.asarray(model(tokens))[0]
    for edit, hook in edits.items():
        logits = np.asarray(model.run_with_hooks(tokens, fwd_hooks=[hook]))[0]
        assert relative(logits, golden[f"{edit}:logits"]) <= 1e-5, edit
        assert relative(logits, clean) > 1e-3, f"{edit} changes the logits"


@pytest.mark.parametrize("name", ["llama_tiny", "qwen2_tiny", "mistral_tiny"])
def test_parameters_compose_with_the_cache(models, name):
    """Llama-style blocks have no sandwich norms or softcap: each product (plus Qwen 2's q/k/v
    biases; zeros elsewhere) is the next hook exactly."""
    model = models[name]
    cfg = model.cfg
    tokens = [1, 17, 93, 5, 200, 41]
    logits, cache = model.run_with_cache(tokens)
    assert model.W_Q.shape == (cfg.n_layers, cfg.n_heads, cfg.d_model, cfg.d_head)
    assert model.W_K.shape == model.W_Q.shape and model.blocks[0].attn._W_K.shape[0] == cfg.n_key_value_heads
    assert model.W_O.shape == (cfg.n_layers, cfg.n_heads, cfg.d_head, cfg.d_model)
    assert model.W_in.shape == (cfg.n_layers, cfg.d_model, cfg.d_mlp) and model.W_out.shape == (cfg.n_layers, cfg.d_mlp, cfg.d_model)
    assert model.W_U.shape == (cfg.d_model, cfg.d_vocab) and model.W_E.shape == (cfg.d_vocab, cfg.d_model)
    assert model.b_Q.shape == (cfg.n_layers, cfg.n_heads, cfg.d_head) and not model.b_U.any()
    for l in range(cfg.n_layers):
        normed = cache["normalized", l, "ln1"][0]
        q = np.einsum("pd,hde->phe", normed, model.W_Q[l]) + model.b_Q[l]
        assert relative(q, cache["q", l][0]) <= 1e-5
        k = np.einsum("pd,hde->phe", normed, model.W_K[l]) + model.b_K[l]  # one per query head
        assert relative(k[:, ::cfg.n_heads // cfg.n_key_value_heads], cache["k", l][0]) <= 1e-5
        v = np.einsum("pd,hde->phe", normed, model.blocks[l].attn._W_V) + model.blocks[l].attn._b_V
        assert relative(v, cache["v", l][0]) <= 1e-5
        attn_out = np.einsum("phe,hem->pm", cache["z", l][0], model.W_O[l])
        assert relative(attn_out, cache["attn_out", l][0]) <= 1e-5
        normed2 = cache["normalized", l, "ln2"][0]
        assert relative(normed2 @ model.W_gate[l], cache["pre", l][0]) <= 1e-5
        assert relative(normed2 @ model.blocks[l].mlp.W_in, cache["pre_linear", l][0]) <= 1e-5
        assert relative(cache["post", l][0] @ model.W_out[l], cache["mlp_out", l][0]) <= 1e-5
    assert relative(cache["ln_final.hook_normalized"][0] @ model.W_U, logits[0]) <= 1e-5
    assert model.b_Q.any() == (name == "qwen2_tiny"), "Qwen 2's biases are its own, the others' zeros"
    with pytest.raises(ValueError):
        model.W_U[0, 0] = 1.0  # parameters are read-only views
    with pytest.raises(AttributeError, match="RoPE"):
        model.W_pos
    assert model.blocks[2].hook_resid_post.name == "blocks.2.hook_resid_post"
    assert list(model.hook_dict) == model.hook_names
    assert model.hook_dict["blocks.1.attn.hook_attn_scores"].layer() == 1


@pytest.mark.parametrize("name", ["gpt2_tiny", "pythia_tiny"])
def test_gpt_parameters_compose_with_the_cache(models, name):
    """GPT-2 and GPT-NeoX: every projection has its bias, the norms are LayerNorms with a bias (and
    hook_normalized is their output after both, hook_scale TransformerLens's), GPT-2 adds W_pos."""
    model = models[name]
    cfg = model.cfg
    tokens = [1, 17, 93, 5, 200, 41]
    n = len(tokens)
    logits, cache = model.run_with_cache(tokens)
    assert cfg.normalization_type == "LN" and not cfg.gated_mlp
    assert cfg.parallel_attn_mlp == (name == "pythia_tiny")
    assert cfg.positional_embedding_type == ("standard" if name == "gpt2_tiny" else "rotary")
    if name == "gpt2_tiny":
        assert relative(model.W_pos[:n], cache["hook_pos_embed"][0]) == 0
        assert relative(cache["hook_embed"][0] + cache["hook_pos_embed"][0], cache["resid_pre", 0][0]) <= 1e-6
    else:
        assert cfg.rotary_dim == 4
        with pytest.raises(AttributeError, match="RoPE"):
            model.W_pos
    for l in range(cfg.n_layers):
        for ln, read in (("ln1", cache["resid_pre", l][0]), ("ln2", cache["resid_pre" if cfg.parallel_attn_mlp else "resid_mid", l][0])):
            centred = read - read.mean(-1, keepdims=True)
            scale = cache["scale", l, ln][0]
            assert relative(scale, np.sqrt((centred ** 2).mean(-1, keepdims=True) + cfg.eps)) <= 1e-5
            block = model.blocks[l]
            norm = getattr(block, ln)
            assert relative(centred / scale * norm.w + norm.b, cache["normalized", l, ln][0]) <= 1e-5
        normed = cache["normalized", l, "ln1"][0]
        for kind, W, b in (("q", model.W_Q, model.b_Q), ("k", model.W_K, model.b_K), ("v", model.W_V, model.b_V)):
            assert relative(np.einsum("pd,hde->phe", normed, W[l]) + b[l], cache[kind, l][0]) <= 1e-5, kind
        attn_out = np.einsum("phe,hem->pm", cache["z", l][0], model.W_O[l]) + model.b_O[l]
        assert relative(attn_out, cache["attn_out", l][0]) <= 1e-5
        normed2 = cache["normalized", l, "ln2"][0]
        assert relative(normed2 @ model.W_in[l] + model.b_in[l], cache["pre", l][0]) <= 1e-5
        assert relative(cache["post", l][0] @ model.W_out[l] + model.b_out[l], cache["mlp_out", l][0]) <= 1e-5
    assert model.b_O.any() and model.b_in.any() and model.b_out.any()
    assert relative(cache["ln_final.hook_normalized"][0] @ model.W_U, logits[0]) <= 1e-5


@pytest.mark.parametrize("name", TINY_MODELS)
def test_residual_decompositions_add_up_to_the_logits(models, name):
    model = models[name]
    cfg = model.cfg
    tokens = [2, 17, 93, 5, 200, 41, 7]
    logits, cache = model.run_with_cache(tokens)
    # Before Gemma 2's final softcap: the unembedding of the normed residual.
    raw = cache["ln_final.hook_normalized"] @ model.W_U
    if cfg.final_softcap is None:
        assert relative(raw, logits) <= 1e-5

    # A LayerNorm's bias is a constant no component carries: the components add up to the rest.
    layer_norm = cfg.normalization_type == "LN"
    unbiased = raw - (model.ln_final.b @ model.W_U if layer_norm else 0)
    embeds = ["embed", "pos_embed"] if "hook_pos_embed" in model.hook_names else ["embed"]

    accumulated, labels = cache.accumulated_resid(return_labels=True)
    assert labels == [f"{l}_pre" for l in range(cfg.n_layers)] + ["final_post"]
    assert accumulated.shape == (cfg.n_layers + 1, 1, len(tokens), cfg.d_model)
    assert relative(cache.accumulated_resid(apply_ln=True)[-1] @ model.W_U, unbiased) <= 1e-5
    mids = ["0_pre", "1_pre", "2_pre"] if cfg.parallel_attn_mlp else ["0_pre", "0_mid", "1_pre", "1_mid", "2_pre"]
    assert cache.accumulated_resid(layer=2, incl_mid=True, return_labels=True)[1] == mids

    parts, labels = cache.decompose_resid(return_labels=True)
    assert labels[:len(embeds) + 2] == embeds + ["0_attn_out", "0_mlp_out"] and len(labels) == len(embeds) + 2 * cfg.n_layers
    assert relative(parts.sum(0), cache["resid_post", cfg.n_layers - 1]) <= 1e-5
    assert relative((cache.decompose_resid(apply_ln=True) @ model.W_U).sum(0), unbiased) <= 1e-4

    target = tokens[3]
    attrs = cache.logit_attrs(cache.decompose_resid(), tokens=target)
    assert attrs.shape == (len(embeds) + 2 * cfg.n_layers, 1, len(tokens))
    assert relative(attrs.sum(0), unbiased[..., target]) <= 1e-4
    # As in TransformerLens, pos_slice picks the scale; the stack comes already sliced.
    diff = cache.logit_attrs(cache.decompose_resid(pos_slice=-1), tokens=target, incorrect_tokens=tokens[4], pos_slice=-1)
    assert relative(diff.sum(0), (unbiased[..., target] - unbiased[..., tokens[4]])[:, -1]) <= 1e-4

    heads, labels = cache.stack_head_results(incl_remainder=True, return_labels=True)
    assert labels[0] == "L0H0" and labels[-1] == "remainder" and heads.shape[0] == cfg.n_layers * cfg.n_heads + 1
    assert relative(heads.sum(0), cache["resid_post", cfg.n_layers - 1]) <= 1e-5
    per_head = np.einsum("bphe,hem->bphm", cache["z", 1], model.W_O[1])
    assert relative(cache.stack_head_results(layer=2)[cfg.n_heads:], np.moveaxis(per_head, 2, 0)) <= 1e-5

    one = cache.decompose_resid(pos_slice=-1)
    assert one.shape == (len(embeds) + 2 * cfg.n_layers, 1, cfg.d_model)


def test_torch_mode(lantern):
    torch = torch_or_skip()
    model = lantern.Model.load(str(FIXTURES / "gemma2_tiny"), backend="cpu").to_torch()
    tokens = [2, 17, 93, 5]
    logits, cache = model.run_with_cache(tokens)
    assert isinstance(logits, torch.Tensor) and logits.argmax(dim=-1).shape == (1, 4)
    assert isinstance(cache["resid_post", 1], torch.Tensor)
    assert isinstance(cache.accumulated_resid(), torch.Tensor) and isinstance(model.W_Q, torch.Tensor)
    seen = []

    def zero_head(z, hook):
        seen.append(type(z))
        z[:, :, 1, :] = 0.0  # in place, on a tensor, as TransformerLens users write it

    edited = model.run_with_hooks(tokens, fwd_hooks=[("blocks.1.attn.hook_z", zero_head)])
    assert seen == [torch.Tensor] and not torch.equal(edited, logits)
    numpy_model = lantern.Model.load(str(FIXTURES / "gemma2_tiny"), backend="cpu")
    expected = numpy_model.run_with_hooks(tokens, fwd_hooks=[("blocks.1.attn.hook_z",
                                                               lambda z, h: z.__setitem__((slice(None), slice(None), 1), 0))])
    assert np.array_equal(edited.numpy(), expected)
    assert model.to_numpy().run_with_hooks(tokens).__class__ is np.ndarray


def test_tokenizer_and_int64_tokens(lantern):
    from conftest import real_model_or_skip
    model = real_model_or_skip(lantern)
    tokens = model.to_tokens("The reliability of Wikipedia")
    assert tokens.dtype == np.int64
    tok = model.tokenizer
    assert tok.encode("The reliability of Wikipedia") == tokens[0].tolist()
    assert tok.decode(tokens[0], skip_special_tokens=True) == "The reliability of Wikipedia"
    assert tok.convert_ids_to_tokens(int(tokens[0, 1])) == "The"
    assert tok.bos_token_id == tokens[0, 0] and tok("hi", return_tensors="np")["input_ids"].dtype == np.int64


def test_a_unigram_tokenizer_leaves_ids_working(lantern, tmp_path):
    folder = tmp_path / "unigram"
    folder.mkdir()
    for file in ("config.json", "model.safetensors"):
        shutil.copy(FIXTURES / "gemma2_tiny" / file, folder / file)
    (folder / "tokenizer.json").write_text('{"model": {"type": "Unigram", "vocab": [["<pad>", 0.0]]}}')
    model = lantern.Model.load(str(folder), backend="cpu")
    assert model.tokenizer is None and "Unigram" in model.cfg.tokenizer_unavailable
    assert model([2, 5, 9]).shape == (1, 3, model.cfg.d_vocab)
    with pytest.raises(lantern.InvalidArgumentError, match="Unigram"):
        model.to_tokens("hello")


def additive_hooks(model):
    """Every hook point of layer 1 and outside the blocks that the goldens edit by addition (all
    but the attention maps, the scales and hook_result): OLMo 2 has no ln1/ln2, Gemma 3, Qwen 3 and
    OLMo 2 add hook_q_normed/hook_k_normed."""
    skipped = ("attn.hook_pattern", "attn.hook_attn_scores", ".hook_scale", "attn.hook_result")
    return [h for h in model.hook_names
            if (h.startswith("blocks.1.") or not h.startswith("blocks.")) and not h.endswith(skipped)]


def add_at_position_2(x, _point):
    """0.5·sin(1 + j) on column j of position 2, across a per-head hook's heads as they are laid out."""
    flat = x.reshape(x.shape[0], x.shape[1], -1)
    flat[0, 2] += 0.5 * np.sin(np.arange(1, flat.shape[-1] + 1))


@pytest.mark.parametrize("name", TINY_MODELS)
def test_every_hook_edit_matches_transformers(models, name):
    """The same additions as tools/make_intervention_goldens.py makes with torch hooks in transformers."""
    model = models[name]
    tokens = json.loads((GOLDENS / f"{name}.json").read_text())["tokens"]
    golden = read_safetensors(GOLDENS / f"{name}_hooks.safetensors")
    clean = np.asarray(model(tokens))[0]
    assert sorted(f"add:{hook}:logits" for hook in additive_hooks(model)) == sorted(golden), "a golden per hook point"
    for hook in additive_hooks(model):
        logits = np.asarray(model.run_with_hooks(tokens, fwd_hooks=[(hook, add_at_position_2)]))[0]
        assert relative(logits, golden[f"add:{hook}:logits"]) <= 1e-5, hook
        assert relative(logits, clean) > 1e-4, f"{hook} changes the logits"

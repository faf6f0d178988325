"""Every intervention does what it says: an edited attention pattern feeds the pass (as the same edit
does in transformers: the goldens of tools/make_intervention_goldens.py), arrays handed to hooks stay
valid after the hook returns, and a returned array of the wrong shape is refused even when its size fits."""
import json

import numpy as np
import pytest

from conftest import FIXTURES, TINY_MODELS, read_safetensors

GOLDENS = FIXTURES / "interventions"


def relative(a, b) -> float:
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def edit_head(head, row):
    """A hook that rewrites each query's probabilities of one head of a pattern [1, heads, n, keys]."""
    def hook(pattern, _point):
        for q in range(pattern.shape[2]):
            row(pattern[0, head, q])
        return pattern
    return hook


def zero(p):
    p[:] = 0


def bos_only(p):
    p[:] = 0
    p[0] = 1


def uniform(p):
    seen = p > 0
    p[:] = np.where(seen, 1.0 / seen.sum(), 0)


@pytest.mark.parametrize("name", TINY_MODELS)
def test_pattern_edits_match_transformers(models, name):
    model = models[name]
    meta = json.loads((GOLDENS / f"{name}.json").read_text())
    golden = read_safetensors(GOLDENS / f"{name}.safetensors")
    tokens = meta["tokens"]
    clean = np.asarray(model(tokens))[0]
    assert relative(clean, golden["clean:logits"]) <= 1e-5
    edits = {"zero_head": edit_head(1, zero), "bos_only": edit_head(0, bos_only), "uniform": edit_head(0, uniform)}
    for edit, hook in edits.items():
        layer = meta["edits"][edit]["layer"]
        logits = np.asarray(model.run_with_hooks(tokens, fwd_hooks=[(f"blocks.{layer}.attn.hook_pattern", hook)]))[0]
        assert relative(logits, golden[f"{edit}:logits"]) <= 1e-5, edit
        assert relative(logits, clean) > 1e-3, f"{edit} changes the logits"


def test_an_in_place_edit_without_a_return_counts(gemma2):
    tokens = [2, 173, 54, 249, 30]
    clean = np.asarray(gemma2(tokens))

    def ablate(pattern, _point):
        pattern[:, 1] = 0   # no return: TransformerLens users edit in place

    edited = np.asarray(gemma2.run_with_hooks(tokens, fwd_hooks=[("blocks.1.attn.hook_pattern", ablate)]))
    returned = np.asarray(gemma2.run_with_hooks(tokens, fwd_hooks=[("blocks.1.attn.hook_pattern", edit_head(1, zero))]))
    assert np.array_equal(edited, returned)
    assert relative(edited, clean) > 1e-3


def test_a_stored_hook_array_stays_valid(gemma2):
    tokens = [2, 173, 54, 249, 30]
    stored = []
    _, cache = gemma2.run_with_cache(tokens, names_filter=lambda n: n in ("blocks.1.hook_resid_post", "blocks.0.attn.hook_pattern"))
    gemma2.run_with_hooks(tokens, fwd_hooks=[("blocks.1.hook_resid_post", lambda x, _p: stored.append(x)),
                                             ("blocks.0.attn.hook_pattern", lambda x, _p: stored.append(x))])
    # Other passes reuse the freed memory; the stored arrays must not see it.
    for _ in range(3):
        gemma2.run_with_cache([2, 9, 9, 9, 9, 9, 9, 9], names_filter=lambda n: True)
    np.testing.assert_array_equal(stored[0], cache["blocks.0.attn.hook_pattern"])
    np.testing.assert_array_equal(stored[1], cache["blocks.1.hook_resid_post"])


def test_a_transposed_return_of_the_right_size_is_refused(lantern, gemma2):
    with pytest.raises(lantern.ShapeError, match="returned shape"):
        gemma2.run_with_hooks([2, 3, 4], fwd_hooks=[("blocks.0.attn.hook_pattern", lambda x, _p: x.transpose(0, 2, 1, 3))])
    with pytest.raises(lantern.ShapeError, match="returned shape"):
        gemma2.run_with_hooks([2, 3, 4], fwd_hooks=[("blocks.1.hook_resid_post", lambda x, _p: x.transpose(0, 2, 1))])


def test_get_act_name_takes_transformer_lens_arguments(lantern):
    assert lantern.get_act_name("resid_post", 3) == "blocks.3.hook_resid_post"
    assert lantern.get_act_name("normalized", 2, "ln2") == "blocks.2.ln2.hook_normalized"
    assert lantern.get_act_name("embed") == "hook_embed"
    assert lantern.get_act_name("blocks.1.attn.hook_z") == "blocks.1.attn.hook_z"
    with pytest.raises(KeyError, match="needs a layer"):
        lantern.get_act_name("resid_post")


def test_return_types(lantern, gemma2):
    tokens = [2, 173, 54, 249, 30]
    logits = np.asarray(gemma2(tokens))[0].astype(np.float64)
    log_probs = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) - logits.max(-1, keepdims=True)
    expected = -np.mean([log_probs[t, tokens[t + 1]] for t in range(len(tokens) - 1)])
    assert abs(float(gemma2(tokens, return_type="loss")) - expected) < 1e-5
    both_logits, both_loss = gemma2.run_with_hooks(tokens, return_type="both")
    assert np.array_equal(np.asarray(both_logits)[0], logits.astype(np.float32)) and abs(float(both_loss) - expected) < 1e-5
    loss, cache = gemma2.run_with_cache(tokens, names_filter="hook_embed", return_type="loss")
    assert abs(float(loss) - expected) < 1e-5 and "hook_embed" in cache
    assert gemma2(tokens, return_type=None) is None
    for bad in ("losss", "str", 1):
        with pytest.raises(lantern.InvalidArgumentError, match="return_type"):
            gemma2(tokens, return_type=bad)


def test_token_ids_are_not_cast_silently(lantern, gemma2):
    with pytest.raises(lantern.InvalidArgumentError, match="out of range"):
        gemma2(np.array([2, 2**32 + 17], dtype=np.int64))
    with pytest.raises(lantern.InvalidArgumentError, match="integers"):
        gemma2(np.array([2.0, 17.5]))
    with pytest.raises(lantern.InvalidArgumentError, match="out of range"):
        gemma2([2, -1])
    assert np.array_equal(np.asarray(gemma2(np.array([2, 17], dtype=np.int64))), np.asarray(gemma2([2, 17])))


def test_a_nan_written_by_a_hook_is_blamed_on_that_hook(lantern, gemma2):
    def poison(x, _point):
        x[0, 1, 3] = np.nan

    with pytest.raises(lantern.InvalidArgumentError, match=r"blocks\.0\.hook_resid_pre .*position 1"):
        gemma2.run_with_hooks([2, 3, 4], fwd_hooks=[("blocks.0.hook_resid_pre", poison)])
    with pytest.raises(lantern.InvalidArgumentError, match=r"non-finite activation: hook_embed "):
        gemma2.run_with_hooks([2, 3, 4], fwd_hooks=[("hook_embed", poison)])


def test_generation_and_sae_refuse_what_they_cannot_do(lantern, gemma2):
    from conftest import SAE_DIR
    with pytest.raises(lantern.InvalidArgumentError, match="temperature"):
        gemma2.generate([2, 3], max_new_tokens=2, temperature=-1)
    with pytest.raises(lantern.InvalidArgumentError, match="return_type"):
        gemma2.generate([2, 3], max_new_tokens=2, return_type="logits")
    sae = lantern.SAE.load(str(SAE_DIR), model=gemma2)
    x = np.zeros((2, sae.d_in), dtype=np.float32)
    x[1, 3] = np.nan
    with pytest.raises(lantern.InvalidArgumentError, match="finite"):
        sae.encode(x)

"""A steering hook written in Python changes the logits and the generation exactly as Lantern's own
steering (Steering in Swift, `lantern steer` from the CLI) does."""
import numpy as np
import pytest

from conftest import SAE_DIR, cli_json

TOKENS = [2, 173, 54, 249, 30]
FEATURES, STRENGTH = [5, 17], 4.0


@pytest.fixture(scope="module")
def sae(lantern, gemma2):
    return lantern.SAE.load(SAE_DIR, model=gemma2)


def additive(sae, features, strength):
    vector = np.zeros(sae.d_in, dtype=np.float32)
    for f in features:
        vector += np.float32(strength) * sae.W_dec[f]  # Steering's own order: Σ strength·W_dec[f], then x + v

    def hook(activation, hook):
        return activation + vector

    return hook


def test_python_hook_equals_swift_steering_add(lantern, gemma2, sae):
    clean = gemma2(TOKENS)
    python = gemma2.run_with_hooks(TOKENS, fwd_hooks=[(sae.hook_name, additive(sae, FEATURES, STRENGTH))])
    swift = gemma2.run_with_hooks(TOKENS, fwd_hooks=[lantern.Steering(sae, FEATURES, STRENGTH)])
    assert not np.allclose(python, clean), "steering must change the logits"
    assert np.array_equal(python, swift)


def test_python_hook_matches_swift_steering_clamp(lantern, gemma2, sae):
    def clamp(activation, hook):
        acts = sae.encode(activation)
        delta = np.zeros_like(acts)
        delta[..., FEATURES] = STRENGTH - acts[..., FEATURES]
        return activation + delta @ sae.W_dec

    python = gemma2.run_with_hooks(TOKENS, fwd_hooks=[(sae.hook_name, clamp)])
    swift = gemma2.run_with_hooks(TOKENS, fwd_hooks=[lantern.Steering(sae, FEATURES, STRENGTH, mode="clamp")])
    assert not np.allclose(python, gemma2(TOKENS))
    # Same formula; numpy's matmul sums in another order than the backend's.
    np.testing.assert_allclose(python, swift, rtol=0, atol=1e-5)


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_generation_with_a_python_hook_equals_lantern_steer(gemma2, sae, temperature):
    strength = 20.0
    steer = cli_json("steer", "--model", gemma2.cfg.source, "--backend", "cpu", "--sae", SAE_DIR, "--feature",
                     ",".join(map(str, FEATURES)), "--strength", strength, "--token-ids", "2,173,54",
                     "--max-new-tokens", 12, "--temperature", temperature, "--seed", 3, "--promoted", 0, "--json")
    options = dict(max_new_tokens=12, temperature=temperature, seed=3, return_type="tokens")
    baseline = gemma2.generate([2, 173, 54], **options)
    steered = gemma2.generate([2, 173, 54], **options, fwd_hooks=[(sae.hook_name, additive(sae, FEATURES, strength))])
    assert baseline[0, 3:].tolist() == steer["baseline"]
    assert steered[0, 3:].tolist() == steer["steered"]
    assert steer["baseline"] != steer["steered"], "the fixture's steering must change the continuation"


def test_hooks_context_applies_to_every_call_inside(gemma2, sae):
    hook = additive(sae, FEATURES, STRENGTH)
    with gemma2.hooks(fwd_hooks=[(sae.hook_name, hook)]):
        inside = gemma2(TOKENS)
    assert np.array_equal(inside, gemma2.run_with_hooks(TOKENS, fwd_hooks=[(sae.hook_name, hook)]))
    assert np.array_equal(gemma2(TOKENS), gemma2.run_with_hooks(TOKENS)), "the hooks end with the block"


def test_in_place_edits_and_ablation(gemma2):
    def zero_in_place(activation, hook):
        activation[:] = 0

    def zero_returned(activation, hook):
        return np.zeros_like(activation)

    name = "blocks.2.hook_mlp_out"
    a = gemma2.run_with_hooks(TOKENS, fwd_hooks=[(name, zero_in_place)])
    b = gemma2.run_with_hooks(TOKENS, fwd_hooks=[(name, zero_returned)])
    assert np.array_equal(a, b)
    # The cache sees the activation after the hooks, as TransformerLens's does.
    _, cache = gemma2.run_with_cache(TOKENS, fwd_hooks=[(name, zero_returned)], names_filter="blocks.2.hook_mlp_out")
    assert not cache[name].any()


def test_head_hooks_see_transformer_lens_shapes(gemma2):
    seen = {}

    def look(activation, hook):
        seen[hook.name] = (activation.shape, hook.layer())

    gemma2.run_with_hooks(TOKENS, fwd_hooks=[(lambda n: n.startswith("blocks.1.attn."), look)])
    cfg = gemma2.cfg
    assert seen["blocks.1.attn.hook_z"] == ((1, 5, cfg.n_heads, cfg.d_head), 1)
    assert seen["blocks.1.attn.hook_pattern"] == ((1, cfg.n_heads, 5, 5), 1)

"""Every hook of run_with_cache equals what `lantern trace` saves for the same tokens (same engine,
same CPU backend: bitwise), on each tiny fixture model and its GGUF twin."""
import numpy as np
import pytest

from conftest import FIXTURES, TINY_MODELS, read_safetensors, run_cli, sequences


def trace(tmp_path, model, tokens):
    out = tmp_path / "trace.safetensors"
    run_cli("trace", "--model", model, "--backend", "cpu", "--token-ids", ",".join(map(str, tokens)),
            "--hooks", "*", "--out", out)
    return read_safetensors(out)


def assert_cache_matches(model, tokens, saved):
    logits, cache = model.run_with_cache(tokens)
    hooks = [k for k in saved if k != "logits"]
    assert sorted(hooks) == sorted(cache.keys()), "the same hooks, every one of the model's"
    assert len(hooks) == len(model.hook_names)
    for name in hooks:
        got = cache[name]
        assert got.shape[0] == 1, name
        want = saved[name]
        # TransformerLens's shapes split heads; the trace keeps Lantern's rows.
        assert np.array_equal(got[0].reshape(want.shape), want), name
    assert logits.shape == (1,) + saved["logits"].shape
    assert np.array_equal(logits[0], saved["logits"])


@pytest.mark.parametrize("name", TINY_MODELS)
def test_every_hook_equals_the_cli_trace(models, name, tmp_path):
    for tokens in sequences(name):
        assert_cache_matches(models[name], tokens, trace(tmp_path, FIXTURES / name, tokens))


@pytest.mark.parametrize("name", ["tiny-gemma2", "tiny-gemma3", "tiny-llama", "tiny-qwen2", "tiny-qwen3", "tiny-mistral", "tiny-olmo2"])
def test_gguf_models_equal_the_cli_trace(lantern, name, tmp_path):
    path = FIXTURES / "gguf" / f"{name}.gguf"
    tokens = [2, 17, 99, 5, 64, 3, 120, 42]
    assert_cache_matches(lantern.Model.load(str(path), backend="cpu"), tokens, trace(tmp_path, path, tokens))


def test_cache_shapes_follow_transformer_lens(gemma2):
    cfg = gemma2.cfg
    n = 5
    _, cache = gemma2.run_with_cache([2, 173, 54, 249, 30], names_filter=lambda name: "blocks.2" in name)
    assert all(".2." in k for k in cache.keys())
    assert cache["resid_post", 2].shape == (1, n, cfg.d_model)
    assert cache["blocks.2.attn.hook_q"].shape == (1, n, cfg.n_heads, cfg.d_head)
    assert cache["blocks.2.attn.hook_k"].shape == (1, n, cfg.n_key_value_heads, cfg.d_head)
    assert cache["pattern", 2].shape == (1, cfg.n_heads, n, n)
    assert cache["blocks.2.attn.hook_result"].shape == (1, n, cfg.n_heads, cfg.d_model)
    assert cache["normalized", 2, "ln2"].shape == (1, n, cfg.d_model)
    assert cache["blocks.2.mlp.hook_post"].shape == (1, n, cfg.d_mlp)
    # A single prompt's arrays are the library's memory, not copies.
    assert not cache["resid_post", 2].flags["OWNDATA"]


def test_names_filter_globs_and_stop_at_layer(gemma2):
    residual, cache = gemma2.run_with_cache([2, 173, 54], names_filter="blocks.*.hook_resid_post", stop_at_layer=2)
    assert sorted(cache.keys()) == ["blocks.0.hook_resid_post", "blocks.1.hook_resid_post"]
    _, full = gemma2.run_with_cache([2, 173, 54], names_filter=["blocks.1.hook_resid_post", "blocks.0.hook_resid_post"])
    assert np.array_equal(full["blocks.1.hook_resid_post"], cache["blocks.1.hook_resid_post"])
    # As TransformerLens: the residual stream after the blocks that ran, not logits.
    assert np.array_equal(residual, full["blocks.1.hook_resid_post"])
    alone, only = gemma2.run_with_cache([2, 173, 54], names_filter="hook_embed", stop_at_layer=1)
    assert np.array_equal(alone, full["blocks.0.hook_resid_post"]) and list(only.keys()) == ["hook_embed"]
    assert np.array_equal(gemma2([2, 173, 54], stop_at_layer=2), residual)


def test_stop_at_layer_out_of_range_names_the_range(lantern, gemma2):
    for bad in (0, 5, -1, 2.5, True):
        with pytest.raises(lantern.InvalidArgumentError, match=r"stop_at_layer .*expected 1…4"):
            gemma2.run_with_cache([2, 3], stop_at_layer=bad)


def test_the_vulkan_backend_from_python(lantern, gemma2):
    """Shaders are built into the library, so a Python process (argv[0] is python) finds them."""
    try:
        gpu = lantern.Model.load(gemma2.cfg.source, backend="vulkan")
    except lantern.BackendError as error:
        pytest.skip(f"no Vulkan device: {error}")
    tokens = sequences("gemma2_tiny")[1]
    want_logits, want = gemma2.run_with_cache(tokens, names_filter="blocks.*.hook_resid_post")
    logits, cache = gpu.run_with_cache(tokens, names_filter="blocks.*.hook_resid_post")
    scale = np.abs(want_logits).max()
    np.testing.assert_allclose(logits, want_logits, rtol=0, atol=1e-4 * scale)
    for name in want.keys():
        np.testing.assert_allclose(cache[name], want[name], rtol=0, atol=1e-4 * np.abs(want[name]).max())


@pytest.mark.parametrize("name", ["tiny-gemma3", "tiny-llama"])
def test_widened_weights_give_the_same_numbers(lantern, name, tmp_path):
    """Weights kept widened to f32 (`widen_weights=True`) change no number: every hook still equals
    the CLI's trace bitwise, on the pass that widens and on the one that reads the kept panels."""
    path = FIXTURES / "gguf" / f"{name}.gguf"
    tokens = [2, 17, 99, 5, 64, 3, 120, 42, 7, 11]  # ≥ 8 rows: the packed product, which widens
    model = lantern.Model.load(str(path), backend="cpu", widen_weights=True)
    assert model.widened_bytes == 0
    saved = trace(tmp_path, path, tokens)
    assert_cache_matches(model, tokens, saved)
    widened = model.widened_bytes
    assert widened > 0, "the first many-row pass widened the weights"
    assert_cache_matches(model, tokens, saved)
    assert model.widened_bytes == widened, "the second pass reused them"
    assert lantern.Model.load(str(path), backend="cpu").widened_bytes == 0, "off by default"

"""Generation, the lens and SAEs from Python equal the CLI's and the numpy goldens."""
import numpy as np
import pytest

from conftest import FIXTURES, SAE_DIR, cli_json, read_safetensors

SAES = ["gemmascope/layer_1/width_96", "gemmascope_stored/layer_2", "saelens_jumprelu", "saelens_relu_bdec", "saelens_topk"]


@pytest.mark.parametrize("options", [
    {},
    {"temperature": 0.9, "top_k": 20, "top_p": 0.9, "seed": 7},
])
def test_generate_equals_the_cli(models, options):
    model = models["llama_tiny"]
    flags = []
    for key, value in options.items():
        flags += ["--" + key.replace("_", "-"), value]
    cli = cli_json("generate", "--model", model.cfg.source, "--backend", "cpu", "--token-ids", "1,20,30",
                   "--max-new-tokens", 10, *flags, "--json")
    out = model.generate([1, 20, 30], max_new_tokens=10, return_type="tokens", **options)
    assert out[0].tolist() == cli["ids"] + cli["new_ids"]
    pieces = list(model.generate([1, 20, 30], max_new_tokens=10, stream=True, **options))
    streamed = "".join(pieces)
    assert streamed == model.to_string(np.array(cli["new_ids"]))


def test_lens_equals_the_cli(gemma2):
    tokens = [2, 165, 234, 93, 146]
    cli = cli_json("lens", "--model", gemma2.cfg.source, "--backend", "cpu", "--token-ids", ",".join(map(str, tokens)),
                   "--top-k", 3, "--target", 7, "--json")
    lens = gemma2.lens(tokens, top_k=3, target=7)
    assert lens.labels == [layer["label"] for layer in cli["layers"]]
    for row, layer in enumerate(cli["layers"]):
        for pos, cell in enumerate(layer["positions"]):
            assert lens.logit.top_tokens[row, pos].tolist() == [t["id"] for t in cell["top"]]
            np.testing.assert_allclose(lens.logit.top_probs[row, pos], [t["p"] for t in cell["top"]], rtol=1e-6)
            assert lens.logit.target_rank[row, pos] == cell["target_rank"]
    assert lens.logit.answer_ranks.tolist() == cli["answer"]["ranks"]
    assert lens.logit.first_top_row() == cli["answer"]["first_top_row"]


def test_lens_logits_of_the_last_residual_are_the_logits(gemma2):
    logits, cache = gemma2.run_with_cache([2, 165, 234, 93], names_filter="blocks.3.hook_resid_post")
    assert np.array_equal(gemma2.lens_logits(cache["resid_post", 3]), logits)


def test_tuned_lens(gemma2):
    tuned = FIXTURES / "tuned_lens" / "gemma2_tiny"
    tokens = [2, 165, 234, 93, 146]
    cli = cli_json("lens", "--model", gemma2.cfg.source, "--backend", "cpu", "--token-ids", ",".join(map(str, tokens)),
                   "--tuned", tuned, "--json")
    lens = gemma2.lens(tokens, tuned=tuned)
    assert lens.tuned is not None
    assert lens.tuned.answer_ranks.tolist() == cli["tuned"]["answer"]["ranks"]


@pytest.mark.parametrize("name", SAES)
def test_sae_encode_decode_match_the_numpy_goldens(lantern, name):
    expected = read_safetensors(FIXTURES / "sae" / "expected.safetensors")
    sae = lantern.SAE.load(FIXTURES / "sae" / name)
    acts = sae.encode(expected["input"])
    np.testing.assert_allclose(acts, expected[f"{name}:acts"], rtol=0, atol=1e-5 * np.abs(expected[f"{name}:acts"]).max())
    recon = sae.decode(acts)
    want = expected[f"{name}:reconstruction"]
    np.testing.assert_allclose(recon, want, rtol=0, atol=1e-5 * np.abs(want).max())


def test_sae_weights_reproduce_decode(lantern):
    sae = lantern.SAE.load(SAE_DIR)
    assert sae.W_enc.shape == (sae.d_in, sae.d_sae) and sae.W_dec.shape == (sae.d_sae, sae.d_in)
    x = read_safetensors(FIXTURES / "sae" / "expected.safetensors")["input"]
    pre = x @ sae.W_enc + sae.b_enc
    acts = np.where(pre > sae.threshold, np.maximum(pre, 0), 0)
    np.testing.assert_allclose(sae.encode(x), acts, atol=1e-5)
    np.testing.assert_allclose(sae.decode(acts), acts @ sae.W_dec + sae.b_dec, atol=1e-5)
    relu = lantern.SAE.load(FIXTURES / "sae" / "saelens_relu_bdec")
    assert relu.threshold is None


def test_to_torch_without_torch_says_what_to_install(lantern, gemma2):
    try:
        import torch  # noqa: F401
    except ImportError:
        _, cache = gemma2.run_with_cache([2, 3], names_filter="hook_embed")
        with pytest.raises(ImportError, match="pip install torch"):
            cache.to_torch()
        return
    _, cache = gemma2.run_with_cache([2, 3], names_filter="hook_embed")
    assert tuple(cache.to_torch()["hook_embed"].shape) == (1, 2, gemma2.cfg.d_model)


def test_configs_read_as_attributes_and_as_dictionaries(lantern, gemma2):
    assert gemma2.cfg.dtype == "float32" and gemma2.cfg.device == "cpu"
    assert gemma2.cfg["n_layers"] == gemma2.cfg.n_layers == 4 and "d_model" in gemma2.cfg
    sae = lantern.SAE.load(SAE_DIR, model=gemma2)
    assert sae.cfg.d_in == sae.cfg["d_in"] == 64 and sae.cfg.hook_name == sae.hook_name
    assert sae.cfg.get("nothing", 7) == 7 and sae.cfg.to_dict()["d_sae"] == sae.d_sae


def test_remove_batch_dim(gemma2):
    _, cache = gemma2.run_with_cache([2, 5, 9], names_filter="blocks.1.hook_resid_post")
    kept = cache["blocks.1.hook_resid_post"].copy()
    assert cache.remove_batch_dim() is cache
    assert cache["blocks.1.hook_resid_post"].shape == kept.shape[1:]
    assert np.array_equal(cache["blocks.1.hook_resid_post"], kept[0])

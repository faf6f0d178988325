"""The default model (Gemma 3 270M, GGUF) from Python: tokens and activations equal the CLI's.
Skipped when the model is not cached, except in CI (LANTERN_REQUIRE_MODELS=1), where it must run."""
import numpy as np
import pytest

from conftest import cli_json, read_safetensors, real_model_or_skip, run_cli

PROMPT = "The reliability of Wikipedia is very"


@pytest.fixture(scope="module")
def gemma(lantern):
    return real_model_or_skip(lantern)


def test_tokens_equal_the_cli(gemma):
    cli = cli_json("tokenize", "--text", PROMPT, "--json")
    assert gemma.to_tokens(PROMPT)[0].tolist() == cli["ids"]
    assert gemma.to_tokens(PROMPT, prepend_bos=False)[0].tolist() == cli["ids"][1:]
    assert gemma.to_str_tokens(PROMPT)[1:3] == ["The", " reliability"]
    assert gemma.to_string(gemma.to_tokens(PROMPT, prepend_bos=False)) == PROMPT
    assert gemma.to_single_token(" important") == cli_json("tokenize", "--text", " important", "--json")["ids"][-1]


def test_activations_and_the_answer_equal_the_cli(gemma, tmp_path):
    out = tmp_path / "t.safetensors"
    run_cli("trace", "--backend", "cpu", "--prompt", PROMPT, "--hooks", "blocks.3.hook_resid_post",
            "blocks.5.attn.hook_pattern", "--out", out)
    saved = read_safetensors(out)
    logits, cache = gemma.run_with_cache(PROMPT, names_filter=["blocks.3.hook_resid_post", "blocks.5.attn.hook_pattern"])
    assert np.array_equal(cache["resid_post", 3][0], saved["blocks.3.hook_resid_post"])
    assert np.array_equal(cache["pattern", 5][0], saved["blocks.5.attn.hook_pattern"])
    assert np.array_equal(logits[0], saved["logits"])
    assert gemma.to_string([int(logits[0, -1].argmax())]) == " important"


def test_a_list_of_prompts_generates_together_as_each_alone(gemma):
    prompts = [PROMPT, "My favourite place to visit is", "Yesterday"]
    together = gemma.generate(prompts, max_new_tokens=8)
    assert together == [gemma.generate(p, max_new_tokens=8) for p in prompts]
    assert together[0].startswith(PROMPT + " important")
    sampled = gemma.generate(prompts, max_new_tokens=6, temperature=0.8, seed=5, return_type="tokens")
    for prompt, got in zip(prompts, sampled):
        assert got.tolist() == gemma.generate(prompt, max_new_tokens=6, temperature=0.8, seed=5, return_type="tokens").tolist()

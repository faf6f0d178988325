"""Errors arrive as Python exceptions carrying Lantern's own one-line message (the CLI's too)."""
import numpy as np
import pytest

from conftest import FIXTURES, run_cli


def cli_error(*args) -> str:
    done = run_cli(*args, check=False)
    assert done.returncode != 0
    return done.stderr


def test_a_missing_model_is_reported_with_the_cli_message(lantern):
    with pytest.raises(lantern.InvalidArgumentError) as error:
        lantern.Model.load("/no/such/model", backend="cpu")
    assert str(error.value) in cli_error("next", "--model", "/no/such/model", "--backend", "cpu", "--token-ids", "2")


def test_a_token_out_of_range(lantern, gemma2):
    with pytest.raises(lantern.InvalidArgumentError) as error:
        gemma2.run_with_cache([2, 999])
    assert str(error.value) in cli_error("trace", "--model", FIXTURES / "gemma2_tiny", "--backend", "cpu",
                                         "--token-ids", "2,999", "--out", "/dev/null")


def test_malformed_sae_files(lantern, gemma2):
    for bad in ["nan_weights", "wrong_shape", "missing_threshold", "saelens_missing_b_dec"]:
        path = next(p for p in (FIXTURES / "sae" / "malformed" / bad).rglob("*") if p.is_file()).parent
        with pytest.raises(lantern.LanternError) as error:
            lantern.SAE.load(path, model=gemma2)
        assert str(error.value) in cli_error("features", "--model", FIXTURES / "gemma2_tiny", "--backend", "cpu",
                                             "--sae", path, "--token-ids", "2,173")


def test_an_unknown_hook_and_a_bad_backend(lantern, gemma2):
    with pytest.raises(lantern.InvalidArgumentError, match="matches no hook"):
        gemma2.run_with_cache([2, 3], names_filter="blocks.9.hook_resid_post")
    with pytest.raises(lantern.InvalidArgumentError, match="backend 'tpu'"):
        lantern.Model.load(str(FIXTURES / "gemma2_tiny"), backend="tpu")


def test_a_hook_that_raises_raises_its_own_exception(gemma2):
    class Boom(Exception):
        pass

    def hook(activation, hook):
        raise Boom(hook.name)

    with pytest.raises(Boom, match="blocks.1.hook_resid_post"):
        gemma2.run_with_hooks([2, 3, 4], fwd_hooks=[("blocks.1.hook_resid_post", hook)])
    with pytest.raises(Boom):
        gemma2.generate([2, 3, 4], max_new_tokens=3, fwd_hooks=[("blocks.1.hook_resid_post", hook)])
    assert gemma2(np.array([2, 3, 4])).shape == (1, 3, 256), "the model still works afterwards"


def test_a_hook_returning_the_wrong_shape(lantern, gemma2):
    with pytest.raises(lantern.ShapeError, match="returned shape"):
        gemma2.run_with_hooks([2, 3, 4], fwd_hooks=[("blocks.1.hook_resid_post", lambda a, h: a[:, :1])])


def test_text_without_a_tokenizer_and_a_prompt_too_long(lantern, gemma2):
    with pytest.raises(lantern.InvalidArgumentError, match="no tokenizer"):
        gemma2.to_tokens("hello")
    with pytest.raises(lantern.InvalidArgumentError, match="context"):
        gemma2.generate([2, 3], max_new_tokens=gemma2.cfg.n_ctx)

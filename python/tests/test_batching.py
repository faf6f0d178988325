"""Batches with padding (left or right, as TransformerLens) run as one pass and give each prompt its
unpadded run, to summation order (the batch's products take the many-row kernel); padded positions
hold zeros; masks come from the pad token or are given."""
import numpy as np
import pytest

from conftest import sequences


def same(a, b) -> bool:
    """Equal to summation order: within 3e-6 of the largest magnitude (the Swift batch tests' bound)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and float(np.abs(a - b).max()) <= 3e-6 * max(float(np.abs(b).max()), 1e-30)

PROMPTS = sequences("gemma3_tiny")  # 5 and 13 tokens


def padded(model, side):
    rows = [np.array(p, dtype=np.int32) for p in PROMPTS]
    return model._pad(rows, side)


@pytest.mark.parametrize("side", ["right", "left"])
def test_each_row_equals_its_unpadded_run(models, side):
    model = models["gemma3_tiny"]
    tokens, mask = padded(model, side)
    names = ["blocks.1.hook_resid_post", "blocks.2.attn.hook_pattern", "blocks.0.attn.hook_z"]
    logits, cache = model.run_with_cache(tokens, names_filter=names, attention_mask=mask)
    assert logits.shape == (2,) + (tokens.shape[1], model.cfg.d_vocab)
    for r, prompt in enumerate(PROMPTS):
        one_logits, one = model.run_with_cache(prompt, names_filter=names)
        n = len(prompt)
        keep = slice(0, n) if side == "right" else slice(tokens.shape[1] - n, None)
        assert same(logits[r, keep], one_logits[0])
        assert not logits[r][mask[r] == 0].any(), "padded positions hold zeros"
        for name in names:
            if name.endswith("pattern"):
                assert same(cache[name][r][:, keep, keep], one[name][0])
            else:
                assert same(cache[name][r, keep], one[name][0])


def test_the_mask_is_inferred_from_the_pad_token(models):
    model = models["gemma3_tiny"]
    for side in ["right", "left"]:
        tokens, mask = padded(model, side)
        assert np.array_equal(model.get_attention_mask(tokens), mask)
        inferred, _ = model.run_with_cache(tokens, names_filter=[])
        given, _ = model.run_with_cache(tokens, names_filter=[], attention_mask=mask)
        assert np.array_equal(inferred, given)


def test_hooks_run_once_per_prompt_on_its_own_tokens(models):
    model = models["gemma3_tiny"]
    tokens, mask = padded(model, "left")
    calls = []

    def steer(activation, hook):
        calls.append(activation.shape[1])
        return activation + 1.0

    batch = model.run_with_hooks(tokens, fwd_hooks=[("blocks.1.hook_resid_post", steer)], attention_mask=mask)
    assert calls == [len(p) for p in PROMPTS]
    single = model.run_with_hooks(PROMPTS[0], fwd_hooks=[("blocks.1.hook_resid_post", steer)])
    assert same(batch[0, -len(PROMPTS[0]):], single[0])


def test_padding_inside_a_prompt_is_refused(lantern, models):
    model = models["gemma3_tiny"]
    with pytest.raises(lantern.InvalidArgumentError, match="padding"):
        model.run_with_cache([[2, 5, 6], [2, 5, 6]], attention_mask=[[1, 1, 1], [1, 0, 1]])

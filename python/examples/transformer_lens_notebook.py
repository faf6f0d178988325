# %% [markdown]
# # One prompt, TransformerLens-style, on Lantern
#
# A typical TransformerLens + SAELens notebook: tokens, a cached forward pass, the logit lens,
# the residual stream split into its parts, attribution to heads, a head ablated with a hook, the
# attention pattern of the head that matters, an SAE's features at block 6, and steering with one
# of them. Everything between the two `load` markers is the only code that differs from its
# TransformerLens twin (`tools/transformer_lens_twin.py` writes and runs the twin).
#
#     python3 python/examples/transformer_lens_notebook.py        # needs torch, and the model cached
#
# It prints the numbers a reader would look at; `--check` (CI) also asserts what must hold.

# %%
# --- load: Lantern ---
from pathlib import Path

import lantern
from lantern import get_act_name

SAE_FOLDER = Path(__file__).resolve().parents[2] / "saes" / "gemma3-270m-res6-topk4096"
model = lantern.Model.load("gemma3-270m").to_torch()
sae = lantern.SAE.load_from_disk(SAE_FOLDER, model=model)
# --- end load ---

# %%
import sys

import torch

check = "--check" in sys.argv
prompt = "The Eiffel Tower is in the city of"
answer, wrong = " Paris", " London"

tokens = model.to_tokens(prompt)
print(tokens.shape, tokens.dtype, model.to_str_tokens(prompt))
answer_id, wrong_id = model.to_single_token(answer), model.to_single_token(wrong)

# %% [markdown]
# ## A cached forward pass and the model's answer

# %%
logits, cache = model.run_with_cache(tokens)
top = logits[0, -1].argmax(dim=-1)
print("prediction:", repr(model.to_string(top)), "logit diff:", float(logits[0, -1, answer_id] - logits[0, -1, wrong_id]))
if check:
    assert logits.shape == (1, tokens.shape[1], model.cfg.d_vocab)
    assert cache["resid_post", 3].shape == (1, tokens.shape[1], model.cfg.d_model)
    assert cache["blocks.0.attn.hook_pattern"].shape == (1, model.cfg.n_heads, tokens.shape[1], tokens.shape[1])

# %% [markdown]
# ## The logit lens: each layer's residual through the final norm and the unembedding

# %%
accumulated, labels = cache.accumulated_resid(apply_ln=True, pos_slice=-1, return_labels=True)
lens_logits = accumulated @ model.W_U
lens_diff = lens_logits[:, 0, answer_id] - lens_logits[:, 0, wrong_id]
for label, value in list(zip(labels, lens_diff.tolist()))[-6:]:
    print(f"{label:>10}  {value:+.3f}")

# %% [markdown]
# ## The residual stream split into its parts, and what each part says about the answer

# %%
parts, part_labels = cache.decompose_resid(pos_slice=-1, return_labels=True)
part_attrs = cache.logit_attrs(parts, tokens=answer_id, incorrect_tokens=wrong_id, pos_slice=-1)
order = part_attrs[:, 0].abs().argsort(descending=True)
print("largest parts:", [(part_labels[i], round(float(part_attrs[i, 0]), 3)) for i in order[:5].tolist()])
if check:
    # The parts add up to the logit difference (Gemma 3 has no final softcap to bend it).
    total = float(part_attrs.sum())
    assert abs(total - float(logits[0, -1, answer_id] - logits[0, -1, wrong_id])) < 1e-3, total

# %% [markdown]
# ## Attribution to heads, and the head that matters most ablated with a hook

# %%
heads, head_labels = cache.stack_head_results(layer=-1, pos_slice=-1, return_labels=True)
head_attrs = cache.logit_attrs(heads, tokens=answer_id, incorrect_tokens=wrong_id, pos_slice=-1)
best = int(head_attrs[:, 0].argmax())
layer, head = best // model.cfg.n_heads, best % model.cfg.n_heads
print("top heads:", [(head_labels[i], round(float(head_attrs[i, 0]), 3))
                     for i in head_attrs[:, 0].argsort(descending=True)[:3].tolist()])


def ablate_head(z, hook):
    z[:, :, head, :] = 0.0
    return z


ablated = model.run_with_hooks(tokens, fwd_hooks=[(get_act_name("z", layer), ablate_head)])
clean_diff = float(logits[0, -1, answer_id] - logits[0, -1, wrong_id])
ablated_diff = float(ablated[0, -1, answer_id] - ablated[0, -1, wrong_id])
print(f"ablating L{layer}H{head}: logit diff {clean_diff:.3f} -> {ablated_diff:.3f}")
if check:
    assert ablated_diff != clean_diff

pattern = cache["pattern", layer][0, head, -1]
print("it attends to:", repr(model.to_str_tokens(prompt)[int(pattern.argmax())]), f"({float(pattern.max()):.2f})")

# %% [markdown]
# ## An SAE's features at block 6, and steering with one of them

# %%
resid = cache[sae.cfg.hook_name]
feature_acts = sae.encode(resid)
reconstruction = sae.decode(feature_acts)
relative_error = float((reconstruction - resid)[0, 1:].norm() / resid[0, 1:].norm())
top_features = feature_acts[0, -1].topk(5)
print("L0 at the last token:", int((feature_acts[0, -1] > 0).sum()), "relative error:", round(relative_error, 3))
print("top features:", top_features.indices.tolist())
if check:
    assert feature_acts.shape == (1, tokens.shape[1], sae.cfg.d_sae)
    assert relative_error < 1.0

feature = int(top_features.indices[0])
direction = sae.W_dec[feature]


def steer(resid, hook):
    return resid + 100.0 * direction  # the residual's norm here is in the thousands


with model.hooks(fwd_hooks=[(sae.cfg.hook_name, steer)]):
    steered = model.generate(prompt, max_new_tokens=8, do_sample=False, verbose=False)
plain = model.generate(prompt, max_new_tokens=8, do_sample=False, verbose=False)
print("plain:  ", repr(plain))
print("steered:", repr(steered))
if check:
    assert steered.startswith(prompt) and steered != plain

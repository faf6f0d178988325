#!/usr/bin/env python3
"""Loads a Lantern tuned-lens folder with the tuned-lens package, by the call the README gives,
and checks what the package computes against Lantern's goldens: the tiny Gemma 2 fixture's lens
(Tests/Fixtures/tuned_lens/gemma2_tiny) over transformers' own residuals (its reference.safetensors),
every translator's logits against tools/make_tuned_lens_fixtures.py's float64 goldens.

    pip install tuned-lens torch transformers safetensors
    python3 tools/check_tuned_lens_package.py       # prints the worst difference, or fails

tuned-lens 0.2 looks for TransformerLens's HookedTransformer, which TransformerLens 4 removed (its
lookup raises): the script hides transformer_lens from it, as an environment without it would. Its
`Unembed` knows neither Gemma (nor a final softcap), so the lens reads through `ModelHead`, the
model's own norm and lm_head.
"""
import json
import os
import sys

sys.modules["transformer_lens"] = None  # see above

import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402
from tuned_lens.nn.lenses import TunedLens, TunedLensConfig  # noqa: E402
from tuned_lens.nn.unembed import Unembed  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures")


class ModelHead(Unembed):
    """The model's own head — final norm, lm_head, and Gemma 2's final softcap — for the models
    tuned-lens 0.2's `Unembed` does not know (Gemma 2 and 3 among them)."""

    def __init__(self, model):
        torch.nn.Module.__init__(self)
        self.final_norm, self.unembedding = model.model.norm, model.lm_head
        self.cap = getattr(model.config, "final_logit_softcapping", None)
        self.requires_grad_(False)

    def forward(self, h):
        logits = self.unembedding(self.final_norm(h))
        return self.cap * torch.tanh(logits / self.cap) if self.cap else logits


def load_lens(model, folder):
    """The README's call: the package's own classes, our config.json and params.safetensors."""
    config = TunedLensConfig.from_dict(json.load(open(os.path.join(folder, "config.json"))))
    lens = TunedLens(ModelHead(model), config)
    lens.layer_translators.load_state_dict({k: v.float() for k, v in load_file(os.path.join(folder, "params.safetensors")).items()})
    return lens


def main():
    model = AutoModelForCausalLM.from_pretrained(os.path.join(ROOT, "gemma2_tiny"), dtype=torch.float32).eval()
    lens = load_lens(model, os.path.join(ROOT, "tuned_lens", "gemma2_tiny"))
    reference = load_file(os.path.join(ROOT, "gemma2_tiny", "reference.safetensors"))
    golden = load_file(os.path.join(ROOT, "tuned_lens", "gemma2_tiny_golden.safetensors"))
    worst = 0.0
    with torch.no_grad():
        for i in range(len(lens)):
            hook = "hook_embed" if i == 0 else f"blocks.{i - 1}.hook_resid_post"
            logits = lens(reference[f"0:{hook}"].float(), i)
            expected = golden[f"{i}:logits"]
            gap = float((logits - expected).abs().max() / expected.abs().max())
            worst = max(worst, gap)
            assert gap < 1e-5, f"translator {i}: relative gap {gap}"
    print(f"tuned-lens package on Lantern's folder: {len(lens)} translators, worst relative gap {worst:.2e}")


if __name__ == "__main__":
    main()

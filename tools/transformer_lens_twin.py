#!/usr/bin/env python3
"""Runs the TransformerLens-style notebook (python/examples/transformer_lens_notebook.py) twice on the
same weights: as written, on Lantern, and as its TransformerLens twin — the same file with only the
block between its `load` markers replaced — then compares what the two printed, the activations of
one cached pass hook by hook, and the time of `run_with_cache`.

The weights are the default model's own GGUF (gemma-3-270m, Q4_K_M), dequantised by transformers'
GGUF reader into a float32 Gemma3ForCausalLM, and TransformerLens (4.x) wraps that model in a
TransformerBridge in compatibility mode (HookedTransformer's names and numerics). Lantern
dequantises the same file, so both run identical float32 weights. The twin loads the SAE with
Lantern's reader in torch mode (SAELens would read the same folder; the comparison is of the model).

    pip install torch transformers gguf transformer-lens
    python3 tools/transformer_lens_twin.py [--bench-tokens 64] [--runs 5]

Not run by CI (TransformerLens and the dequantised model take ~4 GB and a minute to load); the
Lantern half runs in CI as python/tests/test_notebook.py. The twin runs without the notebook's
`--check` assertions (they are Lantern's); its greedy `generate` through the bridge is compared by
eye (TransformerLens 4.3's bridge repeats one token on this model).
"""
import argparse
import contextlib
import io
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "python" / "examples" / "transformer_lens_notebook.py"
TWIN_LOAD = '''# --- load: TransformerLens ---
from pathlib import Path

import lantern
from transformer_lens.utilities import get_act_name

SAE_FOLDER = Path(__file__).resolve().parents[2] / "saes" / "gemma3-270m-res6-topk4096"
model = twin_model  # a TransformerBridge over the same weights (tools/transformer_lens_twin.py)
sae = lantern.SAE.load_from_disk(SAE_FOLDER).to_torch()
# --- end load ---'''


def transformer_lens_model(gguf: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer, AutoConfig
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    hf = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32).eval()
    hf.config.architectures = ["Gemma3ForCausalLM"]  # the GGUF's config does not name its class
    AutoConfig.from_pretrained = lambda *a, **k: hf.config  # offline: the config is the GGUF's
    from transformer_lens import TransformerBridge
    bridge = TransformerBridge.boot_transformers("google/gemma-3-270m", hf_model=hf, tokenizer=tokenizer, device="cpu")
    bridge.enable_compatibility_mode()
    return bridge


def run_notebook(source: str, extra: dict, check: bool) -> str:
    """Executes a notebook's source (with --check: its assertions, which are Lantern's), returning
    what it printed, and what it raised if it stopped."""
    out = io.StringIO()
    argv, sys.argv = sys.argv, [str(NOTEBOOK)] + (["--check"] if check else [])
    try:
        with contextlib.redirect_stdout(out), torch.no_grad():
            exec(compile(source, str(NOTEBOOK), "exec"), {"__file__": str(NOTEBOOK), "__name__": "__main__", **extra})
    except Exception as error:  # noqa: BLE001 - shown beside the other run's output
        out.write(f"stopped: {type(error).__name__}: {error}\n")
    finally:
        sys.argv = argv
    return out.getvalue()


def numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"[-+]?\d+\.\d+", text)]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bench-tokens", type=int, default=64)
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    torch.set_num_threads(2)
    sys.path.insert(0, str(ROOT / "python"))
    import lantern

    source = NOTEBOOK.read_text()
    start, end = source.index("# --- load: Lantern ---"), source.index("# --- end load ---") + len("# --- end load ---")
    twin_source = source[:start] + TWIN_LOAD + source[end:]
    lantern_model = lantern.Model.load("gemma3-270m", backend="cpu")
    tl = transformer_lens_model(Path(lantern_model.cfg.source))

    ours, theirs = run_notebook(source, {}, check=True), run_notebook(twin_source, {"twin_model": tl}, check=False)
    print("== Lantern\n" + ours + "== TransformerLens (the twin)\n" + theirs)
    a, b = numbers(ours), numbers(theirs)
    if len(a) == len(b):
        print(f"printed numbers: {len(a)}, largest difference {max(abs(x - y) for x, y in zip(a, b)):.2e}")
    else:
        print(f"printed numbers differ in count: {len(a)} and {len(b)}")

    prompt = "The reliability of Wikipedia is very"
    ids = lantern_model.to_tokens(prompt)
    logits_l, cache_l = lantern_model.run_with_cache(ids)
    with torch.no_grad():
        logits_t, cache_t = tl.run_with_cache(torch.from_numpy(ids))
    worst = {}
    for name in cache_l.keys():
        if name not in cache_t.cache_dict or name.endswith("hook_normalized"):  # unfolded here, folded there
            continue
        ours_a, theirs_a = cache_l[name], cache_t[name].detach().numpy()
        if ours_a.shape != theirs_a.shape:
            continue
        finite = np.isfinite(theirs_a)
        err = float(np.abs(ours_a[finite] - theirs_a[finite]).max() / max(np.abs(theirs_a[finite]).max(), 1e-30))
        family = re.sub(r"blocks\.\d+\.", "blocks.*.", name)
        worst[family] = max(worst.get(family, 0.0), err)
    # TransformerLens centers the unembedding (center_unembed): its logits are ours minus each
    # position's mean over the vocabulary, which no softmax or logit difference can see.
    centered = logits_l - logits_l.mean(axis=-1, keepdims=True)
    theirs_logits = logits_t.numpy() - logits_t.numpy().mean(axis=-1, keepdims=True)
    worst["logits (centered)"] = float(np.abs(centered - theirs_logits).max() / np.abs(theirs_logits).max())
    print("worst relative difference per hook (one cached pass):")
    for family, err in sorted(worst.items(), key=lambda kv: -kv[1]):
        print(f"  {family:40s} {err:.2e}")

    def best_of(runs, ids, names, mask=None) -> dict:
        """Best wall time of each side, their runs interleaved so that other load falls on both alike."""
        timings = {"lantern": [], "transformer_lens": []}
        for _ in range(runs):
            t = time.perf_counter()
            lantern_model.run_with_cache(ids, names_filter=names, attention_mask=mask)
            timings["lantern"].append(time.perf_counter() - t)
            t = time.perf_counter()
            with torch.no_grad():
                tl.run_with_cache(torch.from_numpy(ids), names_filter=names)
            timings["transformer_lens"].append(time.perf_counter() - t)
        best = {k: min(v) for k, v in timings.items()}
        return {**best, "ratio": best["transformer_lens"] / best["lantern"]}

    resid_post = lambda name: name.endswith("hook_resid_post")  # noqa: E731
    bench = np.random.default_rng(0).integers(100, 20000, size=(1, args.bench_tokens))
    bench[0, 0] = lantern_model.cfg.bos_token_id
    for label, names in (("every hook", None), ("every hook_resid_post", resid_post)):
        best = best_of(args.runs, bench, names)
        print(f"run_with_cache, {label}, one prompt of {args.bench_tokens} tokens, 2 threads, best of {args.runs}: "
              f"Lantern {best['lantern'] * 1000:.0f} ms, TransformerLens {best['transformer_lens'] * 1000:.0f} ms, "
              f"{best['ratio']:.2f}x")

    # A batch: 32 prompts of 64 tokens as one [32, 64] tensor (TransformerLens pads nothing here;
    # Lantern packs the prompts as rows of one pass), every hook_resid_post and every row's logits.
    batch = np.random.default_rng(1).integers(100, 20000, size=(32, 64))
    batch[:, 0] = lantern_model.cfg.bos_token_id
    best = best_of(max(2, args.runs // 2), batch, resid_post, mask=np.ones_like(batch))
    print(f"run_with_cache, 32 prompts of 64 tokens, every hook_resid_post and the logits, 2 threads: "
          f"Lantern {best['lantern']:.2f} s, TransformerLens {best['transformer_lens']:.2f} s, {best['ratio']:.2f}x")

if __name__ == "__main__":
    main()

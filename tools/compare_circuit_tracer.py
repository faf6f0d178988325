#!/usr/bin/env python3
"""Lantern's attribution graphs against the real circuit-tracer package.

What it does
------------
Builds the same unpruned graph with circuit-tracer (``circuit_tracer.attribute``, its nnsight
backend, float32 on the CPU) and with ``lantern graph --conventions circuit-tracer --adjacency``,
then compares the node sets (active features, logits) and every edge.

* ``--fixture`` (default): the tiny Gemma 3 fixture (Tests/Fixtures/gemma3_tiny, given a word-level
  tokenizer so nnsight can load it) with the seven TopK transcoders of
  Tests/Fixtures/graphs/gemma3_tiny/transcoders. Also writes circuit-tracer's own matrix as
  ``Tests/Fixtures/graphs/gemma3_tiny/circuit_tracer_package.{safetensors,json}`` for the Swift test
  that checks Lantern against it without Python.
* ``--clt``: the same fixture model with a random cross-layer transcoder (JumpReLU, affine skips),
  written as a Gemma Scope 2 folder ``Tests/Fixtures/graphs/gemma3_tiny/clt/params_layer_{i}.safetensors``
  and given to circuit-tracer as its ``CrossLayerTranscoder``; writes ``circuit_tracer_clt.*``.
* ``--real``: the default model (the cached GGUF, dequantised to float32 by transformers and saved
  as a Hugging Face folder under /tmp) with the shipped transcoder set transcoders/gemma3-270m, on
  the demo prompt ("The reliability of Wikipedia is very"). Takes a few minutes on 2 cores.

Transcoders are handed to circuit-tracer as ``SingleLayerTranscoder``s reading ``mlp.hook_in``
(the pre-feedforward norm's output) and writing ``hook_mlp_out``, with W_enc = w_encᵀ, W_skip =
affine_skip_connectionᵀ (as its own Gemma Scope 2 loader does) and Lantern's activation (TopK of
the pre-activations, then ReLU), passed in as a module.

One difference is corrected, and reported: circuit-tracer's nnsight backend reads the token nodes'
gradient at ``model.embed_tokens``'s output, which for Gemma already includes the √d_model scale,
but multiplies it by the unscaled embedding row (``embed_tokens.weight[token]``). Its embedding
edges are therefore √d_model too small (its TransformerLens backend folds the scale into W_E and
has no such gap). The comparison multiplies circuit-tracer's embedding columns by √d_model and says
so; every other edge is compared as circuit-tracer computed it.

Needs ``pip install circuit-tracer`` (0.5.0: transformers ≤ 4.57.3, nnsight 0.6.x with
cloudpickle 3.0) and a release build of Lantern. From the repository root:

    python3 tools/compare_circuit_tracer.py            # the fixture (seconds)
    python3 tools/compare_circuit_tracer.py --clt      # a cross-layer transcoder on the fixture (seconds)
    python3 tools/compare_circuit_tracer.py --real     # the default model (minutes)
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIX = os.path.join(ROOT, "Tests", "Fixtures")
LANTERN = os.path.join(ROOT, ".build", "release", "lantern")
PROMPT = "The reliability of Wikipedia is very"


class TopKReLU(torch.nn.Module):
    """Lantern's TopK: the k largest pre-activations, then ReLU."""

    def __init__(self, k):
        super().__init__()
        self.k = k

    def forward(self, x):
        idx = torch.topk(x, self.k, dim=-1).indices
        out = torch.zeros_like(x)
        out.scatter_(-1, idx, x.gather(-1, idx).clamp(min=0))
        return out


def transcoder_set(folder_root):
    from circuit_tracer.transcoder.single_layer_transcoder import SingleLayerTranscoder, TranscoderSet
    tcs = {}
    for name in sorted(os.listdir(folder_root)):
        folder = os.path.join(folder_root, name)
        cfg = json.load(open(os.path.join(folder, "config.json")))
        layer = int(cfg["hf_hook_point_in"].split(".")[2])
        sd = {k: v.float() for k, v in load_file(os.path.join(folder, "params.safetensors")).items()}
        d, width = sd["w_enc"].shape
        t = SingleLayerTranscoder(d, width, TopKReLU(int(cfg["k"])), layer, skip_connection=True,
                                  device=torch.device("cpu"), dtype=torch.float32)
        t.load_state_dict({"W_enc": sd["w_enc"].T.contiguous(), "W_dec": sd["w_dec"], "b_enc": sd["b_enc"],
                           "b_dec": sd["b_dec"], "W_skip": sd["affine_skip_connection"].T.contiguous()})
        tcs[layer] = t
    return TranscoderSet(tcs, feature_input_hook="mlp.hook_in", feature_output_hook="hook_mlp_out", scan="lantern")


def circuit_tracer_graph(model_dir, transcoders, ids, batch_size):
    from circuit_tracer import ReplacementModel, attribute
    model = ReplacementModel.from_pretrained_and_transcoders(model_dir, transcoders, backend="nnsight",
                                                             device="cpu", dtype=torch.float32)
    started = time.time()
    graph = attribute(torch.tensor(ids), model, batch_size=batch_size, verbose=False)
    print(f"circuit-tracer: {graph.adjacency_matrix.shape[0]} nodes in {time.time() - started:.1f} s "
          f"(batch size {batch_size}, {torch.get_num_threads()} threads)", flush=True)
    return graph


def write_clt(folder, layers, d, width, rng):
    """A random cross-layer transcoder in the Gemma Scope 2 layout (compact w_dec [width, n − i, d])."""
    os.makedirs(folder, exist_ok=True)
    weights = []
    for i in range(layers):
        w = dict(w_enc=rng.uniform(-0.3, 0.3, (d, width)), b_enc=rng.uniform(-0.2, 0.2, width),
                 threshold=rng.uniform(0.05, 0.3, width), w_dec=rng.uniform(-0.2, 0.2, (width, layers - i, d)),
                 b_dec=rng.uniform(-0.5, 0.5, d), affine_skip_connection=rng.uniform(-0.2, 0.2, (d, d)))
        w = {k: torch.tensor(v, dtype=torch.float32).contiguous() for k, v in w.items()}
        save_file(w, os.path.join(folder, f"params_layer_{i}.safetensors"))
        weights.append(w)
    return weights


def clt_for_circuit_tracer(weights, d, width):
    from circuit_tracer.transcoder.cross_layer_transcoder import CrossLayerTranscoder
    n = len(weights)
    clt = CrossLayerTranscoder(n, width, d, activation_function="jump_relu", skip_connection=True, lazy_decoder=False,
                               lazy_encoder=False, feature_input_hook="mlp.hook_in", feature_output_hook="hook_mlp_out",
                               scan="lantern", device=torch.device("cpu"), dtype=torch.float32)
    state = {"W_enc": torch.stack([w["w_enc"].T for w in weights]), "b_enc": torch.stack([w["b_enc"] for w in weights]),
             "b_dec": torch.stack([w["b_dec"] for w in weights]),
             "activation_function.threshold": torch.stack([w["threshold"] for w in weights]).unsqueeze(1),
             "W_skip": torch.stack([w["affine_skip_connection"] for w in weights])}
    for i, w in enumerate(weights):
        state[f"W_dec.{i}"] = w["w_dec"]
    clt.load_state_dict(state)
    return clt


def lantern_graph(model_arg, transcoder_dir, ids, out):
    cmd = [LANTERN, "graph", "--model", model_arg, "--token-ids", ",".join(map(str, ids)), "--transcoders", transcoder_dir,
           "--conventions", "circuit-tracer", "--adjacency", out]
    print("$", " ".join(cmd[:3]), "…", flush=True)
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"lantern graph failed: {run.stderr.strip()}")
    print("  " + run.stdout.strip().replace("\n", "\n  "))
    with safe_open(out, "np") as f:
        meta = f.metadata()
        return {k: f.get_tensor(k) for k in f.keys()}, json.loads(meta["nodes"]), int(meta["feature_count"])


def compare(ct, ct_scale, lantern, lantern_nodes, n_layers):
    """Node sets, then edges: max |Δ| / max |edge| overall and row by row."""
    n_pos = len(ct.input_tokens)
    feats = [f"{l}_{f}_{p}" for l, p, f in ct.active_features.tolist()]
    logits = [f"{n_layers + 1}_{t.vocab_idx}_{n_pos - 1}" for t in ct.logit_targets]
    nf = len(feats)
    assert lantern_nodes[:nf] == feats, "active features differ"
    assert lantern_nodes[len(lantern_nodes) - len(logits):] == logits, "logit nodes differ"
    a = ct.adjacency_matrix.double().numpy().copy()
    emb = slice(nf + n_layers * n_pos, nf + n_layers * n_pos + n_pos)
    a[:, emb] *= ct_scale
    b = lantern["adjacency"].astype(np.float64)
    rows = list(range(nf)) + list(range(a.shape[0] - len(logits), a.shape[0]))
    overall = np.abs(a - b).max() / np.abs(a).max()
    by_row = max(np.abs(a[r] - b[r]).max() / max(np.abs(a[r]).max(), 1e-12) for r in rows)
    blocks = {}
    for name, cols in [("features", slice(0, nf)), ("errors", slice(nf, emb.start)), ("embeddings", emb)]:
        x, y = a[rows][:, cols], b[rows][:, cols]
        blocks[name] = float(np.abs(x - y).max() / max(np.abs(x).max(), 1e-12))
    return dict(nodes=a.shape[0], features=nf, logits=len(logits), edges=int((a != 0).sum()),
                relative_error_overall=float(overall), relative_error_worst_row=float(by_row), by_source=blocks)


def fixture_model(work):
    """The tiny Gemma 3 fixture in a folder nnsight can load (a word-level tokenizer added)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    mdir = os.path.join(work, "gemma3_tiny")
    shutil.copytree(os.path.join(FIX, "gemma3_tiny"), mdir)
    cfg = json.load(open(os.path.join(mdir, "config.json")))
    tok = Tokenizer(models.WordLevel({f"t{i}": i for i in range(cfg["vocab_size"])}, unk_token="t3"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="t2", eos_token="t1", pad_token="t0",
                            unk_token="t3").save_pretrained(mdir)
    return mdir, cfg


def save_reference(ct, ids, scale, stem):
    import circuit_tracer, nnsight, transformers
    out = os.path.join(FIX, "graphs", "gemma3_tiny", stem)
    save_file({"adjacency": ct.adjacency_matrix.float().contiguous()}, out + ".safetensors")
    meta = dict(tokens=ids, features=ct.active_features.tolist(), logit_tokens=[t.vocab_idx for t in ct.logit_targets],
                logit_probabilities=ct.logit_probabilities.tolist(), embedding_scale=scale,
                circuit_tracer_version=circuit_tracer.__version__, nnsight_version=nnsight.__version__,
                transformers_version=transformers.__version__, torch_version=torch.__version__)
    with open(out + ".json", "w") as f:
        json.dump(meta, f, indent=1)
    print(f"wrote {os.path.relpath(out, ROOT)}.{{safetensors,json}}")


def clt(args):
    work = tempfile.mkdtemp(prefix="lantern-ct-clt-")
    mdir, cfg = fixture_model(work)
    ids = json.load(open(os.path.join(FIX, "gemma3_tiny", "reference.json")))["sequences"][0]
    layers, d, width = cfg["num_hidden_layers"], cfg["hidden_size"], 16
    folder = os.path.join(FIX, "graphs", "gemma3_tiny", "clt")
    weights = write_clt(folder, layers, d, width, np.random.default_rng(23))
    ct = circuit_tracer_graph(mdir, clt_for_circuit_tracer(weights, d, width), ids, batch_size=64)
    scale = math.sqrt(d)
    save_reference(ct, ids, scale, "circuit_tracer_clt")
    if os.path.exists(LANTERN):
        lantern, nodes, _ = lantern_graph(os.path.join(FIX, "gemma3_tiny"), folder, ids, os.path.join(work, "lantern.safetensors"))
        print(json.dumps(compare(ct, scale, lantern, nodes, layers), indent=1))
    shutil.rmtree(work)


def fixture(args):
    work = tempfile.mkdtemp(prefix="lantern-ct-")
    mdir, cfg = fixture_model(work)
    ids = json.load(open(os.path.join(FIX, "gemma3_tiny", "reference.json")))["sequences"][0]
    tdir = os.path.join(FIX, "graphs", "gemma3_tiny", "transcoders")
    ct = circuit_tracer_graph(mdir, transcoder_set(tdir), ids, batch_size=64)
    scale = math.sqrt(cfg["hidden_size"])
    save_reference(ct, ids, scale, "circuit_tracer_package")
    if os.path.exists(LANTERN):
        lantern, nodes, _ = lantern_graph(os.path.join(FIX, "gemma3_tiny"), tdir, ids, os.path.join(work, "lantern.safetensors"))
        print(json.dumps(compare(ct, scale, lantern, nodes, cfg["num_hidden_layers"]), indent=1))
    shutil.rmtree(work)


def real(args):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    work = args.work or tempfile.mkdtemp(prefix="lantern-ct-real-")
    mdir = os.path.join(work, "gemma3-270m-hf")
    if not os.path.exists(os.path.join(mdir, "config.json")):
        gguf = os.path.expanduser("~/.cache/lantern/models/gemma-3-270m-q4_k_m.gguf")
        folder, file = os.path.dirname(gguf), os.path.basename(gguf)
        tok = AutoTokenizer.from_pretrained(folder, gguf_file=file)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=file, torch_dtype=torch.float32)
        model.save_pretrained(mdir)
        tok.save_pretrained(mdir)
        del model
    tdir = os.path.join(ROOT, "transcoders", "gemma3-270m")
    # Lantern tokenizes the prompt; circuit-tracer gets the same ids.
    cmd = [LANTERN, "graph", "--prompt", PROMPT, "--transcoders", tdir, "--conventions", "circuit-tracer",
           "--adjacency", os.path.join(work, "lantern.safetensors")]
    print("$ lantern graph --prompt … --conventions circuit-tracer --adjacency …", flush=True)
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"lantern graph failed: {run.stderr.strip()}")
    print("  " + run.stdout.strip().replace("\n", "\n  "))
    with safe_open(os.path.join(work, "lantern.safetensors"), "np") as f:
        meta = f.metadata()
        lantern = {k: f.get_tensor(k) for k in f.keys()}
    nodes, ids = json.loads(meta["nodes"]), json.loads(meta["tokens"])
    cfg = json.load(open(os.path.join(mdir, "config.json")))
    ct = circuit_tracer_graph(mdir, transcoder_set(tdir), ids, batch_size=args.batch_size)
    print(json.dumps(compare(ct, math.sqrt(cfg["hidden_size"]), lantern, nodes, cfg["num_hidden_layers"]), indent=1))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--real", action="store_true", help="the default model and the shipped transcoders")
    p.add_argument("--clt", action="store_true", help="a random cross-layer transcoder on the fixture model")
    p.add_argument("--work", help="folder for the Hugging Face copy of the default model (kept between runs)")
    p.add_argument("--batch-size", type=int, default=128)
    args = p.parse_args()
    real(args) if args.real else clt(args) if args.clt else fixture(args)


if __name__ == "__main__":
    main()

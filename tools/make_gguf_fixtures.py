#!/usr/bin/env python3
"""Tiny random GGUF models (Gemma 2, Gemma 3, Llama) with goldens from transformers, and GGUFs of
the Llama-like fixtures (Qwen 2, Qwen 3, Mistral, OLMo 2) that Lantern must run as it runs their
safetensors.

Each model is made in transformers (fixed seed, float32, norm gains large enough to matter),
written to GGUF the way llama.cpp's converter does it (Gemma norms stored as 1 + w, Llama q/k rows
permuted, tied embeddings without output.weight) with its matrices quantised to a mix of types
(Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, F16, BF16, F32), then loaded BACK from that GGUF by transformers
(dequantised to float32, eager attention) for the golden logits. So the goldens test Lantern's
whole GGUF path: metadata → config, name mapping, shapes, dequantisation, norms, RoPE pairing.

The Llama-like fixtures (Tests/Fixtures/{qwen2,qwen3,mistral,olmo2}_tiny, tools/make_fixtures.py)
are written as llama.cpp's converter (convert_hf_to_gguf.py) writes those architectures:
architectures qwen2, qwen3, olmo2 and, for Mistral, llama; tensor names from the `gguf` package's
TensorNameMap for the architecture (the converter's own mapping; Qwen 2's biases as
blk.N.attn_{q,k,v}.bias); the metadata keys its TextModel and model classes add (head_dim as
attention.key_length/value_length where the config has one; vocab_size and rope.dimension_count
for llama); q/k rows permuted for llama only (llama.cpp rotates halves, NEOX, for qwen2, qwen3 and
olmo2); norm gains as they are (only Gemma's get + 1); every tensor F32, so the GGUF run must equal
the safetensors run to summation order. One addition: tiny-mistral.gguf carries
`llama.attention.sliding_window` (4), which llama.cpp's converter does not write for Mistral (and
llama.cpp runs such files with full attention); without it the fixture's window could not bite.
Each file is checked here: every tensor name is one of gguf's MODEL_TENSORS for its architecture,
and where transformers can load the architecture from GGUF (qwen2 and qwen3 given the fixture's
config.json, since its GGUF loader keeps Qwen3Config's default head_dim; Mistral as the Llama it is
written as, without a window, at the positions the window does not reach) its logits equal the
fixture's reference.

GPT-2 and Pythia (gpt2_tiny, pythia_tiny) likewise, as architectures gpt2 and gptneox
(write_gpt_gguf says what the converter does to them); transformers reads gpt2 back, and its
logits equal the fixture's reference.

    python3 tools/make_gguf_fixtures.py [--out Tests/Fixtures/gguf] [--fixtures Tests/Fixtures]
"""
import argparse, json, os
import numpy as np
import torch
import gguf
from gguf import GGMLQuantizationType as T
from transformers import (AutoConfig, AutoModelForCausalLM, Gemma2Config, Gemma2ForCausalLM, Gemma3TextConfig,
                          Gemma3ForCausalLM, LlamaConfig, LlamaForCausalLM)

TOKENS = [2, 17, 99, 5, 64, 3, 120, 42, 7, 88]
MATRIX_TYPES = [T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.F16, T.BF16, T.F32]


def make(family):
    torch.manual_seed({"gemma2": 1, "gemma3": 2, "llama": 3}[family])
    common = dict(vocab_size=128, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                  num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64,
                  rms_norm_eps=1e-6, bos_token_id=2, eos_token_id=1, pad_token_id=0)
    if family == "gemma2":
        # transformers' GGUF loader keeps Gemma2Config's query_pre_attn_scalar (256): head_dim 256 agrees.
        cfg = Gemma2Config(**common, head_dim=256, sliding_window=4, rope_theta=10000.0,
                           attn_logit_softcapping=50.0, final_logit_softcapping=30.0, query_pre_attn_scalar=256)
        model = Gemma2ForCausalLM(cfg)
    elif family == "gemma3":
        # Likewise Gemma3TextConfig's query_pre_attn_scalar (256); with 2 layers both slide (the
        # GGUF loader's default pattern is 6), the real Gemma 3 test covers global layers.
        cfg = Gemma3TextConfig(**common, head_dim=256, sliding_window=4, query_pre_attn_scalar=256,
                               layer_types=["sliding_attention", "sliding_attention"])
        model = Gemma3ForCausalLM(cfg)
    else:
        cfg = LlamaConfig(**common, rope_theta=10000.0, tie_word_embeddings=False)
        model = LlamaForCausalLM(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(torch.randn_like(p) * 0.5 + (0.0 if family != "llama" else 1.0))
            else:
                p.copy_(torch.randn_like(p) * 0.08)
    return model.eval(), cfg


def permute(w, heads):
    # llama.cpp's convert_hf_to_gguf permute: rotate-half pairs → neighbouring pairs.
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


GEMMA_NAMES = {"input_layernorm": "attn_norm", "post_attention_layernorm": "post_attention_norm",
               "pre_feedforward_layernorm": "ffn_norm", "post_feedforward_layernorm": "post_ffw_norm"}
COMMON = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
          "self_attn.o_proj": "attn_output", "self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm",
          "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}


def gguf_name(hf, family):
    if hf == "model.embed_tokens.weight": return "token_embd.weight"
    if hf == "model.norm.weight": return "output_norm.weight"
    if hf == "lm_head.weight": return "output.weight"
    parts = hf.split(".")
    layer, rest = parts[2], ".".join(parts[3:-1])
    table = dict(COMMON, **(GEMMA_NAMES if family != "llama" else
                            {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm"}))
    return f"blk.{layer}.{table[rest]}.weight"


def write_gguf(path, model, cfg, family):
    w = gguf.GGUFWriter(path, family)
    a = family
    w.add_uint32(f"{a}.context_length", cfg.max_position_embeddings)
    w.add_uint32(f"{a}.embedding_length", cfg.hidden_size)
    w.add_uint32(f"{a}.block_count", cfg.num_hidden_layers)
    w.add_uint32(f"{a}.feed_forward_length", cfg.intermediate_size)
    w.add_uint32(f"{a}.attention.head_count", cfg.num_attention_heads)
    w.add_uint32(f"{a}.attention.head_count_kv", cfg.num_key_value_heads)
    w.add_float32(f"{a}.attention.layer_norm_rms_epsilon", cfg.rms_norm_eps)
    w.add_float32(f"{a}.rope.freq_base", 10000.0 if family != "gemma3" else 1000000.0)
    if family != "llama":
        w.add_uint32(f"{a}.attention.key_length", cfg.head_dim)
        w.add_uint32(f"{a}.attention.value_length", cfg.head_dim)
        w.add_uint32(f"{a}.attention.sliding_window", cfg.sliding_window)
    else:
        w.add_uint32(f"{a}.vocab_size", cfg.vocab_size)
        w.add_uint32(f"{a}.rope.dimension_count", cfg.hidden_size // cfg.num_attention_heads)
    if family == "gemma2":
        w.add_float32(f"{a}.attn_logit_softcapping", 50.0)
        w.add_float32(f"{a}.final_logit_softcapping", 30.0)
    # A minimal tokenizer block (transformers reads the vocabulary size from it).
    w.add_string("tokenizer.ggml.model", "llama" if family != "llama" else "gpt2")
    tokens = [f"<t{i}>" for i in range(cfg.vocab_size)]
    w.add_array("tokenizer.ggml.tokens", tokens)
    w.add_array("tokenizer.ggml.scores", [0.0] * cfg.vocab_size)
    w.add_array("tokenizer.ggml.token_type", [1] * cfg.vocab_size)
    if family == "llama":
        w.add_array("tokenizer.ggml.merges", ["<t1> <t2>"])
    w.add_uint32("tokenizer.ggml.bos_token_id", 2)
    w.add_uint32("tokenizer.ggml.eos_token_id", 1)
    w.add_uint32("tokenizer.ggml.padding_token_id", 0)
    i = 0
    for hf, p in model.state_dict().items():
        if hf == "lm_head.weight" and cfg.tie_word_embeddings:
            continue
        x = p.detach().numpy().astype(np.float32)
        if family == "llama" and "q_proj" in hf:
            x = permute(x, cfg.num_attention_heads)
        if family == "llama" and "k_proj" in hf:
            x = permute(x, cfg.num_key_value_heads)
        if family != "llama" and "norm" in hf:
            x = x + 1
        name = gguf_name(hf, family)
        if x.ndim == 1:
            w.add_tensor(name, x)
            continue
        qtype = MATRIX_TYPES[i % len(MATRIX_TYPES)]
        i += 1
        if qtype == T.F32:
            w.add_tensor(name, x)
        elif qtype == T.F16:
            w.add_tensor(name, x.astype(np.float16))
        else:
            w.add_tensor(name, gguf.quants.quantize(x, qtype), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


LLAMA_LIKE = {"qwen2_tiny": "qwen2", "qwen3_tiny": "qwen3", "mistral_tiny": "llama", "olmo2_tiny": "olmo2"}


def write_fixture_gguf(folder, arch, path):
    """The fixture at `folder` as llama.cpp's converter writes architecture `arch` (F32 tensors)."""
    from safetensors.numpy import load_file
    cfg = json.load(open(os.path.join(folder, "config.json")))
    tensors = load_file(os.path.join(folder, "model.safetensors"))
    layers, heads, kv = cfg["num_hidden_layers"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    head_dim = cfg.get("head_dim") or cfg["hidden_size"] // heads
    model_arch = next(a for a, n in gguf.MODEL_ARCH_NAMES.items() if n == arch)
    names = gguf.get_tensor_name_map(model_arch, layers)
    allowed = {gguf.TENSOR_NAMES[t].format(bid=b) for t in gguf.MODEL_TENSORS[model_arch] for b in range(layers)}
    w = gguf.GGUFWriter(path, arch)
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_block_count(layers)
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_rope_freq_base(cfg["rope_parameters"]["rope_theta"])
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    if "head_dim" in cfg and cfg["head_dim"] is not None:  # TextModel writes it when the config has it
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)
    if arch == "llama":  # LlamaModel.set_gguf_parameters
        w.add_vocab_size(cfg["vocab_size"])
        w.add_rope_dimension_count(head_dim)
        if cfg.get("sliding_window"):
            w.add_sliding_window(cfg["sliding_window"])  # Lantern's addition (see the docstring)
    w.add_string("tokenizer.ggml.model", "gpt2")
    w.add_array("tokenizer.ggml.tokens", [f"<t{i}>" for i in range(cfg["vocab_size"])])
    w.add_array("tokenizer.ggml.token_type", [1] * cfg["vocab_size"])
    w.add_array("tokenizer.ggml.merges", ["<t1> <t2>"])
    w.add_uint32("tokenizer.ggml.bos_token_id", cfg["bos_token_id"])
    w.add_uint32("tokenizer.ggml.eos_token_id", cfg["eos_token_id"])
    for hf, x in sorted(tensors.items()):
        x = x.astype(np.float32)
        if arch == "llama" and hf.endswith(("q_proj.weight", "q_proj.bias")):
            x = permute(x, heads)
        if arch == "llama" and hf.endswith(("k_proj.weight", "k_proj.bias")):
            x = permute(x, kv)
        name = names.get_name(hf, try_suffixes=(".weight", ".bias"))
        assert name is not None and name.rsplit(".", 1)[0] in allowed, f"{arch}: {hf} -> {name} is not a {arch} tensor"
        w.add_tensor(name, x)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return cfg


GPT = {"gpt2_tiny": "gpt2", "pythia_tiny": "gptneox"}


def write_gpt_gguf(folder, arch, path, quantized=False):
    """GPT-2 or Pythia as llama.cpp's converter writes them (GPT2Model, GPTNeoXModel): GPT-2's
    Conv1D matrices transposed to [out, in] and its token embedding written again as output
    (it is tied), feed_forward_length 4 * n_embd; GPT-NeoX's query_key_value rows regrouped from
    [heads, 3, head_dim] to q, k, v, rope.dimension_count int(rotary_pct * head_dim) and
    use_parallel_residual; the LayerNorm epsilon as attention.layer_norm_epsilon. F32 throughout,
    or with `quantized` every block matrix Q8_0 (the fused attn_qkv is then split by rows of
    blocks)."""
    from safetensors.numpy import load_file
    cfg = json.load(open(os.path.join(folder, "config.json")))
    tensors = load_file(os.path.join(folder, "model.safetensors"))
    gpt2 = arch == "gpt2"
    layers = cfg["n_layer"] if gpt2 else cfg["num_hidden_layers"]
    hidden = cfg["n_embd"] if gpt2 else cfg["hidden_size"]
    heads = cfg["n_head"] if gpt2 else cfg["num_attention_heads"]
    model_arch = next(a for a, n in gguf.MODEL_ARCH_NAMES.items() if n == arch)
    names = gguf.get_tensor_name_map(model_arch, layers)
    allowed = {gguf.TENSOR_NAMES[t].format(bid=b) for t in gguf.MODEL_TENSORS[model_arch] for b in range(layers)}
    w = gguf.GGUFWriter(path, arch)
    w.add_block_count(layers)
    w.add_embedding_length(hidden)
    w.add_head_count(heads)
    if gpt2:
        w.add_context_length(cfg["n_positions"])
        w.add_feed_forward_length(4 * hidden)
        w.add_layer_norm_eps(cfg["layer_norm_epsilon"])
    else:
        w.add_context_length(cfg["max_position_embeddings"])
        w.add_feed_forward_length(cfg["intermediate_size"])
        w.add_rope_dimension_count(int(cfg["rope_parameters"]["partial_rotary_factor"] * (hidden // heads)))
        w.add_parallel_residual(cfg.get("use_parallel_residual", True))
        w.add_layer_norm_eps(cfg["layer_norm_eps"])
    w.add_string("tokenizer.ggml.model", "gpt2")
    w.add_array("tokenizer.ggml.tokens", [f"<t{i}>" for i in range(cfg["vocab_size"])])
    w.add_array("tokenizer.ggml.token_type", [1] * cfg["vocab_size"])
    w.add_array("tokenizer.ggml.merges", ["<t1> <t2>"])
    w.add_uint32("tokenizer.ggml.bos_token_id", cfg["bos_token_id"])
    w.add_uint32("tokenizer.ggml.eos_token_id", cfg["eos_token_id"])
    hd = hidden // heads
    for hf, x in sorted(tensors.items()):
        x = x.astype(np.float32)
        if gpt2 and hf.endswith((".c_attn.weight", ".c_proj.weight", ".c_fc.weight")):
            x = np.ascontiguousarray(x.T)
        if not gpt2 and hf.endswith("query_key_value.weight"):
            x = x.reshape(heads, 3, hd, hidden)
            x = np.concatenate([x[:, part].reshape(-1, hidden) for part in range(3)])
        if not gpt2 and hf.endswith("query_key_value.bias"):
            x = x.reshape(heads, 3, hd)
            x = np.concatenate([x[:, part].reshape(-1) for part in range(3)])
        name = names.get_name(hf, try_suffixes=(".weight", ".bias"))
        assert name is not None and name.rsplit(".", 1)[0] in allowed, f"{arch}: {hf} -> {name} is not a {arch} tensor"
        if quantized and name.startswith("blk.") and name.endswith(".weight") and x.ndim == 2:
            w.add_tensor(name, gguf.quants.quantize(x, T.Q8_0), raw_dtype=T.Q8_0)
        else:
            w.add_tensor(name, x)
        if gpt2 and name == "token_embd.weight":
            w.add_tensor("output.weight", x)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return cfg


def check_with_transformers(out, path, folder, arch, cfg):
    """Where transformers reads the architecture from GGUF, its logits for the fixture's sequences
    equal the fixture's reference (Mistral's only where its window does not reach)."""
    if arch in ("olmo2", "gptneox"):
        return f"transformers has no GGUF loader for {arch}"
    from safetensors.numpy import load_file
    reference = load_file(os.path.join(folder, "reference.safetensors"))
    sequences = json.load(open(os.path.join(folder, "reference.json")))["sequences"]
    # Qwen: the fixture's own config, as transformers' GGUF loader keeps Qwen3Config's default
    # head_dim (128) whatever attention.key_length says; what this checks is the tensors (names,
    # Qwen 2's biases). Mistral: read as the Llama it is written as, which has no window, so only
    # the positions the window does not reach can agree. Lantern's test checks the metadata.
    # GPT-2: the fixture's own config too, as the GGUF loader sizes wpe by n_positions' default
    # (1024) whatever context_length says.
    config = None if arch == "llama" else AutoConfig.from_pretrained(folder)
    reach = cfg.get("sliding_window") if arch == "llama" else None
    back = AutoModelForCausalLM.from_pretrained(out, gguf_file=os.path.basename(path), config=config,
                                                dtype=torch.float32, attn_implementation="eager").eval()
    worst = 0.0
    for s, ids in enumerate(sequences):
        with torch.no_grad():
            logits = back(torch.tensor([ids])).logits[0].numpy()[:reach]
        expected = reference[f"{s}:logits"][:reach]
        worst = max(worst, float(np.abs(logits - expected).max() / np.abs(expected).max()))
    assert worst <= 1e-5, f"{path}: transformers' logits from the GGUF differ from the reference by {worst}"
    return f"transformers reads it back: logits within {worst:.1e} of the reference"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="Tests/Fixtures/gguf")
    ap.add_argument("--fixtures", default="Tests/Fixtures")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for fixture, arch in list(LLAMA_LIKE.items()) + list(GPT.items()):
        folder = os.path.join(args.fixtures, fixture)
        path = os.path.join(args.out, fixture.replace("_tiny", "").join(["tiny-", ".gguf"]))
        cfg = (write_gpt_gguf if fixture in GPT else write_fixture_gguf)(folder, arch, path)
        print(fixture, "->", path, os.path.getsize(path), "bytes;", check_with_transformers(args.out, path, folder, arch, cfg))
    # GPT-2 with Q8_0 block matrices: the fused attn_qkv split into quantised q, k, v; golden
    # logits from transformers reading the same file back (dequantised).
    folder, path = os.path.join(args.fixtures, "gpt2_tiny"), os.path.join(args.out, "tiny-gpt2-q8_0.gguf")
    write_gpt_gguf(folder, "gpt2", path, quantized=True)
    back = AutoModelForCausalLM.from_pretrained(args.out, gguf_file=os.path.basename(path), config=AutoConfig.from_pretrained(folder),
                                                dtype=torch.float32, attn_implementation="eager").eval()
    ids = json.load(open(os.path.join(folder, "reference.json")))["sequences"][1]
    with torch.no_grad():
        logits = back(torch.tensor([ids])).logits[0]
    with open(os.path.join(args.out, "tiny-gpt2-q8_0.json"), "w") as f:
        json.dump({"tokens": ids, "vocab": back.config.vocab_size, "logits": [round(float(v), 6) for v in logits.reshape(-1)]}, f)
        f.write("\n")
    print("gpt2 Q8_0", os.path.getsize(path), "bytes", sorted({t.tensor_type.name for t in gguf.GGUFReader(path).tensors}))
    for family in ["gemma2", "gemma3", "llama"]:
        model, cfg = make(family)
        path = os.path.join(args.out, f"tiny-{family}.gguf")
        write_gguf(path, model, cfg, family)
        back = AutoModelForCausalLM.from_pretrained(args.out, gguf_file=os.path.basename(path),
                                                    dtype=torch.float32, attn_implementation="eager").eval()
        with torch.no_grad():
            logits = back(torch.tensor([TOKENS])).logits[0]
        with open(os.path.join(args.out, f"tiny-{family}.json"), "w") as f:
            json.dump({"tokens": TOKENS, "vocab": cfg.vocab_size,
                       "logits": [round(float(v), 6) for v in logits.reshape(-1)]}, f)
            f.write("\n")
        types = {t.tensor_type.name for t in gguf.GGUFReader(path).tensors}
        print(family, os.path.getsize(path), "bytes", sorted(types), back.config.model_type)


if __name__ == "__main__":
    main()

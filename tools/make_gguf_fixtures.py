#!/usr/bin/env python3
"""Tiny random GGUF models (Gemma 2, Gemma 3, Llama) with goldens from transformers.

Each model is made in transformers (fixed seed, float32, norm gains large enough to matter),
written to GGUF the way llama.cpp's converter does it (Gemma norms stored as 1 + w, Llama q/k rows
permuted, tied embeddings without output.weight) with its matrices quantised to a mix of types
(Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, F16, BF16, F32), then loaded BACK from that GGUF by transformers
(dequantised to float32, eager attention) for the golden logits. So the goldens test Lantern's
whole GGUF path: metadata → config, name mapping, shapes, dequantisation, norms, RoPE pairing.

    python3 tools/make_gguf_fixtures.py [--out Tests/Fixtures/gguf]
"""
import argparse, json, os
import numpy as np
import torch
import gguf
from gguf import GGMLQuantizationType as T
from transformers import (AutoModelForCausalLM, Gemma2Config, Gemma2ForCausalLM, Gemma3TextConfig,
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="Tests/Fixtures/gguf")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
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

"""The tiny models tools/make_fixtures.py builds, one spec per family: the transformers config
and class, the modeling module whose apply_rotary_pos_emb the recorder wraps, the sequence
lengths, the standard deviations `reinit` draws parameters with, and whether the checkpoint is
sharded. make_fixtures.py's docstring says what each model covers."""

from transformers import (
    Gemma2Config,
    Gemma2ForCausalLM,
    Gemma3ForCausalLM,
    Gemma3TextConfig,
    GPT2Config,
    GPT2LMHeadModel,
    GPTNeoXConfig,
    GPTNeoXForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    Olmo2Config,
    Olmo2ForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)
from transformers.models.gemma2 import modeling_gemma2
from transformers.models.gemma3 import modeling_gemma3
from transformers.models.gpt2 import modeling_gpt2
from transformers.models.gpt_neox import modeling_gpt_neox
from transformers.models.llama import modeling_llama
from transformers.models.mistral import modeling_mistral
from transformers.models.olmo2 import modeling_olmo2
from transformers.models.qwen2 import modeling_qwen2
from transformers.models.qwen3 import modeling_qwen3


def gemma2_spec():
    config = Gemma2Config(
        vocab_size=256,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        query_pre_attn_scalar=24,
        sliding_window=8,
        attn_logit_softcapping=2.0,
        final_logit_softcapping=3.0,
        rope_theta=10000,
        rms_norm_eps=1e-6,
        max_position_embeddings=64,
        hidden_activation="gelu_pytorch_tanh",
        tie_word_embeddings=True,
        bos_token_id=2,
        eos_token_id=1,
        pad_token_id=0,
        attn_implementation="eager",
    )
    return dict(
        name="gemma2_tiny",
        family="gemma",
        config=config,
        cls=Gemma2ForCausalLM,
        module=modeling_gemma2,
        lengths=(5, 13),
        # q/k and the (tied) embedding are drawn larger than the rest so that the
        # attention softcap (2.0) and the final logit softcap (3.0) are well into
        # tanh's non-linear range without saturating everything.
        std=dict(default=0.08, qk=0.14, embed=0.2),
        shard=None,
    )


def gemma3_spec():
    config = Gemma3TextConfig(
        vocab_size=256,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=7,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        query_pre_attn_scalar=24,
        sliding_window=4,
        # transformers >= 5 keeps per-layer-type RoPE in `rope_parameters`
        # (legacy kwargs rope_theta / rope_local_base_freq map onto the same dict).
        rope_parameters={
            "full_attention": {"rope_type": "default", "rope_theta": 1_000_000.0},
            "sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0},
        },
        rms_norm_eps=1e-6,
        max_position_embeddings=64,
        hidden_activation="gelu_pytorch_tanh",
        tie_word_embeddings=True,
        bos_token_id=2,
        eos_token_id=1,
        pad_token_id=0,
        attn_implementation="eager",
    )
    return dict(
        name="gemma3_tiny",
        family="gemma",
        config=config,
        cls=Gemma3ForCausalLM,
        module=modeling_gemma3,
        lengths=(5, 11),
        std=dict(default=0.08, qk=0.08, embed=0.08),
        shard=None,
    )


def llama_spec():
    config = LlamaConfig(
        vocab_size=256,
        hidden_size=64,
        intermediate_size=160,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        rope_theta=10000,
        rms_norm_eps=1e-5,
        max_position_embeddings=64,
        tie_word_embeddings=False,
        bos_token_id=1,
        eos_token_id=2,
        attn_implementation="eager",
    )
    return dict(
        name="llama_tiny",
        family="llama",
        config=config,
        cls=LlamaForCausalLM,
        module=modeling_llama,
        lengths=(5, 11),
        # Llama's embedding is not scaled by sqrt(hidden), so draw it at O(1).
        std=dict(default=0.08, qk=0.12, embed=1.0),
        shard="300KB",
    )


def small(cls_config, **kw):
    """A 3-layer config of the Llama-like families: vocab 256, hidden 32, 4 query heads."""
    base = dict(vocab_size=256, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-6,
                max_position_embeddings=64, tie_word_embeddings=False, bos_token_id=1,
                eos_token_id=2, attn_implementation="eager")
    base.update(kw)
    return cls_config(**base)


def qwen2_spec():
    config = small(Qwen2Config, hidden_size=48, rope_theta=1_000_000.0, tie_word_embeddings=True)
    # The embedding is tied: drawn at O(1) it would make each token its own likeliest successor.
    return dict(name="qwen2_tiny", family="llama", config=config, cls=Qwen2ForCausalLM, module=modeling_qwen2,
                lengths=(5, 11), std=dict(default=0.12, qk=0.2, embed=0.5, bias=0.3), shard=None)


def qwen3_spec():
    config = small(Qwen3Config, head_dim=16, rope_theta=1_000_000.0)
    return dict(name="qwen3_tiny", family="llama", config=config, cls=Qwen3ForCausalLM, module=modeling_qwen3,
                lengths=(5, 11), qk_norm="per_head", std=dict(default=0.15, qk=0.2, embed=1.0), shard=None)


def mistral_spec():
    config = small(MistralConfig, num_key_value_heads=1, sliding_window=4, rope_theta=10000.0)
    return dict(name="mistral_tiny", family="llama", config=config, cls=MistralForCausalLM, module=modeling_mistral,
                lengths=(5, 11), std=dict(default=0.15, qk=0.25, embed=1.0), shard=None)


def olmo2_spec():
    config = small(Olmo2Config, rope_theta=500_000.0, pad_token_id=0)
    # Every branch adds a post-normed O(1) output to the residual; a larger embedding keeps the
    # positions' logits apart (at 1.0 the short sequence's argmax barely varies). q/k's std hardly
    # matters: the QK-norm rescales them.
    return dict(name="olmo2_tiny", family="olmo2", config=config, cls=Olmo2ForCausalLM, module=modeling_olmo2,
                lengths=(5, 11), qk_norm="whole", std=dict(default=0.15, qk=0.2, embed=2.0), shard=None)


def gpt2_spec():
    # GPT-2's own defaults (gelu_new, LayerNorm eps 1e-5, tied embeddings, scaled attention),
    # shrunk: 3 layers of width 32, 4 heads of 8, a 4 × 32 MLP, 64 learned positions.
    config = GPT2Config(vocab_size=256, n_embd=32, n_layer=3, n_head=4, n_positions=64, bos_token_id=1,
                        eos_token_id=2, attn_implementation="eager")
    # std["embed"] draws wte and wpe: the positions matter as much as the tokens.
    return dict(name="gpt2_tiny", family="gpt", config=config, cls=GPT2LMHeadModel, module=modeling_gpt2,
                lengths=(5, 11), std=dict(default=0.15, qk=0.3, embed=0.8, bias=0.2), shard=None)


def pythia_spec():
    # Pythia's conventions: parallel attention and MLP, the exact GELU, untied embed_out, RoPE
    # on a quarter of each head (4 of 16 dimensions), q/k/v fused per head.
    config = GPTNeoXConfig(vocab_size=256, hidden_size=32, intermediate_size=128, num_hidden_layers=3,
                           num_attention_heads=2, max_position_embeddings=64, rotary_pct=0.25, rotary_emb_base=10000,
                           use_parallel_residual=True, hidden_act="gelu", tie_word_embeddings=False,
                           layer_norm_eps=1e-5, bos_token_id=1, eos_token_id=2, attn_implementation="eager")
    return dict(name="pythia_tiny", family="gpt", config=config, cls=GPTNeoXForCausalLM, module=modeling_gpt_neox,
                lengths=(5, 11), std=dict(default=0.15, qk=0.3, embed=0.8, bias=0.2), shard=None)


SPECS = [gemma2_spec, gemma3_spec, llama_spec, qwen2_spec, qwen3_spec, mistral_spec, olmo2_spec, gpt2_spec, pythia_spec]

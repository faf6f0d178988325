#!/usr/bin/env python3
"""Malformed inputs for every file Lantern reads, and a runner that feeds them to the CLI.

    python3 tools/malformed_corpus.py run [--lantern .build/release/lantern] [--only gguf]
        builds each case in a temporary folder, runs the command that loads it (CPU backend,
        60 s limit) and prints one line per case: refused (exit 1-2, one line naming the file),
        ACCEPTED (exit 0: the malformed input was taken), CRASH (a signal or exit >= 3) or HANG.
        Exit status 1 when anything crashed, hung or was accepted. Controls (valid files) must be
        accepted.
    python3 tools/malformed_corpus.py seeds OUT
        writes the same inputs as libFuzzer seeds: OUT/<harness>/<case> (Fuzz/build.sh's harnesses
        take a leading selector byte for safetensors and npz, written here too).

Every case is a small file built here (numpy only), so the corpus needs no model download.
"""
import io, json, os, struct, subprocess, sys, tempfile, zipfile, zlib
import numpy as np

# ---------------------------------------------------------------- GGUF
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
PACK = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f", BOOL: "<B", U64: "<Q", I64: "<q", F64: "<d"}


def gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def gval(t, v):
    if t == STR:
        return gstr(v)
    if t == ARR:
        et, items = v
        out = struct.pack("<IQ", et, len(items))
        return out + b"".join(gval(et, x) for x in items)
    return struct.pack(PACK[t], v)


def gguf(kv, tensors, alignment=32, raw_kv=b"", kv_count=None, tensor_count=None):
    """kv: [(key, type, value)]; tensors: [(name, ne, ggml_type, data_bytes, offset_or_None)]."""
    out = b"GGUF" + struct.pack("<I", 3)
    out += struct.pack("<QQ", len(tensors) if tensor_count is None else tensor_count,
                       len(kv) + (1 if raw_kv else 0) if kv_count is None else kv_count)
    for k, t, v in kv:
        out += gstr(k) + struct.pack("<I", t) + gval(t, v)
    out += raw_kv
    offsets, off = [], 0
    for name, ne, typ, data, forced in tensors:
        offsets.append(off if forced is None else forced)
        off = (off + len(data) + alignment - 1) // alignment * alignment
    for (name, ne, typ, data, _), o in zip(tensors, offsets):
        out += gstr(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
        out += struct.pack("<IQ", typ, o)
    out += b"\0" * (-len(out) % alignment)
    start, pos = len(out), 0
    for name, ne, typ, data, _ in tensors:
        out += b"\0" * (-len(out) % alignment)
        out += data
    return out


TOKENS = ["<pad>", "<eos>", "<bos>", "<unk>", "\u2581", "H", "i", "\u2581H", "\u2581Hi", "e", "l", "o", "\u2581Hello"] + [f"t{i}" for i in range(19)]


def tiny_gemma3(overrides=None, drop=(), tensors_edit=None, tokens=None, extra_kv=()):
    """A valid 2-layer Gemma 3 GGUF (vocab 32, hidden 16), with metadata overrides."""
    V, D, H, KV, HD, F, L = 32, 16, 2, 1, 8, 32, 2
    rng = np.random.default_rng(0)
    kv = {
        "general.architecture": (STR, "gemma3"), "gemma3.embedding_length": (U32, D), "gemma3.block_count": (U32, L),
        "gemma3.attention.head_count": (U32, H), "gemma3.attention.head_count_kv": (U32, KV),
        "gemma3.attention.key_length": (U32, HD), "gemma3.attention.value_length": (U32, HD),
        "gemma3.feed_forward_length": (U32, F), "gemma3.context_length": (U32, 128),
        "gemma3.attention.layer_norm_rms_epsilon": (F32, 1e-6), "gemma3.rope.freq_base": (F32, 10000.0),
        "gemma3.attention.sliding_window": (U32, 16),
        "tokenizer.ggml.model": (STR, "llama"), "tokenizer.ggml.tokens": (ARR, (STR, tokens or TOKENS)),
        "tokenizer.ggml.scores": (ARR, (F32, [0.0] * len(tokens or TOKENS))),
        "tokenizer.ggml.token_type": (ARR, (I32, [3, 3, 3, 2] + [1] * (len(tokens or TOKENS) - 4))),
        "tokenizer.ggml.bos_token_id": (U32, 2), "tokenizer.ggml.eos_token_id": (U32, 1),
        "tokenizer.ggml.padding_token_id": (U32, 0), "tokenizer.ggml.add_space_prefix": (BOOL, 0),
    }
    kv.update(overrides or {})
    for k in drop:
        kv.pop(k, None)

    def t(name, *shape):
        a = (rng.standard_normal(shape) * 0.1).astype(np.float32)
        return [name, list(reversed(shape)), 0, a.tobytes(), None]
    ts = [t("token_embd.weight", V, D), t("output_norm.weight", D)]
    for l in range(L):
        p = f"blk.{l}."
        ts += [t(p + "attn_norm.weight", D), t(p + "attn_q.weight", H * HD, D), t(p + "attn_k.weight", KV * HD, D),
               t(p + "attn_v.weight", KV * HD, D), t(p + "attn_output.weight", D, H * HD), t(p + "attn_q_norm.weight", HD),
               t(p + "attn_k_norm.weight", HD), t(p + "ffn_gate.weight", F, D), t(p + "ffn_up.weight", F, D),
               t(p + "ffn_down.weight", D, F), t(p + "post_attention_norm.weight", D), t(p + "ffn_norm.weight", D),
               t(p + "post_ffw_norm.weight", D)]
    if tensors_edit:
        tensors_edit(ts)
    return gguf([(k, t_, v) for k, (t_, v) in kv.items()] + list(extra_kv), ts)


def nested_array(depth):
    """A metadata value: arrays of arrays `depth` deep (iteratively built: no Python recursion)."""
    inner = struct.pack("<IQ", U8, 0)
    for _ in range(depth - 1):
        inner = struct.pack("<IQ", ARR, 1) + inner
    return gstr("deep") + struct.pack("<I", ARR) + inner


def gguf_cases():
    c = {"control": tiny_gemma3()}
    c["block_count_1e9"] = tiny_gemma3({"gemma3.block_count": (U32, 10**9)})
    c["block_count_0"] = tiny_gemma3({"gemma3.block_count": (U32, 0)})
    c["block_count_1_extra_weights"] = tiny_gemma3({"gemma3.block_count": (U32, 1)})
    c["head_count_2e62"] = tiny_gemma3({"gemma3.attention.head_count": (U64, 2**62)})
    c["key_length_2e62"] = tiny_gemma3({"gemma3.attention.key_length": (U64, 2**62)})
    c["sliding_pattern_0"] = tiny_gemma3({"gemma3.attention.sliding_window_pattern": (U32, 0)})
    c["rms_eps_negative"] = tiny_gemma3({"gemma3.attention.layer_norm_rms_epsilon": (F32, -1.0)})
    c["rms_eps_nan"] = tiny_gemma3({"gemma3.attention.layer_norm_rms_epsilon": (F32, float("nan"))})
    c["rope_theta_0"] = tiny_gemma3({"gemma3.rope.freq_base": (F32, 0.0)})
    c["rope_theta_inf"] = tiny_gemma3({"gemma3.rope.freq_base": (F32, float("inf"))})
    c["bos_2e31"] = tiny_gemma3({"tokenizer.ggml.bos_token_id": (U64, 2**31)})
    c["eos_2e32"] = tiny_gemma3({"tokenizer.ggml.eos_token_id": (U64, 2**32 + 1)})
    c["pad_past_vocab"] = tiny_gemma3({"tokenizer.ggml.padding_token_id": (U32, 32)})
    c["token_type_2e32"] = tiny_gemma3({"tokenizer.ggml.token_type": (ARR, (I64, [2**32 + 1] * 32))})
    c["tokens_shorter_than_embedding"] = tiny_gemma3(tokens=TOKENS[:20])
    c["tokens_wrong_type"] = tiny_gemma3({"tokenizer.ggml.tokens": (ARR, (U32, list(range(32))))})
    c["scores_wrong_type"] = tiny_gemma3({"tokenizer.ggml.scores": (STR, "x")})
    c["nested_20"] = gguf([], [], raw_kv=nested_array(20))
    c["nested_100000"] = gguf([], [], raw_kv=nested_array(100_000))
    c["array_length_2e60"] = gguf([], [], raw_kv=gstr("a") + struct.pack("<IIQ", ARR, U8, 2**60))
    c["string_length_2e63"] = gguf([], [], raw_kv=gstr("a") + struct.pack("<IQ", STR, 2**63))
    c["tensor_count_2e40"] = gguf([], [], tensor_count=2**40)
    c["kv_count_2e40"] = gguf([], [], kv_count=2**40)

    def dims_overflow(ts):
        ts[0][1] = [2**31 - 1, 2**31 - 1, 2**31 - 1, 2**31 - 1]
    c["dims_product_overflow"] = tiny_gemma3(tensors_edit=dims_overflow)

    def dim_2e40(ts):
        ts[0][1] = [16, 2**40]
    c["dim_2e40"] = tiny_gemma3(tensors_edit=dim_2e40)

    def overlap(ts):
        ts[2][4] = 0  # the first layer's norm at the embedding's offset
    c["tensors_overlap"] = tiny_gemma3(tensors_edit=overlap)

    def offset_past_end(ts):
        ts[1][4] = 2**62
    c["offset_2e62"] = tiny_gemma3(tensors_edit=offset_past_end)

    def nan_weights(ts):
        a = np.frombuffer(ts[0][3], dtype=np.float32).copy()
        a[5] = np.nan
        ts[0][3] = a.tobytes()
    c["nan_embedding"] = tiny_gemma3(tensors_edit=nan_weights)
    c["alignment_3"] = tiny_gemma3({"general.alignment": (U32, 3)})
    c["truncated_half"] = c["control"][: len(c["control"]) // 2]
    c["empty"] = b""
    c["bad_magic"] = b"GGUG" + c["control"][4:]
    return {k: {"model.gguf": v} for k, v in c.items()}

# ---------------------------------------------------------------- safetensors


def safetensors(header, data=b"", raw_header=None):
    h = raw_header if raw_header is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


def st_cases():
    ok = np.arange(4, dtype=np.float32).tobytes()
    c = {
        "control": safetensors({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, ok),
        "offset_2e64": safetensors(None, ok, b'{"a":{"dtype":"F32","shape":[4],"data_offsets":[18446744073709551616,18446744073709551632]}}'),
        "shape_2e64": safetensors(None, ok, b'{"a":{"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,16]}}'),
        "shape_overflow": safetensors({"a": {"dtype": "F32", "shape": [2**32, 2**32, 4], "data_offsets": [0, 16]}}, ok),
        "shape_fractional": safetensors(None, ok, b'{"a":{"dtype":"F32","shape":[4.5],"data_offsets":[0,16]}}'),
        "shape_negative": safetensors({"a": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}}, ok),
        "offsets_fractional": safetensors(None, ok, b'{"a":{"dtype":"F32","shape":[4],"data_offsets":[0.5,16.5]}}'),
        "offsets_whole_floats": safetensors(None, ok, b'{"a":{"dtype":"F32","shape":[4],"data_offsets":[0.0,16.0]}}'),
        "shape_whole_float": safetensors(None, ok, b'{"a":{"dtype":"F32","shape":[4.0],"data_offsets":[0,16]}}'),
        "offsets_overlap": safetensors({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                                        "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}, ok),
        "duplicate_key": safetensors(None, ok, b'{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'),
        "dtype_number": safetensors(None, ok, b'{"a":{"dtype":7,"shape":[4],"data_offsets":[0,16]}}'),
        "shape_string": safetensors(None, ok, b'{"a":{"dtype":"F32","shape":"4","data_offsets":[0,16]}}'),
        "dtype_size_mismatch": safetensors({"a": {"dtype": "F16", "shape": [4], "data_offsets": [0, 16]}}, ok),
        "header_len_2e63": struct.pack("<Q", 2**63) + b"{}",
        "deep_json": safetensors(None, b"", b"[" * 100000 + b"]" * 100000),
        "metadata_not_strings": safetensors(None, ok, b'{"__metadata__":{"x":1},"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}'),
    }
    return {k: {"model.safetensors": v} for k, v in c.items()}


def index_cases():
    shard = st_cases()["control"]["model.safetensors"]
    def idx(m):
        return json.dumps({"weight_map": m}).encode() if not isinstance(m, bytes) else m
    c = {
        "control": {"model.safetensors.index.json": idx({"a": "s.safetensors"}), "s.safetensors": shard},
        "dotdot": {"model.safetensors.index.json": idx({"a": "../../etc/passwd"})},
        "absolute": {"model.safetensors.index.json": idx({"a": "/etc/passwd"})},
        "not_string": {"model.safetensors.index.json": idx({"a": 5})},
        "duplicate": {"model.safetensors.index.json": b'{"weight_map":{"a":"s.safetensors","a":"t.safetensors"}}', "s.safetensors": shard},
    }
    return c

# ---------------------------------------------------------------- config.json (a tiny gemma3 directory)


GEMMA3_CONFIG = {"model_type": "gemma3_text", "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 2,
                 "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 8, "vocab_size": 32,
                 "sliding_window": 16, "max_position_embeddings": 128, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
                 "query_pre_attn_scalar": 8}


def config_cases():
    edits = {
        "control": {}, "heads_2e62": {"num_attention_heads": 2**62}, "head_dim_2e62": {"head_dim": 2**62},
        "layers_1e12": {"num_hidden_layers": 10**12}, "layers_1": {"num_hidden_layers": 1}, "layers_3": {"num_hidden_layers": 3},
        "sliding_pattern_0": {"sliding_window_pattern": 0}, "rms_eps_negative": {"rms_norm_eps": -1e-6},
        "rope_theta_0": {"rope_theta": 0}, "rope_theta_negative": {"rope_theta": -5}, "hidden_string": {"hidden_size": "16"},
        "tie_string": {"tie_word_embeddings": "yes"}, "eps_string": {"rms_norm_eps": "1e-6"}, "layers_fractional": {"num_hidden_layers": 2.5},
        "layers_true": {"num_hidden_layers": True}, "bos_2e31": {"bos_token_id": 2**31}, "eos_list_bad": {"eos_token_id": [1, "x"]},
        "window_negative": {"sliding_window": -1}, "rope_params_not_object": {"rope_parameters": 5},
        "softcap_negative": {"final_logit_softcapping": -30.0}, "hidden_whole_float": {"hidden_size": 16.0},
        "text_config_not_object": {"text_config": [1]},
    }
    out = {}
    for name, e in edits.items():
        cfg = dict(GEMMA3_CONFIG, **e)
        out[name] = cfg
    return out

# ---------------------------------------------------------------- tokenizer.json


def tokenizer_json(vocab_size=32, post=None, extra_added=()):
    vocab = {t: i for i, t in enumerate(TOKENS[:vocab_size])}
    for i in range(len(vocab), vocab_size):
        vocab[f"x{i}"] = i
    doc = {"model": {"type": "BPE", "vocab": vocab, "merges": []}, "added_tokens": list(extra_added)}
    if post:
        doc["post_processor"] = post
    return json.dumps(doc).encode()


def tokenizer_cases():
    template = lambda ids: {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<bos>"}}, {"Sequence": {"id": "A"}}],
                            "special_tokens": {"<bos>": {"ids": ids}}}
    return {
        "control": tokenizer_json(),
        "template_id_2e31": tokenizer_json(post=template([2**31])),
        "template_id_string": tokenizer_json(post=template(["2"])),
        "far_larger_than_model": tokenizer_json(extra_added=[{"id": 5_000_000, "content": "<x>", "special": True}]),
        "id_1e20": tokenizer_json(extra_added=[{"id": 1e20, "content": "<x>", "special": True}]),
        "not_json": b"{",
        "deep": b"[" * 100000,
        # Escapes JSON does not have, and surrogates that are not pairs: refused, not repaired.
        "escape_x": last_token_raw(rb'x\x31'),
        "escape_quote": last_token_raw(rb"x\'31"),
        "lone_high_surrogate": last_token_raw(rb'x\ud83d'),
        "lone_low_surrogate": last_token_raw(rb'\ude00x'),
        "high_then_not_low": last_token_raw(rb'\ud83d\u0041'),
    }


def last_token_raw(raw):
    """The control tokenizer with the last vocabulary entry's name written as `raw` JSON string bytes."""
    doc = json.loads(tokenizer_json())
    vocab = doc["model"]["vocab"]
    last = max(vocab, key=vocab.get)
    vocab["@LAST@"] = vocab.pop(last)
    return json.dumps(doc).encode().replace(b'"@LAST@"', b'"' + raw + b'"')

# ---------------------------------------------------------------- npy / npz


def npy(arr=None, shape_text=None, descr="'<f4'"):
    arr = np.zeros((2, 3), np.float32) if arr is None else arr
    shape = shape_text or str(tuple(arr.shape))
    h = "{'descr': %s, 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    h += " " * (-(10 + len(h) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode() + arr.astype(np.float32).tobytes()


def npz(members, compress=True, corrupt_crc=False, duplicate=None):
    """`duplicate`: (name, data) written as a second member of an existing name."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            z.writestr(name + ".npy", data)
        if duplicate:
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # zipfile warns of the duplicate name it is asked to write
                z.writestr(duplicate[0] + ".npy", duplicate[1])
    b = bytearray(buf.getvalue())
    if corrupt_crc:  # flip a data byte of the first (stored) member: its CRC no longer matches
        b[30 + len(next(iter(members))) + 4 + 100] ^= 0xFF
    return bytes(b)


def gemmascope(d_in=16, d_sae=8, **over):
    m = {"W_enc": npy(np.zeros((d_in, d_sae))), "W_dec": npy(np.zeros((d_sae, d_in))), "b_enc": npy(np.zeros(d_sae)),
         "b_dec": npy(np.zeros(d_in)), "threshold": npy(np.ones(d_sae))}
    m.update(over)
    return m


def npz_cases():
    big_member = npy(shape_text="(100000000,)")[:128] + bytes(400_000_000)  # header + zeros
    return {
        "control": npz(gemmascope()),
        "shape_2e32_squared": npz(gemmascope(W_enc=npy(shape_text="(4294967296, 4294967296)"))),
        "bad_crc": npz(gemmascope(), compress=False, corrupt_crc=True),
        "b_enc_400MB": npz(gemmascope(b_enc=big_member)),
        "d_sae_0": npz(gemmascope(d_sae=0)),
        "fortran": npz(gemmascope(W_enc=npy(np.zeros((16, 8))).replace(b"False", b"True "))),
        "truncated": npz(gemmascope())[:200],
        # Two b_enc members: a reader gets one of them, which one depends on the zip library.
        "duplicate_member": npz(gemmascope(), duplicate=("b_enc", npy(np.full(8, 5.0)))),
    }


def saelens_cases():
    st = lambda d_in, d_sae: safetensors_multi({"W_enc": (d_in, d_sae), "W_dec": (d_sae, d_in), "b_enc": (d_sae,), "b_dec": (d_in,)})
    cfg = lambda **e: json.dumps(dict({"d_in": 16, "d_sae": 8, "hook_name": "blocks.0.hook_resid_post", "architecture": "standard",
                                        "activation_fn_str": "topk", "activation_fn_kwargs": {"k": 4}}, **e)).encode()
    return {
        "control": {"cfg.json": cfg(), "sae_weights.safetensors": st(16, 8)},
        "k_above_d_sae": {"cfg.json": cfg(activation_fn_kwargs={"k": 9}), "sae_weights.safetensors": st(16, 8)},
        "d_sae_0": {"cfg.json": cfg(d_sae=0), "sae_weights.safetensors": st(16, 8)},
        "d_sae_2e40": {"cfg.json": cfg(d_sae=2**40), "sae_weights.safetensors": st(16, 8)},
        "k_fractional": {"cfg.json": cfg(activation_fn_kwargs={"k": 2.5}), "sae_weights.safetensors": st(16, 8)},
        "d_in_whole_float": {"cfg.json": cfg(d_in=16.0), "sae_weights.safetensors": st(16, 8)},
        "apply_b_dec_number": {"cfg.json": cfg(apply_b_dec_to_input=1), "sae_weights.safetensors": st(16, 8)},
        "duplicate_key": {"cfg.json": cfg()[:-1] + b', "d_sae": 9}', "sae_weights.safetensors": st(16, 8)},
        # A cfg.json copied into another layer's folder (or edited): which is right cannot be told.
        "hook_other_layer_than_folder": {"__folder__": "blocks.1.hook_resid_post", "cfg.json": cfg(), "sae_weights.safetensors": st(16, 8)},
        "hook_layer_disagrees": {"cfg.json": cfg(hook_layer=1), "sae_weights.safetensors": st(16, 8)},
    }

# ---------------------------------------------------------------- Gemma Scope 2 transcoders and cross-layer transcoders


def transcoder_folder(layer, config=None, tensors=None, drop=(), raw_config=None):
    """One Gemma Scope 2 transcoder folder for the tiny model (d_model 16, width 8): files under layer_L/."""
    cfg = {"architecture": "jump_relu", "hf_hook_point_in": f"model.layers.{layer}.pre_feedforward_layernorm.output",
           "hf_hook_point_out": f"model.layers.{layer}.post_feedforward_layernorm.output", "width": 8, "l0": 4.0}
    cfg.update(config or {})
    arrays = {"w_enc": np.full((16, 8), 0.01, np.float32), "w_dec": np.full((8, 16), 0.01, np.float32),
              "b_enc": np.zeros(8, np.float32), "b_dec": np.zeros(16, np.float32), "threshold": np.full(8, 0.5, np.float32)}
    arrays.update(tensors or {})
    for name in drop:
        arrays.pop(name)
    return {f"tc/layer_{layer}/config.json": raw_config or json.dumps(cfg).encode(),
            f"tc/layer_{layer}/params.safetensors": safetensors_arrays(arrays)}


def transcoder_cases():
    def case(**e):
        return {**transcoder_folder(0, **e), **transcoder_folder(1)}
    return {
        "control": case(),
        "width_string": case(config={"width": "8"}),
        "width_whole_float": case(config={"width": 8.0}),
        "width_disagrees": case(config={"width": 9}),
        "architecture_number": case(config={"architecture": 5}),
        "topk_without_k": case(config={"architecture": "topk"}),
        "l0_bool": case(config={"l0": True}),
        "affine_number": case(config={"affine_connection": 1}),
        "affine_without_skip": case(config={"affine_connection": True}),
        "hook_unmappable": case(config={"hf_hook_point_in": "model.layers.0.mlp"}),
        "duplicate_key": case(raw_config=b'{"architecture": "jump_relu", "architecture": "relu", "width": 8, '
                                         b'"hf_hook_point_in": "model.layers.0.pre_feedforward_layernorm.output", '
                                         b'"hf_hook_point_out": "model.layers.0.post_feedforward_layernorm.output"}'),
        "not_json": case(raw_config=b'{"architecture": "jump_relu",'),
        "threshold_missing": case(drop=("threshold",)),
        "b_enc_wrong_shape": case(tensors={"b_enc": np.zeros(5, np.float32)}),
        "skip_wrong_shape": case(tensors={"affine_skip_connection": np.zeros((16, 4), np.float32)}),
        "w_enc_rank_1": case(tensors={"w_enc": np.zeros(128, np.float32)}),
        "nan_weight": case(tensors={"w_dec": np.full((8, 16), np.nan, np.float32)}),
    }


def clt_layer(i, n=2, **over):
    arrays = {"w_enc": np.full((16, 8), 0.01, np.float32), "w_dec": np.full((8, n - i, 16), 0.01, np.float32),
              "b_enc": np.zeros(8, np.float32), "b_dec": np.zeros(16, np.float32), "threshold": np.full(8, 0.5, np.float32)}
    arrays.update(over)
    return safetensors_arrays({k: v for k, v in arrays.items() if v is not None})


def clt_cases():
    def case(layers=None, config=None):
        files = {f"clt/params_layer_{i}.safetensors": data for i, data in enumerate(layers or [clt_layer(0), clt_layer(1)])}
        if config is not None:
            files["clt/config.json"] = config
        return files
    return {
        "control": case(),
        "w_dec_wrong_slots": case([clt_layer(0), clt_layer(1, w_dec=np.zeros((8, 3, 16), np.float32))]),
        "layer_gap": {"clt/params_layer_0.safetensors": clt_layer(0), "clt/params_layer_2.safetensors": clt_layer(1)},
        "width_0": case([clt_layer(0, w_enc=np.zeros((16, 0), np.float32)), clt_layer(1)]),
        "b_dec_wrong": case([clt_layer(0), clt_layer(1, b_dec=np.zeros(4, np.float32))]),
        "threshold_missing": case([clt_layer(0), clt_layer(1, threshold=None)]),
        "skip_in_one_layer": case([clt_layer(0, affine_skip_connection=np.zeros((16, 16), np.float32)), clt_layer(1)]),
        "inf_weight": case([clt_layer(0, w_enc=np.full((16, 8), np.inf, np.float32)), clt_layer(1)]),
        "config_k_above_width": case(config=json.dumps({"architecture": "topk", "k": 9}).encode()),
        "config_width_string": case(config=json.dumps({"architecture": "jump_relu", "width": "8"}).encode()),
    }

# ---------------------------------------------------------------- harvests, checkpoints and run.json


def harvest(hooks, model="@DIR@", rows=64, part=None, edit=None):
    """A harvest folder as `lantern harvest` writes one: manifest.json and one shard of f32 rows;
    `edit(manifest)` damages the manifest."""
    rng = np.random.default_rng(0)
    arrays = {("activations" if len(hooks) == 1 else h): rng.standard_normal((rows, 16)).astype(np.float32) for h in hooks}
    manifest = {"model": model, "hook": hooks[0], "width": 16, "context": 8, "include_bos": True, "tokens": rows,
                "worker": 0, "workers": 1, "corpus": ["corpus.txt"], "complete": True,
                "shards": [{"file": "shard-00000.safetensors", "rows": rows, "contexts": rows // 8}]}
    if len(hooks) > 1:
        manifest["hooks"] = hooks
    if edit:
        edit(manifest)
    prefix = "acts/" + (part + "/" if part else "")
    return {prefix + "manifest.json": json.dumps(manifest).encode(), prefix + "shard-00000.safetensors": safetensors_arrays(arrays)}


MLP0 = ["blocks.0.ln2.hook_normalized", "blocks.0.hook_mlp_out"]


def harvest_cases():
    """`transcoder train` on activations of another model than --model: refused, naming both."""
    return {
        "control": harvest(MLP0),
        "other_model": harvest(MLP0, model="/models/gemma-2-2b"),
        "other_model_by_name": harvest(MLP0, model="gemma-2-2b-q4_k_m.gguf"),
        "parts_from_two_models": {**harvest(MLP0, part="part-0-of-2"), **harvest(MLP0, model="/models/other", part="part-1-of-2")},
        # manifest.json read through its schema: counts, types and shard names.
        "manifest_rows_negative": harvest(MLP0, edit=lambda m: m["shards"][0].update(rows=-1)),
        "manifest_shard_outside": harvest(MLP0, edit=lambda m: m["shards"][0].update(file="../../shard-00000.safetensors")),
        "manifest_worker_past_workers": harvest(MLP0, edit=lambda m: m.update(worker=2)),
        "manifest_width_string": harvest(MLP0, edit=lambda m: m.update(width="16")),
        "manifest_context_float": harvest(MLP0, edit=lambda m: m.update(context=8.0)),
    }


TRAIN = ["--width", "8", "--k", "4", "--tokens", "64", "--batch", "16", "--backend", "cpu"]


def edit_checkpoint(path, metadata=None, tensors=None):
    """Rewrites a Lantern checkpoint with some metadata values or tensors replaced."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    body = bytearray(data[8 + n:])
    header["__metadata__"].update(metadata or {})
    for name, fill in (tensors or {}).items():
        begin, end = header[name]["data_offsets"]
        body[begin:end] = np.full((end - begin) // 4, fill, np.float32).tobytes()
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + bytes(body))


def checkpoint_file(metadata=None, tensors=None):
    """A TopK SAE checkpoint as Lantern writes one (width 8, input width 16, step 4 of 4): the fuzz seed."""
    d, n = 16, 8
    meta = {"format": "lantern-sae-checkpoint-1", "architecture": "topk", "width": "8", "input_width": "16", "k": "4",
            "target_l0": "", "initial_sparsity_coefficient": "0.0", "learning_rate": "0.0005", "batch_size": "16", "tokens": "64",
            "bandwidth": "0.001", "initial_threshold": "0.001", "aux_k": "4", "aux_coefficient": "0.03125",
            "dead_after_tokens": "10000000", "seed": "0", "normalization": "scalar", "step": "4", "adam_step": "4",
            "sparsity_coefficient": "0.0", "input_scale": "1.0", "transcoder": "false", "skip_connection": "false", "target_scale": "1.0"}
    meta.update(metadata or {})
    shapes = {"encoder": n * d, "encoder_bias": n, "decoder": n * d, "decoder_bias": d}
    arrays = {}
    for name, size in shapes.items():
        arrays[name] = np.full(size, 0.01, np.float32)
        arrays["adam_m." + name] = np.zeros(size, np.float32)
        arrays["adam_v." + name] = np.zeros(size, np.float32)
    arrays["rows_since_fired"] = np.zeros(n, np.float32)
    for name, fill in (tensors or {}).items():
        arrays[name] = np.full(arrays[name].shape, fill, np.float32)
    header, data, off = {"__metadata__": meta}, b"", 0
    for name, a in arrays.items():
        raw = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        data += raw
        off += len(raw)
    return safetensors(header, data)


def clt_checkpoint_file(metadata=None, tensors=None, drop=()):
    """A cross-layer transcoder checkpoint as Lantern writes one (2 layers, width 4, input width 8,
    step 2 of 2): the fuzz seeds' control, and edited."""
    layers, s, d = 2, 4, 8
    meta = {"format": "lantern-clt-checkpoint-1", "layers": "2", "width": "4", "input_width": "8", "k": "2",
            "learning_rate": "0.0005", "batch_size": "16", "tokens": "32", "aux_k": "4", "aux_coefficient": "0.03125",
            "dead_after_tokens": "16", "seed": "0", "normalization": "scalar", "step": "2", "adam_step": "2"}
    meta.update(metadata or {})
    arrays = {}
    for i in range(layers):
        names = [("encoder.%d" % i, s * d), ("encoder_bias.%d" % i, s)] + [("decoder.%d.%d" % (i, j), s * d) for j in range(i, layers)]
        for name, size in names:
            arrays[name] = np.full(size, 0.01, np.float32)
            arrays["adam_m." + name] = np.zeros(size, np.float32)
            arrays["adam_v." + name] = np.zeros(size, np.float32)
    for j in range(layers):
        name = "decoder_bias.%d" % j
        arrays[name] = np.zeros(d, np.float32)
        arrays["adam_m." + name] = np.zeros(d, np.float32)
        arrays["adam_v." + name] = np.zeros(d, np.float32)
    arrays["input_scale"] = np.ones(layers, np.float32)
    arrays["target_scale"] = np.ones(layers, np.float32)
    arrays["rows_since_fired"] = np.zeros(layers * s, np.float32)
    for name, fill in (tensors or {}).items():
        arrays[name] = np.full(arrays[name].shape, fill, np.float32)
    header, data, off = {"__metadata__": meta}, b"", 0
    for name, a in arrays.items():
        if name in drop:
            continue
        raw = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        data += raw
        off += len(raw)
    return safetensors(header, data)


def clt_checkpoint_seeds():
    """Cross-layer checkpoints for the checkpoint harness: the control, then one fault each."""
    return {
        "clt_control": clt_checkpoint_file(),
        "clt_layers_huge": clt_checkpoint_file({"layers": "1000000"}),
        "clt_width_times_input_huge": clt_checkpoint_file({"width": "16777216", "input_width": "1048576", "k": "1", "aux_k": "1"}),
        "clt_step_past_end": clt_checkpoint_file({"step": "3"}),
        "clt_decoder_missing": clt_checkpoint_file(drop=("decoder.0.1",)),
        "clt_scale_zero": clt_checkpoint_file(tensors={"target_scale": 0.0}),
        "clt_adam_v_negative": clt_checkpoint_file(tensors={"adam_v.encoder.1": -1.0}),
        "clt_counter_nan": clt_checkpoint_file(tensors={"rows_since_fired": float("nan")}),
        "clt_normalization_unknown": clt_checkpoint_file({"normalization": "whitened"}),
    }


def clt_checkpoint_cases():
    """`transcoder train --cross-layer --resume` over a checkpoint Lantern wrote, then edited."""
    return {
        "control": {},
        "step_past_end": {"metadata": {"step": "999999"}},
        "layers_disagree": {"metadata": {"layers": "3"}},
        "width_disagrees": {"metadata": {"width": "9"}},
        "input_width_huge": {"metadata": {"input_width": "1048576"}},
        "k_above_width": {"metadata": {"k": "9"}},
        "lr_nan": {"metadata": {"learning_rate": "nan"}},
        "format_unknown": {"metadata": {"format": "lantern-sae-checkpoint-1"}},
        "nan_decoder": {"tensors": {"decoder.0.1": np.nan}},
        "zero_target_scale": {"tensors": {"target_scale": 0.0}},
        "negative_second_moment": {"tensors": {"adam_v.encoder.1": -1.0}},
        "counter_negative": {"tensors": {"rows_since_fired": -5.0}},
    }


def checkpoint_cases():
    """`sae train --resume` over a checkpoint Lantern wrote, then edited. Each case: (edit, files)."""
    return {
        "control": {},
        "step_past_end": {"metadata": {"step": "999999"}},
        "width_disagrees": {"metadata": {"width": "9"}},
        "input_width_disagrees": {"metadata": {"input_width": "17"}},
        "k_above_width": {"metadata": {"k": "9"}},
        "lr_nan": {"metadata": {"learning_rate": "nan"}},
        "tokens_not_a_number": {"metadata": {"tokens": "1e3x"}},
        "format_unknown": {"metadata": {"format": "other"}},
        "nan_encoder": {"tensors": {"encoder": np.nan}},
        "negative_second_moment": {"tensors": {"adam_v.encoder": -1.0}},
        "counter_negative": {"tensors": {"rows_since_fired": -5.0}},
        "run_json_rows_bool": {"run": b'{"activations": "@DIR@/acts", "rows": true}'},
        "run_json_duplicate": {"run": b'{"activations": "@DIR@/acts", "rows": 64, "rows": 32}'},
        "run_json_not_object": {"run": b'[1, 2]'},
    }


def safetensors_arrays(arrays):
    """float32 safetensors of named numpy arrays."""
    header, data, off = {}, b"", 0
    for name, a in arrays.items():
        raw = np.asarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(np.shape(a)), "data_offsets": [off, off + len(raw)]}
        data += raw
        off += len(raw)
    return safetensors(header, data)


def tuned_lens_cases():
    """Tuned-lens folders for the tiny Gemma 3 (d_model 16, 2 layers): loose JSON types, tensors the
    config does not imply, non-finite or absurd weights, a d_model the file cannot hold."""
    d, layers = 16, 2

    def params(weight=0.01, bias=True, extra=None):
        arrays = {}
        for i in range(layers):
            arrays[f"{i}.weight"] = np.full((d, d), weight, dtype=np.float32)
            if bias:
                arrays[f"{i}.bias"] = np.zeros(d, dtype=np.float32)
        arrays.update(extra or {})
        return safetensors_arrays(arrays)

    cfg = lambda **e: json.dumps(dict({"d_model": d, "num_hidden_layers": layers, "lens_type": "linear_tuned_lens"}, **e)).encode()
    return {
        "control": {"config.json": cfg(), "params.safetensors": params()},
        "bias_number": {"config.json": cfg(bias=1), "params.safetensors": params()},
        "lens_type_number": {"config.json": cfg(lens_type=7), "params.safetensors": params()},
        "lens_type_unknown": {"config.json": cfg(lens_type="affine"), "params.safetensors": params()},
        "bias_false_with_biases": {"config.json": cfg(bias=False), "params.safetensors": params()},
        "stray_tensor": {"config.json": cfg(), "params.safetensors": params(extra={"unembed.weight": np.zeros(4, np.float32)})},
        "extra_translator": {"config.json": cfg(), "params.safetensors": params(extra={"2.weight": np.zeros((d, d), np.float32)})},
        "nan_weight": {"config.json": cfg(), "params.safetensors": params(weight=np.nan)},
        "inf_weight": {"config.json": cfg(), "params.safetensors": params(weight=-np.inf)},
        "huge_weight": {"config.json": cfg(), "params.safetensors": params(weight=3e38)},
        "d_model_2e20": {"config.json": cfg(d_model=2**20), "params.safetensors": params()},
        "name_number": {"config.json": cfg(base_model_name_or_path=3), "params.safetensors": params()},
    }


def safetensors_multi(shapes):
    header, data, off = {}, b"", 0
    for name, shape in shapes.items():
        n = int(np.prod(shape)) * 4
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [off, off + n]}
        data += bytes(n)
        off += n
    return safetensors(header, data)

# ---------------------------------------------------------------- runner


def model_dir(config):
    """A tiny gemma3 directory (weights from the GGUF control, renamed) with `config` as config.json."""
    return {"config.json": json.dumps(config).encode(), "model.safetensors": GEMMA3_WEIGHTS, "tokenizer.json": tokenizer_json()}


def hf_weights():
    V, D, H, KV, HD, F = 32, 16, 2, 1, 8, 32
    shapes = {"model.embed_tokens.weight": (V, D), "model.norm.weight": (D,)}
    for l in range(2):
        p = f"model.layers.{l}."
        shapes.update({p + "input_layernorm.weight": (D,), p + "post_attention_layernorm.weight": (D,),
                       p + "pre_feedforward_layernorm.weight": (D,), p + "post_feedforward_layernorm.weight": (D,),
                       p + "self_attn.q_norm.weight": (HD,), p + "self_attn.k_norm.weight": (HD,),
                       p + "self_attn.q_proj.weight": (H * HD, D), p + "self_attn.k_proj.weight": (KV * HD, D),
                       p + "self_attn.v_proj.weight": (KV * HD, D), p + "self_attn.o_proj.weight": (D, H * HD),
                       p + "mlp.gate_proj.weight": (F, D), p + "mlp.up_proj.weight": (F, D), p + "mlp.down_proj.weight": (D, F)})
    return safetensors_multi(shapes)


GEMMA3_WEIGHTS = hf_weights()


def all_cases():
    """(group, case, files, argv-builder[, prepare(lantern, folder)])."""
    model = lambda d: ["next", "--model", d, "--backend", "cpu", "--prompt", "Hi"]
    for name, files in gguf_cases().items():
        yield "gguf", name, files, lambda d: ["next", "--model", d + "/model.gguf", "--backend", "cpu", "--prompt", "Hi"]
    for name, files in st_cases().items():
        # The control is the model's own weights; the malformed files replace them.
        yield "safetensors", name, model_dir(GEMMA3_CONFIG) if name == "control" else {**model_dir(GEMMA3_CONFIG), **files}, model
    for name, files in index_cases().items():
        if name == "control":  # every model tensor in one shard, named by the index
            names = json.loads(GEMMA3_WEIGHTS[8:8 + struct.unpack("<Q", GEMMA3_WEIGHTS[:8])[0]])
            files = {"model.safetensors.index.json": json.dumps({"weight_map": {n: "w-1.safetensors" for n in names}}).encode(),
                     "w-1.safetensors": GEMMA3_WEIGHTS}
        yield "index", name, {"config.json": json.dumps(GEMMA3_CONFIG).encode(), "tokenizer.json": tokenizer_json(), **files}, model
    for name, cfg in config_cases().items():
        yield "config", name, model_dir(cfg), model
    for name, tok in tokenizer_cases().items():
        yield "tokenizer", name, {**model_dir(GEMMA3_CONFIG), "tokenizer.json": tok}, model
    for name, data in npz_cases().items():
        yield "npz", name, {**model_dir(GEMMA3_CONFIG), "sae/layer_0/params.npz": data}, \
            lambda d: ["features", "--model", d, "--backend", "cpu", "--prompt", "Hi", "--sae", d + "/sae/layer_0/params.npz"]
    for name, files in tuned_lens_cases().items():
        yield "tunedlens", name, {**model_dir(GEMMA3_CONFIG), **{"lens/" + k: v for k, v in files.items()}}, \
            lambda d: ["lens", "--model", d, "--backend", "cpu", "--prompt", "Hi", "--tuned", d + "/lens"]
    for name, files in saelens_cases().items():
        folder = "sae/" + files.get("__folder__", "blocks.0.hook_resid_post")
        yield "saelens", name, {**model_dir(GEMMA3_CONFIG), **{folder + "/" + k: v for k, v in files.items() if k != "__folder__"}}, \
            lambda d, folder=folder: ["features", "--model", d, "--backend", "cpu", "--prompt", "Hi", "--sae", d + "/" + folder]
    graph = lambda path: lambda d: ["graph", "--model", d, "--backend", "cpu", "--prompt", "Hi", "--transcoders", d + "/" + path,
                                    "--out", d + "/graph.json"]
    for name, files in transcoder_cases().items():
        yield "transcoder", name, {**model_dir(GEMMA3_CONFIG), **files}, graph("tc")
    for name, files in clt_cases().items():
        yield "clt", name, {**model_dir(GEMMA3_CONFIG), **files}, graph("clt")
    for name, files in harvest_cases().items():
        yield "harvest", name, {**model_dir(GEMMA3_CONFIG), **files}, \
            lambda d: ["transcoder", "train", "--activations", d + "/acts", "--out", d + "/tc", "--model", d] + TRAIN
    sae_train = lambda d: ["sae", "train", "--activations", d + "/acts", "--hook", "blocks.0.hook_resid_post", "--out", d + "/sae"] + TRAIN
    for name, edit in checkpoint_cases().items():
        def prepare(lantern, d, edit=edit):
            # A checkpoint (and run.json) Lantern wrote itself, then the edit.
            p = subprocess.run([lantern] + sae_train(d), capture_output=True, text=True, timeout=120)
            if p.returncode != 0:
                raise RuntimeError("could not write the checkpoint to edit: " + p.stderr.strip()[-300:])
            edit_checkpoint(d + "/sae/checkpoint.safetensors", edit.get("metadata"), edit.get("tensors"))
            if "run" in edit:
                with open(d + "/sae/run.json", "wb") as f:
                    f.write(edit["run"].replace(b"@DIR@", d.encode()))
        yield "checkpoint", name, {**model_dir(GEMMA3_CONFIG), **harvest(["blocks.0.hook_resid_post"])}, \
            lambda d: sae_train(d) + ["--resume"], prepare
    clt_train = lambda d: ["transcoder", "train", "--cross-layer", "--activations", d + "/acts", "--out", d + "/clt", "--model", d] + TRAIN
    for name, edit in clt_checkpoint_cases().items():
        def prepare(lantern, d, edit=edit):
            # A cross-layer checkpoint Lantern wrote itself, then the edit.
            p = subprocess.run([lantern] + clt_train(d), capture_output=True, text=True, timeout=120)
            if p.returncode != 0:
                raise RuntimeError("could not write the checkpoint to edit: " + p.stderr.strip()[-300:])
            edit_checkpoint(d + "/clt/checkpoint.safetensors", edit.get("metadata"), edit.get("tensors"))
        yield "cltcheckpoint", name, {**model_dir(GEMMA3_CONFIG), **harvest(MLP0 + ["blocks.1.ln2.hook_normalized", "blocks.1.hook_mlp_out"])}, \
            lambda d: clt_train(d) + ["--resume"], prepare


def lay_out(root, files):
    """Writes `files` under `root`; `@DIR@` in a file stands for `root` (a harvest names its model's folder)."""
    for rel, data in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data.replace(b"@DIR@", root.encode()))


def run(lantern, only):
    bad = 0
    for group, name, files, argv, *prepare in all_cases():
        if only and group not in only:
            continue
        with tempfile.TemporaryDirectory() as d:
            lay_out(d, files)
            for step in prepare:
                step(lantern, d)
            try:
                p = subprocess.run([lantern] + argv(d), capture_output=True, text=True, timeout=60)
                err = p.stderr.strip().splitlines()
                if p.returncode == 0:
                    outcome = "accepted" if name == "control" else "ACCEPTED"
                elif 1 <= p.returncode <= 2 and len(err) == 1:
                    outcome = "refused" if name != "control" else "CONTROL-REFUSED"
                elif 1 <= p.returncode <= 2:
                    outcome = "MULTI-LINE"
                else:
                    outcome = f"CRASH({p.returncode})"
                detail = (err[-1] if err else "").replace(d, "<dir>")
            except subprocess.TimeoutExpired:
                outcome, detail = "HANG", ""
        if group == "gguf" and name == "nan_embedding":
            outcome += " (non-finite weights)"
        bad += outcome.split()[0].isupper() or outcome.startswith("CRASH")
        print(f"{group:12} {name:30} {outcome:16} {detail[:150]}")
    return bad


def seeds(out):
    def put(h, name, data):
        os.makedirs(os.path.join(out, h), exist_ok=True)
        with open(os.path.join(out, h, name), "wb") as f:
            f.write(data)
    for name, files in gguf_cases().items():
        if len(files["model.gguf"]) < 1 << 20:
            put("gguf", name, files["model.gguf"])
    for name, files in st_cases().items():
        put("safetensors", name, b"\0" + files["model.safetensors"])
    for name, files in index_cases().items():
        put("safetensors", "index_" + name, b"\1" + files["model.safetensors.index.json"])
    for name, cfg in config_cases().items():
        put("config", name, json.dumps(cfg).encode())
    for name, tok in tokenizer_cases().items():
        put("tokenizer", name, tok)
    for name, data in npz_cases().items():
        if len(data) < 1 << 20:
            put("npz", name, b"\1" + data)
    # Folder harnesses take the folder's files one after another, separated by this line.
    sep = b"\n--lantern-part--\n"
    for name, files in tuned_lens_cases().items():
        put("lens", name, files["config.json"] + sep + files["params.safetensors"])
    sae_cfg = json.dumps({"architecture": "jump_relu", "hf_hook_point_in": "model.layers.0.output", "width": 8}).encode()
    put("transcoder", "gs2_sae", b"\0" + sae_cfg + sep + transcoder_folder(0)["tc/layer_0/params.safetensors"])
    for name, files in transcoder_cases().items():
        put("transcoder", "gs2_" + name, b"\1" + files["tc/layer_0/config.json"] + sep + files["tc/layer_0/params.safetensors"])
    for name, files in clt_cases().items():
        layers = [files[k] for k in sorted(files) if k.startswith("clt/params_layer_")]
        put("transcoder", "clt_" + name, b"\2" + files.get("clt/config.json", b"") + sep + sep.join(layers))
    for name, files in saelens_cases().items():
        put("transcoder", "saelens_" + name, b"\3" + files["cfg.json"].replace(b"blocks.0.", b"blocks.1.") + sep + files["sae_weights.safetensors"])
    for name, edit in checkpoint_cases().items():
        if "run" not in edit:
            put("checkpoint", name, checkpoint_file(edit.get("metadata"), edit.get("tensors")))
    for name, data in clt_checkpoint_seeds().items():
        put("checkpoint", name, data)
    put("npz", "npy_control", b"\0" + npy())
    put("npz", "npy_huge_shape", b"\0" + npy(shape_text="(4294967296, 4294967296)"))


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "seeds":
        seeds(sys.argv[2])
    elif len(sys.argv) >= 2 and sys.argv[1] == "run":
        lantern = ".build/release/lantern"
        only = []
        args = sys.argv[2:]
        while args:
            a = args.pop(0)
            if a == "--lantern":
                lantern = args.pop(0)
            elif a == "--only":
                only.append(args.pop(0))
        sys.exit(1 if run(lantern, only) else 0)
    else:
        print(__doc__)
        sys.exit(2)

#!/usr/bin/env python3
"""Writes dequantisation fixtures for every GGUF block type Lantern reads.

For each type: a few blocks of random bytes (with sane f16 scales) and, where the real models
carry that type, a few blocks cut from their tensors; the expected floats come from the `gguf`
package's dequantize (llama.cpp's reference semantics). One JSON per type in Tests/Fixtures/quant:
    {"dtype": "q4_K", "count": N, "bytes": base64(raw blocks), "expected": base64(float32 LE)}

    python3 tools/make_quant_fixtures.py [--models DIR] [--out Tests/Fixtures/quant]
"""
import argparse, base64, json, os
import numpy as np
import gguf
from gguf import GGMLQuantizationType as T

TYPES = {"f32": T.F32, "f16": T.F16, "bf16": T.BF16, "q8_0": T.Q8_0, "q4_0": T.Q4_0, "q4_1": T.Q4_1,
         "q5_0": T.Q5_0, "q5_1": T.Q5_1, "q4_K": T.Q4_K, "q5_K": T.Q5_K, "q6_K": T.Q6_K}
# Byte offsets of the f16 scale fields in each block (overwritten with sane values in random blocks).
HALF_FIELDS = {"q8_0": [0], "q4_0": [0], "q4_1": [0, 2], "q5_0": [0], "q5_1": [0, 2],
               "q4_K": [0, 2], "q5_K": [0, 2], "q6_K": [208]}
MODELS = ["gemma-3-270m-q4_k_m.gguf", "SmolLM2-135M-Instruct.Q4_1.gguf"]


def random_blocks(name, qtype, rng, nblocks=4):
    block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
    if name in ("f32", "f16", "bf16"):
        x = rng.standard_normal(64).astype(np.float32)
        if name == "f32":
            return x.view(np.uint8)
        if name == "f16":
            return x.astype(np.float16).view(np.uint8)
        return (x.view(np.uint32) >> 16).astype(np.uint16).view(np.uint8)
    raw = rng.integers(0, 256, size=nblocks * type_size, dtype=np.uint8)
    for b in range(nblocks):
        for off in HALF_FIELDS[name]:
            h = np.array([rng.uniform(-0.05, 0.05)], dtype=np.float16).view(np.uint8)
            raw[b * type_size + off: b * type_size + off + 2] = h
    return raw


def real_blocks(qtype, models_dir, nblocks=4):
    out = []
    for m in MODELS:
        path = os.path.join(models_dir, m)
        if not os.path.exists(path):
            continue
        reader = gguf.GGUFReader(path)
        for t in reader.tensors:
            if t.tensor_type == qtype:
                _, type_size = gguf.GGML_QUANT_SIZES[qtype]
                data = np.asarray(t.data).view(np.uint8).reshape(-1)
                mid = (data.size // type_size // 2) * type_size
                out.append(data[mid: mid + nblocks * type_size].copy())
                return out
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=os.path.join(os.environ.get("LANTERN_HOME", os.path.expanduser("~/.cache/lantern")), "models"))
    ap.add_argument("--out", default="Tests/Fixtures/quant")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(1234)
    for name, qtype in TYPES.items():
        parts = [random_blocks(name, qtype, rng)] + real_blocks(qtype, args.models)
        raw = np.concatenate(parts).astype(np.uint8)
        expected = gguf.quants.dequantize(raw, qtype).astype(np.float32).reshape(-1)
        with open(os.path.join(args.out, f"{name}.json"), "w") as f:
            json.dump({"dtype": name, "count": int(expected.size), "real_blocks": len(parts) > 1,
                       "bytes": base64.b64encode(raw.tobytes()).decode(),
                       "expected": base64.b64encode(expected.astype("<f4").tobytes()).decode()}, f)
            f.write("\n")
        print(f"{name}: {expected.size} values, real blocks: {len(parts) > 1}")


if __name__ == "__main__":
    main()

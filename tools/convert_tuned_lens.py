#!/usr/bin/env python3
"""Converts a tuned lens saved by the tuned-lens package (Belrose et al. 2023; a folder with
`config.json` and `params.pt`, the torch state dict of its layer translators) into the folder
Lantern reads: the same config.json and `params.safetensors` with the same tensor names,
`{i}.weight` [d_model, d_model] (torch Linear's [out, in]: the lens computes h + h @ W.T + b) and
`{i}.bias` [d_model], one per layer but the last (translator i acts on HF hidden_states[i]).

    python3 tools/convert_tuned_lens.py LENS_DIR OUT_DIR [--dtype f16|f32]
    lantern lens --tuned OUT_DIR --prompt "..."

A LENS_DIR in Lantern's own form (params.safetensors, no params.pt) is read too, which rounds an
f32 lens from `lantern lens train --dtype f32` to f16 (how lenses/gemma3-270m-tuned was made).

LENS_DIR is the package's folder (e.g. a snapshot of the Hub's `AlignmentResearch/tuned-lens`
space, `lens/gpt2`). Needs numpy and safetensors. torch is used to read params.pt when it is
installed; without it a small reader of torch's zip checkpoint format (torch >= 1.6, the
default `torch.save` format: data.pkl + data/<key> storages) stands in, which handles the
float32/float16/bfloat16 tensors a state dict of Linear layers holds and nothing else.
The torch-free reader has been checked against files written the way that format is specified,
not against a torch-written file (torch was not installed where this was written).
"""
import argparse
import json
import os
import pickle
import sys
import zipfile

import numpy as np
from safetensors.numpy import save_file

STORAGE_DTYPES = {"FloatStorage": np.float32, "HalfStorage": np.float16, "BFloat16Storage": "bfloat16",
                  "DoubleStorage": np.float64}


def bfloat16_to_float32(raw):
    return (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def read_params_without_torch(path):
    """A torch zip checkpoint's tensors as numpy arrays, by name."""
    archive = zipfile.ZipFile(path)
    names = archive.namelist()
    pickle_name = next(n for n in names if n.endswith("/data.pkl") or n == "data.pkl")
    prefix = pickle_name[: -len("data.pkl")]

    class Storage:
        def __init__(self, kind, key):
            raw = archive.read(f"{prefix}data/{key}")
            dtype = STORAGE_DTYPES.get(kind)
            if dtype is None:
                raise ValueError(f"{path}: storage type {kind} is not supported (float32/16, bfloat16, float64)")
            self.values = bfloat16_to_float32(raw) if dtype == "bfloat16" else np.frombuffer(raw, dtype=dtype)

    def rebuild_tensor(storage, offset, size, stride, *rest):
        itemsize = storage.values.itemsize
        return np.lib.stride_tricks.as_strided(storage.values[offset:], shape=tuple(size),
                                               strides=tuple(s * itemsize for s in stride)).copy()

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            if module == "torch._utils" and name == "_rebuild_tensor_v2":
                return rebuild_tensor
            if module == "torch" and name.endswith("Storage"):
                return name
            if module == "collections" and name == "OrderedDict":
                import collections
                return collections.OrderedDict
            raise pickle.UnpicklingError(f"{path}: unexpected object {module}.{name} in a tuned-lens state dict")

        def persistent_load(self, pid):
            # ('storage', storage_type, key, location, numel)
            _, kind, key, _, _ = pid
            return Storage(kind if isinstance(kind, str) else getattr(kind, "__name__", str(kind)), key)

    with archive.open(pickle_name) as f:
        return dict(Unpickler(f).load())


def read_params(path):
    try:
        import torch
    except ImportError:
        return read_params_without_torch(path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {k: v.float().numpy() for k, v in state.items()}


def convert(lens_dir, out_dir, dtype):
    config = json.load(open(os.path.join(lens_dir, "config.json")))
    d, layers, bias = config["d_model"], config["num_hidden_layers"], config.get("bias", True)
    pt = os.path.join(lens_dir, "params.pt")
    if os.path.exists(pt):
        params = read_params(pt)
    else:
        from safetensors.numpy import load_file
        params = load_file(os.path.join(lens_dir, "params.safetensors"))
    out = {}
    for i in range(layers):
        w = np.asarray(params[f"{i}.weight"], dtype=np.float32)
        if w.shape != (d, d):
            sys.exit(f"{lens_dir}/params.pt: {i}.weight has shape {w.shape}, expected ({d}, {d}) (d_model)")
        out[f"{i}.weight"] = w.astype(dtype)
        if bias:
            b = np.asarray(params[f"{i}.bias"], dtype=np.float32)
            if b.shape != (d,):
                sys.exit(f"{lens_dir}/params.pt: {i}.bias has shape {b.shape}, expected ({d},)")
            out[f"{i}.bias"] = b.astype(dtype)
    extra = sorted(set(params) - set(out))
    if extra:
        sys.exit(f"{lens_dir}/params.pt: unexpected tensors {extra[:4]} (is num_hidden_layers {layers} right?)")
    os.makedirs(out_dir, exist_ok=True)
    save_file(out, os.path.join(out_dir, "params.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    print(f"wrote {out_dir}: {layers} translators, d_model {d}, {np.dtype(dtype).name}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lens_dir")
    parser.add_argument("out_dir")
    parser.add_argument("--dtype", choices=["f16", "f32"], default="f32",
                        help="storage of the output (default f32: the package's lenses are usually f32 already)")
    args = parser.parse_args()
    convert(args.lens_dir, args.out_dir, np.float16 if args.dtype == "f16" else np.float32)


if __name__ == "__main__":
    main()

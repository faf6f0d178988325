#!/usr/bin/env python3
"""Checks tools/convert_tuned_lens.py's torch-free reader: writes a params.pt laid out as
torch.save writes one (a zip with archive/data.pkl — pickle protocol 2 whose tensors are
torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks) and whose
storages are persistent ids ('storage', torch.FloatStorage | torch.HalfStorage, key, 'cpu',
numel) — and archive/data/<key>), with stand-ins for the torch names so that torch is not needed,
then converts it and compares every tensor. One weight is stored transposed (stride (1, d)), as a
`.t()` view would be saved, to exercise the strides.

    python3 tools/check_convert_tuned_lens.py      # prints "ok" or fails; needs numpy, safetensors
"""
import collections
import io
import json
import os
import pickle
import subprocess
import sys
import tempfile
import types
import zipfile

import numpy as np
from safetensors.numpy import load_file


def fake_torch():
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise AssertionError("only pickled, never called here")

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    storages = {name: type(name, (), {"__module__": "torch", "__qualname__": name}) for name in ["FloatStorage", "HalfStorage"]}
    for name, cls in storages.items():
        setattr(torch, name, cls)
    torch._utils = utils
    sys.modules["torch"], sys.modules["torch._utils"] = torch, utils
    return _rebuild_tensor_v2, storages


def main():
    rebuild, storage_types = fake_torch()

    class Storage:
        def __init__(self, key, values, kind):
            self.key, self.values, self.kind = key, values, kind

    class Tensor:
        def __init__(self, storage, shape, stride):
            self.storage, self.shape, self.stride = storage, shape, stride

        def __reduce__(self):
            return rebuild, (self.storage, 0, self.shape, self.stride, False, collections.OrderedDict())

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", obj.kind, obj.key, "cpu", obj.values.size) if isinstance(obj, Storage) else None

    rng = np.random.default_rng(1)
    d, layers = 8, 3
    state, storages, expected = collections.OrderedDict(), [], {}
    for i in range(layers):
        w = rng.normal(size=(d, d)).astype(np.float32)
        b = rng.normal(size=d).astype(np.float16)
        expected[f"{i}.weight"], expected[f"{i}.bias"] = w, b.astype(np.float32)
        sw = Storage(str(2 * i), np.ascontiguousarray(w.T), storage_types["FloatStorage"])
        sb = Storage(str(2 * i + 1), b, storage_types["HalfStorage"])
        storages += [sw, sb]
        state[f"{i}.weight"] = Tensor(sw, (d, d), (1, d))
        state[f"{i}.bias"] = Tensor(sb, (d,), (1,))

    with tempfile.TemporaryDirectory() as tmp:
        lens, out = os.path.join(tmp, "lens"), os.path.join(tmp, "out")
        os.makedirs(lens)
        buffer = io.BytesIO()
        Pickler(buffer, protocol=2).dump(state)
        del sys.modules["torch"], sys.modules["torch._utils"]  # the converter must not see the stand-ins
        with zipfile.ZipFile(os.path.join(lens, "params.pt"), "w") as z:
            z.writestr("archive/data.pkl", buffer.getvalue())
            z.writestr("archive/version", "3\n")
            for s in storages:
                z.writestr(f"archive/data/{s.key}", s.values.tobytes())
        with open(os.path.join(lens, "config.json"), "w") as f:
            json.dump({"base_model_name_or_path": "check", "d_model": d, "num_hidden_layers": layers, "bias": True,
                       "lens_type": "linear_tuned_lens"}, f)
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "convert_tuned_lens.py")
        subprocess.run([sys.executable, script, lens, out], check=True)
        got = load_file(os.path.join(out, "params.safetensors"))
        assert sorted(got) == sorted(expected), sorted(got)
        for name, values in expected.items():
            assert np.array_equal(got[name], values), name
    print("ok")


if __name__ == "__main__":
    main()

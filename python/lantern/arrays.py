"""Arrays lent by the library without a copy, hook names, configurations and torch conversion."""
from __future__ import annotations

import re

import numpy as np

from . import _lib


class _Result:
    """Owns one forward pass's result handle; freed when the last array lent from it goes."""

    def __init__(self, handle: int) -> None:
        self.handle = handle

    def __del__(self) -> None:
        if self.handle and _lib is not None and _lib.lib is not None:
            _lib.lib.lantern_result_free(self.handle)
            self.handle = None


class _Lent:
    """Exposes library memory to numpy (`np.asarray` keeps this object, and so the result, alive)."""

    def __init__(self, owner: _Result, address: int, shape: tuple[int, ...]) -> None:
        self.owner = owner
        self.__array_interface__ = {"data": (address, False), "shape": shape, "typestr": "<f4", "version": 3}


def lent_arrays(handle: int) -> dict[str, np.ndarray]:
    """The entries of a result handle as float32 arrays over the library's memory, in forward order."""
    import ctypes

    owner = _Result(handle)
    out: dict[str, np.ndarray] = {}
    for i in range(_lib.lib.lantern_result_count(handle)):
        name = ctypes.c_char_p()
        rank = ctypes.c_int32()
        shape = (ctypes.c_int64 * 4)()
        data = ctypes.POINTER(ctypes.c_float)()
        _lib.call(_lib.lib.lantern_result_entry, handle, i, ctypes.byref(name), ctypes.byref(rank), shape,
                  ctypes.byref(data), failed=lambda r: r != 0)
        dims = tuple(int(shape[d]) for d in range(rank.value))
        address = ctypes.cast(data, ctypes.c_void_p).value
        out[name.value.decode()] = np.asarray(_Lent(owner, address, dims))
    return out


def is_torch(x) -> bool:
    return hasattr(x, "detach") and hasattr(x, "cpu")


def as_numpy(x) -> np.ndarray:
    """A torch tensor (its memory shared where it can be) or an array-like as a numpy array."""
    return x.detach().cpu().numpy() if is_torch(x) else np.asarray(x)


def to_torch(x):
    """A numpy array (or a dict of them) as torch tensors sharing memory; needs torch installed."""
    try:
        import torch
    except ImportError as error:
        raise ImportError("to_torch needs PyTorch (pip install torch); everything else in lantern works without it") from error
    if isinstance(x, dict):
        return {k: torch.from_numpy(np.asarray(v)) for k, v in x.items()}
    return torch.from_numpy(np.asarray(x))


_SHORT = {
    "embed": "hook_embed", "pos_embed": "hook_pos_embed", "ln_final": "ln_final.hook_normalized",
    "resid_pre": "blocks.{l}.hook_resid_pre", "resid_mid": "blocks.{l}.hook_resid_mid",
    "resid_post": "blocks.{l}.hook_resid_post", "attn_out": "blocks.{l}.hook_attn_out",
    "mlp_out": "blocks.{l}.hook_mlp_out", "q": "blocks.{l}.attn.hook_q", "k": "blocks.{l}.attn.hook_k",
    "v": "blocks.{l}.attn.hook_v", "rot_q": "blocks.{l}.attn.hook_rot_q", "rot_k": "blocks.{l}.attn.hook_rot_k",
    "q_normed": "blocks.{l}.attn.hook_q_normed", "k_normed": "blocks.{l}.attn.hook_k_normed",
    "pattern": "blocks.{l}.attn.hook_pattern", "z": "blocks.{l}.attn.hook_z", "result": "blocks.{l}.attn.hook_result",
    "pre": "blocks.{l}.mlp.hook_pre", "pre_linear": "blocks.{l}.mlp.hook_pre_linear", "post": "blocks.{l}.mlp.hook_post",
    "normalized": "blocks.{l}.ln{n}.hook_normalized", "scale": "blocks.{l}.ln{n}.hook_scale",
    "attn_scores": "blocks.{l}.attn.hook_attn_scores",
}


def get_act_name(name, layer=None, layer_type=None) -> str:
    """TransformerLens's `utils.get_act_name(name, layer, layer_type)`: ("resid_post", 3) →
    "blocks.3.hook_resid_post"; ("normalized", 3, "ln2") → "blocks.3.ln2.hook_normalized"; a full
    hook name passes through."""
    if name not in _SHORT:
        if layer is not None:
            raise KeyError(f"no short hook name '{name}' (known: {', '.join(sorted(_SHORT))})")
        return name
    return full_name((name, layer) + ((layer_type,) if layer_type is not None else ()))


def full_name(key) -> str:
    """A cache key as a hook name: ("resid_post", 3) → "blocks.3.hook_resid_post";
    ("normalized", 3, "ln2") → "blocks.3.ln2.hook_normalized"; names pass through."""
    if isinstance(key, str):
        return key
    name, *rest = key
    layer = rest[0] if rest else None
    template = _SHORT.get(name)
    if template is None:
        raise KeyError(f"no short hook name '{name}' (known: {', '.join(sorted(_SHORT))})")
    if name in ("normalized", "scale") and layer is None:
        return f"ln_final.hook_{name}"
    if "{l}" in template and layer is None:
        raise KeyError(f"'{name}' needs a layer: cache['{name}', layer]")
    ln = re.sub(r"\D", "", rest[1]) if len(rest) > 1 else "1"
    return template.format(l=layer, n=ln)


class Config:
    """A configuration read as attributes or as a dictionary: the model's with TransformerLens's
    names (`cfg.n_layers`, `cfg.d_model`, ..., `cfg.dtype`, `cfg.device`), an SAE's with SAELens's
    (`sae.cfg.d_in`, `sae.cfg.hook_name`, ...); `cfg["name"]`, `cfg.get`, `in` and `cfg.to_dict()` work too."""

    def __init__(self, values: dict) -> None:
        self.__dict__.update(values)

    def __getitem__(self, key: str):
        return self.__dict__[key]

    def __contains__(self, key: str) -> bool:
        return key in self.__dict__

    def get(self, key: str, default=None):
        return self.__dict__.get(key, default)

    def keys(self):
        return self.__dict__.keys()

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    def __repr__(self) -> str:
        shown = [k for k in ("model_name", "family", "n_layers", "d_model", "n_heads", "d_head", "d_mlp", "d_vocab", "backend",
                             "d_in", "d_sae", "hook_name", "activation") if k in self.__dict__]
        return "Config(" + ", ".join(f"{k}={self.__dict__[k]!r}" for k in shown) + ")"

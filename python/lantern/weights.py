"""TransformerLens's parameter attributes (`W_Q`, `blocks[l].mlp.W_out`, …) and hook points
(`hook_dict`, `blocks[l].hook_resid_post`) over a Lantern model.

Parameters are read once from the library and kept, read-only, in TransformerLens's shapes. They
are the checkpoint's own, unfolded: a norm's `w` is the gain the forward pass applies (Gemma's
1 + weight) and `ln*.hook_normalized` is the norm's output after it, so `hook_normalized @ W_Q` is
`hook_q` here, as it is in TransformerLens with its gains folded into W_Q. Biases are zeros where
the family has none (Qwen 2 has b_Q, b_K, b_V; GPT-2 and GPT-NeoX every projection's and their
LayerNorms' `b`, and GPT-2 `W_pos`)."""
from __future__ import annotations

import warnings

import numpy as np

from . import _lib
from .arrays import as_numpy, lent_arrays


def _frozen(a: np.ndarray) -> np.ndarray:
    a = a.view()
    a.setflags(write=False)
    return a


class ModelHookPoint:
    """A hook point of the model by name (TransformerLens's `model.hook_dict[name]`,
    `model.blocks[3].hook_resid_post`): `.name`, `.add_hook(fn)` (kept until `model.reset_hooks()`)."""

    def __init__(self, model, name: str) -> None:
        self._model = model
        self.name = name

    def layer(self) -> int | None:
        return int(self.name.split(".")[1]) if self.name.startswith("blocks.") else None

    def add_hook(self, fn, dir: str = "fwd") -> None:
        if dir != "fwd":
            raise _lib.UnsupportedError(f"hook direction {dir!r}: Lantern's hooks are forward hooks")
        self._model.add_hook(self.name, fn)

    def __repr__(self) -> str:
        return f"HookPoint({self.name!r})"


class _Module:
    """One of TransformerLens's submodules (`blocks[l]`, `.attn`, `.mlp`, `.ln1`): its parameters
    and hook points as attributes, read on first use."""

    def __init__(self, model, prefix: str, params: dict[str, str], hooks: dict[str, str], children=None) -> None:
        self._model, self._prefix, self._params, self._hooks = model, prefix, params, hooks
        self.__dict__.update(children or {})

    def __getattr__(self, attribute):
        params, hooks = self.__dict__.get("_params", {}), self.__dict__.get("_hooks", {})
        if attribute in params:
            return self._model._tl_parameter(params[attribute])
        if attribute in hooks:
            return ModelHookPoint(self._model, self._prefix + hooks[attribute])
        raise AttributeError(f"{self._prefix.rstrip('.') or 'model'} has no attribute {attribute!r}")

    def __repr__(self) -> str:
        return f"<{self._prefix.rstrip('.')}: {', '.join(sorted(self._params))}>"


class WeightsMixin:
    """The parameter attributes of `lantern.Model`."""

    def _parameter(self, name: str) -> np.ndarray:
        """A parameter in the library's layout ([out, in] matrices; norm gains), kept read-only."""
        store = self.__dict__.setdefault("_parameters", {})
        if name not in store:
            if name not in self.cfg.parameter_names:
                raise AttributeError(f"this model has no parameter '{name}'")
            arrays = lent_arrays(_lib.call(_lib.lib.lantern_parameter, self._handle, name.encode()))
            store[name] = _frozen(np.asarray(arrays[name]))
        return store[name]

    def _tl_parameter(self, name: str):
        """A parameter in TransformerLens's shape: `blocks.L.attn.W_Q` [heads, d_model, d_head],
        `blocks.L.attn.W_O` [heads, d_head, d_model], `mlp.W_in`/`W_gate` [d_model, d_mlp],
        `mlp.W_out` [d_mlp, d_model], `W_U` [d_model, d_vocab]; biases [heads, d_head] (Qwen 2's
        q/k/v) or zeros."""
        cfg = self.cfg
        heads, kv, dh = cfg.n_heads, cfg.n_key_value_heads, cfg.d_head
        kind = name.rsplit(".", 1)[-1]
        stored = name.replace("._b_", ".b_")
        if kind in ("b_Q", "b_K", "b_V", "_b_K", "_b_V") and stored in self.cfg.parameter_names:
            raw = self._parameter(stored)
            out = raw.reshape(heads if kind == "b_Q" else kv, dh)
            if kind in ("b_K", "b_V"):  # one per query head, as W_K and W_V
                out = _frozen(np.repeat(out, heads // kv, axis=0))
            return self._result(out)
        if kind in ("b_O", "b_in", "b_out") and stored in self.cfg.parameter_names:  # GPT-2, GPT-NeoX
            return self._result(self._parameter(stored))
        if kind.lstrip("_").startswith("b_"):  # _b_K, _b_V too (zeros at key/value heads)
            shapes = {"b_Q": (heads, dh), "b_K": (heads, dh), "b_V": (heads, dh), "b_O": (cfg.d_model,),
                      "_b_K": (kv, dh), "_b_V": (kv, dh), "b_in": (cfg.d_mlp,), "b_out": (cfg.d_model,),
                      "b_U": (cfg.d_vocab,)}
            return self._result(_frozen(np.zeros(shapes[kind], dtype=np.float32)))
        base = name.replace("._W_", ".W_")
        raw = self._parameter(base)
        if kind == "W_Q":
            out = raw.reshape(heads, dh, cfg.d_model).transpose(0, 2, 1)
        elif kind in ("W_K", "W_V", "_W_K", "_W_V"):
            out = raw.reshape(kv, dh, cfg.d_model).transpose(0, 2, 1)
            if not kind.startswith("_"):  # TransformerLens expands grouped heads to one per query head
                out = _frozen(np.repeat(out, heads // kv, axis=0))
        elif kind == "W_O":
            out = raw.reshape(cfg.d_model, heads, dh).transpose(1, 2, 0)
        elif kind in ("W_in", "W_gate", "W_out", "W_U"):
            out = raw.T
        else:
            out = raw
        return self._result(out)

    def _result(self, a: np.ndarray):
        if not getattr(self, "_torch", False):
            return a
        import torch
        with warnings.catch_warnings():  # read-only memory: torch warns that writes are undefined
            warnings.simplefilter("ignore", UserWarning)
            return torch.from_numpy(a)

    def _stacked(self, kind: str, module: str):
        """Every block's parameter stacked [n_layers, ...], made once (notebooks index it in loops)."""
        store = self.__dict__.setdefault("_parameters", {})
        key = f"blocks.*.{module}.{kind}"
        if key not in store:
            layers = [as_numpy(self._tl_parameter(f"blocks.{l}.{module}.{kind}")) for l in range(self.cfg.n_layers)]
            store[key] = _frozen(np.stack(layers))
        return self._result(store[key])

    @property
    def W_E(self):
        return self._tl_parameter("embed.W_E")

    @property
    def W_U(self):
        return self._tl_parameter("unembed.W_U")

    @property
    def b_U(self):
        return self._tl_parameter("unembed.b_U")

    @property
    def W_pos(self):
        if "pos_embed.W_pos" in self.cfg.parameter_names:  # GPT-2 [n_ctx, d_model]
            return self._tl_parameter("pos_embed.W_pos")
        raise AttributeError("W_pos: this model has no learned positional embedding (it rotates q and k: RoPE)")

    W_Q = property(lambda self: self._stacked("W_Q", "attn"))
    W_K = property(lambda self: self._stacked("W_K", "attn"))
    W_V = property(lambda self: self._stacked("W_V", "attn"))
    W_O = property(lambda self: self._stacked("W_O", "attn"))
    b_Q = property(lambda self: self._stacked("b_Q", "attn"))
    b_K = property(lambda self: self._stacked("b_K", "attn"))
    b_V = property(lambda self: self._stacked("b_V", "attn"))
    b_O = property(lambda self: self._stacked("b_O", "attn"))
    W_in = property(lambda self: self._stacked("W_in", "mlp"))
    W_gate = property(lambda self: self._stacked("W_gate", "mlp"))
    W_out = property(lambda self: self._stacked("W_out", "mlp"))
    b_in = property(lambda self: self._stacked("b_in", "mlp"))
    b_out = property(lambda self: self._stacked("b_out", "mlp"))

    @property
    def blocks(self) -> list:
        """`model.blocks[l]`: `.attn.W_Q`, `.mlp.W_out`, `.ln1.w`, `.hook_resid_post`, … of block l."""
        if "_blocks" not in self.__dict__:
            self._blocks = [self._block(l) for l in range(self.cfg.n_layers)]
        return self._blocks

    def _block(self, l: int) -> _Module:
        p = f"blocks.{l}."
        names = set(self.cfg.parameter_names)
        attn = {k: p + "attn." + k for k in ("W_Q", "W_K", "W_V", "W_O", "_W_K", "_W_V", "b_Q", "b_K", "b_V", "b_O",
                                               "_b_K", "_b_V")}
        attn_hooks = {h: "attn." + h for h in ("hook_q", "hook_k", "hook_v", "hook_q_normed", "hook_k_normed",
                                               "hook_rot_q", "hook_rot_k", "hook_attn_scores", "hook_pattern",
                                               "hook_z", "hook_result") if f"{p}attn.{h}" in self.hook_names}
        mlp = {k: p + "mlp." + k for k in ("W_in", "W_gate", "W_out", "b_in", "b_out")}
        mlp_hooks = {h: "mlp." + h for h in ("hook_pre", "hook_pre_linear", "hook_post")}
        children = {"attn": _Module(self, p, attn, attn_hooks), "mlp": _Module(self, p, mlp, mlp_hooks)}
        for norm in ("ln1", "ln2", "ln1_post", "ln2_post"):
            if f"{p}{norm}.w" in names:
                hooks = {h: f"{norm}.{h}" for h in ("hook_scale", "hook_normalized")} if "post" not in norm else {}
                params = {"w": f"{p}{norm}.w"} | ({"b": f"{p}{norm}.b"} if f"{p}{norm}.b" in names else {})
                children[norm] = _Module(self, p, params, hooks)
        hooks = {h: h for h in ("hook_resid_pre", "hook_attn_out", "hook_resid_mid", "hook_mlp_out", "hook_resid_post")}
        return _Module(self, p, {}, hooks, children)

    @property
    def ln_final(self) -> _Module:
        params = {"w": "ln_final.w"} | ({"b": "ln_final.b"} if "ln_final.b" in self.cfg.parameter_names else {})
        return _Module(self, "", params, {"hook_scale": "ln_final.hook_scale", "hook_normalized": "ln_final.hook_normalized"})

    @property
    def hook_dict(self) -> dict:
        """Every hook point by name, in forward order (TransformerLens's `model.hook_dict`)."""
        return {name: ModelHookPoint(self, name) for name in self.hook_names}

    @property
    def mod_dict(self) -> dict:
        return self.hook_dict

    def tokens_to_residual_directions(self, tokens):
        """Each token's unembedding direction (a column of W_U) [*tokens.shape, d_model]; a string is
        read as one token."""
        if isinstance(tokens, str):
            tokens = self.to_single_token(tokens)
        ids = np.asarray(as_numpy(tokens))
        if not np.issubdtype(ids.dtype, np.integer) or (ids.size and (ids.min() < 0 or ids.max() >= self.cfg.d_vocab)):
            raise _lib.InvalidArgumentError(f"tokens must be ids in 0…{self.cfg.d_vocab - 1}")
        return self._result(np.ascontiguousarray(self._parameter("unembed.W_U")[ids]))

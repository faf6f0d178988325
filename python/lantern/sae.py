"""lantern.SAE (SAELens's names) and lantern.Steering (Lantern's own steering intervention)."""
from __future__ import annotations

import ctypes
import json

import numpy as np

from . import _lib
from .arrays import Config, as_numpy, is_torch, to_torch

_F = ctypes.POINTER(ctypes.c_float)


class SAE:
    """A sparse autoencoder: Gemma Scope (params.npz or its folder), SAELens folders, Gemma Scope 2
    folders, Lantern's own. `encode`/`decode` run on the backend of `model` (the CPU without one);
    `W_enc` [d_in, d_sae], `W_dec` [d_sae, d_in], `b_enc`, `b_dec`, `threshold` are numpy arrays,
    or torch tensors (as SAELens's) when loaded with a model in torch mode or after `to_torch()`;
    `encode`/`decode` return what they were given (torch for torch)."""

    def __init__(self, handle: int, torch: bool = False) -> None:
        self._handle = handle
        self._torch = torch
        self.cfg = Config(json.loads(_lib.take_string(_lib.call(_lib.lib.lantern_sae_config, handle))))
        self._weights: dict[str, np.ndarray | None] = {}

    @classmethod
    def load(cls, path, model=None, hook: str | None = None) -> "SAE":
        """Loads the SAE at `path`; with `model`, on its backend and checked against it (hook, width)."""
        return cls(_lib.call(_lib.lib.lantern_sae_load, str(path).encode(), model._handle if model else None,
                             hook.encode() if hook else None), torch=bool(getattr(model, "_torch", False)))

    def to_torch(self) -> "SAE":
        """Weights as torch tensors from now on (needs torch). Returns the SAE."""
        self._torch = True
        return self

    def to_numpy(self) -> "SAE":
        self._torch = False
        return self

    load_from_disk = load

    def close(self) -> None:
        if getattr(self, "_handle", None):
            _lib.lib.lantern_sae_free(self._handle)
            self._handle = None

    def __del__(self) -> None:
        if _lib is not None and _lib.lib is not None:
            self.close()

    @property
    def d_in(self) -> int:
        return self.cfg["d_in"]

    @property
    def d_sae(self) -> int:
        return self.cfg["d_sae"]

    @property
    def hook_name(self) -> str:
        return self.cfg["hook_name"]

    def _apply(self, x, direction: int, width_in: int, width_out: int):
        given_torch = is_torch(x)
        a = np.ascontiguousarray(as_numpy(x), dtype=np.float32)
        if not np.isfinite(a).all():
            bad = np.argwhere(~np.isfinite(a))[0]
            raise _lib.InvalidArgumentError(f"the SAE's input holds {a[tuple(bad)]} at index {tuple(int(i) for i in bad)}: "
                                            "activations must be finite")
        if a.shape[-1] != width_in:
            what = "d_in" if direction == 0 else "d_sae"
            raise _lib.ShapeError(f"input of shape {a.shape}: the last dimension must be the SAE's {what} = {width_in}")
        out = np.empty(a.shape[:-1] + (width_out,), dtype=np.float32)
        _lib.call(_lib.lib.lantern_sae_apply, self._handle, direction, a.ctypes.data_as(_F), a.size // width_in,
                  out.ctypes.data_as(_F), failed=lambda r: r != 0)
        return to_torch(out) if given_torch else out

    def encode(self, x) -> np.ndarray:
        """Feature activations [..., d_sae] of activations [..., d_in]."""
        return self._apply(x, 0, self.d_in, self.d_sae)

    def decode(self, acts) -> np.ndarray:
        """Reconstructions [..., d_in] of feature activations [..., d_sae]."""
        return self._apply(acts, 1, self.d_sae, self.d_in)

    def forward(self, x) -> np.ndarray:
        return self.decode(self.encode(x))

    __call__ = forward

    def _weight(self, name: str, shape: tuple[int, ...]) -> np.ndarray | None:
        if name not in self._weights:
            out = np.empty(shape, dtype=np.float32)
            n = _lib.call(_lib.lib.lantern_sae_weight, self._handle, name.encode(), out.ctypes.data_as(_F), out.size,
                          failed=lambda r: r < 0)
            self._weights[name] = out if n else None
        w = self._weights[name]
        return to_torch(w) if self._torch and w is not None else w

    @property
    def W_enc(self) -> np.ndarray:
        return self._weight("W_enc", (self.d_in, self.d_sae))

    @property
    def W_dec(self) -> np.ndarray:
        return self._weight("W_dec", (self.d_sae, self.d_in))

    @property
    def b_enc(self) -> np.ndarray:
        return self._weight("b_enc", (self.d_sae,))

    @property
    def b_dec(self) -> np.ndarray:
        return self._weight("b_dec", (self.d_in,))

    @property
    def threshold(self) -> np.ndarray | None:
        return self._weight("threshold", (self.d_sae,))

    def evaluate(self, model, texts, include_bos: bool = False, dense_threshold: float = 0.1,
                 prepend_bos: bool = True, progress=None) -> dict:
        """The dark matter of this SAE on `model`, as `lantern sae eval --json` reports it (the
        analysis "sae eval"): "overall" (L0, explained variance, cosine, relative error, CE clean /
        with the SAE spliced in / zero-ablated, CE-loss score, dead and dense features) and "texts"
        (per token). `texts`: a string, a list of strings, or token ids (one sequence or a list of
        them). `progress(done, total, label)` is called after each text."""
        if isinstance(texts, str) or (len(texts) > 0 and not isinstance(texts[0], str) and np.ndim(texts[0]) == 0):
            texts = [texts]
        sequences = [model._encode(t, prepend_bos) if isinstance(t, str) else np.asarray(t, dtype=np.int64).reshape(-1)
                     for t in texts]
        return model.analyze("sae eval", saes=[self], progress=progress, include_bos=bool(include_bos),
                             dense_threshold=float(dense_threshold), texts=[{"token_ids": s.tolist()} for s in sequences])

    def __repr__(self) -> str:
        return f"lantern.SAE({self.cfg['source']!r}, {self.hook_name}, d_in={self.d_in}, d_sae={self.d_sae})"


class Steering:
    """Lantern's steering (`lantern steer`) as an entry of `fwd_hooks`, run inside the library:
    mode "add" adds strength·W_dec[f] (summed over `features`) and strength·`direction` at the
    hook; "clamp" sets each feature's activation to `strength`, keeping the SAE's error."""

    def __init__(self, sae: SAE | None = None, features=(), strength: float = 1.0, mode: str = "add",
                 direction=None, hook: str | None = None) -> None:
        self.sae, self.features, self.strength, self.mode = sae, [int(f) for f in features], float(strength), mode
        self.direction = None if direction is None else np.ascontiguousarray(np.asarray(direction, dtype=np.float32).reshape(-1))
        self.hook = hook

    def _attach(self, model, hooks_handle) -> None:
        features = (ctypes.c_int64 * max(len(self.features), 1))(*self.features)
        direction = self.direction.ctypes.data_as(_F) if self.direction is not None else None
        _lib.call(_lib.lib.lantern_hooks_add_steering, hooks_handle, model._handle,
                  self.sae._handle if self.sae else None, features, len(self.features), direction,
                  0 if self.direction is None else self.direction.size, self.hook.encode() if self.hook else None,
                  self.strength, self.mode.encode(), failed=lambda r: r != 0)

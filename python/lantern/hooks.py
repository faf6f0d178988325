"""Hook points, filters and TransformerLens's activation shapes."""
from __future__ import annotations

import ctypes
import fnmatch
import re
from typing import Callable, Iterable

import numpy as np

from . import _lib
from .arrays import as_numpy

# Hooks whose rows Lantern keeps as [pos, heads·d_head] and TransformerLens splits per head.
_PER_HEAD = re.compile(r"attn\.hook_(q|k|v|q_normed|k_normed|rot_q|rot_k|z|result)$")


class HookPoint:
    """What a hook function gets beside the activation (TransformerLens's HookPoint: `.name`,
    `.layer()`), plus `positions`: the absolute positions of the activation's rows (past 0 when
    generation decodes with the KV cache)."""

    def __init__(self, name: str, layer: int, positions: range) -> None:
        self.name = name
        self._layer = layer
        self.positions = positions

    def layer(self) -> int | None:
        return None if self._layer < 0 else self._layer

    def __repr__(self) -> str:
        return f"HookPoint({self.name!r}, positions={self.positions.start}..{self.positions.stop - 1})"


def expand(names_filter, hook_names: list[str], what: str = "names_filter") -> list[str]:
    """Hook names selected by a name, a glob (`*` crosses dots), a list of them, or a function of
    the name; every name or glob must match a hook (Lantern's rule for `--hooks`)."""
    if names_filter is None:
        return list(hook_names)
    if callable(names_filter):
        return [n for n in hook_names if names_filter(n)]
    patterns = [names_filter] if isinstance(names_filter, str) else list(names_filter)
    chosen: list[str] = []
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise TypeError(f"{what}: expected hook names or globs, got {pattern!r}")
        matched = [n for n in hook_names if fnmatch.fnmatchcase(n, pattern)]
        if not matched:
            raise _lib.InvalidArgumentError(f"{what} '{pattern}' matches no hook of this model (see model.hook_names)")
        chosen.extend(n for n in matched if n not in chosen)
    return chosen


def tl_shape(name: str, shape: tuple[int, ...], n_heads: int, n_kv_heads: int) -> tuple[int, ...]:
    """TransformerLens's shape without the batch dimension: per-head hooks get a head axis."""
    match = _PER_HEAD.search(name)
    if not match or len(shape) != 2:
        return shape
    heads = n_kv_heads if match.group(1) in ("k", "v", "k_normed", "rot_k") else n_heads
    return (shape[0], heads, shape[1] // heads)


HookFunction = Callable[[np.ndarray, HookPoint], "np.ndarray | None"]


class HookSet:
    """The hooks of one call, made in the library: captures plus Python functions and Lantern's
    own interventions (Steering). Python exceptions raised in a hook are re-raised by `slot`."""

    def __init__(self, model, capture: Iterable[str], fwd_hooks) -> None:
        self.slot = _lib.ErrorSlot()
        self.handle = _lib.lib.lantern_hooks_new("\n".join(capture).encode())
        self._callbacks = []  # the ctypes thunks must outlive the call
        try:
            for entry in fwd_hooks:
                if hasattr(entry, "_attach"):
                    entry._attach(model, self.handle)
                    continue
                target, fn = entry
                for name in expand(target, model.hook_names, what="hook"):
                    thunk = _lib.HOOK_CALLBACK(self._thunk(model, fn))
                    self._callbacks.append(thunk)
                    _lib.call(_lib.lib.lantern_hooks_add_callback, self.handle, name.encode(), thunk, None,
                              failed=lambda r: r != 0)
        except BaseException:
            self.close()
            raise

    def _thunk(self, model, fn: HookFunction):
        cfg = model.cfg

        def run(_user, name, data, shape, rank, layer, start) -> int:
            try:
                dims = tuple(shape[i] for i in range(rank))
                count = int(np.prod(dims))
                lent = np.ctypeslib.as_array(ctypes.cast(data, ctypes.POINTER(ctypes.c_float)), shape=(count,))
                text = name.decode()
                # The function gets an array of its own: the library's buffer is gone once the
                # callback returns, and `stored.append(x)` is a common idiom. Edits made in place
                # are copied back, as are returned arrays (of exactly the activation's shape).
                owned = lent.copy()
                is_map = text.endswith("hook_pattern") or text.endswith("hook_attn_scores")
                shape = (1,) + (dims if is_map else tl_shape(text, dims, cfg.n_heads, cfg.n_key_value_heads))
                view = owned.reshape(shape)
                given = view
                if getattr(model, "_torch", False):  # a tensor over the same memory: in-place edits land
                    import torch
                    given = torch.from_numpy(view)
                out = fn(given, HookPoint(text, layer, range(start, start + (dims[1] if len(dims) == 3 else dims[0]))))
                if out is None or out is given or out is view:
                    lent[:] = owned
                    return 1
                out = as_numpy(out)
                if out.shape != view.shape:
                    raise _lib.ShapeError(f"hook {text}: the function returned shape {out.shape} "
                                          f"for an activation of shape {view.shape}")
                if not (np.issubdtype(out.dtype, np.floating) or np.issubdtype(out.dtype, np.integer)):
                    raise _lib.ShapeError(f"hook {text}: the function returned dtype {out.dtype}; activations are float32")
                lent[:] = out.astype(np.float32, copy=False).reshape(-1)
                return 1
            except BaseException as error:  # re-raised after the library returns
                if self.slot.pending is None:
                    self.slot.pending = error
                return -1

        return run

    def close(self) -> None:
        if self.handle:
            _lib.lib.lantern_hooks_free(self.handle)
            self.handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

"""TransformerLens's ActivationCache over Lantern's activations, with its residual-stream methods."""
from __future__ import annotations

import numpy as np

from . import _lib
from .arrays import as_numpy, full_name, is_torch, to_torch


def _sliced(a: np.ndarray, pos_slice, dim: int = -2) -> np.ndarray:
    """TransformerLens's Slice: None keeps all; an int picks one position (the axis goes); a
    (start, stop[, step]) tuple, a slice, a list or an array index it."""
    if pos_slice is None:
        return a
    if isinstance(pos_slice, tuple):
        pos_slice = slice(*pos_slice)
    elif is_torch(pos_slice):
        pos_slice = as_numpy(pos_slice)
    elif isinstance(pos_slice, list):
        pos_slice = np.asarray(pos_slice)
    index = [slice(None)] * a.ndim
    index[dim] = pos_slice
    return a[tuple(index)]


class ActivationCache:
    """Activations keyed by hook name (TransformerLens's ActivationCache): `cache[name]`,
    `cache["resid_post", 3]`, `keys()`, `items()`, `to_torch()`, and the residual-stream methods
    `accumulated_resid`, `decompose_resid`, `stack_head_results`, `apply_ln_to_stack`,
    `logit_attrs`, `compute_head_results`, `remove_batch_dim`. Arrays are float32 with a batch
    dimension (numpy, or torch tensors sharing their memory when the model is in torch mode); a
    single unpadded prompt's arrays are the library's memory, not copies.

    Norms are Lantern's unfolded ones: `apply_ln_to_stack` divides by the cached `hook_scale` and
    multiplies by the norm's gain, so `cache.apply_ln_to_stack(stack) @ model.W_U` are logits
    (before any final softcap), as TransformerLens's is with its gains folded into W_U."""

    def __init__(self, arrays: dict[str, np.ndarray], model=None, torch: bool = False) -> None:
        self.cache_dict = arrays
        self.model = model
        self.has_batch_dim = True
        self._torch = torch

    def _out(self, a):
        return to_torch(a) if self._torch else a

    def _array(self, key) -> np.ndarray:
        name = full_name(key)
        try:
            return self.cache_dict[name]
        except KeyError:
            raise KeyError(f"'{name}' is not in the cache (cached: {len(self.cache_dict)} hooks; names_filter chose them)") from None

    def __getitem__(self, key):
        return self._out(self._array(key))

    def __contains__(self, key) -> bool:
        return full_name(key) in self.cache_dict

    def __iter__(self):
        return iter(self.cache_dict)

    def __len__(self) -> int:
        return len(self.cache_dict)

    def keys(self):
        return self.cache_dict.keys()

    def values(self):
        return [self._out(a) for a in self.cache_dict.values()]

    def items(self):
        return [(k, self._out(a)) for k, a in self.cache_dict.items()]

    def to_torch(self) -> dict:
        return to_torch(self.cache_dict)

    def remove_batch_dim(self) -> "ActivationCache":
        """Drops the batch dimension of a one-prompt cache in place, as TransformerLens does (its
        arrays then read [pos, ...]); returns the cache. A batch of several prompts keeps it."""
        if self.cache_dict and all(a.shape[0] == 1 for a in self.cache_dict.values()):
            self.cache_dict = {name: a[0] for name, a in self.cache_dict.items()}
            self.has_batch_dim = False
        else:
            import warnings
            warnings.warn("remove_batch_dim: the cache holds several prompts; the batch dimension is kept")
        return self

    def __repr__(self) -> str:
        return f"ActivationCache({len(self)} hooks: {', '.join(list(self.cache_dict)[:4])}{', ...' if len(self) > 4 else ''})"

    # MARK: the residual stream

    def _model(self):
        if self.model is None:
            raise _lib.InvalidArgumentError("this cache was made without a model; its residual-stream methods need one")
        return self.model

    def _layer(self, layer) -> int:
        n = self._model().cfg.n_layers
        return n if layer is None or layer == -1 else int(layer)

    def _finish(self, components: list[np.ndarray], labels: list[str], return_labels: bool, apply_ln, layer, pos_slice,
                mlp_input=False, recompute_ln=False):
        if components:
            stack = np.stack(components)
        else:
            stack = np.zeros((0,) + _sliced(self._array("hook_embed"), pos_slice).shape, dtype=np.float32)
        if apply_ln:
            stack = self._apply_ln(stack, layer, mlp_input, pos_slice, None, self.has_batch_dim, recompute_ln)
        stack = self._out(stack)
        return (stack, labels) if return_labels else stack

    def accumulated_resid(self, layer=None, incl_mid: bool = False, apply_ln: bool = False, pos_slice=None,
                          mlp_input: bool = False, return_labels: bool = False):
        """The residual stream before each block up to `layer` (None or -1: all, then the final
        residual) [components, batch, pos, d_model]; labels "0_pre", "0_mid", …, "final_post"."""
        n, layer = self._model().cfg.n_layers, self._layer(layer)
        components, labels = [], []
        for l in range(layer + 1):
            if l == n:
                components.append(self._array(("resid_post", n - 1)))
                labels.append("final_post")
                continue
            components.append(self._array(("resid_pre", l)))
            labels.append(f"{l}_pre")
            # A parallel block (GPT-NeoX) has no resid_mid: its MLP reads resid_pre as attention does.
            if ((incl_mid and l < layer) or (mlp_input and l == layer)) and not self._model().cfg.parallel_attn_mlp:
                components.append(self._array(("resid_mid", l)))
                labels.append(f"{l}_mid")
        components = [_sliced(c, pos_slice) for c in components]
        return self._finish(components, labels, return_labels, apply_ln, layer, pos_slice, mlp_input,
                            recompute_ln=layer == n)

    def decompose_resid(self, layer=None, mlp_input: bool = False, mode: str = "all", apply_ln: bool = False,
                        pos_slice=None, incl_embeds: bool = True, return_labels: bool = False):
        """The residual stream before `layer` as the sum of its parts: the embedding, then each
        block's attention and MLP outputs ("embed", "0_attn_out", "0_mlp_out", …)."""
        if mode not in ("all", "attn", "mlp"):
            raise _lib.InvalidArgumentError(f"mode {mode!r}: expected 'all', 'attn' or 'mlp'")
        layer = self._layer(layer)
        components, labels = [], []
        if incl_embeds:
            components.append(self._array("hook_embed"))
            labels.append("embed")
            if "hook_pos_embed" in self._model().hook_names:  # GPT-2's learned positions
                components.append(self._array("hook_pos_embed"))
                labels.append("pos_embed")
        for l in range(layer):
            if mode != "mlp":
                components.append(self._array(("attn_out", l)))
                labels.append(f"{l}_attn_out")
            if mode != "attn":
                components.append(self._array(("mlp_out", l)))
                labels.append(f"{l}_mlp_out")
        if mlp_input and mode != "mlp" and not self._model().cfg.parallel_attn_mlp:
            components.append(self._array(("attn_out", layer)))
            labels.append(f"{layer}_attn_out")
        components = [_sliced(c, pos_slice) for c in components]
        return self._finish(components, labels, return_labels, apply_ln, layer, pos_slice, mlp_input)

    def compute_head_results(self) -> None:
        """Each head's output before the heads are summed, `blocks.L.attn.hook_result` [batch, pos,
        head, d_model] = z of that head times its slice of W_O, for every layer whose z is cached."""
        model = self._model()
        for l in range(model.cfg.n_layers):
            name = f"blocks.{l}.attn.hook_result"
            if name in self.cache_dict:
                continue
            z = self._array(("z", l))
            self.cache_dict[name] = np.einsum("...hd,hdm->...hm", z, as_numpy(model.blocks[l].attn.W_O)).astype(np.float32)

    def stack_head_results(self, layer: int = -1, return_labels: bool = False, incl_remainder: bool = False,
                           pos_slice=None, apply_ln: bool = False):
        """Every head's output in the layers before `layer` [heads, batch, pos, d_model], labels
        "L0H0", …; `incl_remainder` adds the residual minus their sum. Heads are summed before
        Gemma's post-attention norm, so they add up to hook_attn_out only without one."""
        n_heads = self._model().cfg.n_heads
        layer = self._layer(layer)
        if any(f"blocks.{l}.attn.hook_result" not in self.cache_dict for l in range(layer)):
            self.compute_head_results()
        components, labels = [], []
        for l in range(layer):
            result = _sliced(self._array(("result", l)), pos_slice, dim=-3)
            components.extend(np.moveaxis(result, -2, 0))
            labels.extend(f"L{l}H{h}" for h in range(n_heads))
        if incl_remainder:
            resid = _sliced(self._array(("resid_post", layer - 1)), pos_slice)
            components.append(resid - (np.sum(components, axis=0) if components else 0))
            labels.append("remainder")
        return self._finish(components, labels, return_labels, apply_ln, layer, pos_slice)

    def apply_ln_to_stack(self, residual_stack, layer=None, mlp_input: bool = False, pos_slice=None, batch_slice=None,
                          has_batch_dim: bool = True, recompute_ln: bool = False):
        """Each component of a stack [components, batch, pos, d_model] through the norm that reads
        the residual at `layer` (None or -1: ln_final; `mlp_input`: the block's ln2, else its ln1),
        with the whole residual's cached scale (`recompute_ln`: each component's own), times the
        norm's gain."""
        stack = self._apply_ln(as_numpy(residual_stack), self._layer(layer), mlp_input, pos_slice, batch_slice,
                               has_batch_dim, recompute_ln)
        return self._out(stack)

    def _apply_ln(self, stack, layer, mlp_input, pos_slice, batch_slice, has_batch_dim, recompute_ln):
        model = self._model()
        n = model.cfg.n_layers
        if has_batch_dim and batch_slice is not None:
            stack = _sliced(stack, batch_slice, dim=1)
        norm = "ln_final" if layer == n else f"blocks.{layer}.ln{2 if mlp_input else 1}"
        gain = as_numpy(model._parameter(f"{norm}.w"))
        if model.cfg.normalization_type == "LN":
            # A LayerNorm removes each row's mean first: each component's own, as TransformerLens's
            # apply_ln_to_stack centres the stack (its bias, a constant, belongs to no component).
            stack = stack - stack.mean(axis=-1, keepdims=True, dtype=np.float64)
        if recompute_ln and layer == n:
            scale = np.sqrt(np.mean(np.square(stack, dtype=np.float64), axis=-1, keepdims=True) + model.cfg.eps)
        else:
            key = f"{norm}.hook_scale"
            if key not in self.cache_dict:
                raise KeyError(f"apply_ln needs '{key}' in the cache (run_with_cache with it in names_filter)")
            scale = _sliced(self._array(key), pos_slice)
            if has_batch_dim and batch_slice is not None and self.has_batch_dim:
                scale = _sliced(scale, batch_slice, dim=0)
        return (stack / scale * gain).astype(np.float32)

    def logit_attrs(self, residual_stack, tokens, incorrect_tokens=None, pos_slice=None, batch_slice=None,
                    has_batch_dim: bool = True):
        """How much each component of a stack pushes towards `tokens` (minus `incorrect_tokens`):
        the final norm applied with the cached scale, dotted with the tokens' unembedding
        directions [components, ...]."""
        model = self._model()
        directions = as_numpy(model.tokens_to_residual_directions(tokens))
        if incorrect_tokens is not None:
            wrong = as_numpy(model.tokens_to_residual_directions(incorrect_tokens))
            if wrong.shape != directions.shape:
                raise _lib.ShapeError(f"tokens and incorrect_tokens must have the same shape ({directions.shape[:-1]} "
                                      f"and {wrong.shape[:-1]})")
            directions = directions - wrong
        scaled = self._apply_ln(as_numpy(residual_stack), model.cfg.n_layers, False, pos_slice, batch_slice, has_batch_dim,
                                False)
        if has_batch_dim and scaled.ndim == 4 and directions.ndim == 2 and directions.shape[0] == scaled.shape[1]:
            directions = directions[:, None]  # per-prompt directions broadcast over positions
        return self._out((scaled * directions).sum(axis=-1))

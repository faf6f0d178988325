"""lantern.Model: TransformerLens's HookedTransformer API over Lantern's exact Swift engine."""
from __future__ import annotations

import contextlib
import ctypes
import json
import queue
import threading
from typing import Iterator

import numpy as np

from . import _lib
from .arrays import Config, as_numpy, lent_arrays, to_torch
from .cache import ActivationCache
from .hooks import HookSet, expand, tl_shape
from .lens import LensResult
from .tokenizer import Tokenizer
from .weights import WeightsMixin


def _ids_pointer(ids: np.ndarray):
    return ids.ctypes.data_as(ctypes.POINTER(ctypes.c_int32))


class Model(WeightsMixin):
    """A loaded model. `Model.load(...)`, then TransformerLens's calls: `to_tokens`, `run_with_cache`,
    `run_with_hooks`, `hooks`, `generate`, the parameters (`W_Q`, `blocks[l].mlp.W_out`, …),
    `hook_dict` and `tokenizer`; plus `lens` (logit and tuned lens) and `lens_logits`. Results are
    numpy arrays, or torch tensors after `to_torch()`."""

    def __init__(self, handle: int) -> None:
        self._handle = handle
        values = json.loads(_lib.take_string(_lib.call(_lib.lib.lantern_model_config, handle)))
        # TransformerLens's dtype and device: activations come back as float32 numpy arrays; the
        # device is where the forward pass runs (the CPU, or a GPU through Vulkan).
        values.setdefault("dtype", "float32")
        values.setdefault("device", "cpu" if values.get("backend", "cpu").lower().startswith("cpu") else "vulkan")
        self.cfg = Config(values)
        self.hook_names: list[str] = list(self.cfg.hook_names)
        self._context_hooks: list = []
        # TransformerLens pads with the tokenizer's pad token; models without one pad with EOS.
        eos = self.cfg.eos_token_ids[0] if self.cfg.eos_token_ids else 0
        self.pad_token_id: int = self.cfg.pad_token_id if self.cfg.pad_token_id is not None else eos
        self._torch = False
        self.tokenizer = Tokenizer(self) if self.cfg.has_tokenizer else None

    def to_torch(self) -> "Model":
        """From now on results are torch tensors (logits, caches, tokens as int64, parameters) and
        hooks get and may return torch tensors, as in TransformerLens; they share memory with the
        arrays Lantern made. Needs torch installed. Returns the model."""
        try:
            import torch  # noqa: F401
        except ImportError as error:
            raise ImportError("to_torch needs PyTorch (pip install torch); without it results are numpy arrays") from error
        self._torch = True
        return self

    def to_numpy(self) -> "Model":
        """Results as numpy arrays again (the default). Returns the model."""
        self._torch = False
        return self

    def _out(self, a):
        return to_torch(a) if self._torch and a is not None else a

    @classmethod
    def load(cls, model: str | None = None, backend: str = "auto", widen_weights: bool = False) -> "Model":
        """`model`: a cached model's name ("gemma3-270m", the default, fetched on first use), a
        Hugging Face directory or a .gguf file. `backend`: "auto" (a real GPU through Vulkan, else
        the CPU), "cpu" or "vulkan". `widen_weights`: see `widen_weights()`."""
        spec = None if model is None else str(model).encode()
        loaded = cls(_lib.call(_lib.lib.lantern_model_load, spec, backend.encode()))
        if widen_weights:
            loaded.widen_weights()
        return loaded

    def widen_weights(self, limit_bytes: int | None = None) -> bool:
        """Keep each weight dequantised to f32 after its first many-row product (up to
        `limit_bytes` in all, default a quarter of memory; the default model takes ~1.1 GB): a
        session that runs many traces or caches then skips the dequantising on every later pass.
        The numbers are bit-identical. CPU backend only: returns False on a GPU backend."""
        return _lib.call(_lib.lib.lantern_model_widen_weights, self._handle, int(limit_bytes or 0),
                         failed=lambda r: r < 0) == 1

    @property
    def widened_bytes(self) -> int:
        """Bytes of weights held widened to f32 now (0 unless `widen_weights` was asked for)."""
        return _lib.call(_lib.lib.lantern_model_widened_bytes, self._handle, failed=lambda r: r < 0)

    from_pretrained = load

    def close(self) -> None:
        if getattr(self, "_handle", None):
            _lib.lib.lantern_model_free(self._handle)
            self._handle = None

    def __del__(self) -> None:
        if _lib is not None and _lib.lib is not None:
            self.close()

    def __repr__(self) -> str:
        return f"lantern.Model({self.cfg.model_name!r}, backend={self.cfg.backend!r}, layers={self.cfg.n_layers})"

    # MARK: tokens

    def _encode(self, text: str, prepend_bos: bool) -> np.ndarray:
        out = ctypes.POINTER(ctypes.c_int32)()
        n = _lib.call(_lib.lib.lantern_tokenize, self._handle, text.encode(), 1 if prepend_bos else 0,
                      ctypes.byref(out), failed=lambda r: r < 0)
        try:
            return np.array(out[:n], dtype=np.int32)
        finally:
            _lib.lib.lantern_free(ctypes.cast(out, ctypes.c_void_p))

    def _decode(self, ids, mode: int):
        ids = np.ascontiguousarray(np.asarray(ids, dtype=np.int32).reshape(-1))
        return _lib.take_string(_lib.call(_lib.lib.lantern_detokenize, self._handle, _ids_pointer(ids), ids.size, mode))

    def to_tokens(self, input, prepend_bos: bool = True, padding_side: str = "right"):
        """Text (or a list of texts) → int64 tokens [batch, pos], BOS first when `prepend_bos`;
        several texts are padded with `pad_token_id` on `padding_side` ("right" or "left")."""
        texts = [input] if isinstance(input, str) else list(input)
        rows = [self._encode(t, prepend_bos) for t in texts]
        return self._out(self._pad(rows, padding_side)[0])

    def _pad(self, rows: list[np.ndarray], padding_side: str) -> tuple[np.ndarray, np.ndarray]:
        if padding_side not in ("right", "left"):
            raise _lib.InvalidArgumentError(f"padding_side '{padding_side}': expected right or left")
        width = max((len(r) for r in rows), default=0)
        tokens = np.full((len(rows), width), self.pad_token_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, r in enumerate(rows):
            start = 0 if padding_side == "right" else width - len(r)
            tokens[i, start:start + len(r)] = r
            mask[i, start:start + len(r)] = 1
        return tokens, mask

    def to_string(self, tokens):
        """Tokens → text: one string for [pos] (or [1, pos]), a list for [batch, pos]."""
        tokens = np.asarray(tokens)
        if tokens.ndim == 2 and tokens.shape[0] != 1:
            return [self._decode(row, 0) for row in tokens]
        return self._decode(tokens, 0)

    def to_str_tokens(self, input, prepend_bos: bool = True) -> list[str]:
        """Each token's own text: ["<bos>", "The", " reliability", ...]."""
        ids = self._encode(input, prepend_bos) if isinstance(input, str) else np.asarray(input).reshape(-1)
        return json.loads(self._decode(ids, 2))

    def to_single_token(self, text: str) -> int:
        ids = self._encode(text, prepend_bos=False)
        if len(ids) != 1:
            raise _lib.InvalidArgumentError(f"'{text}' is {len(ids)} tokens, not one")
        return int(ids[0])

    def get_attention_mask(self, tokens) -> np.ndarray:
        """TransformerLens's mask of padded tokens [batch, pos]: 1 where tokens are not the pad token
        (a leading BOS counts as a token when BOS and pad share an id)."""
        tokens = np.atleast_2d(np.asarray(tokens))
        mask = (tokens != self.pad_token_id).astype(np.int64)
        if self.cfg.bos_token_id == self.pad_token_id:
            first = np.argmax(tokens == self.pad_token_id, axis=1)
            mask[np.arange(len(tokens)), first] = 1
        return mask

    def _rows(self, input, prepend_bos: bool, padding_side: str, attention_mask):
        """(tokens [batch, pos], [(row, start, ids)]) for text, texts or tokens."""
        if isinstance(input, str) or (isinstance(input, (list, tuple)) and input and isinstance(input[0], str)):
            texts = [input] if isinstance(input, str) else list(input)
            tokens, mask = self._pad([self._encode(t, prepend_bos) for t in texts], padding_side)
        else:
            input = as_numpy(input)
            tokens = _token_ids(input)
            if tokens.ndim != 2:
                raise _lib.ShapeError(f"tokens of shape {tokens.shape}: expected [pos] or [batch, pos]")
            if attention_mask is not None:
                mask = np.atleast_2d(np.asarray(attention_mask))
            elif tokens.shape[0] == 1:
                mask = np.ones(tokens.shape, dtype=np.int64)
            else:
                mask = self.get_attention_mask(tokens)
            if mask.shape != tokens.shape:
                raise _lib.ShapeError(f"attention_mask {mask.shape} does not match tokens {tokens.shape}")
        rows = []
        for r in range(tokens.shape[0]):
            kept = np.flatnonzero(mask[r])
            if len(kept) == 0:
                raise _lib.InvalidArgumentError(f"row {r} of the batch has no tokens (its attention mask is all 0)")
            start, stop = int(kept[0]), int(kept[-1]) + 1
            if stop - start != len(kept):
                raise _lib.InvalidArgumentError(f"row {r}: padding must be on the left or the right, not inside the prompt")
            rows.append((r, start, np.ascontiguousarray(tokens[r, start:stop], dtype=np.int32)))
        return tokens, rows

    # MARK: forward passes

    def _forward(self, input, names: list[str], fwd_hooks, logits: bool, stop_at_layer, prepend_bos,
                 padding_side, attention_mask):
        tokens, rows = self._rows(input, prepend_bos, padding_side, attention_mask)
        stop = -1 if stop_at_layer is None else int(stop_at_layer) - 1  # checked by _stop_name
        batch, width = tokens.shape
        unpadded = batch == 1 and rows[0][2].size == width
        out: dict[str, np.ndarray] = {}
        with HookSet(self, names, list(self._context_hooks) + list(fwd_hooks)) as hooks:
            mode = 2 if logits and stop < 0 else 0
            if unpadded:  # one prompt: the library's own memory, no copy
                handle = _lib.call(_lib.lib.lantern_run, self._handle, _ids_pointer(rows[0][2]), rows[0][2].size,
                                   hooks.handle, mode, stop, slot=hooks.slot)
                for name, a in lent_arrays(handle).items():
                    out[name] = (a if self._keeps_shape(name) else
                                 a.reshape(tl_shape(name, a.shape, self.cfg.n_heads, self.cfg.n_key_value_heads)))[None]
            elif stop >= 0:  # a pass that stops early runs each prompt alone
                for row in rows:
                    handle = _lib.call(_lib.lib.lantern_run, self._handle, _ids_pointer(row[2]), row[2].size, hooks.handle,
                                       mode, stop, slot=hooks.slot)
                    self._place(out, lent_arrays(handle), [row], batch, width, prefixed=False)
            else:  # prompts packed as rows of one pass, a chunk of them at a time
                for chunk in _chunks(rows, _BATCH_ROWS_WITH_LOGITS if mode == 2 else _BATCH_ROWS):
                    ids = np.ascontiguousarray(np.concatenate([row[2] for row in chunk]), dtype=np.int32)
                    lengths = np.array([row[2].size for row in chunk], dtype=np.int64)
                    handle = _lib.call(_lib.lib.lantern_run_batch, self._handle, _ids_pointer(ids),
                                       lengths.ctypes.data_as(ctypes.POINTER(ctypes.c_int64)), len(chunk), hooks.handle,
                                       mode, slot=hooks.slot)
                    self._place(out, lent_arrays(handle), chunk, batch, width, prefixed=True)
        return out.pop("logits", None), out, rows

    def _place(self, out: dict, arrays: dict, chunk, batch: int, width: int, prefixed: bool) -> None:
        """Writes each prompt's activations into the batch's arrays (made on first sight) and lets
        the library's go, so that a batch never holds its results twice."""
        for key in list(arrays):
            a = arrays.pop(key)
            index, name = key.split("/", 1) if prefixed else ("0", key)
            r, s, ids = chunk[int(index)]
            if name not in out:
                out[name] = self._batch_array(name, a, batch, width)
            if self._is_map(name):
                out[name][r, :, s:s + ids.size, s:s + ids.size] = a
            else:
                out[name][r, s:s + ids.size] = a.reshape((ids.size,) + out[name].shape[2:])

    @staticmethod
    def _is_map(name: str) -> bool:
        return name.endswith("attn.hook_pattern") or name.endswith("attn.hook_attn_scores")

    def _keeps_shape(self, name: str) -> bool:
        return self._is_map(name) or name == "logits"

    def _batch_array(self, name: str, first: np.ndarray, batch: int, width: int) -> np.ndarray:
        """Zeros for a padded batch's `name` (attention maps [batch, heads, width, width], else
        [batch, width, ...] in TransformerLens's shape), shaped from one prompt's array."""
        if self._is_map(name):
            return np.zeros((batch, first.shape[0], width, width), dtype=np.float32)
        inner = first.shape[1:] if name == "logits" else tl_shape(name, first.shape, self.cfg.n_heads,
                                                                  self.cfg.n_key_value_heads)[1:]
        return np.zeros((batch, width) + tuple(inner), dtype=np.float32)

    def run_with_cache(self, input, names_filter=None, return_type: str | None = "logits", fwd_hooks=(),
                       stop_at_layer: int | None = None, prepend_bos: bool = True, padding_side: str = "right",
                       attention_mask=None):
        """(logits [batch, pos, vocab], ActivationCache). `names_filter`: a hook name, a glob, a list
        of them, or a function of the name (None: every hook). Padded positions hold zeros; each
        prompt of a batch runs on its own, so its values equal an unpadded run."""
        names = expand(names_filter, self.hook_names)
        _check_return_type(return_type)
        residual = self._stop_name(stop_at_layer)
        wanted = names + ([residual] if residual and residual not in names else [])
        logits, arrays, rows = self._forward(input, wanted, fwd_hooks, return_type is not None, stop_at_layer, prepend_bos,
                                             padding_side, attention_mask)
        if residual:  # TransformerLens returns the residual stream where the pass stopped
            stopped = arrays[residual] if residual in names else arrays.pop(residual)
            return self._out(stopped), ActivationCache(arrays, model=self, torch=self._torch)
        return self._out_returned(self._returned(logits, rows, return_type)), ActivationCache(arrays, model=self, torch=self._torch)

    def _stop_name(self, stop_at_layer) -> str | None:
        """The hook whose activation a pass stopped at `stop_at_layer` returns (None: no stop)."""
        if stop_at_layer is None:
            return None
        n = self.cfg.n_layers
        if isinstance(stop_at_layer, bool) or not isinstance(stop_at_layer, (int, np.integer)) or not 1 <= stop_at_layer <= n:
            raise _lib.InvalidArgumentError(f"stop_at_layer {stop_at_layer!r}: expected 1…{n} (the blocks to run; "
                                            "the residual after the last of them is returned)")
        return f"blocks.{int(stop_at_layer) - 1}.hook_resid_post"

    def run_with_hooks(self, input, fwd_hooks=(), return_type: str | None = "logits", stop_at_layer: int | None = None,
                       prepend_bos: bool = True, padding_side: str = "right", attention_mask=None):
        """Logits with `fwd_hooks` = [(name, glob, list or function of the name, fn)] applied;
        fn(activation, hook) may change the activation in place or return a new one (None: keep)."""
        _check_return_type(return_type)
        residual = self._stop_name(stop_at_layer)
        logits, arrays, rows = self._forward(input, [residual] if residual else [], fwd_hooks, return_type is not None,
                                             stop_at_layer, prepend_bos, padding_side, attention_mask)
        if residual:  # TransformerLens returns the residual stream where the pass stopped
            return self._out(arrays[residual])
        return self._out_returned(self._returned(logits, rows, return_type))

    def _out_returned(self, returned):
        if isinstance(returned, tuple):
            return tuple(self._out(np.asarray(x)) for x in returned)
        return self._out(returned if returned is None or isinstance(returned, np.ndarray) else np.asarray(returned))

    @staticmethod
    def _returned(logits, rows, return_type):
        """What `return_type` asks for: "logits", None, "loss" (TransformerLens's mean next-token
        cross-entropy over the prompt's positions, padding left out) or "both" ((logits, loss))."""
        if return_type in (None, "logits") or logits is None:
            return logits if return_type == "logits" else None
        total, count = 0.0, 0
        for r, start, ids in rows:
            z = np.asarray(logits[r, start:start + ids.size - 1], dtype=np.float64)
            top = z.max(axis=-1, keepdims=True)
            log_norm = top[:, 0] + np.log(np.exp(z - top).sum(axis=-1))
            total += float((log_norm - z[np.arange(ids.size - 1), ids[1:]]).sum())
            count += ids.size - 1
        if count == 0:
            raise _lib.InvalidArgumentError("return_type 'loss' needs a prompt of at least 2 tokens (a next token to predict)")
        loss = np.float32(total / count)
        return loss if return_type == "loss" else (logits, loss)

    def __call__(self, input, return_type: str | None = "logits", **kwargs):
        return self.run_with_hooks(input, return_type=return_type, **kwargs)

    forward = __call__

    @contextlib.contextmanager
    def hooks(self, fwd_hooks=(), reset_hooks_end: bool = True):
        """`with model.hooks(fwd_hooks=[...]):` every call inside runs with them (generate too)."""
        added = list(fwd_hooks)
        self._context_hooks.extend(added)
        try:
            yield self
        finally:
            if reset_hooks_end:
                for entry in added:
                    self._context_hooks.remove(entry)

    def add_hook(self, name, fn) -> None:
        """A hook that stays until `reset_hooks()`."""
        self._context_hooks.append((name, fn))

    def reset_hooks(self) -> None:
        self._context_hooks.clear()

    def lens_logits(self, resid) -> np.ndarray:
        """The logit lens of residuals [..., d_model]: the model's final norm and unembedding."""
        x = np.ascontiguousarray(np.asarray(resid, dtype=np.float32))
        if x.shape[-1] != self.cfg.d_model:
            raise _lib.ShapeError(f"residuals of shape {x.shape}: the last dimension must be d_model = {self.cfg.d_model}")
        rows = x.size // self.cfg.d_model
        out = np.empty(x.shape[:-1] + (self.cfg.d_vocab,), dtype=np.float32)
        _lib.call(_lib.lib.lantern_lens_logits, self._handle, x.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), rows,
                  out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), failed=lambda r: r != 0)
        return out

    def lens(self, input, top_k: int = 5, target=None, tuned: str | None = None, prepend_bos: bool = True) -> LensResult:
        """The logit lens (and the tuned lens in folder `tuned`) of one prompt, as arrays
        [row, pos, ...]: row 0 is the embedding, row l+1 block l's output. `target`: a token id or
        a one-token string whose rank and probability are followed (default: the model's answer)."""
        ids = self._encode(input, prepend_bos) if isinstance(input, str) else _token_ids(input)
        if ids.ndim > 1:
            if ids.shape[0] != 1:
                raise _lib.InvalidArgumentError(f"the lens reads one prompt: got a batch of {ids.shape[0]}")
            ids = ids[0]
        request = {"token_ids": ids.tolist(), "top_k": top_k}
        if target is not None:
            request["target"] = self.to_single_token(target) if isinstance(target, str) else int(target)
        return LensResult(self.analyze("lens", tuned=tuned, **request), ids, self)

    # MARK: the analyses

    def analyze(self, analysis: str, saes=(), tuned: str | None = None, transcoders=None, progress=None, **request) -> dict:
        """Runs one of Lantern's analyses (next, generate, lens, attention, features, neurons,
        steer) in process and returns its result: the object `lantern <analysis> --json` prints
        and `lantern serve` returns for the same request, field for field. `request` holds the
        request's fields with the server's names (`prompt` or `token_ids`, `top`, ...); `saes`
        (an SAE or a list) are what the request's `sae` index picks from; `tuned` a tuned-lens
        folder; `transcoders` the transcoder folders of attribution graphs; `progress(done, total,
        label)` is called as long analyses advance. Ctrl-C stops the analysis and raises
        KeyboardInterrupt."""
        return json.loads(self.analyze_json(analysis, saes=saes, tuned=tuned, transcoders=transcoders, progress=progress,
                                            **request))

    def analyze_json(self, analysis: str, saes=(), tuned: str | None = None, transcoders=None, progress=None,
                     **request) -> str:
        """`analyze`'s result as the JSON text the library wrote (the CLI's bytes)."""
        saes = [saes] if hasattr(saes, "_handle") else list(saes)
        handles = (ctypes.c_void_p * max(len(saes), 1))(*[s._handle for s in saes])
        interrupted = []

        def report(_user, done, total, label):
            try:
                if progress is not None:
                    progress(int(done), int(total), label.decode() if label else "")
            except KeyboardInterrupt:
                interrupted.append(True)

        def cancel(_user):
            try:
                return 1 if interrupted else 0
            except KeyboardInterrupt:
                interrupted.append(True)
                return 1

        resources = {}
        if tuned is not None:
            resources["tuned"] = str(tuned)
        if transcoders is not None:
            resources["transcoders"] = [str(t) for t in ([transcoders] if isinstance(transcoders, (str, bytes)) or hasattr(transcoders, "__fspath__") else transcoders)]
        report_thunk, cancel_thunk = _lib.PROGRESS_CALLBACK(report), _lib.CANCEL_CALLBACK(cancel)
        try:
            text = _lib.take_string(_lib.call(_lib.lib.lantern_analyze, self._handle, analysis.encode(),
                                              json.dumps(request).encode(), handles, len(saes),
                                              json.dumps(resources).encode(),
                                              report_thunk, cancel_thunk, None))
        except _lib.CancelledError:
            raise KeyboardInterrupt from None
        return text

    # MARK: generation

    def generate(self, input="", max_new_tokens: int = 10, temperature: float = 0.0, top_k: int | None = None,
                 top_p: float | None = None, seed: int = 0, stop_at_eos: bool = True, stream: bool = False,
                 fwd_hooks=(), prepend_bos: bool = True, return_type: str = "input", do_sample: bool | None = None,
                 verbose: bool = False, use_past_kv_cache: bool = True):
        """Continues a prompt with the KV cache (greedy unless temperature > 0). Returns the prompt
        and its continuation as text when given text (return_type "input"), else tokens [1, pos]
        ("tokens"); for a list of prompts a list, generated together (each step one batched pass,
        each continuation its prompt's own). stream=True returns an iterator over the new text as
        it is generated (one prompt). Hooks (fwd_hooks, `with model.hooks`) see every step.
        TransformerLens's `do_sample=False` is greedy whatever the temperature, `do_sample=True`
        samples at `temperature` (1.0 when left at 0); `verbose` and `use_past_kv_cache` are
        accepted for its notebooks (there is no progress bar to show, and the KV cache is always on)."""
        if do_sample is not None:
            temperature = (temperature or 1.0) if do_sample else 0.0
        if not np.isfinite(temperature) or temperature < 0:
            raise _lib.InvalidArgumentError(f"temperature {temperature}: expected a finite number ≥ 0 (0 is greedy)")
        if return_type not in ("input", "str", "tokens"):
            raise _lib.InvalidArgumentError(f"return_type {return_type!r}: expected 'input', 'str' or 'tokens'")
        if not isinstance(input, str) and isinstance(input, (list, tuple)) and input and isinstance(input[0], str):
            return self._generate_many([self._encode(p, prepend_bos) for p in input], return_type != "tokens",
                                       max_new_tokens, temperature, top_k, top_p, seed, stop_at_eos, fwd_hooks)
        as_text = isinstance(input, str) and return_type in ("input", "str")
        ids = self._encode(input, prepend_bos) if isinstance(input, str) else np.ascontiguousarray(_token_ids(input).reshape(-1))
        args = (ids, max_new_tokens, temperature, top_k, top_p, seed, stop_at_eos, fwd_hooks)
        if stream:
            return self._stream(*args)
        new = self._generate(*args, on_token=None)
        if as_text:
            return self._decode(ids, 1) + self._decode(new, 1)
        return self._out(np.concatenate([ids, new]).astype(np.int64)[None])

    def _generate(self, ids, max_new_tokens, temperature, top_k, top_p, seed, stop_at_eos, fwd_hooks, on_token):
        with HookSet(self, [], list(self._context_hooks) + list(fwd_hooks)) as hooks:
            def token_thunk(_user, token):
                try:
                    on_token(int(token))
                    return 0
                except BaseException as error:
                    if hooks.slot.pending is None:
                        hooks.slot.pending = error
                    return -1

            callback = _lib.TOKEN_CALLBACK(token_thunk) if on_token else ctypes.cast(None, _lib.TOKEN_CALLBACK)
            out = ctypes.POINTER(ctypes.c_int32)()
            n = _lib.call(_lib.lib.lantern_generate, self._handle, _ids_pointer(ids), ids.size, int(max_new_tokens),
                          float(temperature), int(top_k or 0), float(top_p or 0), int(seed), 1 if stop_at_eos else 0,
                          hooks.handle, callback, None, ctypes.byref(out), failed=lambda r: r < 0, slot=hooks.slot)
            try:
                return np.array(out[:n], dtype=np.int32)
            finally:
                _lib.lib.lantern_free(ctypes.cast(out, ctypes.c_void_p))

    def _generate_many(self, prompts, as_text, max_new_tokens, temperature, top_k, top_p, seed, stop_at_eos, fwd_hooks):
        """Several prompts continued together, each step one batched pass over the unfinished
        ones; each continuation is the one its prompt gets alone (the same seed, its own hooks)."""
        ids = np.ascontiguousarray(np.concatenate(prompts), dtype=np.int32)
        lengths = np.array([p.size for p in prompts], dtype=np.int64)
        new_lengths = np.zeros(len(prompts), dtype=np.int64)
        with HookSet(self, [], list(self._context_hooks) + list(fwd_hooks)) as hooks:
            out = ctypes.POINTER(ctypes.c_int32)()
            total = _lib.call(_lib.lib.lantern_generate_batch, self._handle, _ids_pointer(ids),
                              lengths.ctypes.data_as(ctypes.POINTER(ctypes.c_int64)), len(prompts), int(max_new_tokens),
                              float(temperature), int(top_k or 0), float(top_p or 0), int(seed), 1 if stop_at_eos else 0,
                              hooks.handle, new_lengths.ctypes.data_as(ctypes.POINTER(ctypes.c_int64)), ctypes.byref(out),
                              failed=lambda r: r < 0, slot=hooks.slot)
            try:
                new = np.array(out[:total], dtype=np.int32)
            finally:
                _lib.lib.lantern_free(ctypes.cast(out, ctypes.c_void_p))
        results, start = [], 0
        for prompt, count in zip(prompts, new_lengths):
            piece = new[start:start + int(count)]
            start += int(count)
            results.append(self._decode(prompt, 1) + self._decode(piece, 1) if as_text
                           else self._out(np.concatenate([prompt, piece]).astype(np.int64)[None]))
        return results

    def _stream(self, ids, *rest) -> Iterator[str]:
        """Runs generation on a thread (the library releases the GIL) and yields new text as tokens
        arrive; a character split across tokens is held back until it is whole."""
        tokens: queue.Queue = queue.Queue()
        failure: list[BaseException] = []

        def work():
            try:
                self._generate(ids, *rest, on_token=tokens.put)
            except BaseException as error:
                failure.append(error)
            finally:
                tokens.put(None)

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        new: list[int] = []
        shown = ""
        while (token := tokens.get()) is not None:
            new.append(token)
            text = self._decode(new, 1)
            if not text.endswith("\ufffd") and len(text) > len(shown):
                yield text[len(shown):]
                shown = text
        thread.join()
        if failure:
            raise failure[0]
        text = self._decode(new, 1) if new else ""
        if len(text) > len(shown):
            yield text[len(shown):]


_RETURN_TYPES = ("logits", "loss", "both", None)
# Tokens per batched pass: enough rows for the weight products to run at full speed, few enough
# that a chunk's activations (held until copied into the batch's arrays) stay small. With every
# row's logits (1 MiB a row on a 262k vocabulary) smaller chunks are faster: 32 prompts of 64
# tokens of gemma3-270m on 2 cores took 13.4 s one by one, 11.1 s in chunks of 256 rows and 12.8 s
# of 1024; without logits 6.1 s, 4.3 s and 3.4 s.
_BATCH_ROWS = 1024
_BATCH_ROWS_WITH_LOGITS = 256


def _chunks(rows, limit: int):
    """Consecutive groups of rows of at most `limit` tokens (a longer prompt alone)."""
    chunk, size = [], 0
    for row in rows:
        if chunk and size + row[2].size > limit:
            yield chunk
            chunk, size = [], 0
        chunk.append(row)
        size += row[2].size
    if chunk:
        yield chunk


def _check_return_type(return_type) -> None:
    if return_type not in _RETURN_TYPES:
        raise _lib.InvalidArgumentError(f"return_type {return_type!r}: expected 'logits', 'loss', 'both' or None")


def _token_ids(input) -> np.ndarray:
    """Token ids as int32 [batch, pos], refusing what a cast would change: floats, bools, ids past int32."""
    array = np.atleast_2d(np.asarray(input))
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise _lib.InvalidArgumentError(f"token ids must be integers, got dtype {array.dtype}")
    if array.size and (array.min() < 0 or array.max() > np.iinfo(np.int32).max):
        bad = array.min() if array.min() < 0 else array.max()
        raise _lib.InvalidArgumentError(f"token id {int(bad)} is out of range (ids are 0 ≤ id < the vocabulary size)")
    return array.astype(np.int32)

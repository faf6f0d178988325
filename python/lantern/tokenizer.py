"""`model.tokenizer`: the calls TransformerLens notebooks make on a Hugging Face tokenizer, answered
by the model's own tokenizer in the library (no transformers needed)."""
from __future__ import annotations

import json

import numpy as np

from .arrays import as_numpy


class Tokenizer:
    """`encode`, `decode`, `batch_decode`, `convert_ids_to_tokens`, `tokenizer(text)`, and the
    special ids (`bos_token_id`, `eos_token_id`, `pad_token_id`) and `vocab_size`."""

    def __init__(self, model) -> None:
        self._model = model
        cfg = model.cfg
        self.bos_token_id = cfg.bos_token_id
        self.eos_token_id = cfg.eos_token_ids[0] if cfg.eos_token_ids else None
        self.pad_token_id = model.pad_token_id
        self.vocab_size = cfg.d_vocab
        self.padding_side = "right"

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return [int(i) for i in self._model._encode(text, add_special_tokens)]

    def __call__(self, text, add_special_tokens: bool = True, return_tensors: str | None = None, padding: bool = False):
        texts = [text] if isinstance(text, str) else list(text)
        rows = [self._model._encode(t, add_special_tokens) for t in texts]
        if return_tensors is None and isinstance(text, str):
            return {"input_ids": [int(i) for i in rows[0]], "attention_mask": [1] * len(rows[0])}
        if return_tensors is None and not padding:
            return {"input_ids": [[int(i) for i in r] for r in rows], "attention_mask": [[1] * len(r) for r in rows]}
        ids, mask = self._model._pad(rows, self.padding_side)
        ids = ids.astype(np.int64)
        if return_tensors == "pt":
            import torch
            return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}
        return {"input_ids": ids, "attention_mask": mask}

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        return self._model._decode(_flat(ids), 1 if skip_special_tokens else 0)

    def batch_decode(self, rows, skip_special_tokens: bool = False) -> list[str]:
        return [self.decode(r, skip_special_tokens) for r in rows]

    def convert_ids_to_tokens(self, ids):
        single = np.ndim(_flat(ids, keep=True)) == 0
        pieces = json.loads(self._model._decode(_flat(ids), 2))
        return pieces[0] if single else pieces

    def __len__(self) -> int:
        return self.vocab_size

    def __repr__(self) -> str:
        return f"lantern.Tokenizer({self._model.cfg.model_name!r}, vocab_size={self.vocab_size})"


def _flat(ids, keep: bool = False):
    ids = as_numpy(ids)
    return ids if keep else ids.reshape(-1)

"""The logit lens (and tuned lens) of one prompt as numpy arrays."""
from __future__ import annotations

import numpy as np


class LensTable:
    """One lens read over [row, pos]: `top_tokens`/`top_probs` [row, pos, k], `entropy` [row, pos]
    (nats), `target_rank` (1 = top) and `target_prob` [row, pos] when a target was given; and
    `answer_ranks`/`answer_probs` [row]: the answer token's rank and probability at the last position."""

    def __init__(self, layers: list, answer: dict) -> None:
        """`layers` and `answer` as `lantern lens --json` writes them (rows of positions of cells)."""
        cells = [row["positions"] for row in layers]
        self.top_tokens = np.asarray([[[t["id"] for t in c["top"]] for c in row] for row in cells], dtype=np.int64)
        self.top_probs = np.asarray([[[t["p"] for t in c["top"]] for c in row] for row in cells], dtype=np.float32)
        self.entropy = np.asarray([[c["entropy"] for c in row] for row in cells], dtype=np.float32)
        # Without a target the cells carry no rank: 0 and NaN.
        self.target_rank = np.asarray([[c.get("target_rank", 0) for c in row] for row in cells], dtype=np.int64)
        self.target_prob = np.asarray([[c.get("target_p", np.nan) for c in row] for row in cells], dtype=np.float32)
        self.answer_ranks = np.asarray(answer["ranks"], dtype=np.int64)
        self.answer_probs = np.asarray(answer["p"], dtype=np.float32)

    def first_top_row(self) -> int | None:
        """The first row from which the answer stays the top token (None if it never does)."""
        for r in range(len(self.answer_ranks)):
            if (self.answer_ranks[r:] == 1).all():
                return r
        return None


class LensResult:
    """`model.lens(...)`: `labels` ("embed", "0", "1", ...), `hook_names`, `tokens`, `answer`
    (the token followed), `logit` (a LensTable) and `tuned` (a LensTable, or None); `data` is
    the object `lantern lens --json` prints."""

    def __init__(self, data: dict, tokens: np.ndarray, model) -> None:
        self.labels: list[str] = [row["label"] for row in data["layers"]]
        self.hook_names: list[str] = data["hooks"]
        self.tokens = np.asarray(tokens)
        self.answer = int(data["answer"]["id"])
        self.logit = LensTable(data["layers"], data["answer"])
        self.tuned = LensTable(data["tuned"]["layers"], data["tuned"]["answer"]) if "tuned" in data else None
        self.data = data
        self._model = model

    def top_strings(self, table: LensTable | None = None) -> list[list[str]]:
        """The top-1 token's text per [row][pos]."""
        table = table or self.logit
        return [[self._model.to_string([t]) for t in row] for row in table.top_tokens[:, :, 0]]

    def to_torch(self) -> dict:
        from .arrays import to_torch
        return to_torch({k: v for k, v in vars(self.logit).items()})

    def __repr__(self) -> str:
        return (f"LensResult({len(self.labels)} rows × {len(self.tokens)} positions, answer {self.answer} "
                f"top from row {self.logit.first_top_row()}{', tuned' if self.tuned else ''})")

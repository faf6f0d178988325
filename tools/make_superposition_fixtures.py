#!/usr/bin/env python3
"""Goldens for the toy models of superposition (Elhage et al. 2022), computed in float64 numpy.

Usage: python3 tools/make_superposition_fixtures.py  → Tests/Fixtures/superposition/gradients.json

For a few small (W, b, batch x, importance) cases it records the loss
mean_b Σ_i I_i (x_bi − ReLU((x_b Wᵀ W + b)_i))², its gradients with respect to W [m, n] and b [n]
(reverse-mode algebra written out below and checked here against central finite differences),
and the geometry measures: ‖W_i‖, the superposition Σ_{j≠i} (Ŵ_i·W_j)², and ‖W‖_F² / m.
The Swift tests (TrainingTests/SuperpositionTests) compare `ToyModel.lossAndGradients` and
`ToyModelGeometry` with them. Inputs are rounded to float32 before use, so both sides start from
the same numbers; batches mix zeros (sparse inputs) and rows where the ReLU is off.
"""
import json
import os

import numpy as np


def case(name, n, m, rows, sparsity, decay, seed):
    rng = np.random.default_rng(seed)
    f32 = lambda a: np.asarray(a, dtype=np.float32).astype(np.float64)
    W = f32(rng.normal(0, 0.8, (m, n)))
    b = f32(rng.normal(0, 0.3, n))
    x = f32(rng.random((rows, n)) * (rng.random((rows, n)) >= sparsity))
    importance = f32(decay ** np.arange(n))

    # Forward.
    h = x @ W.T                     # [rows, m]
    pre = h @ W + b                 # [rows, n]
    out = np.maximum(pre, 0)
    loss = float((importance * (x - out) ** 2).sum(axis=1).mean())
    # Backward, one node at a time.
    d_out = 2 * importance * (out - x) / rows
    d_pre = d_out * (pre > 0)
    d_b = d_pre.sum(axis=0)
    d_W_decoder = h.T @ d_pre       # pre = h W
    d_h = d_pre @ W.T
    d_W_encoder = d_h.T @ x         # h = x Wᵀ
    d_W = d_W_decoder + d_W_encoder

    # The analytic gradients must match central differences of the float64 loss.
    def loss_at(W_, b_):
        return (importance * (x - np.maximum((x @ W_.T) @ W_ + b_, 0)) ** 2).sum(axis=1).mean()
    eps = 1e-6
    for index in np.ndindex(W.shape):
        step = np.zeros_like(W); step[index] = eps
        numeric = (loss_at(W + step, b) - loss_at(W - step, b)) / (2 * eps)
        assert abs(numeric - d_W[index]) < 1e-6 * max(1, abs(numeric)), (name, index, numeric, d_W[index])
    for i in range(n):
        step = np.zeros_like(b); step[i] = eps
        numeric = (loss_at(W, b + step) - loss_at(W, b - step)) / (2 * eps)
        assert abs(numeric - d_b[i]) < 1e-6 * max(1, abs(numeric)), (name, i, numeric, d_b[i])

    norms = np.linalg.norm(W, axis=0)
    unit = W / norms
    overlap = (unit.T @ W) ** 2     # [i, j] = (Ŵ_i · W_j)²
    superposition = overlap.sum(axis=1) - np.diag(overlap)
    return {
        "name": name, "features": n, "hidden": m, "rows": rows,
        "W": W.ravel().tolist(), "b": b.tolist(), "x": x.ravel().tolist(), "importance": importance.tolist(),
        "loss": loss, "grad_W": d_W.ravel().tolist(), "grad_b": d_b.tolist(),
        "relu_off_fraction": float((pre <= 0).mean()),
        "norms": norms.tolist(), "superposition": superposition.tolist(),
        "features_per_dimension": float((W ** 2).sum() / m),
    }


def main():
    cases = [case("n5_m2_dense", 5, 2, 16, 0.0, 0.9, 1),
             case("n5_m2_sparse", 5, 2, 24, 0.7, 0.9, 2),
             case("n7_m3", 7, 3, 20, 0.5, 0.8, 3)]
    out = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "superposition", "gradients.json")
    with open(out, "w") as f:
        json.dump({"cases": cases}, f, indent=1)
    for c in cases:
        print(c["name"], "loss", round(c["loss"], 5), "relu off", round(c["relu_off_fraction"], 2))


if __name__ == "__main__":
    main()

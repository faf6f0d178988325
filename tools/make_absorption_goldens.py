#!/usr/bin/env python3
"""Goldens for the probes of Lantern's feature-absorption measure (`lantern sae absorption`):

- scikit-learn's LogisticRegression(C=1, class_weight="balanced") — SAEBench's k-sparse probes — on
  seeded synthetic data (Lantern fits it with per-row weights n / (2 · count of the row's label));
- the minimiser of (1/n) Σ ωᵢ loss + λ‖w‖₁ + ½μ‖w‖² (the bias free) — the L1 probe SAEBench
  ranks latents by — on sparse non-negative rows like SAE latents, positives weighted by
  negatives / positives as SAEBench's pos_weight does. It is found by SciPy's L-BFGS-B on the
  smooth split form w = u − v with u, v ≥ 0 (penalty λ Σ (u + v)), a different method from
  Lantern's proximal gradient; weights under 1e-9 are zero.

    pip install scikit-learn scipy numpy
    python3 tools/make_absorption_goldens.py   # writes Tests/Fixtures/probing/absorption_probes.json

Rebuilding gives the same file (seeded data; each optimum is unique).
"""
import json
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from sklearn.linear_model import LogisticRegression

OUT = Path(__file__).resolve().parent.parent / "Tests" / "Fixtures" / "probing" / "absorption_probes.json"


def balanced_case(seed, n, d, positive_share):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < positive_share
    x = rng.normal(size=(n, d)).astype(np.float32)
    x[:, 0] += np.where(y, 1.2, -0.3)
    x = x.astype(np.float32)
    model = LogisticRegression(C=1.0, class_weight="balanced", tol=1e-12, max_iter=100000).fit(x.astype(np.float64), y)
    return {"n": n, "d": d, "x": x.ravel().tolist(), "y": y.tolist(), "coef": model.coef_[0].tolist(),
            "intercept": float(model.intercept_[0])}


def sparse_case(seed, n, d, l1, l2):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.25
    x = rng.exponential(1.0, size=(n, d)) * (rng.random((n, d)) < 0.3)
    x[:, 1] += np.where(y, rng.exponential(1.0, n), 0) * (rng.random(n) < 0.8)
    x[:, 4] += np.where(y, rng.exponential(0.5, n), 0) * (rng.random(n) < 0.5)
    x = x.astype(np.float32)
    positives = y.sum()
    weights = np.where(y, (n - positives) / positives, 1.0)
    xs, s = x.astype(np.float64), np.where(y, 1.0, -1.0)

    def objective(theta):
        u, v, b = theta[:d], theta[d:2 * d], theta[2 * d]
        w = u - v
        m = s * (xs @ w + b)
        loss = np.sum(weights * np.logaddexp(0, -m)) / n
        r = -weights * s / (1 + np.exp(m)) / n
        gw = xs.T @ r + l2 * w
        value = loss + l1 * np.sum(u + v) + 0.5 * l2 * w @ w
        return value, np.concatenate([gw + l1, -gw + l1, [np.sum(r)]])

    bounds = [(0, None)] * (2 * d) + [(None, None)]
    result = minimize(objective, np.zeros(2 * d + 1), jac=True, method="L-BFGS-B", bounds=bounds,
                      options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 100000, "maxcor": 50})
    w = result.x[:d] - result.x[d:2 * d]
    w[np.abs(w) < 1e-9] = 0
    coef, intercept = w, result.x[2 * d]
    return {"n": n, "d": d, "l1": l1, "l2": l2, "x": x.ravel().tolist(), "y": y.tolist(), "weights": weights.tolist(),
            "coef": coef.tolist(), "intercept": float(intercept)}


def main():
    balanced = [balanced_case(11, 90, 3, 0.2), balanced_case(12, 60, 5, 0.5)]
    sparse = [sparse_case(21, 120, 10, 0.01, 2.6e-5), sparse_case(22, 90, 8, 0.05, 1e-3)]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"balanced": balanced, "sparse": sparse}) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

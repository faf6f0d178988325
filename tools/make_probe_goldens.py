#!/usr/bin/env python3
"""Goldens for Lantern's L2 logistic regression (the k-sparse probes' fit): scikit-learn's
LogisticRegression(C=C) (L2, the default) on seeded synthetic data, solved to a tight tolerance.

    pip install scikit-learn numpy
    python3 tools/make_probe_goldens.py     # writes Tests/Fixtures/probing/logistic_regression.json

Rebuilding gives the same file (seeded data; the optimum is unique, so the solver does not matter
beyond its tolerance).
"""
import json
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

OUT = Path(__file__).resolve().parent.parent / "Tests" / "Fixtures" / "probing" / "logistic_regression.json"


def case(seed, n, d, c, separation):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.5
    x = rng.normal(size=(n, d)).astype(np.float32)
    x[:, 0] += np.where(y, separation, -separation)
    x[:, 1:] *= np.linspace(0.5, 3.0, d - 1, dtype=np.float32) if d > 1 else 1
    x = x.astype(np.float32)
    model = LogisticRegression(C=c, tol=1e-12, max_iter=100000).fit(x.astype(np.float64), y)
    test_x = rng.normal(size=(n, d)).astype(np.float32)
    test_y = rng.random(n) < 0.5
    test_x[:, 0] += np.where(test_y, separation, -separation)
    return {"n": n, "d": d, "c": c, "x": x.ravel().tolist(), "y": y.tolist(), "coef": model.coef_[0].tolist(),
            "intercept": float(model.intercept_[0]), "test_x": test_x.ravel().tolist(), "test_y": test_y.tolist(),
            "test_accuracy": float(model.score(test_x.astype(np.float64), test_y))}


def main():
    cases = [case(1, 60, 1, 1.0, 1.0), case(2, 80, 3, 1.0, 0.7), case(3, 120, 5, 0.1, 0.5), case(4, 40, 4, 10.0, 2.5)]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"cases": cases}) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

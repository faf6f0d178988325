#!/usr/bin/env python3
"""Goldens for attribution-graph pruning: circuit-tracer's `prune_graph` and
`compute_graph_scores` (safety-research/circuit-tracer, circuit_tracer/graph.py), restated in numpy,
on a small random acyclic graph laid out as circuit-tracer lays nodes out
[features, errors (layer-major), embeddings, logits], rows = targets, columns = sources.

Run from the repository root:  python3 tools/make_graph_pruning_golden.py
Writes Tests/Fixtures/graphs/pruning.json (read by AttributionGraphPruningTests).
"""
import json
import numpy as np

rng = np.random.default_rng(7)
layers, positions, n_features, n_logits = 2, 3, 8, 2
feature_layer = np.array([0, 0, 0, 0, 1, 1, 1, 1])
n_errors = layers * positions
n = n_features + n_errors + positions + n_logits
error_start, emb_start, logit_start = n_features, n_features + n_errors, n_features + n_errors + positions
A = np.zeros((n, n), dtype=np.float64)
for t in list(range(n_features)) + list(range(logit_start, n)):
    for s in range(logit_start):
        if t < n_features:
            if s < n_features and feature_layer[s] >= feature_layer[t]:
                continue
            if error_start <= s < emb_start and (s - error_start) // positions >= feature_layer[t]:
                continue
        if rng.random() < 0.7:
            A[t, s] = rng.normal() * (3.0 if rng.random() < 0.2 else 1.0)
A = A.astype(np.float32).astype(np.float64)
probs = np.array([0.7, 0.2])


def normalize(m):
    m = np.abs(m)
    return m / np.maximum(m.sum(axis=1, keepdims=True), 1e-10)


def influence(a, w):
    cur = w @ a
    total = cur.copy()
    while cur.any():
        cur = cur @ a
        total += cur
    return total


def find_threshold(scores, threshold):
    s = np.sort(scores)[::-1]
    cum = np.cumsum(s) / s.sum()
    i = min(int(np.searchsorted(cum, threshold)), len(cum) - 1)
    return s[i]


def prune(node_threshold, edge_threshold):
    w = np.zeros(n)
    w[-n_logits:] = probs
    node_inf = influence(normalize(A), w)
    node_mask = node_inf >= find_threshold(node_inf, node_threshold)
    node_mask[-n_logits - positions:] = True
    pm = A.copy()
    pm[~node_mask] = 0
    pm[:, ~node_mask] = 0
    npm = normalize(pm)
    pinf = influence(npm, w) + w
    edge_scores = npm * pinf[:, None]
    edge_mask = edge_scores >= find_threshold(edge_scores.flatten(), edge_threshold)
    old = node_mask.copy()
    node_mask[: -n_logits - positions] &= edge_mask[:, : -n_logits - positions].any(0)
    node_mask[:n_features] &= edge_mask[:n_features].any(1)
    while not np.all(node_mask == old):
        old[:] = node_mask
        edge_mask[~node_mask] = False
        edge_mask[:, ~node_mask] = False
        node_mask[: -n_logits - positions] &= edge_mask[:, : -n_logits - positions].any(0)
        node_mask[:n_features] &= edge_mask[:n_features].any(1)
    order = np.argsort(-node_inf, kind="stable")
    cum = np.cumsum(node_inf[order]) / node_inf.sum()
    final = np.zeros(n)
    final[order] = cum
    return node_inf, node_mask, edge_mask, final


def scores():
    w = np.zeros(n)
    w[-n_logits:] = probs
    nm = normalize(A)
    node_inf = influence(nm, w)
    token = node_inf[emb_start:logit_start].sum()
    error = node_inf[error_start:emb_start].sum()
    non_error = 1 - nm[:, error_start:emb_start].sum(axis=-1)
    out = node_inf + w
    return token / (token + error), (non_error * out).sum() / out.sum(), error / (token + error)


cases = []
for nt, et in [(0.8, 0.98), (0.5, 0.9)]:
    inf, nmask, emask, cum = prune(nt, et)
    cases.append({"node_threshold": nt, "edge_threshold": et, "influence": inf.tolist(),
                  "node_mask": nmask.astype(int).tolist(), "edge_mask": emask.astype(int).flatten().tolist(),
                  "cumulative": cum.tolist()})
replacement, completeness, error_share = scores()
json.dump({"layers": layers, "positions": positions, "feature_layers": feature_layer.tolist(),
           "logit_probabilities": probs.tolist(), "adjacency": A.flatten().tolist(), "cases": cases,
           "replacement_score": replacement, "completeness_score": completeness, "error_share": error_share},
          open("Tests/Fixtures/graphs/pruning.json", "w"), indent=1)
print("wrote Tests/Fixtures/graphs/pruning.json:", n, "nodes;", [sum(c["node_mask"]) for c in cases], "nodes kept")

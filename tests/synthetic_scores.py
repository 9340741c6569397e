"""Synthetic K-fold score tables shared by the evaluation, table and plot tests."""

from __future__ import annotations

import numpy as np

WORKING_POINTS = [{"signal_efficiency": 0.5}, {"background_efficiency": 0.05}, {"score": 0.7}]


def synthetic_table(n_events=3000, k=3, seed=7, *, negative_weights=True, overtrain=0.3):
    """A score table as the training stage writes it: one row per (event, model) pair.

    Model m tests on fold m, validates on (m+1) % k and trains on the rest; its training
    scores are sharpened by ``overtrain`` to mimic overtraining.
    """
    rng = np.random.default_rng(seed)
    label = (rng.random(n_events) < 0.3).astype(np.int8)
    fold = rng.integers(0, k, n_events)
    sample = np.where(label == 1, "ggH", np.where(rng.random(n_events) < 0.6, "ttbar", "wjets"))
    sign = np.where(negative_weights & (rng.random(n_events) < 0.2), -1.0, 1.0)
    weight = np.where(label == 1, 0.01, 0.5 * sign * rng.uniform(0.5, 1.5, n_events))
    x = rng.normal(1.2 * label, 1.0)
    parts = []
    for m in range(k):
        kind = np.where(fold == m, "test", np.where(fold == (m + 1) % k, "validation", "train"))
        sharpen = np.where(kind == "train", 1 + overtrain, 1.0)
        z = (x - 0.6) * sharpen + rng.normal(0, 0.1, n_events)
        parts.append(
            {
                "score": 1 / (1 + np.exp(-2 * z)),
                "label": label,
                "weight": weight,
                "fold": fold,
                "model_fold": np.full(n_events, m),
                "set": kind,
                "sample": sample,
            }
        )
    return {c: np.concatenate([p[c] for p in parts]) for c in parts[0]}

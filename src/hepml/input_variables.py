"""The input variables as data: weighted histograms with under/overflow, NaN counts, and the
weighted linear correlation matrices of signal and background.

Histograms are filled with ``hist`` (boost-histogram) on one binning per feature, chosen from
all events (integer-valued features get one bin per integer), and keep the underflow and
overflow, so that the plots show them. NaN (a missing object, e.g. the third jet of a
two-jet event) is not put in any bin: it is counted separately and noted on the plot. Pure
functions on arrays, plus :func:`inputs_from_files` for the ingest tables.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import hist
import numpy as np

from hepml.dataset import load_dataset

__all__ = [
    "CLASSES",
    "correlation_matrices",
    "feature_edges",
    "histogram_with_flow",
    "input_variable_histograms",
    "inputs_from_files",
    "weighted_correlation",
]

log = logging.getLogger(__name__)

CLASSES = {1: "signal", 0: "background"}
MAX_INTEGER_BINS = 60  # an integer feature with a wider range gets regular bins instead
RANGE_QUANTILES = (0.001, 0.999)  # the tails beyond go to the under/overflow bins


def feature_edges(values: np.ndarray, bins: int) -> np.ndarray:
    """Bin edges for one feature from its finite values (all classes together).

    Integer-valued features spanning at most MAX_INTEGER_BINS values get one bin per integer
    (edges at half-integers); others ``bins`` equal bins between the 0.1% and 99.9% quantiles.
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.linspace(0.0, 1.0, bins + 1)
    low, high = float(finite.min()), float(finite.max())
    if np.all(finite == np.round(finite)) and high - low < MAX_INTEGER_BINS:
        return np.arange(low - 0.5, high + 1.0, 1.0)
    low, high = (float(q) for q in np.quantile(finite, RANGE_QUANTILES))
    if not high > low:  # (nearly) constant: a unit-width window around the value
        low, high = low - 0.5, high + 0.5
    return np.linspace(low, high, bins + 1)


def histogram_with_flow(
    values: np.ndarray, weights: np.ndarray, edges: np.ndarray
) -> dict[str, Any]:
    """Weighted histogram with flow bins: ``sumw``/``sumw2`` have len(edges) + 1 entries,
    underflow first and overflow last; NaN values are counted apart (``nan_events``,
    ``nan_yield``), never binned. ``events``/``yield`` count everything."""
    values = np.asarray(values, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    nan = np.isnan(values)
    h = hist.Hist(hist.axis.Variable(edges), storage=hist.storage.Weight())
    h.fill(values[~nan], weight=weights[~nan])
    view = h.view(flow=True)
    return {
        "sumw": view.value.tolist(),
        "sumw2": view.variance.tolist(),
        "events": int(values.size),
        "yield": float(weights.sum()),
        "nan_events": int(nan.sum()),
        "nan_yield": float(weights[nan].sum()),
    }


def input_variable_histograms(
    X: np.ndarray,
    weight: np.ndarray,
    label: np.ndarray,
    features: Sequence[str],
    *,
    labels: Mapping[str, str] | None = None,
    bins: int = 40,
) -> dict[str, Any]:
    """input_variables.json: per feature its edges, axis label and the signal and background
    histograms (weighted, with flow and NaN counts)."""
    out = {}
    for i, name in enumerate(features):
        edges = feature_edges(X[:, i], bins)
        out[name] = {
            "label": (labels or {}).get(name) or name,
            "edges": edges.tolist(),
            "classes": {
                cls: histogram_with_flow(X[label == value, i], weight[label == value], edges)
                for value, cls in CLASSES.items()
            },
        }
    return {"version": 1, "features": out}


def weighted_correlation(X: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted Pearson correlation matrix of the columns of ``X``, pairwise complete.

    Each pair uses the events where both features are finite. The weights are the signed
    physics weights (the correlation of the expected distribution); with negative weights a
    coefficient can stray slightly outside [-1, 1] and is clipped. NaN when a feature is
    constant on the pair's events or the weights do not sum to a positive value.
    """
    X = np.asarray(X, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)[:, None]
    finite = np.isfinite(X)
    mask = finite.astype(np.float64)
    # shift each column by its mean (correlations are shift-invariant): keeps the one-pass
    # moment sums below accurate for features with a large offset (masses in GeV)
    totals = (w * mask).sum(axis=0)
    means = np.where(
        totals > 0, (w * np.where(finite, X, 0.0)).sum(axis=0) / np.where(totals > 0, totals, 1), 0
    )
    x = np.where(finite, X - means, 0.0)
    # pair sums over the events where both features are finite, as matrix products:
    # [i, j] of (a * w).T @ b sums w * a_i * b_j over the events
    pair_weight = (mask * w).T @ mask
    sum_x = (x * w).T @ mask  # [i, j]: sum of x_i over events with i and j finite
    sum_xx = (x * x * w).T @ mask
    sum_xy = (x * w).T @ x
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = sum_x / pair_weight
        var = sum_xx / pair_weight - mean**2
        cov = sum_xy / pair_weight - mean * mean.T
        r = cov / np.sqrt(var * var.T)
    good = (pair_weight > 0) & (var > 0) & (var.T > 0)
    return np.where(good, np.clip(r, -1.0, 1.0), np.nan)


def correlation_matrices(
    X: np.ndarray, weight: np.ndarray, label: np.ndarray, features: Sequence[str]
) -> dict[str, Any]:
    """correlations.json: the weighted correlation matrix of signal and of background."""
    return {
        "version": 1,
        "features": list(features),
        **{
            cls: [
                [None if math.isnan(v) else v for v in row]
                for row in weighted_correlation(X[label == value], weight[label == value]).tolist()
            ]
            for value, cls in CLASSES.items()
        },
    }


def inputs_from_files(
    tables: Mapping[str, str | os.PathLike],
    features: Sequence[str],
    *,
    labels: Mapping[str, str] | None = None,
    bins: int = 40,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(input_variables.json, correlations.json) of the ingest tables (sample -> Parquet)."""
    data = load_dataset(tables, list(features))
    X = data.X.astype(np.float64)
    for i, name in enumerate(features):
        n_nan = int(np.isnan(X[:, i]).sum())
        if n_nan:
            log.info("feature '%s': %d of %d events are NaN (missing)", name, n_nan, len(X))
    histograms = input_variable_histograms(
        X, data.weight, data.label, features, labels=labels, bins=bins
    )
    return histograms, correlation_matrices(X, data.weight, data.label, features)

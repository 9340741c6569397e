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
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import hist
import numpy as np

from hepml.tables.features import check_tables, feature_batches, read_column

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
BATCH_ROWS = 100_000  # events per batch of the correlation sums (13 features: ~100 MB)


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
    out = {
        name: _feature_histograms(X[:, i], weight, label, (labels or {}).get(name) or name, bins)
        for i, name in enumerate(features)
    }
    return {"version": 1, "features": out}


def _feature_histograms(
    values: np.ndarray, weight: np.ndarray, label: np.ndarray, axis_label: str, bins: int
) -> dict[str, Any]:
    """One feature's entry of input_variables.json: edges, label, one histogram per class."""
    edges = feature_edges(values, bins)
    return {
        "label": axis_label,
        "edges": edges.tolist(),
        "classes": {
            cls: histogram_with_flow(values[label == value], weight[label == value], edges)
            for value, cls in CLASSES.items()
        },
    }


def weighted_correlation(X: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted Pearson correlation matrix of the columns of ``X``, pairwise complete.

    Each pair uses the events where both features are finite. The weights are the signed
    physics weights (the correlation of the expected distribution); with negative weights a
    coefficient can stray slightly outside [-1, 1] and is clipped. NaN when a feature is
    constant on the pair's events or the weights do not sum to a positive value.
    """
    X = np.asarray(X, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    return _correlation(_moment_sums(X, w, _weighted_means(X, w)))


def _weighted_means(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted mean of each column over its finite values (0 where the weights do not sum
    to a positive value)."""
    finite = np.isfinite(X)
    totals = (w[:, None] * finite).sum(axis=0)
    sums = (w[:, None] * np.where(finite, X, 0.0)).sum(axis=0)
    return np.where(totals > 0, sums / np.where(totals > 0, totals, 1), 0.0)


def _moment_sums(X: np.ndarray, w: np.ndarray, means: np.ndarray) -> dict[str, np.ndarray]:
    """Pairwise-complete weighted moment sums of ``X - means``; they add over event batches.

    Shifting each column by its mean first (correlations are shift-invariant) keeps these
    one-pass sums accurate for features with a large offset (masses in GeV).
    """
    finite = np.isfinite(X)
    mask = finite.astype(np.float64)
    x = np.where(finite, X - means, 0.0)
    w = w[:, None]
    # [i, j] of (a * w).T @ b sums w * a_i * b_j over the events
    return {
        "pair_weight": (mask * w).T @ mask,
        "sum_x": (x * w).T @ mask,  # [i, j]: sum of x_i over events with i and j finite
        "sum_xx": (x * x * w).T @ mask,
        "sum_xy": (x * w).T @ x,
    }


def _correlation(sums: Mapping[str, np.ndarray]) -> np.ndarray:
    """The correlation matrix from :func:`_moment_sums` (summed over all events)."""
    pair_weight = sums["pair_weight"]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = sums["sum_x"] / pair_weight
        var = sums["sum_xx"] / pair_weight - mean**2
        cov = sums["sum_xy"] / pair_weight - mean * mean.T
        r = cov / np.sqrt(var * var.T)
    good = (pair_weight > 0) & (var > 0) & (var.T > 0)
    return np.where(good, np.clip(r, -1.0, 1.0), np.nan)


def _matrix_json(r: np.ndarray) -> list[list[float | None]]:
    """A correlation matrix as JSON-ready nested lists (NaN -> null)."""
    return [[None if math.isnan(v) else v for v in row] for row in r.tolist()]


def correlation_matrices(
    X: np.ndarray, weight: np.ndarray, label: np.ndarray, features: Sequence[str]
) -> dict[str, Any]:
    """correlations.json: the weighted correlation matrix of signal and of background."""
    return {
        "version": 1,
        "features": list(features),
        **{
            cls: _matrix_json(weighted_correlation(X[label == value], weight[label == value]))
            for value, cls in CLASSES.items()
        },
    }


def inputs_from_files(
    tables: Mapping[str, str | os.PathLike],
    features: Sequence[str],
    *,
    labels: Mapping[str, str] | None = None,
    bins: int = 40,
    batch_rows: int = BATCH_ROWS,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(input_variables.json, correlations.json) of the ingest tables (sample -> Parquet).

    The same numbers as :func:`input_variable_histograms` and :func:`correlation_matrices` on
    the stacked tables, without ever holding the events x features matrix: the histograms
    (and the per-class means the correlations are shifted by) read one feature's column of
    every table at a time; the correlations' moment sums add up over row batches of
    ``batch_rows``. Memory grows with the number of events (one column, the weights and
    labels), not with events x features.
    """
    features = list(features)
    check_tables(tables, features)
    weight = read_column(tables, "_weight").astype(np.float64)
    label = read_column(tables, "_label")
    histograms = {}
    means = {value: np.zeros(len(features)) for value in CLASSES}
    for i, name in enumerate(features):
        # float32 as training sees it (and load_dataset reads it), then float64 for the sums
        values = read_column(tables, name).astype(np.float32).astype(np.float64)
        n_nan = int(np.isnan(values).sum())
        if n_nan:
            log.info("feature '%s': %d of %d events are NaN (missing)", name, n_nan, len(values))
        axis_label = (labels or {}).get(name) or name
        histograms[name] = _feature_histograms(values, weight, label, axis_label, bins)
        for value in CLASSES:
            rows = label == value
            means[value][i] = _weighted_means(values[rows, None], weight[rows])[0]
    del values, weight, label
    sums: dict[int, dict[str, np.ndarray]] = {}
    for X, w, lab in _batches(tables, features, batch_rows):
        for value in CLASSES:
            rows = lab == value
            batch = _moment_sums(X[rows], w[rows], means[value])
            sums[value] = (
                {k: sums[value][k] + v for k, v in batch.items()} if value in sums else batch
            )
    correlations = {
        cls: _matrix_json(_correlation(sums[value]) if value in sums else _empty(len(features)))
        for value, cls in CLASSES.items()
    }
    return (
        {"version": 1, "features": histograms},
        {"version": 1, "features": features, **correlations},
    )


def _empty(n: int) -> np.ndarray:
    """The correlation matrix of no events: NaN everywhere."""
    return np.full((n, n), np.nan)


def _batches(
    tables: Mapping[str, str | os.PathLike], features: list[str], batch_rows: int
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(X as float64 of float32 values, weight, label) of every table in row batches."""
    for path in tables.values():
        for X, columns in feature_batches(path, features, ("_weight", "_label"), batch_rows):
            yield X.astype(np.float64), columns["_weight"].astype(np.float64), columns["_label"]

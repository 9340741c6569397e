"""The input variables as data: weighted histograms with under/overflow, NaN counts, and the
weighted linear correlation matrices of signal and background.

Histograms are filled with ``hist`` (boost-histogram) on one binning per feature, chosen from
all events (integer-valued features get one bin per integer, others round bins over the
robust range of the signal and background shapes, or the feature's configured ``bins`` and
``range``), and keep the underflow and overflow, so that the plots show them. NaN (a missing
object, e.g. the third jet of a two-jet event) is not put in any bin: it is counted
separately and noted on the plot. Pure functions on arrays, plus :func:`inputs_from_files`
for the ingest tables.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import hist
import numpy as np

from hepml.plotdata.histograms import FlowHistogram
from hepml.plotdata.inputs import Correlations, InputVariable, InputVariables
from hepml.tables.features import check_tables, feature_batches, read_column

__all__ = [
    "CLASSES",
    "Binning",
    "correlation_matrices",
    "feature_edges",
    "histogram_with_flow",
    "input_variable_histograms",
    "inputs_from_files",
    "nice_edges",
    "weighted_correlation",
    "weighted_quantiles",
]

log = logging.getLogger(__name__)

CLASSES = {1: "signal", 0: "background"}
MAX_INTEGER_BINS = 60  # an integer feature with a wider range gets regular bins instead
RANGE_QUANTILES = (0.005, 0.995)  # the tails beyond go to the under/overflow bins
NICE_STEPS = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0)  # bin widths: these x 10^k
BATCH_ROWS = 100_000  # events per batch of the correlation sums (13 features: ~100 MB)


@dataclass(frozen=True)
class Binning:
    """How one feature is binned: ``bins`` bins, over ``range`` (low, high) when given, else
    over round numbers around its robust range (see :func:`feature_edges`)."""

    bins: int = 40
    range: tuple[float, float] | None = None


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, q: Sequence[float]) -> np.ndarray:
    """Quantiles ``q`` of ``values`` weighted with ``weights`` (non-negative), interpolated
    between the midpoints of the sorted values' weight steps. Equal weights give numpy's
    ``quantile(method="hazen")``."""
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    total = w.sum()
    if not total > 0:
        return np.quantile(values, q)
    cdf = (np.cumsum(w) - 0.5 * w) / total
    return np.interp(q, cdf, v)


def _shape_weights(weight: np.ndarray | None, label: np.ndarray | None, n: int) -> np.ndarray:
    """|weight|, scaled so that each class sums to one: signal and background count alike,
    as they do on the plot (both at unit area)."""
    w = np.ones(n) if weight is None else np.abs(np.asarray(weight, dtype=np.float64))
    if label is None:
        return w
    out = np.zeros(n)
    for value in np.unique(label):
        rows = label == value
        total = w[rows].sum()
        if total > 0:
            out[rows] = w[rows] / total
    return out


def nice_edges(low: float, high: float, bins: int) -> np.ndarray:
    """Equal bins covering [low, high], their number as close to ``bins`` as a round width
    allows: the width is one of NICE_STEPS times a power of ten and the edges are multiples
    of it (so the axis and the under/overflow labels read as round numbers)."""
    raw = (high - low) / bins
    power = 10.0 ** math.floor(math.log10(raw))
    best = None
    for width in (step * scale for scale in (power / 10, power, power * 10) for step in NICE_STEPS):
        first = math.floor(low / width + 1e-9)
        last = max(math.ceil(high / width - 1e-9), first + 1)
        key = (abs(last - first - bins), last - first)  # closest to bins, then fewer
        if best is None or key < best[0]:
            best = (key, width, first, last)
    _, width, first, last = best
    decimals = max(0, 2 - math.floor(math.log10(width)))
    return np.round(np.arange(first, last + 1) * width, decimals)


def feature_edges(
    values: np.ndarray,
    bins: int,
    *,
    weight: np.ndarray | None = None,
    label: np.ndarray | None = None,
    value_range: tuple[float, float] | None = None,
) -> np.ndarray:
    """Bin edges for one feature from its finite values (all classes together).

    ``value_range`` given: ``bins`` equal bins over it. Otherwise integer-valued features
    spanning at most MAX_INTEGER_BINS values get one bin per integer (edges at half-integers),
    others about ``bins`` round bins (:func:`nice_edges`) between the 0.5% and 99.5%
    quantiles of the values weighted with |weight|, each class (``label``) scaled to the
    same total: a long tail (m_jj up to 6 TeV) goes to the overflow instead of squeezing the
    peak into a few bins.
    """
    if value_range is not None:
        return np.linspace(float(value_range[0]), float(value_range[1]), bins + 1)
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        return np.linspace(0.0, 1.0, bins + 1)
    v = values[finite]
    low, high = float(v.min()), float(v.max())
    if np.all(v == np.round(v)) and high - low < MAX_INTEGER_BINS:
        return np.arange(low - 0.5, high + 1.0, 1.0)
    w = _shape_weights(weight, label, values.size)[finite]
    low, high = (float(x) for x in weighted_quantiles(v, w, RANGE_QUANTILES))
    if not high > low:  # (nearly) constant: a unit-width window around the value
        low, high = low - 0.5, high + 0.5
    return nice_edges(low, high, bins)


def histogram_with_flow(
    values: np.ndarray, weights: np.ndarray, edges: np.ndarray
) -> FlowHistogram:
    """Weighted histogram with flow bins (:class:`~hepml.plotdata.histograms.FlowHistogram`):
    len(edges) + 1 bins, underflow first and overflow last; NaN values are counted apart
    (``nan_events``, ``nan_yield``), never binned."""
    values = np.asarray(values, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    nan = np.isnan(values)
    h = hist.Hist(hist.axis.Variable(edges), storage=hist.storage.Weight())
    h.fill(values[~nan], weight=weights[~nan])
    view = h.view(flow=True)
    return FlowHistogram(
        np.array(view.value),
        np.array(view.variance),
        events=int(values.size),
        yield_=float(weights.sum()),
        nan_events=int(nan.sum()),
        nan_yield=float(weights[nan].sum()),
    )


def input_variable_histograms(
    X: np.ndarray,
    weight: np.ndarray,
    label: np.ndarray,
    features: Sequence[str],
    *,
    bins: int = 40,
    binning: Mapping[str, Binning] | None = None,
) -> InputVariables:
    """input_variables.json: per feature its edges and the signal and background histograms
    (weighted, with flow and NaN counts). ``binning`` gives a feature's own bins or range;
    the others get ``bins``."""
    return InputVariables(
        {
            name: _feature_histograms(
                X[:, i], weight, label, (binning or {}).get(name) or Binning(bins)
            )
            for i, name in enumerate(features)
        }
    )


def _feature_histograms(
    values: np.ndarray, weight: np.ndarray, label: np.ndarray, binning: Binning
) -> InputVariable:
    """One feature's entry of input_variables.json: edges, one histogram per class."""
    edges = feature_edges(
        values, binning.bins, weight=weight, label=label, value_range=binning.range
    )
    return InputVariable(
        edges,
        {
            cls: histogram_with_flow(values[label == value], weight[label == value], edges)
            for value, cls in CLASSES.items()
        },
    )


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


def correlation_matrices(
    X: np.ndarray, weight: np.ndarray, label: np.ndarray, features: Sequence[str]
) -> Correlations:
    """correlations.json: the weighted correlation matrix of signal and of background."""
    return Correlations(
        tuple(features),
        {
            cls: weighted_correlation(X[label == value], weight[label == value])
            for value, cls in CLASSES.items()
        },
    )


def inputs_from_files(
    tables: Mapping[str, str | os.PathLike],
    features: Sequence[str],
    *,
    bins: int = 40,
    binning: Mapping[str, Binning] | None = None,
    batch_rows: int = BATCH_ROWS,
) -> tuple[InputVariables, Correlations]:
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
        own = (binning or {}).get(name) or Binning(bins)
        histograms[name] = _feature_histograms(values, weight, label, own)
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
        cls: _correlation(sums[value]) if value in sums else _empty(len(features))
        for value, cls in CLASSES.items()
    }
    return InputVariables(histograms), Correlations(tuple(features), correlations)


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

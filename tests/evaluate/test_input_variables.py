"""hepml.evaluate.inputs: flow histograms against numpy counts, correlations against numpy."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hepml.evaluate.inputs import (
    Binning,
    correlation_matrices,
    feature_edges,
    histogram_with_flow,
    input_variable_histograms,
    inputs_from_files,
    nice_edges,
    weighted_correlation,
    weighted_quantiles,
)
from hepml.exceptions import DataError


def test_histogram_keeps_flow_and_counts_nan_apart():
    rng = np.random.default_rng(0)
    values = rng.normal(0, 2, 5000)
    values[:100] = np.nan
    weights = rng.uniform(-0.2, 1.0, 5000)
    edges = np.linspace(-3, 3, 13)
    h = histogram_with_flow(values, weights, edges)
    finite = np.isfinite(values)
    inner, _ = np.histogram(values[finite], bins=edges, weights=weights[finite])
    inner2, _ = np.histogram(values[finite], bins=edges, weights=weights[finite] ** 2)
    np.testing.assert_allclose(h.sumw[1:-1], inner, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h.sumw2[1:-1], inner2, rtol=1e-12, atol=1e-12)
    assert h.sumw[0] == pytest.approx(weights[finite & (values < -3)].sum())
    assert h.sumw[-1] == pytest.approx(weights[finite & (values >= 3)].sum())
    assert h.nan_events == 100
    assert h.nan_yield == pytest.approx(weights[:100].sum())
    assert sum(h.sumw) + h.nan_yield == pytest.approx(h.yield_)
    assert h.events == 5000


def test_integer_features_get_one_bin_per_value():
    edges = feature_edges(np.array([0, 1, 1, 2, 5, np.nan]), 40)
    np.testing.assert_array_equal(edges, np.arange(-0.5, 6.0, 1.0))


def test_weighted_quantiles_match_numpy():
    rng = np.random.default_rng(11)
    values = rng.normal(size=2001)
    np.testing.assert_allclose(
        weighted_quantiles(values, np.ones(values.size), [0.005, 0.5, 0.995]),
        np.quantile(values, [0.005, 0.5, 0.995], method="hazen"),
        rtol=0, atol=1e-12,
    )  # fmt: skip
    # integer weights count like repeated values
    small = rng.normal(size=300)
    counts = rng.integers(1, 4, small.size)
    np.testing.assert_allclose(
        weighted_quantiles(small, counts.astype(float), [0.1, 0.9]),
        np.quantile(np.repeat(small, counts), [0.1, 0.9]),
        atol=0.05,
    )


def test_continuous_range_covers_the_bulk_on_round_bins():
    """A long tail (m_jj to several TeV) goes to the overflow: the range runs over the 0.5%
    to 99.5% quantiles, widened to multiples of a round bin width (1, 1.5, 2, ... x 10^k)."""
    values = np.random.default_rng(1).exponential(50, 20000) + 12.0
    edges = feature_edges(values, 40)
    low, high = np.quantile(values, [0.005, 0.995], method="hazen")
    width = edges[1] - edges[0]
    assert edges[0] <= low < edges[0] + width and edges[-1] - width < high <= edges[-1]
    assert abs(len(edges) - 1 - 40) <= 5
    mantissa = width / 10 ** np.floor(np.log10(width))
    assert any(np.isclose(mantissa, m) for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8))
    np.testing.assert_allclose(edges / width, np.round(edges / width), atol=1e-9)
    assert values.max() > 1.5 * edges[-1]  # the tail is in the overflow, not in 40 bins


def test_both_classes_count_alike_in_the_range_whatever_their_weights():
    """A signal with tiny physics weights (a cross section 1000 times smaller) still gets its
    tail inside the range: each class is scaled to the same total."""
    rng = np.random.default_rng(4)
    background = rng.normal(100, 10, 10000)
    signal = rng.normal(300, 30, 10000)
    values = np.r_[background, signal]
    label = np.r_[np.zeros(10000, int), np.ones(10000, int)]
    weight = np.where(label == 1, 1e-3, 1.0)
    balanced = feature_edges(values, 40, weight=weight, label=label)
    assert balanced[0] < 80 and balanced[-1] > 360
    by_weight = feature_edges(values, 40, weight=weight)  # without classes: background only
    assert by_weight[-1] < 200


def test_nice_edges_and_an_explicit_range():
    # m_jj of the issue: 12.424 to 5872.71 GeV in 40 bins -> 0 to 6000 GeV in 150 GeV bins
    np.testing.assert_allclose(nice_edges(12.424, 5872.71, 40), np.arange(0, 6000.1, 150))
    np.testing.assert_allclose(nice_edges(0.013, 0.97, 10), np.arange(0, 1.01, 0.1))
    np.testing.assert_allclose(
        feature_edges(np.arange(100.0), 4, value_range=(0.0, 2.0)), [0, 0.5, 1.0, 1.5, 2.0]
    )


def test_per_class_histograms_sum_to_the_class_yields():
    rng = np.random.default_rng(2)
    n = 4000
    label = rng.integers(0, 2, n)
    X = np.column_stack([rng.normal(label, 1), rng.integers(0, 4, n).astype(float)])
    weight = rng.uniform(0.5, 2.0, n)
    data = input_variable_histograms(X, weight, label, ["x", "n"]).to_json()
    assert data["format"] == "hepml.input_variables/2"
    assert "label" not in data["features"]["x"]  # labels are drawn from the config
    for name in ("x", "n"):
        for value, cls in ((1, "signal"), (0, "background")):
            h = data["features"][name]["classes"][cls]
            assert sum(h["sumw"]) == pytest.approx(weight[label == value].sum())
            assert h["events"] == np.count_nonzero(label == value)


def test_correlation_of_a_bivariate_gaussian_matches_rho_and_numpy():
    rng = np.random.default_rng(3)
    rho = 0.6
    X = rng.multivariate_normal([1000, -5], [[4, rho * 2 * 3], [rho * 2 * 3, 9]], 50000)
    X = np.column_stack([X, rng.normal(size=50000)])
    X[rng.random(50000) < 0.3, 2] = np.nan  # pairwise complete
    w = rng.uniform(0.2, 3.0, 50000)
    r = weighted_correlation(X, w)
    assert r[0, 1] == pytest.approx(rho, abs=0.01)
    assert abs(r[0, 2]) < 0.02
    for i, j in ((0, 1), (0, 2), (1, 2)):
        rows = np.isfinite(X[:, i]) & np.isfinite(X[:, j])
        cov = np.cov(X[rows][:, [i, j]].T, aweights=w[rows])
        assert r[i, j] == pytest.approx(cov[0, 1] / math.sqrt(cov[0, 0] * cov[1, 1]), abs=1e-9)
    np.testing.assert_allclose(np.diag(r), 1.0)
    np.testing.assert_allclose(r, r.T, atol=1e-12)


def test_constant_feature_has_no_correlation_and_json_uses_null():
    X = np.column_stack([np.arange(10.0), np.ones(10)])
    label = np.array([0, 1] * 5)
    data = correlation_matrices(X, np.ones(10), label, ["a", "b"]).to_json()
    assert data["matrices"]["signal"][0][1] is None
    assert data["matrices"]["signal"][0][0] == pytest.approx(1.0)
    assert data["features"] == ["a", "b"]


def _ingest_tables(directory, rng):
    """Three ingest-like tables (float64 features, as ingest may write them) and, stacked,
    the float32-valued matrix that training sees, with weights and labels."""
    tables, parts = {}, []
    for name, label, n in (("sig", 1, 3000), ("bkg_a", 0, 5000), ("bkg_b", 0, 2500)):
        mass = rng.normal(1000 + 20 * label, 30, n)  # a large offset
        count = rng.integers(0, 5, n).astype(float)
        angle = rng.uniform(-3, 3, n) + 0.5 * (mass - 1000) / 30
        angle[rng.random(n) < 0.2] = np.nan
        columns = {"mass": mass, "count": count, "angle": angle}
        columns["_weight"] = rng.uniform(0.1, 2, n) * np.where(rng.random(n) < 0.1, -1, 1)
        columns["_label"] = np.full(n, label, dtype=np.int8)
        tables[name] = directory / f"{name}.parquet"
        pq.write_table(pa.table(columns), tables[name])
        parts.append(columns)
    features = ["mass", "count", "angle"]
    X = np.column_stack(
        [np.concatenate([p[f] for p in parts]).astype(np.float32) for f in features]
    ).astype(np.float64)
    weight = np.concatenate([p["_weight"] for p in parts])
    label = np.concatenate([p["_label"] for p in parts])
    return tables, features, X, weight, label


def test_inputs_from_files_stream_to_the_numbers_of_the_whole_matrix(tmp_path):
    """Histograms column by column and correlations over row batches (777 rows, so batches
    straddle the tables) equal the in-memory functions on the stacked matrix."""
    tables, features, X, weight, label = _ingest_tables(tmp_path, np.random.default_rng(5))
    binning = {"count": Binning(3, (0.0, 3.0))}
    histograms, correlations = inputs_from_files(
        tables, features, bins=25, binning=binning, batch_rows=777
    )
    expected = input_variable_histograms(X, weight, label, features, bins=25, binning=binning)
    assert histograms.to_json() == expected.to_json()
    np.testing.assert_allclose(histograms.features["count"].edges, [0, 1, 2, 3])
    whole = correlation_matrices(X, weight, label, features)
    assert correlations.features == tuple(features)
    for cls in ("signal", "background"):
        np.testing.assert_allclose(
            correlations.matrices[cls], whole.matrices[cls], rtol=0, atol=1e-12
        )
    assert abs(correlations.matrices["signal"][0][2]) > 0.1  # mass and angle are correlated


def test_inputs_from_files_names_the_table_without_a_feature(tmp_path):
    tables, features, *_ = _ingest_tables(tmp_path, np.random.default_rng(6))
    old = pq.read_table(tables["bkg_a"])
    pq.write_table(old.rename_columns(["mas" if c == "mass" else c for c in old.column_names]),
                   tables["bkg_a"])  # fmt: skip
    with pytest.raises(DataError, match=r"bkg_a\.parquet' of sample 'bkg_a' has no .*'mass'"):
        inputs_from_files(tables, features)

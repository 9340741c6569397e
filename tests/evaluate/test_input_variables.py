"""hepml.evaluate.inputs: flow histograms against numpy counts, correlations against numpy."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hepml.evaluate.inputs import (
    correlation_matrices,
    feature_edges,
    histogram_with_flow,
    input_variable_histograms,
    inputs_from_files,
    weighted_correlation,
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
    np.testing.assert_allclose(h["sumw"][1:-1], inner, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h["sumw2"][1:-1], inner2, rtol=1e-12, atol=1e-12)
    assert h["sumw"][0] == pytest.approx(weights[finite & (values < -3)].sum())
    assert h["sumw"][-1] == pytest.approx(weights[finite & (values >= 3)].sum())
    assert h["nan_events"] == 100
    assert h["nan_yield"] == pytest.approx(weights[:100].sum())
    assert sum(h["sumw"]) + h["nan_yield"] == pytest.approx(h["yield"])
    assert h["events"] == 5000


def test_integer_features_get_one_bin_per_value():
    edges = feature_edges(np.array([0, 1, 1, 2, 5, np.nan]), 40)
    np.testing.assert_array_equal(edges, np.arange(-0.5, 6.0, 1.0))
    continuous = feature_edges(np.random.default_rng(1).exponential(50, 10000), 40)
    assert len(continuous) == 41 and continuous[0] > 0


def test_per_class_histograms_sum_to_the_class_yields():
    rng = np.random.default_rng(2)
    n = 4000
    label = rng.integers(0, 2, n)
    X = np.column_stack([rng.normal(label, 1), rng.integers(0, 4, n).astype(float)])
    weight = rng.uniform(0.5, 2.0, n)
    data = input_variable_histograms(X, weight, label, ["x", "n"], labels={"x": "$x$ [GeV]"})
    assert data["features"]["x"]["label"] == "$x$ [GeV]"
    assert data["features"]["n"]["label"] == "n"
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
    data = correlation_matrices(X, np.ones(10), label, ["a", "b"])
    assert data["signal"][0][1] is None
    assert data["signal"][0][0] == pytest.approx(1.0)
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
    histograms, correlations = inputs_from_files(
        tables, features, labels={"mass": "$m$ [GeV]"}, bins=25, batch_rows=777
    )
    expected = input_variable_histograms(X, weight, label, features, labels={"mass": "$m$ [GeV]"},
                                         bins=25)  # fmt: skip
    assert histograms == expected
    whole = correlation_matrices(X, weight, label, features)
    assert correlations["features"] == features
    for cls in ("signal", "background"):
        got = np.array(correlations[cls], dtype=float)
        np.testing.assert_allclose(got, np.array(whole[cls], dtype=float), rtol=0, atol=1e-12)
    assert abs(correlations["signal"][0][2]) > 0.1  # mass and angle are correlated


def test_inputs_from_files_names_the_table_without_a_feature(tmp_path):
    tables, features, *_ = _ingest_tables(tmp_path, np.random.default_rng(6))
    old = pq.read_table(tables["bkg_a"])
    pq.write_table(old.rename_columns(["mas" if c == "mass" else c for c in old.column_names]),
                   tables["bkg_a"])  # fmt: skip
    with pytest.raises(DataError, match=r"bkg_a\.parquet' of sample 'bkg_a' has no .*'mass'"):
        inputs_from_files(tables, features)

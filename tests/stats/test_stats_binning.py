"""hepml.stats.binning: flat-signal and merged bins against hand-computed cases."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from hepml.exceptions import ConfigError, DataError
from hepml.stats.binning import FitBinning, fit_edges, flat_signal_edges, merge_edges


def _sums(score, weight, edges):
    sumw, _ = np.histogram(score, edges, weights=weight)
    sumw2, _ = np.histogram(score, edges, weights=np.asarray(weight) ** 2)
    return sumw, sumw2


def test_flat_signal_edges_by_hand():
    score = np.arange(1, 9) / 10  # 0.1 ... 0.8, unit weights
    edges = flat_signal_edges(score, np.ones(8), 4)
    np.testing.assert_allclose(edges, [0.0, 0.25, 0.45, 0.65, 1.0])


def test_flat_signal_keeps_ties_together_and_handles_negative_weights():
    tied = np.array([0.1, 0.1, 0.1, 0.1, 0.2, 0.3, 0.4, 0.5])
    np.testing.assert_allclose(flat_signal_edges(tied, np.ones(8), 2), [0.0, 0.15, 1.0])
    # cumulative weights 2, 1, 3, 4: the first crossing of half the total (2) is at 0.1
    edges = flat_signal_edges([0.1, 0.2, 0.3, 0.4], [2.0, -1.0, 2.0, 1.0], 2)
    np.testing.assert_allclose(edges, [0.0, 0.15, 1.0])
    sumw, _ = _sums([0.1, 0.2, 0.3, 0.4], [2.0, -1.0, 2.0, 1.0], edges)
    np.testing.assert_allclose(sumw, [2.0, 2.0])


def test_flat_signal_gives_fewer_bins_with_a_warning_when_all_scores_tie(caplog):
    with caplog.at_level(logging.WARNING, logger="hepml.stats.binning"):
        edges = flat_signal_edges(np.full(10, 0.3), np.ones(10), 3)
    np.testing.assert_allclose(edges, [0.0, 1.0])
    assert "1 bins instead of 3" in caplog.text


def test_flat_signal_bins_hold_equal_signal_within_one_event_weight():
    rng = np.random.default_rng(3)
    score = rng.beta(5, 2, 5000)
    weight = rng.uniform(0.5, 1.5, 5000) * 0.01
    edges = flat_signal_edges(score, weight, 10)
    assert edges.size == 11 and edges[0] == 0.0 and edges[-1] == 1.0
    sumw, _ = _sums(score, weight, edges)
    # each edge sits at the crossing nearest its target: off by at most one event's weight
    np.testing.assert_allclose(sumw, weight.sum() / 10, atol=weight.max())


def test_flat_signal_errors():
    with pytest.raises(ConfigError, match=r"positive integer; got 0"):
        flat_signal_edges([0.5], [1.0], 0)
    with pytest.raises(DataError, match=r"signal yield is -1; flat-signal bins need it positive"):
        flat_signal_edges([0.5], [-1.0], 2)
    with pytest.raises(DataError, match=r"1 scores of the signal are NaN or outside"):
        flat_signal_edges([0.5, 1.5], [1.0, 1.0], 2)


FINE = np.linspace(0.0, 1.0, 6)


def test_merge_by_hand():
    sumw = [10.0, 5.0, 3.0, 1.0, 0.5]
    sumw2 = [1.0, 0.5, 0.3, 0.5, 0.25]
    # from the top: 0.5, 1.5, then 4.5 events with sqrt(1.05)/4.5 = 0.23 -> close at 0.4;
    # 5 events (0.14) -> close at 0.2; the remainder (10 events) passes
    edges = merge_edges(FINE, sumw, sumw2, min_background=2.0, max_rel_stat_unc=0.5)
    np.testing.assert_allclose(edges, [0.0, 0.2, 0.4, 1.0])
    # at most 10 %: 0.23 and then sqrt(1.55)/9.5 = 0.13 never pass above bin 0 -> one bin
    edges = merge_edges(FINE, sumw, sumw2, min_background=2.0, max_rel_stat_unc=0.1)
    np.testing.assert_allclose(edges, [0.0, 1.0])


def test_merge_joins_a_failing_remainder_to_the_bin_above():
    edges = merge_edges([0.0, 0.5, 0.8, 1.0], [0.5, 5.0, 5.0], [0.01, 0.1, 0.1], min_background=2.0)
    np.testing.assert_allclose(edges, [0.0, 0.8, 1.0])


def test_merge_never_leaves_an_empty_background_bin():
    edges = merge_edges(np.linspace(0, 1, 5), [5.0, 5.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0])
    np.testing.assert_allclose(edges, [0.0, 0.25, 1.0])


def test_merge_refuses_when_even_one_bin_fails():
    with pytest.raises(DataError, match=r"background of 1 events .* needs at least 5 events"):
        merge_edges(FINE, [0.2] * 5, [0.01] * 5, min_background=5.0)
    with pytest.raises(ConfigError, match=r"max_rel_stat_unc > 0"):
        merge_edges(FINE, [0.2] * 5, [0.01] * 5, max_rel_stat_unc=0.0)
    with pytest.raises(DataError, match=r"6 edges need 5 bins; got 4 and 5"):
        merge_edges(FINE, [0.2] * 4, [0.01] * 5)


def _background(seed=11, n=20000):
    rng = np.random.default_rng(seed)
    return rng.beta(2, 5, n), rng.uniform(0.5, 1.5, n) * 0.05


@pytest.mark.parametrize(("min_background", "max_rel"), [(1.0, 0.2), (5.0, 0.05), (0.0, 0.3)])
def test_merged_bins_meet_the_thresholds_and_are_deterministic(min_background, max_rel):
    score, weight = _background()
    fine = np.linspace(0, 1, 101)
    sumw, sumw2 = _sums(score, weight, fine)
    edges = merge_edges(fine, sumw, sumw2, min_background=min_background, max_rel_stat_unc=max_rel)
    again = merge_edges(fine, sumw, sumw2, min_background=min_background, max_rel_stat_unc=max_rel)
    np.testing.assert_array_equal(edges, again)
    assert np.all(np.isin(edges, fine)) and edges[0] == 0.0 and edges[-1] == 1.0
    merged_w, merged_w2 = _sums(score, weight, edges)
    assert np.all(merged_w >= min_background) and np.all(merged_w > 0)
    assert np.all(np.sqrt(merged_w2) / merged_w <= max_rel + 1e-12)
    assert edges.size > 3  # something was kept, not everything merged


def test_fit_edges_flat_signal_then_merged():
    rng = np.random.default_rng(5)
    signal_score, signal_weight = rng.beta(5, 2, 4000), np.full(4000, 0.01)
    background_score, background_weight = _background()
    binning = FitBinning(method="flat_signal", n_bins=8, min_background=2.0, max_rel_stat_unc=0.1)
    edges = fit_edges(binning, signal_score, signal_weight, background_score, background_weight)
    flat = flat_signal_edges(signal_score, signal_weight, 8)
    assert set(edges) <= set(flat)  # merged from the flat-signal bins
    merged_w, merged_w2 = _sums(background_score, background_weight, edges)
    assert np.all(merged_w >= 2.0) and np.all(np.sqrt(merged_w2) / merged_w <= 0.1)
    uniform = fit_edges(
        FitBinning(fine_bins=20), signal_score, signal_weight, background_score, background_weight
    )
    assert set(np.round(uniform, 12)) <= set(np.round(np.linspace(0, 1, 21), 12))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "flat"}, r"unknown fit binning method 'flat'; valid: merge, flat_signal"),
        ({"fine_bins": 0}, r"fine_bins must be a positive integer"),
        ({"low": 1.0, "high": 0.0}, r"needs low < high"),
        ({"min_background": -1.0}, r"min_background must be >= 0"),
        ({"max_rel_stat_unc": 0.0}, r"max_rel_stat_unc must be positive or null"),
    ],
)
def test_fit_binning_checks_its_settings(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        FitBinning(**kwargs)

"""hepml.plots.training and .tuning: significance, cut efficiencies, learning curves, importance,
SHAP and the hyperparameter trials, checked on what the figures draw."""

from __future__ import annotations

import csv
import json

import matplotlib.pyplot as plt
import matplotlib.text
import numpy as np
import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from synthetic_scores import synthetic_table

from hepml.evaluate.performance import evaluate
from hepml.exceptions import DataError
from hepml.plotdata.performance import ClassifierScan
from hepml.plotdata.training import ShapSummary, Trial, TuneTrials
from hepml.plots.style import PlotStyle
from hepml.plots.training import (
    TRAINING_PLOTS,
    draw_training,
    plot_cut_efficiencies,
    plot_feature_importance,
    plot_learning_curves,
    plot_shap_beeswarm,
    plot_significance,
)
from hepml.plots.tuning import draw_tuning, plot_trials

STYLE = PlotStyle(luminosity_fb=140.0)


@pytest.fixture(scope="module")
def scan():
    summary = evaluate(synthetic_table(n_events=3000), working_points=[]).significance
    return ClassifierScan.from_summary(summary)


def _texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.findobj(matplotlib.text.Text) if t.get_text()]


def _lines(ax, label: str):
    return next(line for line in ax.get_lines() if line.get_label() == label)


def test_significance_plot_draws_the_scan_and_the_optimum(scan):
    fig = plot_significance(scan, STYLE)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:3] == ["Asimov $Z_A$", "S/√B", "S/√(S+B)"]
    enough = scan.scan["background"] >= scan.min_background
    asimov = _lines(ax, "Asimov $Z_A$")
    np.testing.assert_allclose(asimov.get_xdata(), scan.scan["cut"])
    np.testing.assert_allclose(np.asarray(asimov.get_ydata())[enough], scan.scan["asimov"][enough])
    cut = scan.optimum["cut"]
    assert any(f"score > {cut:.3g}" in label for label in labels)
    vertical = [line for line in ax.get_lines() if np.ptp(line.get_xdata()) == 0]
    assert vertical and vertical[0].get_xdata()[0] == cut
    assert "140 $\\mathrm{fb^{-1}}$ (13 TeV)" in _texts(fig)  # expected yields: luminosity


def test_the_faint_style_is_explained_only_when_drawn(scan):
    """Cuts leaving less background than the minimum are drawn faint, and the legend says so;
    when no cut is faint, the legend explains nothing that is not drawn."""
    high = ClassifierScan(scan.metric, 1e-9, scan.scan, scan.optimum)
    legend = plot_significance(high, STYLE).axes[0].get_legend()
    assert legend.get_title().get_text() == ""
    low = ClassifierScan(scan.metric, float(np.nanmedian(scan.scan["background"])), scan.scan,
                         scan.optimum)  # fmt: skip
    fig = plot_significance(low, STYLE)
    assert fig.axes[0].get_legend().get_title().get_text().startswith("faint: B <")
    faint = [line for line in fig.axes[0].get_lines() if line.get_alpha() == 0.3]
    assert len(faint) == 3


def test_cut_efficiencies_draw_the_scan_and_ticks_cover_both_axes(scan):
    fig = plot_cut_efficiencies(scan, STYLE)
    left, right = fig.axes[:2]
    efficiency = _lines(left, "Signal efficiency")
    np.testing.assert_allclose(efficiency.get_ydata(), scan.scan["signal_efficiency"])
    purity = _lines(left, "Efficiency × purity")
    np.testing.assert_allclose(
        purity.get_ydata(), scan.scan["signal_efficiency"] * scan.scan["purity"]
    )
    assert right.get_ylabel().startswith("Significance")
    for ax in (left, right):
        low, high = ax.get_ylim()
        ticks = [t for t in ax.get_yticks() if low - 1e-9 <= t <= high + 1e-9]
        step = ticks[1] - ticks[0]
        assert ticks[0] == pytest.approx(low) and high - ticks[-1] < step + 1e-9
    # the legend sits below the axes, outside the data
    assert left.get_legend().get_bbox_to_anchor().y0 < left.get_window_extent().y0


def test_learning_curves_mark_the_best_iteration():
    curves = {0: {"train_logloss": [0.7, 0.5, 0.4], "validation_logloss": [0.7, 0.55, 0.56]}}
    fig = plot_learning_curves(curves, {0: 1}, STYLE)
    dots = [line for line in fig.axes[0].get_lines() if line.get_marker() == "o"]
    assert dots[0].get_xdata()[0] == 1 and dots[0].get_ydata()[0] == 0.55
    assert not any("fb" in t for t in _texts(fig))  # no luminosity on a learning curve


def _importance_rows():
    return [
        {"feature": name, "shap_fraction": s, "shap_fraction_std_over_folds": 0.02,
         "gain_fraction": s, "gain_fraction_std_over_folds": 0.03}
        for name, s in (("mjj", 0.6), ("detajj", 0.3), ("met", 0.1))
    ]  # fmt: skip


def test_importance_bars_are_the_fractions_top_rank_on_top():
    style = PlotStyle(feature_labels={"mjj": "$m_{jj}$ [GeV]"})
    fig = plot_feature_importance(_importance_rows(), style)
    ax = fig.axes[0]
    shap_bars = [p for p in ax.patches if p.get_label() == "Mean |SHAP|" or (
        p.get_facecolor() == to_rgba("tab:blue"))]  # fmt: skip
    widths = sorted(((b.get_y(), b.get_width()) for b in shap_bars), reverse=True)
    assert [w for _, w in widths] == [0.6, 0.3, 0.1]  # mjj on top
    ticks = {t.get_text(): y for t, y in zip(ax.get_yticklabels(), ax.get_yticks(), strict=True)}
    assert list(ticks) == ["$m_{jj}$ [GeV]", "detajj", "met"]  # the configured axis label
    assert ticks["$m_{jj}$ [GeV]"] > ticks["detajj"] > ticks["met"]


def _shap_summary(n=300) -> ShapSummary:
    rng = np.random.default_rng(0)
    return ShapSummary(
        features=("mjj", "detajj", "met"),
        shap=tuple(rng.normal(0, s, n) for s in (1.0, 0.5, 0.2)),
        colour=tuple(
            np.array([np.nan if i % 10 == 0 else i / n for i in range(n)]) for _ in range(3)
        ),
        seed=1,
    )


def test_shap_beeswarm_puts_every_event_at_its_value_grey_when_missing():
    summary = _shap_summary()
    fig = plot_shap_beeswarm(summary, STYLE)
    ax = fig.axes[0]
    coloured = [c for c in ax.collections if c.get_array() is not None]
    assert len(coloured) == 3
    top = coloured[0]  # row 0 (mjj): drawn first, at y close to 2
    missing = ~np.isfinite(summary.colour[0])
    np.testing.assert_allclose(top.get_offsets()[:, 0], summary.shap[0][~missing])
    np.testing.assert_allclose(top.get_array(), summary.colour[0][~missing])
    assert np.all(np.abs(top.get_offsets()[:, 1] - 2) <= 0.4)
    assert not any("fb" in t for t in _texts(fig))


def _write_training_outputs(train_dir, evaluation_dir, n_folds=3):
    rng = np.random.default_rng(0)
    for k in range(n_folds):
        fold = train_dir / f"fold{k}"
        fold.mkdir(parents=True)
        rounds = 80
        train = 0.69 * np.exp(-np.arange(rounds) / 20) + 0.2
        validation = train + 0.002 * np.arange(rounds) / 10 + rng.normal(0, 0.002, rounds)
        with (fold / "learning_curve.csv").open("w", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(["iteration", "train_logloss", "validation_logloss"])
            writer.writerows(zip(range(rounds), train, validation, strict=True))
        (fold / "metadata.json").write_text(json.dumps({"best_iteration": 40 + k, "model_fold": k}))
    rows = _importance_rows()
    with (evaluation_dir / "importance.csv").open("w", newline="") as stream:
        writer = csv.DictWriter(stream, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    _shap_summary().write(evaluation_dir / "shap.json")


def _training_files(train_dir, n_folds=3):
    """The explicit (curves, metadata) lists the plot-training command gets."""
    folds = [train_dir / f"fold{k}" for k in range(n_folds)]
    return [f / "learning_curve.csv" for f in folds], [f / "metadata.json" for f in folds]


def test_draw_training_writes_every_plot(tmp_path):
    _write_training_outputs(tmp_path / "train", tmp_path)
    written = draw_training(
        *_training_files(tmp_path / "train"), tmp_path, tmp_path / "plots", STYLE
    )
    assert sorted(p.name for p in written) == sorted(
        f"{n}.{e}" for n in TRAINING_PLOTS for e in ("pdf", "png")
    )
    assert all(p.stat().st_size > 1000 for p in written)
    assert plt.get_fignums() == []


def test_draw_training_needs_the_importance_files(tmp_path):
    with pytest.raises(DataError, match="importance rule"):
        draw_training(*_training_files(tmp_path), tmp_path, tmp_path / "plots", STYLE)
    _write_training_outputs(tmp_path / "train", tmp_path)
    with pytest.raises(DataError, match=r"learning_curve\.csv' does not exist"):
        draw_training(*_training_files(tmp_path / "nothing"), tmp_path, tmp_path / "plots", STYLE)


def test_draw_training_reads_only_the_files_it_is_given(tmp_path):
    """A leftover fold3/ of an earlier run with K = 4 must not appear in a K = 3 plot."""
    _write_training_outputs(tmp_path / "train", tmp_path, n_folds=4)
    from hepml.plots.training import _read_learning_curves

    curves, best = _read_learning_curves(*_training_files(tmp_path / "train", 3))
    assert sorted(curves) == sorted(best) == [0, 1, 2]


def test_plots_accept_an_axes(scan):
    ax = Figure().add_subplot()
    assert plot_significance(scan, STYLE, ax=ax) is ax.figure


def _trials() -> TuneTrials:
    trials = []
    for k in range(2):
        for i, (depth, eta) in enumerate(((3, 0.01), (5, 0.1), (7, 0.3))):
            objective = 0.5 - 0.01 * i + 0.02 * k
            trials.append(Trial(k, i, {"max_depth": depth, "eta": eta}, objective, 10, i == 1))
    return TuneTrials("random", "logloss", tuple(trials))


def test_trials_plot_draws_every_trial_and_stars_the_chosen(tmp_path):
    trials = _trials()
    fig = plot_trials(trials, STYLE)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_xlabel() for ax in panels] == ["trial", "max_depth", "eta"]
    dots = [line for line in panels[1].get_lines() if line.get_marker() == "o"]
    np.testing.assert_allclose(dots[1].get_xdata(), [3, 5, 7])
    np.testing.assert_allclose(dots[1].get_ydata(), [0.52, 0.51, 0.50])
    stars = [line for line in panels[2].get_lines() if line.get_marker() == "*"]
    assert [(s.get_xdata()[0], s.get_ydata()[0]) for s in stars] == [(0.1, 0.49), (0.1, 0.51)]
    assert panels[2].get_xscale() == "log"  # eta spans a factor 30
    assert panels[0].get_ylabel() == "Validation logloss"
    trials.write(tmp_path / "trials.json")
    written = draw_tuning(tmp_path / "trials.json", tmp_path / "plots", STYLE)
    assert sorted(p.name for p in written) == ["tune_trials.pdf", "tune_trials.png"]

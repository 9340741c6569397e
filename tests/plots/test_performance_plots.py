"""hepml.plots.performance: plots are drawn from the evaluation files, without pyplot state."""

from __future__ import annotations

import json
from types import SimpleNamespace

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure
from synthetic_scores import WORKING_POINTS, synthetic_table

from hepml.config import PlottingSettings
from hepml.evaluate.performance import evaluate, write_evaluation
from hepml.exceptions import ConfigError, DataError
from hepml.plots.performance import (
    PlotStyle,
    draw_all,
    plot_overtraining,
    plot_roc,
    plot_score_distribution,
    style_from_config,
)

PLOTS = (
    "roc",
    "roc_tpr_fpr",
    "overtraining",
    "score",
    "score_log",
    "significance",
    "cut_efficiencies",
)


@pytest.fixture(scope="module")
def evaluation_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("evaluation")
    write_evaluation(evaluate(synthetic_table(), working_points=WORKING_POINTS), directory)
    return directory


@pytest.fixture(scope="module")
def plot_dir(evaluation_dir, tmp_path_factory):
    directory = tmp_path_factory.mktemp("plots")
    written = draw_all(evaluation_dir, directory, PlotStyle(luminosity_fb=138.0), cut=0.8)
    assert sorted(p.name for p in written) == sorted(
        f"{name}.{ext}" for name in PLOTS for ext in ("pdf", "png")
    )
    return directory


def _pixels(path):
    """RGB pixel values in [0, 1] of a PNG."""
    return matplotlib.image.imread(path)[..., :3]


def test_every_plot_is_written_and_pyplot_is_untouched(plot_dir):
    for name in PLOTS:
        for ext in ("pdf", "png"):
            assert (plot_dir / f"{name}.{ext}").stat().st_size > 1000
    assert plt.get_fignums() == []


@pytest.mark.parametrize("name", PLOTS)
def test_png_is_not_blank(plot_dir, name):
    grey = _pixels(plot_dir / f"{name}.png").mean(axis=-1)
    assert grey.std() > 0.1
    assert 0.02 < (grey < 0.95).mean() < 0.5


def _colour_fraction(rgb, channel):
    """Fraction of pixels where ``channel`` (0 red, 2 blue) tops the others (light fills too)."""
    others = np.delete(rgb, channel, axis=-1).max(axis=-1)
    return float((rgb[..., channel] > others + 0.05).mean())


def test_roc_draws_a_coloured_curve_and_band(plot_dir):
    assert _colour_fraction(_pixels(plot_dir / "roc.png"), channel=2) > 0.01


def test_overtraining_shows_signal_and_background(plot_dir):
    rgb = _pixels(plot_dir / "overtraining.png")
    assert _colour_fraction(rgb, channel=0) > 0.005  # background, red
    assert _colour_fraction(rgb, channel=2) > 0.005  # signal, blue


def test_score_stack_is_filled(plot_dir):
    rgb = _pixels(plot_dir / "score.png")
    saturation = rgb.max(axis=-1) - rgb.min(axis=-1)
    assert (saturation > 0.3).mean() > 0.05


def test_roc_has_one_curve_per_classifier(tmp_path):
    table = synthetic_table(n_events=1500)
    evaluations = [
        evaluate(table, classifier=name, working_points=[]) for name in ("xgboost", "mlp")
    ]
    write_evaluation(evaluations, tmp_path)
    curves = json.loads((tmp_path / "curves.json").read_text())
    fig = plot_roc(curves, PlotStyle(experiment=None, energy_tev=None))
    assert isinstance(fig, Figure)
    labels = [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
    assert sum(label.startswith(("xgboost (AUC", "mlp (AUC")) for label in labels) == 2
    # two classifiers: a ratio panel to the first; the same scores give a ratio of one
    _, ratio = fig.axes
    assert ratio.get_ylabel() == "Ratio to\nxgboost"
    for line in ratio.get_lines()[:2]:
        y = np.asarray(line.get_ydata(), dtype=float)
        np.testing.assert_allclose(y[np.isfinite(y)], 1.0)
    single = plot_roc({"classifiers": {"xgboost": curves["classifiers"]["xgboost"]}}, PlotStyle())
    assert len(single.axes) == 1
    with pytest.raises(ValueError, match="ratio panel"):
        plot_roc(curves, PlotStyle(), ax=Figure().add_subplot(), ratio=True)


def test_plots_draw_on_a_given_axes(evaluation_dir):
    hists = json.loads((evaluation_dir / "histograms.json").read_text())["classifiers"]
    ax = Figure().add_subplot()
    fig = plot_score_distribution(hists["xgboost"], PlotStyle(experiment="LHCb"), ax=ax, log=True)
    assert fig is ax.figure
    assert ax.get_yscale() == "log"


def test_score_plots_mark_the_optimal_cut_of_significance_json(evaluation_dir, tmp_path):
    optimum = json.loads((evaluation_dir / "significance.json").read_text())["classifiers"][
        "xgboost"
    ]["optimum"]
    hists = json.loads((evaluation_dir / "histograms.json").read_text())["classifiers"]
    fig = plot_score_distribution(hists["xgboost"], PlotStyle(), cut=optimum["cut"])
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert f"score > {optimum['cut']:g}" in labels
    # draw_all picks the same cut by default
    draw_all(evaluation_dir, tmp_path, PlotStyle())
    assert (tmp_path / "score.png").stat().st_size > 1000


def test_overtraining_legend_gives_the_minimum_ks_pvalue(evaluation_dir):
    hists = json.loads((evaluation_dir / "histograms.json").read_text())["classifiers"]
    rows = [
        {"fold": 0, "class": "signal", "ks_pvalue": "0.5"},
        {"fold": 1, "class": "signal", "ks_pvalue": "0.02"},
        {"fold": 0, "class": "background", "ks_pvalue": "0.3"},
    ]
    fig = plot_overtraining(hists["xgboost"], rows, PlotStyle(experiment="ALICE"))
    legend = fig.axes[0].get_legend()
    texts = [text.get_text() for text in legend.get_texts()]
    assert "Signal (test), KS p = 0.02" in texts
    assert "minimum over 2 folds" in legend.get_title().get_text()


def test_unknown_experiment_lists_the_valid_ones():
    with pytest.raises(ConfigError, match=r"valid: CMS, ATLAS, LHCb, ALICE.*Did you mean 'CMS'"):
        PlotStyle(experiment="CMX")


def test_draw_all_needs_the_evaluation_files(tmp_path):
    with pytest.raises(DataError, match=r"curves\.json"):
        draw_all(tmp_path, tmp_path / "plots", PlotStyle())


def test_style_from_config_reads_plotting_block_and_luminosity():
    plotting = PlottingSettings(None, "Private Work", 13.6, "Preliminary")
    config = SimpleNamespace(plotting=plotting, luminosity=59.8)
    assert style_from_config(config) == PlotStyle(
        experiment=None, label="Private Work", luminosity_fb=59.8, energy_tev=13.6
    )

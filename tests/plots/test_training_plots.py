"""hepml.plots.training: significance, cut efficiencies, learning curves, importance, SHAP."""

from __future__ import annotations

import csv
import json

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure
from synthetic_scores import synthetic_table

from hepml.evaluate.performance import evaluate
from hepml.exceptions import DataError
from hepml.plots.style import PlotStyle
from hepml.plots.training import (
    TRAINING_PLOTS,
    draw_training,
    plot_cut_efficiencies,
    plot_learning_curves,
    plot_significance,
)

STYLE = PlotStyle(luminosity_fb=140.0)


def _pixels(path):
    return matplotlib.image.imread(path)[..., :3]


@pytest.fixture(scope="module")
def significance():
    return evaluate(synthetic_table(n_events=3000), working_points=[]).significance


def test_significance_plot_has_three_curves_and_the_optimum(significance):
    fig = plot_significance(significance, STYLE)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:3] == ["Asimov $Z_A$", "S/√B", "S/√(S+B)"]
    cut = significance["optimum"]["cut"]
    assert any(f"score > {cut:.3g}" in label for label in labels)
    vertical = [line for line in ax.get_lines() if np.ptp(line.get_xdata()) == 0]
    assert vertical and vertical[0].get_xdata()[0] == cut


def test_cut_efficiencies_canvas_shows_efficiencies_purity_and_significance(significance):
    fig = plot_cut_efficiencies(significance, STYLE)
    left, right = fig.axes[:2]
    labels = [t.get_text() for t in left.get_legend().get_texts()]
    for expected in ("Signal efficiency", "Background efficiency", "Signal purity"):
        assert expected in labels
    (efficiency,) = [line for line in left.get_lines() if line.get_label() == "Signal efficiency"]
    np.testing.assert_allclose(
        efficiency.get_ydata(),
        [np.nan if v is None else v for v in significance["scan"]["signal_efficiency"]],
    )
    assert right.get_ylabel().startswith("Significance")


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
    features = ["mjj", "detajj", "met"]
    with (evaluation_dir / "importance.csv").open("w", newline="") as stream:
        writer = csv.DictWriter(
            stream,
            [
                "rank",
                "feature",
                "shap_fraction",
                "shap_fraction_std_over_folds",
                "gain_fraction",
                "gain_fraction_std_over_folds",
            ],
        )
        writer.writeheader()
        for rank, (name, share) in enumerate(zip(features, (0.6, 0.3, 0.1), strict=True)):
            writer.writerow(
                {
                    "rank": rank + 1,
                    "feature": name,
                    "shap_fraction": share,
                    "shap_fraction_std_over_folds": 0.02,
                    "gain_fraction": share,
                    "gain_fraction_std_over_folds": 0.03,
                }
            )
    n = 300
    shap = {
        "features": features,
        "seed": 1,
        "shap": [rng.normal(0, s, n).tolist() for s in (1.0, 0.5, 0.2)],
        "colour": [[None if i % 10 == 0 else i / n for i in range(n)] for _ in features],
    }
    (evaluation_dir / "shap.json").write_text(json.dumps(shap))


def test_learning_curves_mark_the_best_iteration():
    curves = {0: {"train_logloss": [0.7, 0.5, 0.4], "validation_logloss": [0.7, 0.55, 0.56]}}
    fig = plot_learning_curves(curves, {0: 1}, STYLE)
    dots = [line for line in fig.axes[0].get_lines() if line.get_marker() == "o"]
    assert dots[0].get_xdata()[0] == 1 and dots[0].get_ydata()[0] == 0.55


def _training_files(train_dir, n_folds=3):
    """The explicit (curves, metadata) lists the plot-training command gets."""
    folds = [train_dir / f"fold{k}" for k in range(n_folds)]
    return [f / "learning_curve.csv" for f in folds], [f / "metadata.json" for f in folds]


def test_draw_training_writes_non_blank_plots(tmp_path):
    _write_training_outputs(tmp_path / "train", tmp_path)
    written = draw_training(
        *_training_files(tmp_path / "train"), tmp_path, tmp_path / "plots", STYLE
    )
    assert sorted(p.name for p in written) == sorted(
        f"{n}.{e}" for n in TRAINING_PLOTS for e in ("pdf", "png")
    )
    assert plt.get_fignums() == []
    for name in TRAINING_PLOTS:
        grey = _pixels(tmp_path / "plots" / f"{name}.png").mean(axis=-1)
        assert grey.std() > 0.1
        assert 0.02 < (grey < 0.95).mean() < 0.6
    # the beeswarm is coloured red (high) and blue (low); the bars blue and orange
    rgb = _pixels(tmp_path / "plots" / "shap_beeswarm.png")
    assert (rgb[..., 0] > rgb[..., 2] + 0.2).mean() > 0.002
    assert (rgb[..., 2] > rgb[..., 0] + 0.2).mean() > 0.002
    rgb = _pixels(tmp_path / "plots" / "importance.png")
    assert (rgb[..., 2] > rgb[..., 0] + 0.3).mean() > 0.01


def test_draw_training_needs_the_importance_files(tmp_path):
    with pytest.raises(DataError, match="importance rule"):
        draw_training(*_training_files(tmp_path), tmp_path, tmp_path / "plots", STYLE)
    _write_training_outputs(tmp_path / "train", tmp_path)
    with pytest.raises(DataError, match=r"learning_curve\.csv' does not exist"):
        draw_training(*_training_files(tmp_path / "nothing"), tmp_path, tmp_path / "plots", STYLE)


def test_draw_training_reads_only_the_files_it_is_given(tmp_path):
    """A leftover fold3/ of an earlier run with K = 4 must not appear in a K = 3 plot."""
    _write_training_outputs(tmp_path / "train", tmp_path, n_folds=4)
    draw_training(*_training_files(tmp_path / "train", 3), tmp_path, tmp_path / "plots", STYLE)
    from hepml.plots.training import _read_learning_curves

    curves, best = _read_learning_curves(*_training_files(tmp_path / "train", 3))
    assert sorted(curves) == sorted(best) == [0, 1, 2]


def test_plots_accept_an_axes(significance):
    ax = Figure().add_subplot()
    assert plot_significance(significance, STYLE, ax=ax) is ax.figure

"""hepml.plots.performance and .overtraining: what each plot draws (curve values, bin contents,
labels, texts) is the evaluation's data, checked on the figures' artists."""

from __future__ import annotations

import csv
import math

import matplotlib.patches
import matplotlib.pyplot as plt
import matplotlib.text
import numpy as np
import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from synthetic_scores import WORKING_POINTS, synthetic_table

from hepml.config import ProcessDisplay, config_from_dict
from hepml.evaluate.performance import evaluate, write_evaluation
from hepml.exceptions import ConfigError, DataError
from hepml.plotdata import RocCurves, ScoreHistograms
from hepml.plots.overtraining import ks_effect, panel_numbers, plot_overtraining
from hepml.plots.performance import (
    PlotStyle,
    draw_all,
    plot_names,
    plot_roc,
    plot_roc_tpr_fpr,
    plot_score_distribution,
    style_from_config,
)

STYLE = PlotStyle(luminosity_fb=138.0)


@pytest.fixture(scope="module")
def evaluation_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("evaluation")
    table = synthetic_table()
    evaluations = [
        evaluate(table, classifier=name, working_points=WORKING_POINTS)
        for name in ("xgboost", "fisher")
    ]
    write_evaluation(evaluations, directory)
    return directory


@pytest.fixture(scope="module")
def curves(evaluation_dir):
    return RocCurves.read(evaluation_dir / "curves.json")


@pytest.fixture(scope="module")
def scores(evaluation_dir):
    return ScoreHistograms.read(evaluation_dir / "histograms.json")["xgboost"]


@pytest.fixture(scope="module")
def ks_rows(evaluation_dir):
    with (evaluation_dir / "overtraining.csv").open(newline="") as stream:
        return [r for r in csv.DictReader(stream) if r["classifier"] == "xgboost"]


def _texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.findobj(matplotlib.text.Text) if t.get_text()]


def _legend(ax) -> list[str]:
    return _legend_texts(ax.get_legend())


def _legend_texts(legend) -> list[str]:
    return [t.get_text() for t in legend.get_texts()]


def _steps(ax) -> dict[str, matplotlib.patches.StepPatch]:
    return {p.get_label(): p for p in ax.patches if isinstance(p, matplotlib.patches.StepPatch)}


def test_draw_all_writes_every_plot_of_every_classifier(evaluation_dir, tmp_path):
    written = draw_all(evaluation_dir, tmp_path, STYLE, cut=0.8)
    expected = [f"{n}.{e}" for n in plot_names(["fisher"]) for e in ("pdf", "png")]
    assert sorted(p.name for p in written) == sorted(expected)
    assert "overtraining_fisher.png" in expected  # the baselines' overtraining plots
    assert all(p.stat().st_size > 1000 for p in written)
    assert plt.get_fignums() == []  # no pyplot state


def test_roc_curve_is_the_merged_curve_with_the_fold_band(curves):
    fig = plot_roc(curves, STYLE)
    main, ratio = fig.axes  # two classifiers: a ratio panel to the first
    roc = curves["xgboost"]
    line = next(x for x in main.get_lines() if x.get_label().startswith("xgboost (AUC"))
    eff_b = roc.merged.background_efficiency
    kept = eff_b > 0
    np.testing.assert_allclose(line.get_xdata()[kept], roc.merged.signal_efficiency[kept])
    np.testing.assert_allclose(line.get_ydata()[kept], 1 / eff_b[kept])
    assert line.get_label() == f"xgboost (AUC = {roc.auc:.3f} ± {roc.auc_std_over_folds:.3f})"
    # the band spans the per-fold rejections at each signal efficiency of the grid
    band = next(c for c in main.collections if c.get_label() == "xgboost: fold min-max")
    (path,) = band.get_paths()
    x = 0.5
    fold_rejections = [
        1 / np.interp(x, np.maximum.accumulate(f.signal_efficiency), f.background_efficiency)
        for f in roc.folds
    ]
    at_x = path.vertices[np.isclose(path.vertices[:, 0], x, atol=2e-3)][:, 1]
    assert min(at_x) == pytest.approx(min(fold_rejections), rel=0.05)
    assert max(at_x) == pytest.approx(max(fold_rejections), rel=0.05)
    assert main.get_yscale() == "log"
    # the same scores for both classifiers: a ratio of one
    assert ratio.get_ylabel() == "Ratio to\nxgboost"
    for ratio_line in ratio.get_lines()[:2]:
        y = np.asarray(ratio_line.get_ydata(), dtype=float)
        np.testing.assert_allclose(y[np.isfinite(y)], 1.0)
    with pytest.raises(ValueError, match="ratio panel"):
        plot_roc(curves, STYLE, ax=Figure().add_subplot(), ratio=True)


def test_efficiency_plots_carry_no_luminosity_and_no_experiment_by_default(curves):
    fig = plot_roc_tpr_fpr(curves, STYLE)
    texts = _texts(fig)
    assert "Simulation" in texts and any(t.endswith("(13 TeV)") for t in texts)
    assert not any("fb" in t for t in texts)  # efficiencies: no luminosity
    assert not any(t in ("CMS", "ATLAS", "LHCb", "ALICE") for t in texts)
    line = next(x for x in fig.axes[0].get_lines() if x.get_label().startswith("fisher"))
    np.testing.assert_allclose(line.get_xdata(), curves["fisher"].merged.background_efficiency)


def test_overtraining_grid_draws_each_models_own_events_with_its_numbers(scores, ks_rows):
    fig = plot_overtraining(scores, ks_rows, PlotStyle(experiment="ALICE"), classifier="xgboost")
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
    assert len(panels) == len(scores.folds) == 3
    edges = scores.edges
    for k, ax in enumerate(panels):
        fold = scores.folds[k]
        steps = _steps(ax)
        train = steps["Signal (train)"].get_data().values
        expected = fold["signal"].train.sumw / (fold["signal"].train.sumw.sum() * np.diff(edges))
        np.testing.assert_allclose(train, expected)
        assert np.sum(train * np.diff(edges)) == pytest.approx(1.0)  # unit area
        (text,) = [t.get_text() for t in ax.texts if t.get_text().startswith("Model")]
        assert text.startswith(f"Model {k} (test fold {k})")
        row = next(r for r in ks_rows if int(r["fold"]) == k and r["class"] == "background")
        assert f"Background: KS p = {float(row['ks_pvalue']):.2g}" in text
        assert f"AUC train − test = {float(row['auc_gap']):+.4f}" in text
    # three panels fill the row: the legend, saying what is drawn, goes below them
    (legend,) = fig.legends
    assert "training events (filled)" in legend.get_title().get_text()
    assert sorted(_legend_texts(legend)) == [
        "Background (test)", "Background (train)", "Signal (test)", "Signal (train)"
    ]  # fmt: skip


def test_a_free_panel_holds_the_legend(ks_rows):
    table = synthetic_table(n_events=2500, k=5)
    scores = evaluate(table, working_points=[]).histograms
    fig = plot_overtraining(scores, [], STYLE)
    visible = [ax for ax in fig.axes if ax.axison]
    assert len(visible) == 5 and not fig.legends
    (spare,) = [ax for ax in fig.axes if not ax.axison]
    assert "unit area" in spare.get_legend().get_title().get_text()


def test_the_ks_effect_size_is_the_distance_over_its_expected_size():
    row = {"ks_statistic": "0.02", "n_eff_train": "8000", "n_eff_test": "2000"}
    name, value = ks_effect(row)
    # E[sqrt(n_eff) D] under the null is the mean of Kolmogorov's distribution
    from scipy.stats import kstwobign

    n_eff = 8000 * 2000 / 10000
    assert name == "D/E[D]"
    assert value == pytest.approx(0.02 * math.sqrt(n_eff) / kstwobign.mean(), rel=1e-3)
    # a column the table carries itself is shown as it is
    assert ks_effect({**row, "ks_effect_size": "1.7"}) == ("ks_effect_size", 1.7)
    lines = panel_numbers(
        [
            {"fold": "0", "class": "signal", "ks_pvalue": "0.5", "auc_gap": "0.01", **row},
            {
                "fold": "0",
                "class": "background",
                "ks_pvalue": "0.001",
                "flagged": "True",
                "auc_gap": "0.01",
                **row,
            },
        ],
        0,
    )
    assert lines[0].startswith("Signal: KS p = 0.5, D/E[D] = ")
    assert lines[1].endswith("(flagged)")
    assert lines[2] == "AUC train − test = +0.0100"


def test_score_plot_stacks_processes_as_the_config_says(scores):
    processes = {
        "ttbar": ProcessDisplay("ttbar", "$t\\bar{t}$", "tab:orange", 1),
        "wjets": ProcessDisplay("wjets", "W+jets", "#123456", None),
        "ggH": ProcessDisplay("ggH", "ggH signal", None, None),
    }
    style = PlotStyle(luminosity_fb=138.0, processes=processes)
    fig = plot_score_distribution(scores, style, cut=0.7)
    ax = fig.axes[0]
    steps = _steps(ax)
    ttbar, wjets = steps["$t\\bar{t}$"].get_data(), steps["W+jets"].get_data()
    # ttbar has order 1: at the bottom of the stack; W+jets on top of it
    np.testing.assert_allclose(ttbar.values, scores.processes["ttbar"].histogram.sumw)
    np.testing.assert_allclose(wjets.baseline, ttbar.values)
    np.testing.assert_allclose(
        wjets.values - wjets.baseline, scores.processes["wjets"].histogram.sumw
    )
    assert steps["W+jets"].get_facecolor() == to_rgba("#123456")
    assert steps["$t\\bar{t}$"].get_facecolor() == to_rgba("tab:orange")
    (signal_label,) = [label for label in steps if label.startswith("ggH signal")]
    scale = float(signal_label.split("× ")[1]) if "×" in signal_label else 1.0
    np.testing.assert_allclose(
        steps[signal_label].get_data().values, scale * scores.processes["ggH"].histogram.sumw
    )
    assert "score > 0.7" in _legend(ax)
    assert "138 $\\mathrm{fb^{-1}}$ (13 TeV)" in _texts(fig)  # expected events: luminosity


def test_score_plot_without_configured_processes_stacks_by_yield(scores):
    fig = plot_score_distribution(scores, STYLE, log=True)
    ax = fig.axes[0]
    steps = _steps(ax)
    bottom = next(p for p in steps.values() if np.all(p.get_data().baseline == 0))
    yields = {n: p.histogram.total for n, p in scores.processes.items() if p.label == 0}
    assert bottom.get_label() == min(yields, key=yields.get)  # smallest at the bottom
    assert ax.get_yscale() == "log"


def test_style_from_config_reads_plotting_processes_and_labels():
    data = {
        "samples": {
            "sig": {"label": "signal", "files": "s.root"},
            "bkg": {"label": "background", "files": "b.root"},
        },
        "features": [{"name": "x", "expr": "x", "label": "$x$ [GeV]", "log": True}],
        "training": {},
        "luminosity": 59.8,
        "plotting": {"label": "Private Work", "energy": 13.6},
        "processes": {"bkg": {"label": "Background B"}},
    }
    style = style_from_config(config_from_dict(data))
    assert (style.experiment, style.label, style.data_label) == (None, "Private Work", None)
    assert (style.luminosity_fb, style.energy_tev) == (59.8, 13.6)
    assert style.process_label("bkg") == "Background B" and style.process_label("sig") == "sig"
    assert style.process_colour("bkg", 0) == "C1"  # its place among the config's processes
    assert style.feature_label("x") == "$x$ [GeV]" and style.feature_log == {"x": True}


def test_unknown_experiment_lists_the_valid_ones():
    with pytest.raises(ConfigError, match=r"valid: CMS, ATLAS, LHCb, ALICE.*Did you mean 'CMS'"):
        PlotStyle(experiment="CMX")


def test_draw_all_needs_the_evaluation_files(tmp_path):
    with pytest.raises(DataError, match=r"curves\.json' does not exist; run the evaluate rule"):
        draw_all(tmp_path, tmp_path / "plots", STYLE)


def test_old_or_foreign_plot_data_is_refused_with_a_clear_error(evaluation_dir, tmp_path):
    import json

    content = json.loads((evaluation_dir / "curves.json").read_text())
    old = {k: v for k, v in content.items() if k != "format"} | {"version": 1}
    (tmp_path / "curves.json").write_text(json.dumps(old))
    with pytest.raises(DataError, match=r"has no 'format' field.*rerun the evaluate rule"):
        RocCurves.read(tmp_path / "curves.json")
    (tmp_path / "curves.json").write_text(json.dumps(content | {"format": "hepml.roc_curves/9"}))
    with pytest.raises(DataError, match=r"is hepml\.roc_curves/9, but this hepml reads .*/2"):
        RocCurves.read(tmp_path / "curves.json")
    with pytest.raises(DataError, match=r"holds 'hepml\.roc_curves/2', not hepml\.score_histo"):
        ScoreHistograms.read(evaluation_dir / "curves.json")
    broken = content | {"classifiers": {"xgboost": {"auc": 0.5}}}
    (tmp_path / "curves.json").write_text(json.dumps(broken))
    with pytest.raises(DataError, match=r"malformed hepml\.roc_curves/2 data"):
        RocCurves.read(tmp_path / "curves.json")


def test_plot_data_survive_their_json_form(evaluation_dir, curves):
    again = RocCurves.from_json(curves.to_json())
    assert again == curves
    np.testing.assert_array_equal(
        again["fisher"].folds[2].thresholds[1:], curves["fisher"].folds[2].thresholds[1:]
    )

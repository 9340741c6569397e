"""hepml.plots.inputs and .flow: input-variable shapes, correlation matrices and data/MC plots,
checked on what they draw (bin contents, tick labels, texts)."""

from __future__ import annotations

import matplotlib.patches
import matplotlib.pyplot as plt
import matplotlib.text
import numpy as np
import pytest
from conftest import ROOT
from matplotlib.colors import to_rgba
from model_helpers import _events

from hepml.config import ProcessDisplay
from hepml.evaluate.data_mc import data_mc_histograms
from hepml.evaluate.inputs import correlation_matrices, input_variable_histograms
from hepml.exceptions import DataError
from hepml.plotdata.inputs import Correlations, DataMC, DataMCVariable, InputVariables
from hepml.plots.flow import edge_text, flow_labels
from hepml.plots.inputs import (
    draw_data_mc,
    draw_inputs,
    plot_correlation,
    plot_data_mc,
    plot_input_variable,
    spans_decades,
)
from hepml.plots.style import PlotStyle

STYLE = PlotStyle(luminosity_fb=140.0)
FEATURES = ["x", "n"]


@pytest.fixture(scope="module")
def evaluation_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    n = 3000
    label = rng.integers(0, 2, n)
    X = np.column_stack([rng.normal(label, 1), rng.integers(0, 4, n).astype(float)])
    X[rng.random(n) < 0.1, 0] = np.nan
    weight = rng.uniform(0.5, 1.5, n)
    input_variable_histograms(X, weight, label, FEATURES).write(directory / "input_variables.json")
    correlation_matrices(X, weight, label, FEATURES).write(directory / "correlations.json")
    mc = {
        "dy": _events(4000, 1, weight=0.5),
        "ttbar": _events(1000, 2, weight=0.3, shift=0.5),
        "vbf_h": _events(500, 3, label=1, weight=0.02, shift=1.0),
    }
    data_mc_histograms(mc, _events(2500, 4), FEATURES, bins=15, blind_above=0.6).write(
        directory / "data_mc.json"
    )
    return directory


def _steps(ax) -> dict[str, matplotlib.patches.StepPatch]:
    return {p.get_label(): p for p in ax.patches if isinstance(p, matplotlib.patches.StepPatch)}


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(matplotlib.text.Text) if t.get_text()]


def test_input_variable_draws_unit_shapes_with_labelled_flow_bins(evaluation_dir):
    data = InputVariables.read(evaluation_dir / "input_variables.json").features["x"]
    style = PlotStyle(feature_labels={"x": "$x$ [GeV]"})
    fig = plot_input_variable("x", data, style, log_y=False)
    ax = fig.axes[0]
    signal = data.classes["signal"]
    drawn = _steps(ax)["Signal"].get_data()
    # one extra bin at each end: the underflow and the overflow, each of a neighbour's width
    edges = data.edges
    np.testing.assert_allclose(drawn.edges[1:-1], edges)
    assert drawn.edges[0] == pytest.approx(2 * edges[0] - edges[1])
    np.testing.assert_allclose(drawn.values, signal.sumw / signal.sumw.sum())
    assert drawn.values.sum() == pytest.approx(1.0)  # every non-NaN event, flow included
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks[0] == f"<{edge_text(edges[0])}" and ticks[-1] == f">{edge_text(edges[-1])}"
    title = ax.get_legend().get_title().get_text()
    assert f"{100 * signal.nan_events / signal.events:.3g}% of signal" in title
    assert ax.get_xlabel() == "$x$ [GeV]"  # from the style (the config), not the data file
    assert not any("fb" in t for t in _texts(fig))  # unit-area shapes: no luminosity


def test_flow_labels_are_rounded_and_integers_read_as_counts():
    assert flow_labels(np.array([12.424, 100.0, 5872.714])) == ("<12.42", ">5873")
    assert flow_labels(np.array([-0.5, 0.5, 1.5, 2.5])) == ("≤-1", "≥3")
    assert edge_text(-0.0) == "0" and edge_text(2500.0) == "2500"


def test_integer_feature_without_flow_shows_only_its_values(evaluation_dir):
    data = InputVariables.read(evaluation_dir / "input_variables.json").features["n"]
    fig = plot_input_variable("n", data, STYLE)
    ax = fig.axes[0]
    drawn = _steps(ax)["Background"].get_data()
    np.testing.assert_allclose(drawn.edges, [-0.5, 0.5, 1.5, 2.5, 3.5])  # no empty flow bins
    assert not any(t.get_text().startswith(("<", ">", "≤", "≥")) for t in ax.get_xticklabels())


def test_log_y_when_the_shapes_span_decades():
    rng = np.random.default_rng(3)
    n = 20000
    label = rng.integers(0, 2, n)
    steep = rng.exponential(np.where(label == 1, 400.0, 30.0))
    variables = input_variable_histograms(steep[:, None], np.ones(n), label, ["m"])
    data = variables.features["m"]
    assert plot_input_variable("m", data, STYLE).axes[0].get_yscale() == "log"
    assert plot_input_variable("m", data, STYLE, log_y=False).axes[0].get_yscale() == "linear"
    configured = PlotStyle(feature_log={"m": False})
    assert plot_input_variable("m", data, configured).axes[0].get_yscale() == "linear"
    assert not spans_decades(np.array([0.1, 0.2, 0.05])) and spans_decades(np.array([1, 1e-4]))


def test_correlation_cells_are_readable_per_cent(evaluation_dir):
    correlations = Correlations.read(evaluation_dir / "correlations.json")
    fig = plot_correlation(correlations, "signal", STYLE)
    ax = fig.axes[0]
    cells = list(ax.texts)
    assert [t.get_text() for t in cells].count("100") == 2  # the diagonal
    assert all(t.get_fontsize() >= 11 for t in cells)
    assert {t.get_color() for t in cells if t.get_text() == "100"} == {"white"}  # dark cells
    np.testing.assert_allclose(np.diag(ax.get_images()[0].get_array()), 100.0)
    many = Correlations(tuple(f"f{i}" for i in range(13)), {"signal": np.eye(13)})
    texts = plot_correlation(many, "signal", STYLE).axes[0].texts
    assert min(t.get_fontsize() for t in texts) >= 14  # 13 features: still large


def test_data_mc_hides_blinded_data_and_has_a_ratio_panel(evaluation_dir):
    content = DataMC.read(evaluation_dir / "data_mc.json")
    fig = plot_data_mc(content.score, STYLE, log=True, blind_above=content.blind_above)
    main, ratio = fig.axes
    assert main.get_yscale() == "log"
    assert ratio.get_ylabel() == "Data / MC"
    (points,) = [c for c in main.containers if hasattr(c, "lines") and c.lines[0] is not None]
    x = points.lines[0].get_xdata()
    assert len(x) > 0 and max(x) < 0.6  # no data point in the blinded region
    labels = [t.get_text() for t in main.get_legend().get_texts()]
    assert "Blinded" in labels and "Data" in labels
    assert "140 $\\mathrm{fb^{-1}}$ (13 TeV)" in _texts(fig)  # expected events: luminosity


def test_data_mc_names_colours_and_stacks_processes_as_configured(evaluation_dir):
    content = DataMC.read(evaluation_dir / "data_mc.json")
    processes = {
        "dy": ProcessDisplay("dy", "Drell-Yan", "#5790fc", 1),
        "ttbar": ProcessDisplay("ttbar", "$t\\bar{t}$", "#f89c20", 2),
        "vbf_h": ProcessDisplay("vbf_h", "VBF H", "#e42536", None),
    }
    style = PlotStyle(processes=processes, feature_labels={"x": "$x$"}, data_label="Preliminary")
    var = content.variables["x"]
    fig = plot_data_mc(var, style, xlabel=style.feature_label("x"))
    main, lower = fig.axes
    steps = _steps(main)
    dy = steps["Drell-Yan"].get_data()
    folded = var.processes["dy"].histogram.sumw
    expected = folded[1:-1].copy()
    expected[0] += folded[0]
    expected[-1] += folded[-1]
    np.testing.assert_allclose(dy.values, expected)  # at the bottom: order 1, flow folded in
    np.testing.assert_allclose(steps["$t\\bar{t}$"].get_data().baseline, dy.values)
    assert steps["VBF H"].get_facecolor() == to_rgba("#e42536")
    assert lower.get_xlabel() == "$x$"
    assert "Preliminary" in _texts(fig)


def test_no_experiment_and_no_data_label_unless_configured(evaluation_dir):
    content = DataMC.read(evaluation_dir / "data_mc.json")
    texts = _texts(plot_data_mc(content.score, STYLE))
    assert not any(t in ("CMS", "Preliminary", "Simulation") for t in texts)


def test_draw_inputs_and_data_mc_write_every_file(evaluation_dir, tmp_path):
    written = draw_inputs(evaluation_dir, tmp_path, STYLE)
    written += draw_data_mc(evaluation_dir, tmp_path, STYLE)
    names = sorted(str(p.relative_to(tmp_path)) for p in written)
    expected = [f"inputs/{f}.{e}" for f in FEATURES for e in ("pdf", "png")]
    expected += [f"correlation_{c}.{e}" for c in ("signal", "background") for e in ("pdf", "png")]
    expected += [f"data_mc/{f}.{e}" for f in FEATURES for e in ("pdf", "png")]
    expected += ["data_mc_score.pdf", "data_mc_score.png"]
    assert names == sorted(expected)
    assert all(p.stat().st_size > 1000 for p in written)
    assert plt.get_fignums() == []


def test_missing_files_name_the_rule(tmp_path):
    with pytest.raises(DataError, match=r"input_variables\.json' does not exist.*inputs rule"):
        draw_inputs(tmp_path, tmp_path, STYLE)
    with pytest.raises(DataError, match=r"data_mc\.json' does not exist.*data_mc rule"):
        draw_data_mc(tmp_path, tmp_path, STYLE)


def test_data_mc_skips_the_ratio_where_the_signed_mc_is_not_positive():
    from hepml.plotdata.histograms import FlowHistogram
    from hepml.plotdata.inputs import ProcessFlowHistogram

    var = DataMCVariable(
        edges=np.array([0.0, 1.0, 2.0, 3.0]),
        processes={
            "dy": ProcessFlowHistogram(
                0, FlowHistogram([0.0, 5.0, -0.5, 4.0, 0.0], [0, 5, 1, 4, 0])
            )
        },
        data=FlowHistogram([0.0, 6.0, 1.0, 3.0, 0.0], [0.0, 6, 1, 3, 0]),
        region="all events",
    )
    fig = plot_data_mc(var, STYLE)
    _, ratio = fig.axes
    (points,) = ratio.containers
    np.testing.assert_allclose(points.lines[0].get_ydata(), [6 / 5, 3 / 4])


def test_cli_names_the_missing_rule(tmp_path, capsys):
    from hepml.cli.app import main

    config = ROOT / "config" / "config.yaml"
    status = main(
        ["plot-data-mc", "-c", str(config), "--evaluation-dir", str(tmp_path), "--output-dir", "x"]
    )
    assert status == 2
    assert "run the data_mc rule first" in capsys.readouterr().err

"""hepml.plots.inputs: input-variable shapes, correlation matrices and data/MC plots."""

from __future__ import annotations

import json

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest
from conftest import ROOT
from model_helpers import _events

from hepml.atomic import write_json
from hepml.evaluate.data_mc import data_mc_histograms
from hepml.evaluate.inputs import correlation_matrices, input_variable_histograms
from hepml.exceptions import DataError
from hepml.plots.inputs import (
    draw_data_mc,
    draw_inputs,
    plot_correlation,
    plot_data_mc,
    plot_input_variable,
)
from hepml.plots.style import PlotStyle

STYLE = PlotStyle(luminosity_fb=140.0)
FEATURES = ["x", "n"]


def _pixels(path):
    return matplotlib.image.imread(path)[..., :3]


@pytest.fixture(scope="module")
def evaluation_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    n = 3000
    label = rng.integers(0, 2, n)
    X = np.column_stack([rng.normal(label, 1), rng.integers(0, 4, n).astype(float)])
    X[rng.random(n) < 0.1, 0] = np.nan
    weight = rng.uniform(0.5, 1.5, n)
    write_json(
        directory / "input_variables.json", input_variable_histograms(X, weight, label, FEATURES)
    )
    write_json(directory / "correlations.json", correlation_matrices(X, weight, label, FEATURES))
    mc = {
        "dy": _events(4000, 1, weight=0.5),
        "ttbar": _events(1000, 2, weight=0.3, shift=0.5),
        "vbf_h": _events(500, 3, label=1, weight=0.02, shift=1.0),
    }
    write_json(
        directory / "data_mc.json",
        data_mc_histograms(mc, _events(2500, 4), FEATURES, bins=15, blind_above=0.6),
    )
    return directory


def test_input_variable_shows_flow_bins_and_the_nan_fraction(evaluation_dir):
    data = json.loads((evaluation_dir / "input_variables.json").read_text())["features"]["x"]
    fig = plot_input_variable(data, STYLE)
    ax = fig.axes[0]
    title = ax.get_legend().get_title().get_text()
    signal = data["classes"]["signal"]
    assert f"{100 * signal['nan_events'] / signal['events']:.3g}% of signal" in title
    edges = data["edges"]
    low, high = ax.get_xlim()
    assert low < edges[0] and high > edges[-1]  # room for the under- and overflow bins
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert any(t.startswith("<") for t in ticks) and any(t.startswith(">") for t in ticks)


def test_correlation_matrix_cells_are_per_cent(evaluation_dir):
    data = json.loads((evaluation_dir / "correlations.json").read_text())
    fig = plot_correlation(data["signal"], data["features"], STYLE, title="Signal")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts.count("100") == 2  # the diagonal
    image = fig.axes[0].get_images()[0].get_array()
    np.testing.assert_allclose(np.diag(image), 100.0)


def test_data_mc_hides_blinded_data_and_has_a_ratio_panel(evaluation_dir):
    content = json.loads((evaluation_dir / "data_mc.json").read_text())
    fig = plot_data_mc(content["score"], STYLE, log=True, blind_above=content["blind_above"])
    main, ratio = fig.axes
    assert main.get_yscale() == "log"
    assert ratio.get_ylabel() == "Data / MC"
    (points,) = [c for c in main.containers if hasattr(c, "lines") and c.lines[0] is not None]
    x = points.lines[0].get_xdata()
    assert len(x) > 0 and max(x) < 0.6  # no data point in the blinded region
    labels = [t.get_text() for t in main.get_legend().get_texts()]
    assert "Blinded" in labels and "Data" in labels


def test_draw_inputs_and_data_mc_write_non_blank_files(evaluation_dir, tmp_path):
    written = draw_inputs(evaluation_dir, tmp_path, STYLE)
    written += draw_data_mc(evaluation_dir, tmp_path, STYLE)
    names = sorted(str(p.relative_to(tmp_path)) for p in written)
    expected = [f"inputs/{f}.{e}" for f in FEATURES for e in ("pdf", "png")]
    expected += [f"correlation_{c}.{e}" for c in ("signal", "background") for e in ("pdf", "png")]
    expected += [f"data_mc/{f}.{e}" for f in FEATURES for e in ("pdf", "png")]
    expected += ["data_mc_score.pdf", "data_mc_score.png"]
    assert names == sorted(expected)
    assert plt.get_fignums() == []
    for path in written:
        if path.suffix == ".png":
            grey = _pixels(path).mean(axis=-1)
            assert grey.std() > 0.1
            assert 0.02 < (grey < 0.95).mean() < 0.9  # neither blank nor a solid block
    # style guards: signal blue line and red background fill; red and blue correlation cells
    rgb = _pixels(tmp_path / "inputs" / "x.png")
    assert (rgb[..., 2] > rgb[..., 0] + 0.2).mean() > 0.002
    assert (rgb[..., 0] > rgb[..., 2] + 0.1).mean() > 0.01
    rgb = _pixels(tmp_path / "correlation_signal.png")
    assert (rgb[..., 0] > rgb[..., 2] + 0.3).mean() > 0.05  # the red diagonal
    rgb = _pixels(tmp_path / "data_mc_score.png")
    saturation = rgb.max(axis=-1) - rgb.min(axis=-1)
    assert (saturation > 0.3).mean() > 0.05  # the filled stack


def test_missing_files_name_the_rule(tmp_path):
    with pytest.raises(DataError, match=r"input_variables\.json.*inputs rule"):
        draw_inputs(tmp_path, tmp_path, STYLE)
    with pytest.raises(DataError, match=r"data_mc\.json.*data_mc rule"):
        draw_data_mc(tmp_path, tmp_path, STYLE)


def test_data_mc_skips_the_ratio_where_the_signed_mc_is_not_positive():
    edges = [0.0, 1.0, 2.0, 3.0]
    flow = [0.0, 0.0]
    var_data = {
        "label": "x",
        "edges": edges,
        "processes": {
            "dy": {"label": 0, "sumw": [0.0, 5.0, -0.5, 4.0, 0.0], "sumw2": [0.0, 5, 1, 4, 0]},
        },
        "data": {"sumw": [flow[0], 6.0, 1.0, 3.0, flow[1]], "sumw2": [0.0, 6, 1, 3, 0]},
    }
    fig = plot_data_mc(var_data, STYLE)
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

"""hepml.plots.templates: the template figure's content, drawn from the data given."""

from __future__ import annotations

import matplotlib.colors
import matplotlib.patches
import numpy as np
import pytest
from matplotlib.figure import Figure
from stats_helpers import three_bin_templates

from hepml.config import ProcessDisplay
from hepml.exceptions import DataError
from hepml.plots.style import PlotStyle
from hepml.plots.templates import plot_templates


def _legend_labels(ax) -> list[str]:
    return [text.get_text() for text in ax.get_legend().get_texts()]


def test_prefit_figure_stacks_backgrounds_and_draws_each_variation():
    t = three_bin_templates()
    fig = plot_templates(t)
    assert isinstance(fig, Figure)
    main, lower = fig.axes[:2]
    labels = _legend_labels(main)
    assert {"ttbar", "wjets", "sig", "MC stat. unc."} <= set(labels)
    assert "Pre-fit background" not in labels
    assert _legend_labels(lower) == ["jes", "pu"]
    # one up and one down line per systematic: the ratio to the nominal total background
    ratios = [p for p in lower.patches if isinstance(p, matplotlib.patches.StepPatch)]
    assert len(ratios) == 4
    jes_up = t.total("background", "jesUp")[0] / t.total("background")[0]
    assert any(np.allclose(p.get_data().values, jes_up) for p in ratios)
    assert main.get_yscale() == "log"


def test_fitted_yields_replace_the_stack_and_keep_the_prefit_line():
    t = three_bin_templates()
    fitted = {p: 1.1 * t.sumw[p]["nominal"] for p in t.simulated_names}
    fig = plot_templates(t, fitted=fitted, systematics=["jes"], experiment=None, log_y=False)
    main, lower = fig.axes[:2]
    assert "Pre-fit background" in _legend_labels(main)
    assert "sig (fitted)" in _legend_labels(main)
    signal_lines = [
        p
        for p in main.patches
        if isinstance(p, matplotlib.patches.StepPatch) and p.get_label() == "sig (fitted)"
    ]
    np.testing.assert_allclose(signal_lines[0].get_data().values, 1.1 * t.sumw["sig"]["nominal"])
    assert _legend_labels(lower) == ["jes"]


def test_bad_requests_are_named():
    t = three_bin_templates()
    with pytest.raises(
        DataError, match=r"no systematic 'jse' in channel 'SR'\. Did you mean 'jes'"
    ):
        plot_templates(t, systematics=["jse"])
    with pytest.raises(DataError, match=r"fitted yields lack process 'wjets'"):
        plot_templates(t, fitted={"sig": [1, 2, 3], "ttbar": [1, 2, 3]})


def test_the_processes_section_names_colours_and_stacks_the_templates():
    """With the run's style, the fit's stack follows the config's `processes` section."""
    t = three_bin_templates()
    processes = {
        "wjets": ProcessDisplay("wjets", "W+jets", "#5790fc", 1),
        "ttbar": ProcessDisplay("ttbar", "$t\\bar{t}$", "#f89c20", 2),
        "sig": ProcessDisplay("sig", "Signal", None, None),
    }
    fig = plot_templates(t, display=PlotStyle(processes=processes))
    main = fig.axes[0]
    labels = _legend_labels(main)
    assert {"W+jets", "$t\\bar{t}$", "Signal"} <= set(labels)
    assert "wjets" not in labels and "ttbar" not in labels
    fills = {p.get_label(): p for p in main.patches if isinstance(p, matplotlib.patches.StepPatch)}
    assert matplotlib.colors.to_hex(fills["W+jets"].get_facecolor()) == "#5790fc"
    # W+jets (order 1) at the bottom: its fill starts at 0, ttbar's on top of it
    np.testing.assert_allclose(fills["W+jets"].get_data().baseline, 0.0)
    np.testing.assert_allclose(fills["$t\\bar{t}$"].get_data().baseline, t.sumw["wjets"]["nominal"])

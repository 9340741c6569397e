"""hepml.plots.systematics: one variation against the nominal, and every figure of the fit."""

from __future__ import annotations

import matplotlib.patches
import numpy as np
import pytest
from stats_helpers import three_bin_templates

from hepml.exceptions import DataError
from hepml.plots.style import PlotStyle
from hepml.plots.systematics import draw_fit, plot_variation, variation_plot_names

STYLE = PlotStyle(experiment="CMS", luminosity_fb=140.0)


def _steps(ax) -> list[matplotlib.patches.StepPatch]:
    return [p for p in ax.patches if isinstance(p, matplotlib.patches.StepPatch)]


def test_variation_figure_draws_nominal_up_down_and_their_ratios():
    t = three_bin_templates()
    fig = plot_variation(t, "ttbar", "pu", STYLE)
    main, lower = fig.axes[:2]
    labels = [text.get_text() for text in main.get_legend().get_texts()]
    up = 100 * (t.sumw["ttbar"]["puUp"].sum() / t.sumw["ttbar"]["nominal"].sum() - 1)
    assert labels == [
        "ttbar nominal",
        "MC stat. unc.",
        f"pu up ({up:+.1f}%)",
        "pu down (-2.7%)",
    ]  # 53.5 / 55
    ratios = [p.get_data().values for p in _steps(lower) if p.get_label() != "_nolegend_"]
    expected = t.sumw["ttbar"]["puUp"] / t.sumw["ttbar"]["nominal"]
    assert any(np.allclose(r, expected) for r in ratios)
    down = t.sumw["ttbar"]["puDown"] / t.sumw["ttbar"]["nominal"]
    assert any(np.allclose(r, down) for r in ratios)
    assert main.get_yscale() == "log"
    assert lower.get_ylim()[0] > 0.5  # lines only: the ratio axis is not stretched down to 0


def test_bad_requests_are_named():
    t = three_bin_templates()
    with pytest.raises(DataError, match=r"no process 'tbar'.*Did you mean 'ttbar'"):
        plot_variation(t, "tbar", "pu", STYLE)
    with pytest.raises(DataError, match=r"systematic 'pu' does not affect 'wjets'"):
        plot_variation(t, "wjets", "pu", STYLE)


def test_draw_fit_writes_the_template_plot_and_one_per_process_and_variation(tmp_path):
    t = three_bin_templates()
    fitted = {p: t.sumw[p]["nominal"] for p in t.simulated_names}
    written = draw_fit(t, fitted, STYLE, tmp_path)
    names = ["fit_templates", *variation_plot_names(t)]
    assert variation_plot_names(t) == [
        "systematics/sig_jes",
        "systematics/ttbar_jes",
        "systematics/ttbar_pu",
        "systematics/wjets_jes",
    ]
    assert sorted(written) == sorted(tmp_path / f"{n}.{e}" for n in names for e in ("pdf", "png"))
    assert all(p.stat().st_size > 1000 for p in written)

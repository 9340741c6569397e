"""hepml.stats expected results against the Asimov formula, pyhf's own hypotest and
upper_limit on hand-written workspaces, and the XML read back by pyhf.readxml."""

from __future__ import annotations

import numpy as np
import pyhf
import pyhf.readxml
import pytest
from scipy import optimize, stats
from stats_helpers import full_model, hand_workspace, three_bin_templates

from hepml.evaluate.significance import asimov_significance
from hepml.exceptions import ConfigError, DataError, InputFileError
from hepml.stats.expected import (
    expected_limits,
    expected_results,
    expected_significance,
    fitted_yields,
)
from hepml.stats.model import FitModel
from hepml.stats.outputs import write_fit_inputs
from hepml.stats.results import (
    read_results,
    results_csv,
    results_latex,
    results_markdown,
    write_results,
)
from hepml.stats.templates import Templates
from hepml.stats.workspace import build_workspace, reduced_workspace


def _one_bin_spec(s: float, b: float) -> dict:
    roles = {"sig": "signal", "bkg": "background"}
    sumw = {"sig": {"nominal": [s]}, "bkg": {"nominal": [b]}}
    sumw2 = {"sig": {"nominal": [0.01 * s]}, "bkg": {"nominal": [0.01 * b]}}
    return build_workspace(FitModel(Templates("SR", [0.0, 1.0], roles, sumw, sumw2)))


@pytest.mark.parametrize(("s", "b"), [(5.0, 20.0), (3.0, 0.5), (40.0, 1000.0)])
def test_single_bin_without_systematics_equals_the_asimov_formula(s, b):
    z, p = expected_significance(reduced_workspace(_one_bin_spec(s, b)))
    assert z == pytest.approx(float(asimov_significance(s, b)), rel=1e-3)
    assert p == pytest.approx(stats.norm.sf(z), rel=1e-12)


def _pyhf_reference(spec):
    """Significance and expected limits by pyhf's own calls on the Asimov data."""
    pyhf.set_backend("numpy", "scipy")
    model = pyhf.Workspace(spec).model()
    pars = np.array(model.config.suggested_init(), dtype=float)
    pars[model.config.poi_index] = 1.0
    p0 = pyhf.infer.hypotest(0.0, model.expected_data(pars), model, test_stat="q0")
    pars[model.config.poi_index] = 0.0
    _, band = pyhf.infer.intervals.upper_limits.upper_limit(
        model.expected_data(pars), model, scan=None, rtol=1e-5
    )
    return float(stats.norm.isf(p0)), [float(v) for v in band]


def test_builder_and_hand_workspace_give_pyhfs_own_expected_results():
    built = build_workspace(full_model())
    hand = hand_workspace()
    z_ref, band_ref = _pyhf_reference(hand)
    for spec in (built, hand):
        (result,) = expected_results(spec, variants=["all_systematics"])
        assert result.significance == pytest.approx(z_ref, rel=1e-3)
        np.testing.assert_allclose(result.limit_band, band_ref, rtol=1e-3)
        if spec is built:
            full = result
    # the systematics cost sensitivity: stat only is the most sensitive
    (stat_only,) = expected_results(built, variants=["stat_only"])
    assert stat_only.significance > full.significance
    assert stat_only.median_limit < full.median_limit


def test_histfactory_xml_gives_the_same_expected_results(tmp_path):
    inputs = write_fit_inputs(tmp_path, full_model())
    pyhf.readxml.clear_filecache()
    parsed = pyhf.readxml.parse(inputs.combination_xml, tmp_path)
    from_json = expected_results(inputs.workspace_spec, variants=["mc_stat", "all_systematics"])
    from_xml = expected_results(parsed, variants=["mc_stat", "all_systematics"])
    for a, b in zip(from_json, from_xml, strict=True):
        assert a.significance == pytest.approx(b.significance, rel=1e-6)
        np.testing.assert_allclose(a.limit_band, b.limit_band, rtol=1e-5)


def _one_bin_limits_by_hand(s: float, b: float) -> list[float]:
    """Expected CLs limits of a counting experiment without systematics, by hand.

    On the Asimov data n = b: ``qtilde_mu = 2 (mu s - b ln(1 + mu s / b))``; the expected CLs
    at n sigma, ``Phi(-(n + sqrt(q))) / Phi(-n)`` (pyhf's asymptotics), falls to 5 %.
    """
    limits = []
    for n_sigma in (2, 1, 0, -1, -2):

        def excess(mu, n=n_sigma):
            q = 2 * (mu * s - b * np.log1p(mu * s / b))
            return stats.norm.cdf(-(n + np.sqrt(q))) / stats.norm.cdf(-n) - 0.05

        limits.append(optimize.brentq(excess, 1e-6, 1e5, rtol=1e-12))
    return limits


@pytest.mark.parametrize(("s", "b"), [(0.5, 100.0), (50.0, 10.0), (4.0, 30.0)])
def test_single_bin_limits_equal_the_counting_experiment_by_hand(s, b):
    # s = 0.5 on b = 100: the limits (about 40) lie far above the POI bound of 10
    band = expected_limits(reduced_workspace(_one_bin_spec(s, b)))
    np.testing.assert_allclose(band, _one_bin_limits_by_hand(s, b), rtol=2e-4)


def test_failures_name_the_bin_or_the_missing_signal():
    spec = _one_bin_spec(5.0, 20.0)
    empty = {
        **spec,
        "channels": [
            {
                "name": "SR",
                "samples": [
                    dict(spec["channels"][0]["samples"][0]),
                    {**spec["channels"][0]["samples"][1], "data": [0.0], "modifiers": []},
                ],
            }
        ],
    }
    with pytest.raises(DataError, match=r"bin 0 of channel 'SR' has an expected background of 0"):
        expected_significance(empty)
    no_signal = {
        **spec,
        "channels": [
            {
                "name": "SR",
                "samples": [
                    {
                        **spec["channels"][0]["samples"][0],
                        "data": [0.0],
                        "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                    },
                    spec["channels"][0]["samples"][1],
                ],
            }
        ],
    }
    with pytest.raises(DataError, match=r"Stat\. only\): the signal adds 0 events at mu = 1"):
        expected_results(no_signal)
    with pytest.raises(ConfigError, match=r"unknown variant 'stat' .*; valid: stat_only"):
        expected_results(spec, variants=["stat"])
    with pytest.raises(ConfigError, match=r"confidence level must be in \(0, 1\)"):
        expected_limits(spec, cl=95)


def test_pyhf_backend_is_restored():
    before = pyhf.get_backend()
    expected_significance(reduced_workspace(_one_bin_spec(5.0, 20.0)))
    assert pyhf.get_backend() == before


def test_fitted_yields_of_the_asimov_data_are_the_templates():
    fit = fitted_yields(build_workspace(full_model()), mu_asimov=1.0)
    assert fit.parameters["mu"] == pytest.approx([1.0], abs=1e-3)
    t = three_bin_templates()
    for process in t.simulated_names:
        np.testing.assert_allclose(fit.yields["SR"][process], t.sumw[process]["nominal"], rtol=1e-3)


def test_results_tables_and_json_round_trip(tmp_path):
    results = expected_results(_one_bin_spec(5.0, 20.0), variants=["stat_only", "mc_stat"])
    write_results(
        results,
        json_path=tmp_path / "r.json",
        csv_path=tmp_path / "r.csv",
        markdown_path=tmp_path / "r.md",
        latex_path=tmp_path / "r.tex",
        metadata={"edges": [0.0, 1.0]},
    )
    assert read_results(tmp_path / "r.json") == results
    csv_rows = [line.split(",") for line in results_csv(results).splitlines()]
    assert csv_rows[0][:3] == ["variant", "significance", "p_value"]
    assert float(csv_rows[1][1]) == results[0].significance
    assert float(csv_rows[2][6]) == results[1].median_limit
    markdown = results_markdown(results)
    assert f"| Stat. only | {results[0].significance:.3f} |" in markdown
    assert r"Stat. + MC stat. &" in results_latex(results)
    assert (tmp_path / "r.tex").read_text() == results_latex(results)


class _FakeProfile:
    """q(mu) = f(mu)^2 for a given f, cached like hepml.stats.expected._Profile."""

    def __init__(self, sqrt_q):
        self.sqrt_q = sqrt_q
        self.values = {0.0: 0.0, 1.0: sqrt_q(1.0) ** 2}

    def __call__(self, mu):
        self.values.setdefault(float(mu), self.sqrt_q(mu) ** 2)
        return self.values[float(mu)]


def test_limit_search_falls_back_to_a_bracket_and_names_a_limit_beyond_reach():
    from hepml.stats.expected import _limit

    # flat above mu = 0.5: the secant through two points of equal sqrt(q) has no step,
    # the bracket [0, 2/3] of the points fitted so far finishes
    def flat_top(mu):
        return min(6.0 * mu, 3.0)

    assert _limit(_FakeProfile(flat_top), 2.0, 1e-10) == pytest.approx(1 / 3, rel=1e-9)
    assert _limit(_FakeProfile(lambda mu: 10 * np.sqrt(mu)), 1.0, 1e-8) == pytest.approx(0.01)
    with pytest.raises(DataError, match=r"expected limit lies above mu = 10000"):
        _limit(_FakeProfile(lambda mu: 1e-6 * mu), 1.0, 1e-6)


def test_reading_results_of_another_format_names_the_file(tmp_path):
    path = tmp_path / "expected.json"
    path.write_text('{"format": "hepml-templates-1", "results": []}')
    with pytest.raises(
        InputFileError,
        match=r"expected\.json: not hepml expected results: "
        r"format is 'hepml-templates-1'",
    ):
        read_results(path)
    path.write_text('{"format": "hepml-expected-results-1", "results": [{"variant": "x"}]}')
    with pytest.raises(InputFileError, match=r"expected results lack the entry 'limit'"):
        read_results(path)

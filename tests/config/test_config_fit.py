"""The `systematics` and `fit` sections: built into FitSettings, every mistake one clear error."""

from __future__ import annotations

import copy

import pytest
from conftest import ROOT

from hepml.config import config_from_dict, load_config
from hepml.config.settings import stage_settings, training_hash
from hepml.exceptions import ConfigError

BASE = {
    "event_number": "event",
    "samples": {
        "sig": {"label": "signal", "files": "s.root", "weight": "genWeight"},
        "tt": {"label": "background", "files": "t.root", "cross_section": 3.0},
        "tt2": {"label": "background", "files": "t2.root", "process": "tt"},
        "dy": {"label": "background", "files": "d.root", "aliases": {"Jet_pt": "jet_pt_nom"}},
        "data": {"label": "data", "files": "x.root"},
    },
    "features": [{"name": "x", "expr": "x"}],
    "training": {},
    "systematics": {
        "variations": {
            "jes": {
                "samples": ["sig", "tt"],
                "up": {"branches": {"Jet_pt": "Jet_pt_jesUp"}},
                "down": {"branches": {"Jet_pt": "Jet_pt_jesDown"}},
            },
            "pu": {
                "up": {"weight": {"sig": "genWeight * puUp", "tt": "puUp"}},
                "down": {"weight": {"sig": "genWeight * puDown", "tt": "puDown"}},
            },
            "hdamp": {
                "up": {"files": {"tt": "tt_hdampUp_*.root"}},
                "down": {"files": {"tt": ["tt_hdampDown.root"]}, "tree": "alt"},
            },
        },
        "normalisation": {"xsec_tt": {"tt": 1.05}, "xsec_dy": {"dy": [0.9, 1.2]}},
    },
    "fit": {"binning": {"method": "flat_signal", "n_bins": 8}, "lumi_uncertainty": 0.02},
}


def _config(mutate=None):
    data = copy.deepcopy(BASE)
    if mutate is not None:
        mutate(data)
    return config_from_dict(data)


def _error(mutate) -> str:
    with pytest.raises(ConfigError) as info:
        _config(mutate)
    return str(info.value)


def test_sections_become_fit_settings_with_schema_defaults():
    fit = _config().fit
    assert fit.channel == "SR" and fit.poi_bounds == (0.0, 10.0) and fit.cl == 0.95
    assert fit.expected == ("stat_only", "all_systematics")
    assert fit.binning == {
        "method": "flat_signal",
        "n_bins": 8,
        "fine_bins": 100,
        "low": 0.0,
        "high": 1.0,
        "min_background": 1.0,
        "max_rel_stat_unc": 0.2,
    }
    assert fit.lumi_uncertainty == 0.02
    jes, pu, hdamp = fit.systematics
    # default affected samples: given, else the mappings' keys, else every MC sample
    assert jes.samples == ("sig", "tt") and pu.samples == ("sig", "tt")
    assert hdamp.samples == ("tt",)
    assert jes.up.branches == {"Jet_pt": "Jet_pt_jesUp"} and not jes.up.weight
    assert pu.down.weight == {"sig": "genWeight * puDown", "tt": "puDown"}
    assert hdamp.up.files == {"tt": ("tt_hdampUp_*.root",)} and hdamp.up.tree is None
    assert hdamp.down.reads_other_events and hdamp.down.tree == "alt"
    assert not jes.up.reads_other_events
    # a kappa is Combine's lnN: down 1/kappa; a pair is (down, up)
    assert fit.normalisation == {"xsec_tt": {"tt": (1 / 1.05, 1.05)}, "xsec_dy": {"dy": (0.9, 1.2)}}
    assert [s.name for s in fit.of_sample("tt")] == ["jes", "pu", "hdamp"]
    assert fit.of_sample("dy") == ()


def test_one_weight_for_every_sample_and_all_mc_by_default():
    def mutate(d):
        d["systematics"]["variations"] = {
            "pu": {"up": {"weight": "genWeight * up"}, "down": {"weight": "genWeight * down"}}
        }

    (pu,) = _config(mutate).fit.systematics
    assert pu.samples == ("sig", "tt", "tt2", "dy")  # not the data sample
    assert pu.up.weight == dict.fromkeys(pu.samples, "genWeight * up")


def test_no_fit_section_means_no_statistics_stage():
    def mutate(d):
        del d["fit"], d["systematics"]

    assert _config(mutate).fit is None
    assert "variations" not in stage_settings(_config(mutate))


def test_systematics_without_fit_are_refused():
    message = _error(lambda d: d.pop("fit"))
    assert "add a fit section (fit: {}" in message


@pytest.mark.parametrize(
    ("mutate", "fragments"),
    [
        (
            lambda d: d["systematics"]["variations"]["jes"].update(samples=["sgi"]),
            ["systematics.variations.jes.samples: 'sgi'", "Did you mean 'sig'?"],
        ),
        (
            lambda d: d["systematics"]["variations"]["jes"].update(samples=["data"]),
            ["'data' is not a signal or background sample"],
        ),
        (
            lambda d: d["systematics"]["variations"]["pu"]["up"]["weight"].pop("tt"),
            ["variations.pu.up.weight: no entry for sample 'tt'"],
        ),
        (
            lambda d: d["systematics"]["variations"]["jes"]["up"].update(
                weight={"sig": "w", "dy": "w"}
            ),
            ["jes.up.weight: sample 'dy' is not among the samples the variation affects"],
        ),
        (
            lambda d: d["systematics"]["variations"]["jes"]["up"].update(
                branches={"event": "other_event"}
            ),
            ["replaces the event-number branch 'event'", "keep the nominal's event numbers"],
        ),
        (
            lambda d: d["systematics"]["variations"]["jes"].update(samples=["dy"]),
            ["replaces 'Jet_pt', which sample 'dy' defines as an alias", "jet_pt_nom"],
        ),
        (
            lambda d: d["systematics"]["normalisation"].update(lumi={"tt": 1.1}),
            ["the name 'lumi' is a parameter of the fit model"],
        ),
        (
            lambda d: d["systematics"]["normalisation"].update(jes={"tt": 1.1}),
            ["'jes' is both a variation and a normalisation uncertainty"],
        ),
        (
            lambda d: d["systematics"]["normalisation"].update(x={"sgi": 1.1}),
            ["normalisation.x: 'sgi' is not a process", "Did you mean 'sig'?"],
        ),
        (
            lambda d: d["fit"].update(poi_bounds=[1, 5]),
            ["fit.poi_bounds = [1, 5]: needs 0 <= low < 1 < high"],
        ),
        (
            lambda d: d["fit"]["binning"].update(low=0.5, high=0.5),
            ["fit.binning: low (0.5) must be below high (0.5)"],
        ),
        (
            lambda d: d["systematics"]["variations"]["jes"].pop("down"),
            ["systematics.variations.jes", "'down' is a required property"],
        ),
        (
            lambda d: d["systematics"]["variations"]["jes"].update(down={}),
            ["systematics.variations.jes.down"],
        ),
        (
            lambda d: d["fit"].update(expected=["stat_only", "all_systematic"]),
            ["fit.expected[1] is 'all_systematic'", "Did you mean 'all_systematics'?"],
        ),
    ],
)
def test_mistakes_are_one_error_naming_the_key(mutate, fragments):
    message = _error(mutate)
    for fragment in fragments:
        assert fragment in message


def test_the_fit_never_changes_the_models_or_the_export():
    """Adding or changing the fit sections retrains nothing and re-exports nothing."""

    def without(d):
        del d["fit"], d["systematics"]

    bare, full = _config(without), _config()
    assert training_hash(bare) == training_hash(full)
    assert stage_settings(bare)["export"] == stage_settings(full)["export"]
    assert stage_settings(bare)["ingest"] == stage_settings(full)["ingest"]


def test_each_sample_reruns_only_for_its_own_variations():
    def other_weight(d):
        d["systematics"]["variations"]["pu"]["up"]["weight"]["tt"] = "puUp * 2"

    before, after = stage_settings(_config()), stage_settings(_config(other_weight))
    assert before["variations"]["sig"] == after["variations"]["sig"]
    assert before["variations"]["tt"] != after["variations"]["tt"]
    assert before["fit_templates"] == after["fit_templates"]  # the tables are its inputs


def test_shipped_demo_config_has_each_kind_of_uncertainty():
    fit = load_config(ROOT / "config" / "config.yaml").fit
    kinds = {("branches" if s.up.branches else "weight") for s in fit.systematics}
    assert kinds == {"branches", "weight"}
    assert fit.normalisation and fit.lumi_uncertainty
    assert fit.binning["method"] in ("merge", "flat_signal")

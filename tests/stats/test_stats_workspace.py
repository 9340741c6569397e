"""hepml.stats model and pyhf workspace: against a workspace written by hand, and bad input."""

from __future__ import annotations

import copy

import numpy as np
import pyhf
import pytest
from stats_helpers import full_model, hand_workspace, three_bin_templates

from hepml.exceptions import ConfigError, DataError, InputFileError
from hepml.stats.model import FitModel, NormSystematic
from hepml.stats.templates import Templates
from hepml.stats.workspace import (
    build_workspace,
    read_workspace,
    reduced_workspace,
    validate_workspace,
    write_workspace,
)


def _expected_data(spec, named_values):
    model = pyhf.Workspace(spec).model()
    pars = np.array(model.config.suggested_init(), dtype=float)
    for name, value in named_values.items():
        pars[model.config.par_slice(name)] = value
    return model.expected_data(pars)


@pytest.mark.parametrize(
    "point",
    [
        {},
        {"mu": 1.7, "jes": 0.6, "pu": -1.3, "xsec_ttbar": 0.4, "lumi": 1.01},
        {"mu": 0.2, "jes": -1.8, "staterror_SR": [1.05, 0.97, 1.1]},
    ],
)
def test_built_workspace_is_the_hand_written_one(point):
    built = build_workspace(full_model())
    hand = hand_workspace()
    assert [s["name"] for s in built["channels"][0]["samples"]] == ["sig", "ttbar", "wjets"]
    np.testing.assert_allclose(built["observations"][0]["data"], hand["observations"][0]["data"])
    np.testing.assert_allclose(
        _expected_data(built, point), _expected_data(hand, point), rtol=1e-12
    )


def test_schema_violation_names_the_entry():
    spec = build_workspace(full_model())
    spec["channels"][0]["samples"][1]["modifiers"][0]["type"] = "normsis"
    with pytest.raises(
        DataError,
        match=r"fails pyhf's schema at channels\[0\]\.samples\[1\]"
        r"\.modifiers\[0\]: .*'normsis'",
    ):
        validate_workspace(spec)
    spec = build_workspace(full_model())
    with pytest.raises(DataError, match=r"schema at measurements: \[\] should be non-empty"):
        validate_workspace({**spec, "measurements": []})
    with pytest.raises(DataError, match=r"observations of channel 'SR' must have 3 bins; found"):
        validate_workspace({**spec, "observations": [{"name": "CR", "data": [1.0]}]})
    spec["measurements"][0]["config"]["poi"] = "mu2"
    with pytest.raises(DataError, match=r"not a valid model: .*'mu2'"):
        validate_workspace(spec)


def test_workspace_file_round_trip_and_bad_file(tmp_path):
    spec = build_workspace(full_model())
    write_workspace(tmp_path / "ws.json", spec)
    assert read_workspace(tmp_path / "ws.json") == spec
    (tmp_path / "bad.json").write_text('{"channels": []}')
    with pytest.raises(InputFileError, match=r"bad\.json: the pyhf workspace fails pyhf's schema"):
        read_workspace(tmp_path / "bad.json")


def test_reduced_workspace_keeps_only_the_poi_or_the_chosen_modifiers():
    spec = build_workspace(full_model())
    stat_only = reduced_workspace(spec)
    modifiers = [m for s in stat_only["channels"][0]["samples"] for m in s["modifiers"]]
    assert modifiers == [{"name": "mu", "type": "normfactor", "data": None}]
    assert [p["name"] for p in stat_only["measurements"][0]["config"]["parameters"]] == ["mu"]
    mc_stat = reduced_workspace(spec, keep=["staterror"])
    model = pyhf.Workspace(mc_stat).model()
    assert model.config.par_order == ["mu", "staterror_SR"]
    with pytest.raises(DataError, match=r"unknown modifier type 'shapesys'"):
        reduced_workspace(spec, keep=["shapesys"])


def _with_bin(templates: Templates, process: str, variation: str, index: int, value: float):
    sumw = copy.deepcopy({p: dict(t) for p, t in templates.sumw.items()})
    sumw[process][variation] = np.array(sumw[process][variation], dtype=float)
    sumw[process][variation][index] = value
    return Templates(templates.channel, templates.edges, templates.roles, sumw, templates.sumw2)


def test_unfittable_templates_are_refused_naming_the_bin_and_process():
    t = three_bin_templates()
    empty = _with_bin(_with_bin(t, "ttbar", "nominal", 2, 0.0), "wjets", "nominal", 2, 0.0)
    with pytest.raises(
        DataError,
        match=r"bin 2 \[0.8, 1\] of channel 'SR' has a total "
        r"background of 0; the fit needs every bin positive",
    ):
        FitModel(empty)
    with pytest.raises(DataError, match=r"process 'wjets' \(jesUp\) has -0.5 events in bin 1"):
        FitModel(_with_bin(t, "wjets", "jesUp", 1, -0.5))
    no_signal = Templates(
        "SR",
        t.edges,
        t.roles,
        {**t.sumw, "sig": {"nominal": np.zeros(3)}},
        {**t.sumw2, "sig": {"nominal": np.zeros(3)}},
    )
    with pytest.raises(DataError, match=r"process 'sig' \(nominal\) has no expected events"):
        FitModel(no_signal)
    only_background = Templates(
        "SR",
        t.edges,
        {"ttbar": "background"},
        {"ttbar": t.sumw["ttbar"]},
        {"ttbar": t.sumw2["ttbar"]},
    )
    with pytest.raises(DataError, match=r"no channel has a process with the role 'signal'"):
        FitModel(only_background)


def test_model_settings_are_checked():
    t = three_bin_templates()
    with pytest.raises(ConfigError, match=r"unknown process 'ttbarr'\. Did you mean 'ttbar'"):
        FitModel(t, [NormSystematic("xsec", {"ttbarr": (0.9, 1.1)})])
    with pytest.raises(ConfigError, match=r"'jes' repeats a systematic or parameter name"):
        FitModel(t, [NormSystematic("jes", {"ttbar": (0.9, 1.1)})])
    with pytest.raises(ConfigError, match=r"needs positive factors"):
        NormSystematic("xsec", {"ttbar": (0.0, 1.1)})
    with pytest.raises(ConfigError, match=r"poi_bounds must satisfy 0 <= low < 1 < high"):
        FitModel(t, poi_bounds=(0.0, 0.5))
    with pytest.raises(ConfigError, match=r"lumi_uncertainty is relative"):
        FitModel(t, lumi_uncertainty=2.0)

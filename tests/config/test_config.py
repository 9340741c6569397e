"""Config loading: schema validation, defaults, readable errors naming the key at fault."""

from __future__ import annotations

import copy
import math

import pytest
import yaml
from conftest import ROOT

from hepml.config import config_from_dict, load_config
from hepml.config.model import PB_PER_INVERSE_FB
from hepml.exceptions import ConfigError

BASE = {
    "samples": {
        "sig": {"label": "signal", "files": "s.root"},
        "bkg": {"label": "background", "files": ["b.root"], "cross_section": 3.0},
    },
    "features": [{"name": "x", "expr": "x"}],
    "training": {},
}


def _error(mutate) -> str:
    data = copy.deepcopy(BASE)
    mutate(data)
    with pytest.raises(ConfigError) as info:
        config_from_dict(data)
    return str(info.value)


def test_shipped_demo_config_is_valid():
    cfg = load_config(ROOT / "config" / "config.yaml")
    assert cfg.signal_samples == ["vbf_h"]
    assert set(cfg.background_samples) == {"dy", "ttbar"}
    assert cfg.training.folds == 5
    assert cfg.demo["events"] == 200_000


def test_demo_config_matches_demo_generator():
    from hepml.demo.files import DEMO_PROCESSES, DEMO_TREE

    cfg = load_config(ROOT / "config" / "config.yaml")
    assert set(cfg.samples) == {p.name for p in DEMO_PROCESSES}
    for process in DEMO_PROCESSES:
        sample = cfg.samples[process.name]
        assert sample.label == process.label
        assert sample.cross_section == pytest.approx(process.cross_section_pb)
        assert sample.tree == DEMO_TREE


def test_defaults_are_filled():
    cfg = config_from_dict(copy.deepcopy(BASE))
    assert cfg.training.folds == 5
    assert cfg.luminosity == 1.0
    assert cfg.event_number == ("event",)
    assert cfg.training.negative_weights == "abs"
    assert cfg.samples["sig"].tree == "events"
    assert cfg.samples["sig"].weight == "1"
    assert cfg.samples["bkg"].generator_weight == "1"  # defaults to the weight expression
    assert cfg.samples["bkg"].process == "bkg"
    assert [wp.as_dict() for wp in cfg.evaluation.working_points] == [
        {"signal_efficiency": 0.5},
        {"signal_efficiency": 0.8},
    ]
    assert math.isnan(cfg.features[0].fill)
    assert cfg.demo is None


def test_pb_to_fb_conversion_constant():
    # 1 pb x 1 fb^-1 = 1000 events
    assert PB_PER_INVERSE_FB == 1000.0


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["training"].update(fols=3),
            "unknown key 'training.fols'. Did you mean 'folds'?",
        ),
        (lambda d: d.update(featurs=[]), "unknown key 'featurs'. Did you mean 'features'?"),
        (lambda d: d["samples"]["sig"].update(cross_secton=1.0), "Did you mean 'cross_section'?"),
        (lambda d: d["training"].update(xgboost={"max_dept": 3}), "training.xgboost.max_dept"),
        (lambda d: d["samples"]["sig"].update(label="sig"), "Did you mean 'signal'?"),
        (lambda d: d["training"].update(folds="5"), "training.folds"),
        (lambda d: d["training"].update(folds=2), "training.folds"),
        (lambda d: d["samples"]["sig"].update(cross_section=-1), "samples.sig.cross_section"),
        (
            lambda d: d["samples"].update({"../escape": {"label": "signal", "files": "x"}}),
            "'../escape'",
        ),
        (lambda d: d["features"].append({"name": "a/b", "expr": "1"}), "features[1].name"),
        (lambda d: d["features"].append({"name": "x", "expr": "2"}), "'x' is used twice"),
        (lambda d: d["samples"]["bkg"].update(label="signal"), "no sample has label 'background'"),
        (
            lambda d: d.update(
                evaluation={"working_points": [{"signal_efficiency": 0.5, "score": 0.2}]}
            ),
            "exactly one of",
        ),
        (lambda d: d.pop("features"), "'features' is a required property"),
    ],
)
def test_schema_errors_name_the_key(mutate, expected):
    assert expected in _error(mutate)


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("samples: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(scalar)


def test_files_merge_later_wins(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump(BASE))
    override = tmp_path / "override.yaml"
    override.write_text(
        yaml.safe_dump({"training": {"folds": 4}, "samples": {"sig": {"cross_section": 9.0}}})
    )
    cfg = load_config([base, override])
    assert cfg.training.folds == 4
    assert cfg.samples["sig"].cross_section == 9.0
    assert cfg.samples["sig"].files == ("s.root",)  # untouched keys survive the merge


def test_training_hash_tracks_training_settings_only():
    a = config_from_dict(copy.deepcopy(BASE))
    changed = copy.deepcopy(BASE)
    changed["training"] = {"folds": 4}
    restyled = copy.deepcopy(BASE)
    restyled["plotting"] = {"label": "Preliminary"}
    assert a.training_hash() != config_from_dict(changed).training_hash()
    assert a.training_hash() == config_from_dict(restyled).training_hash()


def test_training_hash_ignores_data_samples_and_the_apply_section():
    """Adding collision data or ntuples to score must not invalidate trained models."""
    base = config_from_dict(copy.deepcopy(BASE)).training_hash()
    with_data = copy.deepcopy(BASE)
    with_data["samples"]["data"] = {"label": "data", "files": "d.root"}
    with_data["apply"] = {"samples": {"extra": {"files": "x.root"}}, "branch": "score"}
    assert config_from_dict(with_data).training_hash() == base
    with_data["samples"]["data"]["files"] = ["d2016.root", "d2017.root"]
    assert config_from_dict(with_data).training_hash() == base


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["samples"]["bkg"].update(cross_section=4.0),
        lambda d: d["samples"]["bkg"].update(files=["b.root", "b2.root"]),
        lambda d: d["samples"]["sig"].update(weight="w"),
        lambda d: d["samples"].update(bkg2={"label": "background", "files": "c.root"}),
    ],
)
def test_training_hash_tracks_every_mc_sample_setting(mutate):
    changed = copy.deepcopy(BASE)
    mutate(changed)
    base = config_from_dict(copy.deepcopy(BASE)).training_hash()
    assert config_from_dict(changed).training_hash() != base

"""The config of the sections that outgrow one binary BDT: training.multiclass, calibration
and categories (hepml.config.extensions): resolved, refused with the key named, and absent
from a config that does not give them."""

from __future__ import annotations

import pytest
from conftest import ROOT
from multiclass_helpers import make_multiclass_config

from hepml.config import config_from_dict, load_config
from hepml.config.extensions import category_config
from hepml.config.settings import stage_settings
from hepml.exceptions import ConfigError


@pytest.fixture
def mc_config(tmp_path):
    return make_multiclass_config(tmp_path, n=50)


def _classes(config):
    return config["training"]["multiclass"]["classes"]


def test_classes_resolve_samples_and_processes_with_their_balance(mc_config):
    cfg = config_from_dict(mc_config)
    multiclass = cfg.training.multiclass
    assert multiclass.names == ["signal", "dy", "ttbar"]
    assert [c.samples for c in multiclass.classes] == [("sig",), ("dy",), ("tt",)]
    assert [c.balance for c in multiclass.classes] == ["equal", "equal", "physics"]
    assert multiclass.signal_classes == [0]
    assert multiclass.discriminant == "signal_probability"
    assert multiclass.background_weights == "physics"
    assert multiclass.class_of_sample() == {"sig": 0, "dy": 1, "tt": 2}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: _classes(c)[2].update(samples=["tt", "dy"]), "already in class 'dy'"),
        (lambda c: _classes(c)[2].update(samples=["sig"]), "already in class 'signal'"),
        (lambda c: _classes(c)[1].update(processes=["tt"]), "already in class"),
        (lambda c: _classes(c)[2].update(samples=["ttt"]), "Did you mean 'tt'"),
        (lambda c: _classes(c)[1].update(processes=["dyy"]), "no process 'dyy'"),
        (lambda c: _classes(c)[0].update(processes=["sig"]), "either samples"),
        (lambda c: _classes(c)[0].update(samples=["sig", "dy"]), "mixes signal and background"),
        (lambda c: _classes(c)[2].update(name="dy"), "'dy' is used twice"),
        (lambda c: _classes(c).append({"name": "x", "samples": ["nope"]}), "no training sample"),
    ],
)
def test_bad_classes_are_refused_naming_the_class(mc_config, edit, message):
    edit(mc_config)
    with pytest.raises(ConfigError, match=message):
        config_from_dict(mc_config)


def test_a_sample_in_no_class_is_refused(mc_config):
    mc_config["samples"]["extra"] = dict(mc_config["samples"]["dy"])
    with pytest.raises(ConfigError, match="training sample 'extra' is in no class"):
        config_from_dict(mc_config)


def test_two_classes_are_the_binary_bdt(mc_config):
    del _classes(mc_config)[2]
    with pytest.raises(ConfigError, match=r"multiclass\.classes"):
        config_from_dict(mc_config)


def test_background_weights_name_every_background_class(mc_config):
    multiclass = mc_config["training"]["multiclass"]
    multiclass.update(discriminant="likelihood_ratio", background_weights={"dy": 1.0})
    with pytest.raises(ConfigError, match="no weight for background class 'ttbar'"):
        config_from_dict(mc_config)
    multiclass["background_weights"] = {"dy": 1.0, "ttbar": 2.0, "signl": 1.0}
    with pytest.raises(ConfigError, match="'signl' is not a background class"):
        config_from_dict(mc_config)
    multiclass["background_weights"] = {"dy": 1.0, "ttbar": 2.0}
    assert config_from_dict(mc_config).training.multiclass.background_weights == {
        "dy": 1.0,
        "ttbar": 2.0,
    }


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c["training"].update(engine="dask"), "not available with training.engine"),
        (lambda c: c["training"].update(tune={"enabled": True}), "training.tune is not available"),
        (lambda c: c["training"].update(baselines=["fisher"]), "'fisher' is a two-class"),
        (lambda c: c["training"].update(baselines=[{"method": "knn"}]), "'knn' is a two-class"),
        (lambda c: c.update(fit={}), "fit section is not available with training.multiclass"),
    ],
)
def test_combinations_multiclass_does_not_support_are_refused(mc_config, edit, message):
    edit(mc_config)
    with pytest.raises(ConfigError, match=message):
        config_from_dict(mc_config)


def test_calibration_defaults_come_from_the_schema_and_dask_is_refused(mc_config):
    mc_config["calibration"] = {}
    cfg = config_from_dict(mc_config)
    assert cfg.calibration.methods == ("isotonic", "platt")
    assert cfg.calibration.rarity is True
    assert cfg.calibration.prior == "physics"
    assert cfg.raw["calibration"]["bins"] == cfg.calibration.bins == 10
    mc_config["calibration"] = {"methods": [], "rarity": False}
    with pytest.raises(ConfigError, match="calibration: nothing to fit"):
        config_from_dict(mc_config)
    mc_config["calibration"] = {"methods": ["isotnic"]}
    with pytest.raises(ConfigError, match="Did you mean 'isotonic'"):
        config_from_dict(mc_config)


def test_calibration_is_part_of_the_models_fingerprint_but_not_its_bins(mc_config):
    plain = config_from_dict(mc_config).training_hash()
    mc_config["calibration"] = {}
    calibrated = config_from_dict(mc_config).training_hash()
    mc_config["calibration"] = {"bins": 20}
    assert calibrated != plain
    assert config_from_dict(mc_config).training_hash() == calibrated


def test_category_config_appends_its_cut_and_has_its_own_fingerprint(mc_config):
    mc_config["categories"] = {"cuts": {"low": "MET_pt < 40", "high": "MET_pt >= 40"}}
    cfg = config_from_dict(mc_config)
    assert cfg.categories.names == ["low", "high"]
    assert cfg.categories.categories[0].min_events == 100
    low = category_config(cfg, "low")
    assert [c.name for c in low.selection] == ["one_muon", "category_low"]
    assert low.selection[-1].expr == "MET_pt < 40"
    assert low.category.name == "low" and low.categories is None
    hashes = {
        cfg.training_hash(),
        low.training_hash(),
        category_config(cfg, "high").training_hash(),
    }
    assert len(hashes) == 3
    # the categories never change the inclusive models
    del mc_config["categories"]
    assert config_from_dict(mc_config).training_hash() == cfg.training_hash()
    with pytest.raises(ConfigError, match="Did you mean 'low'"):
        category_config(cfg, "lowe")


def test_a_category_cut_named_like_a_selection_cut_is_refused(mc_config):
    mc_config["selection"].append({"name": "category_low", "expr": "MET_pt > 0"})
    mc_config["categories"] = {"cuts": {"low": "MET_pt < 40"}}
    with pytest.raises(ConfigError, match="already has a cut named 'category_low'"):
        config_from_dict(mc_config)


def test_load_config_gives_a_category_s_config(tmp_path):
    cfg = load_config(ROOT / "config" / "multiclass.yaml", category="three_jets")
    assert cfg.selection[-1].name == "category_three_jets"
    assert cfg.selection[-1].expr == "num(Jet_pt) >= 3"


def test_a_config_without_the_sections_is_what_it_was():
    """The demo: no new key in its raw config, its models' fingerprint or its train settings."""
    cfg = load_config(ROOT / "config" / "config.yaml")
    assert cfg.training.multiclass is None and cfg.calibration is None and cfg.categories is None
    assert "multiclass" not in cfg.raw["training"]
    assert not {"calibration", "categories"} & set(cfg.raw)
    assert "calibration" not in stage_settings(cfg)["train"]

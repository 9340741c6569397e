"""The plan of the sections that outgrow one binary BDT: the classes, calibration and categories
the rules need, and the settings hashes that rerun exactly what a change touches."""

from __future__ import annotations

import copy

import yaml
from multiclass_helpers import make_multiclass_config

from hepml.workflow.plan import workflow_plan


def _plan(config, tmp_path, name="c.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return workflow_plan([str(path)])


def _config(tmp_path):
    config = make_multiclass_config(tmp_path, n=60)
    config["calibration"] = {"methods": ["platt"]}
    config["categories"] = {"cuts": {"low": "MET_pt < 40", "high": "MET_pt >= 40"}}
    return config


def test_plan_lists_the_classes_calibration_and_categories(tmp_path):
    plan = _plan(_config(tmp_path), tmp_path)
    assert plan["multiclass"] == ["signal", "dy", "ttbar"]
    assert plan["calibration"] == {"rarity": True}
    assert plan["categories"]["names"] == ["low", "high"]
    settings = plan["categories"]["settings"]["low"]
    assert set(settings["ingest"]) == {"sig", "dy", "tt"}
    assert {"train", "evaluate", "evaluate_multiclass", "evaluate_calibration"} <= set(settings)
    assert "combine_categories" not in settings and "combine_categories" in plan["settings"]


def test_a_binary_config_plans_no_extension_stage(tmp_path):
    config = _config(tmp_path)
    for key in ("calibration", "categories"):
        del config[key]
    del config["training"]["multiclass"]
    plan = _plan(config, tmp_path)
    assert plan["multiclass"] is None and plan["calibration"] is None
    assert plan["categories"] is None
    assert not {s for s in plan["settings"] if "multiclass" in s or "calibration" in s}


def test_a_category_cut_reruns_that_category_alone(tmp_path):
    config = _config(tmp_path)
    before = _plan(config, tmp_path)
    changed = copy.deepcopy(config)
    changed["categories"]["cuts"]["high"] = "MET_pt >= 45"
    after = _plan(changed, tmp_path, "d.yaml")
    assert after["settings"]["train"] == before["settings"]["train"]  # the inclusive models
    low, high = (after["categories"]["settings"][c] for c in ("low", "high"))
    assert low == before["categories"]["settings"]["low"]
    was = before["categories"]["settings"]["high"]
    assert high["ingest"]["sig"] != was["ingest"]["sig"] and high["train"] == was["train"]
    assert after["settings"]["combine_categories"] != before["settings"]["combine_categories"]


def test_reliability_bins_redraw_without_retraining(tmp_path):
    config = _config(tmp_path)
    before = _plan(config, tmp_path)
    config["calibration"]["bins"] = 20
    after = _plan(config, tmp_path, "d.yaml")
    changed = {s for s in before["settings"] if before["settings"][s] != after["settings"][s]}
    # the export and the provenance record the whole config
    assert changed == {"evaluate_calibration", "plot_calibration", "export", "provenance"}
    config["calibration"]["prior"] = "balanced"
    retrained = _plan(config, tmp_path, "e.yaml")
    assert retrained["settings"]["train"] != after["settings"]["train"]

"""The workflow plan (`hepml plan`) and the per-stage settings that are the rules' triggers."""

from __future__ import annotations

import copy
import json
import shutil

import pytest
import yaml

from hepml.cli.app import main
from hepml.config import config_from_dict, load_config
from hepml.config.settings import settings_hash, stage_settings, training_hash
from hepml.exceptions import InputFileError
from hepml.workflow.plan import workflow_plan

RULES = {
    "make_demo", "ingest", "train", "train_baseline", "tune_trial", "tune_select", "evaluate",
    "inputs", "importance", "data_mc", "plot", "apply", "export", "provenance", "summaries",
}  # fmt: skip


def write(path, data) -> str:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def hashes(data: dict) -> dict:
    cfg = config_from_dict(copy.deepcopy(data))
    settings = stage_settings(cfg)
    return {
        stage: {n: settings_hash(s) for n, s in value.items()}
        if stage in ("ingest", "apply", "train_baseline")
        else settings_hash(value)
        for stage, value in settings.items()
    } | {"training_hash": training_hash(cfg)}


def changed(before: dict, after: dict) -> set[str]:
    return {stage for stage in before if before[stage] != after[stage]}


def test_plan_lists_every_rule_and_the_explicit_files(small_config, tmp_path):
    plan = workflow_plan([write(tmp_path / "c.yaml", small_config)])
    assert set(plan["settings"]) == RULES
    assert plan["samples"] == {"training": ["sig", "bkg"], "data": [], "extra": []}
    assert plan["files"]["sig"] == [str(tmp_path / f"sig_{i}.root") for i in range(2)]
    assert plan["inputs"] == plan["files"]
    assert plan["folds"] == 3 and plan["features"][0] == "met"
    assert plan["config"] == small_config  # as written: no defaults filled in
    assert plan["warnings"] == []


def test_same_config_under_another_name_plans_the_same(small_config, tmp_path):
    one = workflow_plan([write(tmp_path / "a.yaml", small_config)])
    (tmp_path / "elsewhere").mkdir()
    other = workflow_plan([write(tmp_path / "elsewhere" / "b.yaml", small_config)])
    assert one == other
    # split over two files, merged: still the same plan
    first = {k: v for k, v in small_config.items() if k != "training"}
    second = {"training": small_config["training"]}
    split = workflow_plan([write(tmp_path / "1.yaml", first), write(tmp_path / "2.yaml", second)])
    assert split["settings"] == one["settings"]


def test_a_plot_label_reruns_only_the_plots(small_config):
    before = hashes(small_config)
    small_config["features"][0]["label"] = "$E_T^{miss}$ [GeV]"
    small_config["features"][0]["log"] = True
    small_config["plotting"] = {"experiment": "CMS"}
    small_config["processes"] = {"bkg": {"label": "$t\\bar{t}$", "color": "red", "order": 1}}
    after = hashes(small_config)
    # the plot data carry no label: the plot rules draw them from the config
    assert changed(before, after) == {"plot", "provenance"}


def test_a_feature_binning_reruns_the_histograms_and_the_plots_only(small_config):
    before = hashes(small_config)
    small_config["features"][0]["bins"] = 25
    small_config["features"][1]["range"] = [0, 100]
    after = hashes(small_config)
    assert changed(before, after) == {"inputs", "data_mc", "plot", "provenance"}


def test_chunking_resources_and_dask_address_rerun_nothing(small_config):
    before = hashes(small_config)
    small_config["reading"] = {"step_size": "5 MB"}
    small_config["resources"] = {"train": {"threads": 8, "mem_mb": 9000}}
    small_config["training"]["dask"] = {"address": "tcp://elsewhere:8786"}
    assert changed(before, hashes(small_config)) == set()


def test_a_cut_reruns_the_readers_and_changes_the_models_fingerprint(small_config):
    before = hashes(small_config)
    small_config["selection"][1]["expr"] = "MET_pt > 10"
    after = hashes(small_config)
    # train and evaluate follow through their input files, not their settings
    assert changed(before, after) == {"ingest", "apply", "export", "provenance", "training_hash"}
    assert after["ingest"]["sig"] != before["ingest"]["sig"]


def test_a_training_parameter_reruns_training_not_ingest(small_config):
    before = hashes(small_config)
    small_config["training"]["xgboost"]["max_depth"] = 4
    after = hashes(small_config)
    assert changed(before, after) == {
        "train", "tune_trial", "export", "provenance", "training_hash"
    }  # fmt: skip


def test_one_sample_reruns_alone(small_config):
    before = hashes(small_config)
    small_config["samples"]["bkg"]["cross_section"] = 60.0
    after = hashes(small_config)
    assert after["ingest"]["sig"] == before["ingest"]["sig"]
    assert after["ingest"]["bkg"] != before["ingest"]["bkg"]


def test_event_number_none_is_declared_and_warned_once(small_config, tmp_path, caplog):
    for value in ("none", None):
        small_config["event_number"] = value
        cfg = load_config(write(tmp_path / "c.yaml", small_config))
        assert cfg.event_number == () and cfg.folds_from_entries
        plan = workflow_plan([str(tmp_path / "c.yaml")])
        assert len(plan["warnings"]) == 1 and "(file, entry)" in plan["warnings"][0]
    assert main(["validate", "--config", str(tmp_path / "c.yaml")]) == 0
    assert caplog.text.count("event_number: none") == 1


def test_a_glob_matching_nothing_fails_at_planning(small_config, tmp_path):
    small_config["samples"]["bkg"]["files"] = str(tmp_path / "bgk_*.root")
    with pytest.raises(InputFileError, match=r"sample 'bkg': no file matches .*Did you mean"):
        workflow_plan([write(tmp_path / "c.yaml", small_config)])


def test_demo_files_are_planned_before_they_exist(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = workflow_plan([shutil.copy(_demo_config(), tmp_path / "demo.yaml")])
    assert plan["files"]["vbf_h"] == [f"resources/demo/vbf_h_{i}.root" for i in range(3)]
    assert sorted(plan["demo_outputs"]) == sorted(f for fs in plan["files"].values() for f in fs)


def test_tree_suffix_and_odd_names_are_kept_literally(small_config, tmp_path):
    odd = tmp_path / "odd[1].root"
    shutil.copy(tmp_path / "sig_0.root", odd)
    small_config["samples"]["sig"]["files"] = [f"{tmp_path}/odd[[]1].root:events"]
    plan = workflow_plan([write(tmp_path / "c.yaml", small_config)])
    assert plan["files"]["sig"] == [f"{odd}:events"]
    assert plan["inputs"]["sig"] == [str(odd)]


def test_plan_command_prints_json(small_config, tmp_path, capsys):
    config = write(tmp_path / "c.yaml", small_config)
    assert main(["plan", "--config", config]) == 0
    assert json.loads(capsys.readouterr().out) == workflow_plan([config])
    assert main(["plan", "--config", config, "--output", str(tmp_path / "plan.json")]) == 0
    assert json.loads((tmp_path / "plan.json").read_text())["folds"] == 3


def _demo_config():
    from conftest import ROOT

    return ROOT / "config" / "config.yaml"


def test_checks_cache_skips_the_checks_only_while_nothing_they_read_changed(
    small_config, tmp_path, monkeypatch
):
    import os

    import hepml.workflow.plan as plan_module

    calls = []
    real = plan_module.check_first_files
    monkeypatch.setattr(plan_module, "check_first_files", lambda *a: calls.append(1) or real(*a))
    config, cache = write(tmp_path / "c.yaml", small_config), tmp_path / "cache" / "checks.json"
    for _ in range(2):
        workflow_plan([config], checks=True, checks_cache=cache)
    assert len(calls) == 1 and cache.exists()  # the second start skipped them
    first = tmp_path / "bkg_0.root"
    stat = first.stat()
    os.utime(first, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # the file rewritten
    workflow_plan([config], checks=True, checks_cache=cache)
    assert len(calls) == 2
    # a misspelt branch: found, and the failed checks are not recorded as passed
    small_config["features"][0]["expr"] = "MET_ptt"
    config = write(tmp_path / "c.yaml", small_config)
    for _ in range(2):
        with pytest.raises(InputFileError, match=r"MET_ptt.*Did you mean 'MET_pt'"):
            workflow_plan([config], checks=True, checks_cache=cache)
    assert len(calls) == 4


def test_a_checks_cache_hepml_did_not_write_is_left_alone(small_config, tmp_path, caplog):
    config, cache = write(tmp_path / "c.yaml", small_config), tmp_path / "checks.json"
    cache.write_text("not hepml's\n")
    plan = workflow_plan([config], checks=True, checks_cache=cache)
    assert plan["folds"] == 3  # planned and checked all the same
    assert cache.read_text() == "not hepml's\n" and "not recorded" in caplog.text

"""Provenance: every hash, version and revision checked against an independent look-up."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from conftest import ROOT
from review_runs import TRAIN_THREADS, workflow_run

from hepml.config import config_from_dict, load_config
from hepml.exceptions import InputFileError
from hepml.review.provenance import (
    DEPENDENCIES,
    collect_provenance,
    config_sha256,
    file_sha256,
    git_state,
    kfold_definition,
)

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_file_hash_matches_hashlib_on_real_root_files(shared_data):
    files = sorted(shared_data.rglob("*.root"))[:3]
    assert files
    for path in files:
        assert file_sha256(path) == _sha(path)
    with pytest.raises(InputFileError, match="cannot read"):
        file_sha256(shared_data / "no_such_file.root")


def test_record_of_a_small_analysis(small_config, tmp_path):
    config_file = tmp_path / "analysis.yaml"
    config_file.write_text(yaml.safe_dump(small_config))
    cfg = load_config(config_file)
    record = collect_provenance(cfg, [config_file], train_threads=3, repositories=[tmp_path])
    inputs = {Path(r["path"]).name: r for r in record["inputs"]}
    assert sorted(inputs) == ["bkg_0.root", "bkg_1.root", "sig_0.root", "sig_1.root"]
    for name, r in inputs.items():
        assert r["sha256"] == _sha(tmp_path / name)
        assert r["bytes"] == (tmp_path / name).stat().st_size
        assert r["sample"] == ("sig" if name.startswith("sig") else "bkg")
    assert record["config"]["files"] == [{"path": str(config_file), "sha256": _sha(config_file)}]
    assert record["config"]["merged"]["training"]["folds"] == 3
    assert record["packages"] == {name: metadata.version(name) for name in DEPENDENCIES}
    assert record["python"] == ".".join(map(str, sys.version_info[:3]))
    assert record["training"]["threads"] == 3
    assert record["training"]["device"] == "cpu" and record["training"]["bitwise_reproducible"]
    assert record["git"] == []  # tmp_path is not in a repository
    json.dumps(record)  # JSON-ready as it is


def test_config_hash_follows_the_settings(small_config):
    base = config_sha256(config_from_dict(small_config))
    assert base == config_sha256(config_from_dict(dict(small_config)))
    small_config["training"]["xgboost"]["max_depth"] = 4
    assert config_sha256(config_from_dict(small_config)) != base
    # an explicit default is the same configuration as an omitted one
    small_config["training"]["xgboost"]["max_depth"] = 3
    assert "balance_classes" not in small_config["training"]
    small_config["training"]["balance_classes"] = True  # the schema default, now explicit
    assert config_sha256(config_from_dict(small_config)) == base


def test_kfold_definition_lists_each_models_folds(small_config):
    small_config["training"]["folds"] = 4
    folds = kfold_definition(config_from_dict(small_config))
    assert folds["folds"] == 4 and folds["event_number"] == ["event"] and folds["seed"] == 7
    for k in range(4):
        roles = folds["models"][str(k)]
        assert roles["test"] == k and roles["validation"] == (k + 1) % 4
        assert sorted([roles["test"], roles["validation"], *roles["train"]]) == [0, 1, 2, 3]


@needs_git
def test_git_state_revision_and_dirty(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    assert git_state(repo) is None
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "a.txt").write_text("1\n")
    subprocess.run([*git, "add", "a.txt"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "one"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    state = git_state(repo)
    assert state["revision"] == head.strip() and state["dirty"] is False
    assert Path(state["repository"]).resolve() == repo.resolve()
    (repo / "a.txt").write_text("2\n")
    assert git_state(repo)["dirty"] is True and git_state(repo)["changed_files"] == 1


def test_cli_writes_record_and_merged_config_that_round_trips(small_config, tmp_path):
    config_file = tmp_path / "analysis.yaml"
    config_file.write_text(yaml.safe_dump(small_config))
    out, merged = tmp_path / "out" / "provenance.json", tmp_path / "out" / "config.yaml"
    run = subprocess.run(
        [sys.executable, "-m", "hepml", "provenance", "--config", str(config_file),
         "--output", str(out), "--merged-config", str(merged), "--train-threads", "2"],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    record = json.loads(out.read_text())
    # the merged config, read back as a config file, is the same configuration
    assert config_sha256(load_config(merged)) == record["config"]["sha256"]
    assert record["config"]["sha256"] in merged.read_text()
    assert not list(out.parent.glob(".*.tmp"))


def test_cli_missing_input_leaves_no_output(small_config, tmp_path):
    small_config["samples"]["sig"]["files"] = str(tmp_path / "sgi_*.root")
    config_file = tmp_path / "analysis.yaml"
    config_file.write_text(yaml.safe_dump(small_config))
    out = tmp_path / "out" / "provenance.json"
    run = subprocess.run(
        [sys.executable, "-m", "hepml", "provenance", "--config", str(config_file),
         "--output", str(out)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 2
    assert "sample 'sig'" in run.stderr and "Traceback" not in run.stderr
    assert not out.exists() and not list(tmp_path.rglob(".*.tmp"))


@pytest.mark.e2e
def test_provenance_of_a_workflow_run(tmp_path_factory):
    run = workflow_run(tmp_path_factory, "reference")
    record = json.loads((run / "results" / "provenance.json").read_text())
    demo = sorted((run / "resources" / "demo").glob("*.root"))
    assert sorted(Path(r["path"]).name for r in record["inputs"]) == [p.name for p in demo]
    for r in record["inputs"]:
        assert r["sha256"] == _sha(run / r["path"])
    for k, model in enumerate(record["training"]["models"]):
        assert model["model_fold"] == k
        assert model["sha256"] == _sha(run / "results" / "train" / f"fold{k}" / "model.json")
    assert record["training"]["threads"] == TRAIN_THREADS  # resources.train.threads
    assert record["kfold"]["folds"] == 3
    merged = load_config(run / "results" / "config.yaml")
    assert config_sha256(merged) == record["config"]["sha256"]
    head = subprocess.run(
        ["git", "--no-optional-locks", "-C", str(ROOT), "rev-parse", "HEAD"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if head.returncode == 0:  # the workflow is a git checkout: its revision is recorded
        assert head.stdout.strip() in [g["revision"] for g in record["git"]]

"""Checked models: a swapped, edited or truncated fold model never scores an event.

Training records each model's SHA-256 and fold in its metadata.json, export in its manifest;
every command that loads models (apply, export, importance, data-mc, score) verifies them
before it writes anything, and refuses in one line naming the file, the expected and the
found fold or hash.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from pipeline_helpers import _export_argv, _refused, build_trained

from hepml.cli.app import main
from hepml.evaluate.data_mc import data_mc_from_files
from hepml.exceptions import FoldMismatch
from hepml.export.score import load_export
from hepml.models import load_fold_models, read_training_models


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Trained fold models (read-only: a test tampers with copies)."""
    return build_trained(tmp_path_factory.mktemp("trained"))


def _copy_models(p, directory: Path) -> list[Path]:
    """The trained fold directories copied to ``directory``; the model.json of each."""
    for k, model in enumerate(p["models"]):
        shutil.copytree(model.parent, directory / f"fold{k}")
    return [directory / f"fold{k}" / "model.json" for k in range(len(p["models"]))]


def _swap(a: Path, b: Path) -> None:
    tmp = a.with_name("swap.tmp")
    a.replace(tmp)
    b.replace(a)
    tmp.replace(b)


def _edit_a_leaf(path: Path) -> None:
    """Change one leaf value of an XGBoost JSON model: it still loads, it scores otherwise."""
    model = json.loads(path.read_text())
    tree = model["learner"]["gradient_booster"]["model"]["trees"][0]
    tree["base_weights"][-1] += 0.5
    path.write_text(json.dumps(model))


def test_training_records_each_models_hash_and_fold(trained):
    for k, model in enumerate(trained["models"]):
        meta = json.loads(model.with_name("metadata.json").read_text())
        assert meta["model_fold"] == k
        assert meta["model_file"] == "model.json"
        assert meta["model_sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()


@pytest.mark.parametrize("tamper", ["swapped", "edited", "no_hash", "truncated_metadata"])
def test_apply_refuses_a_tampered_model_before_writing(trained, tmp_path, capsys, tamper):
    models = _copy_models(trained, tmp_path / "train")
    if tamper == "swapped":
        _swap(models[0], models[1])
    elif tamper == "edited":
        _edit_a_leaf(models[2])
    elif tamper == "no_hash":
        meta_path = models[0].with_name("metadata.json")
        meta = json.loads(meta_path.read_text())
        del meta["model_sha256"]
        meta_path.write_text(json.dumps(meta))
    else:
        meta_path = models[1].with_name("metadata.json")
        meta_path.write_bytes(meta_path.read_bytes()[:100])
    out = tmp_path / "apply"
    argv = ["apply", "-c", str(trained["config_file"]), "--sample", "sig",
            "--models", *map(str, models), "--output-dir", str(out)]  # fmt: skip
    assert main(argv) == 2
    line = _refused(capsys)
    if tamper == "swapped":
        assert str(models[0]) in line and "fold 0" in line and "model of fold 1" in line, line
    elif tamper == "edited":
        assert str(models[2]) in line and "sha256" in line, line
    elif tamper == "no_hash":
        assert "model_sha256" in line and "rerun the train rule" in line, line
    else:
        assert "metadata.json' is not valid JSON" in line, line
    assert not out.exists()


def test_every_command_that_loads_models_checks_them(trained, tmp_path, capsys):
    models = _copy_models(trained, tmp_path / "train")
    _swap(models[0], models[1])
    with pytest.raises(FoldMismatch, match="model of fold 1"):
        read_training_models(models)
    with pytest.raises(FoldMismatch, match="model of fold 1"):
        load_fold_models(models)  # importance and data-mc
    with pytest.raises(FoldMismatch, match="model of fold 1"):
        data_mc_from_files(models, trained["tables"], trained["tables"])
    argv = _export_argv(trained, tmp_path / "export")
    argv[argv.index("--models") + 1 : argv.index("--scores")] = map(str, models)
    assert main(argv) == 2
    _refused(capsys, "model of fold 1")
    assert not (tmp_path / "export").exists()


@pytest.fixture
def exported(trained, tmp_path) -> Path:
    out = tmp_path / "export"
    assert main(_export_argv(trained, out)) == 0
    return out


@pytest.mark.parametrize("tamper", ["swapped", "edited", "truncated", "manifest_truncated"])
def test_score_refuses_a_tampered_export(trained, exported, tmp_path, capsys, tamper):
    if tamper == "swapped":
        _swap(exported / "fold0.json", exported / "fold1.json")
    elif tamper == "edited":
        _edit_a_leaf(exported / "fold0.json")
    elif tamper == "truncated":
        data = (exported / "fold0.json").read_bytes()
        (exported / "fold0.json").write_bytes(data[: len(data) // 2])
    else:
        data = (exported / "manifest.json").read_bytes()
        (exported / "manifest.json").write_bytes(data[: len(data) // 2])
    out = tmp_path / "scored"
    argv = ["score", str(trained["base"] / "sig_0.root"), "--export-dir", str(exported),
            "--output-dir", str(out)]  # fmt: skip
    assert main(argv) == 2
    line = _refused(capsys)
    if tamper == "manifest_truncated":
        assert "manifest.json" in line and "not valid JSON" in line, line
    else:
        assert "fold0.json" in line and "sha256" in line, line
    if tamper == "swapped":
        assert "fold 1" in line, line
    assert not out.exists()
    with pytest.raises(FoldMismatch):
        load_export(exported)


def test_a_baseline_records_its_hash(trained, tmp_path):
    config = dict(trained["config_dict"])
    config["training"] = dict(config["training"], baselines=["fisher"])
    config_file = tmp_path / "c.yaml"
    config_file.write_text(json.dumps(config))
    tables = [f"{s}={t}" for s, t in trained["tables"].items()]
    out = tmp_path / "fisher0"
    argv = ["train", "-c", str(config_file), "--fold", "0", "--classifier", "fisher",
            "--tables", *tables, "--output-dir", str(out)]  # fmt: skip
    assert main(argv) == 0
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["model_file"] == "model.joblib"
    assert meta["model_sha256"] == hashlib.sha256((out / "model.joblib").read_bytes()).hexdigest()
    assert meta["model_fold"] == 0

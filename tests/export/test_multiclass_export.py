"""Apply and export of multiclass, calibrated models: one branch per class and per calibrated
output, ONNX with K outputs checked by onnxruntime, ``hepml score`` reproducing ``hepml apply``
bit for bit, and a closure test that catches metadata which no longer fits the scores."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from multiclass_helpers import make_multiclass_config

from hepml.cli.app import main
from hepml.config import config_from_dict
from hepml.ingest.sample import ingest_sample
from hepml.tables.features import load_dataset
from hepml.train.bdt import write_fold
from hepml.train.calibrate import calibrate_fold
from hepml.train.multiclass import train_multiclass_fold

CLASSES = ["signal", "dy", "ttbar"]
BRANCHES = ["bdt_score", *(f"bdt_score_p_{c}" for c in CLASSES),
            "bdt_score_isotonic", "bdt_score_platt", "bdt_score_rarity"]  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    base = tmp_path_factory.mktemp("mc_export")
    config = make_multiclass_config(base, n=900) | {"calibration": {}}
    cfg = config_from_dict(config)
    tables = {name: base / "ingest" / f"{name}.parquet" for name in cfg.samples}
    for name, path in tables.items():
        ingest_sample(cfg, name, path)
    data = load_dataset(tables, cfg.feature_names, {n: s.process for n, s in cfg.samples.items()})
    for k in range(3):
        write_fold(
            calibrate_fold(cfg, train_multiclass_fold(cfg, data, k)), base / "train" / f"fold{k}"
        )
    (base / "config.yaml").write_text(yaml.safe_dump(config))
    return base, tables


def _models(base):
    return [str(base / "train" / f"fold{k}" / "model.json") for k in range(3)]


def _export(base, tables, out, onnx="no"):
    scores = [str(base / "train" / f"fold{k}" / "scores.parquet") for k in range(3)]
    return main(["export", "-c", str(base / "config.yaml"), "--models", *_models(base),
                 "--scores", *scores, "--tables", *(f"{s}={p}" for s, p in tables.items()),
                 "--output-dir", str(out), "--onnx", onnx, "--closure-events", "300"])  # fmt: skip


def test_apply_writes_every_output_and_score_with_the_export_reproduces_it(trained, tmp_path):
    base, tables = trained
    config = str(base / "config.yaml")
    assert main(["apply", "-c", config, "--sample", "tt", "--models", *_models(base),
                 "--output-dir", str(tmp_path / "apply")]) == 0  # fmt: skip
    applied = pq.read_table(tmp_path / "apply" / "tt.parquet").to_pydict()
    assert [c for c in applied if c.startswith("bdt_score")] == BRANCHES
    summary = json.loads((tmp_path / "apply" / "tt.json").read_text())
    assert summary["branches"] == BRANCHES and "P(s)" not in summary["score"]
    # the applied outputs of training events are their out-of-fold ones
    scores = [
        pq.read_table(base / "train" / f"fold{k}" / "scores.parquet").to_pydict() for k in range(3)
    ]
    for column, branch in (("score", "bdt_score"), ("score_p_dy", "bdt_score_p_dy"),
                           ("score_platt", "bdt_score_platt")):  # fmt: skip
        expected = {}
        for t in scores:
            for s, f, e, role, v in zip(
                t["sample"], t["file"], t["entry"], t["set"], t[column], strict=True
            ):
                if s == "tt" and role == "test":
                    expected[(f, e)] = v
        got = {
            (f, e): v
            for f, e, v in zip(applied["file"], applied["entry"], applied[branch], strict=True)
        }
        assert {key: got[key] for key in expected} == expected
    assert _export(base, tables, tmp_path / "export") == 0
    assert main(["score", str(base / "tt.root"), "--export-dir", str(tmp_path / "export"),
                 "--output-dir", str(tmp_path / "scored"), "--parquet"]) == 0  # fmt: skip
    scored = pq.read_table(tmp_path / "scored" / "scores.parquet").to_pydict()
    for branch in BRANCHES:
        np.testing.assert_array_equal(scored[branch], applied[branch])


def test_onnx_has_k_outputs_and_the_manifest_says_how_the_score_is_made(trained, tmp_path):
    pytest.importorskip("onnxmltools")
    onnxruntime = pytest.importorskip("onnxruntime")
    base, tables = trained
    assert _export(base, tables, tmp_path / "export", onnx="yes") == 0
    manifest = json.loads((tmp_path / "export" / "manifest.json").read_text())
    assert manifest["objective"].startswith("multi:softprob over the classes signal, dy, ttbar")
    entry, closure = manifest["models"][1], manifest["closure"][1]
    assert entry["outputs"]["classes"] == CLASSES and entry["outputs"]["signal_classes"] == [
        "signal"
    ]
    assert closure["onnx_max_abs_diff"] <= 1e-5 and closure["xgboost_json_identical"]
    assert "score_isotonic" in closure["outputs_identical"]
    session = onnxruntime.InferenceSession(str(tmp_path / "export" / "fold1.onnx"))
    X = np.random.default_rng(0).normal(20, 10, (5, 5)).astype(np.float32)
    probabilities = session.run(["probabilities"], {"features": X})[0]
    assert probabilities.shape == (5, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    meta = dict(session.get_modelmeta().custom_metadata_map)
    assert "class k" in meta["hepml_output"] and "P(signal)" not in meta["hepml_output"]


def test_a_model_whose_recorded_outputs_were_edited_fails_the_closure_test(
    trained, tmp_path, capsys
):
    base, tables = trained
    meta_path = base / "train" / "fold2" / "metadata.json"
    original = meta_path.read_text()
    meta = json.loads(original)
    meta["outputs"]["platt"]["slope"] *= 1.01
    meta_path.write_text(json.dumps(meta))
    try:
        assert _export(base, tables, tmp_path / "export") == 2
    finally:
        meta_path.write_text(original)
    err = capsys.readouterr().err
    assert "closure test failed: column 'score_platt' of fold 2 differs" in err
    assert not (tmp_path / "export").exists()

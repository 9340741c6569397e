"""Multiclass training, the calibration of a fold model and the events of a category, against
numpy and scikit-learn: the classes' training weights, the discriminant and its physics
weights, calibration fitted on the validation fold only, the class outputs of a baseline."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from multiclass_helpers import make_multiclass_config
from sklearn.isotonic import IsotonicRegression

from hepml.cli.app import main
from hepml.config import config_from_dict
from hepml.config.extensions import category_config
from hepml.exceptions import DataError
from hepml.ingest.sample import ingest_sample
from hepml.score_outputs import discriminant
from hepml.tables.features import load_dataset
from hepml.train.bdt import fold_weights, train_fold
from hepml.train.calibrate import calibrate_fold
from hepml.train.categories import check_category_events
from hepml.train.multiclass import class_dataset, class_training_weights, train_multiclass_fold


@pytest.fixture(scope="module")
def multiclass(tmp_path_factory):
    """The three-class config ingested: (config dict, config, dataset, tables)."""
    base = tmp_path_factory.mktemp("multiclass")
    config = make_multiclass_config(base, n=900)
    config["training"]["multiclass"]["discriminant"] = "likelihood_ratio"
    cfg = config_from_dict(config)
    tables = {name: base / f"{name}.parquet" for name in cfg.samples}
    for name, path in tables.items():
        ingest_sample(cfg, name, path)
    processes = {n: s.process for n, s in cfg.samples.items()}
    return config, cfg, load_dataset(tables, cfg.feature_names, processes), tables


@pytest.fixture(scope="module")
def model(multiclass):
    _, cfg, data, _ = multiclass
    return train_multiclass_fold(cfg, data, 1)


def test_class_weights_follow_each_class_s_balance_policy(multiclass):
    _, cfg, data, _ = multiclass
    classes = class_dataset(cfg, data)
    mask = data.fold != 0
    w = class_training_weights(cfg, classes, mask)
    label, physics = classes.label[mask], np.abs(data.weight[mask])
    sums = np.bincount(label, weights=w)
    # ttbar (physics) keeps its expected yield; signal and dy (equal) get its sum as well,
    # the mean of the physics classes' sums: all relative to one common scale
    scale = sums[2] / physics[label == 2].sum()
    assert sums[0] == pytest.approx(sums[2]) and sums[1] == pytest.approx(sums[2])
    np.testing.assert_allclose(w[label == 2], physics[label == 2] * scale, rtol=1e-12)
    assert w.mean() == pytest.approx(1.0)
    # the same through the training's own entry point
    np.testing.assert_array_equal(fold_weights(cfg, classes, mask), w)


def test_balance_processes_gives_each_process_of_a_class_the_same_sum(multiclass):
    config, _, data, _ = multiclass
    spec = json.loads(json.dumps(config))
    spec["samples"]["dy2"] = dict(spec["samples"]["dy"], process="dy2")
    spec["training"]["multiclass"]["classes"][1] = {
        "name": "dy", "processes": ["dy", "dy2"], "balance_processes": True,
    }  # fmt: skip
    cfg = config_from_dict(spec)
    # dy2: a third of dy's events, as another process of the same class
    dy = np.flatnonzero(data.sample == "dy")
    sample = data.sample.astype(object)
    sample[dy[: len(dy) // 3]] = "dy2"
    process = data.process.astype(object)
    process[dy[: len(dy) // 3]] = "dy2"
    extended = dataclasses.replace(data, sample=sample.astype(str), process=process.astype(str))
    classes = class_dataset(cfg, extended)
    w = class_training_weights(cfg, classes, np.ones(len(data), dtype=bool))
    assert w[classes.process == "dy"].sum() == pytest.approx(w[classes.process == "dy2"].sum())


def test_a_model_gives_k_outputs_summing_to_one_and_its_discriminant(model, multiclass):
    data = multiclass[2]
    s = model.scores
    p = np.column_stack([s[f"score_p_{c}"] for c in ("signal", "dy", "ttbar")])
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)
    assert model.metadata["objective"] == "multi:softprob"
    weights = model.metadata["outputs"]["background_weights"]
    expected = p[:, 0] / (p[:, 0] + weights["dy"] * p[:, 1] + weights["ttbar"] * p[:, 2])
    np.testing.assert_allclose(s["score"], expected, rtol=1e-12)
    np.testing.assert_array_equal(s["label"], (data.sample == "sig").astype(np.int8))
    np.testing.assert_array_equal(s["class"], np.select(
        [data.sample == "sig", data.sample == "dy"], [0, 1], 2))  # fmt: skip
    assert set(model.learning_curve["validation"]) == {"auc", "logloss"}


def test_physics_background_weights_come_from_the_training_events(model, multiclass):
    _, cfg, data, _ = multiclass
    classes = class_dataset(cfg, data)
    train = np.asarray(model.scores["set"] == "train")
    w = fold_weights(cfg, classes, train)
    prior = np.bincount(classes.label[train], weights=w) / w.sum()
    yields = np.bincount(classes.label[train], weights=data.weight[train])
    recorded = model.metadata["outputs"]["background_weights"]
    for i, name in ((1, "dy"), (2, "ttbar")):
        expected = prior[0] / prior[i] * yields[i] / (yields[1] + yields[2])
        assert recorded[name] == pytest.approx(expected, rel=1e-12)


def test_every_set_needs_every_class(multiclass):
    _, cfg, data, _ = multiclass
    without = data.subset(~((data.sample == "tt") & (data.fold == 2)))
    with pytest.raises(
        DataError, match="model 1: the validation set has no events of class 'ttbar'"
    ):
        train_multiclass_fold(cfg, without, 1)


def test_calibration_is_fitted_on_the_validation_fold_only(model, multiclass):
    config = multiclass[0]
    spec = json.loads(json.dumps(config)) | {"calibration": {"prior": "balanced"}}
    cfg = config_from_dict(spec)
    calibrated = calibrate_fold(cfg, model)
    s = calibrated.scores
    validation = np.asarray(s["set"] == "validation")
    assert calibrated.metadata["calibration"]["fitted_on"] == {"set": "validation", "fold": 2}
    y, w = s["label"][validation], np.abs(s["weight"][validation])
    w = np.where(y == 1, w / w[y == 1].sum(), w / w[y == 0].sum())
    reference = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip")
    reference.fit(s["score"][validation], y, sample_weight=w)
    np.testing.assert_allclose(s["score_isotonic"], reference.predict(s["score"]), atol=1e-12)
    # the same columns from the recorded outputs (what apply and export compute)
    record = calibrated.metadata["outputs"]
    assert {"isotonic", "platt", "rarity"} <= set(record)
    assert calibrate_fold(config_from_dict(config), model) is model  # no section: unchanged


def test_a_binary_fold_without_the_sections_is_written_as_before(multiclass):
    config, _, data, _ = multiclass
    spec = json.loads(json.dumps(config))
    del spec["training"]["multiclass"]
    cfg = config_from_dict(spec)
    binary = train_fold(cfg, data, 0)
    assert "outputs" not in binary.metadata and "calibration" not in binary.metadata
    assert "class" not in binary.scores and binary.metadata["objective"] == "binary:logistic"
    calibrated = calibrate_fold(config_from_dict(spec | {"calibration": {}}), binary)
    # a binary model's calibration: the score column itself untouched
    np.testing.assert_array_equal(calibrated.scores["score"], binary.scores["score"])
    assert {"score_isotonic", "score_platt", "score_rarity"} <= set(calibrated.scores)


def test_too_few_events_in_a_category_is_an_error_naming_it(multiclass):
    config, _, data, _ = multiclass
    spec = json.loads(json.dumps(config)) | {
        "categories": {"cuts": {"many_jets": "num(Jet_pt) >= 6"}, "min_events": 150}
    }
    cfg = category_config(config_from_dict(spec), "many_jets")
    few = data.subset(data.X[:, cfg.feature_names.index("n_jets")] >= 6)
    counts = {c: int((few.sample == s).sum()) for c, s in (("signal", "sig"), ("ttbar", "tt"))}
    assert counts["signal"] < 150 <= counts["ttbar"]
    match = f"category 'many_jets' .* class 'signal' has {counts['signal']} Monte Carlo event"
    with pytest.raises(DataError, match=match):
        check_category_events(cfg, few)
    check_category_events(cfg, data)  # enough of every class: no error


def test_train_command_trains_a_baseline_with_class_outputs(multiclass, tmp_path):
    config, _, _, tables = multiclass
    spec = json.loads(json.dumps(config))
    spec["training"]["baselines"] = ["logistic"]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(spec))
    pairs = [f"{s}={p}" for s, p in tables.items()]
    args = ["train", "-c", str(path), "--classifier", "logistic", "--fold", "0",
            "--tables", *pairs, "--output-dir", str(tmp_path / "out")]  # fmt: skip
    assert main(args) == 0
    scores = pq.read_table(tmp_path / "out" / "scores.parquet").to_pydict()
    p = np.column_stack([scores[f"score_p_{c}"] for c in ("signal", "dy", "ttbar")])
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)  # float32 features
    meta = json.loads((tmp_path / "out" / "metadata.json").read_text())
    weights = meta["outputs"]["background_weights"]
    expected = discriminant(p, [0], [0.0, weights["dy"], weights["ttbar"]], "likelihood_ratio")
    np.testing.assert_allclose(scores["score"], expected, rtol=1e-12)

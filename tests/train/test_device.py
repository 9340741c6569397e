"""``device: cuda``: a GPU that XGBoost cannot use is a clear error, never a quiet CPU run."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb
from conftest import ingest_all
from sklearn.metrics import roc_auc_score

from hepml.config import config_from_dict
from hepml.exceptions import ConfigError
from hepml.train.bdt import train_fold
from hepml.train.device import check_device, effective_device


def _gpu_visible() -> bool:
    try:
        return check_device("cuda").startswith("cuda")
    except ConfigError:
        return False


GPU = _gpu_visible()


def test_cpu_is_taken_as_asked():
    assert check_device("cpu") == "cpu"


def test_effective_device_reads_the_booster():
    d = xgb.DMatrix(np.zeros((4, 1), np.float32), label=[0, 1, 0, 1])
    booster = xgb.train({"device": "cpu", "tree_method": "hist"}, d, 1)
    assert effective_device(booster) == "cpu"


@pytest.mark.skipif(GPU, reason="a GPU is visible here: the fallback cannot happen")
def test_cuda_without_a_gpu_is_a_config_error():
    with pytest.raises(ConfigError, match=r"training\.xgboost\.device is 'cuda'.*no usable GPU"):
        check_device("cuda")


@pytest.mark.skipif(not GPU, reason="needs a GPU visible to XGBoost (none on this machine)")
def test_cuda_trains_on_the_gpu_and_agrees_with_the_cpu():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20000, 5)).astype(np.float32)
    y = (X[:, 0] - X[:, 1] + rng.normal(size=20000) > 0).astype(np.float32)
    params = {"objective": "binary:logistic", "tree_method": "hist", "max_depth": 4, "seed": 1}
    scores = {}
    for device in ("cpu", "cuda"):
        booster = xgb.train(params | {"device": device}, xgb.QuantileDMatrix(X, label=y), 50)
        assert effective_device(booster).startswith(device)
        booster.set_param({"device": "cpu"})
        scores[device] = booster.inplace_predict(X)
    # GPU histograms sum in another order: the same classifier, not the same bits
    auc = {device: roc_auc_score(y, s) for device, s in scores.items()}
    assert auc["cuda"] == pytest.approx(auc["cpu"], abs=0.005)
    assert auc["cpu"] > 0.8


@pytest.mark.skipif(GPU, reason="a GPU is visible here: the fallback cannot happen")
def test_train_fold_refuses_cuda_without_a_gpu_before_training(small_config, tmp_path):
    small_config["training"].setdefault("xgboost", {})["device"] = "cuda"
    cfg = config_from_dict(small_config)
    data, _ = ingest_all(cfg, tmp_path)
    with pytest.raises(ConfigError, match="no usable GPU"):
        train_fold(cfg, data, 0)


def test_fold_metadata_records_the_device_used(ingested):
    cfg, data, _ = ingested
    assert train_fold(cfg, data, 0).metadata["device"] == "cpu"

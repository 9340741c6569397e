"""Degenerate physics inputs: clear errors or documented behaviour, never a crash."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from conftest import ingest_all

from hepml.config import config_from_dict
from hepml.exceptions import DataError
from hepml.ingest.sample import ingest_sample
from hepml.train.bdt import train_fold


def test_constant_feature_trains_and_gets_no_splits(small_config, tmp_path):
    small_config["features"].append({"name": "const", "expr": "MET_pt * 0 + 3"})
    cfg = config_from_dict(small_config)
    data, _ = ingest_all(cfg, tmp_path)
    assert np.all(data.X[:, -1] == 3)
    model = train_fold(cfg, data, 0)
    # documented behaviour: a constant feature is harmless, XGBoost never splits on it
    assert "const" not in model.booster.get_score(importance_type="weight")


def test_all_weights_negative_is_a_clear_error(small_config, tmp_path):
    small_config["samples"]["sig"]["weight"] = "-abs(genWeight)"
    cfg = config_from_dict(small_config)
    with pytest.raises(DataError, match=r"sample 'sig': the sum of generator weights .* is -"):
        ingest_sample(cfg, "sig", tmp_path / "sig.parquet")
    assert not (tmp_path / "sig.parquet").exists()


def test_negative_weights_with_drop_policy_and_no_positive_signal(small_config, tmp_path):
    """A sample whose selected events all carry negative weights cannot train under `drop`.

    Ingest refuses such a sample already (its expected yield is negative); training keeps its
    own check for tables that reach it otherwise, exercised here on weights negated in memory.
    """
    data_cfg = copy.deepcopy(small_config)
    data_cfg["samples"]["sig"]["weight"] = "-abs(genWeight)"
    data_cfg["samples"]["sig"]["sum_of_weights"] = 100.0  # normalise anyway
    with pytest.raises(DataError, match=r"sample 'sig' \(signal\): the selected events' "
                       r"weights sum to -"):  # fmt: skip
        ingest_sample(config_from_dict(data_cfg), "sig", tmp_path / "sig.parquet")
    small_config["training"]["negative_weights"] = "drop"
    cfg = config_from_dict(small_config)
    data, _ = ingest_all(cfg, tmp_path)
    signal = data.label == 1
    data.weight[signal] = -np.abs(data.weight[signal])
    with pytest.raises(DataError, match=r"training weights sum to 0 \(signal\)"):
        train_fold(cfg, data, 0)


def test_single_selected_event_is_a_clear_error(small_config, tmp_path):
    cfg = config_from_dict(small_config)
    data, _ = ingest_all(cfg, tmp_path)
    first_signal = np.flatnonzero(data.label == 1)[0]
    keep = data.label == 0
    keep[first_signal] = True
    with pytest.raises(DataError, match=r"has 0 signal"):
        train_fold(cfg, data.subset(keep), 0)

"""Where XGBoost trains: check that ``device: cuda`` will really run on a GPU.

XGBoost given ``device: cuda`` on a machine (or batch node) without a usable GPU only warns
and trains on the CPU. A physicist who asked for the GPU should learn that before hours of
CPU training, not from a log line, so the train and tune jobs check the device XGBoost
actually takes, with one boosting round on two events, and stop with a clear error.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import xgboost as xgb

from hepml.exceptions import ConfigError

__all__ = ["check_device", "effective_device"]


def effective_device(booster: xgb.Booster) -> str:
    """The device a trained booster ran on, as XGBoost records it (``cpu``, ``cuda:0``...)."""
    return json.loads(booster.save_config())["learner"]["generic_param"]["device"]


def check_device(device: str) -> str:
    """Return the device XGBoost takes for ``device``; raise if a GPU was asked and not found."""
    if not str(device).startswith("cuda"):
        return str(device)
    dmatrix = xgb.DMatrix(np.zeros((2, 1), dtype=np.float32), label=[0.0, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # XGBoost's own "No visible GPU" warning
        probe = xgb.train({"device": device, "tree_method": "hist"}, dmatrix, 1)
    taken = effective_device(probe)
    if not taken.startswith("cuda"):
        built = "yes" if xgb.build_info().get("USE_CUDA") else "no"
        msg = (
            f"training.xgboost.device is '{device}', but XGBoost finds no usable GPU on this "
            f"machine (XGBoost {xgb.__version__}, built with CUDA: {built}) and would quietly "
            "train on the CPU. Run the train jobs on a GPU node (see README, 'Training on a "
            "GPU'), or set training.xgboost.device: cpu."
        )
        raise ConfigError(msg)
    return taken

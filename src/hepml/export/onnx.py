"""ONNX export of the fold models (onnxmltools), checked with onnxruntime in the closure test.

The ``onnx`` extra is optional: ``--onnx auto`` exports ONNX when it is installed.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from hepml.config import Config
from hepml.exceptions import DataError, HepmlError

__all__ = ["ONNX_TOLERANCE", "check_onnx", "onnx_modules", "write_onnx"]

log = logging.getLogger(__name__)

ONNX_TOLERANCE = 1e-5  # max |ONNX - XGBoost| allowed in the closure test


def onnx_modules(mode: str) -> dict[str, Any] | None:
    if mode not in ("auto", "yes", "no"):
        msg = f"onnx must be auto, yes or no, got '{mode}'"
        raise ValueError(msg)
    if mode == "no":
        return None
    try:
        import onnx
        import onnxmltools
        import onnxruntime
        from onnxmltools.convert.common.data_types import FloatTensorType
    except ImportError as err:
        if mode == "auto":
            log.warning("no ONNX export: %s (pip install 'hepml[onnx]')", err)
            return None
        msg = (
            f"ONNX export needs the optional dependencies onnx, onnxmltools and onnxruntime "
            f'({err}): pip install "hepml[onnx]"'
        )
        raise HepmlError(msg) from err
    return {
        "onnx": onnx,
        "onnxmltools": onnxmltools,
        "onnxruntime": onnxruntime,
        "FloatTensorType": FloatTensorType,
    }


def write_onnx(mods: dict, booster: xgb.Booster, config: Config, k: int, path: Path) -> None:
    """Convert with onnxmltools (which wants features named f0, f1, ...: names are dropped)."""
    unnamed = booster.copy()
    unnamed.feature_names = None
    n = len(config.features)
    model = mods["onnxmltools"].convert_xgboost(
        unnamed,
        name=f"hepml_fold{k}",  # onnxmltools' default is a random UUID: two exports would differ
        initial_types=[("features", mods["FloatTensorType"]([None, n]))],
    )
    mods["onnx"].helper.set_model_props(
        model,
        {
            "hepml_features": ",".join(config.feature_names),
            "hepml_fold": str(k),
            "hepml_config_hash": config.training_hash(),
            "hepml_output": _output_text(config),
        },
    )
    path.write_bytes(model.SerializeToString())


def _output_text(config: Config) -> str:
    """What the ONNX model's output is (its ``hepml_output`` property)."""
    multiclass = config.training.multiclass
    if multiclass is None:
        return (
            "probabilities[:, 1] = the BDT score (binary:logistic): it orders events by "
            "signal-likeness, but trained on balanced classes it is not P(signal); "
            "manifest.json has the calibrated outputs, if any"
        )
    return (
        f"probabilities[:, k] = the output of class k, classes {', '.join(multiclass.names)} "
        "(multi:softprob); the score (discriminant) is computed from them as manifest.json says"
    )


def check_onnx(mods: dict, k: int, path: Path, X: np.ndarray, expected: np.ndarray) -> dict:
    """The ONNX model's ``probabilities`` against the expected score (column 1) or, for a
    multiclass model, the expected class outputs (every column), to :data:`ONNX_TOLERANCE`."""
    session = mods["onnxruntime"].InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = [o.name for o in session.get_outputs()]
    probabilities = np.asarray(session.run([outputs[-1]], {"features": X})[0])
    got = probabilities if expected.ndim == 2 else probabilities[:, 1]
    diff = float(np.max(np.abs(got - expected))) if len(X) else 0.0
    if not diff <= ONNX_TOLERANCE:
        msg = (
            f"closure test failed: the ONNX model of fold {k} differs from XGBoost by up to "
            f"{diff:.3g} (tolerance {ONNX_TOLERANCE:g}); onnxmltools "
            f"{mods['onnxmltools'].__version__} may not support this XGBoost version"
        )
        raise DataError(msg)
    return {"onnx_max_abs_diff": diff, "onnx_tolerance": ONNX_TOLERANCE}

"""Export: the K fold models for use outside hepml (C++/ROOT, CMSSW, Athena), with a manifest.

``hepml export`` writes into one directory:

- ``fold<k>.json``: the XGBoost model of fold k (XGBoost's own JSON; ROOT's
  ``TMVA::Experimental::RBDT::LoadXGBoost`` reads it);
- ``fold<k>.onnx``: the same model as ONNX (``ai.onnx.ml`` tree ensemble, via onnxmltools;
  output ``probabilities[:, 1]`` = the score, or a multiclass model's K class outputs), when
  the ``onnx`` extra is installed;
- ``hepml_folds.h``: a self-contained C++ header computing an event's fold (which model to
  use) exactly as :func:`hepml.folds.fold_of_event` does;
- ``manifest.json``: features in order with their expressions and fill values, the selection,
  the fold definition (hash, seed, K, event-number branches, test vectors), the training
  config hash and the full config, library versions, file checksums, and the closure test.

The closure test: on the test events of each fold (their features read back from the ingest
tables), the exported JSON model must reproduce the out-of-fold scores training wrote bit for
bit, and the ONNX model to 1e-5 (checked with onnxruntime). With class outputs or calibrated
outputs (:mod:`hepml.score_outputs`), every output column recomputed from the exported model
and the outputs its manifest entry records must equal training's bit for bit. A failure stops
the export and leaves no output.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import xgboost as xgb

from hepml.atomic import atomic_directory, write_json
from hepml.config import Config
from hepml.exceptions import DataError, FoldMismatch, HepmlError
from hepml.export.manifest import fold_header, manifest
from hepml.export.onnx import check_onnx, onnx_modules, write_onnx
from hepml.models import FoldModels
from hepml.outputs import check_outputs
from hepml.score_outputs import ScoreOutputs, class_suffix
from hepml.tables.features import load_dataset

__all__ = ["closure_outputs", "closure_sample", "export_models"]

log = logging.getLogger(__name__)

_FLOAT32_MAX = np.finfo(np.float32).max


def closure_sample(
    config: Config,
    tables: Mapping[str, str | Path],
    score_paths: Sequence[str | Path],
    *,
    max_events: int = 2000,
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per fold k: features (float32) and out-of-fold scores of up to ``max_events`` test events.

    The events are matched by (sample, file, entry) between the ingest tables and the
    ``scores.parquet`` written by training.
    """
    data = load_dataset(tables, config.feature_names)
    names = sorted(set(data.sample))
    data_keys = _keys(data.sample, data.file, data.entry, names)
    order = np.argsort(data_keys)
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    expected_columns = _expected_columns(config)
    for path in score_paths:
        columns = ["sample", "file", "entry", "set", "model_fold", *expected_columns]
        t = pq.read_table(path, columns=columns)
        cols = {c: t.column(c).to_numpy(zero_copy_only=False) for c in t.column_names}
        test = np.flatnonzero(cols["set"].astype(str) == "test")[:max_events]
        if not len(test):
            continue
        k = int(cols["model_fold"][test[0]])
        sample = cols["sample"][test].astype(str)
        unknown = sorted(set(sample) - set(names))
        if unknown:
            msg = f"'{path}' scores sample '{unknown[0]}', which no ingest table holds"
            raise FoldMismatch(msg)
        keys = _keys(sample, cols["file"][test], cols["entry"][test], names)
        pos = np.searchsorted(data_keys, keys, sorter=order)
        rows = order[np.minimum(pos, len(order) - 1)]
        if not np.array_equal(data_keys[rows], keys):
            msg = f"events scored in '{path}' are missing from the ingest tables: rerun ingest"
            raise FoldMismatch(msg)
        expected = np.column_stack([cols[c][test] for c in expected_columns]).astype(np.float64)
        out[k] = (data.X[rows], expected if len(expected_columns) > 1 else expected[:, 0])
    folds = config.training.folds
    if sorted(out) != list(range(folds)):
        msg = f"the closure test needs test scores of folds 0..{folds - 1}, got {sorted(out)}"
        raise FoldMismatch(msg)
    return out


def _expected_columns(config: Config) -> list[str]:
    """The score-table columns the exported model must reproduce: the score, or the class
    outputs of a multiclass model (the booster's own prediction)."""
    multiclass = config.training.multiclass
    if multiclass is None:
        return ["score"]
    return [f"score{class_suffix(name)}" for name in multiclass.names]


def closure_outputs(
    score_paths: Sequence[str | Path], suffixes: Sequence[str], *, max_events: int = 2000
) -> dict[int, dict[str, np.ndarray]]:
    """Per fold k: suffix -> the score table's column ``score<suffix>`` on the test events
    :func:`closure_sample` takes (the first ``max_events`` test rows, in table order)."""
    out = {}
    columns = [f"score{s}" for s in suffixes]
    for path in score_paths:
        t = pq.read_table(path, columns=["set", "model_fold", *columns])
        test = np.flatnonzero(t.column("set").to_numpy(zero_copy_only=False).astype(str) == "test")
        test = test[:max_events]
        if len(test):
            k = int(t.column("model_fold").to_numpy()[test[0]])
            out[k] = {s: t.column(f"score{s}").to_numpy()[test] for s in suffixes}
    return out


def _keys(sample: np.ndarray, file: np.ndarray, entry: np.ndarray, names: list[str]) -> np.ndarray:
    """One uint64 per event: sample index (8 bits), file index (20 bits), entry (36 bits)."""
    index = np.searchsorted(names, sample).astype(np.uint64)
    return (
        (index << np.uint64(56))
        | (file.astype(np.uint64) << np.uint64(36))
        | entry.astype(np.uint64)
    )


def export_models(
    config: Config,
    models: FoldModels,
    closure: Mapping[int, tuple[np.ndarray, np.ndarray]],
    output_dir: str | Path,
    *,
    onnx: str = "auto",
    files: Mapping[str, Sequence[str]] | None = None,
    outputs: Mapping[int, Mapping[str, np.ndarray]] | None = None,
) -> dict[str, Any]:
    """Write the export directory (see the module docstring); return the manifest.

    ``onnx``: ``yes`` (fail without the extra), ``no``, or ``auto`` (ONNX when installed).
    ``files``: each training sample's input files in order (the ingest summaries' ``files``),
    recorded in the manifest when folds come from (file, entry); required then.
    ``outputs``: per fold, the score table's output columns (:func:`closure_outputs`), which
    the exported model with its recorded outputs (discriminant, calibration) must reproduce.
    """
    if config.folds_from_entries and not files:
        msg = (
            "event_number is none: the folds depend on each sample's file list, which the "
            "export must record; pass the ingest summaries (hepml export --summaries)"
        )
        raise HepmlError(msg)
    modules = onnx_modules(onnx)
    check_outputs(directories={output_dir: "export"}, inputs=models.paths)
    with atomic_directory(output_dir, "export") as tmp:
        entries, checks = [], []
        for k, source in enumerate(models.paths):
            X, expected = closure[k]
            entry = {"fold": k, "xgboost_json": f"fold{k}.json", "onnx": None}
            shutil.copyfile(source, tmp / entry["xgboost_json"])
            booster = xgb.Booster(model_file=str(tmp / entry["xgboost_json"]))
            check = _closure_xgboost(k, booster, X, expected)
            if models.outputs:
                entry["outputs"] = models.outputs[k].record()
                check |= _closure_outputs(k, models.outputs[k], booster, X, (outputs or {}).get(k))
            if modules is not None:
                entry["onnx"] = f"fold{k}.onnx"
                write_onnx(modules, booster, config, k, tmp / entry["onnx"])
                check |= check_onnx(modules, k, tmp / entry["onnx"], X, expected)
            entry["best_iteration"] = booster.num_boosted_rounds() - 1
            entry["sha256"] = {
                name: _sha256(tmp / name)
                for name in (entry["xgboost_json"], entry["onnx"])
                if name is not None
            }
            entries.append(entry)
            checks.append(check)
        (tmp / "hepml_folds.h").write_text(fold_header(config), encoding="utf-8")
        record = manifest(config, entries, checks, modules, files)
        write_json(tmp / "manifest.json", record)
    log.info("exported %d fold models to %s", len(entries), output_dir)
    return record


def _closure_xgboost(k: int, booster: xgb.Booster, X: np.ndarray, expected: np.ndarray) -> dict:
    got = booster.inplace_predict(X, validate_features=False).astype(np.float64)
    differ = int(np.count_nonzero(got != expected))
    if differ:
        msg = (
            f"closure test failed: the exported model of fold {k} gives other scores than "
            f"training for {differ} of {len(X)} test events (max |diff| "
            f"{np.max(np.abs(got - expected)):.3g}); the model and scores.parquet do not belong "
            "together: rerun the train rule"
        )
        raise DataError(msg)
    # ROOT's RBDT sends NaN (missing) values right at every split, whatever XGBoost learned:
    # emulate it with +max float32, and report how much the scores would change.
    nan_right = np.where(np.isnan(X), _FLOAT32_MAX, X)
    rbdt = booster.inplace_predict(nan_right, validate_features=False).astype(np.float64)
    return {
        "fold": k,
        "events": len(X),
        "xgboost_json_identical": True,
        "nan_right_max_abs_diff": float(np.max(np.abs(rbdt - expected))) if len(X) else 0.0,
    }


def _closure_outputs(
    k: int, outputs: ScoreOutputs, booster: xgb.Booster, X: np.ndarray, expected
) -> dict[str, Any]:
    """The outputs (score, class outputs, calibrated) recomputed from the exported model and
    the recorded outputs must equal the score table's, bit for bit."""
    if expected is None:
        msg = f"closure test: no output columns of fold {k} given (closure_outputs)"
        raise HepmlError(msg)
    got = outputs.columns(booster.inplace_predict(X, validate_features=False))
    for suffix, values in expected.items():
        differ = int(np.count_nonzero(got[suffix] != values))
        if differ:
            msg = (
                f"closure test failed: column 'score{suffix}' of fold {k} differs from training "
                f"for {differ} of {len(X)} test events: the model's metadata (its recorded "
                "outputs) and scores.parquet do not belong together: rerun the train rule"
            )
            raise DataError(msg)
    return {"outputs_identical": sorted(f"score{s}" for s in expected)}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()

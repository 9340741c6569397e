"""Export: the K fold models for use outside hepml (C++/ROOT, CMSSW, Athena), with a manifest.

``hepml export`` writes into one directory:

- ``fold<k>.json``: the XGBoost model of fold k (XGBoost's own JSON; ROOT's
  ``TMVA::Experimental::RBDT::LoadXGBoost`` reads it);
- ``fold<k>.onnx``: the same model as ONNX (``ai.onnx.ml`` tree ensemble, via onnxmltools;
  output ``probabilities[:, 1]`` = P(signal)), when the ``onnx`` extra is installed;
- ``hepml_folds.h``: a self-contained C++ header computing an event's fold (which model to
  use) exactly as :func:`hepml.folds.fold_of_event` does;
- ``manifest.json``: features in order with their expressions and fill values, the selection,
  the fold definition (hash, seed, K, event-number branches, test vectors), the training
  config hash and the full config, library versions, file checksums, and the closure test.

The closure test: on the test events of each fold (their features read back from the ingest
tables), the exported JSON model must reproduce the out-of-fold scores training wrote bit for
bit, and the ONNX model to 1e-5 (checked with onnxruntime). A failure stops the export and
leaves no output.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import xgboost as xgb

from hepml.apply.scoring import ScoreOptions, friend_names, plan_files, score_files
from hepml.atomic import atomic_directory, atomic_path, storage_errors, write_json
from hepml.config import Config, Sample, config_from_dict
from hepml.exceptions import DataError, FoldMismatch, HepmlError
from hepml.folds import fold_of_event
from hepml.ingest.reading import BadFiles
from hepml.models import FoldModels, check_models
from hepml.outputs import check_outputs
from hepml.tables.features import load_dataset

__all__ = ["ONNX_TOLERANCE", "closure_sample", "export_models", "load_export", "score_with_export"]

log = logging.getLogger(__name__)

ONNX_TOLERANCE = 1e-5  # max |ONNX - XGBoost| allowed in the closure test
_FLOAT32_MAX = np.finfo(np.float32).max
_TEST_IDS = [0, 1, 2, 12345, 987654321, 2**32 + 7, 2**63 + 11, 2**64 - 1]


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
    for path in score_paths:
        t = pq.read_table(path, columns=["sample", "file", "entry", "score", "set", "model_fold"])
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
        out[k] = (data.X[rows], cols["score"][test].astype(np.float64))
    folds = config.training.folds
    if sorted(out) != list(range(folds)):
        msg = f"the closure test needs test scores of folds 0..{folds - 1}, got {sorted(out)}"
        raise FoldMismatch(msg)
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
) -> dict[str, Any]:
    """Write the export directory (see the module docstring); return the manifest.

    ``onnx``: ``yes`` (fail without the extra), ``no``, or ``auto`` (ONNX when installed).
    ``files``: each training sample's input files in order (the ingest summaries' ``files``),
    recorded in the manifest when folds come from (file, entry); required then.
    """
    if config.folds_from_entries and not files:
        msg = (
            "event_number is none: the folds depend on each sample's file list, which the "
            "export must record; pass the ingest summaries (hepml export --summaries)"
        )
        raise HepmlError(msg)
    onnx_modules = _onnx_modules(onnx)
    check_outputs(directories={output_dir: "export"}, inputs=models.paths)
    with atomic_directory(output_dir, "export") as tmp:
        entries, checks = [], []
        for k, source in enumerate(models.paths):
            X, expected = closure[k]
            entry = {"fold": k, "xgboost_json": f"fold{k}.json", "onnx": None}
            shutil.copyfile(source, tmp / entry["xgboost_json"])
            booster = xgb.Booster(model_file=str(tmp / entry["xgboost_json"]))
            check = _closure_xgboost(k, booster, X, expected)
            if onnx_modules is not None:
                entry["onnx"] = f"fold{k}.onnx"
                _write_onnx(onnx_modules, booster, config, k, tmp / entry["onnx"])
                check |= _closure_onnx(onnx_modules, k, tmp / entry["onnx"], X, expected)
            entry["best_iteration"] = booster.num_boosted_rounds() - 1
            entry["sha256"] = {
                name: _sha256(tmp / name)
                for name in (entry["xgboost_json"], entry["onnx"])
                if name is not None
            }
            entries.append(entry)
            checks.append(check)
        (tmp / "hepml_folds.h").write_text(fold_header(config), encoding="utf-8")
        manifest = _manifest(config, entries, checks, onnx_modules, files)
        write_json(tmp / "manifest.json", manifest)
    log.info("exported %d fold models to %s", len(entries), output_dir)
    return manifest


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


def _onnx_modules(mode: str) -> dict[str, Any] | None:
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


def _write_onnx(mods: dict, booster: xgb.Booster, config: Config, k: int, path: Path) -> None:
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
            "hepml_output": "probabilities[:, 1] = P(signal)",
        },
    )
    path.write_bytes(model.SerializeToString())


def _closure_onnx(mods: dict, k: int, path: Path, X: np.ndarray, expected: np.ndarray) -> dict:
    session = mods["onnxruntime"].InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = [o.name for o in session.get_outputs()]
    probabilities = session.run([outputs[-1]], {"features": X})[0]
    diff = float(np.max(np.abs(np.asarray(probabilities)[:, 1] - expected))) if len(X) else 0.0
    if not diff <= ONNX_TOLERANCE:
        msg = (
            f"closure test failed: the ONNX model of fold {k} differs from XGBoost by up to "
            f"{diff:.3g} (tolerance {ONNX_TOLERANCE:g}); onnxmltools "
            f"{mods['onnxmltools'].__version__} may not support this XGBoost version"
        )
        raise DataError(msg)
    return {"onnx_max_abs_diff": diff, "onnx_tolerance": ONNX_TOLERANCE}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fold_header(config: Config) -> str:
    """A self-contained C++17 header with the fold function of :mod:`hepml.folds`.

    With event numbers it defines ``fold_of_event(id0, ...)``; with ``event_number: none`` it
    defines ``fold_of_entry(file_index, entry)``, the file index being the position of the
    file in the sample's file list that the manifest records (``folds.files``).
    """
    if config.folds_from_entries:
        ids = names = ["file_index", "entry"]
        what = (
            "// Folds from (file_index, entry): the config has event_number: none. file_index is\n"
            "// the position of the file in its sample's file list (manifest.json, folds.files),\n"
            "// entry the entry number (0-based) within that file.\n"
        )
        function = "fold_of_entry"
    else:
        ids = list(config.event_number)
        names = [f"id{i}" for i in range(len(ids))]  # branch names need not be C++ names
        what = f"// Event-number branches, in order: {', '.join(ids)}.\n"
        function = "fold_of_event"
    params = ", ".join(f"std::uint64_t {n}" for n in names)
    mix = "\n".join(
        f"    h = splitmix64(h ^ {n});  // {b}" for n, b in zip(names, ids, strict=True)
    )
    return f"""// hepml_folds.h: the cross-validation fold of an event, exactly as hepml computes.
// Generated by `hepml export` for training config hash {config.training_hash()}.
// Score an event with the model of its fold (fold<k>.json / fold<k>.onnx): the one model
// that never saw the event in training. Signed event numbers: pass them cast to std::uint64_t.
#pragma once
#include <cstdint>

namespace hepml {{

constexpr int kFolds = {config.training.folds};
constexpr std::uint64_t kFoldSeed = {config.seed}ULL;

// SplitMix64 finaliser (wrapping unsigned 64-bit arithmetic).
inline std::uint64_t splitmix64(std::uint64_t z) {{
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}}

{what}inline int {function}({params}) {{
    std::uint64_t h = splitmix64(kFoldSeed);
{mix}
    return static_cast<int>(h % static_cast<std::uint64_t>(kFolds));
}}

}}  // namespace hepml
"""


def _folds_section(config: Config, files: Mapping[str, Sequence[str]] | None) -> dict[str, Any]:
    """How an event's fold is computed, with test vectors; the file lists for entry folds."""
    n_ids = 2 if config.folds_from_entries else len(config.event_number)
    ids = [np.array(_TEST_IDS, dtype=np.uint64)] * n_ids
    section: dict[str, Any] = {
        "k": config.training.folds,
        "seed": config.seed,
        "event_number": list(config.event_number),
        "source": "file_entry" if config.folds_from_entries else "event_number",
        "hash": "h = splitmix64(seed); h = splitmix64(h ^ id) for each id; fold = h % k",
        "header": "hepml_folds.h",
        "model_of_fold": "fold<k>.* scores the events of fold k (it never trained on them)",
        "test_vectors": {
            "ids": [str(v) for v in _TEST_IDS],
            "fold_when_every_id_is_this_value": fold_of_event(
                ids, config.training.folds, config.seed
            ).tolist(),
        },
    }
    if config.folds_from_entries:
        section["ids"] = ["file_index", "entry"]
        section["function"] = "fold_of_entry(file_index, entry)"
        section["files"] = {name: list(paths) for name, paths in (files or {}).items()}
    else:
        section["ids"] = list(config.event_number)
        section["function"] = f"fold_of_event({', '.join(config.event_number)})"
    return section


def _manifest(
    config: Config,
    entries: list,
    checks: list,
    onnx_modules,
    files: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    return {
        "format": "hepml-export-1",
        "config_hash": config.training_hash(),
        "objective": "binary:logistic: the score is P(signal) in [0, 1]",
        "features": [
            {
                "index": i,
                "name": f.name,
                "expr": f.expr,
                "fill": None if np.isnan(f.fill) else f.fill,  # None: NaN, XGBoost's missing
            }
            for i, f in enumerate(config.features)
        ],
        "selection": [{"name": c.name, "expr": c.expr} for c in config.selection],
        "folds": _folds_section(config, files),
        "models": entries,
        "closure": checks,
        "versions": _versions(onnx_modules is not None),
        "config": config.raw,
    }


def _versions(with_onnx: bool) -> dict[str, str]:
    names = ["hepml", "xgboost", "numpy", "uproot", "awkward", "pyarrow"]
    if with_onnx:
        names += ["onnx", "onnxmltools", "onnxruntime"]
    return {"python": platform.python_version(), **{n: metadata.version(n) for n in names}}


def load_export(export_dir: str | Path, *, threads: int = 1) -> tuple[Config, FoldModels, dict]:
    """The config, fold models and manifest of an export directory, checked.

    Every file the manifest lists must have the SHA-256 it records (an edited, truncated or
    swapped model is refused, naming it), the config must give the recorded hash, and the
    models must fit the config (:func:`hepml.models.check_models`).
    """
    export_dir = Path(export_dir)
    path = export_dir / "manifest.json"
    manifest = _read_manifest(export_dir, path)
    try:
        config = config_from_dict(manifest["config"], source=str(path))
        recorded = manifest["config_hash"]
        features = [f["name"] for f in manifest["features"]]
        entries = [
            (int(e["fold"]), e["xgboost_json"], dict(e["sha256"])) for e in manifest["models"]
        ]
    except (KeyError, TypeError, ValueError) as err:
        msg = f"'{path}' is not a complete hepml export manifest ({err!r} is wrong or missing)"
        raise FoldMismatch(msg) from err
    if config.training_hash() != recorded:
        msg = (
            f"'{path}': its config gives hash {config.training_hash()} but it records "
            f"{recorded}; was it edited, or written by another hepml version?"
        )
        raise FoldMismatch(msg)
    by_hash = {h: fold for fold, _, hashes in entries for h in hashes.values()}
    loaded = []
    for fold, name, hashes in entries:
        for listed, digest in hashes.items():
            raw = _verified(export_dir / listed, fold, digest, by_hash)
            if listed == name:
                meta = {"features": features, "config_hash": recorded, "model_fold": fold}
                loaded.append((str(export_dir / name), _booster(export_dir / name, raw), meta))
    return config, check_models(config, loaded, threads=threads), manifest


def _read_manifest(export_dir: Path, path: Path) -> dict[str, Any]:
    if not path.is_file():
        msg = f"'{export_dir}' is not a hepml export: it has no manifest.json (run hepml export)"
        raise FoldMismatch(msg)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        msg = f"'{path}' is not valid JSON ({err}): the export is damaged, export again"
        raise FoldMismatch(msg) from err
    if not isinstance(manifest, dict):
        msg = f"'{path}' is not a hepml export manifest (not a JSON object)"
        raise FoldMismatch(msg)
    return manifest


def _verified(path: Path, fold: int, expected: str, by_hash: Mapping[str, int]) -> bytes:
    """The bytes of exported file ``path`` of model ``fold``, which must hash to ``expected``."""
    if not path.is_file():
        msg = f"exported model '{path}' is missing"
        raise FoldMismatch(msg)
    raw = path.read_bytes()
    found = hashlib.sha256(raw).hexdigest()
    if found != expected:
        other = by_hash.get(found)
        what = (
            f"which is the file of fold {other}: the files were swapped"
            if other is not None
            else "so it was edited, truncated or replaced"
        )
        msg = (
            f"exported model '{path}' is not the fold {fold} model the manifest lists: expected "
            f"sha256 {expected[:16]}..., found {found[:16]}..., {what}. Export again."
        )
        raise FoldMismatch(msg)
    return raw


def _booster(path: Path, raw: bytes) -> xgb.Booster:
    try:
        return xgb.Booster(model_file=bytearray(raw))
    except xgb.core.XGBoostError as err:
        msg = f"exported model '{path}' is not a readable XGBoost model: export again"
        raise FoldMismatch(msg) from err


def score_with_export(
    export_dir: str | Path,
    files: Sequence[str],
    output_dir: str | Path,
    *,
    tree: str = "events",
    mode: str = "fold",
    parquet: bool = False,
    threads: int = 1,
    on_bad_file: str | None = None,
) -> list[dict[str, Any]]:
    """Score ROOT files with an export: a friend file per input (and ``scores.parquet``).

    Folds come from the event-number branches of the export's config; without them, from
    the position of each file in the sorted list of ``files`` (which then must be the list
    the models were trained on to reproduce their out-of-fold scores). A bad file (not
    ROOT, truncated, corrupt) stops the run naming it, or with ``on_bad_file="skip"`` is
    left out with a warning: no friend file, no Parquet rows, ``friend`` None in its record
    (default: the export's ``reading.on_bad_file``).
    """
    config, models, _ = load_export(export_dir, threads=threads)
    sample = Sample(
        "score", "data", tuple(files), tree, "1", "1", process="score", on_bad_file=on_bad_file
    )
    bad = BadFiles.of(config, sample)
    inputs, plan = plan_files(config, sample, bad)
    options = ScoreOptions(
        mode=mode,
        fill=config.apply.fill,
        branch=config.apply.branch,
        friend_tree=config.apply.friend_tree,
        step_size=config.reading.step_size,
    )
    out = Path(output_dir)
    names = [
        n for n, f in zip(friend_names(inputs), inputs, strict=True) if f.path not in bad.skipped
    ]
    check_outputs(
        files=[out / n for n in [*names, *(["scores.parquet"] if parquet else [])]],
        inputs=[f.path for f in inputs],
        input_directories=[export_dir],
    )
    with (
        storage_errors(out),
        tempfile.TemporaryDirectory(prefix=".hepml-score.", dir=_mkdir(out)) as tmp,
    ):
        table = Path(tmp) / "scores.parquet" if parquet else None
        records = score_files(
            config, inputs, plan, models, options, friend_dir=Path(tmp), parquet=table, bad=bad
        )
        written = [r["friend"] for r in records if r["friend"] is not None]
        for name in [*written, *(["scores.parquet"] if parquet else [])]:
            with atomic_path(out / name) as target:  # checked, recorded, complete or absent
                (Path(tmp) / name).replace(target)
    if bad.skipped:
        log.warning("%d bad file(s) skipped: %s", len(bad.skipped), ", ".join(bad.skipped))
    return records


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path

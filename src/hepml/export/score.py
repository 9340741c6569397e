"""An export read back and used: ``hepml score`` scores ntuples with the exported models,
without the analysis config or results (the manifest holds everything), every model's
SHA-256 checked first.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import xgboost as xgb

from hepml.apply.scoring import ScoreOptions, friend_names, plan_files, score_files
from hepml.atomic import atomic_path, storage_errors
from hepml.config import Config, Sample, config_from_dict
from hepml.exceptions import FoldMismatch
from hepml.ingest.reading import BadFiles
from hepml.models import FoldModels, check_models
from hepml.outputs import check_outputs

__all__ = ["load_export", "score_with_export"]

log = logging.getLogger(__name__)


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
        recorded_outputs = {int(e["fold"]): e.get("outputs") for e in manifest["models"]}
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
                meta["outputs"] = recorded_outputs[fold]  # class and calibrated outputs
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
        n
        for n, f in zip(friend_names([f.path for f in inputs]), inputs, strict=True)
        if f.path not in bad.skipped
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

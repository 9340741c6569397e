"""A run's fold models, loaded and verified, scoring events from a notebook or a framework.

:func:`load_models` reads the K fold models of a results directory or an export directory
and verifies them as every hepml command does (:mod:`hepml.models`, :mod:`hepml.export.score`);
:meth:`Models.predict` computes the configured features and selection of any events with the
expression code of ingest (:mod:`hepml.ingest.sample_plan`) and scores each selected event
with its out-of-fold model, exactly as ``hepml apply`` does (:mod:`hepml.apply.scoring`): the
scores equal the training's out-of-fold scores and the friend trees, bit for bit.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from hepml.apply.samples import sample_to_apply
from hepml.apply.scoring import Chunk, chunk_features, score_chunk
from hepml.config import Config, Sample, load_config
from hepml.exceptions import ConfigError, DataError, FoldMismatch, UnknownBranch, did_you_mean
from hepml.export.score import load_export
from hepml.ingest.files import TREE_SUFFIX, InputFile, explicit_files, is_remote
from hepml.ingest.reading import iterate_file
from hepml.ingest.sample_plan import check_files, plan_sample
from hepml.ingest.sources.arrays import ArraySource
from hepml.models import MODES, FoldModels, check_models, read_training_models

__all__ = ["Models", "Prediction", "load_models"]

log = logging.getLogger(__name__)


class Prediction(NamedTuple):
    """What :meth:`Models.predict` returns: one value per event given, in their order."""

    score: np.ndarray
    """P(signal) of each event (float64); ``fill`` (NaN by default) where the selection fails."""
    selected: np.ndarray
    """Whether each event passes the config's selection (bool)."""
    fold: np.ndarray | None
    """The fold of each event (int8), whose model scored it; None in ``mean`` mode."""


class Models:
    """The K fold models of a run, verified, with the config they were trained under.

    Made by :func:`load_models`. Model k tested on fold k and never trained or early-stopped
    on its events, so :meth:`predict` scores an event of fold k with model k (``fold`` mode):
    a simulated event gets the same score as its out-of-fold score from training.
    """

    def __init__(
        self,
        config: Config,
        models: FoldModels,
        *,
        source: Path,
        files: Mapping[str, list[set[str]]],
    ) -> None:
        self._config, self._models, self._source = config, models, source
        self._files = {name: list(paths) for name, paths in files.items()}

    @property
    def config(self) -> Config:
        """The validated config the models were trained under (:class:`hepml.config.Config`)."""
        return self._config

    @property
    def features(self) -> tuple[str, ...]:
        """The names of the models' features, in the order the models take them."""
        return self._models.features

    @property
    def folds(self) -> int:
        """K, the number of folds and of models."""
        return self._models.folds

    @property
    def boosters(self) -> tuple[Any, ...]:
        """The ``xgboost.Booster`` of each fold, model k at index k (for SHAP, plots...)."""
        return self._models.boosters

    @property
    def source(self) -> Path:
        """The results or export directory the models were loaded from."""
        return self._source

    def __repr__(self) -> str:
        return (
            f"<hepml.Models: {self.folds} folds, {len(self.features)} features "
            f"({', '.join(self.features)}) from '{self._source}'>"
        )

    def predict(
        self,
        events: Any,
        *,
        mode: str = "fold",
        fill: float = math.nan,
        tree: str | None = None,
        sample: str | None = None,
        file_index: int | None = None,
        entry_start: int = 0,
    ) -> Prediction:
        """Compute the features and selection of ``events`` and score each selected event.

        :param events: the events: an awkward record array (coffea's NanoEvents too:
            ``events.Jet.pt`` is read as ``Jet_pt``, the length of ``events.Jet`` as
            ``nJet``), a dict of numpy or awkward arrays (jagged allowed) named like the
            branches the features, the selection and the event number need, or the path of
            a ROOT (TTree or RNTuple) or Parquet file, optionally ``"file.root:tree"``, read
            in chunks of ``reading.step_size``.
        :param mode: ``"fold"``: each event is scored by the model of its fold, the one that
            never saw it (simulated events, and data to be treated alike); ``"mean"``: the
            mean of the K models (collision data: no event number needed).
        :param fill: the score of events that fail the selection: NaN by default, which no
            score can be mistaken for; ``models.config.apply.fill`` gives the friend trees'.
        :param tree: the tree of a ROOT file given without ``:tree``; default: the tree of
            ``sample``, else of the config's first sample.
        :param sample: read the events as this sample of the config (its ``aliases``: its
            own names for the branches); default: the branch names as the expressions write
            them.
        :param file_index: with ``event_number: none`` in ``fold`` mode, the fold of an
            event is the hash of (file index, entry), the file index being the position of
            its file in its sample's sorted file list. For a file of the run it is found in
            the run's file lists (``results/ingest/<sample>.summary.json``, the export's
            manifest); give it for in-memory events or another copy of the file.
        :param entry_start: in-memory events with ``event_number: none``: the entry number,
            in its file, of the first event (the others follow in order).
        :returns: a :class:`Prediction` (``score``, ``selected``, ``fold``), one value per
            event (per entry of a file) in order.
        :raises UnknownBranch: a branch the features, the selection or the event number
            need is missing (named, with the near match).
        :raises DataError: with ``event_number: none``, the file index of the events is
            unknown (see ``file_index``).
        """
        if mode not in MODES:
            msg = f"mode '{mode}' is not one of {', '.join(MODES)}.{did_you_mean(mode, MODES)}"
            raise ValueError(msg)
        # in mean mode the fold picks no model: the event number is not needed
        config = (
            self._config if mode == "fold" else dataclasses.replace(self._config, event_number=())
        )
        base = self._sample(sample, tree)
        if isinstance(events, str | os.PathLike):
            if entry_start:
                msg = "entry_start is for in-memory events: the entries of a file are its rows"
                raise ValueError(msg)
            return self._predict_file(config, base, os.fspath(events), mode, fill, file_index)
        with ArraySource(events) as source:
            if mode == "fold":
                _check_event_number(config, base, source)
            plan = plan_sample(config, base, source)
            (arrays, _, _) = next(source.iterate(plan.branches, source.num_entries))
            index = self._index(config, mode, file_index, None)
            chunk = chunk_features(
                config, plan, self.features, arrays,
                file_index=index, start=int(entry_start), where=source.where,
            )  # fmt: skip
        return Prediction(
            score_chunk(self._models, chunk, mode, fill),
            chunk.selected,
            chunk.fold if mode == "fold" else None,
        )

    def _predict_file(
        self, config: Config, base: Sample, path: str, mode: str, fill: float, index: int | None
    ) -> Prediction:
        """:meth:`predict` of every entry of one file, read in chunks."""
        (file,) = explicit_files(base.name, [path], base.tree)
        plan, entries = check_files(config, base, [file], None)
        index = self._index(config, mode, index, file)
        n = entries[file.path]
        score = np.empty(n, dtype=np.float64)
        selected = np.empty(n, dtype=bool)
        fold = np.empty(n, dtype=np.int8)
        for arrays, start, stop in iterate_file(file, plan.branches, config.reading.step_size):
            chunk: Chunk = chunk_features(
                config, plan, self.features, arrays, file_index=index, start=start, where=file.path
            )
            score[start:stop] = score_chunk(self._models, chunk, mode, fill)
            selected[start:stop], fold[start:stop] = chunk.selected, chunk.fold
        return Prediction(score, selected, fold if mode == "fold" else None)

    def _sample(self, name: str | None, tree: str | None) -> Sample:
        """The sample whose names the events use (weights are not computed: ``1``)."""
        if name is None:
            first = next(iter(self._config.samples.values()))
            return Sample("events", "data", (), tree or first.tree, "1", "1", process="events")
        sample = sample_to_apply(self._config, name)
        return dataclasses.replace(
            sample, files=(), tree=tree or sample.tree, weight="1", generator_weight="1"
        )

    def _index(self, config: Config, mode: str, given: int | None, file: InputFile | None) -> int:
        """The file index of entry-based folds: given, found in the run's files, or 0 when no
        fold needs it."""
        if mode == "mean" or not config.folds_from_entries:
            return 0
        if given is not None:
            return int(given)
        if file is not None:
            found = _position(file.path, self._files)
            if found is not None:
                return found
        where = "events in memory" if file is None else f"'{file.path}', not a file of this run,"
        msg = (
            "the config has event_number: none, so an event's fold is the hash of (file index, "
            f"entry); for {where} the file index is unknown: pass file_index= (the position of "
            "the events' file in its sample's sorted file list: results/ingest/<sample>"
            ".summary.json, or the export manifest's folds.files) and, for events in memory, "
            "entry_start= (the entry of the first event); or use mode='mean'"
        )
        raise DataError(msg)


def _check_event_number(config: Config, sample: Sample, source: ArraySource) -> None:
    """In-memory events in ``fold`` mode need the event-number branches: say so plainly."""
    for branch in config.event_number:
        if branch in source.names or sample.aliases.get(branch) in source.names:
            continue
        msg = (
            f"{source.where} has no field '{branch}': an event's fold is the hash of its event "
            f"number (event_number: {', '.join(config.event_number)}), and fold mode scores "
            f"each event with the model of its fold.{did_you_mean(branch, source.names)} Add "
            "it (NanoEvents: events.event), or use mode='mean' for events no model trained on."
        )
        raise UnknownBranch(msg)


def _position(path: str, files: Mapping[str, list[set[str]]]) -> int | None:
    """The index of ``path`` in the file list of the sample that holds it (None if none)."""
    target = path if is_remote(path) else os.path.realpath(path)
    for paths in files.values():
        for index, candidates in enumerate(paths):
            if target in candidates:
                return index
    return None


def load_models(
    path: str | os.PathLike[str],
    *,
    config: str | os.PathLike[str] | list | Config | None = None,
    threads: int = 1,
) -> Models:
    """Load and verify the K fold models of a run, from its results or its export.

    :param path: a results directory (``results/``: ``train/fold<k>/model.json`` with the
        ``metadata.json`` beside each, and the run's ``config.yaml``), or an export directory
        (``results/export/``: ``manifest.json`` and the models it lists).
    :param config: the config the models were trained under, for a results directory: a
        path (or list of paths) of YAML files, or a :class:`hepml.config.Config`; default:
        the run's ``results/config.yaml``. An export carries its own.
    :param threads: XGBoost threads when scoring (1 suits one job of many, as in coffea).
    :returns: the :class:`Models`.
    :raises FoldMismatch: a model file was edited, truncated or swapped (its SHA-256 is not the
        one recorded), a fold is missing, or the models' features or training settings are not
        the config's (the feature named, with the near match).
    """
    path = Path(path)
    if (path / "manifest.json").is_file():
        return _from_export(path, config, threads)
    if (path / "train").is_dir():
        return _from_results(path, config, threads)
    hint = f" Did you mean '{path / 'results'}'?" if (path / "results").is_dir() else ""
    msg = (
        f"'{path}' is neither a results directory (train/fold<k>/model.json) nor an export "
        f"directory (manifest.json).{hint}"
    )
    raise FoldMismatch(msg)


def _config_of(config: Any, results: Path) -> Config:
    if isinstance(config, Config):
        return config
    if config is not None:
        return load_config(config)
    merged = results / "config.yaml"
    if not merged.is_file():
        msg = (
            f"'{results}' has no config.yaml (the run writes it at its end, with the provenance "
            "record); pass the config the models were trained under: "
            f"load_models('{results}', config='config/config.yaml')"
        )
        raise ConfigError(msg)
    return load_config(merged)


def _from_results(results: Path, config: Any, threads: int) -> Models:
    cfg = _config_of(config, results)
    paths = [results / "train" / f"fold{k}" / "model.json" for k in range(cfg.training.folds)]
    models = check_models(cfg, read_training_models(paths), threads=threads)
    files = {}
    for name in cfg.samples:
        summary = results / "ingest" / f"{name}.summary.json"
        if summary.is_file():
            files[name] = json.loads(summary.read_text(encoding="utf-8")).get("files", [])
    return Models(cfg, models, source=results, files=_candidates(files, results.parent))


def _from_export(export: Path, config: Any, threads: int) -> Models:
    cfg, models, manifest = load_export(export, threads=threads)
    if config is not None and _config_of(config, export).training_hash() != models.config_hash:
        msg = (
            f"the export '{export}' was made under config hash {models.config_hash}, not the "
            "config given; leave config out (an export carries its own)"
        )
        raise FoldMismatch(msg)
    files = manifest.get("folds", {}).get("files", {})
    return Models(cfg, models, source=export, files=_candidates(files, export.parent.parent))


def _candidates(files: Mapping[str, list], base: Path) -> dict[str, list[set[str]]]:
    """Each recorded file (``path`` or ``path.root:tree``) as the real paths it may name:
    relative paths from the current directory or from the run's directory ``base``."""
    out: dict[str, list[set[str]]] = {}
    for name, entries in files.items():
        out[name] = []
        for entry in entries:
            match = TREE_SUFFIX.match(str(entry))
            path = match["path"] if match else str(entry)
            if is_remote(path) or Path(path).is_absolute():
                out[name].append({path if is_remote(path) else os.path.realpath(path)})
            else:
                out[name].append({os.path.realpath(path), os.path.realpath(base / path)})
    return out

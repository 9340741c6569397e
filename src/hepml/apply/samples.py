"""Apply: the trained fold models scored back into the ntuples, as friend trees and Parquet.

Every sample of ``samples`` (the MC the models trained on, and collision data with label ``data``)
and each extra sample of the ``apply`` section is scored file by file with
:mod:`hepml.apply.scoring`. MC events are always scored by the model of their fold (the one that
never saw them); events of data and extra samples by the model of their fold or by the mean of all
models (``apply.data_model``).

Outputs of sample ``S`` under ``output_dir``:

- ``S/<source file name>``: one friend ROOT file per input file, tree ``apply.friend_tree``
  (default ``hepml``) with one entry per source entry in the same order;
- ``S.parquet``: the same columns for all files, plus ``file`` (index into the file list of
  the summary) and ``entry``;
- ``S.json``: the summary (files, friend files, counts, models, config hash, mode, and the
  ``skipped_files`` with the reason).

Everything is checked (models against the config, every file's branches, the outputs against
the inputs and against what hepml wrote before: :mod:`hepml.outputs`) before anything is
written, and every output appears atomically. Bad files (not ROOT, truncated, corrupt, no
entries) follow ``on_bad_file`` as in ingest: an error naming the file, or (``skip``) a
warning, no friend file and no Parquet rows for it, and its record in ``skipped_files``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from hepml.atomic import atomic_directory, atomic_path, write_json
from hepml.config import Config, Sample
from hepml.exceptions import ConfigError, did_you_mean
from hepml.outputs import check_outputs

if TYPE_CHECKING:  # the merge of parts reads this module: no uproot, awkward or XGBoost
    from hepml.apply.scoring import ScoreOptions
    from hepml.models import FoldModels

__all__ = [
    "ApplyPart",
    "apply_sample",
    "apply_samples",
    "is_training_sample",
    "options_for",
    "output_paths",
    "sample_to_apply",
]

log = logging.getLogger(__name__)

# the Parquet table of a part whose every file was skipped before any was read (no columns
# of scores known): the merge passes over it
EMPTY_PART_COLUMNS = {"file": pa.int32(), "entry": pa.int64()}


def apply_samples(config: Config) -> list[str]:
    """Names of every sample ``hepml apply`` scores: ``samples`` (MC and data), then the extra."""
    return [*config.samples, *config.apply.samples]


def sample_to_apply(config: Config, name: str) -> Sample:
    """The training or extra sample called ``name``."""
    sample = config.samples.get(name) or config.apply.samples.get(name)
    if sample is None:
        hint = did_you_mean(name, apply_samples(config))
        msg = f"no sample '{name}' in the config (neither under samples nor apply.samples).{hint}"
        raise ConfigError(msg)
    return sample


def is_training_sample(config: Config, name: str) -> bool:
    """True for the MC samples the models trained on (label signal or background)."""
    sample = config.samples.get(name)
    return sample is not None and sample.label in ("signal", "background")


def options_for(config: Config, name: str) -> ScoreOptions:
    from hepml.apply.scoring import ScoreOptions

    """Training (MC) samples: always the fold model; data and extra samples: ``data_model``."""
    return ScoreOptions(
        mode="fold" if is_training_sample(config, name) else config.apply.data_model,
        fill=config.apply.fill,
        branch=config.apply.branch,
        friend_tree=config.apply.friend_tree,
        step_size=config.reading.step_size,
    )


def output_paths(config: Config, name: str, output_dir: str | Path) -> dict[str, Path | None]:
    """Where ``apply_sample`` writes: friend directory, Parquet table, summary JSON (``name``
    is the sample, or ``partK`` for part K of a sample split into jobs)."""
    out = Path(output_dir)
    return {
        "friends": out / name if config.apply.root else None,
        "parquet": out / f"{name}.parquet" if config.apply.parquet else None,
        "summary": out / f"{name}.json",
    }


@dataclass(frozen=True)
class ApplyPart:
    """Part ``index`` of a sample split into jobs: its first file's index in the sample, and
    whether the sample's friend names carry the file index (:mod:`hepml.apply.friends`)."""

    index: int
    first_file: int = 0
    indexed_names: bool = False


def apply_sample(
    config: Config,
    name: str,
    models: FoldModels,
    output_dir: str | Path,
    *,
    files: Sequence[str] | None = None,
    part: ApplyPart | None = None,
) -> dict[str, Any]:
    """Score every file of sample ``name`` and write its outputs; return the summary.

    ``files`` (in order) replaces the sample's globs, as for ingest. With ``part``, the files
    are one part of the sample: the outputs are ``partK/``, ``partK.parquet`` and
    ``partK.json`` in ``output_dir``, merged by :func:`hepml.apply.merge.merge_parts`.
    """
    from hepml.apply.scoring import plan_files, score_files
    from hepml.ingest.reading import BadFiles

    sample = sample_to_apply(config, name)
    options = options_for(config, name)
    bad = BadFiles.of(config, sample)
    if part is not None:  # another part may hold the sample's good files
        bad = BadFiles(sample.name, bad.policy, require_good=False)
    # every file checked before anything is written
    files, plan = plan_files(config, sample, bad, files)
    bad.phase = 1
    paths = output_paths(config, name if part is None else f"part{part.index}", output_dir)
    check_outputs(
        files=[p for key, p in paths.items() if key != "friends" and p is not None],
        directories={paths["friends"]: "apply"} if paths["friends"] is not None else {},
        inputs=[*(f.path for f in files), *models.paths, *_metadata_paths(models.paths)],
    )
    with contextlib.ExitStack() as stack:
        friends = parquet = None
        if paths["friends"] is not None:
            friends = stack.enter_context(atomic_directory(paths["friends"], "apply"))
        if paths["parquet"] is not None:
            parquet = stack.enter_context(atomic_path(paths["parquet"]))
        records = score_files(
            config,
            files,
            plan,
            models,
            options,
            friend_dir=friends,
            parquet=parquet,
            bad=bad,
            first_file=0 if part is None else part.first_file,
            indexed_names=None if part is None else part.indexed_names,
        )
        if parquet is not None and not parquet.stat().st_size:  # a part of skipped files
            pq.write_table(pa.schema(EMPTY_PART_COLUMNS).empty_table(), parquet)
    summary = {
        "sample": name,
        "kind": "training" if is_training_sample(config, name) else "data",
        "mode": options.mode,
        "fold_source": None if plan is None else "+".join(plan.id_branches) or "(file, entry)",
        "branch": options.branch,
        "friend_tree": options.friend_tree if friends is not None else None,
        "fill": options.fill,
        "files": records,
        "skipped_files": bad.records(),
        "entries": sum(r["entries"] for r in records),
        "selected": sum(r["selected"] for r in records),
        "friend_dir": str(paths["friends"]) if paths["friends"] is not None else None,
        "parquet": str(paths["parquet"]) if paths["parquet"] is not None else None,
        "models": list(models.paths),
        "config_hash": models.config_hash,
    }
    if models.outputs:  # class and calibrated outputs beside the score (hepml.score_outputs)
        summary["branches"] = [options.branch + suffix for suffix in models.suffixes]
        summary["score"] = models.outputs[0].record()["score"]
    if part is not None:
        summary["part"] = {"index": part.index, "first_file": part.first_file}
        summary["skipped_files"] = [
            {**record, "phase": bad.phases[record["file"]]} for record in bad.records()
        ]
    write_json(paths["summary"], summary)
    log.info(
        "sample '%s': %d of %d entries scored (%s mode, %d file(s) skipped)",
        name,
        summary["selected"],
        summary["entries"],
        options.mode,
        len(bad.skipped),
    )
    return summary


def _metadata_paths(model_paths) -> list[Path]:
    """The metadata.json beside each model (read with it, so an input too)."""
    return [Path(p).with_name("metadata.json") for p in model_paths]

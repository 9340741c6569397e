"""The result of ingesting one sample: counts, normalisation, cutflow, and its summary.

Computed from what the sample's files contributed (:class:`~hepml.ingest.cutflow.FileTally`,
in unnormalised weights) by one job per sample (:mod:`hepml.ingest.sample`) and by the merge of
a sample split into jobs (:mod:`hepml.ingest.partial`) alike, so both give the same numbers.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

from hepml.config import Config, Sample
from hepml.exceptions import DataError
from hepml.ingest.cutflow import Cutflow, FileTally
from hepml.ingest.normalisation import describe_source, normalisation_factor

__all__ = ["IngestResult", "sample_result", "sample_sum_of_weights", "summary_of"]

log = logging.getLogger(__name__)


@dataclass
class IngestResult:
    """What ingesting one sample produced, for the summary and the logs."""

    sample: str
    files: list[str]
    entries: int
    sum_of_weights: float
    normalisation: float
    cutflow: Cutflow
    nan_counts: dict[str, int] = field(default_factory=dict)
    negative_weight_fraction: float = 0.0
    negative_weight_yield: float = 0.0
    fold_source: str = ""
    skipped_files: list[dict[str, str]] = field(default_factory=list)
    sum_of_weights_source: str = ""


def sample_sum_of_weights(sample: Sample, sums: dict[str, float], good: list[str]) -> float:
    """The sum of generator weights of ``sample``: from the config, or the exact (``fsum``)
    sum of the per-file ``sums`` of the ``good`` files, whatever their order or grouping into
    jobs; NaN without a cross section (the weights are used as they are)."""
    if sample.cross_section is None:
        return math.nan
    if sample.sum_of_weights is not None:
        return float(sample.sum_of_weights)
    return math.fsum(sums[path] for path in good)


def sample_result(
    config: Config,
    sample: Sample,
    files: list[str],
    *,
    steps: list[str],
    total: FileTally,
    sum_of_weights: float,
    entries: int,
    skipped: list[dict[str, str]],
    fold_source: str,
) -> IngestResult:
    """One sample's result from what its files contributed (``total``, unnormalised), with
    its normalisation; refuses a sample whose selection keeps nothing or whose yield is not
    positive. Shared by one job per sample and the merge of a sample's parts."""
    norm = normalisation_factor(sample, config.luminosity, sum_of_weights, entries)
    selected = total.events[-1]
    if selected == 0:
        counts = ", ".join(f"{s}: {n}" for s, n in zip(steps, total.events, strict=True))
        msg = f"sample '{sample.name}': the selection keeps no events (cutflow {counts})"
        raise DataError(msg)
    cutflow = Cutflow(steps, total.events, [norm * w for w in total.weighted])
    if not cutflow.weighted[-1] > 0:  # zero, negative or NaN: no expected yield
        msg = (
            f"sample '{sample.name}' ({sample.label}): the selected events' weights sum "
            f"to {cutflow.weighted[-1]:.6g} ({selected} events, "
            f"{total.negative} with negative weight); a sample needs a positive expected "
            f"yield, or its events would count against their class in every table and "
            f"plot. Check the sign of '{sample.weight}', or use more simulated events"
        )
        raise DataError(msg)
    if skipped and sample.sum_of_weights is not None and sample.cross_section:
        log.warning(
            "sample '%s': %d file(s) skipped, but sum_of_weights comes from the config "
            "and still counts their events: the yield is underestimated by their share",
            sample.name,
            len(skipped),
        )
    return IngestResult(
        sample.name,
        files,
        total.events[0],
        sum_of_weights,
        norm,
        cutflow,
        nan_counts=total.nan_counts,
        negative_weight_fraction=total.negative / selected,
        negative_weight_yield=norm * total.negative_weighted,
        fold_source=fold_source,
        skipped_files=skipped,
        sum_of_weights_source=describe_source(sample),
    )


def summary_of(result: IngestResult) -> dict:
    """A JSON-ready summary of one ingested sample, for reviewers and the report."""
    return {
        "sample": result.sample,
        "files": result.files,
        "skipped_files": result.skipped_files,
        "entries": result.entries,
        "selected": result.cutflow.events[-1],
        "sum_of_generator_weights": result.sum_of_weights,
        "sum_of_weights_source": result.sum_of_weights_source,
        "normalisation": result.normalisation,
        "weighted_yield": result.cutflow.weighted[-1],
        "negative_weight_fraction": result.negative_weight_fraction,
        "negative_weight_yield": result.negative_weight_yield,
        "nan_counts": result.nan_counts,
        "fold_source": result.fold_source,
    }

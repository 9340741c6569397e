"""Luminosity normalisation of MC samples: the sum of generator weights and the scale factor.

A simulated sample of cross section sigma (pb) stands for ``sigma * L`` events at an integrated
luminosity ``L`` (fb^-1, times 1000 for pb^-1); each event carries ``w_i`` = its generator weight
(times scale factors), so the weight that makes the sample sum to its expected yield is

    weight_i = sigma [pb] * L [fb^-1] * 1000 / sum_j(generator weight_j) * w_i,

where the sum runs over *all* generated events, before any selection (and before any skim that
dropped events from the files, which is why it can be read from the files' bookkeeping).

The sum comes from, per file (so that a skipped file drops out of numerator and denominator
alike):

* ``entries``: the ``generator_weight`` expression summed over every entry of the tree
  (TTree, RNTuple or Parquet file alike);
* ``histogram``: the content of one bin of a TH1, or the sum of its in-range bins (ROOT files);
* ``tree``: a branch of another TTree or RNTuple summed over its entries (NanoAOD
  ``Runs/genEventSumw``; ROOT files);

or, for the whole sample, from ``sum_of_weights: <number>`` in the config. A Parquet file holds
one table, with neither histograms nor other trees: ``histogram`` and ``tree`` are refused.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable

import numpy as np
import uproot

from hepml.config import Sample
from hepml.config.model import PB_PER_INVERSE_FB, WeightSumSource
from hepml.exceptions import BadFile, DataError, InputFileError, UnknownBranch, did_you_mean
from hepml.ingest.expressions.language import Expression, as_flat
from hepml.ingest.reading import InputFile, check_branch_types, iterate_file, open_source, reason
from hepml.ingest.sources import source_of

__all__ = [
    "describe_source",
    "normalisation_factor",
    "sum_from_entries",
    "sum_from_file",
]

log = logging.getLogger(__name__)


def describe_source(sample: Sample) -> str:
    """In words, where the sample's sum of generator weights comes from (for the summary)."""
    if sample.cross_section is None:
        return "none (no cross section: weights used as they are)"
    if sample.sum_of_weights is not None:
        return "config (sum_of_weights)"
    if sample.sum_of_weights_from is not None:
        return str(sample.sum_of_weights_from)
    return f"'{sample.generator_weight}' summed over all entries"


def sum_from_entries(
    file: InputFile,
    expr: Expression,
    branches: Iterable[str],
    step_size: str | int,
    entries: int,
    namespace: Callable,
) -> float:
    """The generator-weight expression summed over every entry of one file (float64).

    ``namespace(chunk)`` turns a chunk into the expression's names (aliases included).
    """
    branches = frozenset(branches)
    if not branches:  # a constant such as "1": nothing to read
        value = as_flat(expr.evaluate({"_": np.zeros(1)}), where=expr.where)[0]
        return float(value) * entries
    total = 0.0
    for chunk, _, _ in iterate_file(file, branches, step_size):
        values = as_flat(expr.evaluate(namespace(chunk)), where=expr.where)
        total += float(np.sum(values, dtype=np.float64))
    return total


def sum_from_file(file: InputFile, source: WeightSumSource, sample: str) -> float:
    """The sum of generator weights that ``file`` records in a histogram or a tree branch."""
    what = f"sample '{sample}': sum_of_weights from {source}"
    with open_source(file) as opened:
        handle = getattr(opened, "root_file", None)
        if handle is None:
            msg = (
                f"{what}: '{file.path}' is a {opened.kind} file, which holds one table and "
                "no histograms or other trees; give sum_of_weights as a number, or leave it "
                "out to sum generator_weight over all entries"
            )
            raise InputFileError(msg)
        try:
            if source.histogram is not None:
                return _from_histogram(handle, file, source, what)
            return _from_tree(handle, file, source, what)
        except (InputFileError, DataError):
            raise
        except Exception as err:
            msg = f"{what}: reading it from '{file.path}' failed ({reason(err)})"
            raise BadFile(msg) from err


def _get(
    handle: uproot.ReadOnlyFile, file: InputFile, name: str, kinds: tuple[str, ...], what: str
):
    """Object ``name`` of the file, which must be of a class starting with one of ``kinds``."""
    directory = handle.root_directory
    classes = directory.classnames(cycle=False)
    words = " or ".join(k.removeprefix("ROOT::") for k in kinds)
    if name not in classes:
        candidates = [k for k, c in classes.items() if c.startswith(kinds)]
        listing = ", ".join(sorted(candidates)[:20]) or "none"
        msg = (
            f"{what}: '{file.path}' has no '{name}'.{did_you_mean(name, candidates)} "
            f"{words} objects in the file: {listing}."
        )
        raise InputFileError(msg)
    if not classes[name].startswith(kinds):
        msg = f"{what}: '{name}' in '{file.path}' is a {classes[name]}, not a {words}"
        raise InputFileError(msg)
    return directory[name]


def _from_histogram(handle, file: InputFile, source: WeightSumSource, what: str) -> float:
    hist = _get(handle, file, source.histogram, ("TH1",), what)
    if source.bin is None:
        return float(np.sum(hist.values(flow=False), dtype=np.float64))
    values = hist.values(flow=True)  # [underflow, bin 1, ..., bin n, overflow]
    if source.bin >= len(values):
        msg = (
            f"{what}: '{source.histogram}' in '{file.path}' has {len(values) - 2} bins "
            f"(bin numbers 0 = underflow to {len(values) - 1} = overflow); bin {source.bin} "
            "does not exist"
        )
        raise InputFileError(msg)
    return float(values[source.bin])


def _from_tree(handle, file: InputFile, source: WeightSumSource, what: str) -> float:
    obj = _get(handle, file, source.tree, ("TTree", "ROOT::RNTuple"), what)
    tree = source_of(InputFile(file.path, source.tree), obj)
    if source.branch not in tree.names:
        hint = did_you_mean(source.branch, tree.names)
        msg = f"{what}: {tree.where} has no {tree.item} '{source.branch}'."
        raise UnknownBranch(msg + hint)
    check_branch_types(tree, {source.branch: what})
    total = 0.0
    for chunk, _, _ in tree.iterate([source.branch], "100 MB"):
        values = as_flat(chunk[source.branch], where=f"{what} in '{file.path}'")
        total += float(np.sum(values, dtype=np.float64))
    return total


def normalisation_factor(
    sample: Sample, luminosity: float, sum_of_weights: float, entries: int
) -> float:
    """``cross_section [pb] * luminosity [fb^-1] * 1000 / sum_of_weights`` (1 without xsec).

    Raises :class:`DataError` unless the sum is positive and finite.
    """
    if sample.cross_section is None:
        return 1.0
    if not (sum_of_weights > 0 and math.isfinite(sum_of_weights)):
        msg = (
            f"sample '{sample.name}': the sum of generator weights ({describe_source(sample)}) "
            f"over {entries} entries is {sum_of_weights:g}; it must be positive and finite to "
            "normalise the sample. Check the weight expression, or set sum_of_weights in the "
            "config."
        )
        raise DataError(msg)
    return sample.cross_section * luminosity * PB_PER_INVERSE_FB / sum_of_weights

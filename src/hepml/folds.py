"""The K cross-validation folds: which fold each event is in, and what each fold is for.

One home for the concept: the assignment (:func:`fold_of_event`, :func:`fold_of_entry`, and
:func:`folds_and_events`, which picks between them as ingest records each event), the
roles of the folds for model k (:func:`fold_roles`: test fold k, validation fold (k+1) mod K,
the rest for training) and the event masks of each set (:func:`set_masks`,
:func:`fold_masks`). Training, tuning, the baselines, the Dask engine and provenance all use
these.

The fold of an event is a pure function of its identifying integers (event number, and run
number where given), so the same event lands in the same fold at training and when the
models are applied later, on any machine. The integers are mixed by the SplitMix64 finaliser
(a bijective 64-bit hash) rather than taken modulo K directly: event numbers are often
structured (runs of consecutive numbers, multiples of the number of jobs per run), and a plain
``event % K`` can put whole blocks of one run, or every event of one job, into one fold.

All arithmetic is on ``uint64`` with explicit wrap-around, never on signed integers (negative
event numbers read as signed would otherwise map to different folds, the classic TMVA
pitfall).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from hepml.exceptions import DataError, FoldMismatch


class _HasFoldAndLabel(Protocol):
    fold: np.ndarray
    label: np.ndarray


__all__ = [
    "SETS",
    "check_set_classes",
    "fold_masks",
    "fold_of_entry",
    "fold_of_event",
    "fold_roles",
    "folds_and_events",
    "set_masks",
    "splitmix64",
]

SETS = ("train", "validation", "test")  # the roles of the events of model k

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser of ``x`` (reinterpreted as uint64), element-wise, wrapping."""
    z = np.asarray(x).astype(np.uint64, copy=True)  # signed -> two's complement bit pattern
    with np.errstate(over="ignore"):
        z += _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        z ^= z >> np.uint64(31)
    return z


def _as_uint64(values: np.ndarray) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            msg = "event-number branch holds non-integer floating-point values"
            raise ValueError(msg)
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iub":
        msg = f"event-number branch has type {arr.dtype}, expected an integer type"
        raise ValueError(msg)
    return arr.astype(np.int64).view(np.uint64) if arr.dtype.kind == "i" else arr.astype(np.uint64)


def fold_of_event(
    ids: list[np.ndarray] | tuple[np.ndarray, ...], k: int, seed: int = 0
) -> np.ndarray:
    """Return the fold (0..k-1, int8) of each event from its identifying integer arrays.

    ``ids`` are e.g. ``[event]`` or ``[run, event]``; they are combined by hashing in turn,
    so ``(run=1, event=2)`` and ``(run=2, event=1)`` get unrelated folds. ``seed`` lets an
    analysis choose another, equally deterministic, partition.
    """
    if not 2 <= k <= 127:
        msg = f"number of folds must be between 2 and 127, got {k}"
        raise ValueError(msg)
    h = splitmix64(np.full(len(ids[0]), seed, dtype=np.uint64))
    for arr in ids:
        h = splitmix64(h ^ _as_uint64(arr))
    return (h % np.uint64(k)).astype(np.int8)


def fold_of_entry(file_index: int, entries: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Fold from (file index within the sample, entry number) when no event number exists.

    Deterministic as long as the sample's file list (sorted) and the files do not change.
    """
    file_ids = np.full(len(entries), file_index, dtype=np.uint64)
    return fold_of_event([file_ids, np.asarray(entries, dtype=np.uint64)], k, seed)


def fold_roles(k: int, n_folds: int) -> dict[str, Any]:
    """The role of each fold for model ``k``: test fold k, validation (k+1) mod K, rest train."""
    if not 0 <= k < n_folds:
        msg = (
            f"fold index {k} is out of range: the config defines {n_folds} folds (0..{n_folds - 1})"
        )
        raise FoldMismatch(msg)
    validation = (k + 1) % n_folds
    train = [f for f in range(n_folds) if f not in (k, validation)]
    return {"test": k, "validation": validation, "train": train}


def fold_masks(data: _HasFoldAndLabel, k: int, n_folds: int) -> dict[str, np.ndarray]:
    """Boolean event masks of model ``k``'s train, validation and test sets.

    ``data`` has per-event ``fold`` and ``label`` arrays (a :class:`hepml.tables.Dataset`).
    Raises :class:`DataError` if a set lacks signal or background events.
    """
    masks = set_masks(data.fold, fold_roles(k, n_folds))
    check_set_classes(
        k,
        {
            s: (
                int(np.count_nonzero(data.label[m] == 1)),
                int(np.count_nonzero(data.label[m] == 0)),
            )
            for s, m in masks.items()
        },
    )
    return masks


def set_masks(fold: np.ndarray, roles: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Boolean masks of the train, validation and test events from their fold numbers."""
    masks = {"test": fold == roles["test"], "validation": fold == roles["validation"]}
    masks["train"] = ~(masks["test"] | masks["validation"])
    return {s: masks[s] for s in SETS}


def check_set_classes(k: int, counts: Mapping[str, tuple[int, int]]) -> None:
    """Raise :class:`DataError` unless every set of model ``k`` has signal and background.

    ``counts`` maps each set to its numbers of (signal, background) events.
    """
    for role, name in (("train", "training"), ("validation", "validation"), ("test", "test")):
        n_sig, n_bkg = counts[role]
        if n_sig == 0 or n_bkg == 0:
            msg = (
                f"model {k}: the {name} set has {n_sig} signal and {n_bkg} background events; "
                "each needs both. Use fewer folds or more events."
            )
            raise DataError(msg)


def folds_and_events(
    ids: Sequence[np.ndarray],
    names: Sequence[str],
    file_index: int,
    entry: np.ndarray,
    n_folds: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Fold and event number (uint64) of some entries of one file, as ingest records them.

    ``ids`` are the values of the event-number branches ``names`` (config ``event_number``)
    of those entries: the fold is :func:`fold_of_event` of them and the event number the last
    one. Without event-number branches (``names`` empty) the fold is :func:`fold_of_entry` of
    (``file_index``, ``entry``) and the event number the entry. Ingest and the scoring of
    systematic variations, which must put each event in ingest's fold, both call this.
    """
    if not names:
        return fold_of_entry(file_index, entry, n_folds, seed), entry.astype(np.uint64)
    try:
        fold = fold_of_event(ids, n_folds, seed)
    except ValueError as err:
        msg = f"event_number {list(names)}: {err}"
        raise DataError(msg) from err
    last = ids[-1]
    event = last.astype(np.int64).view(np.uint64) if last.dtype.kind in "if" else last
    return fold, event.astype(np.uint64, copy=False)

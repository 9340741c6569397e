"""Assign events to the K cross-validation folds, reproducibly.

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

import numpy as np

__all__ = ["fold_of_entry", "fold_of_event", "splitmix64"]

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

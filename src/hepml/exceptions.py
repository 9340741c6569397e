"""The errors hepml raises for user mistakes.

Every error here is meant to be read by a physicist, not a developer: the message names the
file, tree, branch, feature or config key at fault, says what exists instead, and suggests the
nearest match. The command-line interface prints these without a traceback and exits with
status 2. Third-party errors are re-raised as one of these ``from`` the original.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "BadFile",
    "ClusterError",
    "ConfigError",
    "DataError",
    "ExpressionError",
    "FoldMismatch",
    "HepmlError",
    "InputFileError",
    "OutputConflict",
    "OutputError",
    "UnknownBranch",
    "did_you_mean",
]


def did_you_mean(name: str, candidates: Iterable[str], *, n: int = 3) -> str:
    """Return a " Did you mean 'x'?" suffix for ``name`` among ``candidates`` ('' if none close).

    ``name`` may be any YAML key (``?`` alone parses as a null key): it is compared as text.
    """
    pool = sorted({str(c) for c in candidates})
    matches = difflib.get_close_matches(str(name), pool, n=n, cutoff=0.6)
    if not matches:
        return ""
    quoted = ", ".join(f"'{m}'" for m in matches)
    return f" Did you mean {quoted}?"


class HepmlError(Exception):
    """Base class: raised for any user-facing problem hepml can explain."""


class ConfigError(HepmlError):
    """Raised when the configuration file is missing, unparsable, or fails the schema."""


class ExpressionError(HepmlError):
    """Raised when a feature, selection or weight expression is malformed or not allowed."""


class InputFileError(HepmlError):
    """Raised when an input ROOT file is missing, unreadable, corrupt, or lacks the tree."""


class BadFile(InputFileError):
    """Raised when one input file is unusable: not ROOT, truncated, corrupt, empty, wrong type.

    Unlike a missing branch (the config and the production disagree), this is a fault of the
    one file, so ``on_bad_file: skip`` may skip it.
    """


class UnknownBranch(InputFileError):
    """Raised when an expression needs a branch that the input tree does not have."""


class DataError(HepmlError):
    """Raised when the data read are unusable (no events selected, zero weight sum, inf...)."""


class FoldMismatch(HepmlError):
    """Raised when fold outputs do not fit together (wrong K, missing fold, other config)."""


class ClusterError(HepmlError):
    """Raised when the Dask cluster of ``training.engine: dask`` cannot be reached or started."""


class OutputConflict(HepmlError):
    """Raised when an output would replace what hepml did not write, or overlap an input.

    hepml writes only paths it owns (see :mod:`hepml.outputs`): a user's file, a directory it
    did not make wholesale, or one of the command's own inputs is never overwritten or deleted.
    """


class OutputError(HepmlError):
    """Raised when an output cannot be written: disk full, quota, permission denied, read-only.

    Nothing partial is left under the output's name.
    """

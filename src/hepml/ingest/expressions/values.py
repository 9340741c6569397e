"""What kind of values an expression computes with, and their 64-bit integer form.

Values are numpy scalars, numpy arrays (one value per event) or awkward arrays (flat or jagged).
Integers of every width uproot returns (int8 ... int64, uint8 ... uint64) are computed as int64 (see
the "Integers" section of ``hepml.ingest.expressions.language``): :func:`as_int64` converts them,
refusing an unsigned value that int64 cannot hold, and :func:`check_no_overflow` refuses a result
that wrapped around. Helpers raise plain exceptions; the interpreter adds which expression failed.
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "OVERFLOW",
    "any_true",
    "as_float",
    "as_int64",
    "bool_as_int",
    "check_no_overflow",
    "is_jagged",
    "kind_of",
    "primitive",
    "where",
]

INT64_MIN, INT64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)
OVERFLOW = (
    "the integer result is beyond the 64-bit range (-2**63 to 2**63 - 1, about +-9.2e18), "
    "where it would wrap around silently; compute in floating point instead, e.g. 1.0 * x"
)


def is_jagged(values: Any) -> bool:
    """True for an awkward array with a list of values per event (``var * float32``)."""
    return isinstance(values, ak.Array) and values.ndim > 1


def primitive(values: Any) -> str | None:
    """The numeric type name of ``values`` ("bool", "float32", ...); None for records/unions."""
    if isinstance(values, bool):
        return "bool"
    if isinstance(values, np.ndarray | np.generic):
        return values.dtype.name
    if isinstance(values, int | float):
        return np.asarray(values).dtype.name
    if not isinstance(values, ak.Array):
        return None
    if values.layout.parameter("__array__") in ("string", "bytestring"):
        return None  # text: a list of characters to awkward, not a number
    kind = values.type.content
    while hasattr(kind, "content"):
        kind = kind.content
    return getattr(kind, "primitive", None)


def kind_of(values: Any) -> str | None:
    """The kind of values: bool, int (any width, signed or not), float, or None (records...)."""
    name = primitive(values)
    if name is None:
        return None
    if name == "bool":
        return "bool"
    if name.startswith(("int", "uint")):
        return "int"
    if name.startswith("float"):
        return "float"
    return None


def bool_as_int(values: Any) -> Any:
    """True/False as the integers 1/0 (int64); anything else unchanged."""
    if primitive(values) != "bool":
        return values
    if isinstance(values, ak.Array):
        return ak.values_astype(values, np.int64)
    return np.asarray(values).astype(np.int64)[()]


def as_int64(values: Any) -> Any:
    """Integers of any width as int64; anything else (floats, booleans) unchanged.

    Raises :class:`OverflowError` for an unsigned 64-bit value above 2**63 - 1, which int64
    cannot hold (casting would make it negative).
    """
    name = primitive(values)
    if name is None or name == "int64" or not name.startswith(("int", "uint")):
        return values
    if name == "uint64":
        largest = _largest(values)
        if largest is not None and largest > INT64_MAX:
            msg = (
                f"it holds the unsigned 64-bit value {largest}, above 2**63 - 1, the largest "
                "integer expressions compute with (int64)"
            )
            raise OverflowError(msg)
    if isinstance(values, ak.Array):
        return ak.values_astype(values, np.int64)
    return np.asarray(values).astype(np.int64)[()]


def _largest(values: Any) -> int | None:
    if isinstance(values, ak.Array):
        largest = ak.max(values, axis=None)
        return None if largest is None else int(largest)
    values = np.asarray(values)
    return int(values.max()) if values.size else None


def as_float(values: Any) -> Any:
    """``values`` as float64 (numpy, awkward or a scalar)."""
    if isinstance(values, ak.Array):
        return ak.values_astype(values, np.float64)
    return np.asarray(values).astype(np.float64)[()]


def any_true(mask: Any) -> bool:
    """Whether any element of a boolean scalar, numpy or (jagged) awkward array is True."""
    if isinstance(mask, ak.Array):
        return bool(ak.any(mask, axis=None))
    return bool(np.any(mask))


def where(condition: Any, if_true: Any, if_false: Any) -> Any:
    """Elementwise choice that broadcasts numpy, awkward and jagged values alike."""
    if any(isinstance(v, ak.Array) for v in (condition, if_true, if_false)):
        return ak.where(condition, if_true, if_false)
    return np.where(condition, if_true, if_false)[()]


def check_no_overflow(overflowed: Any) -> None:
    """Raise :class:`OverflowError` if any element of the mask ``overflowed`` is True."""
    if any_true(overflowed):
        raise OverflowError(OVERFLOW)

"""The functions and constants of the hepml expression language.

``expressions.py`` parses and interprets expressions; this module holds what a call *does*:
one :class:`FunctionSpec` per allowed function name (its signature, for error messages, and its
implementation), the named constants, per-event reductions along the object axis (``axis=1``)
and object picking (``Jet_pt[0]``). The four-momentum helpers are in ``physics.py``.

Implementations are called as ``impl(*args, fill=fill)``. Arguments are numpy scalars, numpy
arrays (flat, one value per event) or awkward arrays (flat or jagged); a collection argument
arrives as :func:`~hepml.ingest.expressions.physics.collection_momenta` makes it. ``fill``
replaces results that do not exist for an event (the maximum of an empty list, the third jet
of a two-jet event).
Implementations raise plain exceptions; the interpreter adds which expression and piece failed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np

from hepml.config.names import CONSTANT_VALUES
from hepml.ingest.expressions.physics import (
    collection_branches,
    collection_momenta,
    delta_phi,
    delta_r,
    lead,
    m_all,
    m_pair,
    momentum_component,
    transverse_mass,
)
from hepml.ingest.expressions.values import (
    OVERFLOW,
    as_float,
    bool_as_int,
    check_no_overflow,
    is_jagged,
    kind_of,
    primitive,
)

__all__ = [
    "CONSTANTS",
    "FUNCTIONS",
    "MAX_LEADING_OBJECTS",
    "FunctionSpec",
    "bool_as_int",
    "collection_branches",
    "collection_momenta",
    "is_jagged",
    "pick_object",
    "primitive",
]

CONSTANTS: dict[str, np.float64] = {name: np.float64(v) for name, v in CONSTANT_VALUES.items()}
MAX_LEADING_OBJECTS = 64  # m_lead(Jet, n): the cost grows with n; no analysis needs more


def _require_jagged(values: Any, function: str) -> None:
    if not is_jagged(values):
        msg = (
            f"{function}() works on the objects of each event, so it needs a jagged array such "
            f"as Jet_pt, not a flat value with one number per event"
        )
        if function in ("max", "min"):
            msg += f"; for the elementwise {function} of two values use {function}imum(a, b)"
        raise TypeError(msg)


def pick_object(values: Any, index: int, fill: float) -> Any:
    """Object ``index`` of every event (``Jet_pt[0]``, ``Jet_pt[-1]``); ``fill`` if too few.

    Slicing ``[:, i:i+1]`` rather than padding keeps memory flat for large indices; Python
    slice rules make a too-short list give an empty slice, which ``firsts`` turns into None.
    """
    if not is_jagged(values):
        msg = (
            "indexing with an integer picks an object within each event, so it needs a jagged "
            "array such as Jet_pt; this value already has one number per event"
        )
        raise TypeError(msg)
    fast = _pick_from_lists(values, index, fill)
    if fast is not None:
        return fast
    stop = index + 1 if index != -1 else None
    picked = ak.firsts(values[:, index:stop], axis=1)
    return ak.fill_none(picked, False if primitive(picked) == "bool" else fill)


def _pick_from_lists(values: ak.Array, index: int, fill: float) -> np.ndarray | None:
    """:func:`pick_object` in plain numpy for lists of numbers (None for other layouts).

    Lists of numbers straight from a branch, or filtered by a mask, are (starts, stops) into
    one flat buffer: the object is one gather, without awkward's general slicing machinery.
    """
    layout = values.layout
    if isinstance(layout, ak.contents.ListOffsetArray):
        offsets = np.asarray(layout.offsets)
        starts, stops = offsets[:-1], offsets[1:]
    elif isinstance(layout, ak.contents.ListArray):
        starts, stops = np.asarray(layout.starts), np.asarray(layout.stops)
    else:
        return None
    content = layout.content
    if not isinstance(content, ak.contents.NumpyArray) or layout.parameters or content.parameters:
        return None
    data = np.asarray(content.data)
    if data.ndim != 1:
        return None
    position = starts + index if index >= 0 else stops + index
    exists = position < stops if index >= 0 else position >= starts
    if len(data) == 0:  # no objects in any event
        values = np.zeros(len(starts), dtype=data.dtype)
    else:  # gather every event (a harmless index where the object is missing), then choose
        values = data[np.where(exists, position, 0)]
    if data.dtype == np.bool_:
        return values & exists
    return np.where(exists, values, np.asarray(fill, dtype=np.result_type(data.dtype, np.float64)))


def _num(values: Any, *, fill: float) -> Any:
    _require_jagged(values, "num")
    if primitive(values) == "bool":  # num(Jet_btag > 0.8) counts the objects passing
        return ak.sum(values, axis=1)
    return ak.num(values, axis=1)


def _reduction(function: str, reducer: Callable[..., Any]) -> Callable[..., Any]:
    """max/min/mean along the object axis; an event without objects gets ``fill``."""

    def reduce(values: Any, *, fill: float) -> Any:
        _require_jagged(values, function)
        reduced = ak.fill_none(reducer(values, axis=1), fill)
        return ak.where(ak.num(values, axis=1) > 0, reduced, fill)

    return reduce


def _total(function: str, reducer: Callable[..., Any]) -> Callable[..., Any]:
    """any/all along the object axis; empty lists give False and True."""

    def reduce(values: Any, *, fill: float) -> Any:
        _require_jagged(values, function)
        return reducer(values, axis=1)

    return reduce


def _sum(values: Any, *, fill: float) -> Any:
    """Per-event sum; integers (int64 here) are refused where the sum could overflow.

    The float64 sum tells: below 2**62 in size the exact sum is far inside int64, beyond it
    the sum is refused rather than checked exactly (no event sums integers that large).
    """
    _require_jagged(values, "sum")
    total = ak.sum(values, axis=1)
    if kind_of(values) == "int":
        approximate = ak.sum(as_float(values), axis=1)
        if ak.any(abs(approximate) >= 2.0**62, axis=None):
            raise OverflowError(OVERFLOW)
    return total


def _where(condition: Any, if_true: Any, if_false: Any, *, fill: float) -> Any:
    if any(isinstance(v, ak.Array) for v in (condition, if_true, if_false)):
        return ak.where(condition, if_true, if_false)
    return np.where(condition, if_true, if_false)


def _clip(values: Any, low: Any, high: Any, *, fill: float) -> Any:
    # np.clip is not a ufunc, so awkward arrays would not pass through it
    return np.minimum(np.maximum(values, low), high)


def _elementwise(ufunc: np.ufunc) -> Callable[..., Any]:
    def apply(*args: Any, fill: float) -> Any:
        # numpy computes sqrt(True) in float16; take True/False as the integers 1/0 instead
        result = ufunc(*(bool_as_int(a) for a in args))
        if ufunc is np.absolute and kind_of(result) == "int":
            check_no_overflow(result < 0)  # abs(-2**63) wraps onto itself
        return result

    return apply


@dataclass(frozen=True)
class FunctionSpec:
    """One callable name: its parameters (for checks and messages) and implementation.

    ``collections`` leading parameters take a collection *name* (``Jet``), and parameters
    listed in ``int_literals`` must be written as integer literals from 1 to
    :data:`MAX_LEADING_OBJECTS` (``m_lead(Jet, 3)``) because they fix the shape and the cost
    of the computation. A parameter ending in ``=value`` is
    optional.
    """

    name: str
    params: tuple[str, ...]
    impl: Callable[..., Any]
    collections: int = 0
    int_literals: tuple[int, ...] = ()

    @property
    def signature(self) -> str:
        return f"{self.name}({', '.join(self.params)})"

    @property
    def min_args(self) -> int:
        return sum("=" not in p for p in self.params)

    @property
    def max_args(self) -> int:
        return len(self.params)


def _specs() -> dict[str, FunctionSpec]:
    unary = {
        "abs": np.absolute, "sqrt": np.sqrt, "log": np.log, "log10": np.log10,
        "log1p": np.log1p, "exp": np.exp, "sin": np.sin, "cos": np.cos, "tan": np.tan,
        "arcsin": np.arcsin, "arccos": np.arccos, "arctan": np.arctan, "sinh": np.sinh,
        "cosh": np.cosh, "tanh": np.tanh, "isnan": np.isnan, "isfinite": np.isfinite,
        "sign": np.sign, "floor": np.floor, "ceil": np.ceil, "round": np.rint,
    }  # fmt: skip
    binary = {"arctan2": ("y", "x"), "hypot": ("x", "y"), "minimum": ("a", "b")}
    binary["maximum"] = ("a", "b")
    specs = [FunctionSpec(name, ("x",), _elementwise(f)) for name, f in unary.items()]
    specs += [FunctionSpec(n, p, _elementwise(getattr(np, n))) for n, p in binary.items()]
    specs += [
        FunctionSpec("clip", ("x", "lo", "hi"), _clip),
        FunctionSpec("where", ("condition", "a", "b"), _where),
        FunctionSpec("num", ("x",), _num),
        FunctionSpec("sum", ("x",), _sum),
        FunctionSpec("any", ("x",), _total("any", ak.any)),
        FunctionSpec("all", ("x",), _total("all", ak.all)),
        FunctionSpec("max", ("x",), _reduction("max", ak.max)),
        FunctionSpec("min", ("x",), _reduction("min", ak.min)),
        FunctionSpec("mean", ("x",), _reduction("mean", ak.mean)),
        FunctionSpec("delta_phi", ("phi1", "phi2"), delta_phi),
        FunctionSpec("delta_r", ("eta1", "phi1", "eta2", "phi2"), delta_r),
        FunctionSpec("mt", ("pt1", "phi1", "pt2", "phi2"), transverse_mass),
        FunctionSpec("m_lead", ("collection", "n=2"), lead("mass"), 1, (1,)),
        FunctionSpec("pt_lead", ("collection", "n=2"), lead("pt"), 1, (1,)),
        FunctionSpec("m_pair", ("collection1", "collection2"), m_pair, 2),
        FunctionSpec("m_all", ("collection",), m_all, 1),
    ]
    specs += [FunctionSpec(q, ("collection",), momentum_component(q), 1) for q in _COMPONENTS]
    return {spec.name: spec for spec in specs}


_COMPONENTS = ("pt", "eta", "phi", "mass")
FUNCTIONS: dict[str, FunctionSpec] = _specs()

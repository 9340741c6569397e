"""The functions and constants of the hepml expression language, and how collections are found.

``expressions.py`` parses and interprets expressions; this module holds what a call *does*:
one :class:`FunctionSpec` per allowed function name (its signature, for error messages, and its
implementation), the named constants, per-event reductions along the object axis (``axis=1``),
object picking (``Jet_pt[0]``), and the four-momentum helpers built on scikit-hep ``vector``.

Implementations are called as ``impl(*args, fill=fill)``. Arguments are numpy scalars, numpy
arrays (flat, one value per event) or awkward arrays (flat or jagged); a collection argument
arrives as a ``vector`` ``Momentum4D`` awkward array. ``fill`` replaces results that do not
exist for an event (the maximum of an empty list, the third jet of a two-jet event).
Implementations raise plain exceptions; the interpreter adds which expression and piece failed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np
import vector

from hepml.exceptions import UnknownBranch, did_you_mean

__all__ = [
    "CONSTANTS",
    "FUNCTIONS",
    "FunctionSpec",
    "collection_branches",
    "collection_momenta",
    "is_jagged",
    "pick_object",
    "primitive",
]

vector.register_awkward()

CONSTANTS: dict[str, np.float64] = {
    "pi": np.float64(math.pi),
    "e": np.float64(math.e),
    "inf": np.float64(math.inf),
    "nan": np.float64(math.nan),
}

# Four-momentum components: the key is what vector.zip understands, the values the spellings
# accepted after "<collection>_" in branch names (NanoAOD Jet_pt, ATLAS open data lep_E, CMS
# tutorial Jet_Px ...).
_SPELLINGS: dict[str, tuple[str, ...]] = {
    "pt": ("pt", "Pt", "PT", "pT"),
    "eta": ("eta", "Eta", "ETA"),
    "phi": ("phi", "Phi", "PHI"),
    "mass": ("mass", "Mass", "m", "M"),
    "E": ("E", "e", "energy", "Energy"),
    "px": ("px", "Px", "PX"),
    "py": ("py", "Py", "PY"),
    "pz": ("pz", "Pz", "PZ"),
}
# Coordinate systems tried in this order; the first complete one wins.
_SYSTEMS = (
    ("pt", "eta", "phi", "mass"),
    ("pt", "eta", "phi", "E"),
    ("px", "py", "pz", "E"),
    ("px", "py", "pz", "mass"),
)


def collection_branches(collection: str, available: Iterable[str]) -> dict[str, str]:
    """Map the four-momentum components of ``collection`` to its branch names.

    ``"Jet"`` with NanoAOD branches gives ``{"pt": "Jet_pt", "eta": "Jet_eta", "phi":
    "Jet_phi", "mass": "Jet_mass"}``; a Cartesian collection gives ``{"px": "Jet_Px", "py":
    "Jet_Py", "pz": "Jet_Pz", "E": "Jet_E"}``. The keys are ``vector.zip`` component names.
    Raises :class:`UnknownBranch` listing the collection's branches and near collection names.
    """
    branches = set(available)
    found = {}
    for component, spellings in _SPELLINGS.items():
        for spelling in spellings:
            if f"{collection}_{spelling}" in branches:
                found[component] = f"{collection}_{spelling}"
                break
    for system in _SYSTEMS:
        if all(component in found for component in system):
            return {component: found[component] for component in system}
    existing = sorted(b for b in branches if b.startswith(f"{collection}_"))
    prefixes = {b.split("_", 1)[0] for b in branches if "_" in b} - {collection}
    msg = (
        f"collection {collection!r} needs four-momentum branches {collection}_pt, "
        f"{collection}_eta, {collection}_phi and {collection}_mass (or {collection}_E), or "
        f"{collection}_px, {collection}_py, {collection}_pz and {collection}_E; "
        f"the tree has {existing or f'no branches starting with {collection}_'}."
        + did_you_mean(collection, prefixes)
    )
    raise UnknownBranch(msg)


def collection_momenta(collection: str, namespace: Mapping[str, Any]) -> Any:
    """Build the jagged ``vector`` Momentum4D array of ``collection`` from ``namespace``."""
    components = collection_branches(collection, namespace.keys())
    return vector.zip({key: namespace[branch] for key, branch in components.items()})


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
    kind = values.type.content
    while hasattr(kind, "content"):
        kind = kind.content
    return getattr(kind, "primitive", None)


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
    stop = index + 1 if index != -1 else None
    picked = ak.firsts(values[:, index:stop], axis=1)
    return ak.fill_none(picked, False if primitive(picked) == "bool" else fill)


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
    """sum/any/all along the object axis; empty lists give 0, False and True."""

    def reduce(values: Any, *, fill: float) -> Any:
        _require_jagged(values, function)
        return reducer(values, axis=1)

    return reduce


def _where(condition: Any, if_true: Any, if_false: Any, *, fill: float) -> Any:
    if any(isinstance(v, ak.Array) for v in (condition, if_true, if_false)):
        return ak.where(condition, if_true, if_false)
    return np.where(condition, if_true, if_false)


def _clip(values: Any, low: Any, high: Any, *, fill: float) -> Any:
    # np.clip is not a ufunc, so awkward arrays would not pass through it
    return np.minimum(np.maximum(values, low), high)


def _vectors(**components: Any) -> Any:
    """A vector object (all scalars) or a vector awkward array (any array) of ``components``."""
    if any(isinstance(v, ak.Array | np.ndarray) for v in components.values()):
        return vector.zip(components)
    return vector.obj(**{key: float(value) for key, value in components.items()})


def _delta_phi(phi1: Any, phi2: Any, *, fill: float) -> Any:
    return _vectors(rho=1.0, phi=phi1).deltaphi(_vectors(rho=1.0, phi=phi2))


def _delta_r(eta1: Any, phi1: Any, eta2: Any, phi2: Any, *, fill: float) -> Any:
    first = _vectors(pt=1.0, eta=eta1, phi=phi1)
    return first.deltaR(_vectors(pt=1.0, eta=eta2, phi=phi2))


def _mt(pt1: Any, phi1: Any, pt2: Any, phi2: Any, *, fill: float) -> Any:
    # vector has no two-body transverse mass; this is the textbook massless formula
    # mT = sqrt(2 pt1 pt2 (1 - cos dphi)), with the angle from vector
    dphi = _delta_phi(phi1, phi2, fill=fill)
    return np.sqrt(np.maximum(2.0 * pt1 * pt2 * (1.0 - np.cos(dphi)), 0.0))


def _leading_sum(momenta: Any, n: int) -> Any:
    """Four-momentum sum of the ``n`` highest-pT objects of every event."""
    by_pt = momenta[ak.argsort(momenta.pt, axis=1, ascending=False)]
    return ak.sum(by_pt[:, :n], axis=1)


def _lead(quantity: str) -> Callable[..., Any]:
    def lead(momenta: Any, n: int = 2, *, fill: float) -> Any:
        value = getattr(_leading_sum(momenta, n), quantity)
        return ak.where(ak.num(momenta, axis=1) >= n, value, fill)

    return lead


def _m_pair(first: Any, second: Any, *, fill: float) -> Any:
    mass = (_leading_sum(first, 1) + _leading_sum(second, 1)).mass
    exists = (ak.num(first, axis=1) > 0) & (ak.num(second, axis=1) > 0)
    return ak.where(exists, mass, fill)


def _m_all(momenta: Any, *, fill: float) -> Any:
    return ak.where(ak.num(momenta, axis=1) > 0, ak.sum(momenta, axis=1).mass, fill)


def _component(quantity: str) -> Callable[..., Any]:
    def component(momenta: Any, *, fill: float) -> Any:
        return getattr(momenta, quantity)

    return component


def _elementwise(ufunc: np.ufunc) -> Callable[..., Any]:
    def apply(*args: Any, fill: float) -> Any:
        return ufunc(*args)

    return apply


@dataclass(frozen=True)
class FunctionSpec:
    """One callable name: its parameters (for checks and messages) and implementation.

    ``collections`` leading parameters take a collection *name* (``Jet``), and parameters
    listed in ``int_literals`` must be written as positive integer literals (``m_lead(Jet,
    3)``) because they fix the shape of the computation. A parameter ending in ``=value`` is
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
        FunctionSpec("sum", ("x",), _total("sum", ak.sum)),
        FunctionSpec("any", ("x",), _total("any", ak.any)),
        FunctionSpec("all", ("x",), _total("all", ak.all)),
        FunctionSpec("max", ("x",), _reduction("max", ak.max)),
        FunctionSpec("min", ("x",), _reduction("min", ak.min)),
        FunctionSpec("mean", ("x",), _reduction("mean", ak.mean)),
        FunctionSpec("delta_phi", ("phi1", "phi2"), _delta_phi),
        FunctionSpec("delta_r", ("eta1", "phi1", "eta2", "phi2"), _delta_r),
        FunctionSpec("mt", ("pt1", "phi1", "pt2", "phi2"), _mt),
        FunctionSpec("m_lead", ("collection", "n=2"), _lead("mass"), 1, (1,)),
        FunctionSpec("pt_lead", ("collection", "n=2"), _lead("pt"), 1, (1,)),
        FunctionSpec("m_pair", ("collection1", "collection2"), _m_pair, 2),
        FunctionSpec("m_all", ("collection",), _m_all, 1),
    ]
    specs += [FunctionSpec(q, ("collection",), _component(q), 1) for q in _COMPONENTS]
    return {spec.name: spec for spec in specs}


_COMPONENTS = ("pt", "eta", "phi", "mass")
FUNCTIONS: dict[str, FunctionSpec] = _specs()

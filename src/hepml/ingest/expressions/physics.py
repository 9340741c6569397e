"""Four-momentum functions of the expression language: numpy formulas, scikit-hep ``vector``
for the rare layouts.

A collection name (``Jet``) stands for the branches ``Jet_pt``, ``Jet_eta``, ``Jet_phi``,
``Jet_mass`` (or ``Jet_E``), or Cartesian ``Jet_px/Px``, ``Jet_py``, ``Jet_pz``, ``Jet_E``
(:func:`collection_branches`); the interpreter hands a function here what
:func:`collection_momenta` makes of it. Branches as read from a file (one offsets array, flat
numbers) become :class:`FlatMomenta`, on which the leading-object sums are numpy arithmetic on
the flat buffers in float64 (summed in Cartesian components, the mass taken as vector takes it:
``copysign(sqrt(|m2|), m2)``); any other layout becomes a jagged ``vector`` Momentum4D array
(vector is imported then, not before: with sympy it costs a job half a second). The angles
(``delta_phi``, ``delta_r``, ``mt``) are the textbook formulas on any array. Momenta and masses
are in the units of the branches (GeV in NanoAOD).

Implementations are called as ``impl(*args, fill=fill)`` like those of
``expression_functions.py``; ``fill`` replaces results that do not exist for an event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np

from hepml.exceptions import UnknownBranch, did_you_mean

__all__ = [
    "FlatMomenta",
    "collection_branches",
    "collection_momenta",
    "delta_phi",
    "delta_r",
    "lead",
    "m_all",
    "m_pair",
    "momentum_component",
    "transverse_mass",
]


def _vector() -> Any:
    """scikit-hep ``vector``, imported on first use (it imports sympy: half a second that a
    job whose expressions use no four-momentum function does not pay)."""
    import vector

    if not getattr(_vector, "registered", False):
        vector.register_awkward()
        _vector.registered = True
    return vector


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


@dataclass(frozen=True)
class FlatMomenta:
    """A collection read from branches: one offsets array and a flat numpy buffer per
    component (``_SYSTEMS`` names), ``offsets[0] == 0``. ``branches``: the original arrays,
    for the functions that hand the collection to ``vector``."""

    offsets: np.ndarray
    fields: dict[str, np.ndarray]
    branches: dict[str, Any]

    def vectors(self) -> Any:
        return _vector().zip(self.branches)


def collection_momenta(collection: str, namespace: Mapping[str, Any]) -> Any:
    """The four-momenta of ``collection`` from ``namespace``: :class:`FlatMomenta` when its
    branches are plain lists of numbers, else a jagged ``vector`` Momentum4D array. Raises
    ``ValueError`` when the branches count different numbers of objects in an event."""
    components = collection_branches(collection, namespace.keys())
    branches = {key: namespace[branch] for key, branch in components.items()}
    flat = _flat_momenta(branches)
    return flat if flat is not None else _vector().zip(branches)


def _flat_momenta(branches: dict[str, Any]) -> FlatMomenta | None:
    """:class:`FlatMomenta` of ``branches`` if each is a ListOffsetArray of numbers."""
    offsets, fields = None, {}
    for key, values in branches.items():
        layout = getattr(values, "layout", None)
        if not (
            isinstance(layout, ak.contents.ListOffsetArray)
            and isinstance(layout.content, ak.contents.NumpyArray)
            and layout.content.data.ndim == 1
        ):
            return None
        own = np.asarray(layout.offsets)
        first, last = int(own[0]), int(own[-1])
        own = own - first
        if offsets is None:
            offsets = own
        elif len(own) != len(offsets) or not np.array_equal(own, offsets):
            msg = "the branches count different numbers of objects"
            raise ValueError(msg)
        fields[key] = np.asarray(layout.content.data)[first:last]
    return FlatMomenta(offsets, fields, branches)


def delta_phi(phi1: Any, phi2: Any, *, fill: float) -> Any:
    """phi1 - phi2 wrapped into [-pi, pi)."""
    return (phi1 - phi2 + np.pi) % (2 * np.pi) - np.pi


def delta_r(eta1: Any, phi1: Any, eta2: Any, phi2: Any, *, fill: float) -> Any:
    """sqrt(deta^2 + dphi^2)."""
    return ((eta1 - eta2) ** 2 + delta_phi(phi1, phi2, fill=fill) ** 2) ** 0.5


def transverse_mass(pt1: Any, phi1: Any, pt2: Any, phi2: Any, *, fill: float) -> Any:
    """The textbook massless two-body mT = sqrt(2 pt1 pt2 (1 - cos dphi))."""
    dphi = delta_phi(phi1, phi2, fill=fill)
    return np.sqrt(np.maximum(2.0 * pt1 * pt2 * (1.0 - np.cos(dphi)), 0.0))


def _leading_sum(momenta: Any, n: int) -> tuple[Any, Any]:
    """Four-momentum sum of the ``n`` highest-pT objects of every event, and which events
    have ``n`` objects (the sum is meaningless elsewhere): a :class:`_Cartesian` for
    :class:`FlatMomenta`, a vector array for other layouts (awkward's sort and sum)."""
    if isinstance(momenta, FlatMomenta):
        return _leading_sum_flat(momenta, n)
    by_pt = momenta[ak.argsort(momenta.pt, axis=1, ascending=False)]
    return ak.sum(by_pt[:, :n], axis=1), ak.num(momenta, axis=1) >= n


@dataclass
class _Cartesian:
    """Summed four-momenta (float64 numpy arrays, one entry per event that has them)."""

    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    E: np.ndarray

    def __add__(self, other: _Cartesian) -> _Cartesian:
        return _Cartesian(
            self.px + other.px, self.py + other.py, self.pz + other.pz, self.E + other.E
        )

    def __getitem__(self, index: Any) -> _Cartesian:
        return _Cartesian(self.px[index], self.py[index], self.pz[index], self.E[index])

    @property
    def pt(self) -> np.ndarray:
        return np.hypot(self.px, self.py)

    @property
    def mass(self) -> np.ndarray:
        squared = self.E**2 - (self.px**2 + self.py**2 + self.pz**2)
        return np.copysign(np.sqrt(np.abs(squared)), squared)  # as vector: spacelike < 0


def _cartesian(fields: dict[str, np.ndarray], index: np.ndarray | slice) -> _Cartesian:
    """The objects at ``index`` of the flat buffers (all: ``slice(None)``), as float64
    Cartesian four-momenta."""
    picked = {name: data[index].astype(np.float64) for name, data in fields.items()}
    if "px" in picked:
        px, py, pz = picked["px"], picked["py"], picked["pz"]
    else:
        pt, phi = picked["pt"], picked["phi"]
        px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(picked["eta"])
    if "E" in picked:
        energy = picked["E"]
    else:
        mass = picked["mass"]
        energy = np.sqrt(px**2 + py**2 + pz**2 + mass**2)
    return _Cartesian(px, py, pz, energy)


def _leading_sum_flat(momenta: FlatMomenta, n: int) -> tuple[_Cartesian, np.ndarray]:
    """:func:`_leading_sum` on flat buffers: the n leading objects gathered by index (sorted
    by pT only when the objects are not stored in decreasing pT already, as they are in
    NanoAOD) and added in float64 Cartesian components."""
    offsets, fields = momenta.offsets, momenta.fields
    counts = np.diff(offsets)
    pt = fields["pt"] if "pt" in fields else np.hypot(fields["px"], fields["py"])
    event = np.repeat(np.arange(len(counts)), counts)
    same_event = event[1:] == event[:-1]
    order = None
    if np.any(same_event & (pt[1:] > pt[:-1])):  # not stored by decreasing pT
        order = np.lexsort((-pt, event))
    exists = counts >= n
    total = None
    for k in range(n):
        index = offsets[:-1][exists] + k
        if order is not None:
            index = order[index]
        obj = _cartesian(fields, index)
        total = obj if total is None else total + obj
    return total, exists


def lead(quantity: str) -> Callable[..., Any]:
    def lead(momenta: Any, n: int = 2, *, fill: float) -> Any:
        total, exists = _leading_sum(momenta, n)
        return _fill_where(exists, getattr(total, quantity), fill)

    return lead


def _fill_where(exists: Any, values: Any, fill: float) -> Any:
    """``values`` where ``exists``, ``fill`` elsewhere; numpy ``values`` hold only the former."""
    if isinstance(values, np.ndarray) and isinstance(exists, np.ndarray):
        out = np.full(len(exists), fill, dtype=np.result_type(values.dtype, np.float64))
        out[exists] = values
        return out
    return ak.where(exists, values, fill)


def _as_vectors(momenta: Any) -> Any:
    return momenta.vectors() if isinstance(momenta, FlatMomenta) else momenta


def m_pair(first: Any, second: Any, *, fill: float) -> Any:
    if isinstance(first, FlatMomenta) and isinstance(second, FlatMomenta):
        (one, has_one), (two, has_two) = _leading_sum_flat(first, 1), _leading_sum_flat(second, 1)
        exists = has_one & has_two
        return _fill_where(exists, (one[exists[has_one]] + two[exists[has_two]]).mass, fill)
    first, second = _as_vectors(first), _as_vectors(second)
    exists = (ak.num(first, axis=1) > 0) & (ak.num(second, axis=1) > 0)
    pair = _leading_sum(first, 1)[0] + _leading_sum(second, 1)[0]
    return ak.where(exists, pair.mass, fill)


def m_all(momenta: Any, *, fill: float) -> Any:
    momenta = _as_vectors(momenta)
    return ak.where(ak.num(momenta, axis=1) > 0, ak.sum(momenta, axis=1).mass, fill)


def momentum_component(quantity: str) -> Callable[..., Any]:
    def component(momenta: Any, *, fill: float) -> Any:
        if isinstance(momenta, FlatMomenta):
            return _flat_component(momenta, quantity)
        return getattr(momenta, quantity)

    return component


def _flat_component(momenta: FlatMomenta, quantity: str) -> Any:
    """``pt(Jet)``, ``eta``, ``phi`` or ``mass`` of every object, as a jagged array with the
    collection's lists: the branch itself where the collection stores it, else computed from
    the float64 Cartesian components (``Jet_Px`` ...) as vector computes it."""
    if quantity in momenta.branches:
        return momenta.branches[quantity]
    cartesian = _cartesian(momenta.fields, slice(None))
    if quantity == "pt":
        values = cartesian.pt
    elif quantity == "phi":
        values = np.arctan2(cartesian.py, cartesian.px)
    elif quantity == "eta":
        with np.errstate(divide="ignore", invalid="ignore"):  # along the beam: +-inf, as vector
            values = np.arcsinh(cartesian.pz / cartesian.pt)
    else:
        values = cartesian.mass
    layout = ak.contents.ListOffsetArray(
        ak.index.Index64(momenta.offsets.astype(np.int64)), ak.contents.NumpyArray(values)
    )
    return ak.Array(layout)

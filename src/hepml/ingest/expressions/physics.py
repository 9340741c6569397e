"""Four-momentum functions of the expression language, on scikit-hep ``vector``.

A collection name (``Jet``) stands for the branches ``Jet_pt``, ``Jet_eta``, ``Jet_phi``,
``Jet_mass`` (or ``Jet_E``), or Cartesian ``Jet_px/Px``, ``Jet_py``, ``Jet_pz``, ``Jet_E``
(:func:`collection_branches`); the interpreter turns it into a jagged ``vector`` Momentum4D
array (:func:`collection_momenta`) before calling a function here. Momenta and masses are in
the units of the branches (GeV in NanoAOD).

Implementations are called as ``impl(*args, fill=fill)`` like those of
``expression_functions.py``; ``fill`` replaces results that do not exist for an event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import awkward as ak
import numpy as np

from hepml.exceptions import UnknownBranch, did_you_mean

__all__ = [
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


def collection_momenta(collection: str, namespace: Mapping[str, Any]) -> Any:
    """Build the jagged ``vector`` Momentum4D array of ``collection`` from ``namespace``."""
    components = collection_branches(collection, namespace.keys())
    return _vector().zip({key: namespace[branch] for key, branch in components.items()})


def _vectors(**components: Any) -> Any:
    """A vector object (all scalars) or a vector awkward array (any array) of ``components``."""
    if any(isinstance(v, ak.Array | np.ndarray) for v in components.values()):
        return _vector().zip(components)
    return _vector().obj(**{key: float(value) for key, value in components.items()})


def delta_phi(phi1: Any, phi2: Any, *, fill: float) -> Any:
    return _vectors(rho=1.0, phi=phi1).deltaphi(_vectors(rho=1.0, phi=phi2))


def delta_r(eta1: Any, phi1: Any, eta2: Any, phi2: Any, *, fill: float) -> Any:
    first = _vectors(pt=1.0, eta=eta1, phi=phi1)
    return first.deltaR(_vectors(pt=1.0, eta=eta2, phi=phi2))


def transverse_mass(pt1: Any, phi1: Any, pt2: Any, phi2: Any, *, fill: float) -> Any:
    # vector has no two-body transverse mass; this is the textbook massless formula
    # mT = sqrt(2 pt1 pt2 (1 - cos dphi)), with the angle from vector
    dphi = delta_phi(phi1, phi2, fill=fill)
    return np.sqrt(np.maximum(2.0 * pt1 * pt2 * (1.0 - np.cos(dphi)), 0.0))


def _leading_sum(momenta: Any, n: int) -> tuple[Any, Any]:
    """Four-momentum sum of the ``n`` highest-pT objects of every event, and which events
    have ``n`` objects (the sum is meaningless elsewhere)."""
    fast = _leading_sum_flat(momenta, n)
    if fast is not None:
        return fast
    # general layouts (e.g. collections filtered by an alias): awkward's sort and sum
    by_pt = momenta[ak.argsort(momenta.pt, axis=1, ascending=False)]
    return ak.sum(by_pt[:, :n], axis=1), ak.num(momenta, axis=1) >= n


# vector.zip stores its inputs under generic names; vector.array wants momentum names
_MOMENTUM_NAMES = {"rho": "pt", "tau": "mass", "x": "px", "y": "py", "z": "pz", "t": "E"}


def _leading_sum_flat(momenta: Any, n: int) -> tuple[Any, np.ndarray] | None:
    """:func:`_leading_sum` on the flat buffers of a collection read from branches.

    The n leading objects are gathered as flat numpy arrays (sorting by pT only when the
    objects are not stored in decreasing pT already, as they are in NanoAOD) and added with
    vector's numpy backend, in float64. None when the layout is not a plain list of records.
    """
    layout = momenta.layout
    if not (
        isinstance(layout, ak.contents.ListOffsetArray)
        and isinstance(layout.content, ak.contents.RecordArray)
        and all(isinstance(c, ak.contents.NumpyArray) for c in layout.content.contents)
    ):
        return None
    fields = {
        _MOMENTUM_NAMES.get(name, name): np.asarray(content.data)
        for name, content in zip(layout.content.fields, layout.content.contents, strict=True)
    }
    offsets = np.asarray(layout.offsets)
    counts = np.diff(offsets)
    first, last = int(offsets[0]), int(offsets[-1])
    pt = fields["pt"][first:last] if "pt" in fields else None
    if pt is None:
        pt = np.hypot(fields["px"][first:last], fields["py"][first:last])
    event = np.repeat(np.arange(len(counts)), counts)
    same_event = event[1:] == event[:-1]
    order = None
    if np.any(same_event & (pt[1:] > pt[:-1])):  # not stored by decreasing pT
        order = np.lexsort((-pt, event)) + first
    exists = counts >= n
    total = None
    for k in range(n):
        index = offsets[:-1][exists] + k
        if order is not None:
            index = order[index - first]
        picked = {name: data[index].astype(np.float64) for name, data in fields.items()}
        obj = _vector().array(picked)
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


def m_pair(first: Any, second: Any, *, fill: float) -> Any:
    fast = _leading_sum_flat(first, 1), _leading_sum_flat(second, 1)
    if None in fast:
        exists = (ak.num(first, axis=1) > 0) & (ak.num(second, axis=1) > 0)
        pair = _leading_sum(first, 1)[0] + _leading_sum(second, 1)[0]
        return ak.where(exists, pair.mass, fill)
    (one, has_one), (two, has_two) = fast
    exists = has_one & has_two
    return _fill_where(exists, (one[exists[has_one]] + two[exists[has_two]]).mass, fill)


def m_all(momenta: Any, *, fill: float) -> Any:
    return ak.where(ak.num(momenta, axis=1) > 0, ak.sum(momenta, axis=1).mass, fill)


def momentum_component(quantity: str) -> Callable[..., Any]:
    def component(momenta: Any, *, fill: float) -> Any:
        return getattr(momenta, quantity)

    return component

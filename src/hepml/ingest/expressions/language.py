"""The safe expression language for features, selection cuts and event weights.

Expressions in the configuration are parsed with :func:`ast.parse` and checked against a
whitelist (``expression_syntax.py``), then *interpreted* node by node over awkward/numpy arrays
here. User text is never passed to ``eval``, ``exec`` or ``compile``.

Language
--------
Names
    Branch names of the input tree (``MET_pt``, ``Jet_pt``) and features defined earlier in the
    configuration. Branches may be flat (one value per event) or jagged (a list of objects per
    event). ``pi``, ``e``, ``inf`` and ``nan`` are constants: these four names and Python's keywords
    (``True``, ``None``, ``if`` ...) are reserved, and config validation refuses a feature or alias
    named like one (``hepml.config.names``). A feature may be named like a function
    (``sum``): ``sum + 1`` is the feature, ``sum(Jet_pt)`` the function.
Numbers
    ``30``, ``2.5``, ``1e-3``, ``True``, ``False``. Integer literals must fit in 64 bits.
Operators
    ``+ - * / // % **``, unary ``- +``, comparisons ``== != < <= > >=`` (chained ``0 < x < 1``
    too), ``and or not`` and ``& | ^ ~`` as elementwise logic. Mind that ``&`` binds tighter
    than ``>``: write ``(MET_pt > 50) & (num(Jet_pt) >= 2)``.
Integers (the rules numpy alone would break; ``expression_arithmetic.py``)
    Every integer, whatever its width (int8 ... int64, uint8 ... uint64 as uproot reads them,
    a literal, a count), is computed as a signed 64-bit integer, int64: unsigned NanoAOD
    counters subtract to negative numbers (``nMuon - nJet`` is -2, not 4294967294), products of
    small types do not wrap (``uint8 * uint8``), and event numbers stay exact (int64 holds every
    integer up to 9.2e18, float64 only up to 9.0e15). An unsigned 64-bit value above 2**63 - 1
    cannot be held and is an error naming the expression; so is every result beyond the int64
    range (``+ - *``, unary ``-``, ``abs``, ``//``, and ``sum`` of integers beyond 2**62): never
    a wrapped-around number. True/False count as 1/0 in arithmetic. An integer with a float
    gives a float (float64). ``/`` and ``**`` always give float64 (``2**2**100`` is ``inf``
    rather than a hang). ``//`` and ``%`` of integers give integers, with Python's signs
    (``-7 // 2`` is -4, ``-7 % 2`` is 1); a zero divisor gives NaN (numpy would give 0), so
    with a divisor that is not a constant the result is float64, exact up to 2**53, NaN where
    the divisor is 0 (``event % 2`` stays an integer). Floats follow IEEE: ``x / 0`` is
    ``inf``, ``0 / 0`` and ``x % 0.0`` NaN.
Logic
    ``and or not ~`` take True/False values only: on a number they are an error that says to
    compare first (``~Muon_isGood`` on an int32 flag would be -2 or -1, both "true"; write
    ``Muon_isGood == 0``). ``& | ^`` are logical on True/False and bitwise on integers (int64),
    e.g. ``(Muon_flags & 4) != 0`` tests a bit; mixing True/False with an integer
    (``(x > 1) & flag``) is an error that says to compare the integer first.
Elementwise functions (numpy ufuncs, on flat and jagged arrays alike)
    ``abs sqrt log log10 log1p exp sin cos tan arcsin arccos arctan arctan2(y, x) sinh cosh tanh
    hypot(x, y) minimum(a, b) maximum(a, b) clip(x, lo, hi) where(condition, a, b) isnan isfinite
    sign floor ceil round``.
Objects within an event (jagged arrays, along the object axis)
    ``num(Jet_pt)`` number of jets; ``num(Jet_btag > 0.8)`` number of jets passing;
    ``sum max min mean any all`` per event (an empty event gives 0 for ``sum``, False for
    ``any``, True for ``all``, and the fill value for ``max``, ``min``, ``mean``);
    ``Jet_pt[0]`` leading (first stored) jet, ``Jet_pt[-1]`` last one, the fill value when the
    event has too few; ``Jet_pt[Jet_pt > 30]`` keeps the jets passing a mask, e.g.
    ``sum(Jet_pt[(Jet_pt > 30) & (abs(Jet_eta) < 2.5)])``.
Physics
    ``delta_phi(phi1, phi2)`` in [-pi, pi); ``delta_r(eta1, phi1, eta2, phi2)``;
    ``mt(pt1, phi1, pt2, phi2)`` = sqrt(2 pt1 pt2 (1 - cos dphi)), e.g.
    ``mt(Muon_pt[0], Muon_phi[0], MET_pt, MET_phi)``.
Collections (the first argument is a collection *name*: ``Jet`` stands for ``Jet_pt``,
``Jet_eta``, ``Jet_phi``, ``Jet_mass``, or ``Jet_E`` for the mass, or Cartesian ``Jet_px/Px``,
``Jet_py``, ``Jet_pz``, ``Jet_E``; see :func:`collection_branches`)
    ``m_lead(Jet, 2)`` invariant mass of the n highest-pT objects (default 2, at most 64, a
    literal; fill if fewer),
    ``pt_lead(Jet, 2)`` pT of their sum, ``m_pair(Muon, Electron)`` mass of the leading object of
    each collection, ``m_all(Jet)`` mass of all objects (fill if none), and ``pt(Jet)``,
    ``eta(Jet)``, ``phi(Jet)``, ``mass(Jet)`` per object, e.g. ``pt(Jet)[0]`` for a Cartesian
    collection. Momenta and masses are in the units of the branches (GeV in NanoAOD).

Not allowed: attribute access, strings, lists/tuples/dicts, slices, comprehensions, lambdas,
keyword arguments, ``x if c else y`` (use ``where``), statements; expressions longer than
10,000 characters or nested deeper than 100 levels.

Examples::

    MET_pt / 1000                               # flat feature
    sum(Jet_pt[Jet_pt > 30])                    # scalar HT of jets above 30 GeV
    (num(Muon_pt) == 2) & (m_lead(Muon) > 60)   # selection cut
    where(isnan(Jet_pt[0]), -1, Jet_pt[0])      # leading jet pT, -1 when there is no jet
"""

from __future__ import annotations

import ast
import functools
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np

from hepml.exceptions import ExpressionError, HepmlError, UnknownBranch, did_you_mean
from hepml.ingest.expressions.arithmetic import binary, compare, logical, unary
from hepml.ingest.expressions.functions import (
    CONSTANTS,
    FUNCTIONS,
    collection_branches,
    collection_momenta,
    pick_object,
)
from hepml.ingest.expressions.syntax import check_expression
from hepml.ingest.expressions.values import as_int64, is_jagged, primitive

__all__ = [
    "Expression",
    "as_flat",
    "as_mask",
    "collection_branches",
    "parse_expression",
    "required_branches",
]

log = logging.getLogger(__name__)

_JAGGED_ADVICE = "reduce it with sum/max/min/mean/num or pick an object like Jet_pt[0]"
_LOGIC_HINT = (
    "; & | ^ ~ combine true/false values: put comparisons in parentheses, e.g. (x > 1) & (y < 2)"
)


@dataclass(frozen=True)
class Expression:
    """A checked expression: its text, where it comes from, and the names it refers to.

    ``where`` says where the expression comes from (``"feature 'ht'"``) and starts every error
    message. ``names`` are the free names (branches or earlier features), ``collections`` the
    collection names given to collection functions (``Jet`` in ``m_lead(Jet)``).
    """

    text: str
    where: str
    names: frozenset[str]
    collections: frozenset[str]

    @functools.cached_property
    def _tree(self) -> ast.Expression:
        return check_expression(self.text, self.where).tree

    def evaluate(
        self, namespace: Mapping[str, Any], *, fill: float = math.nan
    ) -> ak.Array | np.ndarray:
        """Compute the expression for every event; returns an awkward or numpy array.

        ``namespace`` maps branch and feature names to arrays (awkward, flat or jagged, or
        numpy). ``fill`` is used where a value does not exist (``Jet_pt[2]`` in a two-jet
        event, ``max`` of an empty list). A constant expression is repeated once per event.
        Raises :class:`UnknownBranch` for a name not in ``namespace`` and
        :class:`ExpressionError` when numpy/awkward cannot compute a piece.
        """
        with np.errstate(all="ignore"):  # log(0) = -inf and 0/0 = nan are fine for features
            result = _Interpreter(self, namespace, fill).visit(self._tree.body)
        if isinstance(result, ak.Array | np.ndarray):
            return result
        lengths = (len(v) for v in namespace.values() if isinstance(v, ak.Array | np.ndarray))
        length = next(lengths, None)
        return np.asarray(result) if length is None else np.full(length, result)


def parse_expression(text: str, *, where: str) -> Expression:
    """Parse and check ``text``; raise :class:`ExpressionError` for anything not allowed.

    Numbers (a YAML ``weight: 1``) are accepted and turned into their text.
    """
    if isinstance(text, bool | int | float):
        text = repr(text)
    if not isinstance(text, str):
        msg = f"{where}: expression must be text, not {type(text).__name__} {text!r}"
        raise ExpressionError(msg)
    checked = check_expression(text, where)
    expression = Expression(text, where, frozenset(checked.names), frozenset(checked.collections))
    log.debug("%s: parsed %r, needs %s", where, text, sorted(checked.names | checked.collections))
    return expression


def required_branches(
    expr: Expression, available: Iterable[str], defined: Iterable[str] = ()
) -> set[str]:
    """The branches to read for ``expr``: its names not in ``defined``, plus collection parts.

    ``available`` are the branches of the input tree and ``defined`` the features computed
    before this expression. A name that is neither raises :class:`UnknownBranch` with the
    nearest names.
    """
    available, defined = set(available), set(defined)
    needed = set()
    for name in sorted(expr.names - defined):
        if name not in available:
            msg = (
                f"{expr.where}: {name!r} is neither a branch of the input tree nor a feature "
                f"defined before it." + did_you_mean(name, available | defined)
            )
            raise UnknownBranch(msg)
        needed.add(name)
    for collection in sorted(expr.collections):
        try:
            needed.update(collection_branches(collection, available).values())
        except UnknownBranch as err:
            msg = f"{expr.where}: {err}"
            raise UnknownBranch(msg) from err
    return needed


def as_flat(values: Any, *, where: str, numbers_only: bool = False) -> np.ndarray:
    """One number per event as a 1-D numpy array; missing values (None) become NaN.

    With ``numbers_only`` (event weights), True/False values are refused rather than read as
    1/0, since a comparison in a weight is nearly always a slip.
    """
    flat = _flat_numpy(values, where, _JAGGED_ADVICE)
    if numbers_only and flat.dtype == np.bool_:
        msg = (
            f"{where} gives True/False values, not numbers; to weight by a condition write "
            "e.g. genWeight * where(MET_pt > 50, 1, 0)"
        )
        raise ExpressionError(msg)
    if isinstance(flat, np.ma.MaskedArray):
        return flat.astype(np.float64).filled(np.nan)
    return flat


def as_mask(values: Any, *, where: str) -> np.ndarray:
    """One True/False per event as a 1-D numpy bool array; missing values (None) fail."""
    advice = "use any(...), all(...) or num(...), e.g. any(Jet_pt > 30) or num(Jet_pt > 30) >= 2"
    flat = _flat_numpy(values, where, advice)
    if flat.dtype != np.bool_:
        msg = (
            f"{where} gives {flat.dtype} values, not True/False; a cut must be a comparison "
            f"such as 'MET_pt > 50' or 'num(Jet_pt) >= 2'"
        )
        raise ExpressionError(msg)
    if isinstance(flat, np.ma.MaskedArray):
        return flat.filled(False)
    return flat


def _flat_numpy(values: Any, where: str, jagged_advice: str) -> np.ndarray:
    if is_jagged(values):
        msg = f"{where} is jagged ({values.type.content}); {jagged_advice}"
        raise ExpressionError(msg)
    if isinstance(values, ak.Array):
        if primitive(values) is None and len(values) > 0:
            msg = f"{where} gives values of type {values.type.content}, not numbers"
            raise ExpressionError(msg)
        values = ak.to_numpy(values, allow_missing=True)
    values = np.asanyarray(values)
    if values.ndim != 1:
        msg = f"{where} is a single value, not one value per event"
        if values.ndim > 1:
            msg = f"{where} has shape {values.shape}, not one value per event"
        raise ExpressionError(msg)
    return values


class _Interpreter:
    """Evaluates a checked tree bottom-up; each node's own failure names that node."""

    def __init__(self, expr: Expression, namespace: Mapping[str, Any], fill: float) -> None:
        self.expr, self.namespace, self.fill = expr, namespace, fill

    def visit(self, node: ast.AST) -> Any:
        return getattr(self, f"visit_{type(node).__name__}")(node)

    def apply(self, node: ast.AST, function: Callable[..., Any], *args: Any, hint: str = "") -> Any:
        try:
            return function(*args)
        except HepmlError:
            raise
        except Exception as err:
            msg = f"{self.expr.where}: cannot compute {ast.unparse(node)!r}: {err}{hint}"
            raise ExpressionError(msg) from err

    def visit_Constant(self, node: ast.Constant) -> Any:
        if isinstance(node.value, bool):
            return np.bool_(node.value)
        if isinstance(node.value, int):
            return np.int64(node.value)
        return np.float64(node.value)

    def visit_Name(self, node: ast.Name) -> Any:
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        try:
            return self.namespace[node.id]
        except KeyError:
            msg = f"{self.expr.where}: no branch or feature named {node.id!r}." + did_you_mean(
                node.id, self.namespace.keys()
            )
            raise UnknownBranch(msg) from None

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        left, right = self.visit(node.left), self.visit(node.right)
        hint = _LOGIC_HINT if isinstance(node.op, ast.BitAnd | ast.BitOr | ast.BitXor) else ""
        texts = (_source(node.left), _source(node.right))
        return self.apply(node, binary, node.op, left, right, texts, hint=hint)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        hint = _LOGIC_HINT if isinstance(node.op, ast.Invert) else ""
        operand = self.visit(node.operand)
        return self.apply(node, unary, node.op, operand, _source(node.operand), hint=hint)

    def visit_BoolOp(self, node: ast.BoolOp) -> Any:
        values = [self.visit(value) for value in node.values]
        texts = [_source(value) for value in node.values]
        return self.apply(node, logical, node.op, values, texts)

    def visit_Compare(self, node: ast.Compare) -> Any:
        left, result = self.visit(node.left), None
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self.visit(comparator)
            passed = self.apply(node, compare, op, left, right)
            result = passed if result is None else self.apply(node, np.logical_and, result, passed)
            left = right
        return result

    def visit_Subscript(self, node: ast.Subscript) -> Any:
        values, index = self.visit(node.value), node.slice
        negative = isinstance(index, ast.UnaryOp) and isinstance(index.op, ast.USub)
        literal = index.operand if negative else index
        if isinstance(literal, ast.Constant):
            position = -literal.value if negative else literal.value
            return self.apply(node, pick_object, values, position, self.fill)
        return self.apply(node, _filter_objects, values, self.visit(index))

    def visit_Call(self, node: ast.Call) -> Any:
        spec = FUNCTIONS[node.func.id]
        args = []
        for position, arg in enumerate(node.args):
            if position < spec.collections:
                args.append(self.momenta(arg.id))
            elif position in spec.int_literals:
                args.append(arg.value)
            else:  # integers of every width are int64 here, as in arithmetic
                args.append(self.apply(arg, as_int64, self.visit(arg)))
        result = self.apply(node, functools.partial(spec.impl, fill=self.fill), *args)
        if isinstance(result, bool | int | float):  # vector objects give Python floats
            return np.asarray(result)[()]
        return result

    def momenta(self, collection: str) -> Any:
        try:
            return collection_momenta(collection, self.namespace)
        except UnknownBranch as err:
            msg = f"{self.expr.where}: {err}"
            raise UnknownBranch(msg) from err
        except Exception as err:  # e.g. Jet_pt and Jet_eta with different object counts
            names = ", ".join(collection_branches(collection, self.namespace.keys()).values())
            msg = (
                f"{self.expr.where}: cannot combine the branches of collection {collection!r} "
                f"({names}) into four-vectors; do they have the same number of objects in "
                f"every event? ({type(err).__name__}: {' '.join(str(err).split()[:12])})"
            )
            raise ExpressionError(msg) from err


def _filter_objects(values: Any, mask: Any) -> Any:
    """``Jet_pt[Jet_pt > 30]``: keep objects within events, never drop whole events."""
    if not (is_jagged(values) and is_jagged(mask) and primitive(mask) == "bool"):
        msg = (
            "a subscript must be an integer like Jet_pt[0] or a jagged True/False mask like "
            "Jet_pt[Jet_pt > 30] (events are selected with a selection cut, not here)"
        )
        raise TypeError(msg)
    return values[mask]


def _source(node: ast.AST) -> str:
    """An operand's source for messages, in parentheses unless it is a single term."""
    text = ast.unparse(node)
    simple = isinstance(node, ast.Name | ast.Constant | ast.Subscript | ast.Call)
    return text if simple else f"({text})"

"""The operators of the expression language, with integer arithmetic that never wraps.

numpy computes ``uint32 - uint32`` in uint32 (``nMuon - nJet`` = 4294967294), ``uint8 * uint8``
in uint8, ``~`` on an integer flag bitwise (``~1`` = -2, which is "true"), ``x // 0`` as 0,
and lets int64 products wrap around. The language's rules, documented in the "Integers"
section of ``hepml.ingest.expressions.language``, avoid all of that:

* integers of every width are computed as int64, and a result beyond int64 is an error;
* ``//`` and ``%`` by zero give NaN, ``/`` and ``**`` give float64;
* ``~``, ``not``, ``and``, ``or`` take True/False only; ``& | ^`` are logical on True/False
  and bitwise on integers, and mixing the two is an error.

Each function gets the operand values and, for messages, their source text. Errors are plain
exceptions that the interpreter turns into an ``ExpressionError`` naming the expression.
"""

from __future__ import annotations

import ast
import functools
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from hepml.ingest.expressions.values import (
    INT64_MIN,
    as_float,
    as_int64,
    bool_as_int,
    check_no_overflow,
    kind_of,
    primitive,
    where,
)

__all__ = ["binary", "compare", "logical", "unary"]

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow, ast.BitAnd: operator.and_, ast.BitOr: operator.or_,
    ast.BitXor: operator.xor,
}  # fmt: skip
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}  # fmt: skip
_BITWISE = (ast.BitAnd, ast.BitOr, ast.BitXor)
_SYMBOL = {ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.And: "and", ast.Or: "or"}


def binary(op: ast.operator, left: Any, right: Any, texts: Sequence[str]) -> Any:
    """``left op right`` for an arithmetic or bitwise operator; ``texts`` are their sources."""
    if isinstance(op, _BITWISE):
        return _bitwise(op, left, right, texts)
    left, right = as_int64(bool_as_int(left)), as_int64(bool_as_int(right))
    function = _BINARY[type(op)]
    if not (kind_of(left) == "int" and kind_of(right) == "int"):
        return function(left, right)  # floating point: IEEE rules (x / 0 is inf, 0 / 0 NaN)
    if isinstance(op, ast.Pow):
        return as_float(left) ** right  # int ** int overflows, and fails for right < 0
    if isinstance(op, ast.FloorDiv | ast.Mod):
        return _integer_division(function, left, right)
    result = function(left, right)
    if isinstance(op, ast.Add):
        check_no_overflow(((left ^ result) & (right ^ result)) < 0)
    elif isinstance(op, ast.Sub):
        check_no_overflow(((left ^ right) & (left ^ result)) < 0)
    elif isinstance(op, ast.Mult):
        check_no_overflow(_product_overflowed(left, right, result))
    return result  # ast.Div: int64 / int64 is float64 already


def _product_overflowed(left: Any, right: Any, product: Any) -> Any:
    """Where ``left * right`` wrapped: an exact product divides back to ``right``.

    A wrapped product differs from the true one by a multiple of 2**64, too much to divide
    back to ``right``; the one exception is -1 * -2**63, which wraps onto itself.
    """
    divisor = where(left == 0, 1, left)
    wrong = (product // divisor) != right
    return (left != 0) & (wrong | ((left == -1) & (right == INT64_MIN)))


def _integer_division(function: Callable[[Any, Any], Any], left: Any, right: Any) -> Any:
    """``//`` or ``%`` of int64 values: NaN where the divisor is 0 (numpy gives 0 there).

    With a constant divisor the result stays int64 (or is all NaN for 0); with a divisor that
    varies it is float64, NaN where the divisor is 0, so its type does not depend on the data.
    """
    if isinstance(right, np.generic) or (isinstance(right, np.ndarray) and right.ndim == 0):
        if right == 0:
            return as_float(left) * np.nan
        if function is operator.floordiv and right == -1:
            check_no_overflow(left == INT64_MIN)  # -2**63 // -1 = 2**63
        return function(left, right)
    zero = right == 0
    safe = where(zero, 1, right)
    if function is operator.floordiv:
        check_no_overflow((left == INT64_MIN) & (safe == -1))
    return where(zero, np.nan, as_float(function(left, safe)))


def _bitwise(op: ast.operator, left: Any, right: Any, texts: Sequence[str]) -> Any:
    """``& | ^``: logical on True/False, bitwise (int64) on integers, never on a mix."""
    kinds = (kind_of(left), kind_of(right))
    if kinds == ("int", "int"):
        return _BINARY[type(op)](as_int64(left), as_int64(right))
    if set(kinds) == {"bool", "int"}:
        number = texts[kinds.index("int")]
        msg = (
            f"'{_SYMBOL[type(op)]}' mixes True/False and integers ({number}): it is logical on "
            f"True/False and bitwise on integers; compare the integer first, e.g. "
            f"({number} != 0), or test a bit with (({number} & 4) != 0)"
        )
        raise TypeError(msg)
    return _BINARY[type(op)](left, right)  # floats: numpy refuses, the caller adds advice


def unary(op: ast.unaryop, operand: Any, text: str) -> Any:
    """``-x``, ``+x`` (numbers, True/False as 1/0), ``~x`` and ``not x`` (True/False only)."""
    if isinstance(op, ast.Invert | ast.Not):
        _require_conditions([operand], [text], "~" if isinstance(op, ast.Invert) else "not")
        return np.logical_not(operand)
    operand = as_int64(bool_as_int(operand))
    if isinstance(op, ast.UAdd):
        return operand
    if kind_of(operand) == "int":
        check_no_overflow(operand == INT64_MIN)  # -(-2**63) = 2**63
    return -operand


def compare(op: ast.cmpop, left: Any, right: Any) -> Any:
    """A comparison; integers of any width are compared exactly, as int64."""
    return _COMPARE[type(op)](as_int64(left), as_int64(right))


def logical(op: ast.boolop, values: Sequence[Any], texts: Sequence[str]) -> Any:
    """``a and b and ...`` / ``a or b or ...`` elementwise, on True/False values only."""
    _require_conditions(values, texts, _SYMBOL[type(op)])
    combine = np.logical_and if isinstance(op, ast.And) else np.logical_or
    return functools.reduce(combine, values)


def _require_conditions(values: Sequence[Any], texts: Sequence[str], symbol: str) -> None:
    for value, text in zip(values, texts, strict=True):
        kind = kind_of(value)
        if kind in ("int", "float"):
            msg = (
                f"'{symbol}' is logic and takes True/False values, but {text} holds numbers "
                f"({primitive(value)}); compare it first, e.g. {text} == 0 or {text} != 0"
            )
            raise TypeError(msg)

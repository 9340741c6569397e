"""Parse expression text with :mod:`ast` and check the tree against the hepml whitelist.

Nothing here runs user text: ``ast.parse`` only builds a syntax tree, which is then walked
node by node; anything not in the language (attribute access, lambdas, strings, calls of
unknown functions, ...) is rejected with an :class:`ExpressionError` that names the
expression's context (``where``), the offending piece and its column, and what is allowed.
Size limits stop pathological input (deep nesting, huge literals) before it can exhaust the
stack or memory. The interpreter in ``expressions.py`` trusts trees that passed this check.
"""

from __future__ import annotations

import ast
import re
import warnings
from dataclasses import dataclass, field
from typing import NoReturn

from hepml.exceptions import ExpressionError, did_you_mean
from hepml.ingest.expressions.functions import CONSTANTS, FUNCTIONS, MAX_LEADING_OBJECTS

__all__ = ["MAX_DEPTH", "MAX_LENGTH", "MAX_NODES", "CheckedTree", "check_expression"]

MAX_LENGTH = 10_000
MAX_DEPTH = 100
MAX_NODES = 5_000
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_INDEX = 2**31  # Jet_pt[i]: no collection is this long; keeps i + 1 far from overflow

ALLOWED = (
    "expressions may use branch and feature names, numbers, + - * / // % **, comparisons, "
    "& | ^ ~ and/or/not, object indexing like Jet_pt[0], mask filtering like "
    "Jet_pt[Jet_pt > 30], and the functions " + ", ".join(sorted(FUNCTIONS))
)

_BIN_OPS = (
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow,
    ast.BitAnd, ast.BitOr, ast.BitXor,
)  # fmt: skip
_COMPARE_OPS = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_SYMBOLS = {
    ast.MatMult: "@", ast.LShift: "<<", ast.RShift: ">>",
    ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in",
}  # fmt: skip
_FORBIDDEN = {
    ast.Attribute: ("attribute access", ""),
    ast.Lambda: ("a lambda", ""),
    ast.ListComp: ("a list comprehension", ""),
    ast.SetComp: ("a set comprehension", ""),
    ast.DictComp: ("a dict comprehension", ""),
    ast.GeneratorExp: ("a generator expression", ""),
    ast.JoinedStr: ("an f-string", ""),
    ast.Starred: ("a starred argument", ""),
    ast.NamedExpr: ("an assignment expression (:=)", ""),
    ast.IfExp: ("a conditional expression", "; use where(condition, a, b) instead"),
    ast.Set: ("a set", ""),
    ast.Dict: ("a dict", ""),
    ast.List: ("a list", ""),
    ast.Tuple: ("a tuple", ""),
    ast.Slice: ("a slice", "; pick single objects like Jet_pt[0] or filter with a mask"),
    ast.Await: ("await", ""),
}
_STATEMENT_HINTS = {ast.Assign: "; to compare use '=='", ast.Import: "", ast.ImportFrom: ""}


@dataclass
class CheckedTree:
    """A parsed expression that passed the whitelist, with the names it refers to."""

    tree: ast.Expression
    names: set[str] = field(default_factory=set)
    collections: set[str] = field(default_factory=set)


def check_expression(text: str, where: str) -> CheckedTree:
    """Parse ``text`` and check every node; raise :class:`ExpressionError` if not allowed."""
    if len(text) > MAX_LENGTH:
        msg = f"{where}: expression is {len(text)} characters long; the limit is {MAX_LENGTH}"
        raise ExpressionError(msg)
    if not text.strip():
        msg = f"{where}: expression is empty"
        raise ExpressionError(msg)
    tree = _parse(text, where)
    _check_size(tree, where)
    checked = CheckedTree(tree)
    _Checker(text, where, checked).check(tree.body)
    return checked


def _parse(text: str, where: str) -> ast.Expression:
    try:
        with warnings.catch_warnings():  # e.g. invalid escape sequences in strings we reject
            warnings.simplefilter("ignore")
            return ast.parse(text, mode="eval")
    except SyntaxError as err:
        raise ExpressionError(_syntax_message(text, where, err)) from err
    except (RecursionError, MemoryError) as err:
        msg = f"{where}: expression is nested too deeply to parse (limit {MAX_DEPTH} levels)"
        raise ExpressionError(msg) from err
    except ValueError as err:  # e.g. null bytes
        msg = f"{where}: cannot parse expression: {err}"
        raise ExpressionError(msg) from err


def _syntax_message(text: str, where: str, err: SyntaxError) -> str:
    try:  # does it parse as statements? then say so instead of pointing at a caret
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = ast.parse(text, mode="exec")
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        module = None
    if module is not None and len(module.body) > 1:
        return (
            f"{where}: {_shorten(text)} holds {len(module.body)} statements; write one "
            f"expression (a line break ends it: wrap a multi-line expression in parentheses)"
        )
    if module is not None and module.body:
        statement = module.body[0]
        hint = _STATEMENT_HINTS.get(type(statement), "")
        kind = type(statement).__name__.lower()
        return (
            f"{where}: {_shorten(text)} is a statement ({kind}), not an expression{hint}; "
            f"write a single formula such as 'Jet_pt[0] > 30'"
        )
    message = f"{where}: invalid syntax in {_shorten(text)}: {err.msg}"
    lines = _source_lines(text)
    if err.lineno and err.offset and 0 < err.lineno <= len(lines) and len(text) <= 200:
        line = lines[err.lineno - 1]
        column = min(err.offset, len(line) + 1)
        location = f"line {err.lineno}, " if len(lines) > 1 else ""
        message += f" ({location}column {column})\n    {line}\n    {' ' * (column - 1)}^"
    return message


def _source_lines(text: str) -> list[str]:
    """Lines as Python counts them (str.splitlines also breaks at form feeds and the like)."""
    return re.split(r"\r\n|\r|\n", text)


def _shorten(text: str, limit: int = 80) -> str:
    """``repr`` of ``text``, cut in the middle when long, so messages stay readable."""
    if len(text) <= limit:
        return repr(text)
    return repr(text[: limit // 2] + " ... " + text[-limit // 2 :])


def _check_size(tree: ast.AST, where: str) -> None:
    """Count nodes and depth without recursion, so no tree can overflow the stack here."""
    stack, nodes = [(tree, 1)], 0
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if depth > MAX_DEPTH:
            msg = f"{where}: expression is nested more than {MAX_DEPTH} levels deep"
            raise ExpressionError(msg)
        if nodes > MAX_NODES:
            msg = f"{where}: expression has more than {MAX_NODES} syntax elements"
            raise ExpressionError(msg)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


class _Checker:
    """Walks a size-checked tree (recursion is safe: depth <= MAX_DEPTH) and collects names."""

    def __init__(self, text: str, where: str, result: CheckedTree) -> None:
        self.text, self.where, self.result = text, where, result

    def fail(self, node: ast.AST, problem: str, advice: str = ALLOWED) -> NoReturn:
        piece = _shorten(ast.get_source_segment(self.text, node) or ast.unparse(node))
        lines = _source_lines(self.text)
        line = lines[node.lineno - 1] if 0 < node.lineno <= len(lines) else ""
        column = len(line.encode()[: node.col_offset].decode(errors="ignore")) + 1
        location = f"line {node.lineno}, column {column}" if node.lineno > 1 else f"column {column}"
        msg = f"{self.where}: {problem} {piece} (at {location}) is not allowed; {advice}"
        raise ExpressionError(msg)

    def check(self, node: ast.AST) -> None:
        method = getattr(self, f"check_{type(node).__name__}", None)
        if method is not None:
            method(node)
            return
        problem, hint = _FORBIDDEN.get(type(node), (f"{type(node).__name__} syntax", ""))
        self.fail(node, problem, (hint[2:] + "; " if hint else "") + ALLOWED)

    def check_Constant(self, node: ast.Constant) -> None:
        value = node.value
        if isinstance(value, bool | float):
            return
        if isinstance(value, int):
            if not INT64_MIN <= value <= INT64_MAX:
                self.fail(node, "the integer", "integers must fit in 64 bits; write 1e30 style")
            return
        if isinstance(value, str | bytes):
            advice = "branch names are written without quotes; " + ALLOWED
            self.fail(node, "a string", advice)
        self.fail(node, f"the constant {type(value).__name__}")

    def check_Name(self, node: ast.Name) -> None:
        if node.id.startswith("__") and node.id.endswith("__"):
            self.fail(node, "the double-underscore name")
        if node.id not in CONSTANTS:
            self.result.names.add(node.id)

    def check_BinOp(self, node: ast.BinOp) -> None:
        if not isinstance(node.op, _BIN_OPS):
            self.fail(node, f"the operator {_SYMBOLS.get(type(node.op), '?')!r} in")
        self.check(node.left)
        self.check(node.right)

    def check_UnaryOp(self, node: ast.UnaryOp) -> None:
        self.check(node.operand)

    def check_BoolOp(self, node: ast.BoolOp) -> None:
        for value in node.values:
            self.check(value)

    def check_Compare(self, node: ast.Compare) -> None:
        for op in node.ops:
            if not isinstance(op, _COMPARE_OPS):
                symbol = _SYMBOLS.get(type(op), "?")
                self.fail(node, f"the comparison {symbol!r} in", "compare with == != < <= > >=")
        self.check(node.left)
        for comparator in node.comparators:
            self.check(comparator)

    def check_Subscript(self, node: ast.Subscript) -> None:
        self.check(node.value)
        index = node.slice
        if isinstance(index, ast.UnaryOp) and isinstance(index.op, ast.USub):
            index = index.operand  # Jet_pt[-1]
        if isinstance(index, ast.Constant):
            if type(index.value) is not int:
                advice = "index with an integer like Jet_pt[0] or a mask like Jet_pt[Jet_pt > 30]"
                self.fail(node.slice, "the index", advice)
            if abs(index.value) > MAX_INDEX:
                self.fail(node.slice, "the index", f"indices must be below {MAX_INDEX}")
            return
        if isinstance(index, ast.Tuple | ast.Slice):
            advice = "pick one object like Jet_pt[0] or filter with a mask like Jet_pt[Jet_pt > 30]"
            self.fail(node.slice, _FORBIDDEN[type(index)][0] + " index", advice)
        self.check(node.slice)  # a mask expression

    def check_Call(self, node: ast.Call) -> None:
        if not isinstance(node.func, ast.Name):
            if isinstance(node.func, ast.Attribute) and node.func.attr in FUNCTIONS:
                advice = f"write {node.func.attr}(...) with the value as argument"
                self.fail(node.func, "method call", advice)
            self.check(node.func)  # attribute access, lambda ... each have their own message
            self.fail(node.func, "calling", "only the named functions can be called")
        name = node.func.id
        spec = FUNCTIONS.get(name)
        if spec is None:
            advice = ("functions allowed are " + ", ".join(sorted(FUNCTIONS)) + "."
                      + did_you_mean(name, FUNCTIONS))  # fmt: skip
            self.fail(node.func, "the unknown function", advice)
        for keyword in node.keywords:
            advice = f"pass arguments by position: {spec.signature}"
            self.fail(keyword, "the keyword argument", advice)
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                self.check(arg)
        if not spec.min_args <= len(node.args) <= spec.max_args:
            problem = f"calling with {len(node.args)} argument(s)"
            self.fail(node, problem, f"the signature is {spec.signature}")
        for position, arg in enumerate(node.args):
            if position < spec.collections:
                self.check_collection(arg, spec.signature)
            elif position in spec.int_literals:
                if not (
                    isinstance(arg, ast.Constant)
                    and type(arg.value) is int
                    and 1 <= arg.value <= MAX_LEADING_OBJECTS
                ):
                    advice = (
                        f"a positive integer from 1 to {MAX_LEADING_OBJECTS} is expected (the "
                        f"cost grows with it): {spec.signature}"
                    )
                    self.fail(arg, "the argument", advice)
            else:
                self.check(arg)

    def check_collection(self, node: ast.AST, signature: str) -> None:
        advice = f"give a collection name, e.g. Jet for Jet_pt, Jet_eta, ...: {signature}"
        if not isinstance(node, ast.Name) or node.id in CONSTANTS:
            self.fail(node, "the collection argument", advice)
        if node.id.startswith("__") and node.id.endswith("__"):
            self.fail(node, "the double-underscore name")
        self.result.collections.add(node.id)

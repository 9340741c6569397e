"""The names the expression language reserves: its constants and Python's keywords.

Kept free of numpy and awkward so that config validation can refuse a feature or alias named
like one of them without importing the interpreter: a feature called ``e`` would otherwise be
silently replaced by 2.718... in every later expression, and one called ``True`` or ``if``
could never be referred to at all.
"""

from __future__ import annotations

import keyword
import math

__all__ = ["CONSTANT_VALUES", "RESERVED_NAMES", "reserved_name_error"]

CONSTANT_VALUES: dict[str, float] = {"pi": math.pi, "e": math.e, "inf": math.inf, "nan": math.nan}

# True/False/None are keywords: in an expression they are the constants, never a name
RESERVED_NAMES: frozenset[str] = frozenset(CONSTANT_VALUES) | frozenset(keyword.kwlist)


def reserved_name_error(name: str, where: str) -> str | None:
    """The error message for a user-defined ``name`` that expressions could not refer to.

    ``where`` says what the name is (``"features[3].name"``). None when the name is fine.
    """
    if name not in RESERVED_NAMES:
        return None
    constants = ", ".join(sorted(CONSTANT_VALUES))
    if name in CONSTANT_VALUES:
        why = f"in expressions '{name}' is the constant {CONSTANT_VALUES[name]!r}"
    else:
        why = f"'{name}' is a Python keyword, which expressions cannot use as a name"
    return (
        f"{where} = '{name}' is reserved: {why}, so later expressions could never refer to "
        f"it. Choose another name (the reserved names are the constants {constants} and "
        f"Python's keywords such as True, False, None, and, or, not, if)."
    )

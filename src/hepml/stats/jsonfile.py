"""Reading the JSON files of hepml.stats: one clear error, naming the file, for any failure.

Each file written by the package carries a ``format`` tag (e.g. ``hepml-templates-1``);
:func:`check_format` refuses data of another format or version.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from hepml.exceptions import DataError, InputFileError

__all__ = ["check_format", "read_json_file"]

T = TypeVar("T")


def check_format(data: Any, expected: str, what: str) -> None:
    """Raise a DataError unless ``data`` is a mapping with ``format == expected``."""
    found = data.get("format") if isinstance(data, dict) else None
    if found != expected:
        msg = f"not {what}: format is {found!r}, expected '{expected}'"
        raise DataError(msg)


def read_json_file(path: str | os.PathLike[str], what: str, convert: Callable[[Any], T]) -> T:
    """``convert(data)`` of the JSON in ``path``; unreadable JSON or a DataError of
    ``convert`` becomes an InputFileError that names the file and ``what`` it should hold."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        msg = f"cannot read {what} from {path}: {err}"
        raise InputFileError(msg) from err
    try:
        return convert(data)
    except DataError as err:
        msg = f"{path}: {err}"
        raise InputFileError(msg) from err

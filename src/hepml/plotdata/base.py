"""What every plot-data file shares: a ``format`` field, checked on read, and array helpers.

A plot-data object is written by the stage that computes it (evaluation, tuning) and read
back by the plotting side. Its JSON form starts with ``"format": "<name>/<version>"``; reading
a file of another name, of another version or without the field (written before plot data
were versioned) raises a :class:`~hepml.exceptions.DataError` that names the file, what it
holds and the rule that writes the expected form, instead of a ``KeyError`` deep in a plot.
Non-finite numbers are written as ``null`` (strict JSON) and read back as NaN.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from hepml.atomic import write_json
from hepml.exceptions import DataError

__all__ = ["PlotData", "floats", "json_floats", "json_number", "number"]


def floats(values: Iterable[float | None] | np.ndarray) -> np.ndarray:
    """A float array from JSON values (None -> NaN)."""
    if isinstance(values, np.ndarray):
        return values.astype(float, copy=False)
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def json_floats(values: Iterable[float] | np.ndarray) -> list[float | None]:
    """JSON-ready floats: NaN and infinities become None (strict JSON has neither)."""
    return [json_number(v) for v in np.asarray(values, dtype=float).tolist()]


def json_number(value: float | None) -> float | None:
    """One float for JSON (None for NaN, an infinity or None)."""
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None


def number(value: float | None) -> float:
    """A float from JSON (None -> NaN)."""
    return np.nan if value is None else float(value)


class PlotData:
    """Mix-in of a plot-data file: ``FORMAT``/``VERSION`` name its JSON form, ``RULE`` the
    workflow rule that writes it. Subclasses define ``_content`` and ``_from_content``."""

    FORMAT: ClassVar[str]
    VERSION: ClassVar[int]
    RULE: ClassVar[str]

    @classmethod
    def format_tag(cls) -> str:
        """The value of the ``format`` field: ``name/version``."""
        return f"{cls.FORMAT}/{cls.VERSION}"

    def to_json(self) -> dict[str, Any]:
        """The JSON-ready form, with its ``format`` field."""
        return {"format": self.format_tag(), **self._content()}

    def _content(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def _from_content(cls, content: Mapping[str, Any]) -> Self:
        raise NotImplementedError

    @classmethod
    def from_json(cls, content: Mapping[str, Any], *, source: str = "plot data") -> Self:
        """The object of a JSON form; raises DataError for another or a malformed format."""
        cls.check_format(content, source)
        try:
            return cls._from_content(content)
        except (KeyError, TypeError, ValueError, IndexError) as err:
            msg = (
                f"{source}: malformed {cls.format_tag()} data ({type(err).__name__}: {err}); "
                f"rerun the {cls.RULE} rule"
            )
            raise DataError(msg) from err

    @classmethod
    def check_format(cls, content: Any, source: str) -> None:
        """Raise DataError unless ``content`` is this class's name and version."""
        tag = content.get("format") if isinstance(content, Mapping) else None
        rerun = f"rerun the {cls.RULE} rule to write it anew"
        if not isinstance(tag, str):
            msg = (
                f"{source} has no 'format' field: it was written by an older hepml (before "
                f"plot data were versioned) or by something else; expected {cls.format_tag()}: "
                f"{rerun}"
            )
            raise DataError(msg)
        name, _, version = tag.partition("/")
        if name != cls.FORMAT:
            msg = f"{source} holds '{tag}', not {cls.FORMAT} data: is it the right file?"
            raise DataError(msg)
        if version != str(cls.VERSION):
            msg = (
                f"{source} is {tag}, but this hepml reads {cls.format_tag()}: {rerun}, or read "
                "it with the hepml version that wrote it"
            )
            raise DataError(msg)

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the JSON form to ``path`` atomically (see :func:`hepml.atomic.write_json`)."""
        write_json(path, self.to_json())
        return Path(path)

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> Self:
        """Read and check a file written by :meth:`write`."""
        path = Path(path)
        if not path.is_file():
            msg = f"'{path}' does not exist; run the {cls.RULE} rule first"
            raise DataError(msg)
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as err:
            msg = f"cannot read '{path}' as JSON ({err}); rerun the {cls.RULE} rule"
            raise DataError(msg) from err
        return cls.from_json(content, source=f"'{path}'")

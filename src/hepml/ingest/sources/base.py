"""The interface every input source offers, and flat names over nested fields.

:class:`Source` is what the stages read through, whatever the kind of file (see
:mod:`hepml.ingest.sources`); :class:`Column` describes one name. :class:`FieldSource` is the common
part of the RNTuple and Parquet sources, whose fields may be records or lists of records:
:func:`columns_of` turns their awkward form into the flat names expressions use (``Jet_pt``
for field ``pt`` of collection ``Jet``, ``nJet`` for its length, ``MET_pt`` for field ``pt``
of record ``MET``), and :meth:`FieldSource.flat` turns a chunk as read into those names,
without option types (Parquet columns are nullable).
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import awkward as ak
import numpy as np

from hepml.exceptions import DataError

if TYPE_CHECKING:
    from hepml.ingest.reading import InputFile

__all__ = ["Column", "FieldSource", "Source", "columns_of"]


@dataclass(frozen=True)
class Column:
    """One name expressions can use: its type, and (RNTuple, Parquet) where it is stored.

    ``dtype`` is the number type (None for text and objects) and ``depth`` the list levels
    per event (0: one value per event, 1: a list per event). ``path`` is the field path in
    the file (``("Jet", "pt")``); ``count`` marks the object count of collection ``path[0]``.
    """

    name: str
    typename: str
    dtype: np.dtype | None
    depth: int
    path: tuple[str, ...] = ()
    count: bool = False

    @property
    def numeric(self) -> bool:
        """Numbers or booleans, one per event or a list per event: what expressions can use."""
        return self.dtype is not None and self.dtype.kind in "biuf" and self.depth <= 1


class Source(abc.ABC):
    """An opened input file: the names expressions can use, its entries, and its chunks.

    ``kind`` is one of :data:`KINDS`; ``item`` is what the kind calls a column (branch,
    field, column), for messages; ``where`` names the tree and the file.
    """

    kind: ClassVar[str]
    item: ClassVar[str]

    def __init__(self, file: InputFile) -> None:
        self.file = file
        self.names: frozenset[str] = frozenset()
        self.num_entries = 0

    @property
    def what(self) -> str:
        """The tree in words: ``tree 'events'``, ``RNTuple 'Events'``, ``Parquet file``."""
        return f"tree '{self.file.tree}'"

    @property
    def where(self) -> str:
        """The tree and the file in words, for messages."""
        return f"{self.what} in '{self.file.path}'"

    @abc.abstractmethod
    def column(self, name: str) -> Column:
        """The type of ``name`` (one of ``names``)."""

    @abc.abstractmethod
    def iterate(
        self, names: Iterable[str], step_size: str | int, entry_start: int = 0
    ) -> Iterator[tuple[ak.Array, int, int]]:
        """Yield ``(arrays of names, entry_start, entry_stop)``, entries in file order, from
        entry ``entry_start`` on (a read of a remote file resumed after an error)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close the file."""

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class FieldSource(Source):
    """A source whose columns come from an awkward form: flat names over nested fields."""

    columns: dict[str, Column]

    def _set_columns(self, form: ak.forms.RecordForm) -> None:
        self.columns = columns_of(form)
        self.names = frozenset(self.columns)

    def column(self, name: str) -> Column:
        return self.columns[name]

    def flat(self, arrays: ak.Array, names: Iterable[str], start: int) -> ak.Array:
        """``arrays`` as read (nested fields) -> one flat field per name, without options."""
        out = {}
        for name in names:
            column = self.columns[name]
            values = arrays[column.path[0]]
            if len(column.path) > 1:
                values = values[column.path[1]]
            if column.count:
                values = ak.num(values, axis=1)
            where = f"{self.item} '{name}' of {self.where}"
            out[name] = _without_none(values, column, f"{where}, entries from {start}")
        if not out:
            return ak.Array(ak.contents.RecordArray([], None, length=len(arrays)))
        return ak.Array(out)


def columns_of(form: ak.forms.RecordForm) -> dict[str, Column]:
    """The flat names of a file's top-level fields: records and lists of records split."""
    columns: dict[str, Column] = {}
    counts: dict[str, Column] = {}
    for name, content in zip(form.fields, form.contents, strict=True):
        inner, levels = _lists(content)
        if isinstance(inner, ak.forms.RecordForm) and not inner.is_tuple and len(levels) <= 1:
            for sub, sub_form in zip(inner.fields, inner.contents, strict=True):
                flat = sub if sub.startswith(f"{name}_") else f"{name}_{sub}"
                leaf, sub_levels = _lists(sub_form)
                columns[flat] = _column(flat, leaf, levels + sub_levels, (name, sub))
            if levels and inner.fields:  # a collection: its length per event, as nJet
                path = (name, inner.fields[0])
                counts[f"n{name}"] = Column(f"n{name}", "int64", np.dtype(np.int64), 0, path, True)
        else:
            columns[name] = _column(name, inner, levels, (name,))
    for name, column in counts.items():
        columns.setdefault(name, column)
    return columns


def _lists(form: ak.forms.Form) -> tuple[ak.forms.Form, list[str]]:
    """``form`` without its options and list levels; the levels ("var" or a size)."""
    levels: list[str] = []
    while True:
        if form.is_option or isinstance(form, ak.forms.IndexedForm):
            form = form.content
        elif form.parameter("__array__") in ("string", "bytestring"):
            return form, levels
        elif isinstance(form, ak.forms.ListOffsetForm | ak.forms.ListForm):
            form, levels = form.content, [*levels, "var"]
        elif isinstance(form, ak.forms.RegularForm):
            form, levels = form.content, [*levels, str(form.size)]
        else:
            return form, levels


def _column(name: str, leaf: ak.forms.Form, levels: list[str], path: tuple[str, ...]) -> Column:
    dtype = None
    if isinstance(leaf, ak.forms.NumpyForm) and leaf.parameter("__array__") is None:
        dtype = np.dtype(leaf.primitive)
        levels = levels + [str(n) for n in leaf.inner_shape]
        leaf = ak.forms.NumpyForm(leaf.primitive)
    typename = " * ".join([*levels, str(leaf.type)])
    return Column(name, typename, dtype, len(levels), path)


def _without_none(values: ak.Array, column: Column, where: str) -> ak.Array:
    """``values`` without option types: NaN for a missing float, an error for other nulls."""
    try:
        return ak.Array(_strip_options(values.layout))
    except _Missing as missing:
        count = missing.count
    if column.dtype is not None and column.dtype.kind == "f":
        values = ak.fill_none(values, column.dtype.type(np.nan), axis=-1)
        try:
            return ak.Array(_strip_options(values.layout))
        except _Missing as missing:  # a missing list, not a missing number
            count = missing.count
    msg = (
        f"{where}: {count} null (missing) value(s); a null is read as NaN in float columns "
        f"only, not in {column.typename} ones: fill them when writing the file"
    )
    raise DataError(msg)


class _Missing(Exception):
    def __init__(self, count: int) -> None:
        self.count = count


def _strip_options(layout: ak.contents.Content) -> ak.contents.Content:
    if layout.is_option:
        valid = np.asarray(layout.mask_as_bool(valid_when=True))
        if not valid.all():
            raise _Missing(int(np.count_nonzero(~valid)))
        return _strip_options(layout.project())
    if isinstance(layout, ak.contents.IndexedArray):
        return _strip_options(layout.project())
    if isinstance(layout, ak.contents.ListOffsetArray | ak.contents.ListArray):
        if layout.parameter("__array__") in ("string", "bytestring"):
            return layout
        return layout.copy(content=_strip_options(layout.content))
    if isinstance(layout, ak.contents.RegularArray):
        return layout.copy(content=_strip_options(layout.content))
    return layout

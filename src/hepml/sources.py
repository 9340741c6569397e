"""Input sources: one interface over the three kinds of ntuple hepml reads.

A sample's events are stored in ROOT TTrees, ROOT RNTuples or Parquet files (flat columns,
jagged ``list<float>`` columns, or lists of records as ``ak.to_parquet`` and coffea write
them). :func:`open_source` decides the kind from the file itself (the ROOT or Parquet magic
bytes, else a ``.parquet`` suffix; in a ROOT file, what the tree name holds) and returns a
:class:`Source`, which every stage reads through the same few members: ``names`` (what
expressions can use), ``column(name)`` (its type), ``num_entries`` and ``iterate``.

Expressions see flat names whatever the kind: a collection of records ``Jet`` with fields
``pt, eta`` appears as ``Jet_pt``, ``Jet_eta``, and its length per event as ``nJet``
(NanoAOD's convention, and the branches uproot writes for the same arrays as a TTree); a
field already called ``Jet_pt`` keeps its name; a record ``MET`` with a field ``pt`` gives
``MET_pt``. An event's entry number is its row within the file for every kind, so folds from
(file, entry) are the same for the same events in any of them. Parquet nulls in number
columns become NaN (pandas writes NaN as null); a null integer, boolean or list is refused.

A Parquet file has no trees: the ``tree`` of its sample is ignored.
"""

from __future__ import annotations

import abc
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import awkward as ak
import numpy as np

from hepml.exceptions import BadFile, DataError, InputFileError, did_you_mean

if TYPE_CHECKING:
    import pyarrow.parquet as pq
    import uproot

    from hepml.inputs import InputFile

__all__ = [
    "KINDS",
    "Column",
    "Source",
    "file_format",
    "is_remote",
    "open_source",
    "opened_source",
    "reason",
    "source_of",
    "special_file_problem",
]

KINDS = ("TTree", "RNTuple", "Parquet")
PARQUET_SUFFIXES = (".parquet", ".parq", ".pq")
_REMOTE = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_RNTUPLE_CLASS = "ROOT::RNTuple"


def reason(err: BaseException, limit: int = 300) -> str:
    """A third-party error as one short line, for messages about a file."""
    text = " ".join(f"{type(err).__name__}: {err}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_remote(path: str) -> bool:
    """True for URLs (``root://``, ``https://``), which are handed to uproot as they are."""
    return bool(_REMOTE.match(path))


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
        self, names: Iterable[str], step_size: str | int
    ) -> Iterator[tuple[ak.Array, int, int]]:
        """Yield ``(arrays of names, entry_start, entry_stop)``, entries in file order."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close the file."""

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class TTreeSource(Source):
    """A ROOT TTree, read with ``TTree.iterate``; names are its branches (recursively)."""

    kind, item = "TTree", "branch"

    def __init__(self, file: InputFile, tree: uproot.TTree) -> None:
        super().__init__(file)
        self.tree, self.root_file = tree, tree.file
        self.names = frozenset(tree.keys(recursive=True))
        self.num_entries = int(tree.num_entries)

    def column(self, name: str) -> Column:
        branch = self.tree[name]
        try:
            interpretation = branch.interpretation
        except Exception:  # uproot.interpretation.identify.UnknownInterpretation etc.
            interpretation = None
        dtype, depth = _numbers_of(interpretation)
        return Column(name, branch.typename, dtype, depth)

    def iterate(self, names, step_size):
        wanted = frozenset(names)
        chunks = self.tree.iterate(
            filter_name=lambda name: name in wanted,
            step_size=step_size,
            library="ak",
            report=True,
        )
        for arrays, report in chunks:
            yield arrays, report.tree_entry_start, report.tree_entry_stop

    def close(self) -> None:
        self.root_file.close()


def _numbers_of(interpretation) -> tuple[np.dtype | None, int]:
    """(number type, list depth) of a TBranch interpretation; None for non-numbers."""
    from uproot.interpretation.jagged import AsJagged
    from uproot.interpretation.numerical import Numerical

    depth = 0
    if isinstance(interpretation, AsJagged):
        interpretation, depth = interpretation.content, 1
    if not isinstance(interpretation, Numerical):
        return None, depth
    dtype = getattr(interpretation, "to_dtype", None)
    dtype = np.dtype(np.float64) if dtype is None else np.dtype(dtype)
    return dtype.base, depth + len(dtype.shape)  # float[3]: a list of 3 per event


class _FieldSource(Source):
    """A source whose columns come from an awkward form: flat names over nested fields."""

    columns: dict[str, Column]

    def _set_columns(self, form: ak.forms.RecordForm) -> None:
        self.columns = columns_of(form)
        self.names = frozenset(self.columns)

    def column(self, name: str) -> Column:
        return self.columns[name]

    def _flat(self, arrays: ak.Array, names: Iterable[str], start: int) -> ak.Array:
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
    if column.dtype is not None and column.dtype.kind == "f":
        values = ak.fill_none(values, column.dtype.type(np.nan), axis=-1)
    try:
        return ak.Array(_strip_options(values.layout))
    except _Missing as missing:
        msg = (
            f"{where}: {missing.count} null (missing) value(s); a null is read as NaN in float "
            f"columns only, not in {column.typename} ones: fill them when writing the file"
        )
        raise DataError(msg) from None


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


class RNTupleSource(_FieldSource):
    """A ROOT RNTuple, read with ``RNTuple.iterate``; record fields appear as flat names."""

    kind, item = "RNTuple", "field"

    def __init__(self, file: InputFile, ntuple) -> None:
        super().__init__(file)
        self.ntuple, self.root_file = ntuple, ntuple.file
        form, _ = ntuple.to_akform()
        self._set_columns(form)
        self.num_entries = int(ntuple.num_entries)

    @property
    def what(self) -> str:
        return f"RNTuple '{self.file.tree}'"

    def iterate(self, names, step_size):
        names = list(names)
        wanted = {".".join(self.columns[n].path) for n in names}
        chunks = self.ntuple.iterate(
            filter_name=lambda name: name in wanted,
            step_size=step_size,
            library="ak",
            report=True,
        )
        for arrays, report in chunks:
            start, stop = report.tree_entry_start, report.tree_entry_stop
            yield self._flat(arrays, names, start), start, stop

    def close(self) -> None:
        self.root_file.close()


class ParquetSource(_FieldSource):
    """A Parquet file, read in row batches with pyarrow; struct fields appear as flat names.

    Only the Parquet leaf columns of the names asked for are read; a string ``step_size``
    ("100 MB") becomes a number of rows from the uncompressed size of those columns.
    """

    kind, item = "Parquet", "column"

    def __init__(self, file: InputFile, parquet: pq.ParquetFile) -> None:
        super().__init__(file)
        self.parquet = parquet
        schema = parquet.schema_arrow
        self._set_columns(ak.from_arrow(schema.empty_table(), highlevel=False).form)
        self.num_entries = int(parquet.metadata.num_rows)
        self._leaves = _parquet_leaves(parquet)

    @property
    def what(self) -> str:
        return "Parquet file"

    @property
    def where(self) -> str:
        return f"Parquet file '{self.file.path}'"

    def iterate(self, names, step_size):
        names = list(names)
        paths = self._leaf_columns([self.columns[n].path for n in names])
        rows = self._rows(step_size, paths)
        tops = sorted({self.columns[n].path[0] for n in names})
        start = 0
        for batch in self.parquet.iter_batches(batch_size=rows, columns=paths, use_threads=False):
            stop = start + batch.num_rows
            arrays = {top: ak.from_arrow(batch.column(top)) for top in tops}
            yield self._flat(arrays, names, start), start, stop
            start = stop

    def _leaf_columns(self, paths: list[tuple[str, ...]]) -> list[str]:
        """The Parquet column paths to read for these field paths (whole fields if unsure)."""
        if self._leaves is None:
            return sorted({p[0] for p in paths})
        wanted = {
            column for path in paths for leaf, column in self._leaves if leaf[: len(path)] == path
        }
        return [column for _, column in self._leaves if column in wanted]

    def _rows(self, step_size: str | int, columns: list[str]) -> int:
        if isinstance(step_size, int):
            return max(1, step_size)
        metadata = self.parquet.metadata
        index = {metadata.schema.column(i).path: i for i in range(metadata.num_columns)}
        chosen = [
            i for path, i in index.items() if path in columns or path.split(".")[0] in columns
        ]
        size = sum(
            metadata.row_group(g).column(i).total_uncompressed_size
            for g in range(metadata.num_row_groups)
            for i in chosen
        )
        per_row = max(1.0, size / max(1, metadata.num_rows))
        return max(1, int(memory_size(step_size) // per_row))

    def close(self) -> None:
        self.parquet.close()


def _parquet_leaves(parquet: pq.ParquetFile) -> list[tuple[tuple[str, ...], str]] | None:
    """(struct field path, Parquet column path) of every leaf; None if they cannot be paired.

    Parquet stores one column per leaf in the depth-first order of the Arrow schema, with list
    levels named by the writer (``list.item``, ``list.element``); pairing them lets a batch
    read ``Jet.pt`` without the other fields of ``Jet``.
    """
    leaves: list[tuple[str, ...]] = []
    for field in parquet.schema_arrow:
        leaves.extend(_arrow_leaves(field.type, (field.name,)))
    columns = [parquet.schema.column(i).path for i in range(len(parquet.schema))]
    if len(leaves) != len(columns) or any(
        c.split(".")[0] != leaf[0] for leaf, c in zip(leaves, columns, strict=True)
    ):
        return None
    return list(zip(leaves, columns, strict=True))


def _arrow_leaves(kind, prefix: tuple[str, ...]) -> list[tuple[str, ...]]:
    import pyarrow as pa

    if pa.types.is_struct(kind):
        return [leaf for field in kind for leaf in _arrow_leaves(field.type, (*prefix, field.name))]
    if pa.types.is_map(kind):
        return [*_arrow_leaves(kind.key_type, prefix), *_arrow_leaves(kind.item_type, prefix)]
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return _arrow_leaves(kind.value_type, prefix)
    return [prefix]


_UNITS = {"B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "KiB": 2**10, "MiB": 2**20,
          "GiB": 2**30}  # fmt: skip


def memory_size(text: str) -> float:
    """Bytes of a step size such as ``"100 MB"`` (units as in uproot: kB = 1000 B)."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]+)\s*", text)
    if not match or match[2] not in _UNITS:
        msg = f"step_size '{text}' is not a number of entries nor a size such as '100 MB'"
        raise InputFileError(msg)
    return float(match[1]) * _UNITS[match[2]]


def special_file_problem(path: str) -> str | None:
    """Why ``path`` cannot be an input file (a directory, FIFO, socket or device), or None.

    Checked with ``os.stat`` before anything opens the file: opening a FIFO blocks until
    another process writes to it.
    """
    if is_remote(path):
        return None
    try:
        mode = Path(path).stat().st_mode
    except OSError:
        return None  # missing or unreadable: the opening says so
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        hint = ""
        if path.rstrip("/").endswith(PARQUET_SUFFIXES):
            hint = (
                f"; read a Parquet data set directory with a glob, '{path.rstrip('/')}/*.parquet'"
            )
        return f"input '{path}' is a directory, not a file{hint}"
    kinds = [
        (stat.S_ISFIFO, "FIFO (named pipe)"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
    ]
    kind = next((name for test, name in kinds if test(mode)), "special file")
    return f"input '{path}' is a {kind}, not a regular file; hepml reads only regular files"


def file_format(path: str) -> str:
    """``"ROOT"`` or ``"Parquet"``: from the magic bytes, else the suffix (ROOT by default).

    Raises :class:`InputFileError` for a missing, special or unreadable file.
    """
    problem = special_file_problem(path)
    if problem:
        raise InputFileError(problem)
    by_suffix = "Parquet" if path.split("?")[0].endswith(PARQUET_SUFFIXES) else "ROOT"
    if is_remote(path):
        return by_suffix
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except FileNotFoundError as err:
        msg = f"input file '{path}' does not exist"
        raise InputFileError(msg) from err
    except OSError as err:
        msg = f"input file '{path}' cannot be opened ({reason(err)})"
        raise InputFileError(msg) from err
    return {b"root": "ROOT", b"PAR1": "Parquet"}.get(magic, by_suffix)


def open_source(file: InputFile) -> Source:
    """Open ``file`` as a TTree, RNTuple or Parquet source, with clear errors for each failure.

    A file that does not exist, or is a directory, FIFO, socket or device, raises
    :class:`InputFileError`; one that cannot be read, lacks the tree, or holds something else
    under the tree's name raises :class:`BadFile` (which ``on_bad_file: skip`` may skip).
    """
    if file_format(file.path) == "Parquet":
        return _open_parquet(file)
    return _open_root(file)


def opened_source(file: InputFile) -> Source:
    """:func:`open_source`, for ``with opened_source(file) as source:`` (closes the file)."""
    return open_source(file)


def _open_parquet(file: InputFile) -> Source:
    import pyarrow.parquet as pq

    if is_remote(file.path):
        msg = f"input file '{file.path}': remote Parquet files are not supported; copy it locally"
        raise InputFileError(msg)
    try:
        parquet = pq.ParquetFile(file.path)
    except Exception as err:
        msg = (
            f"input file '{file.path}' cannot be read as a Parquet file ({reason(err)}); "
            "is it truncated, corrupt, or not Parquet at all?"
        )
        raise BadFile(msg) from err
    try:
        return ParquetSource(file, parquet)
    except Exception as err:
        parquet.close()
        msg = f"cannot read the schema of '{file.path}' ({reason(err)}); the file is corrupt"
        raise BadFile(msg) from err


def _open_root(file: InputFile) -> Source:
    import uproot

    try:
        handle = uproot.open(file.path)
    except FileNotFoundError as err:
        msg = f"input file '{file.path}' does not exist"
        raise InputFileError(msg) from err
    except Exception as err:
        msg = (
            f"input file '{file.path}' cannot be read as a ROOT file "
            f"({reason(err)}); is it truncated, corrupt, or not ROOT at all?"
        )
        raise BadFile(msg) from err
    try:
        return _root_source(handle, file)
    except BaseException:
        handle.file.close()
        raise


def _root_source(handle: uproot.ReadOnlyDirectory, file: InputFile) -> Source:
    try:
        classes = handle.classnames(cycle=False)
    except Exception as err:
        msg = f"cannot list the objects of '{file.path}' ({reason(err)}); the file is corrupt"
        raise BadFile(msg) from err
    if file.tree not in classes:
        raise BadFile(_no_tree_message(file, classes))
    word = "RNTuple" if classes[file.tree] == _RNTUPLE_CLASS else "tree"
    try:
        obj = handle[file.tree]
        if classes[file.tree] == _RNTUPLE_CLASS:
            return RNTupleSource(file, obj)
        if isinstance(obj, _ttree_class()):
            return TTreeSource(file, obj)
    except Exception as err:
        msg = (
            f"cannot read {word} '{file.tree}' from '{file.path}' ({reason(err)}); "
            "the file is truncated or corrupt"
        )
        raise BadFile(msg) from err
    msg = (
        f"'{file.tree}' in '{file.path}' is a {type(obj).__name__}, not a TTree or RNTuple "
        "(wrong file type, or the wrong tree name?)"
    )
    raise BadFile(msg)


def _ttree_class() -> type:
    import uproot

    return uproot.behaviors.TTree.TTree


def _no_tree_message(file: InputFile, classes: dict[str, str]) -> str:
    trees = sorted(k for k, c in classes.items() if c.startswith(("TTree", "TNtuple")))
    ntuples = sorted(k for k, c in classes.items() if c == _RNTUPLE_CLASS)
    hint = did_you_mean(file.tree, trees + ntuples)
    return (
        f"file '{file.path}' has no tree '{file.tree}' (TTree or RNTuple).{hint} TTrees in the "
        f"file: {', '.join(trees) or 'none'}; RNTuples: {', '.join(ntuples) or 'none'}."
    )


def source_of(file: InputFile, obj) -> Source:
    """A source over ``obj``, a TTree or RNTuple of an open file; closing the file is the
    caller's business (e.g. another tree of it, such as ``Runs``)."""
    if isinstance(obj, _ttree_class()):
        return TTreeSource(file, obj)
    return RNTupleSource(file, obj)

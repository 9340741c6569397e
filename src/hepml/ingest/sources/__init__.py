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

The interface is in :mod:`hepml.ingest.sources.base`, the kinds in :mod:`hepml.ingest.sources.root`
(TTree, RNTuple) and :mod:`hepml.ingest.sources.parquet`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import uproot

from hepml.exceptions import BadFile, InputFileError, did_you_mean
from hepml.ingest.files import PARQUET_SUFFIXES, is_remote, special_file_problem
from hepml.ingest.sources.base import Column, Source
from hepml.ingest.sources.parquet import ParquetSource
from hepml.ingest.sources.root import RNTupleSource, TTreeSource

if TYPE_CHECKING:
    from hepml.ingest.files import InputFile

__all__ = [
    "KINDS",
    "PARQUET_SUFFIXES",
    "Column",
    "Source",
    "file_format",
    "is_remote",
    "open_source",
    "reason",
    "source_of",
    "special_file_problem",
]

KINDS = ("TTree", "RNTuple", "Parquet")
_RNTUPLE_CLASS = "ROOT::RNTuple"


def reason(err: BaseException, limit: int = 300) -> str:
    """A third-party error as one short line, for messages about a file."""
    text = " ".join(f"{type(err).__name__}: {err}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
    if is_remote(file.path):
        from hepml.ingest.remote import with_retries

        return with_retries(lambda: _open_root_once(file), file.path, "opening")
    return _open_root_once(file)


def _open_root_once(file: InputFile) -> Source:
    try:
        handle = uproot.open(file.path)
    except FileNotFoundError as err:
        msg = f"input file '{file.path}' does not exist"
        raise InputFileError(msg) from err
    except Exception as err:
        _raise_if_remote(err, file)
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


def _raise_if_remote(err: Exception, file: InputFile) -> None:
    """A remote file's transient error passes (it is retried), a missing client package is
    named; anything else is the file's fault."""
    if not is_remote(file.path):
        return
    from hepml.ingest.remote import is_transient, missing_client

    missing = missing_client(err, file.path)
    if missing is not None:
        raise missing from err
    if is_transient(err):
        raise err


def _root_source(handle: uproot.ReadOnlyDirectory, file: InputFile) -> Source:
    try:
        classes = handle.classnames(cycle=False)
    except Exception as err:
        _raise_if_remote(err, file)
        msg = f"cannot list the objects of '{file.path}' ({reason(err)}); the file is corrupt"
        raise BadFile(msg) from err
    if file.tree not in classes:
        raise BadFile(_no_tree_message(file, classes))
    word = "RNTuple" if classes[file.tree] == _RNTUPLE_CLASS else "tree"
    try:
        obj = handle[file.tree]
        if classes[file.tree] == _RNTUPLE_CLASS:
            return RNTupleSource(file, obj)
        if isinstance(obj, uproot.behaviors.TTree.TTree):
            return TTreeSource(file, obj)
    except Exception as err:
        _raise_if_remote(err, file)
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
    if isinstance(obj, uproot.behaviors.TTree.TTree):
        return TTreeSource(file, obj)
    return RNTupleSource(file, obj)

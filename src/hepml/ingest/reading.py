"""Find, check and read a sample's input files: ROOT TTrees, ROOT RNTuples or Parquet.

Everything a user can get wrong about the files (an empty glob, a directory or FIFO, the same
file twice, a file that is neither ROOT nor Parquet, a missing or misspelt tree or branch, a
branch of text rather than numbers) is caught here, up front, with an error that names the
file and suggests the near match. A typo therefore never turns into a half-read sample. The
kinds of file are read through one interface, :mod:`hepml.ingest.sources`.

Faults of one file (not ROOT or Parquet, truncated, corrupt, zero entries, the tree name bound
to something other than a TTree or RNTuple, a basket or page that fails to decompress while
reading) raise :class:`~hepml.exceptions.BadFile`, which ``on_bad_file: skip`` may turn into a
skipped file; every other problem is an error whatever the policy. :class:`BadFiles` applies
that policy, file by file, for ingest and apply alike.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import awkward as ak

from hepml.exceptions import (
    BadFile,
    ExpressionError,
    HepmlError,
    InputFileError,
    UnknownBranch,
    did_you_mean,
)
from hepml.ingest.files import (
    REMOTE_URL,
    TREE_SUFFIX,
    InputFile,
    explicit_files,
    input_files,
    is_remote,
    resolve_files,
)
from hepml.ingest.sources import Source, open_source, reason

if TYPE_CHECKING:
    from hepml.config import Config, Sample

__all__ = [
    "REMOTE_URL",
    "TREE_SUFFIX",
    "BadFiles",
    "InputFile",
    "check_branch_types",
    "check_branches",
    "check_entries",
    "explicit_files",
    "guarded",
    "input_files",
    "iterate_file",
    "located",
    "open_source",
    "reason",
    "resolve_files",
]

log = logging.getLogger(__name__)


class BadFiles:
    """A sample's ``on_bad_file`` policy, applied file by file, and the files it skipped.

    Wrap the work on one file in :meth:`guard`: a :class:`BadFile` raised inside is re-raised
    naming the sample (policy ``error``), or logged as a warning and recorded in ``skipped``
    (file path -> reason; policy ``skip``). Every other error passes through.

    ``phase`` is the pass over the files that runs (0: the checks up front, then the stage's
    own passes); each skipped file records the phase it failed in (``phases``), so that the
    parts of a sample split into jobs list their skipped files in the order one job would.
    ``require_good`` False (a part of a sample) lets every file be skipped: the merge of the
    parts raises if none is left in the whole sample.
    """

    def __init__(self, sample: str, policy: str, *, require_good: bool = True) -> None:
        self.sample, self.policy, self.require_good = sample, policy, require_good
        self.skipped: dict[str, str] = {}
        self.phase = 0
        self.phases: dict[str, int] = {}

    @classmethod
    def of(cls, config: Config, sample: Sample) -> BadFiles:
        """The policy of ``sample``: its own ``on_bad_file``, else ``reading.on_bad_file``."""
        return cls(sample.name, sample.on_bad_file or config.reading.on_bad_file)

    @contextlib.contextmanager
    def guard(self, file: InputFile) -> Iterator[None]:
        try:
            yield
        except BadFile as err:
            if self.policy != "skip":
                msg = f"sample '{self.sample}': {err} (on_bad_file: skip would skip this file)"
                raise BadFile(msg) from err
            log.warning("sample '%s': skipping a bad file: %s", self.sample, err)
            self.skipped[file.path] = str(err)
            self.phases[file.path] = self.phase

    def good(self, files: list[InputFile]) -> list[InputFile]:
        """The files not skipped; :class:`InputFileError` if there is none."""
        good = [f for f in files if f.path not in self.skipped]
        if not good and self.require_good:
            reasons = "; ".join(self.skipped.values())
            msg = f"sample '{self.sample}': none of its {len(files)} file(s) can be read: {reasons}"
            raise InputFileError(msg)
        return good

    def records(self) -> list[dict[str, str]]:
        """The skipped files as ``{"file": path, "reason": ...}``, for summaries."""
        return [{"file": path, "reason": why} for path, why in self.skipped.items()]


def guarded(bad: BadFiles | None, file: InputFile) -> contextlib.AbstractContextManager:
    """``bad.guard(file)``, or no guard at all when there is no policy (any BadFile stops)."""
    return contextlib.nullcontext() if bad is None else bad.guard(file)


def located(err: HepmlError, where: str) -> HepmlError:
    """A copy of ``err`` (same class) whose message ends with ``where``, e.g. the file."""
    msg = f"{err} ({where})"
    return type(err)(msg)


def check_entries(source: Source) -> int:
    """The number of entries of ``source``; :class:`BadFile` when there are none."""
    if source.num_entries <= 0:
        msg = (
            f"{source.where} has no entries (an empty or failed job's output?); remove the "
            "file, or set on_bad_file: skip"
        )
        raise BadFile(msg)
    return source.num_entries


def check_branches(source: Source, needed: dict[str, str]) -> None:
    """Raise :class:`UnknownBranch` if any name in ``needed`` (name -> who needs it) is absent."""
    for branch, who in sorted(needed.items()):
        if branch not in source.names:
            hint = did_you_mean(branch, source.names)
            msg = f"{who} needs {source.item} '{branch}', which {source.where} lacks.{hint}"
            raise UnknownBranch(msg)


def check_branch_types(source: Source, needed: dict[str, str]) -> None:
    """Raise :class:`ExpressionError` for a needed name that does not hold numbers.

    Expressions work on numbers and booleans, one per event or a list per event (``float``,
    ``int[]``, ``std::vector<float>``, ``list<float>``); text (``char*``, ``std::string``),
    nested lists and objects cannot be used.
    """
    for branch, who in sorted(needed.items()):
        column = source.column(branch)
        if column.numeric:
            continue
        msg = (
            f"{who} needs {source.item} '{branch}' of {source.where}, which holds "
            f"{column.typename} values; expressions can only use numbers and booleans, one per "
            "event or a list per event"
        )
        raise ExpressionError(msg)


def iterate_file(
    file: InputFile, branches: Iterable[str], step_size: str | int
) -> Iterator[tuple[ak.Array, int, int]]:
    """Yield ``(arrays, entry_start, entry_stop)`` chunks of ``branches`` of one file.

    Works alike for every kind of source (TTree, RNTuple, Parquet); the entries are the rows
    of the file. Any failure to read or decompress the file's data raises :class:`BadFile`
    naming the file and the entries being read; hepml's own errors (a null integer in a
    Parquet column) and errors raised by the caller's code are not touched.
    """
    start, names = 0, sorted(frozenset(branches))
    waits = _remote_waits(file)
    source = open_source(file)
    try:
        chunks = source.iterate(names, step_size)
        while True:
            try:
                arrays, chunk_start, stop = next(chunks)
                _check_valid(arrays)
            except StopIteration:
                return
            except HepmlError:
                raise
            except Exception as err:
                if waits is None or not _transient(err):
                    msg = (
                        f"reading '{file.path}' ({source.what}) failed after entry {start} "
                        f"({reason(err)}); the file is truncated or corrupt"
                    )
                    raise BadFile(msg) from err
                source.close()
                source = _reopened(file, err, waits, start)
                chunks = source.iterate(names, step_size, entry_start=start)
                continue
            start = stop
            yield arrays, chunk_start, stop
    finally:
        source.close()


def _remote_waits(file: InputFile) -> list[float] | None:
    """The waits before each retry of a remote file's reads (None: a local file)."""
    if not is_remote(file.path):
        return None
    from hepml.ingest.remote import policy

    return policy().waits()


def _transient(err: BaseException) -> bool:
    from hepml.ingest.remote import is_transient

    return is_transient(err)


def _reopened(file: InputFile, err: BaseException, waits: list[float], start: int) -> Source:
    """``file`` opened again after the transient ``err``, once the next wait is over; the
    error naming the URL when no retry is left (``waits`` is consumed)."""
    from hepml.ingest.remote import gave_up, policy

    if not waits:
        raise gave_up(file.path, "reading", policy().retries + 1, err) from err
    wait = waits.pop(0)
    log.warning(
        "reading '%s' failed at entry %d (%s); resuming there in %.3g s", file.path, start,
        reason(err), wait,
    )  # fmt: skip
    time.sleep(wait)
    return open_source(file)


def _check_valid(arrays: ak.Array) -> None:
    """Corrupt offsets can make arrays whose lists point outside their data: refuse them."""
    problem = ak.validity_error(arrays)
    if problem:
        raise ValueError(problem)

"""Find, check and read a sample's input ROOT files.

Everything a user can get wrong about the files (an empty glob, a file that is not ROOT, a
missing or misspelt tree or branch, a branch of text rather than numbers) is caught here, up
front, with an error that names the file and suggests the near match. A typo therefore never
turns into a half-read sample.

Faults of one file (not ROOT, truncated, corrupt, zero entries, the tree name bound to something
other than a TTree, a basket that fails to decompress while reading) raise
:class:`~hepml.exceptions.BadFile`, which ``on_bad_file: skip`` may turn into a skipped file;
every other problem is an error whatever the policy. :class:`BadFiles` applies that policy,
file by file, for ingest and apply alike.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import awkward as ak
import uproot

from hepml.exceptions import (
    BadFile,
    ExpressionError,
    HepmlError,
    InputFileError,
    UnknownBranch,
    did_you_mean,
)
from hepml.file_lists import (
    REMOTE_URL,
    TREE_SUFFIX,
    InputFile,
    explicit_files,
    input_files,
    resolve_files,
)

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
    "open_tree",
    "opened_tree",
    "reason",
    "resolve_files",
]

log = logging.getLogger(__name__)


class BadFiles:
    """A sample's ``on_bad_file`` policy, applied file by file, and the files it skipped.

    Wrap the work on one file in :meth:`guard`: a :class:`BadFile` raised inside is re-raised
    naming the sample (policy ``error``), or logged as a warning and recorded in ``skipped``
    (file path -> reason; policy ``skip``). Every other error passes through.
    """

    def __init__(self, sample: str, policy: str) -> None:
        self.sample, self.policy = sample, policy
        self.skipped: dict[str, str] = {}

    @classmethod
    def of(cls, config: Config, sample: Sample) -> BadFiles:
        """The policy of ``sample``: its own ``on_bad_file``, else ``reading.on_bad_file``."""
        return cls(sample.name, sample.on_bad_file or config.on_bad_file)

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

    def good(self, files: list[InputFile]) -> list[InputFile]:
        """The files not skipped; :class:`InputFileError` if there is none."""
        good = [f for f in files if f.path not in self.skipped]
        if not good:
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


def open_tree(file: InputFile) -> uproot.TTree:
    """Open ``file`` and return its tree, with clear errors for every way this can fail.

    A file that does not exist raises :class:`InputFileError`; one that cannot be read, lacks
    the tree, or holds something else under the tree's name raises :class:`BadFile`.
    """
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
        obj = _get_tree(handle, file)
    except BaseException:
        handle.file.close()
        raise
    return obj


def _get_tree(handle: uproot.ReadOnlyDirectory, file: InputFile) -> uproot.TTree:
    try:
        classes = handle.classnames(cycle=False)
        if file.tree not in classes:
            trees = [k for k, c in classes.items() if c.startswith("TTree")]
            hint = did_you_mean(file.tree, trees)
            listing = ", ".join(sorted(trees)) or "none"
            msg = (
                f"file '{file.path}' has no tree '{file.tree}'.{hint} Trees in the file: {listing}."
            )
            raise BadFile(msg)
        obj = handle[file.tree]
    except BadFile:
        raise
    except Exception as err:
        msg = (
            f"cannot read tree '{file.tree}' from '{file.path}' ({reason(err)}); "
            "the file is truncated or corrupt"
        )
        raise BadFile(msg) from err
    if not isinstance(obj, uproot.behaviors.TTree.TTree):
        msg = (
            f"'{file.tree}' in '{file.path}' is a {type(obj).__name__}, not a TTree "
            "(wrong file type, or the wrong tree name?)"
        )
        raise BadFile(msg)
    return obj


@contextlib.contextmanager
def opened_tree(file: InputFile) -> Iterator[uproot.TTree]:
    """:func:`open_tree` as a context manager that closes the file afterwards."""
    tree = open_tree(file)
    try:
        yield tree
    finally:
        tree.file.close()


def reason(err: BaseException, limit: int = 300) -> str:
    """A third-party error as one short line, for messages about a file."""
    text = " ".join(f"{type(err).__name__}: {err}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def located(err: HepmlError, where: str) -> HepmlError:
    """A copy of ``err`` (same class) whose message ends with ``where``, e.g. the file."""
    msg = f"{err} ({where})"
    return type(err)(msg)


def check_entries(tree: uproot.TTree, file: InputFile) -> int:
    """The number of entries of ``tree``; :class:`BadFile` when there are none."""
    entries = int(tree.num_entries)
    if entries <= 0:
        msg = (
            f"tree '{file.tree}' in '{file.path}' has no entries (an empty or failed job's "
            "output?); remove the file, or set on_bad_file: skip"
        )
        raise BadFile(msg)
    return entries


def check_branches(tree: uproot.TTree, file: InputFile, needed: dict[str, str]) -> None:
    """Raise :class:`UnknownBranch` if any branch in ``needed`` (name -> who needs it) is absent."""
    available = set(tree.keys(recursive=True))
    for branch, who in sorted(needed.items()):
        if branch not in available:
            hint = did_you_mean(branch, available)
            msg = (
                f"{who} needs branch '{branch}', which tree '{file.tree}' in '{file.path}' "
                f"lacks.{hint}"
            )
            raise UnknownBranch(msg)


def check_branch_types(tree: uproot.TTree, file: InputFile, needed: dict[str, str]) -> None:
    """Raise :class:`ExpressionError` for a needed branch that does not hold numbers.

    Expressions work on numbers and booleans, one per event or a list per event (``float``,
    ``int[]``, ``std::vector<float>``); text (``char*``, ``std::string``), nested lists and
    objects cannot be used.
    """
    for branch, who in sorted(needed.items()):
        try:
            interpretation = tree[branch].interpretation
        except Exception as err:  # uproot.interpretation.identify.UnknownInterpretation etc.
            interpretation = err
        if _is_numeric(interpretation):
            continue
        typename = tree[branch].typename
        msg = (
            f"{who} needs branch '{branch}' of tree '{file.tree}' in '{file.path}', which "
            f"holds {typename} values; expressions can only use numbers and booleans, one per "
            "event or a list per event"
        )
        raise ExpressionError(msg)


def _is_numeric(interpretation: object) -> bool:
    from uproot.interpretation.jagged import AsJagged
    from uproot.interpretation.numerical import Numerical

    if isinstance(interpretation, AsJagged):
        interpretation = interpretation.content
    return isinstance(interpretation, Numerical)


def iterate_file(
    file: InputFile, branches: Iterable[str], step_size: str | int
) -> Iterator[tuple[ak.Array, int, int]]:
    """Yield ``(arrays, entry_start, entry_stop)`` chunks of ``branches`` of one file.

    Any failure to read or decompress the file's data raises :class:`BadFile` naming the file
    and the entries being read; errors raised by the caller's code are not touched.
    """
    wanted = frozenset(branches)
    start = 0
    with opened_tree(file) as tree:
        chunks = tree.iterate(
            filter_name=lambda name: name in wanted,
            step_size=step_size,
            library="ak",
            report=True,
        )
        while True:
            try:
                arrays, report = next(chunks)
                _check_valid(arrays)
            except StopIteration:
                return
            except Exception as err:
                msg = (
                    f"reading '{file.path}' (tree '{file.tree}') failed after entry {start} "
                    f"({reason(err)}); the file is truncated or corrupt"
                )
                raise BadFile(msg) from err
            start = report.tree_entry_stop
            yield arrays, report.tree_entry_start, report.tree_entry_stop


def _check_valid(arrays: ak.Array) -> None:
    """Corrupt offsets can make arrays whose lists point outside their data: refuse them."""
    problem = ak.validity_error(arrays)
    if problem:
        raise ValueError(problem)

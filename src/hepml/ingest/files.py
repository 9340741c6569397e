"""Which files a sample reads: its globs resolved, or an explicit list, in a fixed order.

Light on purpose (no uproot, no awkward): the workflow's plan resolves every sample's files
when Snakemake starts, and hands each job the same explicit list.
"""

from __future__ import annotations

import glob
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hepml.exceptions import DataError, InputFileError, did_you_mean

if TYPE_CHECKING:
    from hepml.config import Sample

__all__ = [
    "PARQUET_SUFFIXES",
    "REMOTE_URL",
    "TREE_SUFFIX",
    "InputFile",
    "check_part_order",
    "explicit_files",
    "input_files",
    "is_remote",
    "resolve_files",
    "special_file_problem",
]

REMOTE_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)  # opened by uproot itself
TREE_SUFFIX = re.compile(r"^(?P<path>.*\.root):(?P<tree>[^/:]+)$")  # path.root:tree
PARQUET_SUFFIXES = (".parquet", ".parq", ".pq")


def is_remote(path: str) -> bool:
    """True for URLs (``root://``, ``https://``), which are handed to uproot as they are."""
    return bool(REMOTE_URL.match(path))


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


@dataclass(frozen=True)
class InputFile:
    """One file of a sample, with the tree to read from it."""

    path: str
    tree: str

    def __str__(self) -> str:
        return f"{self.path}:{self.tree}"


def resolve_files(sample: str, patterns: tuple[str, ...], tree: str) -> list[InputFile]:
    """Expand ``patterns`` (globs, optionally ``file.root:tree``) into a sorted file list.

    Remote URLs (``root://``, ``https://``) are passed to uproot as they are, their globs
    listed by the server (:mod:`hepml.ingest.remote`). Sorting makes
    the file order, and hence the entry-based fold fallback, independent of the file system.
    A directory, FIFO, socket or device among the files, or one file listed twice (also
    through a symlink or overlapping globs), raises :class:`InputFileError`.
    """
    files: list[InputFile] = []
    origin: dict[tuple[str, str], tuple[str, str]] = {}  # (real path, tree) -> (path, pattern)
    for pattern in patterns:
        path, tree_name = pattern, tree
        match = TREE_SUFFIX.match(pattern)
        if match:
            path, tree_name = match["path"], match["tree"]
        matches = (
            _remote_matches(path) if is_remote(path) else sorted(glob.glob(path, recursive=True))
        )
        if not matches:
            raise InputFileError(_no_match_message(sample, path))
        for found in matches:
            problem = special_file_problem(found)
            if problem:
                msg = f"sample '{sample}': {problem}"
                raise InputFileError(msg)
            key = (found if is_remote(found) else os.path.realpath(found), tree_name)
            if key in origin:
                raise InputFileError(_twice_message(sample, found, pattern, *origin[key]))
            origin[key] = (found, pattern)
            files.append(InputFile(found, tree_name))
    return files


def _remote_matches(url: str) -> list[str]:
    """A URL as it is, or the URLs its glob matches (listed by the server: hepml.ingest.remote)."""
    from hepml.ingest.remote import glob_urls, has_glob

    return glob_urls(url) if has_glob(url) else [url]


def _twice_message(sample: str, path: str, pattern: str, first: str, first_pattern: str) -> str:
    same = f"'{path}'" if path == first else f"'{path}' and '{first}' (the same file)"
    by = f"'{pattern}'" if pattern == first_pattern else f"'{first_pattern}' and '{pattern}'"
    return (
        f"sample '{sample}': {same} listed twice, by {by}; its events would count twice. "
        "List each file once in files."
    )


def explicit_files(sample: str, entries: Iterable[str], tree: str) -> list[InputFile]:
    """The files ``entries`` (``path`` or ``path.root:tree``) as given: no globbing.

    For lists already resolved by :func:`resolve_files` (the workflow plan hands every job
    the same list), so a file name with glob characters is taken literally. The checks of
    :func:`resolve_files` apply: no special file, no file twice; and the list is not empty.
    """
    files: list[InputFile] = []
    origin: dict[tuple[str, str], str] = {}  # (real path, tree) -> path as given
    for entry in entries:
        match = TREE_SUFFIX.match(entry)
        file = InputFile(match["path"], match["tree"]) if match else InputFile(entry, tree)
        problem = special_file_problem(file.path)
        if problem:
            msg = f"sample '{sample}': {problem}"
            raise InputFileError(msg)
        key = (file.path if is_remote(file.path) else os.path.realpath(file.path), file.tree)
        if key in origin:
            raise InputFileError(_twice_message(sample, file.path, entry, origin[key], entry))
        origin[key] = file.path
        files.append(file)
    if not files:
        msg = f"sample '{sample}': no input files given"
        raise InputFileError(msg)
    return files


def input_files(sample: Sample, entries: Iterable[str] | None = None) -> list[InputFile]:
    """``sample``'s files: ``entries`` as given (:func:`explicit_files`), else its globs."""
    if entries is None:
        return resolve_files(sample.name, sample.files, sample.tree)
    return explicit_files(sample.name, entries, sample.tree)


def _no_match_message(sample: str, pattern: str) -> str:
    parent = Path(pattern).parent
    msg = f"sample '{sample}': no file matches '{pattern}'"
    if is_remote(pattern):
        return f"{msg} (the server lists no such file)"
    if not parent.is_dir():
        return f"{msg} (the directory '{parent}' does not exist)"
    nearby = [p.name for p in parent.iterdir() if p.suffix in (".root", *PARQUET_SUFFIXES)]
    hint = did_you_mean(Path(pattern).name, nearby)
    listing = f" Input files in '{parent}': {', '.join(sorted(nearby)[:10])}." if nearby else ""
    return f"{msg}.{hint}{listing}"


def check_part_order(where: str, sample: str, first_file: int, next_file: int) -> None:
    """A part must start at the file where the parts before it end (``next_file``): the parts
    of a sample, given in order, cover its files contiguously from index 0."""
    if first_file != next_file:
        msg = (
            f"{where} starts at file {first_file} of sample '{sample}', but the "
            f"parts before it end at file {next_file - 1}: give every part, in order"
        )
        raise DataError(msg)

"""Which files a sample reads: its globs resolved, or an explicit list, in a fixed order.

Light on purpose (no uproot, no awkward): the workflow's plan resolves every sample's files
when Snakemake starts, and hands each job the same explicit list.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hepml.exceptions import InputFileError, did_you_mean

if TYPE_CHECKING:
    from hepml.config import Sample

__all__ = [
    "REMOTE_URL",
    "TREE_SUFFIX",
    "InputFile",
    "explicit_files",
    "input_files",
    "resolve_files",
]

REMOTE_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)  # opened by uproot itself
TREE_SUFFIX = re.compile(r"^(?P<path>.*\.root):(?P<tree>[^/:]+)$")  # path.root:tree


@dataclass(frozen=True)
class InputFile:
    """One file of a sample, with the tree to read from it."""

    path: str
    tree: str

    def __str__(self) -> str:
        return f"{self.path}:{self.tree}"


def resolve_files(sample: str, patterns: tuple[str, ...], tree: str) -> list[InputFile]:
    """Expand ``patterns`` (globs, optionally ``file.root:tree``) into a sorted file list.

    Remote URLs (``root://``, ``https://``) are passed to uproot as they are. Sorting makes
    the file order, and hence the entry-based fold fallback, independent of the file system.
    """
    files: list[InputFile] = []
    for pattern in patterns:
        path, tree_name = pattern, tree
        match = TREE_SUFFIX.match(pattern)
        if match:
            path, tree_name = match["path"], match["tree"]
        if REMOTE_URL.match(path):
            files.append(InputFile(path, tree_name))
            continue
        matches = sorted(glob.glob(path, recursive=True))
        if not matches:
            raise InputFileError(_no_match_message(sample, path))
        files.extend(InputFile(m, tree_name) for m in matches)
    seen: set[str] = set()
    unique = [f for f in files if not (f.path in seen or seen.add(f.path))]
    return unique


def explicit_files(sample: str, entries: Iterable[str], tree: str) -> list[InputFile]:
    """The files ``entries`` (``path`` or ``path.root:tree``) as given: no globbing.

    For lists already resolved by :func:`resolve_files` (the workflow plan hands every job
    the same list), so a file name with glob characters is taken literally. Raises
    :class:`InputFileError` for an empty list or a file listed twice.
    """
    files = []
    for entry in entries:
        match = TREE_SUFFIX.match(entry)
        files.append(InputFile(match["path"], match["tree"]) if match else InputFile(entry, tree))
    if not files:
        msg = f"sample '{sample}': no input files given"
        raise InputFileError(msg)
    seen: set[str] = set()
    for f in files:
        if f.path in seen:
            msg = f"sample '{sample}': the file '{f.path}' is listed twice"
            raise InputFileError(msg)
        seen.add(f.path)
    return files


def input_files(sample: Sample, entries: Iterable[str] | None = None) -> list[InputFile]:
    """``sample``'s files: ``entries`` as given (:func:`explicit_files`), else its globs."""
    if entries is None:
        return resolve_files(sample.name, sample.files, sample.tree)
    return explicit_files(sample.name, entries, sample.tree)


def _no_match_message(sample: str, pattern: str) -> str:
    parent = Path(pattern).parent
    msg = f"sample '{sample}': no file matches '{pattern}'"
    if not parent.is_dir():
        return f"{msg} (the directory '{parent}' does not exist)"
    nearby = [p.name for p in parent.iterdir() if p.suffix == ".root"]
    hint = did_you_mean(Path(pattern).name, nearby)
    listing = f" ROOT files in '{parent}': {', '.join(sorted(nearby)[:10])}." if nearby else ""
    return f"{msg}.{hint}{listing}"

"""Find and check a sample's input ROOT files before any event is read.

Everything a user can get wrong about the files (an empty glob, a file that is not ROOT, a
missing or misspelt tree or branch) is caught here, up front, with an error that names the
file and suggests the near match. A typo therefore never turns into a half-read sample.
"""

from __future__ import annotations

import glob
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import uproot

from hepml.exceptions import InputFileError, UnknownBranch, did_you_mean

__all__ = ["InputFile", "check_branches", "open_tree", "resolve_files"]

log = logging.getLogger(__name__)

_REMOTE = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_TREE_SUFFIX = re.compile(r"^(?P<path>.*\.root):(?P<tree>[^/:]+)$")


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
        match = _TREE_SUFFIX.match(pattern)
        if match:
            path, tree_name = match["path"], match["tree"]
        if _REMOTE.match(path):
            files.append(InputFile(path, tree_name))
            continue
        matches = sorted(glob.glob(path, recursive=True))
        if not matches:
            raise InputFileError(_no_match_message(sample, path))
        files.extend(InputFile(m, tree_name) for m in matches)
    seen: set[str] = set()
    unique = [f for f in files if not (f.path in seen or seen.add(f.path))]
    return unique


def _no_match_message(sample: str, pattern: str) -> str:
    parent = Path(pattern).parent
    msg = f"sample '{sample}': no file matches '{pattern}'"
    if not parent.is_dir():
        return f"{msg} (the directory '{parent}' does not exist)"
    nearby = [p.name for p in parent.iterdir() if p.suffix == ".root"]
    hint = did_you_mean(Path(pattern).name, nearby)
    listing = f" ROOT files in '{parent}': {', '.join(sorted(nearby)[:10])}." if nearby else ""
    return f"{msg}.{hint}{listing}"


def open_tree(file: InputFile) -> uproot.TTree:
    """Open ``file`` and return its tree, with clear errors for every way this can fail."""
    try:
        handle = uproot.open(file.path)
    except FileNotFoundError as err:
        msg = f"input file '{file.path}' does not exist"
        raise InputFileError(msg) from err
    except Exception as err:
        msg = (
            f"input file '{file.path}' cannot be read as a ROOT file "
            f"({type(err).__name__}: {err}); is it truncated, corrupt, or not ROOT at all?"
        )
        raise InputFileError(msg) from err
    try:
        keys = handle.keys(cycle=False)
        if file.tree not in keys:
            trees = [k for k, c in handle.classnames(cycle=False).items() if c.startswith("TTree")]
            hint = did_you_mean(file.tree, trees)
            listing = ", ".join(sorted(trees)) or "none"
            msg = (
                f"file '{file.path}' has no tree '{file.tree}'.{hint} Trees in the file: {listing}."
            )
            raise InputFileError(msg)
        obj = handle[file.tree]
    except InputFileError:
        raise
    except Exception as err:
        msg = f"cannot read tree '{file.tree}' from '{file.path}' ({type(err).__name__}: {err})"
        raise InputFileError(msg) from err
    if not isinstance(obj, uproot.behaviors.TTree.TTree):
        msg = f"'{file.tree}' in '{file.path}' is a {type(obj).__name__}, not a TTree"
        raise InputFileError(msg)
    return obj


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

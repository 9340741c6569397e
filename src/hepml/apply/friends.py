"""The file names of the friend trees: one per input file, named after it.

Light on purpose (no uproot): the workflow's plan decides, for the whole sample, whether the
names need their file index (two input files of one name in different directories, as in
``.../0000/nano_1.root`` and ``.../0001/nano_1.root``), so that every part of a sample split
into jobs names its friends as one job would.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hepml.ingest.files import PARQUET_SUFFIXES, TREE_SUFFIX

__all__ = ["friend_names", "names_clash"]


def _friend_name(source: str) -> str:
    stem, dot, suffix = source.rpartition(".")
    return f"{stem}.root" if dot and f".{suffix}" in PARQUET_SUFFIXES else source


def _base_name(entry: str) -> str:
    """The friend name of an input ``path`` (or ``path.root:tree``, or a URL with a query)."""
    match = TREE_SUFFIX.match(entry)
    path = match["path"] if match else entry
    return _friend_name(Path(path.split("?")[0]).name)


def names_clash(entries: Sequence[str]) -> bool:
    """True when two of the sample's files would give one friend name."""
    names = [_base_name(e) for e in entries]
    return len(set(names)) != len(names)


def friend_names(paths: Sequence[str], *, first: int = 0, indexed: bool | None = None) -> list[str]:
    """File names of the friend files of ``paths``: the source's name (``.root`` for a Parquet
    source, as the friend is a ROOT file), prefixed by its index in the sample (``first`` for
    ``paths[0]``) when names clash (``indexed``; None: when they clash among ``paths``)."""
    names = [_base_name(p) for p in paths]
    if indexed is None:
        indexed = len(set(names)) != len(names)
    if not indexed:
        return names
    return [f"{first + i:04d}_{name}" for i, name in enumerate(names)]

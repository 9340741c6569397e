"""Refuse one input file in two samples: its events would be counted twice.

The same ntuples listed as signal and as background train a classifier to separate a sample
from itself (a poor AUC, exit code 0); one file in two backgrounds doubles its yield. Each
sample's ingest sees only its own files, so the check runs where every sample's file list is
known: ``hepml validate`` and the workflow's planning step call :func:`find_shared_files`.

Two paths are the same file when they resolve to the same inode (a symlink, a hard link,
``a/../a/x.root``), and duplicates when their contents are identical (a copy). Contents are
compared by SHA-256, read in blocks of :data:`BLOCK_BYTES`, and only for files whose sizes
collide, so a normal analysis (every file a different size) reads nothing. Remote URLs are
compared as text; files that do not exist or are not regular files (a FIFO is never opened)
are left to the reading stage, which reports them. The file lists are the workflow plan's
(:func:`hepml.workflow.plan.sample_file_lists`: globs resolved, ``:tree`` suffixes removed).
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

from hepml.exceptions import ConfigError
from hepml.ingest.files import REMOTE_URL

__all__ = ["BLOCK_BYTES", "find_shared_files"]

log = logging.getLogger(__name__)

BLOCK_BYTES = 1 << 20


def find_shared_files(files: Mapping[str, Iterable[str | os.PathLike]]) -> None:
    """Raise :class:`ConfigError` if a file is listed twice, in two samples or in one.

    ``files`` maps each sample to its (resolved) file paths. The error names both samples
    and both paths.
    """
    by_identity: dict[object, tuple[str, str]] = {}
    by_size: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for sample, paths in files.items():
        for path in map(os.fspath, paths):
            identity, size = _identity(path)
            if identity is None:
                continue
            earlier = by_identity.setdefault(identity, (sample, path))
            if earlier != (sample, path):
                _refuse(earlier, (sample, path), "are the same file")
            if size:  # empty files are bad files, reported by the reading stage
                by_size[size].append((sample, path))
    for candidates in by_size.values():
        if len(candidates) > 1:
            _compare_contents(candidates)


def _identity(path: str) -> tuple[object | None, int]:
    """(what makes a file unique, its size): (device, inode) of a regular local file."""
    if REMOTE_URL.match(path):
        return ("url", path), 0
    try:
        info = Path(path).stat()
    except FileNotFoundError:  # not written yet (a demo file): the same path is the same file
        return ("path", str(Path(path).resolve())), 0
    except OSError:
        return None, 0
    if not stat.S_ISREG(info.st_mode):
        return None, 0
    return (info.st_dev, info.st_ino), info.st_size


def _compare_contents(candidates: list[tuple[str, str]]) -> None:
    """Refuse two of ``candidates`` (files of one size) whose contents are identical."""
    by_digest: dict[str, tuple[str, str]] = {}
    for sample, path in candidates:
        digest = _sha256(path)
        if digest is None:
            continue
        earlier = by_digest.setdefault(digest, (sample, path))
        if earlier != (sample, path):
            _refuse(earlier, (sample, path), "have identical contents (SHA-256)")


def _sha256(path: str) -> str | None:
    digest = hashlib.sha256()
    try:
        with Path(path).open("rb") as handle:
            while block := handle.read(BLOCK_BYTES):
                digest.update(block)
    except OSError as err:
        log.warning("cannot read '%s' to compare it with other samples' files: %s", path, err)
        return None
    return digest.hexdigest()


def _refuse(first: tuple[str, str], second: tuple[str, str], relation: str) -> None:
    (sample_a, path_a), (sample_b, path_b) = first, second
    what = f"'{path_a}'" if path_a == path_b else f"'{path_a}' and '{path_b}', which {relation}"
    if sample_a == sample_b:
        msg = (
            f"sample '{sample_a}' lists {what}: its events would be counted twice; list "
            "each file once"
        )
    else:
        msg = (
            f"samples '{sample_a}' and '{sample_b}' both list {what}: the same events would "
            "be counted in both samples; remove the file from one of them"
        )
    raise ConfigError(msg)

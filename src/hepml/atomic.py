"""Atomic output: every file hepml writes appears under its final name only when complete.

An interrupted job (SIGTERM, SIGKILL, a full disk) leaves at most a hidden temporary file
next to the target, never a half-written Parquet, model or ROOT file that Snakemake or a
user could mistake for a finished one. Each output is also checked and recorded by
:mod:`hepml.outputs`, so that no write ever replaces a file hepml did not write; a full disk,
a quota or a denied permission becomes an :class:`~hepml.exceptions.OutputError` naming the
output, with nothing partial left behind.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hepml.exceptions import OutputError
from hepml.outputs import LEDGER, claim_directory, claim_file, mark_wholesale, record, settle

__all__ = [
    "atomic_directory",
    "atomic_path",
    "output_error",
    "storage_errors",
    "write_json",
    "write_text",
]

# errors of the storage, not of hepml or its inputs: reported as OutputError, in one line
_STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}
_DENIED_ERRNOS = {errno.EACCES, errno.EPERM}


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    The temporary file lives in the same directory (so the rename is atomic on POSIX) and is
    removed if the body raises. ``target`` must be free or a file hepml wrote
    (:func:`hepml.outputs.claim_file`); the new file is recorded as hepml's.
    """
    target = Path(target)
    claim_file(target)
    with storage_errors(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
    tmp = Path(tmp_name)
    try:
        with storage_errors(target):
            tmp.chmod(0o666 & ~_umask())  # mkstemp creates 0600; give the usual permissions
            yield tmp
            digest = record(tmp, target)
            tmp.replace(target)
            settle(target, digest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_directory(target: str | os.PathLike[str], kind: str) -> Iterator[Path]:
    """Yield a temporary directory beside ``target``; it replaces ``target`` on success.

    ``kind`` names the command (``apply``, ``export``): an existing ``target`` is replaced
    only if that command made it and it holds nothing hepml did not write
    (:func:`hepml.outputs.claim_directory`). An interrupted or failed run leaves no partial
    directory under the final name (the temporary one is removed on error).
    """
    target = Path(target)
    claim_directory(target, kind)
    with storage_errors(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        with storage_errors(target):
            yield tmp
            mark_wholesale(tmp, kind)
            tmp.chmod(0o755)
            claim_directory(target, kind)  # again: it may have changed while we computed
            _swap(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap(new: Path, target: Path) -> None:
    """Put directory ``new`` in the place of ``target`` (checked to be ours), then delete the
    old one."""
    if not os.path.lexists(target):
        new.replace(target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    target.replace(old)  # onto the empty placeholder
    try:
        new.replace(target)
    except BaseException:
        old.replace(target)
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def storage_errors(target: Path) -> Iterator[None]:
    """Turn a full disk, a quota or a denied permission on ``target``'s directory into an
    :class:`OutputError` naming ``target``; other errors pass through."""
    try:
        yield
    except OSError as err:
        converted = output_error(err, target)
        if converted is None:
            raise
        raise converted from err


def output_error(err: OSError, target: str | os.PathLike[str]) -> OutputError | None:
    """The :class:`OutputError` for ``err`` met while writing ``target``, or None when
    ``err`` is not about the output (an input that cannot be read, say)."""
    code = err.errno
    if code is None:  # some libraries put the number in the message only
        match = re.search(r"errno (\d+)", str(err), flags=re.IGNORECASE)
        code = int(match.group(1)) if match else None
    target = Path(target)
    if code in _DENIED_ERRNOS and err.filename is not None and not _ours(err.filename, target):
        return None  # denied on something else, e.g. an input
    if code not in _STORAGE_ERRNOS | _DENIED_ERRNOS:
        if isinstance(err, NotADirectoryError | FileExistsError) and _blocked(target):
            msg = f"cannot write '{target}': a file is in the place of one of its directories"
            return OutputError(msg)
        return None
    reason = os.strerror(code)
    hint = {
        errno.ENOSPC: "free some space or write elsewhere, then rerun",
        errno.EDQUOT: "free some of your quota or write elsewhere, then rerun",
        errno.EROFS: "choose a writable output path",
    }.get(code, "check the permissions of the output directory, or write elsewhere")
    return OutputError(f"cannot write '{target}': {reason}; {hint} (nothing partial was kept)")


def _ours(filename: str | os.PathLike[str], target: Path) -> bool:
    """True when ``filename`` is a path that writing ``target`` touches: ``target`` (or a
    file in it), one of its directories, its temporary, or the ledger beside it."""
    where, target = Path(filename).absolute(), target.absolute()
    if where in target.parents:
        return True
    if not where.is_relative_to(target.parent) or where == target.parent:
        return False
    first = where.relative_to(target.parent).parts[0]
    return first in (target.name, LEDGER) or first.startswith(f".{target.name}.")


def _blocked(target: Path) -> bool:
    """True when an ancestor of ``target`` exists but is not a directory."""
    return any(p.exists() and not p.is_dir() for p in target.parents)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(target: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(target: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as indented, key-sorted JSON to ``target`` atomically (stable diffs)."""
    write_text(target, json.dumps(data, indent=2, sort_keys=True, allow_nan=True) + "\n")

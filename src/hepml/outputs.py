"""Output ownership: hepml replaces only what it wrote itself, and never one of its inputs.

Every file hepml writes (through :mod:`hepml.atomic`) is recorded in the hidden *ledger*
directory ``.hepml/`` beside it: ``.hepml/<name>.sha256`` holds the SHA-256 of the file as
written, in ``sha256sum``'s format. A file is *ours* when its bytes still match that record.
A directory that hepml writes wholesale (the friend trees of ``hepml apply``, the export
directory) also carries ``.hepml/wholesale``, naming the command that made it.

The rules, checked before a command computes anything (:func:`check_outputs`) and again
when each output is written:

- an output file may replace an existing file only if that file is ours: a user's file, a
  file edited since hepml wrote it, a symbolic link, a directory or a FIFO in the way is refused;
- an output directory may replace an existing directory only if the same command made it
  wholesale and everything in it is ours (nothing else would be deleted with it);
- no output may be one of the command's inputs, contain an input, or lie inside a directory
  the command reads as a whole.

Every refusal is an :class:`~hepml.exceptions.OutputConflict` naming the path. Snakemake
deletes the outputs of a job before it reruns it, so the workflow never meets these checks; a
command rerun by hand into its own earlier outputs replaces them. The ledger's records are as
deterministic as the files they describe.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from hepml.exceptions import OutputConflict

__all__ = [
    "LEDGER",
    "check_outputs",
    "claim_directory",
    "claim_file",
    "is_ours",
    "mark_wholesale",
    "record",
    "settle",
    "sha256_of",
]

LEDGER = ".hepml"  # the hidden directory of records, in every directory hepml writes into
WHOLESALE = "wholesale"  # in the ledger of a directory hepml made whole: "hepml <command>"
_SUFFIX = ".sha256"
_ADVICE = "hepml never overwrites or deletes what it did not write"


def sha256_of(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's bytes (hex)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _entry(path: Path) -> Path:
    return path.parent / LEDGER / f"{path.name}{_SUFFIX}"


def _recorded(path: Path) -> list[str]:
    """The hashes the ledger records for ``path`` (none when it has no record)."""
    try:
        text = _entry(path).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        return []
    return [line.split()[0] for line in text.splitlines() if line.strip()]


def is_ours(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a regular file whose bytes hepml recorded writing."""
    path = Path(path)
    if path.is_symlink() or not path.is_file():
        return False
    recorded = _recorded(path)
    return bool(recorded) and sha256_of(path) in recorded


def claim_file(target: str | os.PathLike[str]) -> None:
    """Refuse unless ``target`` is free or a file hepml wrote (see the module docstring)."""
    target = Path(target)
    if not os.path.lexists(target):
        return
    if target.is_symlink():
        what = "is a symbolic link"
    elif target.is_dir():
        what = "is a directory"
    elif not target.is_file():
        what = "is not a regular file (a FIFO, socket or device)"
    elif not _recorded(target):
        what = f"exists and hepml has no record of writing it (no {LEDGER}/ entry)"
    elif not is_ours(target):
        what = "was changed since hepml wrote it"
    else:
        return
    msg = f"output '{target}' {what}: {_ADVICE}. Move it away or choose another output path."
    raise OutputConflict(msg)


def claim_directory(target: str | os.PathLike[str], kind: str) -> None:
    """Refuse unless ``target`` is free, empty, or a directory ``hepml <kind>`` made wholesale
    holding only files hepml wrote, so that replacing it deletes nothing else."""
    target = Path(target)
    if not os.path.lexists(target):
        return
    if target.is_symlink() or not target.is_dir():
        what = "is a symbolic link" if target.is_symlink() else "is not a directory"
        msg = f"output directory '{target}' {what}: choose another output directory"
        raise OutputConflict(msg)
    if not any(target.iterdir()):
        return  # an empty directory: replacing it deletes nothing
    marker = target / LEDGER / WHOLESALE
    made_by = marker.read_text(encoding="utf-8").strip() if marker.is_file() else None
    if made_by != f"hepml {kind}":
        what = (
            f"was made by {made_by}, not hepml {kind}"
            if made_by
            else f"exists and was not made by hepml {kind} (no {LEDGER}/{WHOLESALE} marker)"
        )
        msg = (
            f"output directory '{target}' {what}: hepml {kind} replaces a directory whole, "
            f"and {_ADVICE}. Choose a new directory."
        )
        raise OutputConflict(msg)
    for entry in sorted(target.iterdir()):
        if entry.name != LEDGER and not is_ours(entry):
            msg = (
                f"output directory '{target}' holds '{entry.name}', which hepml did not write "
                f"(or which changed since): replacing the directory would delete it, and "
                f"{_ADVICE}. Move it away first."
            )
            raise OutputConflict(msg)


def record(written: str | os.PathLike[str], target: str | os.PathLike[str]) -> str:
    """Record that hepml wrote ``written``'s bytes as ``target``; return their SHA-256.

    Call it before ``written`` is renamed onto ``target``: until :func:`settle`, the record
    keeps the hash of the file it replaces as well, so an interruption between the two steps
    leaves whichever file is there recognised as ours.
    """
    target = Path(target)
    digest = sha256_of(written)
    keep = [h for h in _recorded(target) if h != digest] if os.path.lexists(target) else []
    _write_entry(target, [digest, *keep])
    return digest


def settle(target: str | os.PathLike[str], digest: str) -> None:
    """After the rename: the record of ``target`` keeps only ``digest``."""
    target = Path(target)
    if _recorded(target) != [digest]:
        _write_entry(target, [digest])


def _write_entry(target: Path, digests: list[str]) -> None:
    text = "".join(f"{d}  {target.name}\n" for d in digests)
    _write_small(_entry(target), text)


def mark_wholesale(directory: str | os.PathLike[str], kind: str) -> None:
    """Mark ``directory`` (being built) as made whole by ``hepml <kind>``; record its files."""
    directory = Path(directory)
    for path in sorted(directory.iterdir()):
        if path.is_file() and not path.is_symlink():
            _write_entry(path, [sha256_of(path)])
    _write_small(directory / LEDGER / WHOLESALE, f"hepml {kind}\n")


def _write_small(path: Path, text: str) -> None:
    """Write a ledger file atomically (temporary name in the ledger, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        Path(tmp).chmod(0o644)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_outputs(
    *,
    files: Iterable[str | os.PathLike[str]] = (),
    directories: Mapping[str | os.PathLike[str], str] | None = None,
    inputs: Iterable[str | os.PathLike[str]] = (),
    input_directories: Iterable[str | os.PathLike[str]] = (),
) -> None:
    """Check every output of a command before it computes anything.

    ``files``: output files; ``directories``: output directories written wholesale, each with
    the command (``kind``) that makes them; ``inputs``: files the command reads (remote URLs
    are ignored); ``input_directories``: directories it reads as a whole. Raises
    :class:`OutputConflict` for an output given twice, one that is an input, contains an
    input or lies inside an input directory, and for anything :func:`claim_file` or
    :func:`claim_directory` refuses.
    """
    directories = {Path(d): kind for d, kind in (directories or {}).items()}
    outputs = [(Path(f), False) for f in files] + [(d, True) for d in directories]
    sources = [(Path(p), _real(p)) for p in inputs if "://" not in str(p)]
    folders = [(Path(p), _real(p)) for p in input_directories]
    seen: dict[str, Path] = {}
    for path, is_dir in outputs:
        real = _real(path)
        if real in seen:
            msg = f"'{path}' is given twice as an output (also as '{seen[real]}')"
            raise OutputConflict(msg)
        seen[real] = path
        _check_overlap(path, real, is_dir, sources, folders)
        if is_dir:
            claim_directory(path, directories[path])
        else:
            claim_file(path)


def _check_overlap(path: Path, real: str, is_dir: bool, sources, folders) -> None:
    for given, source in sources:
        if source == real or _same_file(path, given):
            msg = (
                f"output '{path}' is also an input ('{given}'): writing it would destroy what "
                "is being read. Choose another output path."
            )
            raise OutputConflict(msg)
        if is_dir and _inside(source, real):
            msg = (
                f"output directory '{path}' would contain the input '{given}', and it is "
                "replaced whole. Choose another output directory."
            )
            raise OutputConflict(msg)
    for given, folder in folders:
        if real == folder or _inside(real, folder) or (is_dir and _inside(folder, real)):
            msg = (
                f"output '{path}' is inside the input directory '{given}' (or contains it), "
                "which is read as a whole. Choose another output path."
            )
            raise OutputConflict(msg)


def _real(path: str | os.PathLike[str]) -> str:
    return str(Path(path).resolve())


def _inside(path: str, directory: str) -> bool:
    """True when ``path`` lies strictly below ``directory`` (both real paths)."""
    return path != directory and os.path.commonpath([path, directory]) == directory


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False

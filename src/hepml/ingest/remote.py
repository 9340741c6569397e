"""Remote input files: ``root://`` (XRootD) and ``https://`` (or ``http://``) URLs.

uproot reads them through fsspec: ``root://`` needs ``fsspec-xrootd`` and the XRootD Python
bindings, ``http(s)://`` needs ``aiohttp`` (``pip install "hepml[remote]"`` installs all three).
What hepml adds:

- **globs** where the protocol can list a directory: XRootD always, HTTP where the server
  answers a directory URL with an index page of links (as ``python -m http.server``, Apache's
  and nginx's autoindex do); the matches are sorted, as local globs are. A URL without
  ``*``, ``?`` or ``[`` is taken as it is, without asking the server;
- **retries with back-off** on transient errors (a refused or reset connection, a timeout, an
  HTTP 5xx or 429, XRootD's socket and connection errors): ``reading.retries`` more attempts,
  waiting ``reading.retry_wait`` seconds before the first and twice as long before each next
  one. Opening is retried whole; a read that fails mid-file resumes at the first entry not yet
  handed over, so no event is counted twice;
- **clear errors naming the URL**: a file the server does not have (HTTP 404) is an
  :class:`~hepml.exceptions.InputFileError` "does not exist"; a server that still fails after the
  retries is an ``InputFileError`` too, never a file skipped by ``on_bad_file: skip`` (a network
  outage must not silently drop events); a missing client package says which to install.

Remote files are never Snakemake inputs (Snakemake cannot see them): the workflow's plan gives
every job its explicit URLs, globs resolved once when Snakemake starts.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from hepml.exceptions import InputFileError

__all__ = [
    "RetryPolicy",
    "configure",
    "configure_from",
    "glob_urls",
    "has_glob",
    "is_transient",
    "missing_client",
    "policy",
    "with_retries",
]

log = logging.getLogger(__name__)

T = TypeVar("T")
_GLOB = re.compile(r"[*?\[]")
# XRootD client messages of a server or network that may answer next time
_XROOTD_TRANSIENT = re.compile(
    r"socket|connection|timeout|expired|temporarily|\[FATAL\]|try again", re.IGNORECASE
)
_HTTP_TRANSIENT = {408, 425, 429, 500, 502, 503, 504}
_CLIENTS = {
    "root": "fsspec-xrootd and the XRootD Python bindings (pip install 'hepml[remote]')",
    "http": "aiohttp (pip install 'hepml[remote]')",
    "https": "aiohttp (pip install 'hepml[remote]')",
}


@dataclass(frozen=True)
class RetryPolicy:
    """``retries`` more attempts after a transient error, the first after ``wait`` seconds,
    each next one after twice the previous wait."""

    retries: int = 3
    wait: float = 2.0

    def waits(self):
        return [self.wait * 2**i for i in range(self.retries)]


_POLICY = [RetryPolicy()]


def configure(retries: int, wait: float) -> None:
    """Set this process's retry policy (``reading.retries``, ``reading.retry_wait``)."""
    _POLICY[0] = RetryPolicy(int(retries), float(wait))


def configure_from(config) -> None:
    """:func:`configure` from a :class:`~hepml.config.Config`'s ``reading`` section."""
    configure(config.reading.retries, config.reading.retry_wait)


def policy() -> RetryPolicy:
    """The retry policy in force."""
    return _POLICY[0]


def has_glob(url: str) -> bool:
    return bool(_GLOB.search(url))


def protocol_of(url: str) -> str:
    return url.split("://", 1)[0].lower()


def missing_client(err: BaseException, url: str) -> InputFileError | None:
    """An error naming the package that reads ``url``'s protocol, when ``err`` is its
    ImportError (None otherwise)."""
    if not isinstance(err, ImportError):
        return None
    need = _CLIENTS.get(protocol_of(url), f"an fsspec implementation of {protocol_of(url)}://")
    return InputFileError(f"reading '{url}' needs {need} ({err})")


def is_transient(err: BaseException) -> bool:
    """True for an error that a later attempt may not meet: connection refused or reset,
    timeouts, HTTP 5xx/429, XRootD socket and connection errors (also as the cause of
    another error). A missing file or a refused permission is never transient."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, FileNotFoundError | PermissionError | IsADirectoryError | ImportError):
            return False
        if isinstance(err, TimeoutError | ConnectionError):
            return True
        status = getattr(err, "status", None)
        if type(err).__module__.startswith("aiohttp"):
            if isinstance(status, int):
                return status in _HTTP_TRANSIENT
            return True  # aiohttp's connection, payload and disconnection errors
        if isinstance(err, OSError) and _XROOTD_TRANSIENT.search(str(err)):
            return True
        err = err.__cause__ or err.__context__
    return False


def with_retries(action: Callable[[], T], url: str, what: str) -> T:
    """``action()``, tried again after each transient error (:func:`is_transient`) with the
    policy's waits; after the last, :class:`InputFileError` naming ``url`` and ``what``."""
    waits = policy().waits()
    attempt = 0
    while True:
        try:
            return action()
        except Exception as err:
            if not is_transient(err):
                raise
            if attempt == len(waits):
                raise gave_up(url, what, attempt + 1, err) from err
            log.warning(
                "%s '%s' failed (%s); attempt %d of %d in %.3g s",
                what,
                url,
                _short(err),
                attempt + 2,
                len(waits) + 1,
                waits[attempt],
            )
            time.sleep(waits[attempt])
            attempt += 1


def gave_up(url: str, what: str, attempts: int, err: BaseException) -> InputFileError:
    """The error once every attempt failed: the URL, what was done, how often, why."""
    return InputFileError(
        f"{what} '{url}' failed {attempts} time(s), the last with {_short(err)}: the server "
        "or the network does not answer; rerun later, or raise reading.retries / "
        "reading.retry_wait"
    )


def _short(err: BaseException) -> str:
    text = " ".join(f"{type(err).__name__}: {err}".split())
    return text if len(text) <= 300 else text[:297] + "..."


def glob_urls(pattern: str) -> list[str]:
    """The URLs matching ``pattern`` (sorted), listed by the protocol's fsspec filesystem.

    Raises :class:`InputFileError` naming the pattern when the protocol cannot list (an HTTP
    server without index pages), its client is missing, or the server does not answer.
    """
    import fsspec.core

    def listed() -> list[str]:
        fs, path = fsspec.core.url_to_fs(pattern)
        return sorted(fs.unstrip_protocol(p) if "://" not in p else p for p in fs.glob(path))

    try:
        return with_retries(listed, pattern, "listing")
    except InputFileError:
        raise
    except Exception as err:
        missing = missing_client(err, pattern)
        if missing is not None:
            raise missing from err
        msg = (
            f"cannot list '{pattern}' to match its glob ({_short(err)}); list the files "
            "one by one instead (HTTP servers list directories only with index pages)"
        )
        raise InputFileError(msg) from err

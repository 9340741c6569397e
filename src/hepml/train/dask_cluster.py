"""The Dask cluster of ``training.engine: dask``: a running scheduler, or a LocalCluster.

Dask, distributed and dask-awkward are an optional extra (``pip install 'hepml[dask]'``),
imported only here and in :mod:`hepml.train.distributed`, and only when the engine is used.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hepml.config import DaskSettings
from hepml.exceptions import ClusterError, ConfigError

__all__ = ["EXTRA", "dask_client", "n_workers", "require_dask", "version_problems"]

log = logging.getLogger(__name__)

EXTRA = "pip install 'hepml[dask]'"
_MODULES = ("dask", "distributed", "dask_awkward")


def require_dask() -> None:
    """Raise :class:`ConfigError` with the install command unless the dask extra imports."""
    missing = []
    for module in _MODULES:
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(module)
    if missing:
        msg = (
            f"training.engine: dask needs {', '.join(missing)}, which this environment lacks: "
            f"{EXTRA} (or set training.engine: local)"
        )
        raise ConfigError(msg)
    wrong = version_problems()
    if wrong:  # they import, but e.g. an older dask-awkward fails at compute time
        msg = (
            f"training.engine: dask: {'; '.join(wrong)}. These versions do not work together: "
            f"{EXTRA} installs a set that does"
        )
        raise ConfigError(msg)


def version_problems() -> list[str]:
    """The installed packages of the dask extra that its pins (pyproject.toml) exclude."""
    from importlib import metadata

    from packaging.requirements import Requirement

    try:
        requirements = [Requirement(r) for r in metadata.requires("hepml") or []]
    except metadata.PackageNotFoundError:  # hepml not installed (run from a checkout)
        return []
    problems = []
    for req in requirements:
        if req.marker is None or not req.marker.evaluate({"extra": "dask"}):
            continue
        try:
            installed = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            problems.append(f"{req.name} is not installed")
            continue
        if not req.specifier.contains(installed, prereleases=True):
            problems.append(f"{req.name} {installed} is installed, the extra needs {req.specifier}")
    return problems


@contextmanager
def dask_client(settings: DaskSettings, threads: int = 1) -> Iterator[Any]:
    """A ``distributed.Client`` of the configured cluster, closed on exit.

    With ``settings.address``, connect to that scheduler (waiting at most
    ``settings.timeout`` seconds; :class:`ClusterError` if it cannot be reached). Otherwise
    start a ``LocalCluster`` of ``settings.workers`` processes, each with
    ``settings.threads_per_worker`` threads (default: ``threads`` shared among them), and
    shut it down on exit.
    """
    require_dask()
    # the scheduler of a LocalCluster runs in this process: keep its chatter out of the log
    quiet = logging.getLogger("distributed")
    level = quiet.level
    quiet.setLevel(max(level, logging.WARNING))
    # a LocalCluster's nannies set OMP_NUM_THREADS=1 (and MKL/OpenBLAS) in os.environ of this
    # process and never undo it: every later subprocess (and nproc) would see one core
    environ = dict(os.environ)
    try:
        with _client(settings, threads) as client:
            yield client
    finally:
        quiet.setLevel(level)
        os.environ.clear()
        os.environ.update(environ)


@contextmanager
def _client(settings: DaskSettings, threads: int) -> Iterator[Any]:
    from distributed import Client, LocalCluster

    if settings.address:
        try:
            client = Client(settings.address, timeout=f"{settings.timeout}s")
        except (OSError, TimeoutError, ValueError) as err:
            msg = (
                f"training.dask.address: cannot reach a Dask scheduler at "
                f"'{settings.address}' within {settings.timeout:g} s ({err}). Start one "
                "(dask scheduler; dask worker ADDRESS), check the address, or set "
                "training.dask.address: null for a LocalCluster on this machine."
            )
            raise ClusterError(msg) from err
        with client:
            try:  # a scheduler without workers would leave the training waiting forever
                client.wait_for_workers(1, timeout=settings.timeout)
            except TimeoutError as err:
                msg = (
                    f"training.dask.address: the Dask scheduler at '{settings.address}' has "
                    f"no workers after {settings.timeout:g} s; start some: dask worker "
                    f"{settings.address}"
                )
                raise ClusterError(msg) from err
            log.info("connected to %s: %d workers", settings.address, n_workers(client))
            yield client
        return
    per_worker = settings.threads_per_worker or max(threads // settings.workers, 1)
    try:
        cluster = LocalCluster(
            n_workers=settings.workers,
            threads_per_worker=per_worker,
            processes=True,
            memory_limit=settings.memory_limit or "auto",
            dashboard_address=None,
            silence_logs=logging.WARNING,
        )
    except (OSError, TimeoutError, RuntimeError) as err:
        msg = f"training.dask: cannot start a LocalCluster of {settings.workers} workers ({err})"
        raise ClusterError(msg) from err
    with cluster, Client(cluster) as client:
        log.info("started a LocalCluster: %d workers x %d threads", settings.workers, per_worker)
        yield client


def n_workers(client: Any) -> int:
    """The number of workers of the client's cluster now."""
    return len(client.scheduler_info()["workers"])

"""How many threads a training job gives XGBoost: what it was given, and what the machine has.

XGBoost's OpenMP threads spin while they wait for each other: with more threads than free
cores, every round waits for a thread that another process holds back, and a job with two
threads was measured ten times slower than with one on a busy 2-core machine. So a job uses
at most

- the threads it was given (``--threads``: Snakemake's ``threads``, i.e. ``resources.train.
  threads`` capped by ``--cores``),
- the CPUs it may run on (``os.sched_getaffinity``: a batch system's cgroup or ``taskset``),
- and, when it may run on every CPU of the machine (no batch system pinned it), the cores the
  other processes leave free: the CPUs less those busy over a fifth of a second at the start
  (``/proc/stat``; elsewhere the 1-minute load average), at least one.

A batch job pinned to some of a node's CPUs ignores the node's load: the other jobs run on
other CPUs. XGBoost's models do not depend on the number of threads (tested), so this
changes the speed only, never a number. Whenever the job uses fewer threads than it was
given, its log says why.
"""

from __future__ import annotations

import logging
import math
import os
import time

__all__ = ["busy_cpus", "choose_threads", "usable_threads"]

log = logging.getLogger(__name__)


def choose_threads(
    requested: int, *, allowed: int, machine: int, load: float | None
) -> tuple[int, str | None]:
    """The threads to use and, if fewer than ``requested``, the reason (else None).

    ``allowed`` is the number of CPUs this process may run on, ``machine`` the machine's
    CPUs and ``load`` the number of them busy with other processes (None when unknown).
    """
    requested = max(int(requested), 1)
    threads, reason = requested, None
    if allowed < threads:
        threads = allowed
        reason = f"this job may run on {allowed} CPU(s) only (CPU affinity)"
    if load is not None and allowed >= machine:
        free = max(machine - math.ceil(load - 0.5), 1)  # load rounded to whole busy cores
        if free < threads:
            threads = free
            reason = (
                f"the machine is busy: {load:.1f} of its {machine} CPU(s) in use leave "
                f"{free} free (more XGBoost threads than free cores slow training down "
                "many times)"
            )
    return max(threads, 1), reason


def busy_cpus(interval: float = 0.2) -> float | None:
    """How many CPUs other processes keep busy: from two reads of ``/proc/stat`` ``interval``
    seconds apart (this process sleeps in between), else the 1-minute load average."""
    try:
        first = _cpu_times()
        time.sleep(interval)
        second = _cpu_times()
        total = second[0] - first[0]
        if total > 0:
            return (total - (second[1] - first[1])) / total * (os.cpu_count() or 1)
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def _cpu_times() -> tuple[int, int]:
    """(all, idle + iowait) jiffies of the machine's CPUs, from ``/proc/stat``."""
    with open("/proc/stat", encoding="ascii") as stream:
        fields = [int(v) for v in stream.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is inside user)
    return sum(fields[:8]), fields[3] + fields[4]


def usable_threads(requested: int) -> int:
    """:func:`choose_threads` for this process on this machine; logs the choice."""
    machine = os.cpu_count() or 1
    try:
        allowed = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        allowed = machine
    load = busy_cpus() if allowed >= machine and requested > 1 else None
    threads, reason = choose_threads(requested, allowed=allowed, machine=machine, load=load)
    if reason:
        log.warning("training with %d thread(s) instead of %d: %s", threads, requested, reason)
    else:
        log.info("training with %d thread(s)", threads)
    return threads

"""Batch resources of the workflow's jobs: threads, memory and runtime from the config.

Each stage (``demo``, ``ingest``, ``train``, ``evaluate``, ``default``) has a base memory and
runtime plus a part that grows with the size of the job's input files, so that one config
serves the demo and a terabyte analysis; both grow linearly with the attempt number, so that
a job the batch system killed for memory or time is retried with more (profiles set
``retries``). Snakemake hands these to the executor: ``mem_mb`` and ``runtime`` become
``sbatch --mem``/``--time`` on SLURM; HTCondor's executor does not read them, so
:func:`htcondor_resources` translates them into what it does read (``request_memory`` via
``htcondor_request_mem_mb``, and the ``+MaxRuntime``/``+JobFlavour`` job attributes of
CERN-style pools).
"""

from __future__ import annotations

import math
from typing import Any

from hepml.config import Config, StageResources

__all__ = [
    "JOB_FLAVOURS",
    "htcondor_resources",
    "job_flavour",
    "memory_mb",
    "runtime_minutes",
    "stage",
]

MB_PER_GB = 1024.0

# CERN HTCondor job flavours and their wall-time limits in minutes, shortest first.
JOB_FLAVOURS = (
    ("espresso", 20),
    ("microcentury", 60),
    ("longlunch", 120),
    ("workday", 480),
    ("tomorrow", 1440),
    ("testmatch", 4320),
    ("nextweek", 10080),
)


def stage(config: Config, name: str) -> StageResources:
    """The resources of stage ``name``, or of ``default`` for a stage the config does not list."""
    return config.resources.get(name) or config.resources["default"]


def memory_mb(res: StageResources, input_mb: float, attempt: int = 1) -> int:
    """Memory in MB for a job reading ``input_mb`` MB: (base + per-GB part) x attempt."""
    per_input = res.mem_mb_per_gb * max(float(input_mb), 0.0) / MB_PER_GB
    return math.ceil((res.mem_mb + per_input) * max(int(attempt), 1))


def runtime_minutes(res: StageResources, input_mb: float, attempt: int = 1) -> int:
    """Wall time in minutes for a job reading ``input_mb`` MB: (base + per-GB part) x attempt."""
    per_input = res.runtime_per_gb * max(float(input_mb), 0.0) / MB_PER_GB
    return math.ceil((res.runtime + per_input) * max(int(attempt), 1))


def job_flavour(minutes: float) -> str:
    """The shortest CERN job flavour whose limit covers ``minutes`` (the longest otherwise)."""
    for name, limit in JOB_FLAVOURS:
        if minutes <= limit:
            return name
    return JOB_FLAVOURS[-1][0]


def htcondor_resources(mem_mb: int, minutes: int) -> dict[str, Any]:
    """Snakemake resources that the HTCondor executor turns into submit-file lines.

    ``htcondor_request_mem_mb`` becomes ``request_memory``; every ``classad_X`` becomes the job
    attribute ``+X``: ``+MaxRuntime`` in seconds and ``+JobFlavour`` (CERN pools read one of
    them, other pools ignore both).
    """
    return {
        "htcondor_request_mem_mb": int(mem_mb),
        "classad_MaxRuntime": int(minutes) * 60,
        "classad_JobFlavour": job_flavour(minutes),
    }

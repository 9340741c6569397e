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

A SLURM job that no node of its partition can run never starts: more CPUs than any node
waits in the queue forever (reason ``PartitionConfig``), more time than the partition allows
too (``PartitionTimeLimit``), and more memory is refused at submission. Before a job is
submitted, :func:`fit_slurm_job` compares what it asks for with the partition's nodes
(``sinfo``, :func:`query_slurm_nodes`) and refuses it, naming the resource and the largest
node; a retry (attempt > 1) that would outgrow the nodes asks for the most they offer instead.
"""

from __future__ import annotations

import logging
import math
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hepml.config import Config
from hepml.config.model import StageResources
from hepml.exceptions import ConfigError

__all__ = [
    "JOB_FLAVOURS",
    "SINFO_COMMAND",
    "SlurmNode",
    "fit_slurm_job",
    "htcondor_resources",
    "job_flavour",
    "memory_mb",
    "parse_sinfo",
    "query_slurm_nodes",
    "runtime_minutes",
    "slurm_limits",
    "slurm_minutes",
    "stage",
]

log = logging.getLogger(__name__)

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


# One line per node and partition: name, partition (default marked *), CPUs, memory in MB,
# the partition's time limit.
SINFO_COMMAND = ("sinfo", "--noheader", "--Node", "--format=%N|%P|%c|%m|%l")
_NUMBER = re.compile(r"\d+")  # "64" or "64+" (sinfo's "at least")


@dataclass(frozen=True)
class SlurmNode:
    """A node of a SLURM partition, as ``sinfo`` describes it."""

    name: str
    partition: str
    cpus: int
    mem_mb: int
    time_limit: float  # minutes, the partition's limit; inf when unlimited
    default: bool  # the cluster's default partition


def slurm_minutes(text: str) -> float:
    """A SLURM time (``infinite``, ``M``, ``M:S``, ``H:M:S``, ``D-H``, ``D-H:M``,
    ``D-H:M:S``) in minutes."""
    text = text.strip()
    if text.lower() in ("infinite", "unlimited", "n/a", ""):
        return math.inf
    days, _, clock = text.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    if days:  # D-H, D-H:M, D-H:M:S
        parts += [0] * (3 - len(parts))
        hours, minutes, seconds = parts
        return int(days) * 1440 + hours * 60 + minutes + seconds / 60
    if len(parts) == 1:
        return float(parts[0])
    if len(parts) == 2:
        return parts[0] + parts[1] / 60
    return parts[0] * 60 + parts[1] + parts[2] / 60


def parse_sinfo(text: str) -> list[SlurmNode]:
    """The nodes in the output of :data:`SINFO_COMMAND` (malformed lines are skipped)."""
    nodes = []
    for line in text.splitlines():
        fields = line.strip().split("|")
        if len(fields) != 5:
            continue
        name, partition, cpus, mem, limit = fields
        cpus_match, mem_match = _NUMBER.match(cpus), _NUMBER.match(mem)
        if not (cpus_match and mem_match):
            continue
        try:
            minutes = slurm_minutes(limit)
        except ValueError:
            minutes = math.inf
        nodes.append(
            SlurmNode(
                name=name,
                partition=partition.rstrip("*"),
                cpus=int(cpus_match.group()),
                mem_mb=int(mem_match.group()),
                time_limit=minutes,
                default=partition.endswith("*"),
            )
        )
    return nodes


def query_slurm_nodes(
    run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
) -> list[SlurmNode] | None:
    """The nodes of the SLURM cluster, from ``sinfo``; None when it cannot be asked."""
    if run is subprocess.run and shutil.which(SINFO_COMMAND[0]) is None:
        return None
    try:
        done = run(list(SINFO_COMMAND), capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError) as err:
        log.warning("cannot ask SLURM for its nodes (%s): job sizes are not checked", err)
        return None
    if done.returncode != 0:
        log.warning("sinfo failed (%s): job sizes are not checked", done.stderr.strip())
        return None
    return parse_sinfo(done.stdout) or None


def fit_slurm_job(
    what: str,
    *,
    threads: int,
    mem_mb: int,
    runtime: int,
    attempt: int,
    nodes: Sequence[SlurmNode],
    partition: str | None = None,
) -> tuple[int, int]:
    """The (mem_mb, runtime) to ask SLURM for a job of ``threads`` CPUs, checked against the
    nodes of ``partition`` (default: the cluster's default partition).

    ``what`` names the job in messages. Raises :class:`ConfigError` when no node of the
    partition has the CPUs (the job would wait forever, reason ``PartitionConfig``), or, on
    the first attempt, the memory (refused at submission) or when the runtime exceeds the
    partition's time limit (forever ``PartitionTimeLimit``). A retry that outgrows them asks
    for the largest node's memory and the partition's limit instead. Without a partition to
    check against (none named, none default, an unknown name) the request is returned as is.
    """
    name = partition or next((n.partition for n in nodes if n.default), None)
    members = [n for n in nodes if n.partition == name]
    if not members:
        return mem_mb, runtime
    where = f"SLURM partition '{name}'"
    forever = "the job would wait in the queue forever"
    fitting = [n for n in members if n.cpus >= threads]
    if not fitting:
        most = max(n.cpus for n in members)
        msg = (
            f"{what} asks for {threads} CPUs (threads), but the largest node of {where} has "
            f"{most}: {forever} (reason PartitionConfig). Lower the stage's threads in the "
            "config's resources section, or submit to a partition with bigger nodes "
            "(slurm_partition)."
        )
        raise ConfigError(msg)
    most_mem = max(n.mem_mb for n in fitting)
    if mem_mb > most_mem:
        if attempt <= 1:
            msg = (
                f"{what} asks for {mem_mb} MB of memory (mem_mb), but the largest node of "
                f"{where} with {threads} CPUs has {most_mem} MB: SLURM refuses the job. Lower "
                "the stage's mem_mb or mem_mb_per_gb in the config's resources section, or "
                "submit to a partition with bigger nodes (slurm_partition)."
            )
            raise ConfigError(msg)
        log.warning("%s, attempt %d: %d MB capped to %d MB, the largest node of %s",
                    what, attempt, mem_mb, most_mem, where)  # fmt: skip
        mem_mb = most_mem
    limit = max(n.time_limit for n in members)
    if runtime > limit:
        if attempt <= 1:
            msg = (
                f"{what} asks for {runtime} minutes (runtime), but {where} allows "
                f"{limit:g}: {forever} (reason PartitionTimeLimit). Lower the stage's runtime "
                "or runtime_per_gb in the config's resources section, or submit to a "
                "partition with a longer limit (slurm_partition)."
            )
            raise ConfigError(msg)
        runtime = math.floor(limit)
    return mem_mb, runtime


def slurm_limits(
    threads: dict[str, int], nodes: Sequence[SlurmNode], partition: str | None = None
) -> dict[str, dict[str, Any]]:
    """Per stage, the most memory (MB) and runtime (minutes) a job may ask of ``partition``.

    ``threads`` maps each stage to its jobs' threads. Raises :class:`ConfigError` naming the
    stage when no node of the partition has its CPUs (its jobs would wait forever, reason
    ``PartitionConfig``). A stage without a partition to check against is left out. The
    workflow asks for these once (``hepml slurm-limits``) and checks each job against them,
    as :func:`fit_slurm_job` does for one job.
    """
    limits = {}
    for stage, cpus in threads.items():
        what = f"a job of stage '{stage}' (resources.{stage}.threads)"
        name = partition or next((n.partition for n in nodes if n.default), None)
        members = [n for n in nodes if n.partition == name]
        if not members:
            continue
        fit_slurm_job(what, threads=cpus, mem_mb=0, runtime=0, attempt=1, nodes=nodes,
                      partition=name)  # fmt: skip
        limits[stage] = {
            "mem_mb": max(n.mem_mb for n in members if n.cpus >= cpus),
            "runtime": max(n.time_limit for n in members),
            "where": f"SLURM partition '{name}'",
        }
    return limits

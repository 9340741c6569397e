# Batch resources of the rules, from the config's `resources:` section (hepml.batch). A rule
# of stage STAGE declares
#     threads: stage_threads("STAGE")
#     resources:
#         **stage_resources("STAGE"),
# and gets mem_mb and runtime (minutes) scaled by its input size and by the attempt number
# (profiles set `retries`), plus their HTCondor translation (htcondor_request_mem_mb,
# +MaxRuntime, +JobFlavour), which the HTCondor executor does not derive from mem_mb/runtime
# itself and other executors ignore. Resources are never a rerun trigger.
# On SLURM, each job's threads, mem_mb and runtime are first checked against the nodes of the
# partition (hepml.batch.fit_slurm_job, from sinfo): a job no node can run would wait in the
# queue forever (PartitionConfig), so it stops the run instead, naming the rule and the
# resource. HEPML_NO_SLURM_CHECK=1 turns the check off.
import os as _os

from hepml.batch import fit_slurm_job as _fit_slurm_job
from hepml.batch import htcondor_resources as _htcondor_resources
from hepml.batch import memory_mb as _memory_mb
from hepml.batch import query_slurm_nodes as _query_slurm_nodes
from hepml.batch import runtime_minutes as _runtime_minutes
from hepml.batch import stage as _stage

_SLURM_NODES = {}


def stage_threads(name):
    """Threads of a job of stage `name` (resources.<name>.threads of the config)."""
    return _stage(CFG, name).threads


def stage_resources(name):
    """mem_mb, runtime and their HTCondor names for a job of stage `name`."""
    res = _stage(CFG, name)

    def requested(input, attempt):
        size = input.size_mb
        return _memory_mb(res, size, attempt), _runtime_minutes(res, size, attempt)

    def fitted(input, threads, attempt):
        mem, minutes = requested(input, attempt)
        nodes = _slurm_nodes()
        if nodes:
            mem, minutes = _fit_slurm_job(
                f"a job of stage '{name}'",
                threads=threads,
                mem_mb=mem,
                runtime=minutes,
                attempt=attempt,
                nodes=nodes,
                partition=_slurm_partition(),
            )
        return mem, minutes

    def mem_mb(wildcards, input, threads, attempt):
        return fitted(input, threads, attempt)[0]

    def runtime(wildcards, input, threads, attempt):
        return fitted(input, threads, attempt)[1]

    def htcondor(key):
        def value(wildcards, input, attempt):
            return _htcondor_resources(*requested(input, attempt))[key]

        return value

    translated = _htcondor_resources(res.mem_mb, res.runtime)
    return {"mem_mb": mem_mb, "runtime": runtime} | {
        key: htcondor(key) for key in translated
    }


def _slurm_nodes():
    """The SLURM cluster's nodes when this run submits to SLURM (asked once), else None."""
    plugin = getattr(workflow, "executor_plugin", None)
    if getattr(plugin, "name", None) != "slurm" or _os.environ.get(
        "HEPML_NO_SLURM_CHECK"
    ):
        return None
    if "nodes" not in _SLURM_NODES:
        _SLURM_NODES["nodes"] = _query_slurm_nodes()
    return _SLURM_NODES["nodes"]


def _slurm_partition():
    """The partition of the profile's default-resources (slurm_partition), if it names one."""
    try:
        value = workflow.resource_settings.default_resources.get("slurm_partition")
    except Exception:  # no default-resources, or another Snakemake's structure
        return None
    value = getattr(value, "value", value)
    return str(value).strip("'\"") if value else None


def effective_threads(rule_name, stage_name):
    """Threads a job of `rule_name` runs with: its stage's, unless --set-threads overrides
    them, capped by --max-threads and by --cores (a local run never gives a job more).
    """
    settings = workflow.resource_settings
    override = settings.overwrite_threads.get(rule_name)
    threads = getattr(override, "value", override)  # an int, or a Resource holding one
    if not isinstance(threads, int):
        threads = stage_threads(stage_name)
    cores = workflow.global_resources["_cores"].value
    for limit in (settings.max_threads, cores):
        if isinstance(limit, int) and limit > 0:
            threads = min(threads, limit)
    return threads

# Batch resources of the rules, from the config's `resources:` section (as `hepml plan` reports
# it; the formula is hepml.workflow.resources's). A rule of stage STAGE declares
#     threads: stage_threads("STAGE")
#     resources:
#         **stage_resources("STAGE"),
# and gets mem_mb and runtime (minutes) scaled by its input size and by the attempt number
# (profiles set `retries`), plus their HTCondor translation (htcondor_request_mem_mb,
# +MaxRuntime, +JobFlavour), which the HTCondor executor does not derive from mem_mb/runtime
# itself and other executors ignore. Resources are never a rerun trigger.
# On SLURM, each job's memory and runtime are checked against the nodes of the partition
# (`hepml slurm-limits`, asked once, from sinfo): a job no node can run would wait in the queue
# forever (PartitionConfig, PartitionTimeLimit), so the run stops instead, naming the stage and
# the resource; a retry that outgrows the largest node asks for what it has.
# HEPML_NO_SLURM_CHECK=1 turns the check off (e.g. --set-resources to another partition).
import math as _math
import os as _os

_MB_PER_GB = 1024.0


def _input_mb(input):
    """MB of the job's input files present now (os.stat, synchronous).

    Snakemake's own `input.size_mb` runs a coroutine, which it cannot await while it builds
    the DAG inside its event loop (`snakemake --report`, a dry run): it then falls back to a
    placeholder and Python warns "coroutine 'InputFiles._predicated_size_files.<locals>.sizes'
    was never awaited" once per job (snakemake/snakemake#4280). Files not written yet count
    0 here; Snakemake evaluates the resources again when the job is about to run, with every
    input in place.
    """
    total = 0
    for path in input:
        try:
            total += _os.stat(path).st_size
        except (OSError, TypeError, ValueError):
            pass
    return total / _MB_PER_GB / _MB_PER_GB


def _stage(name):
    """The resources of stage `name`, or of `default` for a stage the config does not list."""
    return PLAN["resources"].get(name) or PLAN["resources"]["default"]


def _scaled(base, per_gb, input_mb, attempt):
    """(base + per-GB part) x attempt, rounded up: memory in MB or runtime in minutes."""
    per_input = per_gb * max(float(input_mb), 0.0) / _MB_PER_GB
    return _math.ceil((base + per_input) * max(int(attempt), 1))


def _job_flavour(minutes):
    """The shortest CERN job flavour whose limit covers `minutes` (the longest otherwise)."""
    for name, limit in PLAN["job_flavours"]:
        if minutes <= limit:
            return name
    return PLAN["job_flavours"][-1][0]


def stage_threads(name):
    """Threads of a job of stage `name` (resources.<name>.threads of the config)."""
    return _stage(name)["threads"]


_SLURM = {}  # the partition's limits per stage, asked once
_UNITS = {"mem_mb": "MB of memory", "runtime": "minutes"}


def _slurm_limits():
    """Per stage, the most mem_mb and runtime SLURM can give (None when not on SLURM)."""
    plugin = getattr(workflow, "executor_plugin", None)
    if getattr(plugin, "name", None) != "slurm" or _os.environ.get(
        "HEPML_NO_SLURM_CHECK"
    ):
        return None
    if "limits" not in _SLURM:
        command = ["hepml", "slurm-limits", "--threads"]
        command += [f"{stage}={r['threads']}" for stage, r in PLAN["resources"].items()]
        partition = _slurm_partition()
        if partition:
            command += ["--partition", partition]
        done = _subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise WorkflowError(done.stderr.strip() or " ".join(command) + " failed")
        _SLURM["limits"] = _json.loads(done.stdout)
    return _SLURM["limits"]


def _slurm_partition():
    """The partition of the profile's default-resources (slurm_partition), if it names one."""
    try:
        value = workflow.resource_settings.default_resources.get("slurm_partition")
    except Exception:  # no default-resources, or another Snakemake's structure
        return None
    value = getattr(value, "value", value)
    return str(value).strip("'\"") if value else None


def _fitted(stage, key, value, attempt):
    """`value` of resource `key`, checked against the SLURM partition's limit for `stage`."""
    limits = (_slurm_limits() or {}).get(stage) or {}
    limit = limits.get(key)
    if limit is None or value <= limit:
        return value
    if attempt <= 1:
        raise WorkflowError(
            f"a job of stage '{stage}' asks for {value} {_UNITS[key]} ({key}), but "
            f"{limits['where']} allows {limit:g}: SLURM would refuse it or keep it "
            f"queued forever. Lower resources.{stage}.{key} (or its _per_gb part) in the "
            "config, or submit to a partition with bigger nodes (slurm_partition)."
        )
    return _math.floor(limit)  # a retry asks for what the largest node has


def stage_resources(name):
    """mem_mb, runtime and their HTCondor names for a job of stage `name`."""
    res = _stage(name)
    stage = name if name in PLAN["resources"] else "default"

    def mem_mb(wildcards, input, attempt):
        mem = _scaled(res["mem_mb"], res["mem_mb_per_gb"], _input_mb(input), attempt)
        return _fitted(stage, "mem_mb", mem, attempt)

    def runtime(wildcards, input, attempt):
        minutes = _scaled(
            res["runtime"], res["runtime_per_gb"], _input_mb(input), attempt
        )
        return _fitted(stage, "runtime", minutes, attempt)

    def htcondor_mem(wildcards, input, attempt):
        return mem_mb(wildcards, input, attempt)

    def max_runtime(wildcards, input, attempt):
        return runtime(wildcards, input, attempt) * 60

    def flavour(wildcards, input, attempt):
        return _job_flavour(runtime(wildcards, input, attempt))

    return {
        "mem_mb": mem_mb,
        "runtime": runtime,
        "htcondor_request_mem_mb": htcondor_mem,
        "classad_MaxRuntime": max_runtime,
        "classad_JobFlavour": flavour,
    }


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

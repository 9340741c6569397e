# Batch resources of the rules, from the config's `resources:` section (as `hepml plan` reports
# it; the formula is hepml.batch's). A rule of stage STAGE declares
#     threads: stage_threads("STAGE")
#     resources:
#         **stage_resources("STAGE"),
# and gets mem_mb and runtime (minutes) scaled by its input size and by the attempt number
# (profiles set `retries`), plus their HTCondor translation (htcondor_request_mem_mb,
# +MaxRuntime, +JobFlavour), which the HTCondor executor does not derive from mem_mb/runtime
# itself and other executors ignore. Resources are never a rerun trigger.
import math as _math

_MB_PER_GB = 1024.0


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


def stage_resources(name):
    """mem_mb, runtime and their HTCondor names for a job of stage `name`."""
    res = _stage(name)

    def mem_mb(wildcards, input, attempt):
        return _scaled(res["mem_mb"], res["mem_mb_per_gb"], input.size_mb, attempt)

    def runtime(wildcards, input, attempt):
        return _scaled(res["runtime"], res["runtime_per_gb"], input.size_mb, attempt)

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

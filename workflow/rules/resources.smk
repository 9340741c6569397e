# Batch resources of the rules, from the config's `resources:` section (hepml.batch). A rule
# of stage STAGE declares
#     threads: stage_threads("STAGE")
#     resources:
#         **stage_resources("STAGE"),
# and gets mem_mb and runtime (minutes) scaled by its input size and by the attempt number
# (profiles set `retries`), plus their HTCondor translation (htcondor_request_mem_mb,
# +MaxRuntime, +JobFlavour), which the HTCondor executor does not derive from mem_mb/runtime
# itself and other executors ignore. Resources are never a rerun trigger.
from hepml.batch import htcondor_resources as _htcondor_resources
from hepml.batch import memory_mb as _memory_mb
from hepml.batch import runtime_minutes as _runtime_minutes
from hepml.batch import stage as _stage


def stage_threads(name):
    """Threads of a job of stage `name` (resources.<name>.threads of the config)."""
    return _stage(CFG, name).threads


def stage_resources(name):
    """mem_mb, runtime and their HTCondor names for a job of stage `name`."""
    res = _stage(CFG, name)

    def mem_mb(wildcards, input, attempt):
        return _memory_mb(res, input.size_mb, attempt)

    def runtime(wildcards, input, attempt):
        return _runtime_minutes(res, input.size_mb, attempt)

    def htcondor(key):
        def value(wildcards, input, attempt):
            minutes = runtime(wildcards, input, attempt)
            return _htcondor_resources(mem_mb(wildcards, input, attempt), minutes)[key]

        return value

    translated = _htcondor_resources(res.mem_mb, res.runtime)
    return {"mem_mb": mem_mb, "runtime": runtime} | {
        key: htcondor(key) for key in translated
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

"""Batch resources: the config's `resources:` section and its scaling by input size."""

from __future__ import annotations

import math
import subprocess

import pytest

from hepml.config import config_from_dict, schema
from hepml.config.model import StageResources
from hepml.exceptions import ConfigError
from hepml.workflow.resources import (
    JOB_FLAVOURS,
    SINFO_COMMAND,
    fit_slurm_job,
    htcondor_resources,
    job_flavour,
    memory_mb,
    parse_sinfo,
    query_slurm_nodes,
    runtime_minutes,
    slurm_minutes,
    stage,
)


def test_every_stage_gets_its_schema_defaults(small_config):
    cfg = config_from_dict(small_config)
    stages = schema()["properties"]["resources"]["properties"]
    assert set(cfg.resources) == set(stages) == {"default", "demo", "ingest", "train", "evaluate"}
    for name, spec in stages.items():
        assert cfg.resources[name] == StageResources(**spec["default"])
    assert cfg.resources["train"].threads == 4  # what the train rule always had


def test_partial_override_keeps_the_other_defaults(small_config):
    small_config["resources"] = {"train": {"threads": 8, "mem_mb": 16000}}
    cfg = config_from_dict(small_config)
    default = schema()["properties"]["resources"]["properties"]["train"]["default"]
    assert cfg.resources["train"] == StageResources(
        threads=8,
        mem_mb=16000,
        mem_mb_per_gb=default["mem_mb_per_gb"],
        runtime=default["runtime"],
        runtime_per_gb=default["runtime_per_gb"],
    )
    assert stage(cfg, "ingest") == cfg.resources["ingest"]
    assert stage(cfg, "tune_trial") == cfg.resources["default"]  # no stage of its own


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({"trian": {"threads": 2}}, "Did you mean 'train'"),
        ({"train": {"thread": 2}}, "Did you mean 'threads'"),
        ({"train": {"threads": 0}}, "resources.train.threads"),
        ({"ingest": {"mem_mb": "lots"}}, "resources.ingest.mem_mb"),
    ],
)
def test_bad_resources_name_the_key(small_config, resources, message):
    small_config["resources"] = resources
    with pytest.raises(ConfigError, match=message):
        config_from_dict(small_config)


def test_memory_and_runtime_scale_with_input_and_attempt():
    res = StageResources(threads=2, mem_mb=1000, mem_mb_per_gb=3000, runtime=10, runtime_per_gb=20)
    # 2.5 GB of input: 1000 + 2.5 * 3000 MB and 10 + 2.5 * 20 min, each doubled on attempt 2
    assert memory_mb(res, 2.5 * 1024) == 8500
    assert memory_mb(res, 2.5 * 1024, attempt=2) == 17000
    assert runtime_minutes(res, 2.5 * 1024) == 60
    assert runtime_minutes(res, 2.5 * 1024, attempt=3) == 180
    assert memory_mb(res, 0) == 1000
    assert runtime_minutes(res, 0.001) == 11  # rounded up, never below the request


@pytest.mark.parametrize(
    ("minutes", "flavour"),
    [(1, "espresso"), (20, "espresso"), (21, "microcentury"), (61, "longlunch"),
     (480, "workday"), (481, "tomorrow"), (10080, "nextweek"), (50000, "nextweek")],
)  # fmt: skip
def test_job_flavour_is_the_shortest_that_fits(minutes, flavour):
    assert job_flavour(minutes) == flavour
    limits = dict(JOB_FLAVOURS)
    assert minutes <= limits[flavour] or flavour == "nextweek"


def test_htcondor_translation():
    assert htcondor_resources(4002, 61) == {
        "htcondor_request_mem_mb": 4002,
        "classad_MaxRuntime": 3660,
        "classad_JobFlavour": "longlunch",
    }


# ------------------------------------------------------ SLURM: jobs no node can run

# `sinfo --noheader --Node --format=%N|%P|%c|%m|%l` of a cluster with three partitions, as
# SLURM 23 prints it (a node in two partitions is listed twice; * marks the default).
SINFO = """\
cn001|batch*|64|256000|2-00:00:00
cn002|batch*|64|191000|2-00:00:00
cn002|long|64|191000|7-00:00:00
gpu01|gpu|32|512000|12:00:00
fat01|bigmem|128|2048000|infinite
"""


def test_sinfo_is_parsed_node_by_node():
    nodes = parse_sinfo(SINFO + "garbage line\n\n")
    assert [(n.name, n.partition, n.cpus, n.mem_mb, n.default) for n in nodes] == [
        ("cn001", "batch", 64, 256000, True),
        ("cn002", "batch", 64, 191000, True),
        ("cn002", "long", 64, 191000, False),
        ("gpu01", "gpu", 32, 512000, False),
        ("fat01", "bigmem", 128, 2048000, False),
    ]
    assert [n.time_limit for n in nodes] == [2880, 2880, 10080, 720, math.inf]


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("infinite", math.inf), ("UNLIMITED", math.inf), ("30", 30), ("30:00", 30),
     ("2:00:00", 120), ("1-00:00:00", 1440), ("1-12", 2160), ("1-00:30", 1470)],
)  # fmt: skip
def test_slurm_time_formats(text, minutes):
    assert slurm_minutes(text) == minutes


def _fit(**request):
    job = {"threads": 4, "mem_mb": 8000, "runtime": 60, "attempt": 1} | request
    partition = job.pop("partition", None)
    return fit_slurm_job("a job of stage 'train'", nodes=parse_sinfo(SINFO),
                         partition=partition, **job)  # fmt: skip


def test_a_job_that_fits_is_left_as_it_is():
    assert _fit() == (8000, 60)
    assert _fit(threads=128, mem_mb=1_000_000, partition="bigmem") == (1_000_000, 60)
    assert _fit(partition="nowhere") == (8000, 60)  # unknown: SLURM itself will say


def test_more_cpus_than_any_node_is_refused_naming_stage_and_resource():
    with pytest.raises(ConfigError, match="PartitionConfig") as err:
        _fit(threads=65)
    message = str(err.value)
    assert "stage 'train' asks for 65 CPUs (threads)" in message
    assert "largest node of SLURM partition 'batch' has 64" in message
    with pytest.raises(ConfigError, match="largest node of SLURM partition 'gpu' has 32"):
        _fit(threads=33, partition="gpu")
    with pytest.raises(ConfigError, match="65 CPUs"):
        _fit(threads=65, attempt=3)  # no retry makes more CPUs appear


def test_too_much_memory_is_refused_then_capped_on_retries():
    with pytest.raises(ConfigError, match=r"300000 MB of memory \(mem_mb\).* has 256000 MB"):
        _fit(mem_mb=300_000)
    assert _fit(mem_mb=300_000, attempt=2) == (256_000, 60)  # the retry gets the largest node


def test_more_time_than_the_partition_allows_is_refused_then_capped():
    with pytest.raises(ConfigError, match=r"3000 minutes \(runtime\).* allows 2880.*PartitionTime"):
        _fit(runtime=3000)
    assert _fit(runtime=3000, attempt=2) == (8000, 2880)
    assert _fit(runtime=3000, partition="long") == (8000, 3000)


def test_query_reads_sinfo_and_gives_up_quietly():
    calls = []

    def fake(cmd, **kwargs):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, SINFO, "")

    assert query_slurm_nodes(fake) == parse_sinfo(SINFO)
    assert calls == [list(SINFO_COMMAND)]
    failed = lambda cmd, **kw: subprocess.CompletedProcess(cmd, 1, "", "slurm_load_partitions")  # noqa: E731
    assert query_slurm_nodes(failed) is None

"""Batch resources: the config's `resources:` section and its scaling by input size."""

from __future__ import annotations

import pytest

from hepml.batch import (
    JOB_FLAVOURS,
    htcondor_resources,
    job_flavour,
    memory_mb,
    runtime_minutes,
    stage,
)
from hepml.config import StageResources, config_from_dict, schema
from hepml.exceptions import ConfigError


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

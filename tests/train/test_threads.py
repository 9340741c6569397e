"""A training job's XGBoost threads: what it was given, capped by the CPUs it may use and,
on an unpinned machine, by the cores other processes leave free; the log says so."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
import xgboost as xgb
import yaml

from hepml.cli.app import main
from hepml.train import threads as threads_module
from hepml.train.threads import choose_threads, usable_threads


@pytest.mark.parametrize(
    ("requested", "allowed", "machine", "load", "expected", "why"),
    [
        (2, 2, 2, 0.0, 2, None),  # an idle machine: what was asked
        (2, 2, 2, 1.2, 1, "busy"),  # another process holds a core: one thread
        (2, 2, 2, 3.9, 1, "busy"),  # never fewer than one
        (8, 4, 64, 60.0, 4, "affinity"),  # pinned by a batch system: the node's load is others'
        (4, 16, 16, 6.4, 4, None),  # enough cores free
        (16, 16, 16, 6.4, 10, "busy"),
        (3, 16, 16, None, 3, None),  # load unknown
    ],
)
def test_threads_respect_affinity_and_free_cores(requested, allowed, machine, load, expected, why):
    threads, reason = choose_threads(requested, allowed=allowed, machine=machine, load=load)
    assert threads == expected
    assert (reason is None) == (why is None)
    if why:
        assert why in reason


def test_usable_threads_reads_this_machine(monkeypatch, caplog):
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(threads_module, "busy_cpus", lambda: 2.6)
    with caplog.at_level(logging.INFO, logger="hepml.train.threads"):
        assert usable_threads(4) == 1
        assert usable_threads(1) == 1
    assert "training with 1 thread(s) instead of 4: the machine is busy" in caplog.text
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {2})
    assert usable_threads(3) == 1  # pinned to one CPU: the load is not even read


def test_busy_cpus_is_a_share_of_the_machine():
    busy = threads_module.busy_cpus(interval=0.05)
    assert busy is None or 0.0 <= busy <= (os.cpu_count() or 1) + 1e-9


def test_models_do_not_depend_on_the_number_of_threads():
    """What makes adapting the threads to the machine safe for reproducibility."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20000, 5)).astype(np.float32)
    y = (X[:, 0] + rng.normal(size=20000) > 0).astype(int)
    w = rng.exponential(size=20000)
    raw = []
    for nthread in (1, 2, 3):
        d = xgb.QuantileDMatrix(X, y, weight=w, nthread=nthread)
        params = {"objective": "binary:logistic", "nthread": nthread, "subsample": 0.8, "seed": 1}
        raw.append(bytes(xgb.train(params, d, 20).save_raw("json")))
    assert raw[0] == raw[1] == raw[2]


def test_train_job_logs_when_it_uses_fewer_threads(ingested, tmp_path, caplog):
    cfg, _, tables = ingested
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(cfg.raw))
    specs = [f"{name}={path}" for name, path in tables.items()]
    args = ["train", "--config", str(config), "--fold", "0", "--tables", *specs]
    with caplog.at_level(logging.INFO, logger="hepml.train.threads"):
        assert main([*args, "--output-dir", str(tmp_path / "out"), "--threads", "4096"]) == 0
    assert "instead of 4096" in caplog.text
    assert (tmp_path / "out" / "model.json").is_file()

"""training.engine: dask against a cluster started apart, as on a real one: a ``dask scheduler``
and two ``dask worker`` processes on 127.0.0.1, the address in the config, ``hepml train`` a
process of its own; then a worker killed in the middle of the training: the fold model still
finishes, on the worker left. Every wait is bounded, so a hang fails the test instead of
blocking it. Skipped without the dask extra."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import ROOT
from sklearn.metrics import roc_auc_score

from hepml.config import config_from_dict
from hepml.demo.files import make_demo
from hepml.exceptions import ClusterError
from hepml.ingest.sample import ingest_sample

try:
    import dask_awkward  # noqa: F401
    import distributed
    from xgboost import dask as _  # noqa: F401

    HAVE_DASK = True
except ImportError:
    HAVE_DASK = False
needs_dask = pytest.mark.skipif(
    not HAVE_DASK, reason="the dask extra is not installed: pip install -e '.[dask]'"
)

ROUNDS = 2000  # long enough to be killed in the middle, a few seconds per attempt


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A small demo, three folds, ingested in row groups of 2000 events (several partitions
    per worker); training that runs ROUNDS rounds without stopping early."""
    directory = tmp_path_factory.mktemp("dask_cluster")
    make_demo(directory / "ntuples", n_events=20_000, files_per_process=1, seed=9)
    raw = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    raw.pop("demo")
    for name, sample in raw["samples"].items():
        sample["files"] = str(directory / "ntuples" / f"{name}_*.root")
    raw["reading"]["step_size"] = 2000
    raw["training"].update(folds=3, early_stopping_rounds=ROUNDS, baselines=[])
    raw["training"]["xgboost"].update(n_estimators=ROUNDS, max_depth=3, eta=0.05)
    cfg = config_from_dict(raw)
    tables = {name: directory / f"{name}.parquet" for name in cfg.samples}
    for name, path in tables.items():
        ingest_sample(cfg, name, path)
    return directory, raw, tables


def _start(args: list[str], log: Path) -> subprocess.Popen:
    with log.open("w") as stream:
        return subprocess.Popen(
            [sys.executable, "-m", "dask", *args], stdout=stream, stderr=subprocess.STDOUT
        )


@pytest.fixture
def cluster(tmp_path):
    """A scheduler and two workers (one thread each, no nanny to restart them), each its own
    process; yields (address, worker processes) and stops them all."""
    processes = []
    file = tmp_path / "scheduler.json"
    try:
        processes.append(
            _start(
                [
                    "scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                    "--no-dashboard",
                    "--scheduler-file",
                    str(file),
                ],
                tmp_path / "scheduler.log",
            )
        )
        deadline = time.monotonic() + 60
        while not file.is_file() or not file.read_text().strip():
            assert time.monotonic() < deadline, "the scheduler did not start within 60 s"
            time.sleep(0.1)
        address = json.loads(file.read_text())["address"]
        workers = [
            _start(
                [
                    "worker",
                    address,
                    "--nthreads",
                    "1",
                    "--no-nanny",
                    "--no-dashboard",
                    "--host",
                    "127.0.0.1",
                ],
                tmp_path / f"worker{i}.log",
            )
            for i in range(2)
        ]
        processes += workers
        with distributed.Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address, workers
    finally:
        for process in processes:
            process.kill()
            process.wait(timeout=30)


def _job(demo, address: str, out: Path, **dask) -> subprocess.Popen:
    """``hepml train`` of model 0 with the Dask engine, as a process of its own."""
    _, raw, tables = demo
    settings = {"address": address, "timeout": 30, "collective_timeout": 3, **dask}
    config = out.parent / f"{out.name}.yaml"
    config.write_text(
        yaml.safe_dump({**raw, "training": {**raw["training"], "engine": "dask", "dask": settings}})
    )
    specs = [f"{name}={path}" for name, path in tables.items()]
    args = ["train", "--config", str(config), "--fold", "0", "--tables", *specs]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "MPLBACKEND": "Agg"}
    return subprocess.Popen(
        [sys.executable, "-m", "hepml", *args, "--output-dir", str(out), "--threads", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _finish(job: subprocess.Popen, timeout: float = 120) -> tuple[int, str]:
    try:
        _, err = job.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        job.kill()
        job.communicate()
        pytest.fail(f"hepml train did not finish within {timeout} s: a hang")
    return job.returncode, err


def _test_auc(out: Path) -> float:
    table = pq.read_table(out / "scores.parquet")
    test = np.asarray(table.column("set")) == "test"
    label = np.asarray(table.column("label"))[test]
    weight = np.abs(np.asarray(table.column("weight"))[test])
    return roc_auc_score(label, np.asarray(table.column("score"))[test], sample_weight=weight)


@needs_dask
def test_training_on_a_cluster_started_apart_survives_a_killed_worker(demo, cluster, tmp_path):
    address, workers = cluster
    out = tmp_path / "fold0"
    job = _job(demo, address, out)
    with distributed.Client(address, timeout="30s") as client:
        deadline = time.monotonic() + 90
        while True:  # both workers in the training task (XGBoost's per-worker "fn" task)
            assert job.poll() is None, f"the job ended before the kill: {job.communicate()}"
            assert time.monotonic() < deadline, "the training did not start within 90 s"
            processing = client.processing()
            if len(processing) == 2 and all(
                any(str(key).startswith("fn") for key in keys) for keys in processing.values()
            ):
                break
            time.sleep(0.05)
        time.sleep(1.0)  # well into the boosting rounds
        assert job.poll() is None, "the training ended before the kill: raise ROUNDS"
        workers[0].kill()
    code, err = _finish(job)
    assert code == 0, err[-3000:]
    assert "lost during training" in err and "training again on the 1 worker(s) left" in err
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["engine"] == "dask"
    assert meta["dask"]["attempts"] == 2 and meta["dask"]["workers"] == 1
    curve = (out / "learning_curve.csv").read_text().splitlines()
    assert len(curve) == 1 + ROUNDS  # the whole training, done again
    assert _test_auc(out) > 0.8  # the demo separates well: a real model


def test_a_lost_worker_without_retries_left_is_a_clear_error(small_config):
    from hepml.train.distributed import _retry_or_raise

    small_config["training"].update(engine="dask", dask={"retries": 1})
    cfg = config_from_dict(small_config)
    err = RuntimeError(
        "[12:31:50] /__w/xgboost/src/collective/result.cc:83: [comm.cc:220|12:31:50]:\n"
        "- [comm.cc:220|12:31:50]: Failed to bootstrap the communication group.\n"
        "Stack trace:\n  [bt] (0) libxgboost.so"
    )
    _retry_or_raise(cfg, 2, err, ["tcp://10.0.0.2:4001"], 1, attempt=1)  # may retry
    with pytest.raises(ClusterError) as raised:
        _retry_or_raise(cfg, 2, err, ["tcp://10.0.0.2:4001"], 1, attempt=2)
    message = str(raised.value)
    assert "Dask worker(s) tcp://10.0.0.2:4001 were lost while model 2 trained" in message
    assert "(Failed to bootstrap the communication group.);" in message
    assert "after 2 attempt(s)" in message and "snakemake --retries" in message
    with pytest.raises(ClusterError, match="0 worker"):
        _retry_or_raise(cfg, 2, err, ["tcp://10.0.0.2:4001"], 0, attempt=1)  # none left
    with pytest.raises(RuntimeError, match="bootstrap"):  # no worker lost: not ours to hide
        _retry_or_raise(cfg, 2, err, [], 2, attempt=1)


def test_connection_and_retry_settings_do_not_change_the_models(small_config):
    small_config["training"]["engine"] = "dask"
    first = config_from_dict(small_config).training_hash()
    small_config["training"]["dask"] = {"collective_timeout": 5, "retries": 3}
    cfg = config_from_dict(small_config)
    assert cfg.training.dask.collective_timeout == 5 and cfg.training.dask.retries == 3
    assert cfg.training_hash() == first

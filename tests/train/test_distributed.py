"""training.engine: dask: the same fold models, weights and score tables as the local engine.

The engines are compared on a small demo: the out-of-fold AUC (sklearn, signed weights) of
the models trained on a LocalCluster of two workers agrees with the local engine's within
0.005, and the score tables have the same schema and rows. Skipped without the dask extra.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xgboost as xgb
import yaml
from conftest import ROOT
from sklearn.metrics import roc_auc_score

from hepml.cli.app import main
from hepml.config import config_from_dict
from hepml.demo.files import make_demo
from hepml.exceptions import ClusterError, ConfigError, DataError
from hepml.folds import fold_masks, fold_roles
from hepml.ingest.sample import ingest_sample
from hepml.tables.features import load_dataset, read_scores
from hepml.train.bdt import model_weights
from hepml.train.weights import apply_policy, group_factors, training_weights

try:
    import dask_awkward  # noqa: F401
    import distributed  # noqa: F401
    from xgboost import dask as _  # noqa: F401

    HAVE_DASK = True
except ImportError:
    HAVE_DASK = False
needs_dask = pytest.mark.skipif(
    not HAVE_DASK, reason="the dask extra is not installed: pip install -e '.[dask]'"
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo analysis on 100k generated events (about 40k selected), ingested in row
    groups of at most 8000 events, and its config with three folds (local engine)."""
    directory = tmp_path_factory.mktemp("dask_demo")
    make_demo(directory / "ntuples", n_events=100_000, files_per_process=2, seed=5)
    raw = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    raw.pop("demo")
    for name, sample in raw["samples"].items():
        sample["files"] = str(directory / "ntuples" / f"{name}_*.root")
    raw["reading"]["step_size"] = 8000
    raw["training"].update(folds=3, early_stopping_rounds=10)
    raw["training"]["xgboost"].update(n_estimators=200, eta=0.2)
    cfg = config_from_dict(raw)
    tables = {name: directory / f"{name}.parquet" for name in cfg.samples}
    for name, path in tables.items():
        ingest_sample(cfg, name, path)
    return directory, raw, tables


def _config_file(directory: Path, raw: dict, name: str, **training) -> Path:
    data = {**raw, "training": {**raw["training"], **training}}
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _train(config: Path, tables: dict, fold: int, output: Path, threads: int = 1) -> int:
    specs = [f"{name}={path}" for name, path in tables.items()]
    args = ["train", "--config", str(config), "--fold", str(fold), "--tables", *specs]
    return main([*args, "--output-dir", str(output), "--threads", str(threads)])


@pytest.fixture(scope="module")
def both_engines(demo):
    """Every fold model trained by each engine: the local one through ``hepml train``; the
    Dask one too for model 0 (with its own LocalCluster of two workers, two threads shared),
    and for the others on one LocalCluster of two workers, as ``run_fold`` does."""
    from hepml.train.bdt import write_model
    from hepml.train.dask_cluster import dask_client
    from hepml.train.dask_events import persist_events, read_events
    from hepml.train.distributed import train_fold_dask, write_scores

    directory, raw, tables = demo
    local = _config_file(directory, raw, "local")
    for k in range(raw["training"]["folds"]):
        assert _train(local, tables, k, directory / "local" / f"fold{k}") == 0
    dask = _config_file(directory, raw, "dask", engine="dask", dask={"workers": 2})
    assert _train(dask, tables, 0, directory / "dask" / "fold0", threads=2) == 0
    cfg = config_from_dict(yaml.safe_load(dask.read_text()))
    processes = {n: s.process for n, s in cfg.samples.items()}
    with dask_client(cfg.training.dask, threads=2) as client:
        events = persist_events(read_events(tables, cfg.feature_names, processes), client)
        for k in range(1, cfg.training.folds):
            out = directory / "dask" / f"fold{k}"
            model = train_fold_dask(cfg, events, k, client=client)
            write_model(model, out)
            write_scores(model, events, out / "scores.parquet", client=client)
    return directory, raw, tables


def _out_of_fold_auc(scores: dict, *, weighted: bool) -> float:
    """sklearn's AUC of the test scores, weighted by |w| (it needs non-negative weights)."""
    test = scores["set"] == "test"
    weight = np.abs(scores["weight"][test]) if weighted else None
    return roc_auc_score(scores["label"][test], scores["score"][test], sample_weight=weight)


@needs_dask
def test_dask_engine_matches_local_auc_and_score_tables(both_engines):
    directory, raw, _ = both_engines
    folds = raw["training"]["folds"]
    scores = {
        engine: read_scores(
            [directory / engine / f"fold{k}" / "scores.parquet" for k in range(folds)],
            n_folds=folds,
        )
        for engine in ("local", "dask")
    }
    for weighted in (True, False):
        auc = {e: _out_of_fold_auc(table, weighted=weighted) for e, table in scores.items()}
        assert auc["local"] > 0.8  # the demo separates well: the comparison means something
        assert abs(auc["dask"] - auc["local"]) < 0.005, auc
    for k in range(folds):
        local, dask = (
            pq.read_table(directory / e / f"fold{k}" / "scores.parquet") for e in ("local", "dask")
        )
        assert dask.schema.equals(local.schema)
        assert dask.num_rows == local.num_rows
        # the same events in the same order, with the same sets and bookkeeping
        same = ["label", "weight", "fold", "model_fold", "set", "sample", "process"]
        for column in [*same, "event", "file", "entry"]:
            assert dask.column(column).equals(local.column(column)), column
        # the scores differ (another binning) but rank the test events alike
        test = np.asarray(local.column("set")) == "test"
        s_local = np.asarray(local.column("score"))[test]
        s_dask = np.asarray(dask.column("score"))[test]
        assert np.corrcoef(s_local, s_dask)[0, 1] > 0.98


@needs_dask
def test_dask_fold_files_are_complete_and_consistent(both_engines):
    directory, raw, tables = both_engines
    cfg = config_from_dict({**raw, "training": {**raw["training"], "engine": "dask"}})
    data = load_dataset(tables, cfg.feature_names)
    for k in range(cfg.training.folds):
        out = directory / "dask" / f"fold{k}"
        meta = yaml.safe_load((out / "metadata.json").read_text())
        local = yaml.safe_load((directory / "local" / f"fold{k}" / "metadata.json").read_text())
        assert meta["engine"] == "dask" and local["engine"] == "local"
        assert meta["dask"]["workers"] == 2 and meta["dask"]["partitions"] > 2
        assert meta["events"] == local["events"]
        assert meta["roles"] == fold_roles(k, cfg.training.folds)
        assert meta["parameters"] == local["parameters"]
        assert meta["config_hash"] == cfg.training_hash() != local["config_hash"]
        booster = xgb.Booster(model_file=str(out / "model.json"))
        assert booster.num_boosted_rounds() == meta["best_iteration"] + 1
        curve = (out / "learning_curve.csv").read_text().splitlines()
        assert curve[0] == "iteration,train_logloss,train_auc,validation_logloss,validation_auc"
        n_rounds = meta["best_iteration"] + 1 + cfg.training.early_stopping_rounds
        assert len(curve) - 1 == min(n_rounds, meta["n_estimators"])
        # the stored test scores are the saved model's scores of the test fold
        table = pq.read_table(out / "scores.parquet")
        test = np.asarray(table.column("set")) == "test"
        np.testing.assert_allclose(
            booster.inplace_predict(data.X[data.fold == k]),
            np.asarray(table.column("score"))[test],
            rtol=1e-5,
        )


@needs_dask
def test_training_sets_hold_no_test_event_and_local_weights(demo):
    from hepml.train.dask_events import read_events
    from hepml.train.distributed import training_sets

    _, raw, tables = demo
    training = {**raw["training"], "engine": "dask", "balance_backgrounds": True}
    cfg = config_from_dict({**raw, "training": training})
    data = load_dataset(tables, cfg.feature_names, {n: s.process for n, s in cfg.samples.items()})
    events = read_events(tables, cfg.feature_names, {n: s.process for n, s in cfg.samples.items()})
    k = 1
    roles = fold_roles(k, cfg.training.folds)
    sets, n_events = training_sets(cfg, events, k)  # Dask's threads: no cluster needed
    masks = fold_masks(data, k, cfg.training.folds)
    assert n_events == {s: int(m.sum()) for s, m in masks.items()}
    for s, allowed in (("train", set(roles["train"])), ("validation", {roles["validation"]})):
        fold = sets[s].fold.compute()
        assert set(np.unique(fold)) == allowed and k not in set(fold)
        np.testing.assert_array_equal(sets[s].X.compute(), data.X[masks[s]])
        np.testing.assert_array_equal(sets[s].label.compute(), data.label[masks[s]])
        np.testing.assert_allclose(
            sets[s].weight.compute(), model_weights(cfg, data, masks)[s], rtol=1e-10
        )


@needs_dask
def test_events_are_the_local_data_set_spread_over_row_groups(demo, tmp_path):
    from hepml.train.dask_events import read_events

    _, raw, tables = demo
    cfg = config_from_dict(raw)
    processes = {n: s.process for n, s in cfg.samples.items()}
    data = load_dataset(tables, cfg.feature_names, processes)
    events = read_events(tables, cfg.feature_names, processes)
    assert events.X.numblocks[0] == sum(pq.ParquetFile(p).num_row_groups for p in tables.values())
    assert events.X.numblocks[0] > len(tables)  # several partitions per sample
    for name in ("X", "weight", "label", "fold", "event", "file", "entry"):
        computed = getattr(events, name).compute()
        assert computed.dtype == getattr(data, name).dtype, name
        np.testing.assert_array_equal(computed, getattr(data, name), err_msg=name)
    sample = events.sample.compute()
    np.testing.assert_array_equal(np.asarray(events.samples)[sample], data.sample)
    np.testing.assert_array_equal(np.asarray(events.processes)[sample], data.process)
    # a table ingested under another config names the missing column and the near match
    renamed = tmp_path / "renamed.parquet"
    table = pq.read_table(tables["dy"])
    pq.write_table(
        table.rename_columns([c.replace("mjj", "m_jj") for c in table.column_names]), renamed
    )
    with pytest.raises(
        DataError,
        match=r"renamed\.parquet' of sample 'dy' has no column 'mjj'\. Did you mean 'm_jj'",
    ):
        read_events({"dy": renamed}, cfg.feature_names, processes)


@pytest.mark.parametrize("policy", ["abs", "drop"])
@pytest.mark.parametrize(("classes", "backgrounds"), [(True, False), (False, False), (True, True)])
def test_group_factors_reproduce_training_weights(policy, classes, backgrounds):
    rng = np.random.default_rng(3)
    n = 5000
    process = rng.choice(["sig", "dy", "tt", "vv"], n, p=[0.3, 0.4, 0.2, 0.1])
    label = (process == "sig").astype(np.int8)
    weight = rng.normal(1.0, 1.0, n) * np.where(process == "dy", 50.0, 1.0)
    expected = training_weights(
        weight,
        label,
        policy=policy,
        balance=classes,
        process=process,
        balance_backgrounds=backgrounds,
    )
    w = apply_policy(weight, label, policy)
    names, group = np.unique(process, return_inverse=True)
    factors = group_factors(
        np.bincount(group, weights=w),
        np.array([1 if name == "sig" else 0 for name in names]),
        int(np.count_nonzero(w)),
        balance=classes,
        process=names if backgrounds else None,
    )
    np.testing.assert_allclose(w * factors[group], expected, rtol=1e-12)


def test_group_factors_name_a_background_without_weight():
    with pytest.raises(DataError, match="background process 'tt'"):
        group_factors(
            np.array([3.0, 2.0, 0.0]),
            np.array([1, 0, 0]),
            5,
            balance=True,
            process=np.array(["sig", "dy", "tt"]),
        )


@needs_dask
def test_pinned_dask_awkward_computes_like_pyarrow(tmp_path):
    """The dependency pitfall: dask-awkward must compute with the installed dask."""
    import tomllib

    import dask_awkward as dak
    from packaging.requirements import Requirement

    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for spec in extra["optional-dependencies"]["dask"]:
        requirement = Requirement(spec)
        assert version(requirement.name) in requirement.specifier, spec
    from hepml.train.dask_cluster import version_problems

    assert version_problems() == []  # what engine dask checks before it starts
    rng = np.random.default_rng(1)
    n = 3000
    table = pa.table(
        {
            "x": rng.normal(size=n).astype(np.float32),
            "w": rng.normal(size=n),
            "event": rng.integers(2**62, 2**64 - 1, n, dtype=np.uint64),
            "label": rng.integers(0, 2, n).astype(np.int8),
        }
    )
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=700)
    arr = dak.from_parquet(str(tmp_path / "t.parquet"), split_row_groups=True)
    assert arr.npartitions == 5
    computed = arr.compute()
    for name in table.column_names:
        np.testing.assert_array_equal(computed[name].to_numpy(), table.column(name).to_numpy())
    assert float(dak.sum(arr["w"]).compute()) == pytest.approx(float(np.sum(table["w"])))


def test_annihilate_is_rejected_with_the_dask_engine(small_config):
    small_config["training"].update(engine="dask", negative_weights="annihilate")
    with pytest.raises(ConfigError, match=r"'annihilate' is not available with training\.engine"):
        config_from_dict(small_config)


def test_memory_limit_must_be_a_size(small_config):
    small_config["training"]["dask"] = {"memory_limit": "lots"}
    with pytest.raises(ConfigError, match=r"training\.dask\.memory_limit = 'lots'"):
        config_from_dict(small_config)


def test_connection_settings_do_not_change_the_training_hash(small_config):
    small_config["training"]["engine"] = "dask"
    first = config_from_dict(small_config).training_hash()
    small_config["training"]["dask"] = {"address": "tcp://10.0.0.1:8786", "timeout": 5}
    assert config_from_dict(small_config).training_hash() == first
    small_config["training"]["dask"]["workers"] = 8
    assert config_from_dict(small_config).training_hash() != first
    small_config["training"]["engine"] = "local"
    local = config_from_dict(small_config)
    small_config["training"].pop("dask")
    assert config_from_dict(small_config).training_hash() == local.training_hash()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@needs_dask
def test_unreachable_scheduler_is_a_clear_error(demo, capsys):
    directory, raw, tables = demo
    address = f"tcp://127.0.0.1:{_closed_port()}"
    dask = {"address": address, "timeout": 2}
    config = _config_file(directory, raw, "unreachable", engine="dask", dask=dask)
    assert _train(config, tables, 0, directory / "unreachable") == 2
    err = capsys.readouterr().err
    assert f"training.dask.address: cannot reach a Dask scheduler at '{address}'" in err
    assert "Traceback" not in err
    assert not (directory / "unreachable" / "model.json").exists()
    from hepml.train.dask_cluster import dask_client

    cfg = config_from_dict({**raw, "training": {**raw["training"], "engine": "dask", "dask": dask}})
    with pytest.raises(ClusterError, match="within 2 s"), dask_client(cfg.training.dask):
        pass


def test_missing_extra_names_the_install_command(small_config, tmp_path):
    """Without dask-awkward (its import blocked), engine dask stops before any work."""
    small_config["training"]["engine"] = "dask"
    config = tmp_path / "dask.yaml"
    config.write_text(yaml.safe_dump(small_config))
    script = (
        "import sys; sys.modules['dask_awkward'] = None\n"
        "from hepml.cli.app import main\n"
        f"sys.exit(main(['train', '--config', {str(config)!r}, '--fold', '0', '--tables',"
        f" 'sig={tmp_path}/sig.parquet', '--output-dir', {str(tmp_path / 'out')!r}]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2, result.stderr
    assert "pip install 'hepml[dask]'" in result.stderr
    assert "dask_awkward" in result.stderr


def test_provenance_says_dask_models_are_not_bitwise_reproducible(small_config, tmp_path):
    from hepml.review.provenance import DASK_DEPENDENCIES, collect_provenance

    small_config["training"]["engine"] = "dask"
    cfg = config_from_dict(small_config)
    record = collect_provenance(cfg, [], repositories=[tmp_path])
    assert record["training"]["engine"] == "dask"
    assert record["training"]["bitwise_reproducible"] is False
    assert "spreads the partitions" in record["training"]["reproducibility"]
    assert set(DASK_DEPENDENCIES) <= set(record["packages"])


@needs_dask
def test_a_local_cluster_leaves_this_process_environment_as_it_was(monkeypatch):
    """Dask's nannies set OMP_NUM_THREADS=1 in the parent process and never undo it: after
    the cluster, subprocesses (Snakemake jobs, ``nproc``) would see a single core."""
    from hepml.config import DaskSettings
    from hepml.train.dask_cluster import dask_client, n_workers

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = dict(os.environ)
    settings = DaskSettings(
        address=None, timeout=30.0, workers=1, threads_per_worker=1, memory_limit=None
    )
    with dask_client(settings) as client:
        assert n_workers(client) == 1
    assert "OMP_NUM_THREADS" not in os.environ
    assert dict(os.environ) == before

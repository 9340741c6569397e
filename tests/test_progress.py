"""Progress lines of long jobs (hepml.progress, hepml.train.progress) and where they appear:
the ingest and training logs answer "how far is it?" and end with a summary line."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import xgboost as xgb

from hepml.config import config_from_dict
from hepml.ingest.sample import ingest_sample
from hepml.progress import Progress, duration, quantity
from hepml.train.progress import RoundLog


class Clock:
    """A clock the test moves by hand (seconds)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_logs_done_rate_and_time_left_at_most_every_interval(caplog):
    clock = Clock()
    logger = logging.getLogger("test.progress")
    progress = Progress("sample 'dy'", 200_000, "entries", logger, every=10, clock=clock)
    with caplog.at_level(logging.INFO, logger="test.progress"):
        clock.now += 4
        progress.advance(40_000)  # 4 s after the start: not due yet
        clock.now += 6
        progress.advance(60_000)  # 10 s: due
        progress.advance(0, note="file 1 of 3 read", force=True)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "sample 'dy': 100,000 of 200,000 entries (50%), 10,000 entries/s, about 10.0 s left",
        "sample 'dy': file 1 of 3 read, 100,000 of 200,000 entries (50%), 10,000 entries/s, "
        "about 10.0 s left",
    ]
    clock.now += 10
    progress.advance(100_000)
    assert progress.summary("12 selected") == (
        "sample 'dy': 12 selected in 20.0 s (10,000 entries/s)"
    )


def test_durations_and_counts_read_well():
    assert duration(4.24) == "4.2 s" and duration(200) == "3 min 20 s"
    assert duration(3 * 3600 + 5 * 60) == "3 h 05 min"
    assert quantity(1234567.4) == "1,234,567"


def _train(callbacks, rounds=40):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 3))
    y = (X[:, 0] + rng.normal(0, 1, 2000) > 0).astype(int)
    dtrain, dval = xgb.DMatrix(X[:1500], y[:1500]), xgb.DMatrix(X[1500:], y[1500:])
    params = {"objective": "binary:logistic", "eval_metric": ["auc", "logloss"], "seed": 1,
              "max_depth": 2, "eta": 0.05, "nthread": 1}  # fmt: skip
    evals = [(dtrain, "train"), (dval, "validation")]
    return xgb.train(
        params, dtrain, rounds, evals=evals, early_stopping_rounds=5, verbose_eval=False,
        callbacks=callbacks,
    )  # fmt: skip


def test_round_log_reports_rounds_loss_and_time_left_and_changes_no_model(caplog):
    clock = Clock()

    class Ticking(RoundLog):  # every round takes 0.5 s of the test's clock
        def after_iteration(self, model, epoch, evals_log):
            clock.now += 0.5
            return super().after_iteration(model, epoch, evals_log)

    logger = logging.getLogger("test.rounds")
    callback = Ticking(40, 5, every=5, clock=clock, logger=logger)
    with caplog.at_level(logging.INFO, logger="test.rounds"):
        logged = _train([callback])
    plain = _train([])
    assert logged.save_raw("json") == plain.save_raw("json")  # the callback only logs
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("round 1 of at most 40: validation logloss 0.")
    assert "2.0 rounds/s" in lines[0] and "left (early stopping decides)" in lines[0]
    assert lines[1].startswith("round 11 of at most 40")  # 5 s later
    best = int(logged.best_iteration)
    assert lines[-1] == (
        f"trained {callback.rounds} rounds in {duration(0.5 * callback.rounds)}; best round "
        f"{best + 1}, validation loss {callback.best[1]:.5f}"
    )


def test_time_left_runs_from_the_soonest_early_stop_to_the_last_round():
    log = RoundLog(500, 30, clock=Clock())
    log.best = (100, 0.3)
    assert log.rounds_left(110) == (20, 389)  # 30 rounds past the best one, or to round 500
    assert log.rounds_left(480) == (0, 19)
    assert log.rounds_left(499) == (0, 0)
    assert RoundLog(500, None, clock=Clock()).rounds_left(10) == (489, 489)
    # training.min_rounds: early stopping counts round 200 as the best at least
    floor = RoundLog(500, 30, min_rounds=200, clock=Clock())
    floor.best = (100, 0.3)
    assert floor.rounds_left(110) == (229 - 110, 389)
    floor.best = (250, 0.2)
    assert floor.rounds_left(260) == (20, 239)
    line = log.line(110, ("logloss", 0.31), elapsed=55.5)  # 111 rounds: 2 rounds/s
    assert line == (
        "round 111 of at most 500: validation logloss 0.31000 (best 0.30000 at round 101), "
        "2.0 rounds/s, 10.0 s to 3 min 14 s left (early stopping decides)"
    )


def test_ingest_log_reports_each_file_and_a_summary(small_config, tmp_path, caplog):
    cfg = config_from_dict(small_config)
    with caplog.at_level(logging.INFO, logger="hepml.ingest.sample"):
        result = ingest_sample(cfg, "sig", tmp_path / "sig.parquet")
    lines = [r.getMessage() for r in caplog.records if r.name == "hepml.ingest.sample"]
    assert any(line.startswith("sample 'sig': file 1 of 2 read, 1,500 of 3,000 entries (50%)")
               for line in lines)  # fmt: skip
    assert any(line.startswith("sample 'sig': file 2 of 2 read, 3,000 of 3,000 entries (100%)")
               for line in lines)  # fmt: skip
    selected = result.cutflow.events[-1]
    assert lines[-1].startswith(
        f"sample 'sig': {selected:,} of 3,000 entries selected from 2 file(s), 0 skipped in "
    )


@pytest.mark.parametrize("command", [["validate", "--config"]])
def test_every_command_ends_with_a_summary_line(command, tmp_path, caplog):
    from conftest import ROOT

    from hepml.cli.app import main

    with caplog.at_level(logging.INFO, logger="hepml"):
        assert main([*command, str(ROOT / "config" / "config.yaml")]) == 0
    last = caplog.records[-1].getMessage()
    assert last.startswith("hepml validate: done in ") and "peak memory: " in last

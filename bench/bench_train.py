"""Benchmark: hepml's K-fold training against a bare ``xgboost.train`` on the same matrices.

A synthetic data set (``--events`` x ``--features`` float32, 3 processes, ``--missing`` = 10 %
missing values (NaN) in three features, 8 % negative background weights, folds uniform in
0..K-1) is trained K times, once per fold model, in the same process and with the same
parameters, two ways:

* ``hepml``: :func:`hepml.train.bdt.train_fold` as ``hepml train`` runs it after start-up:
  fold masks and checks, training weights (``abs`` policy, classes balanced once over the
  training and validation events, mean 1), ``QuantileDMatrix`` for training and validation,
  ``xgb.train`` with the learning curve as configured by default (the log-loss of a fixed
  subsample of 20,000 training events every round, the AUC of it and of the validation set
  every 10 rounds and at the best one), early stopping on the validation log-loss (with its
  ``min_rounds`` floor), the cut at the best iteration, and the scoring of every event into
  the score table;
* ``bare``: what a careful notebook does: the same rows of the feature matrix, the same
  weights computed inline with numpy, ``QuantileDMatrix`` for both sets, ``xgb.train`` with
  the same parameters, early-stopping on the validation log-loss, the only metric it
  evaluates, then ``Booster.inplace_predict`` of every event (train, validation and test
  sets) at the best iteration, for the out-of-fold scores and the overtraining check.
  Nothing else.

The two boosters are checked to be byte-identical and their scores of every event equal (so
the same work was done; the best iterations must be past hepml's ``min_rounds``), and the
order hepml/bare alternates between folds. Both sides are timed by one function. Printed:
the wall and CPU time of each (summed over folds; on a shared machine the CPU time of a
one-thread run is the steadier figure), the ratio hepml/bare (target <= 1.10) for the whole
``train_fold`` against the whole bare fold (``ratio``), and for the training part alone
(``ratio_fit``: hepml's ``fit_booster`` against the bare weights, matrices and boosting,
both without the scoring), and the peak resident memory during the fold above the loaded
data set (reset per fold through /proc/self/clear_refs after a malloc_trim) of each,
relative to the size of the float32 feature matrix (target: hepml at most the bare peak
plus 10 %). Writing the fold outputs is timed separately.

    python bench/bench_train.py --events 1000000 --features 20 --folds 5 --threads 2
"""

from __future__ import annotations

import argparse
import ctypes
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import xgboost as xgb

import hepml.train.bdt
from hepml.config import config_from_dict
from hepml.folds import fold_roles
from hepml.tables.features import Dataset
from hepml.train.bdt import train_fold, write_fold, xgboost_params

log = logging.getLogger("bench_train")
PROCESSES = ("sig", "dy", "ttbar")


def synthetic_dataset(
    n: int, n_features: int, n_folds: int, *, missing: float = 0.1, seed: int = 1
) -> Dataset:
    """Signal/background events with class-dependent Gaussian features (float32); a fraction
    ``missing`` of the values of the first three features is NaN (absent objects)."""
    rng = np.random.default_rng(seed)
    process = rng.choice(3, n, p=[0.3, 0.5, 0.2]).astype(np.int8)
    label = (process == 0).astype(np.int8)
    X = rng.normal(size=(n, n_features)).astype(np.float32)
    X += (0.25 * label[:, None] * rng.uniform(0.2, 1.0, n_features)).astype(np.float32)
    X[:, : min(3, n_features)][rng.random((n, min(3, n_features))) < missing] = np.nan
    weight = rng.exponential(1.0, n) * np.where((label == 0) & (rng.random(n) < 0.08), -1, 1)
    names = np.array(PROCESSES)[process]
    return Dataset(
        features=[f"f{i}" for i in range(n_features)],
        X=X,
        weight=weight,
        label=label,
        fold=rng.integers(0, n_folds, n).astype(np.int8),
        sample=names,
        process=names,
        event=np.arange(n, dtype=np.uint64),
        file=np.zeros(n, dtype=np.int32),
        entry=np.arange(n, dtype=np.int64),
    )


def bench_config(features: list[str], folds: int, rounds: int, patience: int):
    samples = {
        p: {"label": "signal" if p == "sig" else "background", "files": f"{p}.root"}
        for p in PROCESSES
    }
    return config_from_dict(
        {
            "samples": samples,
            "features": [{"name": f, "expr": f} for f in features],
            "training": {
                "folds": folds,
                "early_stopping_rounds": patience,
                "xgboost": {"n_estimators": rounds, "max_depth": 6, "eta": 0.1},
            },
        }
    )


def bare_fit(cfg, data: Dataset, k: int, threads: int) -> xgb.Booster:
    """The notebook's training: same rows, weights, parameters and evaluation sets."""
    roles = fold_roles(k, cfg.training.folds)
    val = data.fold == roles["validation"]
    train = ~((data.fold == roles["test"]) | val)

    # |w|, the classes balanced once over the training and validation events, mean 1
    used = train | val
    w, y = np.abs(data.weight), data.label
    w = np.where(y == 1, w / w[used & (y == 1)].sum(), w / w[used & (y == 0)].sum())
    w *= np.count_nonzero(w[used]) / w[used].sum()

    params = {**xgboost_params(cfg, k, threads), "eval_metric": "logloss"}
    dtrain = xgb.QuantileDMatrix(
        data.X[train],
        label=data.label[train],
        weight=w[train],
        feature_names=data.features,
        max_bin=params["max_bin"],
        nthread=threads,
    )
    dval = xgb.QuantileDMatrix(
        data.X[val],
        label=data.label[val],
        weight=w[val],
        feature_names=data.features,
        max_bin=params["max_bin"],
        ref=dtrain,
        nthread=threads,
    )
    return xgb.train(
        params,
        dtrain,
        num_boost_round=int(cfg.training.xgboost["n_estimators"]),
        evals=[(dval, "validation")],  # the validation log-loss only
        early_stopping_rounds=cfg.training.early_stopping_rounds,
        verbose_eval=False,
    )


def bare_fold(
    cfg, data: Dataset, k: int, threads: int, fit=bare_fit
) -> tuple[xgb.Booster, np.ndarray]:
    """The notebook version, whole: ``fit``, then the score of every event (train, validation
    and test sets) at the best iteration, as ``train_fold`` scores them."""
    booster = fit(cfg, data, k, threads)
    return booster, booster.inplace_predict(data.X, iteration_range=(0, booster.best_iteration + 1))


class _Timed:
    """Wraps a training function (hepml.train.bdt.fit_booster, bare_fit) to time the training
    inside a whole fold (no scoring)."""

    def __init__(self, fit):
        self.fit, self.wall, self.cpu = fit, 0.0, 0.0

    def __call__(self, *args, **kwargs):
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            return self.fit(*args, **kwargs)
        finally:
            self.wall += time.perf_counter() - t0
            self.cpu += time.process_time() - c0


def _status(field: str) -> int:
    """A field of /proc/self/status in bytes (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    msg = f"no {field} in /proc/self/status"
    raise RuntimeError(msg)


def _reset_peak() -> bool:
    """Return freed heap memory to the OS, then reset the peak RSS (VmHWM) to the current RSS.

    Without the trim, memory freed earlier (the data set's temporaries, the previous fold)
    would be reused without showing in the RSS and the peak would be underestimated. Returns
    False where Linux/glibc do not allow it.
    """
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _measure(step):
    """Run ``step()`` once: its result, wall and CPU seconds, and the peak resident memory
    above the start in bytes (None where the peak cannot be reset)."""
    reset = _reset_peak()
    before = _status("VmRSS")
    t0, c0 = time.perf_counter(), time.process_time()
    result = step()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return result, wall, cpu, (_status("VmHWM") - before) if reset else None


def run(args: argparse.Namespace) -> dict:
    rss_start = _status("VmRSS")
    data = synthetic_dataset(args.events, args.features, args.folds, missing=args.missing)
    cfg = bench_config(data.features, args.folds, args.rounds, args.patience)
    rss_data = _status("VmRSS")
    times = {"hepml": [], "bare": [], "write": []}
    cpu = {"hepml": [], "bare": []}
    peaks = {"hepml": [], "bare": []}
    identical, same_scores = [], []
    fit = hepml.train.bdt.fit_booster = _Timed(hepml.train.bdt.fit_booster)
    bare_fit_timed = _Timed(bare_fit)
    for k in range(args.folds):
        steps = {
            "hepml": lambda k=k: train_fold(cfg, data, k, threads=args.threads),
            "bare": lambda k=k: bare_fold(cfg, data, k, args.threads, fit=bare_fit_timed),
        }
        for which in ("hepml", "bare") if k % 2 == 0 else ("bare", "hepml"):
            result, wall, cpu_s, peak = _measure(steps[which])
            times[which].append(wall)
            cpu[which].append(cpu_s)
            if peak is not None:
                peaks[which].append(peak)
            if which == "hepml":
                with tempfile.TemporaryDirectory() as tmp:
                    t0 = time.perf_counter()
                    write_fold(result, tmp)
                    times["write"].append(time.perf_counter() - t0)
                mine = result.booster.save_raw(raw_format="json")
                best, my_scores = result.best_iteration, result.scores["score"]
            else:
                bare, bare_scores = result
                theirs = bare[: bare.best_iteration + 1].save_raw(raw_format="json")
                bare_best = bare.best_iteration
            del result
        identical.append(mine == theirs and best == bare_best)
        same_scores.append(np.array_equal(my_scores, bare_scores.astype(np.float64)))
        del bare, bare_scores, my_scores
        log.info(
            "fold %d: hepml %.2f s (CPU %.2f s), bare %.2f s (CPU %.2f s), best iteration %d",
            k,
            times["hepml"][-1],
            cpu["hepml"][-1],
            times["bare"][-1],
            cpu["bare"][-1],
            best,
        )
    x_bytes = data.X.nbytes
    top = {which: max(p) if p else None for which, p in peaks.items()}  # bytes
    return {
        "events": args.events,
        "features": args.features,
        "folds": args.folds,
        "threads": args.threads,
        "missing": args.missing,
        "xgboost": xgb.__version__,
        "hepml_s": sum(times["hepml"]),
        "bare_s": sum(times["bare"]),  # training and the scoring of every event
        "ratio": sum(times["hepml"]) / sum(times["bare"]),
        "ratio_per_fold": [h / b for h, b in zip(times["hepml"], times["bare"], strict=True)],
        "hepml_fit_s": fit.wall,
        "bare_fit_s": bare_fit_timed.wall,
        "ratio_fit": fit.wall / bare_fit_timed.wall,
        "hepml_cpu_s": sum(cpu["hepml"]),
        "bare_cpu_s": sum(cpu["bare"]),
        "ratio_cpu": sum(cpu["hepml"]) / sum(cpu["bare"]),
        "hepml_fit_cpu_s": fit.cpu,
        "bare_fit_cpu_s": bare_fit_timed.cpu,
        "ratio_fit_cpu": fit.cpu / bare_fit_timed.cpu,
        "write_s": sum(times["write"]),
        "identical_models": all(identical),
        "identical_scores": all(same_scores),
        "feature_matrix_mb": x_bytes / 1e6,
        "dataset_mb": (rss_data - rss_start) / 1e6,
        "peak_training_over_data_mb": top["hepml"] / 1e6 if top["hepml"] is not None else None,
        "peak_ratio_to_matrix": top["hepml"] / x_bytes if top["hepml"] is not None else None,
        "bare_peak_over_data_mb": top["bare"] / 1e6 if top["bare"] is not None else None,
        "bare_peak_ratio_to_matrix": top["bare"] / x_bytes if top["bare"] is not None else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=100, help="n_estimators")
    parser.add_argument("--patience", type=int, default=10, help="early_stopping_rounds")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--missing", type=float, default=0.1, help="NaN fraction in the first 3 features"
    )
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("hepml").setLevel(logging.WARNING)
    result = run(args)
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""The demo analysis as an analyst would write it with the bare tools: one script, six steps.

The reference side of ``bench/bench_workflow.py``: the work of hepml's workflow on the demo,
written by hand with uproot, awkward, vector, pyarrow, XGBoost, scikit-learn, scipy and
matplotlib/mplhep. Each step is meant to run in its own Python process, as separate scripts
(or notebook kernels) would, and reads what the previous steps wrote:

* ``ingest``: per sample, ``uproot.iterate`` over its ROOT files (100 MB steps), the demo's 3
  cuts (cumulative: cutflow counts, raw and weighted) and 13 features by hand on the selected
  events (awkward + vector), the generator weights summed over every entry, weights
  normalised to cross section x luminosity, one zstd Parquet table per sample;
* ``train``: the K fold models with ``xgb.train`` (event % K folds; model k tests on fold k,
  early-stops on fold k+1 and trains on the rest), the config's XGBoost parameters and
  ``n_estimators``, ``|w|`` weights with the classes balanced, ``QuantileDMatrix``, AUC and
  log-loss per round on both sets (the learning curves), the booster cut at its best
  iteration saved as JSON, every event scored by every fold model (for the overtraining
  check), one score table per fold;
* ``evaluate``: out-of-fold AUC (merged, per fold, unweighted), ROC curves from
  ``sklearn.metrics.roc_curve``, the working points and their confusion matrices, the
  train/test KS test per fold and class (``scipy.stats.ks_2samp``), score histograms per
  process and per set, the significance scan (Asimov Z over the score cuts), AUC and
  efficiencies per background process, the input-variable histograms and correlation
  matrices from the ingest tables, and the feature ranking (XGBoost gain, mean |SHAP| from
  ``pred_contribs`` on the configured number of test events per fold); tables as CSV;
* ``plots``: the same figures as the workflow draws (ROC twice, overtraining, score
  distributions linear and log, significance, cut efficiencies, one per input variable, two
  correlation matrices, learning curves, importance, SHAP beeswarm), each saved as PDF and
  PNG with mplhep's experiment style and label, ``bbox_inches="tight"``;
* ``apply``: per sample and ROOT file, the files read again, the selection and features
  computed, each event scored by its fold model (the fill value where the selection fails),
  one friend tree per file written with uproot and one Parquet table per sample;
* ``export``: the fold models copied as XGBoost JSON and converted to ONNX (onnxmltools, when
  installed, as ``hepml export`` does).

What it leaves out, and the workflow does (counted against hepml): the expression language
and the checks of every file, branch, type and chunk; fold hashing (here event % K); the
.md/.tex twins of the tables; provenance (SHA-256 of every input and model); the export's
closure tests; Snakemake's bookkeeping. Baselines and tuning are switched off in the bench
config, so neither side does them.

    python bench/bare_workflow.py STEP --config bench.yaml --workdir DIR [--threads N]

prints one JSON line: the step, its seconds after imports, CPU seconds, peak RSS (MB) and
what it produced.
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import resource
import shutil
import time
from pathlib import Path

import numpy as np
import yaml

FEATURES = [
    "mjj",
    "detajj",
    "dphijj",
    "jet1_pt",
    "jet2_pt",
    "n_jets",
    "n_bjets",
    "mll",
    "ptll",
    "mu1_pt",
    "met",
    "ht",
    "mt_mu1_met",
]
CUTS = ["two_muons", "opposite_charge", "two_jets"]
BRANCHES = [
    "event",
    "genWeight",
    "Jet_pt",
    "Jet_eta",
    "Jet_phi",
    "Jet_mass",
    "Jet_btag",
    "Muon_pt",
    "Muon_eta",
    "Muon_phi",
    "Muon_mass",
    "Muon_charge",
    "MET_pt",
    "MET_phi",
]
SETS = ("train", "validation", "test")


def peak_rss_mb() -> float:
    """Peak RSS of this step in MB: VmHWM (starts afresh at exec, unlike ru_maxrss)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_config(path: Path) -> dict:
    cfg = yaml.safe_load(path.read_text())  # .get(key, default): the schema's defaults
    names = [f["name"] for f in cfg["features"]]
    cuts = [c["name"] for c in cfg["selection"]]
    if names != FEATURES or cuts != CUTS:
        raise SystemExit(f"bare_workflow knows the demo's features and cuts only: {names} {cuts}")
    return cfg


def sample_files(spec: dict, workdir: Path) -> list[str]:
    return sorted(glob.glob(str(workdir / spec["files"])))


# --- ingest ---------------------------------------------------------------------------------


def selection_and_features(events, ak, vector):
    """The 3 cumulative cuts (masks on all events) and the 13 features of the selected ones."""
    two_muons = ak.num(events.Muon_pt, axis=1) >= 2
    charge = ak.fill_none(ak.pad_none(events.Muon_charge, 2, axis=1), 0)
    opposite = two_muons & (charge[:, 0] * charge[:, 1] < 0)
    two_jets = opposite & (ak.num(events.Jet_pt, axis=1) >= 2)
    steps = {"two_muons": two_muons, "opposite_charge": opposite, "two_jets": two_jets}
    sel = events[two_jets]
    jets = vector.zip(
        {"pt": sel.Jet_pt, "eta": sel.Jet_eta, "phi": sel.Jet_phi, "mass": sel.Jet_mass}
    )
    muons = vector.zip(
        {"pt": sel.Muon_pt, "eta": sel.Muon_eta, "phi": sel.Muon_phi, "mass": sel.Muon_mass}
    )
    j1, j2, m1, m2 = jets[:, 0], jets[:, 1], muons[:, 0], muons[:, 1]
    jj, mm = j1 + j2, m1 + m2
    dphi = (m1.phi - sel.MET_phi + np.pi) % (2 * np.pi) - np.pi
    features = {
        "mjj": jj.mass,
        "detajj": abs(j1.eta - j2.eta),
        "dphijj": abs(j1.deltaphi(j2)),
        "jet1_pt": j1.pt,
        "jet2_pt": j2.pt,
        "n_jets": ak.num(sel.Jet_pt, axis=1),
        "n_bjets": ak.sum(sel.Jet_btag > 0.8, axis=1),
        "mll": mm.mass,
        "ptll": mm.pt,
        "mu1_pt": m1.pt,
        "met": sel.MET_pt,
        "ht": ak.sum(sel.Jet_pt[sel.Jet_pt > 30], axis=1),
        "mt_mu1_met": np.sqrt(2 * m1.pt * sel.MET_pt * (1 - np.cos(dphi))),
    }
    columns = {k: ak.to_numpy(v).astype(np.float32) for k, v in features.items()}
    return {k: ak.to_numpy(v) for k, v in steps.items()}, columns, sel


def step_ingest(cfg: dict, workdir: Path, out: Path, threads: int) -> dict:
    import awkward as ak
    import pyarrow as pa
    import pyarrow.parquet as pq
    import uproot
    import vector

    vector.register_awkward()
    (out / "ingest").mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    selected = {}
    for name, spec in cfg["samples"].items():
        parts: dict[str, list] = {k: [] for k in [*FEATURES, "genWeight", "event"]}
        counts = np.zeros(len(CUTS) + 1)
        weighted = np.zeros(len(CUTS) + 1)
        files = dict.fromkeys(sample_files(spec, workdir), spec["tree"])
        for events in uproot.iterate(files, BRANCHES, step_size=cfg["reading"]["step_size"]):
            steps, columns, sel = selection_and_features(events, ak, vector)
            w = ak.to_numpy(events.genWeight)
            counts[0] += len(w)
            weighted[0] += w.sum()
            for i, cut in enumerate(CUTS, 1):
                counts[i] += steps[cut].sum()
                weighted[i] += w[steps[cut]].sum()
            for k, v in columns.items():
                parts[k].append(v)
            parts["genWeight"].append(ak.to_numpy(sel.genWeight))
            parts["event"].append(ak.to_numpy(sel.event))
        norm = spec["cross_section"] * cfg["luminosity"] * 1000.0 / weighted[0]
        table = {k: np.concatenate(v) for k, v in parts.items()}
        table["weight"] = table.pop("genWeight").astype(np.float64) * norm
        table["label"] = np.full(len(table["event"]), spec["label"] == "signal", dtype=np.int8)
        pq.write_table(pa.table(table), out / "ingest" / f"{name}.parquet", compression="zstd")
        with (out / "ingest" / f"{name}_cutflow.csv").open("w", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(["cut", "events", "weighted"])
            for cut, n, wsum in zip(["all", *CUTS], counts, weighted * norm, strict=True):
                writer.writerow([cut, int(n), wsum])
        selected[name] = len(table["event"])
    return {"seconds": time.perf_counter() - start, "selected": selected}


# --- train ----------------------------------------------------------------------------------


def read_tables(cfg: dict, out: Path) -> dict[str, np.ndarray]:
    """The ingest tables of every sample, stacked (features as a float32 matrix)."""
    import pyarrow.parquet as pq

    parts: dict[str, list] = {"X": [], "weight": [], "label": [], "event": [], "process": []}
    for name in cfg["samples"]:
        t = pq.read_table(out / "ingest" / f"{name}.parquet")
        parts["X"].append(np.column_stack([t[f].to_numpy() for f in FEATURES]))
        for c in ("weight", "label", "event"):
            parts[c].append(t[c].to_numpy())
        parts["process"].append(np.full(t.num_rows, name))
    return {k: np.concatenate(v) for k, v in parts.items()}


def training_weights(w: np.ndarray, y: np.ndarray) -> np.ndarray:
    """|w|, signal and background sums equalised, mean 1."""
    w = np.abs(w)
    w = np.where(y == 1, w * w[y == 0].sum() / w[y == 1].sum(), w)
    return w / w.mean()


def quantile_matrix(data: dict, mask: np.ndarray, params: dict, threads: int, ref=None):
    import xgboost as xgb

    return xgb.QuantileDMatrix(
        data["X"][mask],
        label=data["label"][mask],
        weight=training_weights(data["weight"][mask], data["label"][mask]),
        feature_names=FEATURES,
        max_bin=params.get("max_bin", 256),
        ref=ref,
        nthread=threads,
    )


def step_train(cfg: dict, workdir: Path, out: Path, threads: int) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import xgboost as xgb

    start = time.perf_counter()
    data = read_tables(cfg, out)
    n_folds = cfg["training"]["folds"]
    fold = (data["event"] % n_folds).astype(np.int8)
    xgb_cfg = dict(cfg["training"]["xgboost"])
    rounds = int(xgb_cfg.pop("n_estimators"))
    best = []
    for k in range(n_folds):
        test, val = fold == k, fold == (k + 1) % n_folds
        train = ~(test | val)
        params = {
            **xgb_cfg,
            "objective": "binary:logistic",
            "eval_metric": ["auc", "logloss"],
            "tree_method": "hist",
            "nthread": threads,
            "seed": cfg["seed"] * 100 + k,
        }

        dtrain = quantile_matrix(data, train, params, threads)
        dval = quantile_matrix(data, val, params, threads, ref=dtrain)
        history: dict = {}
        booster = xgb.train(
            params,
            dtrain,
            num_boost_round=rounds,
            evals=[(dtrain, "train"), (dval, "validation")],
            early_stopping_rounds=cfg["training"]["early_stopping_rounds"],
            evals_result=history,
            verbose_eval=False,
        )
        booster = booster[: booster.best_iteration + 1]
        best.append(booster.num_boosted_rounds())
        folder = out / "train" / f"fold{k}"
        folder.mkdir(parents=True, exist_ok=True)
        booster.save_model(folder / "model.json")
        with (folder / "learning_curve.csv").open("w", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(["round", *(f"{s}_{m}" for s in history for m in history[s])])
            rows = zip(*(history[s][m] for s in history for m in history[s]), strict=True)
            writer.writerows([i, *r] for i, r in enumerate(rows))
        role = np.where(test, "test", np.where(val, "validation", "train"))
        scores = {
            "score": booster.inplace_predict(data["X"]).astype(np.float64),
            "label": data["label"],
            "weight": data["weight"],
            "fold": fold,
            "set": role,
            "process": data["process"],
        }
        pq.write_table(pa.table(scores), folder / "scores.parquet", compression="zstd")
    return {"seconds": time.perf_counter() - start, "trees": best, "events": len(fold)}


# --- evaluate -------------------------------------------------------------------------------


def asimov(s: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.sqrt(2 * ((s + b) * np.log1p(s / b) - s))
    return np.where(b > 0, z, 0.0)


def yields_above(score: np.ndarray, weight: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    order = np.argsort(score)
    above = np.concatenate([np.cumsum(weight[order][::-1])[::-1], [0.0]])
    return above[np.searchsorted(score[order], cuts, side="right")]


def write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def read_scores(cfg: dict, out: Path) -> dict[str, np.ndarray]:
    import pyarrow.parquet as pq

    tables = [
        pq.read_table(out / "train" / f"fold{k}" / "scores.parquet")
        for k in range(cfg["training"]["folds"])
    ]
    merged = {c: np.concatenate([t[c].to_numpy() for t in tables]) for c in tables[0].column_names}
    merged["model"] = np.concatenate([np.full(t.num_rows, k) for k, t in enumerate(tables)])
    return merged


def performance(cfg: dict, t: dict, tables: Path) -> dict:
    """AUCs, ROC curves, working points, confusion matrices, per-process table."""
    from sklearn.metrics import roc_auc_score, roc_curve

    test = t["set"] == "test"
    s, y, w, proc = t["score"][test], t["label"][test], t["weight"][test], t["process"][test]
    fpr, tpr, thr = roc_curve(y, s, sample_weight=w)  # signed weights: AUC by hand below
    curves = {"merged": (fpr, tpr)}
    row = {"auc": np.trapezoid(tpr, fpr), "auc_unweighted": roc_auc_score(y, s)}
    for k in range(cfg["training"]["folds"]):
        m = t["model"][test] == k
        f, p, _ = roc_curve(y[m], s[m], sample_weight=w[m])
        curves[k] = (f, p)
        row[f"auc_fold_{k}"] = np.trapezoid(p, f)
    write_csv(tables / "metrics.csv", [row])
    wps = []
    for wp in cfg["evaluation"]["working_points"]:
        ((kind, value),) = wp.items()
        rate = tpr if kind == "signal_efficiency" else fpr
        cut = thr[min(np.searchsorted(rate, value), len(thr) - 1)]
        passed = s > cut
        tp, fp = w[passed & (y == 1)].sum(), w[passed & (y == 0)].sum()
        fn, tn = w[~passed & (y == 1)].sum(), w[~passed & (y == 0)].sum()
        wps.append({"definition": f"{kind}={value}", "threshold": cut, "tp": tp, "fp": fp})
        wps[-1].update(tn=tn, fn=fn, sensitivity=tp / (tp + fn), specificity=tn / (tn + fp))
        wps[-1].update(precision=tp / (tp + fp), accuracy=(tp + tn) / (tp + tn + fp + fn))
    write_csv(tables / "working_points.csv", wps)
    write_csv(
        tables / "confusion.csv",
        [{k: r[k] for k in ("definition", "tp", "fp", "tn", "fn")} for r in wps],
    )
    rows = []
    for p in np.unique(proc[y == 0]):
        m = (y == 1) | (proc == p)
        f, q, _ = roc_curve(y[m], s[m], sample_weight=w[m])
        bkg = proc == p
        effs = {r["definition"]: w[bkg & (s > r["threshold"])].sum() / w[bkg].sum() for r in wps}
        rows.append({"process": p, "auc": np.trapezoid(q, f), **effs})
    write_csv(tables / "per_process.csv", rows)
    return {
        "roc": {
            str(k): [
                c[0][:: max(1, len(c[0]) // 500)].tolist(),
                c[1][:: max(1, len(c[1]) // 500)].tolist(),
            ]
            for k, c in curves.items()
        },
        "auc": row["auc"],
    }


def overtraining_and_scores(cfg: dict, t: dict, tables: Path) -> dict:
    """KS tests train vs test per fold and class, score histograms, the significance scan."""
    from scipy.stats import ks_2samp

    n_bins, edges = cfg["evaluation"]["bins"], np.linspace(0, 1, cfg["evaluation"]["bins"] + 1)
    rows, over = [], {}
    for k in range(cfg["training"]["folds"]):
        mine = t["model"] == k
        for label, cls in ((1, "signal"), (0, "background")):
            a = mine & (t["label"] == label)
            train, test = a & (t["set"] == "train"), a & (t["set"] == "test")
            ks = ks_2samp(t["score"][train], t["score"][test])
            rows.append({"fold": k, "class": cls, "ks": ks.statistic, "p_value": ks.pvalue})
            for name, m in (("train", train), ("test", test)):
                h, _ = np.histogram(t["score"][m], edges, weights=t["weight"][m])
                over[f"{k}_{cls}_{name}"] = (h / max(h.sum(), 1e-300) / (1 / n_bins)).tolist()
    write_csv(tables / "overtraining.csv", rows)
    test = t["set"] == "test"
    s, w, y, proc = t["score"][test], t["weight"][test], t["label"][test], t["process"][test]
    per_process = {
        p: np.histogram(s[proc == p], edges, weights=w[proc == p])[0].tolist()
        for p in np.unique(proc)
    }
    cuts = np.linspace(0, 1, cfg["evaluation"]["significance"].get("cuts", 200) + 1)[:-1]
    sig, bkg = yields_above(s[y == 1], w[y == 1], cuts), yields_above(s[y == 0], w[y == 0], cuts)
    z = asimov(sig, bkg)
    allowed = bkg >= cfg["evaluation"]["significance"]["min_background"]
    best = int(np.argmax(np.where(allowed, z, -1)))
    write_csv(
        tables / "significance.csv",
        [{"cut": cuts[best], "z": z[best], "s": sig[best], "b": bkg[best]}],
    )
    return {
        "edges": edges.tolist(),
        "overtraining": over,
        "score": per_process,
        "scan": {
            "cuts": cuts.tolist(),
            "z": z.tolist(),
            "s": sig.tolist(),
            "b": bkg.tolist(),
            "best": best,
        },
    }


def input_variables(cfg: dict, data: dict) -> dict:
    """Weighted input histograms per class and the weighted correlation matrices."""
    bins = cfg["evaluation"].get("input_bins", 40)
    hists, correlations = {}, {}
    for j, f in enumerate(FEATURES):
        x = data["X"][:, j]
        lo, hi = np.nanpercentile(x, [0.5, 99.5])
        edges = np.linspace(lo, hi if hi > lo else lo + 1, bins + 1)
        hists[f] = {"edges": edges.tolist()}
        for label, cls in ((1, "signal"), (0, "background")):
            m = data["label"] == label
            hists[f][cls] = np.histogram(x[m], edges, weights=data["weight"][m])[0].tolist()
    for label, cls in ((1, "signal"), (0, "background")):
        m = data["label"] == label
        X = np.nan_to_num(data["X"][m].astype(np.float64))
        cov = np.cov(X.T, aweights=np.abs(data["weight"][m]))
        sigma = np.sqrt(np.diag(cov))
        correlations[cls] = (cov / np.outer(sigma, sigma)).tolist()
    return {"inputs": hists, "correlations": correlations}


def importance(cfg: dict, data: dict, tables: Path) -> dict:
    """XGBoost gain and mean |SHAP| (pred_contribs) on test events of every fold."""
    import xgboost as xgb

    n_folds, rng = cfg["training"]["folds"], np.random.default_rng(cfg["seed"])
    fold = data["event"] % n_folds
    gain, shap, values = np.zeros(len(FEATURES)), [], []
    for k in range(n_folds):
        booster = xgb.Booster(model_file=str(tables.parent / "train" / f"fold{k}" / "model.json"))
        score = booster.get_score(importance_type="total_gain")
        gain += [score.get(f, 0.0) for f in FEATURES]
        rows = np.flatnonzero(fold == k)
        rows = rng.choice(
            rows, min(len(rows), cfg["evaluation"].get("shap_events", 500)), replace=False
        )
        contributions = booster.predict(
            xgb.DMatrix(data["X"][rows], feature_names=FEATURES), pred_contribs=True
        )
        shap.append(contributions[:, :-1])
        values.append(data["X"][rows])
    shap_all = np.concatenate(shap)
    mean_abs = np.abs(shap_all).mean(axis=0)
    write_csv(
        tables / "importance.csv",
        [
            {"feature": f, "gain": g / gain.sum(), "shap": s / mean_abs.sum()}
            for f, g, s in zip(FEATURES, gain, mean_abs, strict=True)
        ],
    )
    return {
        "gain": (gain / gain.sum()).tolist(),
        "shap_mean": (mean_abs / mean_abs.sum()).tolist(),
        "shap": shap_all.tolist(),
        "values": np.concatenate(values).tolist(),
    }


def step_evaluate(cfg: dict, workdir: Path, out: Path, threads: int) -> dict:
    start = time.perf_counter()
    tables = out / "evaluation"
    tables.mkdir(parents=True, exist_ok=True)
    scores = read_scores(cfg, out)
    content = performance(cfg, scores, tables)
    content |= overtraining_and_scores(cfg, scores, tables)
    data = read_tables(cfg, out)
    content |= input_variables(cfg, data)
    content |= importance(cfg, data, tables)
    (tables / "plot_data.json").write_text(json.dumps(content))
    return {"seconds": time.perf_counter() - start, "auc": content["auc"]}


# --- plots ----------------------------------------------------------------------------------


def step_plots(cfg: dict, workdir: Path, out: Path, threads: int) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    start = time.perf_counter()
    d = json.loads((out / "evaluation" / "plot_data.json").read_text())
    plots = out / "plots"
    (plots / "inputs").mkdir(parents=True, exist_ok=True)
    plt.style.use(mplhep.style.CMS)
    lumi, energy = cfg["luminosity"], cfg["plotting"]["energy"]
    written = []

    def save(fig, ax, name):
        mplhep.cms.label("Simulation", data=False, lumi=lumi, com=energy, ax=ax)
        for ext in ("pdf", "png"):
            fig.savefig(plots / f"{name}.{ext}", dpi=150, bbox_inches="tight", pad_inches=0.1)
            written.append(f"{name}.{ext}")
        plt.close(fig)

    edges = np.array(d["edges"])
    fig, (ax, lower) = plt.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    merged = d["roc"]["merged"]
    for k, (f, p) in d["roc"].items():
        ax.plot(p, 1 / np.maximum(f, 1e-6), lw=2 if k == "merged" else 0.8, label=f"fold {k}")
        lower.plot(p, np.interp(p, merged[1], merged[0]) / np.maximum(f, 1e-6), lw=0.8)
    ax.set_yscale("log")
    ax.set_ylabel("Background rejection")
    lower.set_xlabel("Signal efficiency")
    ax.legend()
    save(fig, ax, "roc")
    fig, ax = plt.subplots()
    ax.plot(merged[0], merged[1], label=f"AUC = {d['auc']:.3f}")
    ax.plot([0, 1], [0, 1], ls="--", color="grey")
    ax.set_xlabel("False positive rate")
    ax.set_ylabel("True positive rate")
    ax.legend()
    save(fig, ax, "roc_tpr_fpr")
    fig, ax = plt.subplots()
    for cls, colour in (("signal", "tab:blue"), ("background", "tab:red")):
        mplhep.histplot(
            d["overtraining"][f"0_{cls}_train"], edges, color=colour, label=f"{cls} (train)", ax=ax
        )
        mplhep.histplot(
            d["overtraining"][f"0_{cls}_test"],
            edges,
            color=colour,
            histtype="errorbar",
            label=f"{cls} (test)",
            ax=ax,
        )
    ax.set_xlabel("BDT score")
    ax.legend()
    save(fig, ax, "overtraining")
    for name, log in (("score", False), ("score_log", True)):
        fig, ax = plt.subplots()
        names = list(d["score"])
        mplhep.histplot(
            [d["score"][p] for p in names], edges, stack=True, histtype="fill", label=names, ax=ax
        )
        ax.axvline(d["scan"]["cuts"][d["scan"]["best"]], color="black", ls="--")
        if log:
            ax.set_yscale("log")
        ax.set_xlabel("BDT score")
        ax.legend()
        save(fig, ax, name)
    scan = d["scan"]
    fig, ax = plt.subplots()
    ax.plot(scan["cuts"], scan["z"])
    ax.axvline(scan["cuts"][scan["best"]], color="black", ls="--")
    ax.set_xlabel("Cut on the BDT score")
    ax.set_ylabel("Asimov significance")
    save(fig, ax, "significance")
    fig, ax = plt.subplots()
    ax.plot(scan["cuts"], np.array(scan["s"]) / scan["s"][0], label="signal")
    ax.plot(scan["cuts"], np.array(scan["b"]) / scan["b"][0], label="background")
    ax.set_yscale("log")
    ax.set_xlabel("Cut on the BDT score")
    ax.legend()
    save(fig, ax, "cut_efficiencies")
    for f in FEATURES:
        h = d["inputs"][f]
        fig, ax = plt.subplots()
        for cls in ("signal", "background"):
            mplhep.histplot(h[cls], h["edges"], density=True, label=cls, ax=ax)
        ax.set_xlabel(f)
        ax.legend()
        save(fig, ax, f"inputs/{f}")
    for cls in ("signal", "background"):
        c = 100 * np.array(d["correlations"][cls])
        fig, ax = plt.subplots(figsize=(12, 12))
        image = ax.imshow(c, cmap="coolwarm", vmin=-100, vmax=100)
        for i in range(len(FEATURES)):
            for j in range(len(FEATURES)):
                ax.text(j, i, f"{c[i, j]:.0f}", ha="center", va="center", fontsize=10)
        ax.set_xticks(range(len(FEATURES)), FEATURES, rotation=90)
        ax.set_yticks(range(len(FEATURES)), FEATURES)
        fig.colorbar(image, ax=ax)
        save(fig, ax, f"correlation_{cls}")
    fig, ax = plt.subplots()
    for k in range(cfg["training"]["folds"]):
        with (out / "train" / f"fold{k}" / "learning_curve.csv").open() as stream:
            rows = list(csv.DictReader(stream))
        for s, ls in (("train", "-"), ("validation", "--")):
            ax.plot([float(r[f"{s}_logloss"]) for r in rows], ls=ls, label=f"fold {k} {s}")
    ax.set_xlabel("Boosting round")
    ax.set_ylabel("Log-loss")
    ax.legend(ncol=2, fontsize=10)
    save(fig, ax, "learning_curves")
    fig, ax = plt.subplots(figsize=(10, 8))
    y = np.arange(len(FEATURES))
    ax.barh(y - 0.2, d["shap_mean"], height=0.4, label="mean |SHAP|")
    ax.barh(y + 0.2, d["gain"], height=0.4, label="gain")
    ax.set_yticks(y, FEATURES)
    ax.legend()
    save(fig, ax, "importance")
    fig, ax = plt.subplots(figsize=(10, 8))
    shap, values = np.array(d["shap"]), np.array(d["values"])
    rng = np.random.default_rng(1)
    for j in range(len(FEATURES)):
        v = values[:, j]
        colour = (v - np.nanmin(v)) / max(np.nanmax(v) - np.nanmin(v), 1e-12)
        ax.scatter(
            shap[:, j],
            j + rng.uniform(-0.3, 0.3, len(v)),
            c=colour,
            s=4,
            cmap="coolwarm",
            rasterized=True,
        )
    ax.set_yticks(range(len(FEATURES)), FEATURES)
    ax.set_xlabel("SHAP value")
    save(fig, ax, "shap_beeswarm")
    return {"seconds": time.perf_counter() - start, "figures": len(written) // 2}


# --- apply and export -----------------------------------------------------------------------


def step_apply(cfg: dict, workdir: Path, out: Path, threads: int) -> dict:
    import awkward as ak
    import pyarrow as pa
    import pyarrow.parquet as pq
    import uproot
    import vector
    import xgboost as xgb

    vector.register_awkward()
    start = time.perf_counter()
    n_folds = cfg["training"]["folds"]
    boosters = []
    for k in range(n_folds):
        booster = xgb.Booster(model_file=str(out / "train" / f"fold{k}" / "model.json"))
        booster.set_param({"nthread": threads})
        boosters.append(booster)
    fill, scored = cfg["apply"]["fill"], {}
    for name, spec in cfg["samples"].items():
        folder = out / "apply" / name
        folder.mkdir(parents=True, exist_ok=True)
        writer, scored[name] = None, 0
        for path in sample_files(spec, workdir):
            with uproot.recreate(folder / Path(path).name) as friend:
                tree = None
                for events in uproot.iterate(
                    {path: spec["tree"]}, BRANCHES, step_size=cfg["reading"]["step_size"]
                ):
                    steps, columns, _ = selection_and_features(events, ak, vector)
                    passed = steps["two_jets"]
                    X = np.column_stack([columns[f] for f in FEATURES])
                    event = ak.to_numpy(events.event)
                    fold = (event % n_folds).astype(np.int8)
                    score = np.full(len(event), fill, dtype=np.float64)
                    selected_fold, selected_score = fold[passed], np.empty(len(X))
                    for k, booster in enumerate(boosters):
                        rows = selected_fold == k
                        selected_score[rows] = booster.inplace_predict(X[rows])
                    score[passed] = selected_score
                    columns = {
                        "bdt_score": score,
                        "passes_selection": passed,
                        "fold": fold,
                        "event": event,
                    }
                    if tree is None:
                        tree = friend.mktree("hepml", {k: v.dtype for k, v in columns.items()})
                    tree.extend(columns)
                    table = pa.table(columns)
                    if writer is None:
                        writer = pq.ParquetWriter(
                            out / "apply" / f"{name}.parquet", table.schema, compression="zstd"
                        )
                    writer.write_table(table)
                    scored[name] += int(passed.sum())
        writer.close()
    return {"seconds": time.perf_counter() - start, "selected": scored}


def step_export(cfg: dict, workdir: Path, out: Path, threads: int) -> dict:
    import xgboost as xgb

    start = time.perf_counter()
    export = out / "export"
    export.mkdir(parents=True, exist_ok=True)
    try:
        import onnxmltools
        from onnxmltools.convert.common.data_types import FloatTensorType
    except ImportError:
        onnxmltools = None
    for k in range(cfg["training"]["folds"]):
        shutil.copyfile(out / "train" / f"fold{k}" / "model.json", export / f"fold{k}.json")
        if onnxmltools is not None:
            booster = xgb.Booster(model_file=str(export / f"fold{k}.json"))
            booster.feature_names = None  # onnxmltools wants f0, f1, ...
            model = onnxmltools.convert_xgboost(
                booster, initial_types=[("features", FloatTensorType([None, len(FEATURES)]))]
            )
            (export / f"fold{k}.onnx").write_bytes(model.SerializeToString())
    return {"seconds": time.perf_counter() - start, "onnx": onnxmltools is not None}


STEPS = {
    "ingest": step_ingest,
    "train": step_train,
    "evaluate": step_evaluate,
    "plots": step_plots,
    "apply": step_apply,
    "export": step_export,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=list(STEPS))
    parser.add_argument("--config", required=True, help="the bench config (YAML)")
    parser.add_argument("--workdir", required=True, help="where the config's paths start")
    parser.add_argument("--output", required=True, help="where the steps write")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    cpu = time.process_time()
    cfg = load_config(Path(args.config))
    result = STEPS[args.step](cfg, Path(args.workdir), Path(args.output), args.threads)
    result.update(step=args.step, cpu_seconds=time.process_time() - cpu, peak_rss_mb=peak_rss_mb())
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Benchmark: hepml ingest against a bare ``uproot.iterate`` + awkward loop on the same files.

N events (default 10 million) x 20 features, 2 selection cuts, signed weights, [run, event]
folds. Both contenders run in their own fresh Python process, one after the other, on the
same files (warm in the page cache after generation), with the same step size:

* ``hepml``: :func:`hepml.ingest.sample.ingest_sample` (safe expression language, the pass summing
  the generator weights over all entries, cutflow, folds, Parquet output);
* ``bare``: ``uproot.iterate`` over the same branches, the same 20 features and cuts written by
  hand in awkward + vector, the selected values converted to numpy and nothing written.

Printed: events/s of each, their ratio (target <= 1.5), and the peak resident memory (VmHWM)
of each process, measured by the process itself (target for hepml <= 1.5 GB, flat in N).

    python bench/bench_ingest.py --events 10000000      # generates /tmp/hepml-bench, deletes it
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
log = logging.getLogger("bench_ingest")
FEATURES = {
    "met": "MET_pt",
    "met_phi": "MET_phi",
    "n_jets": "num(Jet_pt)",
    "n_bjets": "num(Jet_btag > 0.8)",
    "jet1_pt": "Jet_pt[0]",
    "jet2_pt": "Jet_pt[1]",
    "jet1_eta": "Jet_eta[0]",
    "jet2_eta": "Jet_eta[1]",
    "detajj": "abs(Jet_eta[0] - Jet_eta[1])",
    "dphijj": "abs(delta_phi(Jet_phi[0], Jet_phi[1]))",
    "drjj": "delta_r(Jet_eta[0], Jet_phi[0], Jet_eta[1], Jet_phi[1])",
    "mjj": "m_lead(Jet, 2)",
    "ht": "sum(Jet_pt[Jet_pt > 30])",
    "max_btag": "max(Jet_btag)",
    "n_muons": "num(Muon_pt)",
    "mu1_pt": "Muon_pt[0]",
    "mu1_eta": "Muon_eta[0]",
    "mll": "m_lead(Muon, 2)",
    "ptll": "pt_lead(Muon, 2)",
    "mt": "mt(Muon_pt[0], Muon_phi[0], MET_pt, MET_phi)",
}
CUTS = {"one_muon": "num(Muon_pt) >= 1", "met": "MET_pt > 10"}


def config_dict(directory: Path, step_size: str) -> dict:
    return {
        "luminosity": 100.0,
        "event_number": ["run", "event"],
        "reading": {"step_size": step_size},
        "samples": {
            "bench": {
                "label": "signal",
                "files": str(directory / "bench_*.root"),
                "tree": "Events",
                "cross_section": 1.0,
                "weight": "genWeight",
            },
            "other": {"label": "background", "files": str(directory / "bench_0.root")},
        },
        "selection": [{"name": k, "expr": v} for k, v in CUTS.items()],
        "features": [{"name": k, "expr": v} for k, v in FEATURES.items()],
        "training": {},
    }


def peak_rss_mb() -> float:
    """Peak resident set size of this process (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measured(start: float, cpu: float, events: int, selected: int, rss0: float) -> dict:
    """What a contender reports: wall and CPU seconds since (start, cpu), counts, memory."""
    return {
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu,
        "events": events,
        "selected": selected,
        "rss_after_imports_mb": rss0,
        "peak_rss_mb": peak_rss_mb(),
    }


def run_hepml(directory: Path, step_size: str, output: Path) -> dict:
    from hepml.config import config_from_dict
    from hepml.ingest.sample import ingest_sample

    cfg = config_from_dict(config_dict(directory, step_size))
    rss0 = peak_rss_mb()
    start, cpu = time.perf_counter(), time.process_time()
    result = ingest_sample(cfg, "bench", output)
    return measured(start, cpu, result.entries, result.cutflow.events[-1], rss0)


def _lead_pair(objects, ak, np):
    """Two leading objects' four-momentum sum, and whether the event has two."""
    padded = ak.pad_none(objects, 2, axis=1)
    has_two = ak.num(objects, axis=1) >= 2
    pair = padded[:, 0] + padded[:, 1]
    return pair, has_two


def bare_features(events, ak, np, vector) -> dict:
    """The 20 features of FEATURES by hand, as an analyst would write them."""
    nan = np.nan

    def first(x, i):
        return ak.fill_none(ak.pad_none(x, i + 1, axis=1)[:, i], nan)

    jets = vector.zip(
        {"pt": events.Jet_pt, "eta": events.Jet_eta, "phi": events.Jet_phi, "mass": events.Jet_mass}
    )
    muons = vector.zip(
        {
            "pt": events.Muon_pt,
            "eta": events.Muon_eta,
            "phi": events.Muon_phi,
            "mass": events.Muon_mass,
        }
    )
    padded = ak.pad_none(jets, 2, axis=1)
    j1, j2 = padded[:, 0], padded[:, 1]
    jj, two_jets = _lead_pair(jets, ak, np)
    mm, two_muons = _lead_pair(muons, ak, np)
    mu1_phi = first(events.Muon_phi, 0)
    dphi = (mu1_phi - events.MET_phi + np.pi) % (2 * np.pi) - np.pi
    mu1_pt = first(events.Muon_pt, 0)
    return {
        "met": events.MET_pt,
        "met_phi": events.MET_phi,
        "n_jets": ak.num(events.Jet_pt, axis=1),
        "n_bjets": ak.sum(events.Jet_btag > 0.8, axis=1),
        "jet1_pt": first(events.Jet_pt, 0),
        "jet2_pt": first(events.Jet_pt, 1),
        "jet1_eta": first(events.Jet_eta, 0),
        "jet2_eta": first(events.Jet_eta, 1),
        "detajj": abs(first(events.Jet_eta, 0) - first(events.Jet_eta, 1)),
        "dphijj": abs(ak.fill_none(j1.deltaphi(j2), nan)),
        "drjj": ak.fill_none(j1.deltaR(j2), nan),
        "mjj": ak.where(two_jets, ak.fill_none(jj.mass, nan), nan),
        "ht": ak.sum(events.Jet_pt[events.Jet_pt > 30], axis=1),
        "max_btag": ak.fill_none(ak.max(events.Jet_btag, axis=1), nan),
        "n_muons": ak.num(events.Muon_pt, axis=1),
        "mu1_pt": mu1_pt,
        "mu1_eta": first(events.Muon_eta, 0),
        "mll": ak.where(two_muons, ak.fill_none(mm.mass, nan), nan),
        "ptll": ak.where(two_muons, ak.fill_none(mm.pt, nan), nan),
        "mt": np.sqrt(2 * mu1_pt * events.MET_pt * (1 - np.cos(dphi))),
    }


def run_bare(directory: Path, step_size: str) -> dict:
    import awkward as ak
    import numpy as np
    import uproot
    import vector

    vector.register_awkward()
    branches = [
        "run",
        "event",
        "genWeight",
        "MET_pt",
        "MET_phi",
        "Jet_pt",
        "Jet_eta",
        "Jet_phi",
        "Jet_mass",
        "Jet_btag",
        "Muon_pt",
        "Muon_eta",
        "Muon_phi",
        "Muon_mass",
    ]
    files = {str(p): "Events" for p in sorted(directory.glob("bench_*.root"))}
    rss0 = peak_rss_mb()
    start, cpu = time.perf_counter(), time.process_time()
    events_seen, selected = 0, 0
    for events in uproot.iterate(files, branches, step_size=step_size, library="ak"):
        keep = ak.to_numpy((ak.num(events.Muon_pt, axis=1) >= 1) & (events.MET_pt > 10))
        features = bare_features(events, ak, np, vector)
        columns = {k: ak.to_numpy(v)[keep].astype(np.float32) for k, v in features.items()}
        columns["weight"] = ak.to_numpy(events.genWeight)[keep].astype(np.float64)
        events_seen += len(events)
        selected += len(columns["weight"])
    return measured(start, cpu, events_seen, selected, rss0)


def child(kind: str, directory: Path, step_size: str) -> dict:
    """Run one contender in a fresh Python process; return what it measured."""
    command = [
        sys.executable,
        __file__,
        "--child",
        kind,
        "--directory",
        str(directory),
        "--step-size",
        step_size,
    ]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--files", type=int, default=0, help="default: one per million events")
    parser.add_argument("--directory", help="reuse/keep ntuples here (default: a /tmp folder)")
    parser.add_argument("--step-size", default="100 MB")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the best counts")
    parser.add_argument("--child", choices=["hepml", "bare"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        directory = Path(args.directory)
        if args.child == "hepml":
            with tempfile.TemporaryDirectory(dir=directory) as out:
                result = run_hepml(directory, args.step_size, Path(out) / "bench.parquet")
        else:
            result = run_bare(directory, args.step_size)
        print(json.dumps(result))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    sys.path.insert(0, str(HERE))
    from make_large_ntuple import make_ntuples

    keep = args.directory is not None
    directory = Path(args.directory or tempfile.mkdtemp(prefix="hepml-bench-", dir="/tmp"))
    try:
        if not list(directory.glob("bench_*.root")):
            files = args.files or max(1, args.events // 1_000_000)
            start = time.perf_counter()
            make_ntuples(directory, args.events, files)
            log.info("generated in %.0f s", time.perf_counter() - start)
        runs: dict[str, list[dict]] = {"bare": [], "hepml": []}
        for _ in range(args.repeat):
            for kind in runs:
                runs[kind].append(child(kind, directory, args.step_size))
                log.info("%s: %s", kind, runs[kind][-1])
        report(runs, args.step_size)
    finally:
        if not keep:
            shutil.rmtree(directory, ignore_errors=True)


def report(runs: dict[str, list[dict]], step_size: str) -> None:
    """Best wall time and best CPU time of each contender (the least disturbed runs)."""
    best = {k: min(v, key=lambda r: r["seconds"]) for k, v in runs.items()}
    cpu = {k: min(r["cpu_seconds"] for r in v) for k, v in runs.items()}
    bare, hepml = best["bare"], best["hepml"]
    if bare["selected"] != hepml["selected"]:
        sys.exit(f"selected events differ: bare {bare['selected']}, hepml {hepml['selected']}")
    rate = {k: r["events"] / r["seconds"] for k, r in best.items()}
    ratio = hepml["seconds"] / bare["seconds"]
    cpu_ratio = cpu["hepml"] / cpu["bare"]
    peak_gb = max(r["peak_rss_mb"] for r in runs["hepml"]) / 1024
    print(f"events: {hepml['events']:,}  features: {len(FEATURES)}  step_size: {step_size}")
    for kind, r in best.items():
        print(
            f"{kind:>6}: {r['seconds']:7.1f} s (CPU {cpu[kind]:7.1f} s)  "
            f"{rate[kind] / 1e6:6.3f} M events/s  peak RSS {r['peak_rss_mb']:6.0f} MB "
            f"(after imports {r['rss_after_imports_mb']:.0f} MB)"
        )
    print(
        f"time ratio hepml/bare: {ratio:.2f} wall, {cpu_ratio:.2f} CPU (target <= 1.5)  "
        f"hepml peak RSS: {peak_gb:.2f} GB (target <= 1.5)"
    )


if __name__ == "__main__":
    main()

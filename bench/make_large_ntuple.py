"""Write large synthetic NanoAOD-like ntuples for the ingest benchmark (not used by tests).

Each event has ``run``/``event`` numbers, a signed ``genWeight`` (10 % negative), ``MET_pt``,
``MET_phi``, a jet collection (``nJet``, ``Jet_pt/eta/phi/mass/btag``, Poisson(4) jets sorted by
pT) and a muon collection (``nMuon``, ``Muon_pt/eta/phi/mass/charge``, Poisson(1.5)). Momenta
are in GeV. Files are written in blocks, so memory stays flat whatever the number of events.

    python bench/make_large_ntuple.py /tmp/hepml-bench --events 10000000 --files 10
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

log = logging.getLogger("make_large_ntuple")

BLOCK = 500_000  # events generated and written at a time
COMPRESSION = {
    "zstd": uproot.ZSTD(1),
    "zlib": uproot.ZLIB(1),
    "lz4": uproot.LZ4(1),
    "lzma": uproot.LZMA(1),
    "none": None,
}


def _objects(rng: np.random.Generator, counts: np.ndarray, mass: float, **extra) -> ak.Array:
    n = int(counts.sum())
    pt = rng.exponential(30.0, n).astype(np.float32) + 20.0
    # sort by pT within each event, as NanoAOD does
    event_of = np.repeat(np.arange(len(counts)), counts)
    pt = pt[np.lexsort((-pt, event_of))]
    fields = {
        "pt": pt,
        "eta": rng.normal(0.0, 1.8, n).astype(np.float32),
        "phi": rng.uniform(-np.pi, np.pi, n).astype(np.float32),
        "mass": np.full(n, mass, dtype=np.float32),
    }
    fields |= {key: make(rng, n) for key, make in extra.items()}
    return ak.unflatten(ak.zip(fields), counts)


def block(rng: np.random.Generator, first_event: int, n: int) -> dict:
    """``n`` events whose event numbers start at ``first_event``."""
    n_jets = rng.poisson(4.0, n)
    n_muons = rng.poisson(1.5, n)
    return {
        "run": np.full(n, 1, dtype=np.uint32),
        "event": np.arange(first_event, first_event + n, dtype=np.uint64),
        "genWeight": np.where(rng.random(n) < 0.1, -1.0, 1.0).astype(np.float32),
        "MET_pt": rng.exponential(40.0, n).astype(np.float32),
        "MET_phi": rng.uniform(-np.pi, np.pi, n).astype(np.float32),
        "Jet": _objects(rng, n_jets, 8.0, btag=lambda r, k: r.random(k).astype(np.float32)),
        "Muon": _objects(
            rng,
            n_muons,
            0.1057,
            charge=lambda r, k: r.choice(np.array([-1, 1], dtype=np.int32), k),
        ),
    }


def make_ntuples(
    directory: str | Path,
    events: int,
    files: int = 10,
    *,
    seed: int = 1,
    compression: str = "zstd",
    tree: str = "Events",
) -> list[Path]:
    """Write ``events`` events over ``files`` files ``bench_<i>.root``; return their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    per_file = np.diff(np.linspace(0, events, files + 1).astype(np.int64))
    paths, first = [], 0
    for i, n in enumerate(per_file):
        path = directory / f"bench_{i}.root"
        with uproot.recreate(path, compression=COMPRESSION[compression]) as out:
            written = 0
            while written < n:
                size = int(min(BLOCK, n - written))
                arrays = block(rng, first + written, size)
                if written == 0:
                    out.mktree(tree, arrays)
                else:
                    out[tree].extend(arrays)
                written += size
        first += int(n)
        paths.append(path)
        log.info("wrote %s (%d events)", path, n)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory")
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--compression", choices=sorted(COMPRESSION), default="zstd")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    start = time.perf_counter()
    make_ntuples(
        args.directory, args.events, args.files, seed=args.seed, compression=args.compression
    )
    log.info("%d events in %.1f s", args.events, time.perf_counter() - start)


if __name__ == "__main__":
    main()

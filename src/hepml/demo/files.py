"""Built-in demo ntuples: a toy VBF H->tautau->mumu analysis written as NanoAOD-like ROOT files.

The demo lets hepml's default configuration run on a machine with no user data. Each process
is generated with real four-vector kinematics (two-body and leptonic tau decays boosted with
``vector``), detector-like smearing, pileup jets and MET resolution, so that signal and
backgrounds overlap: a BDT on the usual VBF features (m_jj, |Delta eta_jj|, m_mumu, MET, number
of b-tagged jets, ...) after >= 2 opposite-charge muons and >= 2 jets reaches an AUC of about
0.9, not 1.

All momenta, energies and masses are in GeV, angles in radians, cross sections in pb. Files
are written with uproot into the tree :data:`DEMO_TREE`; every file is reproducible on its own
from ``(seed, process name, file index)``.
"""

from __future__ import annotations

import logging
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hepml.atomic import atomic_path
from hepml.config.settings import DEMO_FORMAT
from hepml.exceptions import ConfigError
from hepml.outputs import check_outputs

__all__ = [
    "DEMO_FORMAT",
    "DEMO_PROCESSES",
    "DEMO_TREE",
    "DemoProcess",
    "demo_files",
    "make_demo",
]

log = logging.getLogger(__name__)

DEMO_TREE = "events"


@dataclass(frozen=True)
class DemoProcess:
    """One simulated process of the demo.

    ``cross_section_pb`` is the effective cross section (pb) of the generated sample, i.e.
    sigma x branching ratios x generator filter; ``n_events`` is its number of events at the
    default total of 200 000 and sets its share at any other size.
    """

    name: str
    label: str
    cross_section_pb: float
    n_events: int
    description: str
    negative_weight_fraction: float

    def __post_init__(self) -> None:
        if self.label not in ("signal", "background"):
            msg = f"{self.name}: label must be 'signal' or 'background', got {self.label!r}"
            raise ConfigError(msg)
        if not 0.0 <= self.negative_weight_fraction < 0.5:
            msg = (
                f"{self.name}: negative_weight_fraction must be in [0, 0.5) so that the "
                f"signed weight sum stays positive, got {self.negative_weight_fraction}"
            )
            raise ConfigError(msg)


DEMO_PROCESSES: tuple[DemoProcess, ...] = (
    DemoProcess(
        name="vbf_h",
        label="signal",
        cross_section_pb=0.0072,
        n_events=60_000,
        description=(
            "VBF H(125) -> tau tau -> mu mu + 4 nu with two forward-backward tag jets; "
            "0.0072 pb = sigma(VBF H, 13 TeV) 3.78 pb x BR(H -> tau tau) 0.0627 "
            "x BR(tau -> mu nu nu)^2 0.0302."
        ),
        negative_weight_fraction=0.0,
    ),
    DemoProcess(
        name="dy",
        label="background",
        cross_section_pb=0.20,
        n_events=80_000,
        description=(
            "Drell-Yan Z/gamma* (50-120 GeV) + jets, NLO-like with 15% negative weights: "
            "55% Z -> mu mu (with FSR), 45% Z -> tau tau -> mu mu, 30% electroweak "
            "(VBF-like) Zjj. 0.20 pb is an effective cross section standing in for a "
            "VBF-filtered sample (sigma(Z -> ll) ~ 2000 pb x a filter efficiency ~1e-4 that "
            "is not simulated), so that after the selection at 140 fb^-1 the backgrounds "
            "exceed the signal ~30 times."
        ),
        negative_weight_fraction=0.15,
    ),
    DemoProcess(
        name="ttbar",
        label="background",
        cross_section_pb=0.12,
        n_events=60_000,
        description=(
            "Dileptonic ttbar (W -> e/mu/tau nu, tau -> mu/e/hadrons) with two b jets, extra "
            "radiation and non-prompt b -> mu; 0.12 pb = sigma_tt 834 pb x BR(ll) 0.105 "
            "x an assumed, not simulated, VBF-filter efficiency 1.4e-3."
        ),
        negative_weight_fraction=0.0,
    ),
)


def demo_files(directory: str | os.PathLike[str], files_per_process: int) -> dict[str, list[Path]]:
    """Return process name -> the ROOT files :func:`make_demo` writes in ``directory``.

    Pure (no I/O): ``{directory}/{process}_{i}.root`` for ``i`` in ``0..files_per_process-1``.
    """
    if files_per_process < 1:
        msg = f"files_per_process must be at least 1, got {files_per_process}"
        raise ConfigError(msg)
    directory = Path(directory)
    return {
        p.name: [directory / f"{p.name}_{i}.root" for i in range(files_per_process)]
        for p in DEMO_PROCESSES
    }


def make_demo(
    directory: str | os.PathLike[str],
    *,
    n_events: int = 200_000,
    files_per_process: int = 3,
    seed: int = 42,
) -> dict[str, list[Path]]:
    """Write the demo ntuples into ``directory`` and return :func:`demo_files`' mapping.

    ``n_events`` is the total over all processes, split by their default shares and then
    evenly over ``files_per_process`` files each. The same ``seed`` gives identical files.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        msg = f"seed must be a non-negative integer, got {seed!r}"
        raise ConfigError(msg)
    import uproot  # here, not at the top: Snakefiles import this module for demo_files

    from hepml.demo.events import generate

    files = demo_files(directory, files_per_process)
    sizes = _events_per_file(n_events, files_per_process)
    check_outputs(files=[p for paths in files.values() for p in paths])  # a user's file stays
    for process in DEMO_PROCESSES:
        for index, path in enumerate(files[process.name]):
            rng = np.random.default_rng(_file_seed(seed, process.name, index))
            arrays = generate(process, rng, sizes[process.name][index], index)
            with atomic_path(path) as tmp, uproot.recreate(tmp) as out:
                # mktree, not out[name] = ...: since uproot 5.7 the latter writes an RNTuple.
                out.mktree(DEMO_TREE, arrays, title=f"hepml demo: {process.name}")
            log.info("wrote %d %s events to %s", len(arrays["event"]), process.name, path)
    return files


def _events_per_file(n_events: int, files_per_process: int) -> dict[str, list[int]]:
    """Split ``n_events`` over processes (by default share) and files (evenly)."""
    total = sum(p.n_events for p in DEMO_PROCESSES)
    sizes = {}
    for process in DEMO_PROCESSES:
        n_process = round(n_events * process.n_events / total)
        if n_process < files_per_process:
            msg = (
                f"n_events={n_events} gives {process.name} only {n_process} event(s) for "
                f"{files_per_process} file(s); ask for at least "
                f"{-(-files_per_process * total // process.n_events)} events in total"
            )
            raise ConfigError(msg)
        sizes[process.name] = [
            len(a) for a in np.array_split(np.empty(n_process), files_per_process)
        ]
    return sizes


def _file_seed(seed: int, process: str, index: int) -> np.random.SeedSequence:
    """Independent, stable random stream per (seed, process, file index)."""
    return np.random.SeedSequence([seed, zlib.crc32(process.encode()), index])

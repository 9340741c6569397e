"""hepml: signal/background classification for ROOT ntuples with uproot, XGBoost and Snakemake."""

from __future__ import annotations

__version__ = "0.1.0"

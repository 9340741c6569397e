"""Ingest: ntuples of one sample (TTree, RNTuple or Parquet) -> a flat feature table and a cutflow.

Reading (:mod:`~hepml.ingest.sources`, :mod:`~hepml.ingest.reading`), the expression language
(:mod:`~hepml.ingest.expressions`), the sample's plan, normalisation and cutflow.
"""

from __future__ import annotations

from hepml._lazy import lazy_exports

_EXPORTS = {
    "Expression": "hepml.ingest.expressions.language",
    "IngestResult": "hepml.ingest.sample",
    "check_config_files": "hepml.ingest.file_checks",
    "ingest_part": "hepml.ingest.partial",
    "ingest_sample": "hepml.ingest.sample",
    "merge_parts": "hepml.ingest.partial",
    "open_source": "hepml.ingest.sources",
    "parse_expression": "hepml.ingest.expressions.language",
    "resolve_files": "hepml.ingest.files",
    "summary_of": "hepml.ingest.sample",
    "write_cutflow": "hepml.ingest.cutflow",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

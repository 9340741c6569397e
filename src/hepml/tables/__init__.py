"""Tables: the Parquet tables (ingest feature tables, training score tables) read back, and
text tables (CSV, Markdown, LaTeX) written.
"""

from __future__ import annotations

from hepml._lazy import lazy_exports

_EXPORTS = {
    "Dataset": "hepml.tables.features",
    "ScoreFiles": "hepml.tables.scores",
    "load_dataset": "hepml.tables.features",
    "merge_tables": "hepml.tables.merge",
    "read_scores": "hepml.tables.features",
    "write_table": "hepml.tables.text",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

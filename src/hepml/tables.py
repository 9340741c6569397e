"""Write result tables as CSV (for machines) and Markdown (for humans), atomically.

Every table hepml writes goes through :func:`write_table`, so all tables look alike and none
is ever left half-written.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hepml.atomic import write_text

__all__ = ["format_value", "markdown_table", "write_table"]


def format_value(value: Any, precision: int = 4) -> str:
    """Format a cell: floats with ``precision`` significant digits, everything else as str."""
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.{precision}g}"
    return str(value)


def markdown_table(rows: Sequence[Mapping[str, Any]], *, precision: int = 4) -> str:
    """A GitHub-flavoured Markdown table of ``rows`` (columns from the first row)."""
    if not rows:
        return "(no rows)\n"
    columns = list(rows[0])
    lines = [
        "| " + " | ".join(columns) + " |",
        "| " + " | ".join("---" for _ in columns) + " |",
    ]
    lines += [
        "| " + " | ".join(format_value(r[c], precision) for c in columns) + " |" for r in rows
    ]
    return "\n".join(lines) + "\n"


def write_table(
    rows: Sequence[Mapping[str, Any]],
    csv_path: str | Path,
    markdown_path: str | Path | None = None,
    *,
    title: str = "",
    note: str = "",
) -> None:
    """Write ``rows`` to ``csv_path`` (full precision) and optionally to ``markdown_path``."""
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(
            {k: repr(v) if isinstance(v, float) else v for k, v in r.items()} for r in rows
        )
    write_text(csv_path, buffer.getvalue())
    if markdown_path is not None:
        parts = [
            f"# {title}\n" if title else "",
            markdown_table(rows),
            f"\n{note}\n" if note else "",
        ]
        write_text(markdown_path, "\n".join(p for p in parts if p))

"""Write result tables as CSV (for machines), Markdown (for humans) and LaTeX, atomically.

Every table hepml writes goes through :func:`write_table`, so all tables look alike and none
is ever left half-written.
"""

from __future__ import annotations

import csv
import io
import math
import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hepml.atomic import write_text

__all__ = ["format_value", "latex_table", "markdown_table", "write_table"]


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


# LaTeX's special characters in text mode and their escapes (applied one character at a time)
_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def _latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped, so it typesets as written."""
    return "".join(_LATEX_ESCAPES.get(char, char) for char in text)


def latex_table(rows: Sequence[Mapping[str, Any]], *, precision: int = 4, caption: str = "") -> str:
    """A booktabs ``tabular`` of ``rows`` (columns from the first row) for ``\\input``.

    Numbers are right-aligned, text left-aligned; every cell is escaped. ``caption`` goes into
    a comment line above the table (the paper sets its own caption). Needs ``\\usepackage
    {booktabs}``.
    """
    if not rows:
        return "% (no rows)\n"
    columns = list(rows[0])
    numeric = [
        all(isinstance(r[c], numbers.Real) and not isinstance(r[c], bool) for r in rows)
        for c in columns
    ]
    lines = [f"% {_latex_escape(caption)}"] if caption else []
    lines += [
        r"\begin{tabular}{" + "".join("r" if n else "l" for n in numeric) + "}",
        r"\toprule",
        " & ".join(_latex_escape(c) for c in columns) + r" \\",
        r"\midrule",
    ]
    lines += [
        " & ".join(_latex_escape(format_value(r[c], precision)) for c in columns) + r" \\"
        for r in rows
    ]
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def write_table(
    rows: Sequence[Mapping[str, Any]],
    csv_path: str | Path,
    markdown_path: str | Path | None = None,
    *,
    title: str = "",
    note: str = "",
    latex_path: str | Path | None = None,
) -> None:
    """Write ``rows`` to ``csv_path`` (full precision), optionally Markdown and LaTeX too.

    ``latex_path`` gets a booktabs ``tabular`` (see :func:`latex_table`) titled by ``title``.
    """
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
    if latex_path is not None:
        write_text(latex_path, latex_table(rows, caption=title))

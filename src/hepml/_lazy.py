"""Lazy package exports: a package names its entry points without importing them.

A stage package (``hepml.ingest``, ``hepml.train`` ...) lists its public functions in
``__all__``; they are imported from their modules on first use (PEP 562), so that importing
one light module of a package (``hepml.ingest.files`` for the workflow's plan) never pulls in
the heavy ones (uproot, XGBoost, matplotlib).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``, whose ``exports`` map name -> module."""

    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        msg = f"module {package!r} has no attribute {name!r}"
        raise AttributeError(msg)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__

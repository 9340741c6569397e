"""Events already in memory as an input source: an awkward array or a dict of arrays.

For :meth:`hepml.Models.predict <hepml.api.models.Models.predict>` in a notebook or a coffea
processor: the events are checked and read through the same interface as a file
(:class:`~hepml.ingest.sources.base.Source`), so the expressions, the branch checks and their
near-match errors are those of ingest. The flat names are those of a Parquet file
(:func:`~hepml.ingest.sources.base.columns_of`): a collection of records ``Jet`` with a field
``pt`` (NanoEvents' ``events.Jet.pt``) is ``Jet_pt``, its length per event ``nJet``; a record
``MET`` with a field ``pt`` is ``MET_pt``; a field already called ``Jet_pt`` keeps its name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import awkward as ak
import numpy as np

from hepml.exceptions import DataError
from hepml.ingest.files import InputFile
from hepml.ingest.sources.base import FieldSource

__all__ = ["ArraySource", "as_events"]


def as_events(events: Any) -> tuple[ak.Array, str]:
    """``events`` as one awkward record array, and what it was, in words, for messages.

    Takes an awkward record array (NanoEvents too) or a mapping of names to numpy or awkward
    arrays of equal length (jagged allowed). Raises :class:`TypeError` for anything else and
    :class:`DataError` for arrays of different lengths.
    """
    if isinstance(events, ak.Array):
        if not events.fields:
            msg = (
                "the awkward array has no fields: give a record array (events.Jet.pt, "
                f"events.MET_pt ...), not an array of type {events.type}"
            )
            raise TypeError(msg)
        return events, "awkward array"
    if isinstance(events, Mapping):
        if not events:
            msg = "the dict of arrays is empty: give the branches the features need"
            raise DataError(msg)
        lengths = {str(k): _length(k, v) for k, v in events.items()}
        if len(set(lengths.values())) > 1:
            listing = ", ".join(f"'{k}': {n}" for k, n in lengths.items())
            msg = f"the arrays of the dict differ in length (one entry per event): {listing}"
            raise DataError(msg)
        return ak.Array({str(k): v for k, v in events.items()}), "dict of arrays"
    msg = (
        f"events of type {type(events).__name__} cannot be scored: give an awkward record "
        "array, a dict of numpy or awkward arrays, or the path of a ROOT or Parquet file"
    )
    raise TypeError(msg)


def _length(name: Any, values: Any) -> int:
    if isinstance(values, ak.Array | np.ndarray):
        return len(values)
    msg = (
        f"entry '{name}' of the dict is a {type(values).__name__}: give numpy or awkward "
        "arrays, one entry per event"
    )
    raise TypeError(msg)


def _record_form(form: ak.forms.Form) -> ak.forms.Form:
    """The record form under an index (``events[mask]`` of a record array) or option."""
    while isinstance(form, ak.forms.IndexedForm) or form.is_option:
        form = form.content
    return form


class ArraySource(FieldSource):
    """Events in memory (see :func:`as_events`) as a source, read in one chunk."""

    kind, item = "arrays", "field"

    def __init__(self, events: Any, *, caller: str = "predict") -> None:
        arrays, what = as_events(events)
        super().__init__(InputFile(f"<{what}>", ""))
        self.arrays, self._what = arrays, f"the {what} passed to {caller}"
        self._set_columns(_record_form(arrays.layout.form))
        self.num_entries = len(arrays)

    @property
    def what(self) -> str:
        return self._what

    @property
    def where(self) -> str:
        return self._what

    def iterate(self, names, step_size):
        yield self.flat(self.arrays, list(names), 0), 0, self.num_entries

    def close(self) -> None:
        """Nothing to close: the arrays belong to the caller."""

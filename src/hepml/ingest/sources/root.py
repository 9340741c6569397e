"""ROOT input sources: a TTree or an RNTuple of an open ROOT file (uproot)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hepml.ingest.sources.base import Column, FieldSource, Source

if TYPE_CHECKING:
    import uproot

    from hepml.ingest.reading import InputFile

__all__ = ["RNTupleSource", "TTreeSource"]


class TTreeSource(Source):
    """A ROOT TTree, read with ``TTree.iterate``; names are its branches (recursively)."""

    kind, item = "TTree", "branch"

    def __init__(self, file: InputFile, tree: uproot.TTree) -> None:
        super().__init__(file)
        self.tree, self.root_file = tree, tree.file
        self.names = frozenset(tree.keys(recursive=True))
        self.num_entries = int(tree.num_entries)

    def column(self, name: str) -> Column:
        branch = self.tree[name]
        try:
            interpretation = branch.interpretation
        except Exception:  # uproot.interpretation.identify.UnknownInterpretation etc.
            interpretation = None
        dtype, depth = _numbers_of(interpretation)
        return Column(name, branch.typename, dtype, depth)

    def iterate(self, names, step_size, entry_start=0):
        wanted = frozenset(names)
        chunks = self.tree.iterate(
            filter_name=lambda name: name in wanted,
            entry_start=entry_start,
            step_size=step_size,
            library="ak",
            report=True,
        )
        for arrays, report in chunks:
            yield arrays, report.tree_entry_start, report.tree_entry_stop

    def close(self) -> None:
        self.root_file.close()


def _numbers_of(interpretation) -> tuple[np.dtype | None, int]:
    """(number type, list depth) of a TBranch interpretation; None for non-numbers."""
    from uproot.interpretation.jagged import AsJagged
    from uproot.interpretation.numerical import Numerical

    depth = 0
    if isinstance(interpretation, AsJagged):
        interpretation, depth = interpretation.content, 1
    if not isinstance(interpretation, Numerical):
        return None, depth
    dtype = getattr(interpretation, "to_dtype", None)
    dtype = np.dtype(np.float64) if dtype is None else np.dtype(dtype)
    return dtype.base, depth + len(dtype.shape)  # float[3]: a list of 3 per event


class RNTupleSource(FieldSource):
    """A ROOT RNTuple, read with ``RNTuple.iterate``; record fields appear as flat names."""

    kind, item = "RNTuple", "field"

    def __init__(self, file: InputFile, ntuple) -> None:
        super().__init__(file)
        self.ntuple, self.root_file = ntuple, ntuple.file
        form, _ = ntuple.to_akform()
        self._set_columns(form)
        self.num_entries = int(ntuple.num_entries)

    @property
    def what(self) -> str:
        return f"RNTuple '{self.file.tree}'"

    def iterate(self, names, step_size, entry_start=0):
        names = list(names)
        wanted = {".".join(self.columns[n].path) for n in names}
        chunks = self.ntuple.iterate(
            filter_name=lambda name: name in wanted,
            entry_start=entry_start,
            step_size=step_size,
            library="ak",
            report=True,
        )
        for arrays, report in chunks:
            start, stop = report.tree_entry_start, report.tree_entry_stop
            yield self.flat(arrays, names, start), start, stop

    def close(self) -> None:
        self.root_file.close()

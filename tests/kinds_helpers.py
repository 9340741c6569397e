"""The same arrays written as a TTree, an RNTuple and Parquet files."""

from __future__ import annotations

import awkward as ak
import uproot


def write_other_kinds(directory, name: str, arrays: dict, tree: str = "events") -> None:
    """The events of ``arrays`` (records included) as an RNTuple and as a Parquet file.

    Parquet row groups of 400 rows, so that reading crosses row groups mid-chunk.
    """
    events = ak.Array(arrays)
    for kind in ("rntuple", "parquet"):
        (directory / kind).mkdir(parents=True, exist_ok=True)
    with uproot.recreate(directory / "rntuple" / f"{name}.root") as f:
        f.mkrntuple(tree, events)
    ak.to_parquet(events, directory / "parquet" / f"{name}.parquet", row_group_size=400)

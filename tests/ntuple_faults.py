"""Helpers for the bad-input tests: small multi-basket ntuples and ways to damage ROOT files."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import awkward as ak
import numpy as np
import uproot


def write_baskets(
    path: Path, baskets: int = 3, per_basket: int = 400, *, seed: int = 0, first_event: int = 0
) -> dict[str, np.ndarray]:
    """An ntuple written in ``baskets`` extends (one basket per branch each); its flat arrays.

    Branches: ``event`` (uint64), ``genWeight`` (+-1, float32), ``MET_pt`` (float32, GeV, in
    steps of 0.25),
    ``Jet_pt`` (jagged float32, 0-3 jets), ``nJet``.
    """
    rng = np.random.default_rng(seed)
    columns: dict[str, list] = {"event": [], "genWeight": [], "MET_pt": [], "n_jets": []}
    with uproot.recreate(path) as out:
        for i in range(baskets):
            start = first_event + i * per_basket
            n_jets = rng.integers(0, 4, per_basket)
            arrays = {
                "event": np.arange(start, start + per_basket, dtype=np.uint64),
                "genWeight": np.where(rng.random(per_basket) < 0.2, -1.0, 1.0).astype(np.float32),
                # in steps of 1/4 GeV, so that baskets compress (corrupt_basket needs that)
                "MET_pt": (np.round(rng.exponential(160.0, per_basket)) / 4).astype(np.float32),
                "Jet": ak.zip(
                    {
                        "pt": ak.unflatten(
                            rng.exponential(30, n_jets.sum()).astype(np.float32), n_jets
                        )
                    }
                ),
            }
            if i == 0:
                out.mktree("events", arrays)
            else:
                out["events"].extend(arrays)
            for key in ("event", "genWeight", "MET_pt"):
                columns[key].append(arrays[key])
            columns["n_jets"].append(n_jets)
    return {k: np.concatenate(v) for k, v in columns.items()}


def corrupt_basket(path: Path, branch: str, basket: int, tree: str = "events") -> None:
    """Overwrite the compression header of one basket of ``branch``, so reading it fails."""
    with uproot.open(path) as handle:
        member = handle[tree][branch]
        seek = int(member.member("fBasketSeek")[basket])
    data = bytearray(path.read_bytes())
    key_length = struct.unpack(">H", data[seek + 14 : seek + 16])[0]
    header = bytes(data[seek + key_length : seek + key_length + 2])
    assert header in (b"ZL", b"L4", b"ZS", b"XZ", b"CS"), "basket stored uncompressed"
    data[seek + key_length : seek + key_length + 2] = b"??"
    path.write_bytes(bytes(data))


def damaged_copy(source: Path, target: Path, rng: random.Random) -> str:
    """Write a truncated, bit-flipped or heavily bit-flipped copy of ``source``; say which."""
    data = bytearray(source.read_bytes())
    mode = rng.choice(["truncated", "one bit flipped", "50 bits flipped"])
    if mode == "truncated":
        data = data[: rng.randrange(len(data))]
    else:
        for _ in range(1 if mode == "one bit flipped" else 50):
            position = rng.randrange(len(data))
            data[position] ^= 1 << rng.randrange(8)
    target.write_bytes(bytes(data))
    return mode

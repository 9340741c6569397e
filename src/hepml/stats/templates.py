"""Binned classifier-score templates per process and variation: the input of every fit output.

A :class:`Templates` holds, for one channel (one fitted score distribution), per process and
per variation the sum of weights (expected events) and the sum of squared weights (its Monte
Carlo variance) in each bin of the score. Variations are named ``nominal`` and
``<syst>Up`` / ``<syst>Down``: a *shape* variation gives other scores to the same events (e.g.
jet energy scale shifted branches), a *weight* variation gives other weights (e.g.
``puWeightUp``). Both end up as one up/down pair of templates.

Templates are filled from per-event arrays (:func:`hepml.stats.fill.fill_templates`) and saved
as versioned JSON
(:func:`write_templates`, :func:`read_templates`), so the fit inputs can be remade without
rescoring. No pyhf, ROOT or matplotlib here.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from hepml.atomic import write_json
from hepml.exceptions import DataError, did_you_mean
from hepml.stats.jsonfile import check_format, read_json_file

__all__ = [
    "NOMINAL",
    "ROLES",
    "TEMPLATES_FORMAT",
    "Templates",
    "check_edges",
    "check_name",
    "read_templates",
    "split_variation",
    "write_templates",
]

log = logging.getLogger(__name__)

NOMINAL = "nominal"
ROLES = ("signal", "background", "data")
TEMPLATES_FORMAT = "hepml-templates-1"
DIRECTIONS = ("Up", "Down")
# names end up in ROOT paths, datacard columns and XML attributes: keep them plain
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")


def check_name(kind: str, name: str) -> str:
    """Return ``name`` if it is usable as a ROOT key, datacard column and XML attribute."""
    if not isinstance(name, str) or not _NAME.match(name) or name == "data_obs":
        msg = (
            f"{kind} name {name!r} is not allowed: use letters, digits and _ . + - "
            "(no spaces or '/'; 'data_obs' is reserved for the data histogram)"
        )
        raise DataError(msg)
    return name


def check_edges(edges: ArrayLike, what: str = "the histogram") -> np.ndarray:
    """``edges`` as a float array if they are finite and strictly increasing (>= 2 of them)."""
    edges = np.asarray(edges, dtype=float).ravel()
    if edges.size < 2 or not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
        msg = f"bin edges of {what} must increase strictly: {edges}"
        raise DataError(msg)
    return edges


def split_variation(variation: str) -> tuple[str, str]:
    """``'jesUp'`` -> ``('jes', 'Up')``; a name without Up/Down suffix is an error."""
    for direction in DIRECTIONS:
        if variation.endswith(direction) and len(variation) > len(direction):
            return variation[: -len(direction)], direction
    msg = f"variation '{variation}' must be '{NOMINAL}' or end in 'Up' or 'Down' (e.g. 'jesUp')"
    raise DataError(msg)


@dataclasses.dataclass(frozen=True, eq=False)
class Templates:
    """Score histograms of one ``channel``: ``sumw[process][variation]`` and ``sumw2[...]``.

    ``roles`` maps each process, in drawing/datacard order, to ``signal``, ``background`` or
    ``data`` (at most one data process, with only the nominal). ``edges`` are the bin edges
    of the score (bins ``[lo, hi)``, the last one closed). A process without a systematic's
    Up/Down templates is not affected by it.
    """

    channel: str
    edges: np.ndarray
    roles: Mapping[str, str]
    sumw: Mapping[str, Mapping[str, np.ndarray]]
    sumw2: Mapping[str, Mapping[str, np.ndarray]]

    def __post_init__(self) -> None:
        check_name("channel", self.channel)
        object.__setattr__(self, "edges", check_edges(self.edges, f"channel '{self.channel}'"))
        object.__setattr__(self, "roles", dict(self.roles))
        for process, role in self.roles.items():
            check_name("process", process)
            if role not in ROLES:
                msg = f"process '{process}' has role '{role}'; valid: {', '.join(ROLES)}"
                raise DataError(msg)
        if sum(role == "data" for role in self.roles.values()) > 1:
            msg = f"channel '{self.channel}' has more than one data process: {self.data_names}"
            raise DataError(msg)
        for name in ("sumw", "sumw2"):
            object.__setattr__(self, name, self._checked_arrays(name, getattr(self, name)))

    def _checked_arrays(self, name: str, table: Mapping[str, Mapping[str, ArrayLike]]) -> dict:
        extra = set(table) - set(self.roles)
        if extra:
            process = sorted(extra)[0]
            msg = (
                f"{name} of channel '{self.channel}' has process '{process}' without a role."
                f"{did_you_mean(process, self.roles)}"
            )
            raise DataError(msg)
        checked: dict[str, dict[str, np.ndarray]] = {}
        for process in self.roles:
            variations = table.get(process, {})
            if NOMINAL not in variations:
                msg = f"{name} of process '{process}' in '{self.channel}' has no '{NOMINAL}'"
                raise DataError(msg)
            checked[process] = {}
            for variation, values in variations.items():
                array = np.asarray(values, dtype=float).ravel()
                where = f"{name} of '{process}', variation '{variation}', channel '{self.channel}'"
                if array.size != self.n_bins:
                    msg = f"{where} has {array.size} bins; the edges make {self.n_bins}"
                    raise DataError(msg)
                if not np.all(np.isfinite(array)):
                    msg = f"{where} has NaN or inf bins: {array}"
                    raise DataError(msg)
                checked[process][variation] = array
            self._check_variation_names(process, checked[process])
        return checked

    def _check_variation_names(self, process: str, variations: Collection[str]) -> None:
        if self.roles[process] == "data" and set(variations) != {NOMINAL}:
            msg = f"data process '{process}' has variations {sorted(variations)}; data has none"
            raise DataError(msg)
        for variation in variations:
            if variation == NOMINAL:
                continue
            syst, direction = split_variation(variation)
            check_name("systematic", syst)
            partner = syst + ("Down" if direction == "Up" else "Up")
            if partner not in variations:
                msg = (
                    f"process '{process}' in '{self.channel}' has '{variation}' but not "
                    f"'{partner}'; every systematic needs both"
                )
                raise DataError(msg)

    @property
    def n_bins(self) -> int:
        """Number of score bins."""
        return self.edges.size - 1

    @property
    def processes(self) -> list[str]:
        """All process names in order."""
        return list(self.roles)

    def names_with_role(self, role: str) -> list[str]:
        """The processes of one role, in order."""
        return [process for process, r in self.roles.items() if r == role]

    @property
    def signal_names(self) -> list[str]:
        return self.names_with_role("signal")

    @property
    def background_names(self) -> list[str]:
        return self.names_with_role("background")

    @property
    def data_names(self) -> list[str]:
        return self.names_with_role("data")

    @property
    def simulated_names(self) -> list[str]:
        """Signal and background processes (everything but data), in order."""
        return [p for p in self.roles if self.roles[p] != "data"]

    def systematics_of(self, process: str) -> list[str]:
        """Names of the up/down systematics that affect ``process``, sorted."""
        return sorted({split_variation(v)[0] for v in self.sumw[process] if v != NOMINAL})

    @property
    def systematics(self) -> list[str]:
        """Names of all up/down systematics in the channel, sorted."""
        return sorted({s for p in self.roles for s in self.systematics_of(p)})

    def total(self, role: str, variation: str = NOMINAL) -> tuple[np.ndarray, np.ndarray]:
        """Summed ``(sumw, sumw2)`` of all processes of ``role`` (nominal where a process
        lacks ``variation``)."""
        sumw, sumw2 = np.zeros(self.n_bins), np.zeros(self.n_bins)
        for process in self.names_with_role(role):
            key = variation if variation in self.sumw[process] else NOMINAL
            sumw += self.sumw[process][key]
            sumw2 += self.sumw2[process][key]
        return sumw, sumw2

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data with a ``format`` tag (read back by :meth:`from_dict`)."""
        return {
            "format": TEMPLATES_FORMAT,
            "channel": self.channel,
            "edges": self.edges.tolist(),
            "processes": [{"name": p, "role": r} for p, r in self.roles.items()],
            "sumw": {p: {v: a.tolist() for v, a in t.items()} for p, t in self.sumw.items()},
            "sumw2": {p: {v: a.tolist() for v, a in t.items()} for p, t in self.sumw2.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Templates:
        """Inverse of :meth:`to_dict`; a missing or other ``format`` is a DataError."""
        check_format(data, TEMPLATES_FORMAT, "hepml templates")
        try:
            roles = {entry["name"]: entry["role"] for entry in data["processes"]}
            return cls(data["channel"], data["edges"], roles, data["sumw"], data["sumw2"])
        except (KeyError, TypeError) as err:
            msg = f"templates are missing the entry {err}"
            raise DataError(msg) from err


def write_templates(path: str | os.PathLike[str], templates: Templates) -> None:
    """Write ``templates`` as JSON to ``path`` atomically."""
    write_json(path, templates.to_dict())


def read_templates(path: str | os.PathLike[str]) -> Templates:
    """Read templates written by :func:`write_templates`; errors name the file."""
    return read_json_file(path, "templates", Templates.from_dict)

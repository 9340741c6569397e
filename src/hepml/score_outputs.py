"""What one fold model's prediction becomes: the score and its companions, as named columns.

A binary BDT predicts one number per event, the score. A multiclass model predicts K class
outputs (``multi:softprob``: they sum to 1), and its score is a *discriminant* made of them:

- ``signal_probability``: ``P(s)``, the sum of the signal classes' outputs;
- ``likelihood_ratio``: ``P(s) / (P(s) + sum_i w_i P(b_i))`` over the background classes i.
  Trained on balanced classes, the outputs are posteriors under the *training* priors pi;
  with ``w_i = (pi_s / pi_i) (Y_i / Y_B)`` (Y: expected yields) the ratio is
  ``f_s / (f_s + f_B)``, the likelihood ratio of the signal against the expected background
  mix. With every ``w_i = 1`` it equals ``P(s)``.

Calibration (:mod:`hepml.calibration` fits it on each fold model's validation fold) adds
transforms of the score: ``isotonic`` and ``platt`` (the probability of signal under the
calibration's prior) and ``rarity`` (TMVA's: the background's cumulative distribution of the
score, flat for background).

Each output has a *suffix*: ``""`` for the score, ``_p_<class>`` for a class output,
``_isotonic``, ``_platt``, ``_rarity``. Score tables name a column ``score`` + suffix, friend
trees a branch ``apply.branch`` + suffix. :class:`ScoreOutputs` is recorded in each model's
``metadata.json`` (``outputs``) and in the export manifest, as plain JSON numbers, so that
apply, export and ``hepml score`` reproduce every column bit for bit. Pure numpy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit

from hepml.exceptions import DataError

__all__ = [
    "CALIBRATION_SUFFIXES",
    "LOGIT_EPSILON",
    "ScoreOutputs",
    "class_suffix",
    "discriminant",
    "logit",
]

CALIBRATION_SUFFIXES = {"isotonic": "_isotonic", "platt": "_platt", "rarity": "_rarity"}
LOGIT_EPSILON = 1e-12  # scores are clipped to [eps, 1 - eps] before their log-odds


def class_suffix(name: str) -> str:
    """The suffix of the output of class ``name`` (``_p_<name>``)."""
    return f"_p_{name}"


def logit(score: np.ndarray) -> np.ndarray:
    """The log-odds ``ln(s / (1 - s))`` of scores in [0, 1] (clipped away from 0 and 1)."""
    s = np.clip(np.asarray(score, dtype=np.float64), LOGIT_EPSILON, 1.0 - LOGIT_EPSILON)
    return np.log(s) - np.log1p(-s)


def discriminant(
    probabilities: np.ndarray, signal: Sequence[int], weights: Sequence[float], kind: str
) -> np.ndarray:
    """The discriminant of K class outputs (rows of ``probabilities``), as float64.

    ``signal`` holds the indices of the signal classes; ``weights`` one w_i per class (those
    of the signal classes are ignored).
    """
    p = np.asarray(probabilities, dtype=np.float64)
    is_signal = np.zeros(p.shape[1], dtype=bool)
    is_signal[list(signal)] = True
    p_signal = p[:, is_signal].sum(axis=1)
    if kind == "signal_probability":
        return p_signal
    if kind != "likelihood_ratio":
        msg = f"unknown discriminant '{kind}' (signal_probability or likelihood_ratio)"
        raise ValueError(msg)
    w = np.asarray(weights, dtype=np.float64)[~is_signal]
    denominator = p_signal + p[:, ~is_signal] @ w
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, p_signal / denominator, 0.0)


@dataclass(frozen=True)
class ScoreOutputs:
    """The outputs of one fold model (see the module docstring).

    ``classes`` are the class names in output order (empty for a binary model), ``signal``
    the indices of the signal classes, ``weights`` the w_i of the likelihood ratio per class.
    ``isotonic`` holds the knots (x, y) of the isotonic fit, ``platt`` its (slope, intercept)
    on the log-odds, ``rarity`` the knots (x, cdf) of the background's distribution.
    """

    classes: tuple[str, ...] = ()
    signal: tuple[int, ...] = ()
    kind: str = "signal_probability"
    weights: tuple[float, ...] = ()
    isotonic: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    platt: tuple[float, float] | None = None
    rarity: tuple[tuple[float, ...], tuple[float, ...]] | None = None

    @property
    def plain(self) -> bool:
        """True for a binary model without calibration: the score is the prediction."""
        return not self.classes and not self.calibrations

    @property
    def calibrations(self) -> list[str]:
        """The calibrated outputs present, in the order of :data:`CALIBRATION_SUFFIXES`."""
        return [m for m in CALIBRATION_SUFFIXES if getattr(self, m) is not None]

    def suffixes(self) -> list[str]:
        """Every output's suffix, the score's (``""``) first."""
        return [
            "",
            *(class_suffix(c) for c in self.classes),
            *(CALIBRATION_SUFFIXES[m] for m in self.calibrations),
        ]

    def columns(self, prediction: np.ndarray) -> dict[str, np.ndarray]:
        """Suffix -> values (float64) of every output, from the booster's ``prediction``:
        one value per event (binary) or a row of K class outputs (multiclass)."""
        raw = np.asarray(prediction)
        if self.classes:
            if raw.ndim != 2 or raw.shape[1] != len(self.classes):
                msg = (
                    f"a multiclass model of {len(self.classes)} classes predicted an array of "
                    f"shape {raw.shape}: the model and its metadata do not belong together"
                )
                raise DataError(msg)
            out = {"": discriminant(raw, self.signal, self.weights, self.kind)}
            for i, name in enumerate(self.classes):
                out[class_suffix(name)] = raw[:, i].astype(np.float64)
        else:
            out = {"": raw.astype(np.float64)}
        return out | self.calibrated(out[""])

    def calibrated(self, score: np.ndarray) -> dict[str, np.ndarray]:
        """Suffix -> values of the calibrated outputs and the rarity of ``score``."""
        out = {}
        if self.isotonic is not None:
            out["_isotonic"] = np.interp(score, *self.isotonic)
        if self.platt is not None:
            slope, intercept = self.platt
            out["_platt"] = expit(slope * logit(score) + intercept)
        if self.rarity is not None:
            out["_rarity"] = np.interp(score, *self.rarity)
        return out

    def record(self) -> dict[str, Any]:
        """The JSON record (``metadata.json`` ``outputs``, the manifest's), with its meaning."""
        record: dict[str, Any] = {"score": _meaning(self)}
        if self.classes:
            record["classes"] = list(self.classes)
            record["signal_classes"] = [self.classes[i] for i in self.signal]
            record["discriminant"] = self.kind
            record["background_weights"] = {
                c: w for i, (c, w) in enumerate(zip(self.classes, self.weights, strict=True))
                if i not in self.signal
            }  # fmt: skip
        if self.isotonic is not None:
            record["isotonic"] = {"x": list(self.isotonic[0]), "y": list(self.isotonic[1])}
        if self.platt is not None:
            record["platt"] = {"slope": self.platt[0], "intercept": self.platt[1]}
        if self.rarity is not None:
            record["rarity"] = {"x": list(self.rarity[0]), "cdf": list(self.rarity[1])}
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any] | None) -> ScoreOutputs:
        """The inverse of :meth:`record` (a plain binary model for None)."""
        if not record:
            return cls()
        classes = tuple(record.get("classes", ()))
        signal = tuple(classes.index(c) for c in record.get("signal_classes", ()))
        weights = record.get("background_weights", {})
        return cls(
            classes=classes,
            signal=signal,
            kind=record.get("discriminant", "signal_probability"),
            weights=tuple(float(weights.get(c, 0.0)) for c in classes),
            isotonic=_pair(record.get("isotonic"), "x", "y"),
            platt=(
                (float(record["platt"]["slope"]), float(record["platt"]["intercept"]))
                if "platt" in record
                else None
            ),
            rarity=_pair(record.get("rarity"), "x", "cdf"),
        )


def _pair(spec: Mapping[str, Any] | None, a: str, b: str):
    if spec is None:
        return None
    return tuple(map(float, spec[a])), tuple(map(float, spec[b]))


def _meaning(outputs: ScoreOutputs) -> str:
    """What the score is, in words (the manifest's and metadata's ``score``)."""
    if not outputs.classes:
        return (
            "the BDT output in [0, 1] (binary:logistic): it orders events by signal-likeness; "
            "trained on balanced classes it is not the probability of signal (see the calibrated "
            "outputs for that)"
        )
    signal = " + ".join(f"P({outputs.classes[i]})" for i in outputs.signal)
    if outputs.kind == "signal_probability":
        return f"{signal}: the sum of the signal classes' outputs (multi:softprob)"
    return f"P(s) / (P(s) + sum_i w_i P(b_i)) with P(s) = {signal} (likelihood ratio)"

"""Expected discovery significance and expected CLs upper limits on mu, with pyhf.

Both use the asymptotic formulae (Cowan, Cranmer, Gross, Vitells, Eur. Phys. J. C 71 (2011)
1554) on Asimov data built from the model with every nuisance parameter at its nominal value,
and pyhf's likelihood, fits and conventions:

- significance: ``q0`` on the Asimov data of mu = 1; ``Z = sqrt(q0)``, ``p0 = norm.sf(Z)``:
  what ``pyhf.infer.hypotest(0, data, model, test_stat="q0")`` gives with
  ``Z = norm.isf(p0)``, without the underflow of p0 at large Z;
- upper limits: ``qtilde_mu`` on the background-only Asimov data, and the mu where the
  expected CLs of pyhf's ``AsymptoticCalculator`` (median, +-1 and +-2 sigma) falls to
  ``1 - cl``: what ``pyhf.infer.intervals.upper_limits.upper_limit`` gives as expected
  limits.

Why not call those pyhf functions directly: on Asimov data the unconditional fit is known
(the generating parameters) and the "observed" and Asimov test statistics coincide, so one
conditional fit per tested mu suffices where ``hypotest`` runs five. With a few dozen
staterror parameters (numerical gradients) this is 5-15 times faster; the tests check the
numbers against ``hypotest``/``upper_limit``.

Each is computed per *variant* of the model (:data:`VARIANTS`): ``stat_only`` keeps only mu
(the Poisson fluctuations of the data alone; no MC statistics either), ``mc_stat`` adds the
``staterror`` parameters, ``all_systematics`` is the full model. pyhf runs on its numpy
backend with the scipy optimizer (deterministic); the global pyhf backend is restored after.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pyhf
from scipy import optimize, stats

from hepml.exceptions import ConfigError, DataError
from hepml.stats.workspace import MODIFIER_TYPES, reduced_workspace, validate_workspace

__all__ = [
    "VARIANTS",
    "ExpectedResult",
    "FitYields",
    "asimov_data",
    "expected_limits",
    "expected_results",
    "expected_significance",
    "fitted_yields",
    "numpy_backend",
]

log = logging.getLogger(__name__)

# variant -> (modifier types kept besides the POI, label for tables)
VARIANTS: dict[str, tuple[tuple[str, ...], str]] = {
    "stat_only": ((), "Stat. only"),
    "mc_stat": (("staterror",), "Stat. + MC stat."),
    "all_systematics": (MODIFIER_TYPES, "All systematics"),
}
_POI_CAP = 1.0e4  # largest signal strength the limit search may reach
_BAND_NAMES = ("minus_2sigma", "minus_1sigma", "median", "plus_1sigma", "plus_2sigma")


@contextlib.contextmanager
def numpy_backend() -> Iterator[None]:
    """Run pyhf on numpy with the scipy optimizer inside the block; restore the old backend."""
    tensorlib, optimizer = pyhf.get_backend()
    pyhf.set_backend("numpy", pyhf.optimize.scipy_optimizer())
    try:
        yield
    finally:
        pyhf.set_backend(tensorlib, optimizer)


def asimov_data(model: pyhf.pdf.Model, mu: float) -> np.ndarray:
    """Expected main and auxiliary data of ``model`` at ``mu``, nuisance parameters nominal."""
    parameters = np.asarray(model.config.suggested_init(), dtype=float)
    parameters[model.config.poi_index] = mu
    return np.asarray(model.expected_data(parameters), dtype=float)


def _check_fittable(model: pyhf.pdf.Model) -> None:
    """A clear error for what would make the fits fail: empty background bins, no signal."""
    background = asimov_data(model, 0.0)[: model.config.nmaindata]
    with_signal = asimov_data(model, 1.0)[: model.config.nmaindata]
    for channel, bins in model.config.channel_slices.items():
        empty = np.flatnonzero(~(background[bins] > 0))
        if empty.size:
            msg = (
                f"bin {empty[0]} of channel '{channel}' has an expected background of "
                f"{background[bins][empty[0]]:g}; the fit needs every bin positive"
            )
            raise DataError(msg)
    if not np.sum(with_signal - background) > 0:
        added = np.sum(with_signal - background)
        msg = f"the signal adds {added:g} events at mu = 1: there is no signal to test"
        raise DataError(msg)


def _model(spec: Mapping[str, Any]) -> pyhf.pdf.Model:
    model = validate_workspace(spec).model()
    _check_fittable(model)
    return model


def _twice_nll(model: pyhf.pdf.Model, data: np.ndarray, parameters: np.ndarray) -> float:
    return float(np.asarray(pyhf.infer.mle.twice_nll(parameters, data, model)).ravel()[0])


class _Profile:
    """``-2 ln lambda(mu)`` on Asimov data, by conditional fits warm-started from the nearest
    mu already fitted. The unconditional minimum needs no fit: the Asimov data are the
    expectation at the generating parameters, where every Poisson and constraint term of the
    likelihood is at its maximum."""

    def __init__(self, model: pyhf.pdf.Model, mu_asimov: float) -> None:
        self.model = model
        self.data = asimov_data(model, mu_asimov)
        generating = np.asarray(model.config.suggested_init(), dtype=float)
        generating[model.config.poi_index] = mu_asimov
        self.minimum = _twice_nll(model, self.data, generating)
        # every tested mu must lie inside the POI's bounds: from 0 up to the search's cap
        bounds = [tuple(b) for b in model.config.suggested_bounds()]
        low, high = bounds[model.config.poi_index]
        bounds[model.config.poi_index] = (min(low, 0.0), max(high, _POI_CAP))
        self.bounds = bounds
        self.fitted: dict[float, np.ndarray] = {mu_asimov: generating}
        self.values: dict[float, float] = {mu_asimov: 0.0}

    def __call__(self, mu: float) -> float:
        """``-2 ln lambda(mu)`` (clipped at 0 against the fits' tolerance)."""
        mu = float(mu)
        if mu not in self.values:
            nearest = min(self.fitted, key=lambda m: abs(m - mu))
            start = self.fitted[nearest].copy()
            start[self.model.config.poi_index] = mu
            try:
                best, value = pyhf.infer.mle.fixed_poi_fit(
                    mu,
                    self.data,
                    self.model,
                    init_pars=start.tolist(),
                    par_bounds=self.bounds,
                    fixed_params=self.model.config.suggested_fixed(),
                    return_fitted_val=True,
                )
            except pyhf.exceptions.FailedMinimization as err:
                msg = f"the fit with mu fixed at {mu:g} failed: {err}"
                raise DataError(msg) from err
            self.fitted[mu] = np.asarray(best, dtype=float)
            self.values[mu] = max(float(np.asarray(value).ravel()[0]) - self.minimum, 0.0)
        return self.values[mu]


def expected_significance(spec: Mapping[str, Any]) -> tuple[float, float]:
    """``(Z, p0)``: expected discovery significance and p-value of the workspace ``spec``.

    ``q0`` on the Asimov data of mu = 1; ``Z = sqrt(q0)``, ``p0 = norm.sf(Z)``.
    """
    with numpy_backend():
        profile = _Profile(_model(spec), 1.0)
        z = math.sqrt(profile(0.0))
    return z, float(stats.norm.sf(z))


def _target_sqrt_q(n_sigma: float, level: float) -> float:
    """The ``sqrt(qtilde_A)`` where pyhf's asymptotic expected CLs (``calc_base_dist=
    'normal'``) at ``n_sigma`` equals ``level``: ``CLs = Phi(-(n + s)) / Phi(-n)``, solved
    for ``s``. Always positive for ``level < 1``."""
    return float(-n_sigma - stats.norm.ppf(level * stats.norm.cdf(-n_sigma)))


def _limit(profile: _Profile, target: float, rtol: float) -> float:
    """The mu where ``sqrt(qtilde_A(mu))`` reaches ``target``.

    ``sqrt(qtilde_A)`` rises smoothly from 0 at mu = 0, so secant steps through the two
    fitted points nearest the target converge in a few fits. Should they not, TOMS 748
    finishes in the bracket of the fitted points.
    """

    def gap(mu: float) -> float:
        return math.sqrt(profile(mu)) - target

    for _ in range(12):
        nearest = sorted(profile.values, key=lambda m: abs(gap(m)))[:2]
        (mu_a, gap_a), (mu_b, gap_b) = ((m, gap(m)) for m in nearest)
        if gap_a == gap_b:
            break
        step = mu_a - gap_a * (mu_b - mu_a) / (gap_b - gap_a)
        if not 0 < step <= _POI_CAP:
            break
        if abs(step - mu_a) <= rtol * step:
            return step
        gap(step)
    above = [m for m in profile.values if gap(m) > 0]
    if not above:
        if gap(_POI_CAP) <= 0:
            msg = f"the expected limit lies above mu = {_POI_CAP:g}: the signal is too small"
            raise DataError(msg)
        above = [_POI_CAP]
    high = min(above)
    low = max(m for m in profile.values if gap(m) < 0 and m < high)  # mu = 0 is one
    return float(optimize.toms748(gap, low, high, k=2, rtol=rtol))


def expected_limits(
    spec: Mapping[str, Any], *, cl: float = 0.95, rtol: float = 1e-4
) -> tuple[float, ...]:
    """Expected CLs upper limits on mu at ``cl``: the (-2, -1, 0, +1, +2) sigma band.

    ``qtilde_mu`` on the background-only Asimov data; the band uses pyhf's asymptotic
    formulae (the expected CLs at the -2...+2 sigma quantiles of the background-only
    distribution), each limit found to relative precision ``rtol``.
    """
    if not 0 < cl < 1:
        msg = f"the confidence level must be in (0, 1); got {cl}"
        raise ConfigError(msg)
    with numpy_backend():
        profile = _Profile(_model(spec), 0.0)
        profile(1.0)  # the nominal signal: the scale of the first guess
        # pyhf's band order: n_sigma = 2 (the -2 sigma limit) ... -2 (the +2 sigma limit)
        targets = [_target_sqrt_q(n, 1 - cl) for n in (2, 1, 0, -1, -2)]
        return tuple(_limit(profile, target, rtol) for target in targets)


@dataclasses.dataclass(frozen=True)
class ExpectedResult:
    """Expected results of one variant: discovery ``significance`` (Z) and ``p_value``, and
    the expected upper limits on mu at ``cl`` (``limit_band``: -2, -1, 0, +1, +2 sigma)."""

    variant: str
    significance: float
    p_value: float
    limit_band: tuple[float, ...]
    cl: float = 0.95

    @property
    def label(self) -> str:
        return VARIANTS[self.variant][1] if self.variant in VARIANTS else self.variant

    @property
    def median_limit(self) -> float:
        return self.limit_band[2]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready numbers (with the band's named members)."""
        return {
            "variant": self.variant,
            "label": self.label,
            "significance": self.significance,
            "p_value": self.p_value,
            "cl": self.cl,
            "limit": dict(zip(_BAND_NAMES, self.limit_band, strict=True)),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExpectedResult:
        """Inverse of :meth:`as_dict`."""
        band = tuple(float(data["limit"][name]) for name in _BAND_NAMES)
        return cls(data["variant"], data["significance"], data["p_value"], band, data["cl"])


def expected_results(
    spec: Mapping[str, Any],
    *,
    variants: Sequence[str] = ("stat_only", "all_systematics"),
    cl: float = 0.95,
    rtol: float = 1e-4,
) -> list[ExpectedResult]:
    """Significance and limits of ``spec`` for each variant (see :data:`VARIANTS`)."""
    results = []
    types = {m["type"] for c in spec["channels"] for s in c["samples"] for m in s["modifiers"]}
    for variant in variants:
        if variant not in VARIANTS:
            msg = (
                f"unknown variant '{variant}' of the expected results; valid: {', '.join(VARIANTS)}"
            )
            raise ConfigError(msg)
        reduced = reduced_workspace(spec, keep=set(VARIANTS[variant][0]) & types)
        try:
            z, p = expected_significance(reduced)
            band = expected_limits(reduced, cl=cl, rtol=rtol)
        except DataError as err:
            msg = f"expected results ({VARIANTS[variant][1]}): {err}"
            raise DataError(msg) from err
        results.append(ExpectedResult(variant, z, p, band, cl))
        log.info("expected %s: Z = %.3f, limit on mu = %.3f", variant, z, band[2])
    return results


@dataclasses.dataclass(frozen=True)
class FitYields:
    """Best-fit ``parameters`` (name -> values) and the ``yields[channel][sample]`` they give."""

    parameters: dict[str, list[float]]
    yields: dict[str, dict[str, np.ndarray]]


def fitted_yields(
    spec: Mapping[str, Any], data: Sequence[float] | None = None, *, mu_asimov: float = 1.0
) -> FitYields:
    """Maximum-likelihood fit of ``spec`` to ``data`` (main + auxiliary; default: the Asimov
    data of ``mu_asimov``) and the per-sample yields at the best fit."""
    with numpy_backend():
        model = _model(spec)
        values = asimov_data(model, mu_asimov) if data is None else np.asarray(data, float)
        try:
            best = np.asarray(pyhf.infer.mle.fit(values, model), dtype=float)
        except pyhf.exceptions.FailedMinimization as err:
            msg = f"the fit to the data failed: {err}"
            raise DataError(msg) from err
        by_sample = np.asarray(model.main_model.expected_data(best, return_by_sample=True))
    present = {c["name"]: [s["name"] for s in c["samples"]] for c in spec["channels"]}
    rows = {name: i for i, name in enumerate(model.config.samples)}
    yields = {
        channel: {s: by_sample[rows[s]][bins] for s in present[channel]}
        for channel, bins in model.config.channel_slices.items()
    }
    parameters = {
        name: best[model.config.par_slice(name)].tolist() for name in model.config.par_order
    }
    return FitYields(parameters, yields)

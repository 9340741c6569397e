"""hepml.score_outputs and hepml.calibration against independent computations: numpy for the
discriminants, scikit-learn for the isotonic fit, scipy for Platt's, a weighted ECDF for the
rarity."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.isotonic import IsotonicRegression

from hepml.calibration import (
    RARITY_KNOTS,
    calibration_weights,
    fit_calibration,
    fit_isotonic,
    fit_platt,
    fit_rarity,
)
from hepml.exceptions import DataError
from hepml.score_outputs import ScoreOutputs, discriminant


def _probabilities(n=500, k=3, seed=0):
    return np.random.default_rng(seed).dirichlet(np.ones(k), n).astype(np.float32)


def test_signal_probability_is_the_sum_of_the_signal_outputs():
    p = _probabilities(k=4)
    got = discriminant(p, [0, 2], [0, 1, 0, 1], "signal_probability")
    np.testing.assert_array_equal(got, p[:, 0].astype(float) + p[:, 2].astype(float))


def test_likelihood_ratio_by_hand_and_with_unit_weights_equals_p_signal():
    p = _probabilities().astype(np.float64)
    w = [0.0, 0.3, 2.5]
    expected = p[:, 0] / (p[:, 0] + 0.3 * p[:, 1] + 2.5 * p[:, 2])
    np.testing.assert_allclose(discriminant(p, [0], w, "likelihood_ratio"), expected, rtol=1e-15)
    unit = discriminant(p, [0], [0.0, 1.0, 1.0], "likelihood_ratio")
    np.testing.assert_allclose(unit, p[:, 0] / p.sum(axis=1), rtol=1e-12)


def test_likelihood_ratio_with_physics_weights_is_the_true_density_ratio():
    """Outputs made from known class densities under training priors pi: with
    w_i = (pi_s / pi_i)(Y_i / Y_B) the ratio is f_s / (f_s + f_B) of the physical mix."""
    rng = np.random.default_rng(3)
    f = rng.uniform(0.1, 2.0, (200, 3))  # class densities at 200 points
    prior = np.array([0.5, 0.3, 0.2])
    p = f * prior / (f * prior).sum(axis=1, keepdims=True)
    yields = np.array([0.0, 900.0, 100.0])
    w = [0.0, *(prior[0] / prior[i] * yields[i] / yields[1:].sum() for i in (1, 2))]
    f_background = (yields[1] * f[:, 1] + yields[2] * f[:, 2]) / yields[1:].sum()
    expected = f[:, 0] / (f[:, 0] + f_background)
    np.testing.assert_allclose(discriminant(p, [0], w, "likelihood_ratio"), expected, rtol=1e-12)


def test_outputs_round_trip_through_json_and_give_named_columns():
    outputs = ScoreOutputs(
        ("signal", "dy", "tt"),
        (0,),
        "likelihood_ratio",
        (0.0, 0.7, 0.1),
        isotonic=((0.1, 0.5, 0.9), (0.0, 0.2, 1.0)),
        platt=(1.3, -2.0),
        rarity=((0.0, 0.4, 1.0), (0.0, 0.8, 1.0)),
    )
    again = ScoreOutputs.from_record(json.loads(json.dumps(outputs.record())))
    assert again == outputs
    p = _probabilities()
    columns = again.columns(p)
    assert list(columns) == outputs.suffixes() == [
        "", "_p_signal", "_p_dy", "_p_tt", "_isotonic", "_platt", "_rarity",
    ]  # fmt: skip
    score = discriminant(p, [0], [0.0, 0.7, 0.1], "likelihood_ratio")
    np.testing.assert_array_equal(columns[""], score)
    np.testing.assert_array_equal(columns["_p_dy"], p[:, 1].astype(np.float64))
    logit = np.log(score / (1 - score))
    np.testing.assert_allclose(columns["_platt"], expit(1.3 * logit - 2.0), rtol=1e-12)
    np.testing.assert_array_equal(columns["_rarity"], np.interp(score, (0, 0.4, 1), (0, 0.8, 1)))
    with pytest.raises(DataError, match="do not belong together"):
        outputs.columns(p[:, :2])


def test_a_plain_binary_model_gives_its_prediction_unchanged():
    outputs = ScoreOutputs.from_record(None)
    assert outputs.plain and outputs.suffixes() == [""]
    prediction = np.random.default_rng(1).random(50).astype(np.float32)
    np.testing.assert_array_equal(outputs.columns(prediction)[""], prediction.astype(np.float64))
    assert "not the probability of signal" in outputs.record()["score"]


def _calibration_sample(n=4000, seed=5):
    rng = np.random.default_rng(seed)
    label = (rng.random(n) < 0.3).astype(np.int8)
    score = expit(rng.normal(1.5 * label - 0.5, 1.0))
    weight = rng.uniform(0.5, 2.0, n)
    return score, label, weight


def test_isotonic_knots_predict_as_scikit_learn_does():
    score, label, weight = _calibration_sample()
    x, y = fit_isotonic(score, label, weight)
    reference = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip")
    reference.fit(score, label, sample_weight=weight)
    probe = np.r_[-0.1, np.linspace(0, 1, 1001), 1.1]
    got = ScoreOutputs(isotonic=(x, y)).calibrated(probe)["_isotonic"]
    np.testing.assert_allclose(got, reference.predict(probe), atol=1e-12)
    assert np.all(np.diff(got) >= 0)


def test_platt_minimises_the_weighted_log_loss_on_the_log_odds():
    score, label, weight = _calibration_sample()
    slope, intercept = fit_platt(score, label, weight)
    z = np.log(score / (1 - score))

    def loss(params):  # the weighted log-loss and its gradient
        p = expit(params[0] * z + params[1])
        value = -np.sum(weight * (label * np.log(p) + (1 - label) * np.log1p(-p)))
        residual = weight * (p - label)
        return value, np.array([np.sum(residual * z), np.sum(residual)])

    best = minimize(loss, [1.0, 0.0], jac=True, method="BFGS", options={"gtol": 1e-8})
    assert np.max(np.abs(loss(best.x)[1])) < 1e-6  # scipy's minimum, to its precision
    assert np.max(np.abs(loss([slope, intercept])[1])) < 1e-4  # ours: the gradient vanishes
    assert slope == pytest.approx(best.x[0], abs=1e-5)
    assert intercept == pytest.approx(best.x[1], abs=1e-5)


def test_rarity_is_the_weighted_background_cdf_and_flattens_the_background():
    rng = np.random.default_rng(2)
    score = rng.beta(2, 5, 20_000)
    weight = rng.uniform(0.2, 3.0, score.size)
    x, cdf = fit_rarity(score, weight)
    assert len(x) <= RARITY_KNOTS + 2 and x[0] == 0.0 and x[-1] == 1.0
    assert cdf[0] == 0.0 and cdf[-1] == 1.0 and np.all(np.diff(cdf) >= 0)
    # the weighted ECDF, by brute force at a few points
    probe = rng.uniform(0.02, 0.8, 200)
    ecdf = np.array([weight[score <= s].sum() for s in probe]) / weight.sum()
    rarity = ScoreOutputs(rarity=(x, cdf)).calibrated(probe)["_rarity"]
    assert np.max(np.abs(rarity - ecdf)) < 2.0 / RARITY_KNOTS
    # of the events it was fitted on, the rarity is uniform: weighted quantiles at their level
    r = ScoreOutputs(rarity=(x, cdf)).calibrated(score)["_rarity"]
    for level in (0.1, 0.5, 0.9):
        assert weight[r <= level].sum() / weight.sum() == pytest.approx(level, abs=2e-3)


def test_small_samples_keep_every_step_of_the_cdf():
    x, cdf = fit_rarity(np.array([0.2, 0.5, 0.5, 0.7]), np.array([1.0, 1.0, 2.0, 4.0]))
    assert x == (0.0, 0.2, 0.5, 0.7, 1.0)
    assert cdf == (0.0, 0.125, 0.5, 1.0, 1.0)


def test_calibration_weights_apply_the_policy_and_the_prior():
    weight = np.array([1.0, -1.0, 2.0, 4.0, -2.0])
    label = np.array([1, 1, 0, 0, 0])
    np.testing.assert_array_equal(
        calibration_weights(weight, label, policy="abs", prior="physics"), np.abs(weight)
    )
    dropped = calibration_weights(weight, label, policy="drop", prior="physics")
    np.testing.assert_array_equal(dropped, [1.0, 0.0, 2.0, 4.0, 0.0])
    balanced = calibration_weights(weight, label, policy="annihilate", prior="balanced")
    assert balanced[label == 1].sum() == pytest.approx(balanced[label == 0].sum())


def test_fit_calibration_fills_only_what_is_asked_and_needs_both_classes():
    score, label, weight = _calibration_sample(500)
    fitted = fit_calibration(ScoreOutputs(), score, label, weight, methods=["platt"], rarity=False)
    assert fitted.platt is not None and fitted.isotonic is None and fitted.rarity is None
    with pytest.raises(DataError, match="signal events of the validation fold weigh 0"):
        fit_isotonic(score, np.zeros_like(label), weight)

"""Three scikit-learn-compatible estimators that scikit-learn lacks in the form TMVA has them.

- :class:`FisherDiscriminant`: scikit-learn's ``LinearDiscriminantAnalysis`` takes no event
  weights; physics samples need them (TMVA's Fisher uses weighted means and covariances).
- :class:`WeightedKNN`: ``KNeighborsClassifier`` cannot weight the vote by event weights
  (TMVA's kNN does); the neighbour search itself is scikit-learn's.
- :class:`Decorrelate`: TMVA's decorrelation transform (multiply by the inverse square root
  of the covariance matrix); scikit-learn's ``PCA(whiten=True)`` also rotates the axes.

Each follows the estimator API (``fit``/``predict_proba`` or ``fit``/``transform``), so it
fits into a ``Pipeline`` and is cloned, pickled and inspected like any other.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.neighbors import NearestNeighbors

__all__ = ["Decorrelate", "FisherDiscriminant", "WeightedKNN"]


def _weights(sample_weight: np.ndarray | None, n: int) -> np.ndarray:
    if sample_weight is None:
        return np.ones(n)
    return np.asarray(sample_weight, dtype=np.float64)


def _binary_proba(p: np.ndarray) -> np.ndarray:
    return np.column_stack([1.0 - p, p])


class FisherDiscriminant(ClassifierMixin, BaseEstimator):
    """Fisher's linear discriminant with event weights, for labels 0 (background) and 1.

    The direction is ``W^-1 (mu_1 - mu_0)`` with the weighted class means ``mu`` and the
    weighted pooled within-class covariance ``W``; ``shrinkage`` in [0, 1] pulls ``W``
    towards a multiple of the identity. ``predict_proba`` is the posterior of two Gaussian
    classes with that common covariance and priors equal to the class weight fractions (the
    same model as scikit-learn's LDA), so scores lie in [0, 1].
    """

    def __init__(self, shrinkage: float = 0.0) -> None:
        self.shrinkage = shrinkage

    def fit(self, X, y, sample_weight=None):
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y)
        w = _weights(sample_weight, len(X))
        self.classes_ = np.array([0, 1])
        means, scatter = [], np.zeros((X.shape[1], X.shape[1]))
        for c in (0, 1):
            rows = y == c
            mean = np.average(X[rows], axis=0, weights=w[rows])
            centred = X[rows] - mean
            scatter += (centred * w[rows, None]).T @ centred
            means.append(mean)
        cov = scatter / w.sum()
        if self.shrinkage:
            target = np.trace(cov) / len(cov) * np.eye(len(cov))
            cov = (1 - self.shrinkage) * cov + self.shrinkage * target
        self.coef_ = np.linalg.lstsq(cov, means[1] - means[0], rcond=None)[0]
        prior = np.log(w[y == 1].sum() / w[y == 0].sum())
        self.intercept_ = float(-self.coef_ @ (means[0] + means[1]) / 2 + prior)
        self.n_features_in_ = X.shape[1]
        return self

    def decision_function(self, X) -> np.ndarray:
        """The linear Fisher discriminant (log-odds under the Gaussian model)."""
        return np.asarray(X, dtype=np.float64) @ self.coef_ + self.intercept_

    def predict_proba(self, X) -> np.ndarray:
        return _binary_proba(expit(self.decision_function(X)))

    def predict(self, X) -> np.ndarray:
        return (self.decision_function(X) > 0).astype(int)


class WeightedKNN(ClassifierMixin, BaseEstimator):
    """k nearest neighbours whose vote is weighted by the neighbours' event weights.

    The score of an event is the signal weight among its ``n_neighbors`` nearest training
    events (Euclidean) divided by their total weight; 0.5 if that total is zero. With equal
    weights it equals scikit-learn's ``KNeighborsClassifier`` probability.
    """

    def __init__(self, n_neighbors: int = 20, n_jobs: int | None = None) -> None:
        self.n_neighbors = n_neighbors
        self.n_jobs = n_jobs

    def fit(self, X, y, sample_weight=None):
        X = np.asarray(X, dtype=np.float64)
        w = _weights(sample_weight, len(X))
        self.classes_ = np.array([0, 1])
        self.neighbours_ = NearestNeighbors(n_neighbors=self.n_neighbors, n_jobs=self.n_jobs)
        self.neighbours_.fit(X)
        self.weight_ = w
        self.signal_weight_ = np.where(np.asarray(y) == 1, w, 0.0)
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X) -> np.ndarray:
        idx = self.neighbours_.kneighbors(np.asarray(X, dtype=np.float64), return_distance=False)
        signal = self.signal_weight_[idx].sum(axis=1)
        total = self.weight_[idx].sum(axis=1)
        p = np.divide(signal, total, out=np.full(len(idx), 0.5), where=total > 0)
        return _binary_proba(p)

    def predict(self, X) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] > 0.5).astype(int)


class Decorrelate(TransformerMixin, BaseEstimator):
    """Linear decorrelation: ``(x - mean) @ C^(-1/2)`` with the symmetric inverse square root
    of the covariance matrix ``C`` of the fitted events (directions without variance are
    dropped to zero). The output has unit covariance and stays close to the input axes."""

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float64)
        self.mean_ = X.mean(axis=0)
        cov = np.atleast_2d(np.cov(X, rowvar=False))
        values, vectors = np.linalg.eigh(cov)
        keep = values > values.max() * 1e-12 if values.size else values > 0
        inv_sqrt = np.where(keep, 1.0 / np.sqrt(np.where(keep, values, 1.0)), 0.0)
        self.matrix_ = (vectors * inv_sqrt) @ vectors.T
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X) -> np.ndarray:
        return (np.asarray(X, dtype=np.float64) - self.mean_) @ self.matrix_

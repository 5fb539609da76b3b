"""Probability calibration on the valid split, shared by every model kind.

Every kind hands a head's raw scores (sparse features for the linear heads, logits for the
transformer) to sklearn's `CalibratedClassifierCV` with the head frozen, so all kinds are
calibrated by the same code and the same method names (`temperature` by default).
"""

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator


def calibrate(head, features, labels: np.ndarray, method: str = "temperature") -> CalibratedClassifierCV:
    """Fit `method` on held-out `features`/`labels` without refitting `head`."""
    return CalibratedClassifierCV(FrozenEstimator(head), method=method).fit(features, labels)


class LogitHead(ClassifierMixin, BaseEstimator):
    """A head whose "features" are already its logits (n × classes): lets a neural network's
    output go through `calibrate` exactly like a fitted sklearn head."""

    def __init__(self, n_classes: int):
        self.n_classes = n_classes

    def fit(self, logits=None, labels=None) -> "LogitHead":
        self.classes_ = np.arange(self.n_classes)
        return self

    def predict(self, logits: np.ndarray) -> np.ndarray:
        return np.asarray(logits).argmax(axis=1)

    def decision_function(self, logits: np.ndarray) -> np.ndarray:
        logits = np.asarray(logits, dtype=np.float64)
        if self.n_classes == 2:
            # sklearn reads a binary score d as the logits (-d, d): half the logit gap keeps softmax.
            return (logits[:, 1] - logits[:, 0]) / 2
        return logits


def calibrate_logits(logits: np.ndarray, labels: np.ndarray, method: str = "temperature"):
    """Calibrate raw logits of a `len(classes)`-way head on held-out labels (class ids)."""
    return calibrate(LogitHead(logits.shape[1]).fit(), logits, labels, method)


def calibrated_proba(calibrator: CalibratedClassifierCV, logits: np.ndarray, n_classes: int) -> np.ndarray:
    """Probabilities for all `n_classes`, zeros for classes the calibration split never saw."""
    proba = np.zeros((logits.shape[0], n_classes), dtype=np.float64)
    proba[:, calibrator.classes_] = calibrator.predict_proba(logits)
    return proba

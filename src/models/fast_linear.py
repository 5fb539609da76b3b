"""Probabilities of fitted logistic-regression heads (optionally temperature-calibrated) with NumPy.

Why: each scikit-learn `predict_proba` call validates its input, dispatches through the
calibration wrapper and the array-API layer, a fixed cost of a few hundred microseconds that
dominates single-comment latency. The arithmetic is one sparse-dense product and a softmax;
`LinearHead` keeps just that. It is built from the fitted estimators and a test checks its
output equals theirs.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, softmax
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression


@dataclass
class LinearHead:
    """`proba = softmax(beta * (X @ coef.T + intercept))`, as sklearn computes it."""

    coef: np.ndarray
    intercept: np.ndarray
    classes: np.ndarray
    beta: float = 1.0
    binary_as_logits: bool = False
    """Binary temperature scaling treats a decision value d as the two logits (-d, d)."""

    @classmethod
    def from_logistic(cls, model: LogisticRegression) -> "LinearHead":
        return cls(np.ascontiguousarray(model.coef_.T), model.intercept_.copy(), model.classes_.copy())

    @classmethod
    def from_calibrated(cls, model: CalibratedClassifierCV) -> "LinearHead | None":
        """The head of a temperature-calibrated logistic regression; None for other methods."""
        if len(model.calibrated_classifiers_) != 1:
            return None
        calibrated = model.calibrated_classifiers_[0]
        estimator = getattr(calibrated.estimator, "estimator", calibrated.estimator)  # FrozenEstimator
        if calibrated.method != "temperature" or not isinstance(estimator, LogisticRegression):
            return None
        head = cls.from_logistic(estimator)
        head.beta = float(calibrated.calibrators[0].beta_)
        head.binary_as_logits = True
        return head

    def predict_proba(self, blocks: Sequence) -> np.ndarray:
        """Probabilities for features given as column blocks (the parts of a `FeatureUnion`)."""
        decision = np.tile(self.intercept, (blocks[0].shape[0], 1))
        start = 0
        for block in blocks:
            decision += block @ self.coef[start : start + block.shape[1]]
            start += block.shape[1]
        if decision.shape[1] > 1:
            return softmax(self.beta * decision, axis=1)
        scale = 2.0 if self.binary_as_logits else 1.0
        positive = expit(scale * self.beta * decision[:, 0])
        return np.column_stack([1.0 - positive, positive])

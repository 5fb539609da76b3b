"""Probabilities of fitted logistic-regression heads (optionally calibrated) with NumPy.

Why: each scikit-learn `predict_proba` call validates its input, dispatches through the
calibration wrapper and the array-API layer, a fixed cost of a few hundred microseconds that
dominates single-comment latency. The arithmetic is one sparse-dense product and a softmax (or
the calibration's own map); `LinearHead` keeps just that, as plain arrays that the artifact
stores without pickle. It is built from the fitted estimators and a test checks its output
equals theirs.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit, softmax
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from triage.models.calibration import PlainCalibrator


@dataclass
class LinearHead:
    """`decision = X @ coef + intercept`, then softmax/sigmoid or the fitted calibration."""

    coef: np.ndarray
    intercept: np.ndarray
    classes: np.ndarray
    calibrator: PlainCalibrator | None = None

    @classmethod
    def from_logistic(cls, model: LogisticRegression) -> "LinearHead":
        return cls(np.ascontiguousarray(model.coef_.T), model.intercept_.copy(), model.classes_.copy())

    @classmethod
    def from_calibrated(cls, model: CalibratedClassifierCV) -> "LinearHead | None":
        """The head of a calibrated logistic regression (any method); None for other estimators."""
        if len(model.calibrated_classifiers_) != 1:
            return None
        fitted = model.calibrated_classifiers_[0]
        estimator = getattr(fitted.estimator, "estimator", fitted.estimator)  # FrozenEstimator
        if not isinstance(estimator, LogisticRegression):
            return None
        head = cls.from_logistic(estimator)
        head.calibrator = PlainCalibrator.from_sklearn(model)
        return head

    def predict_proba(self, blocks: Sequence) -> np.ndarray:
        """Probabilities for features given as column blocks (the parts of a `FeatureUnion`)."""
        decision = np.tile(self.intercept, (blocks[0].shape[0], 1))
        start = 0
        for block in blocks:
            decision += block @ self.coef[start : start + block.shape[1]]
            start += block.shape[1]
        if self.calibrator is not None:
            return self.calibrator.predict_proba(decision)
        if decision.shape[1] > 1:
            return softmax(decision, axis=1)
        positive = expit(decision[:, 0])
        return np.column_stack([1.0 - positive, positive])

    def to_arrays(self, prefix: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Settings (JSON) and arrays (`.npz`) that `from_arrays` rebuilds the head from."""
        settings: dict[str, Any] = {"classes": self.classes.tolist()}
        arrays = {f"{prefix}.coef": self.coef, f"{prefix}.intercept": self.intercept}
        if self.calibrator is not None:
            settings["calibration"], calibration = self.calibrator.to_arrays(f"{prefix}.calibration")
            arrays.update(calibration)
        return settings, arrays

    @classmethod
    def from_arrays(cls, prefix: str, settings: dict[str, Any], arrays: Any) -> "LinearHead":
        calibrator = None
        if "calibration" in settings:
            calibrator = PlainCalibrator.from_arrays(f"{prefix}.calibration", settings["calibration"], arrays)
        coef, intercept = np.asarray(arrays[f"{prefix}.coef"]), np.asarray(arrays[f"{prefix}.intercept"])
        classes = np.asarray(settings["classes"])
        if coef.ndim != 2 or intercept.shape != (coef.shape[1],):
            raise ValueError(f"{prefix}: coefficient shapes {coef.shape} and {intercept.shape} do not match")
        return cls(coef, intercept, classes, calibrator)

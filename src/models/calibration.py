"""Probability calibration on the valid split, shared by every model kind.

Every kind hands a head's raw scores (sparse features for the linear heads, logits for the
transformer) to sklearn's `CalibratedClassifierCV` with the head frozen, so all kinds are
calibrated by the same code and the same method names (`temperature` by default).
"""

from typing import Any

import numpy as np
from scipy.special import expit, softmax
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


class PlainCalibrator:
    """A fitted `CalibratedClassifierCV`'s calibration as plain arrays, with the same arithmetic.

    Why: the artifact must load without unpickling anything, so the calibration is stored as
    numbers (temperature β, Platt a/b per class, or isotonic breakpoints per class) and applied
    here to the head's decision values exactly as scikit-learn's `_CalibratedClassifier` does.
    `logits=True` takes an n × k logit matrix (the transformer's heads, see `LogitHead`).
    """

    METHODS = ("temperature", "sigmoid", "isotonic")

    def __init__(self, method: str, classes: np.ndarray, arrays: dict[str, np.ndarray], logits: bool = False):
        if method not in self.METHODS:
            raise ValueError(f"unknown calibration method {method!r}")
        self.method = method
        self.classes_ = np.asarray(classes)
        self.arrays = arrays
        self.logits = logits

    @classmethod
    def from_sklearn(cls, model: CalibratedClassifierCV, logits: bool = False) -> "PlainCalibrator":
        if len(model.calibrated_classifiers_) != 1:
            raise ValueError("only a calibration fitted on one held-out split can be stored as arrays")
        fitted = model.calibrated_classifiers_[0]
        calibrators = fitted.calibrators
        if fitted.method == "temperature":
            arrays = {"beta": np.asarray([float(calibrators[0].beta_)])}
        elif fitted.method == "sigmoid":
            arrays = {
                "a": np.asarray([float(c.a_) for c in calibrators]),
                "b": np.asarray([float(c.b_) for c in calibrators]),
            }
        else:
            x = [np.asarray(c.X_thresholds_) for c in calibrators]  # float32 for float32 heads
            y = [np.asarray(c.y_thresholds_) for c in calibrators]
            arrays = {
                "x": np.concatenate(x),
                "y": np.concatenate(y),
                "offsets": np.cumsum([0] + [len(part) for part in x]).astype(np.int64),
            }
        return cls(fitted.method, np.asarray(model.classes_), arrays, logits)

    def to_arrays(self, prefix: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Settings (for JSON) and arrays (for `.npz`), the arrays' names under `prefix`."""
        settings = {"method": self.method, "logits": self.logits}
        arrays = {f"{prefix}.classes": self.classes_, **{f"{prefix}.{k}": v for k, v in self.arrays.items()}}
        return settings, arrays

    @classmethod
    def from_arrays(cls, prefix: str, settings: dict[str, Any], arrays: Any) -> "PlainCalibrator":
        names = {"temperature": ("beta",), "sigmoid": ("a", "b"), "isotonic": ("x", "y", "offsets")}
        method = settings.get("method")
        if method not in names:
            raise ValueError(f"unknown calibration method {method!r}")
        values = {name: np.asarray(arrays[f"{prefix}.{name}"]) for name in names[method]}
        return cls(method, np.asarray(arrays[f"{prefix}.classes"]), values, bool(settings.get("logits")))

    def predict_proba(self, decision: np.ndarray) -> np.ndarray:
        """Probabilities for `classes_` from the head's decision values (or logits)."""
        decision = np.asarray(decision)
        if self.logits:
            decision = LogitHead(decision.shape[1]).fit().decision_function(decision)
        if decision.ndim == 1:
            decision = decision.reshape(-1, 1)
        n_classes = len(self.classes_)
        if self.method == "temperature":
            logits = np.concatenate([-decision, decision], axis=1) if decision.shape[1] == 1 else decision
            proba = softmax(float(self.arrays["beta"][0]) * logits, axis=1)
        else:
            proba = np.zeros((decision.shape[0], n_classes))
            for column in range(decision.shape[1]):
                target = column + 1 if n_classes == 2 else column
                proba[:, target] = self._calibrate(column, decision[:, column])
            if n_classes == 2:
                proba[:, 0] = 1.0 - proba[:, 1]
            else:
                total = proba.sum(axis=1)[:, np.newaxis]
                proba = np.divide(proba, total, out=np.full_like(proba, 1 / n_classes), where=total != 0)
        proba[(proba > 1.0) & (proba <= 1.0 + 1e-5)] = 1.0
        return proba

    def _calibrate(self, column: int, values: np.ndarray) -> np.ndarray:
        if self.method == "sigmoid":
            return expit(-(self.arrays["a"][column] * values + self.arrays["b"][column]))
        start, stop = self.arrays["offsets"][column], self.arrays["offsets"][column + 1]
        x, y = self.arrays["x"][start:stop], self.arrays["y"][start:stop]
        if len(x) == 1:
            return np.repeat(y, len(values)).astype(x.dtype)
        values = np.clip(values.astype(x.dtype), x[0], x[-1])  # as `IsotonicRegression`, in its dtype
        return np.interp(values, x, y).astype(x.dtype)

"""The baseline: TF-IDF word and character n-grams feeding two class-balanced linear heads.

Character n-grams carry most of the signal in four languages with rich morphology, typos
and transliteration; word n-grams add the phrases ("charged twice", "не дозвониться").
Both heads share one vectoriser, and each head's probabilities are calibrated on the valid
split (temperature scaling by default) so that scores can drive thresholds and actions.
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion
from triage.models import fast_tfidf
from triage.models.calibration import calibrate
from triage.models.fast_linear import LinearHead
from triage.models.fast_tfidf import FastTfidf, TextBatch
from triage.models.labels import CAUSES
from triage.models.normalize import feature_text
from triage.models.persist import read_arrays, read_json, write_arrays, write_json

KIND = "tfidf_linear"
STATE_JSON = "classifier.json"
STATE_ARRAYS = "classifier.npz"


@dataclass
class LinearConfig:
    """Hyperparameters of the baseline; `configs/linear.yaml` sets them."""

    word_ngram_range: tuple[int, int] = (1, 2)
    char_ngram_range: tuple[int, int] = (2, 5)
    word_min_df: int = 1
    char_min_df: int = 2
    max_features: int | None = 300_000
    sublinear_tf: bool = True
    cause_c: float = 10.0
    troll_c: float = 10.0
    class_weight: str | None = "balanced"
    calibration: str = "temperature"
    max_iter: int = 3000

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "LinearConfig":
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        for key in ("word_ngram_range", "char_ngram_range"):
            if key in known:
                known[key] = tuple(known[key])
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"unknown linear model setting(s): {', '.join(unknown)}")
        return cls(**known)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _vectorizer(config: LinearConfig) -> FeatureUnion:
    common = {
        "preprocessor": feature_text,
        "sublinear_tf": config.sublinear_tf,
        "dtype": np.float32,
    }
    return FeatureUnion(
        [
            (
                "word",
                TfidfVectorizer(
                    analyzer="word",
                    ngram_range=config.word_ngram_range,
                    min_df=config.word_min_df,
                    token_pattern=r"(?u)\b\w+\b",
                    max_features=config.max_features,
                    **common,
                ),
            ),
            (
                "char",
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=config.char_ngram_range,
                    min_df=config.char_min_df,
                    max_features=config.max_features,
                    **common,
                ),
            ),
        ]
    )


def _head(c: float, config: LinearConfig) -> LogisticRegression:
    return LogisticRegression(C=c, class_weight=config.class_weight, max_iter=config.max_iter)


@dataclass
class _FastPath:
    vectorizers: list[FastTfidf]
    cause: LinearHead
    troll: LinearHead


class TfidfLinearClassifier:
    """Cause (7 classes) and troll (binary) heads over shared TF-IDF features."""

    kind = KIND
    serving_batch_items = 256
    """A batch for the HTTP queue: a call's fixed cost dwarfs the cost of one comment."""

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "TfidfLinearClassifier":
        """The trainer of this kind (it fits itself) from a config's `params`."""
        return cls(LinearConfig.from_dict(params))

    def __init__(self, config: LinearConfig | None = None):
        self.config = config or LinearConfig()
        self.vectorizer: FeatureUnion | None = None
        self.cause_head: CalibratedClassifierCV | None = None
        self.troll_head: CalibratedClassifierCV | None = None

    def fit(
        self,
        texts: Sequence[str],
        causes: Sequence[str],
        trolls: Sequence[bool],
        valid_texts: Sequence[str],
        valid_causes: Sequence[str],
        valid_trolls: Sequence[bool],
    ) -> "TfidfLinearClassifier":
        """Fit the heads on train, then calibrate each on the valid split."""
        self.vectorizer = _vectorizer(self.config)
        features = self.vectorizer.fit_transform(texts)
        valid_features = self.vectorizer.transform(valid_texts)
        cause_ids = np.array([CAUSES.index(c) for c in causes])
        valid_cause_ids = np.array([CAUSES.index(c) for c in valid_causes])
        cause = _head(self.config.cause_c, self.config).fit(features, cause_ids)
        troll = _head(self.config.troll_c, self.config).fit(features, np.asarray(trolls, int))
        self.cause_head = self._calibrate(cause, valid_features, valid_cause_ids)
        self.troll_head = self._calibrate(troll, valid_features, np.asarray(valid_trolls, int))
        return self

    def _calibrate(self, head: LogisticRegression, features, labels) -> CalibratedClassifierCV:
        return calibrate(head, features, labels, self.config.calibration)

    @cached_property
    def _fast(self) -> _FastPath | None:
        """The NumPy inference path, built on first use (not pickled: it is derived)."""
        if self.vectorizer is None or self.cause_head is None or self.troll_head is None:
            raise RuntimeError("the classifier is not fitted")
        parts = [part for _, part in self.vectorizer.transformer_list]
        cause = LinearHead.from_calibrated(self.cause_head)
        troll = LinearHead.from_calibrated(self.troll_head)
        if cause is None or troll is None or not all(fast_tfidf.supported(part) for part in parts):
            return None
        return _FastPath([FastTfidf(part) for part in parts], cause, troll)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if state.get("vectorizer") is not None:
            state.pop("_fast", None)  # derived from the fitted parts; a loaded model has only this
        return state

    # --- artifact files (plain JSON + arrays: see `triage.models.persist`) -----------------
    def save_state(self, folder: Path) -> list[str]:
        """Write the inference path (hashed vocabularies, idf, heads, calibration); returns the files."""
        fast = self._fast
        if fast is None:
            raise ValueError("this classifier's settings have no plain-array form; it cannot be saved")
        settings: dict[str, Any] = {"config": self.config.to_dict(), "vectorizers": []}
        arrays: dict[str, np.ndarray] = {}
        for i, vectorizer in enumerate(fast.vectorizers):
            part, part_arrays = vectorizer.to_arrays(f"vectorizer{i}")
            settings["vectorizers"].append(part)
            arrays.update(part_arrays)
        for name in ("cause", "troll"):
            settings[name], head_arrays = getattr(fast, name).to_arrays(name)
            arrays.update(head_arrays)
        write_json(folder / STATE_JSON, settings)
        write_arrays(folder / STATE_ARRAYS, arrays)
        return [STATE_JSON, STATE_ARRAYS]

    @classmethod
    def load_state(cls, folder: Path, manifest: Any) -> "TfidfLinearClassifier":
        """The classifier from `save_state`'s files (inference only: no scikit-learn objects)."""
        settings, arrays = read_json(folder / STATE_JSON), read_arrays(folder / STATE_ARRAYS)
        classifier = cls(LinearConfig.from_dict(settings["config"]))
        vectorizers = [
            FastTfidf.from_arrays(f"vectorizer{i}", part, arrays)
            for i, part in enumerate(settings["vectorizers"])
        ]
        heads = [LinearHead.from_arrays(name, settings[name], arrays) for name in ("cause", "troll")]
        n_features = sum(v.n_features for v in vectorizers)
        if any(head.coef.shape[0] != n_features for head in heads):
            raise ValueError("the heads do not match the vectorisers' feature count")
        classifier.__dict__["_fast"] = _FastPath(vectorizers, *heads)
        return classifier

    def predict_proba(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Cause probabilities (n × 7, in `CAUSES` order) and troll probabilities (n).

        The NumPy path when the fitted parts allow it (`fast_tfidf`, `fast_linear`), else
        scikit-learn's; a `TextBatch` shares its n-gram hashes with the language identifier.
        """
        fast = self._fast
        if fast is None:
            return self.reference_predict_proba(texts)
        batch = texts if isinstance(texts, TextBatch) else TextBatch(texts)
        blocks = [vectorizer.transform(batch) for vectorizer in fast.vectorizers]
        cause = np.zeros((len(batch), len(CAUSES)), dtype=np.float64)
        cause[:, fast.cause.classes] = fast.cause.predict_proba(blocks)
        troll = fast.troll.predict_proba(blocks)[:, list(fast.troll.classes).index(1)]
        return cause, troll

    def reference_predict_proba(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """scikit-learn's own transform and heads: the reference the fast path must equal."""
        if self.vectorizer is None or self.cause_head is None or self.troll_head is None:
            raise RuntimeError("the classifier is not fitted")
        texts = list(texts)
        # The union's parts directly: FeatureUnion.transform goes through joblib even for one job.
        features = sparse.hstack(
            [part.transform(texts) for _, part in self.vectorizer.transformer_list], format="csr"
        )
        cause = np.zeros((features.shape[0], len(CAUSES)), dtype=np.float64)
        cause[:, self.cause_head.classes_] = self.cause_head.predict_proba(features)
        troll = self.troll_head.predict_proba(features)[:, list(self.troll_head.classes_).index(1)]
        return cause, troll

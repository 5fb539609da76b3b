"""Model fitting for the `train` stage: build the configured kind, fit, set the troll threshold."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve
from triage.models.artifact import TriageModel
from triage.models.langid import LangIdConfig, LanguageIdentifier
from triage.train.config import ConfigError, read_yaml
from triage.train.distributed import is_main_process
from triage.train.kinds import build_trainer


@dataclass
class ModelConfig:
    """A model config file from `configs/`: the kind, its settings and shared options."""

    path: Path
    kind: str
    params: dict[str, Any]
    langid: dict[str, Any]
    troll_threshold: float | str

    @classmethod
    def read(cls, path: Path) -> "ModelConfig":
        values = read_yaml(path)
        if "kind" not in values:
            raise ConfigError(f"{path}: missing 'kind'")
        threshold = values.get("troll_threshold", "tune")
        if threshold != "tune" and not isinstance(threshold, int | float):
            raise ConfigError(f"{path}: troll_threshold must be a number or 'tune'")
        return cls(
            path=path,
            kind=values["kind"],
            params=values.get("params") or {},
            langid=values.get("langid") or {},
            troll_threshold=threshold,
        )


def read_split(path: Path) -> pd.DataFrame:
    frame = pd.read_json(path, lines=True, dtype={"troll": bool, "text": str})
    if frame.empty:
        raise ValueError(f"{path}: the split is empty")
    return frame


def best_f1_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
    """Threshold with the highest F1 on held-out data (ties: the higher threshold)."""
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    best = len(thresholds) - 1 - int(np.argmax(f1[:-1][::-1]))
    return float(thresholds[best])


def _check_labels(frame: pd.DataFrame, split: str) -> None:
    """Both heads need every class they will be asked about; say so before sklearn does."""
    if frame.troll.nunique() < 2:
        raise ValueError(f"the {split} split needs both troll and non-troll examples")
    if frame.cause.nunique() < 2:
        raise ValueError(f"the {split} split needs at least two cause labels")


def fit_model(train: pd.DataFrame, valid: pd.DataFrame, config: ModelConfig) -> TriageModel | None:
    """Fit heads on train, calibrate and choose the troll threshold on valid (None on the
    helper ranks of a data-parallel run)."""
    _check_labels(train, "train")
    _check_labels(valid, "valid")
    classifier = build_trainer(config.kind, config.params, config.path).fit(
        train.text.tolist(),
        train.cause.tolist(),
        train.troll.tolist(),
        valid.text.tolist(),
        valid.cause.tolist(),
        valid.troll.tolist(),
    )
    if classifier is None or not is_main_process():
        return None  # another rank of a data-parallel run: rank 0 finishes the model
    langid = LanguageIdentifier(langid_config(config)).fit(train.text.tolist(), train.lang.tolist())
    if config.troll_threshold == "tune":
        _, troll_scores = classifier.predict_proba(valid.text.tolist())
        threshold = best_f1_threshold(valid.troll.to_numpy(int), troll_scores)
    else:
        threshold = float(config.troll_threshold)
    return TriageModel(classifier=classifier, langid=langid, troll_threshold=threshold)


def langid_config(config: ModelConfig) -> LangIdConfig:
    values = dict(config.langid)
    if "ngram_range" in values:
        values["ngram_range"] = tuple(values["ngram_range"])
    try:
        return LangIdConfig(**values)
    except TypeError as exc:
        raise ConfigError(f"{config.path}: bad langid settings: {exc}") from exc

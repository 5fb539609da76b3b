"""Metrics for both heads, overall and per language, as plain JSON-ready dicts."""

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
)
from triage.models.labels import CAUSES, LANGS

SCOPES = ("all", *LANGS)


def expected_calibration_error(proba: np.ndarray, labels: np.ndarray, bins: int = 10) -> float:
    """Gap between confidence and accuracy of the top class, averaged over confidence bins."""
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == labels
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    gap = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            gap += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(gap)


def _r(value: float) -> float:
    return round(float(value), 4)


def cause_metrics(frame: pd.DataFrame) -> dict[str, Any]:
    truth, pred = frame.cause, frame.pred_cause
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, pred, labels=list(CAUSES), zero_division=0
    )
    present = [c for c in CAUSES if (truth == c).any()]
    proba = np.stack(frame.cause_proba.to_numpy())
    label_ids = truth.map(CAUSES.index).to_numpy()
    return {
        "n": len(frame),
        "accuracy": _r(accuracy_score(truth, pred)),
        "macro_f1": _r(f1_score(truth, pred, labels=present, average="macro", zero_division=0)),
        "ece": _r(expected_calibration_error(proba, label_ids)),
        "per_class": {
            c: {
                "precision": _r(precision[i]),
                "recall": _r(recall[i]),
                "f1": _r(f1[i]),
                "support": int(support[i]),
            }
            for i, c in enumerate(CAUSES)
        },
    }


def troll_metrics(frame: pd.DataFrame) -> dict[str, Any]:
    truth = frame.troll.to_numpy(bool)
    pred = frame.pred_troll.to_numpy(bool)
    scores = frame.troll_score.to_numpy(float)
    precision, recall, f1, _ = precision_recall_fscore_support(truth, pred, average="binary", zero_division=0)
    both_classes = truth.any() and not truth.all()
    return {
        "n": len(frame),
        "positives": int(truth.sum()),
        "precision": _r(precision),
        "recall": _r(recall),
        "f1": _r(f1),
        "roc_auc": _r(roc_auc_score(truth, scores)) if both_classes else None,
        "brier": _r(brier_score_loss(truth, scores)),
    }


def scope_frame(frame: pd.DataFrame, scope: str) -> pd.DataFrame:
    """Rows of one language (by the true label), or all rows."""
    return frame if scope == "all" else frame[frame.lang == scope]


def compute_metrics(frame: pd.DataFrame) -> dict[str, Any]:
    """Frame columns: lang, cause, troll (truth); pred_lang, pred_cause, pred_troll,
    troll_score and cause_proba (a vector per row, in `CAUSES` order)."""
    report: dict[str, Any] = {}
    for scope in SCOPES:
        part = scope_frame(frame, scope)
        if part.empty:
            continue
        report[scope] = {
            "cause": cause_metrics(part),
            "troll": troll_metrics(part),
            "lang_accuracy": _r((part.pred_lang == part.lang).mean()),
        }
    return report


def headline(report: dict[str, Any]) -> dict[str, float | None]:
    """The few numbers people quote: cause macro-F1 and troll F1 per scope."""
    values: dict[str, float | None] = {}
    for scope in SCOPES:
        if scope in report:
            values[f"{scope}_cause_macro_f1"] = report[scope]["cause"]["macro_f1"]
            values[f"{scope}_troll_f1"] = report[scope]["troll"]["f1"]
    return values


def f1_by_language(frame: pd.DataFrame, causes, trolls, scopes: tuple[str, ...] = SCOPES) -> dict[str, Any]:
    """Cause macro-F1 (over the causes present, as `cause_metrics`) and troll F1 for each scope
    (`all` and the languages present): the headline pair the benchmarks compare models by."""
    causes, trolls = np.asarray(causes), np.asarray(trolls, dtype=bool)
    out: dict[str, Any] = {}
    for scope in scopes:
        mask = np.ones(len(frame), bool) if scope == "all" else (frame.lang == scope).to_numpy()
        if not mask.any():
            continue
        truth = frame.cause.to_numpy()[mask]
        present = [c for c in CAUSES if (truth == c).any()]
        macro = f1_score(truth, causes[mask], labels=present, average="macro", zero_division=0)
        troll = f1_score(frame.troll.to_numpy(bool)[mask], trolls[mask], zero_division=0)
        out[scope] = {"n": int(mask.sum()), "cause_macro_f1": _r(macro), "troll_f1": _r(troll)}
    return out

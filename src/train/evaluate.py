"""The `evaluate` stage: score a labeled file, write metrics, confusion matrices and errors."""

import json
from pathlib import Path
from typing import Any

import pandas as pd
from triage.models.artifact import TriageModel
from triage.models.labels import CAUSES
from triage.train.metrics import compute_metrics
from triage.train.plots import troll_pr_curve, write_confusion
from triage.train.report import write_report


def score_frame(model: TriageModel, frame: pd.DataFrame) -> pd.DataFrame:
    """The labeled rows with the model's predictions beside them."""
    scores = model.score(frame.text.tolist())
    scored = frame.copy()
    scored["pred_lang"] = scores.langs
    scored["pred_cause"] = scores.causes
    scored["pred_troll"] = scores.trolls
    scored["troll_score"] = scores.troll_proba
    scored["cause_proba"] = list(scores.cause_proba)
    return scored


def _error_record(row: pd.Series) -> dict[str, Any]:
    record = {
        "id": row.get("id"),
        "text": row.text,
        "lang": row.lang,
        "pred_lang": row.pred_lang,
        "cause": row.cause,
        "pred_cause": row.pred_cause,
        "cause_score": round(float(row.cause_proba[CAUSES.index(row.pred_cause)]), 4),
        "troll": bool(row.troll),
        "pred_troll": bool(row.pred_troll),
        "troll_score": round(float(row.troll_score), 4),
    }
    record["errors"] = [
        name
        for name, wrong in (
            ("cause", row.cause != row.pred_cause),
            ("troll", row.troll != row.pred_troll),
        )
        if wrong
    ]
    return record


def evaluate(
    model: TriageModel,
    frame: pd.DataFrame,
    out_dir: Path,
    identity: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
    title: str = "test split",
) -> dict[str, Any]:
    """Write `metrics.json`, `errors.jsonl`, the confusion matrices, the troll precision-recall
    curve and the HTML report into `out_dir`. `identity` (model hash, MLflow run) and `data`
    (file hashes, corpus version) are recorded so results can be matched to a model version."""
    scored = score_frame(model, frame)
    report = {
        "model": {"name": model.name, "version": model.version, "kind": model.kind, **(identity or {})},
        "data": data or {},
        "troll_threshold": round(model.troll_threshold, 4),
        **compute_metrics(scored),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    wrong = scored[(scored.cause != scored.pred_cause) | (scored.troll != scored.pred_troll)]
    with (out_dir / "errors.jsonl").open("w", encoding="utf-8") as handle:
        for _, row in wrong.iterrows():
            handle.write(json.dumps(_error_record(row), ensure_ascii=False) + "\n")
    write_confusion(scored, out_dir)
    troll_pr_curve(scored, model.troll_threshold, out_dir)
    write_report(scored, report, out_dir, title)
    return report

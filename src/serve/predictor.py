"""`Predictor`: load a model (pipeline output or MLflow URI) and score batches of comments."""

import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from triage.models.artifact import ModelLoadError, Scores, TriageModel, load_model
from triage.models.labels import CAUSES
from triage.paths import MODEL_DIR
from triage.serve.replies import ReplyBook, ReplySettings
from triage.serve.schema import ModelInfo, Prediction

MLFLOW_SCHEMES = ("models:/", "runs:/", "mlflow-artifacts:/")
MODEL_URI_ENV = "TRIAGE_MODEL_URI"


def _load_from_mlflow(uri: str) -> TriageModel:
    import mlflow.pyfunc
    from triage.models.pyfunc import TriagePyfunc

    try:
        pyfunc_model = mlflow.pyfunc.load_model(uri)
    except Exception as exc:
        raise ModelLoadError(f"cannot load MLflow model {uri}: {exc}") from exc
    wrapped = pyfunc_model.unwrap_python_model()
    if not isinstance(wrapped, TriagePyfunc):
        raise ModelLoadError(f"{uri} is not a triage model ({type(wrapped).__name__})")
    model = wrapped.model
    version = _registry_version(uri)
    if version:
        model.version = version
    return model


def _registry_version(uri: str) -> str | None:
    """The registered version a `models:/name/N` or `models:/name@alias` URI points at."""
    if not uri.startswith("models:/"):
        return None
    from mlflow import MlflowClient

    ref = uri.removeprefix("models:/").strip("/")
    if "@" in ref:
        name, alias = ref.split("@", 1)
        return str(MlflowClient().get_model_version_by_alias(name, alias).version)
    parts = ref.split("/")
    return parts[1] if len(parts) > 1 and parts[1].isdigit() else None


class Predictor:
    """Scores comments with one loaded model and suggests the action and reply for each.

    Thread-safe for concurrent `predict` calls: nothing is mutated after loading.
    """

    def __init__(self, model: TriageModel, replies: ReplyBook | None = None):
        self.model = model
        self.replies = replies or ReplyBook.load()
        self.info = ModelInfo(name=model.name, version=model.version)

    @classmethod
    def load(cls, path: str | Path | None = None, replies_dir: str | Path | None = None) -> "Predictor":
        """Load from a folder, an MLflow URI, `$TRIAGE_MODEL_URI`, or the pipeline's output;
        reply templates from `replies_dir`, `$TRIAGE_REPLIES_DIR` or `configs/replies`."""
        replies = ReplyBook.load(replies_dir)
        source = path if path is not None else os.environ.get(MODEL_URI_ENV) or MODEL_DIR
        if isinstance(source, str) and source.startswith(MLFLOW_SCHEMES):
            return cls(_load_from_mlflow(source), replies)
        return cls(load_model(Path(source)), replies)

    def predict(
        self,
        texts: Sequence[str],
        *,
        ids: Sequence[str | int | None] | None = None,
        names: Sequence[str | None] | None = None,
        created_at: Sequence[datetime | str | None] | None = None,
        settings: Mapping[str, Any] | ReplySettings | None = None,
    ) -> list[Prediction]:
        """One prediction per text, in order, scored in one vectorised call.

        `ids` make the reply wording deterministic per comment (the text is used otherwise),
        `names` personalise greetings, `created_at` (datetimes or ISO 8601; naive means UTC) gives
        each prediction its `respond_by`, `settings` override `configs/replies/settings.yaml`.
        """
        texts = list(texts)
        return self.suggest(
            texts, self.score(texts), ids=ids, names=names, created_at=created_at, settings=settings
        )

    def score(self, texts: Sequence[str]) -> Scores:
        """The model's scores for a batch (no replies): what the HTTP service batches across requests."""
        return self.model.score(texts)

    def suggest(
        self,
        texts: Sequence[str],
        scores: Scores,
        *,
        ids: Sequence[str | int | None] | None = None,
        names: Sequence[str | None] | None = None,
        created_at: Sequence[datetime | str | None] | None = None,
        settings: Mapping[str, Any] | ReplySettings | None = None,
    ) -> list[Prediction]:
        """Predictions with actions, replies, sub-cases and priorities from the scores of `texts`."""
        ids = list(ids) if ids is not None else [None] * len(texts)
        names = list(names) if names is not None else [None] * len(texts)
        times = [as_utc(t) for t in created_at] if created_at is not None else [None] * len(texts)
        if not len(ids) == len(names) == len(times) == len(texts) == len(scores.langs):
            raise ValueError("texts, scores, ids, names and created_at must have the same length")
        resolved = self.replies.settings.merged(settings)
        causes = scores.causes
        trolls = scores.trolls
        rows = []
        for i, cause in enumerate(causes):
            rows.append(
                {
                    "lang": scores.langs[i],
                    "cause": cause,
                    "cause_score": float(scores.cause_proba[i, CAUSES.index(cause)]),
                    "troll": bool(trolls[i]),
                    "troll_score": float(scores.troll_proba[i]),
                    "key": str(ids[i]) if ids[i] is not None else texts[i],
                    "text": texts[i],
                    "none_score": float(scores.cause_proba[i, CAUSES.index("none")]),
                    "name": names[i],
                    "created_at": times[i],
                }
            )
        suggestions = self.replies.suggest_batch(rows, resolved)
        predictions = []
        for i, (row, suggestion) in enumerate(zip(rows, suggestions, strict=True)):
            proba = scores.cause_proba[i]
            predictions.append(
                Prediction(
                    lang=row["lang"],
                    lang_score=round(float(scores.lang_scores[i]), 4),
                    cause=row["cause"],
                    cause_scores={c: float(proba[j]) for j, c in enumerate(CAUSES)},
                    troll=row["troll"],
                    troll_score=row["troll_score"],
                    action=suggestion.action,
                    reply=suggestion.reply,
                    report=suggestion.report,
                    reason=suggestion.reason,
                    subcase=suggestion.subcase,
                    priority=suggestion.priority,
                    priority_score=suggestion.priority_score,
                    respond_by=iso_utc(suggestion.respond_by),
                    model=self.info,
                )
            )
        return predictions


def as_utc(value: datetime | str | None) -> datetime | None:
    """A UTC datetime from a datetime or ISO 8601 text (no offset means UTC)."""
    if value is None or value == "":
        return None
    stamp = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def iso_utc(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None

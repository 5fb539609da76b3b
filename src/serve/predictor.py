"""`Predictor`: load a model (pipeline output or MLflow URI) and score batches of comments."""

import os
import shutil
import tempfile
import uuid
import weakref
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from triage.models.artifact import (
    ARTIFACT_TAG,
    ModelLoadError,
    Scores,
    TriageModel,
    artifact_digest,
    load_model,
)
from triage.models.labels import CAUSES
from triage.paths import MODEL_DIR
from triage.serve.cache import CacheLookup, ScoreCache, cache_size_from_env
from triage.serve.replies import ReplyBook, ReplySettings
from triage.serve.schema import ModelInfo, Prediction

MLFLOW_SCHEMES = ("models:/", "runs:/", "mlflow-artifacts:/")
MODEL_URI_ENV = "TRIAGE_MODEL_URI"


def _load_from_mlflow(uri: str) -> TriageModel:
    """Download the logged model to a private temporary folder and load its artifact from there.

    Why not `mlflow.pyfunc.load_model`: it writes into the folder it loads from (Errno 30 on a
    read-only artifact store) and imports the code shipped inside the model. Here only the
    artifact's plain files are read, after their digest is checked against the registry's tag.
    """
    import mlflow.artifacts

    entry = registry_entry(uri)
    source = f"models:/{entry.name}/{entry.version}" if entry is not None else uri
    folder = Path(tempfile.mkdtemp(prefix="triage-model-"))
    try:
        try:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(folder)))
        except Exception as exc:
            raise ModelLoadError(f"cannot download MLflow model {uri}: {_first_line(exc)}") from exc
        artifact = _artifact_folder(local, uri)
        if entry is not None:
            expected = entry.tags.get(ARTIFACT_TAG)
            if not expected:
                raise ModelLoadError(f"{uri}: the registered version has no {ARTIFACT_TAG} tag to check it")
            actual = artifact_digest(artifact)
            if actual != expected:
                raise ModelLoadError(
                    f"{uri}: artifact digest {actual[:16]}… differs from the registry's {expected[:16]}…; "
                    "refusing to load it"
                )
        model = load_model(artifact)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    weakref.finalize(model, shutil.rmtree, folder, ignore_errors=True)  # network files are read lazily
    if entry is not None:
        model.version = str(entry.version)
    return model


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _artifact_folder(model_dir: Path, uri: str) -> Path:
    """Where the logged MLflow model keeps the triage artifact (its `MLmodel` says)."""
    import yaml
    from triage.models.pyfunc import ARTIFACT_KEY

    try:
        spec = yaml.safe_load((model_dir / "MLmodel").read_text(encoding="utf-8"))
        relative = spec["flavors"]["python_function"]["artifacts"][ARTIFACT_KEY]["path"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"{uri} is not a triage model (no {ARTIFACT_KEY} artifact in MLmodel)") from exc
    folder = (model_dir / relative).resolve()
    if not folder.is_relative_to(model_dir.resolve()):
        raise ModelLoadError(f"{uri}: the MLmodel file points outside the model")
    return folder


def registry_entry(uri: str):
    """The registered model version a `models:/name/N` or `models:/name@alias` URI points at."""
    if not uri.startswith("models:/"):
        return None
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    ref = uri.removeprefix("models:/").strip("/")
    client = MlflowClient()
    try:
        if "@" in ref:
            name, alias = ref.split("@", 1)
            return client.get_model_version_by_alias(name, alias)
        parts = ref.split("/")
        if len(parts) == 2 and parts[1].isdigit():
            return client.get_model_version(parts[0], parts[1])
    except MlflowException as exc:
        raise ModelLoadError(f"cannot find MLflow model {uri}: {_first_line(exc)}") from exc
    return None


def _registry_version(uri: str) -> str | None:
    """The registered version number a `models:/…` URI points at (None for other URIs)."""
    entry = registry_entry(uri)
    return str(entry.version) if entry is not None else None


def model_source(path: str | Path | None = None) -> str:
    """Where a model comes from: `path`, else `$TRIAGE_MODEL_URI`, else the pipeline's output."""
    return str(path) if path is not None else os.environ.get(MODEL_URI_ENV) or str(MODEL_DIR)


class Predictor:
    """Scores comments with one loaded model and suggests the action and reply for each.

    Thread-safe for concurrent `predict` calls: nothing is mutated after loading but the score
    cache, which has its own lock.
    """

    def __init__(self, model: TriageModel, replies: ReplyBook | None = None, cache: ScoreCache | None = None):
        self.model = model
        self.replies = replies or ReplyBook.load()
        self.info = ModelInfo(name=model.name, version=model.version)
        self.cache = cache if cache is not None else ScoreCache(0)
        # A model fitted in memory has no digest: a token of its own keeps its entries apart.
        self._cache_token = model.digest or f"unsaved-{uuid.uuid4().hex}"

    @property
    def digest(self) -> str | None:
        """The artifact digest of the model (None for a model fitted in memory)."""
        return self.model.digest

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        replies_dir: str | Path | None = None,
        *,
        replies: ReplyBook | None = None,
        cache: ScoreCache | None = None,
    ) -> "Predictor":
        """Load from a folder, an MLflow URI, `$TRIAGE_MODEL_URI`, or the pipeline's output;
        reply templates from `replies` or `replies_dir`, `$TRIAGE_REPLIES_DIR` or
        `configs/replies`; scores cached in `cache`, else a new one of `$TRIAGE_CACHE_SIZE`."""
        replies = replies or ReplyBook.load(replies_dir)
        cache = cache if cache is not None else ScoreCache(cache_size_from_env())
        source = model_source(path)
        if source.startswith(MLFLOW_SCHEMES):
            return cls(_load_from_mlflow(source), replies, cache)
        return cls(load_model(Path(source)), replies, cache)

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
        """The model's scores for a batch (no replies), from the cache where it has them: what
        the HTTP service batches across requests."""
        lookup = self.lookup(texts)
        if lookup.missing:
            lookup.fill(self.model.score(lookup.missing))
        return lookup.scores(self.model.troll_threshold)

    def lookup(self, texts: Sequence[str]) -> CacheLookup:
        """What the cache holds of `texts` for this model, and which texts are left to score."""
        return CacheLookup(self.cache, self._cache_token, texts)

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
        rows = suggestion_rows(
            texts,
            scores.langs,
            scores.cause_proba,
            scores.trolls,
            scores.troll_proba,
            ids=ids,
            names=names,
            created_at=created_at,
        )
        resolved = self.replies.settings.merged(settings)
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


def suggestion_rows(
    texts: Sequence[str],
    langs: Sequence[str],
    cause_proba: np.ndarray,
    trolls: Sequence[bool],
    troll_proba: Sequence[float],
    *,
    ids: Sequence[str | int | None] | None = None,
    names: Sequence[str | None] | None = None,
    created_at: Sequence[datetime | str | None] | None = None,
) -> list[dict[str, Any]]:
    """The inputs of `ReplyBook.suggest_batch`, one per text, from a batch's scores.

    Why a function of plain columns: `Predictor` (CLI, HTTP, local batch) and the Spark engine
    (whose executors see only the pyfunc's score columns) must turn the same scores into the
    same actions, sub-cases and priorities, so both build the reply inputs here.
    """
    n = len(texts)
    ids = list(ids) if ids is not None else [None] * n
    names = list(names) if names is not None else [None] * n
    times = [as_utc(t) for t in created_at] if created_at is not None else [None] * n
    proba = np.asarray(cause_proba, dtype=np.float64)
    if not len(ids) == len(names) == len(times) == len(langs) == len(proba) == len(trolls) == n:
        raise ValueError("texts, scores, ids, names and created_at must have the same length")
    none = CAUSES.index("none")
    rows = []
    for i, best in enumerate(proba.argmax(axis=1) if n else []):
        rows.append(
            {
                "lang": langs[i],
                "cause": CAUSES[int(best)],
                "cause_score": float(proba[i, best]),
                "troll": bool(trolls[i]),
                "troll_score": float(troll_proba[i]),
                "key": str(ids[i]) if ids[i] is not None else texts[i],
                "text": texts[i],
                "none_score": float(proba[i, none]),
                "name": names[i],
                "created_at": times[i],
            }
        )
    return rows


def as_utc(value: datetime | str | None) -> datetime | None:
    """A UTC datetime from a datetime or ISO 8601 text (no offset means UTC)."""
    if value is None or value == "":
        return None
    stamp = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def iso_utc(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None

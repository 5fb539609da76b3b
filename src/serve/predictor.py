"""`Predictor`: load a model (pipeline output or MLflow URI) and score batches of comments."""

import os
from collections.abc import Sequence
from pathlib import Path

from triage.models.artifact import ModelLoadError, TriageModel, load_model
from triage.models.labels import CAUSES
from triage.paths import MODEL_DIR
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
    """Scores comments with one loaded model; thread-safe for concurrent `predict` calls."""

    def __init__(self, model: TriageModel):
        self.model = model
        self.info = ModelInfo(name=model.name, version=model.version)

    @classmethod
    def load(cls, path: str | Path | None = None) -> "Predictor":
        """Load from a folder, an MLflow URI, `$TRIAGE_MODEL_URI`, or the pipeline's output."""
        source = path if path is not None else os.environ.get(MODEL_URI_ENV) or MODEL_DIR
        if isinstance(source, str) and source.startswith(MLFLOW_SCHEMES):
            return cls(_load_from_mlflow(source))
        return cls(load_model(Path(source)))

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """One prediction per text, in order, scored in one vectorised call."""
        scores = self.model.score(list(texts))
        causes = scores.causes
        trolls = scores.trolls
        predictions = []
        for i in range(len(causes)):
            row = scores.cause_proba[i]
            predictions.append(
                Prediction(
                    lang=scores.langs[i],
                    lang_score=round(float(scores.lang_scores[i]), 4),
                    cause=causes[i],
                    cause_scores={c: float(row[j]) for j, c in enumerate(CAUSES)},
                    troll=bool(trolls[i]),
                    troll_score=float(scores.troll_proba[i]),
                    model=self.info,
                )
            )
        return predictions

"""The MLflow pyfunc flavour of a triage model, so `mlflow models serve` and Spark UDFs work.

The wrapper only loads the artifact folder with `load_model`; it carries no logic of its
own, so MLflow and the in-process predictor give the same answers.
"""

from pathlib import Path

import mlflow.pyfunc
import pandas as pd
from triage.models.artifact import TriageModel, load_model
from triage.models.labels import CAUSES, SCORE_COLUMNS

ARTIFACT_KEY = "triage_model"
OUTPUT_COLUMNS = list(SCORE_COLUMNS)


def scores_frame(model: TriageModel, texts: list[str]) -> pd.DataFrame:
    """One row per text: language, cause, troll decision and every score."""
    scores = model.score(texts)
    frame = pd.DataFrame(
        {
            "lang": scores.langs,
            "cause": scores.causes,
            "troll": scores.trolls.astype(bool),
            "troll_score": scores.troll_proba.astype(float),
        }
    )
    for i, cause in enumerate(CAUSES):
        frame[f"score_{cause}"] = scores.cause_proba[:, i].astype(float)
    return frame


class TriagePyfunc(mlflow.pyfunc.PythonModel):
    """Input: a DataFrame with a `text` column (or a list of strings)."""

    def load_context(self, context) -> None:
        self.model = load_model(Path(context.artifacts[ARTIFACT_KEY]))

    def predict(self, context, model_input, params=None) -> pd.DataFrame:
        if isinstance(model_input, pd.DataFrame):
            if "text" not in model_input.columns:
                raise ValueError("input needs a 'text' column")
            texts = model_input["text"].astype(str).tolist()
        else:
            texts = [str(t) for t in model_input]
        return scores_frame(self.model, texts)

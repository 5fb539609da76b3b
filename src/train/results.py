"""Evaluation results for analysis (the notebooks): read them from a reports folder or from a
registered MLflow model version, pick the comments of one confusion cell, compare versions.

`evaluate` logs the same files to the training run (`evaluation/metrics.json`,
`evaluation/errors.jsonl`, `evaluation/confusion/*.csv`) that it writes to `reports/`, so a
version from the registry and the current reports are read the same way.
"""

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from triage.train.metrics import SCOPES
from triage.train.plots import task_names

_ERROR_COLUMNS = [
    "id",
    "text",
    "lang",
    "pred_lang",
    "cause",
    "pred_cause",
    "cause_score",
    "troll",
    "pred_troll",
]


@dataclass
class Evaluation:
    """One model's evaluation: its metrics, matrices (counts) and misclassified comments."""

    label: str
    metrics: dict[str, Any]
    matrices: dict[str, pd.DataFrame]
    errors: pd.DataFrame

    @property
    def scopes(self) -> list[str]:
        return [s for s in SCOPES if s in self.metrics]

    def matrix(self, task: str, scope: str = "all", normalized: bool = False) -> pd.DataFrame:
        """Counts (or row shares) with true labels as rows and predictions as columns."""
        key = f"{task}_{scope}"
        if key not in self.matrices:
            raise KeyError(f"{self.label}: no {task} matrix for {scope!r} (have {sorted(self.matrices)})")
        counts = self.matrices[key]
        if not normalized:
            return counts
        return counts.div(counts.sum(axis=1).where(lambda s: s > 0), axis=0).fillna(0.0)

    def cell(self, task: str, actual: str, predicted: str, lang: str = "all") -> pd.DataFrame:
        """The misclassified comments of one off-diagonal cell (actual → predicted)."""
        names = task_names(task)
        for value in (actual, predicted):
            if value not in names:
                raise ValueError(f"unknown {task} label {value!r}; expected one of {names}")
        if actual == predicted:
            raise ValueError("a diagonal cell holds correct predictions; errors.jsonl keeps only mistakes")
        rows = self.errors
        if task == "troll":
            rows = rows[(rows.troll == (actual == "troll")) & (rows.pred_troll == (predicted == "troll"))]
        else:
            rows = rows[(rows.cause == actual) & (rows.pred_cause == predicted)]
        if lang != "all":
            rows = rows[rows.lang == lang]
        return rows.reset_index(drop=True)


def read_reports(folder: Path, label: str | None = None) -> Evaluation:
    """An evaluation written by `triage evaluate` (the stage's `reports/`, or any `--out`)."""
    metrics_path = folder / "metrics.json"
    if not metrics_path.is_file():
        raise FileNotFoundError(f"{metrics_path} not found: run `dvc repro` or `triage evaluate` first")
    metrics = json.loads(metrics_path.read_text())
    matrices = {
        path.name.removesuffix("_counts.csv"): pd.read_csv(path, index_col=0).rename_axis(None)
        for path in sorted((folder / "confusion").glob("*_counts.csv"))
    }
    errors_path = folder / "errors.jsonl"
    errors = pd.read_json(errors_path, lines=True) if errors_path.stat().st_size else pd.DataFrame()
    if errors.empty:
        errors = pd.DataFrame(columns=_ERROR_COLUMNS)
    model = metrics.get("model", {})
    label = label or f"{model.get('name')} v{model.get('version')} ({folder.name})"
    return Evaluation(label, metrics, matrices, errors)


def read_registered(name: str, version: str, tracking_uri: str | None = None) -> Evaluation:
    """The evaluation logged to the training run of a registered model version (number or
    `@alias`, e.g. "3" or "@champion")."""
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    if version.startswith("@"):
        found = client.get_model_version_by_alias(name, version[1:])
    else:
        found = client.get_model_version(name, version)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = mlflow.artifacts.download_artifacts(
                run_id=found.run_id, artifact_path="evaluation", dst_path=tmp, tracking_uri=tracking_uri
            )
        except Exception as exc:  # MLflow raises several types for a missing artifact
            raise FileNotFoundError(
                f"model {name} version {found.version} has no evaluation logged (run `triage evaluate`)"
            ) from exc
        return read_reports(Path(path), label=f"{name} v{found.version}")


def compare(first: Evaluation, second: Evaluation) -> pd.DataFrame:
    """Headline metrics of two evaluations side by side, with the change."""
    rows = []
    for scope in SCOPES:
        if scope not in first.metrics or scope not in second.metrics:
            continue
        for key in ("accuracy", "macro_f1"):
            rows.append(
                (
                    scope,
                    f"cause {key}",
                    first.metrics[scope]["cause"][key],
                    second.metrics[scope]["cause"][key],
                )
            )
        for key in ("precision", "recall", "f1", "roc_auc"):
            rows.append(
                (
                    scope,
                    f"troll {key}",
                    first.metrics[scope]["troll"][key],
                    second.metrics[scope]["troll"][key],
                )
            )
    names = [first.label, second.label if second.label != first.label else f"{second.label} (2)"]
    table = pd.DataFrame(rows, columns=["scope", "metric", *names]).astype({n: float for n in names})
    table["change"] = table[names[1]] - table[names[0]]
    return table.set_index(["scope", "metric"])


def load(
    source: str, project: Path = Path("."), model_name: str = "triage", tracking_uri: str | None = None
) -> Evaluation:
    """`source` is a registered version of `model_name` ("3", "@champion") or a reports folder
    relative to `project` ("reports", "reports/benchmark/all"). The registry is `tracking_uri`,
    else `MLFLOW_TRACKING_URI`, else the project's `mlflow.db`, as in the pipeline."""
    source = str(source)
    if source.isdigit() or source.startswith("@"):
        default = f"sqlite:///{(project / 'mlflow.db').resolve()}"
        return read_registered(
            model_name, source, tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or default
        )
    return read_reports(project / source)

"""MLflow tracking and the model registry for the `train` and `evaluate` stages.

Runs go to a SQLite file in the project by default (`mlflow.db`, artifacts in `mlruns/`),
or to whatever `MLFLOW_TRACKING_URI` names. Every training run registers a new version of
the model; the `champion` alias moves only when the new version is better on the valid
split's cause macro-F1 (aliases replace the deprecated registry stages).
"""

import logging
import os
import shutil
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from triage.models.artifact import ARTIFACT_TAG, artifact_digest, load_model, read_manifest
from triage.models.blend import KIND as BLEND_KIND
from triage.models.pyfunc import ARTIFACT_KEY, scores_frame
from triage.models.transformer import KIND as TRANSFORMER_KIND

log = logging.getLogger(__name__)

DEFAULT_DB = Path("mlflow.db")
DEFAULT_ARTIFACTS = Path("mlruns")
CHAMPION = "champion"
SELECTION_METRIC = "valid_all_cause_macro_f1"
_SERVING_PACKAGES = (
    "numpy",
    "scipy",
    "scikit-learn",
    "pandas",
    "joblib",
    "lingua-language-detector",
    "mlflow",
    "pyyaml",
    "pydantic",
)
# Added for the transformer kind: ONNX serving needs tokenizers + onnxruntime, the PyTorch
# fallback the rest.
_TRANSFORMER_PACKAGES = ("tokenizers", "onnxruntime", "torch", "transformers", "safetensors")


def configure() -> str:
    """Point MLflow at `MLFLOW_TRACKING_URI`, or at the project's SQLite file."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{DEFAULT_DB.resolve()}"
    mlflow.set_tracking_uri(uri)
    return uri


def ensure_experiment(name: str) -> str:
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = None
    if mlflow.get_tracking_uri().startswith("sqlite:"):
        location = DEFAULT_ARTIFACTS.resolve().as_uri()
    return mlflow.create_experiment(name, artifact_location=location)


def serving_requirements(kind: str | None = None) -> list[str]:
    """Pinned pip requirements of the logged model, taken from this environment."""
    pins = []
    names = _SERVING_PACKAGES + (_TRANSFORMER_PACKAGES if kind in (TRANSFORMER_KIND, BLEND_KIND) else ())
    for name in names:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return pins


def model_code_script(workdir: Path) -> Path:
    """MLflow "models from code": a script naming the model class, instead of a pickle of it."""
    script = workdir / "triage_model.py"
    script.write_text(
        "import mlflow.models\n"
        "from triage.models.pyfunc import TriagePyfunc\n\n"
        "mlflow.models.set_model(TriagePyfunc())\n"
    )
    return script


def _package_copy(workdir: Path) -> Path:
    """A copy of the `triage` package to ship inside the MLflow model (`code_paths`)."""
    import triage

    source = Path(triage.__file__).parent
    target = workdir / "triage"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


def log_and_register(
    model_dir: Path,
    model_name: str,
    params: dict[str, Any],
    metrics: dict[str, float | None],
    artifacts: list[Path],
    example_texts: list[str],
) -> dict[str, Any]:
    """Log a run, the pyfunc model and register it; returns run id, version and alias state."""
    client = MlflowClient()
    with mlflow.start_run() as run, tempfile.TemporaryDirectory() as tmp:
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        mlflow.log_metrics({k: v for k, v in metrics.items() if v is not None})
        for path in artifacts:
            if path.exists():
                mlflow.log_artifact(str(path), artifact_path="reports")
        example = pd.DataFrame({"text": example_texts})
        signature = infer_signature(example, scores_frame(load_model(model_dir), example_texts))
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(model_code_script(Path(tmp))),
            artifacts={ARTIFACT_KEY: str(model_dir)},
            code_paths=[str(_package_copy(Path(tmp)))],
            pip_requirements=serving_requirements(read_manifest(model_dir).get("kind")),
            signature=signature,
            input_example=example,
            registered_model_name=model_name,
        )
        version = str(info.registered_model_version)
        client.set_model_version_tag(
            model_name, version, SELECTION_METRIC, str(metrics.get(SELECTION_METRIC))
        )
        client.set_model_version_tag(model_name, version, ARTIFACT_TAG, artifact_digest(model_dir))
        promoted, previous = _maybe_promote(client, model_name, version, metrics.get(SELECTION_METRIC))
        return {
            "run_id": run.info.run_id,
            "experiment_id": run.info.experiment_id,
            "registered_version": version,
            "champion": promoted,
            "previous_champion": previous,
        }


def _maybe_promote(
    client: MlflowClient, name: str, version: str, score: float | None
) -> tuple[bool, str | None]:
    try:
        current = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        current = None
    if current is None:
        client.set_registered_model_alias(name, CHAMPION, version)
        log.info("model %s version %s is the first champion", name, version)
        return True, None
    best = _version_score(client, current)
    if score is not None and (best is None or score > best):
        client.set_registered_model_alias(name, CHAMPION, version)
        log.info("champion moves to version %s (%.4f > %s)", version, score, best)
        return True, current.version
    log.info("champion stays at version %s (%s >= %s)", current.version, best, score)
    return False, current.version


def _version_score(client: MlflowClient, version) -> float | None:
    value = version.tags.get(SELECTION_METRIC)
    if value not in (None, "None"):
        return float(value)
    if version.run_id:
        return client.get_run(version.run_id).data.metrics.get(SELECTION_METRIC)
    return None


def log_to_run(
    run_id: str, metrics: dict[str, float | None], artifacts: list[Path], artifact_path: str = "evaluation"
) -> None:
    """Add evaluation results (or the model card) to the training run they belong to; a file
    logged again under the same path replaces the earlier one."""
    with mlflow.start_run(run_id=run_id):
        mlflow.log_metrics({k: v for k, v in metrics.items() if v is not None})
        for path in artifacts:
            if path.is_dir():
                mlflow.log_artifacts(str(path), artifact_path=f"{artifact_path}/{path.name}")
            elif path.exists():
                mlflow.log_artifact(str(path), artifact_path=artifact_path)

"""A registered model: its digest is a version tag, and loading it never writes into the store."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from triage.models.artifact import ARTIFACT_TAG, artifact_digest, save_model
from triage.models.manifest import ModelLoadError
from triage.serve.predictor import Predictor
from triage.train.tracking import log_and_register

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def registry(fitted_model, tmp_path_factory, sample_examples):
    root = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    os.environ["MLFLOW_TRACKING_URI"] = uri
    experiment = mlflow.create_experiment("registry-test", artifact_location=(root / "mlruns").as_uri())
    mlflow.set_experiment(experiment_id=experiment)
    model_dir = save_model(fitted_model, root / "model")
    log_and_register(model_dir, "triage", {}, {"valid_all_cause_macro_f1": 0.5}, [], ["a", "b"])
    yield root, model_dir, uri
    del os.environ["MLFLOW_TRACKING_URI"]
    mlflow.set_tracking_uri(previous)


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def test_registered_version_carries_the_artifact_digest(registry):
    _, model_dir, _ = registry
    version = MlflowClient().get_model_version_by_alias("triage", "champion")
    assert version.tags[ARTIFACT_TAG] == artifact_digest(model_dir)


def test_loading_from_the_registry_writes_nothing_into_the_store(registry, sample_examples):
    root, model_dir, _ = registry
    before = _snapshot(root / "mlruns")
    predictor = Predictor.load("models:/triage@champion")
    assert _snapshot(root / "mlruns") == before  # MLflow's own loader adds registered_model_meta
    texts = [e.text for e in sample_examples[:5]]
    local = Predictor.load(model_dir)
    assert [p.cause for p in predictor.predict(texts)] == [p.cause for p in local.predict(texts)]
    assert predictor.info.version == "1"


def test_a_tampered_registered_artifact_is_refused_in_one_line(registry, tmp_path):
    root, _, uri = registry
    [manifest_path] = [p for p in (root / "mlruns").rglob("manifest.json") if p.parent.name == "model"]
    backup = tmp_path / "manifest.json"
    shutil.copy(manifest_path, backup)
    manifest = json.loads(manifest_path.read_text())
    manifest["troll_threshold"] = 0.01  # consistent with the files, but not what was registered
    manifest_path.write_text(json.dumps(manifest))
    try:
        with pytest.raises(ModelLoadError, match="differs from the registry's"):
            Predictor.load("models:/triage/1")
        result = subprocess.run(
            [str(BIN / "triage"), "predict", "--text", "hi", "--model", "models:/triage/1"],
            capture_output=True, text=True, timeout=300, env={**os.environ, "MLFLOW_TRACKING_URI": uri},
        )  # fmt: skip
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert "differs from the registry's" in result.stderr
    finally:
        shutil.copy(backup, manifest_path)

"""Hostile model artifacts: nothing loaded can run code, and any change is refused in one line."""

import json
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from triage.models.artifact import MANIFEST, ModelLoadError, artifact_digest, load_model, save_model
from triage.models.calibration import PlainCalibrator, calibrate_logits, calibrated_proba

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def artifact(fitted_model, tmp_path_factory):
    return save_model(fitted_model, tmp_path_factory.mktemp("secure-model"))


@pytest.fixture
def copy(artifact, tmp_path):
    target = tmp_path / "model"
    shutil.copytree(artifact, target)
    return target


def _manifest(folder: Path) -> dict:
    return json.loads((folder / MANIFEST).read_text())


def _write_manifest(folder: Path, manifest) -> None:
    (folder / MANIFEST).write_text(json.dumps(manifest))


class _Exploit:
    """Unpickling this creates a marker file: proof that loading ran code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_artifact_holds_no_pickle_and_lists_every_file_with_its_sha256(artifact):
    manifest = _manifest(artifact)
    files = {str(p.relative_to(artifact)) for p in artifact.rglob("*") if p.is_file()} - {MANIFEST}
    assert set(manifest["files"]) == files
    assert all(len(digest) == 64 for digest in manifest["files"].values())
    assert {Path(name).suffix for name in files} <= {".json", ".npz"}
    for name in files:
        if name.endswith(".npz"):
            np.load(artifact / name, allow_pickle=False)  # would raise on any object array


def test_a_pickle_in_the_folder_is_never_loaded(copy, tmp_path):
    marker = tmp_path / "pwned"
    (copy / "model.joblib").write_bytes(pickle.dumps(_Exploit(marker)))
    load_model(copy)
    manifest = _manifest(copy)
    manifest["format"] = "triage-model/1"  # the old pickled format
    _write_manifest(copy, manifest)
    with pytest.raises(ModelLoadError, match="unsupported format 'triage-model/1'"):
        load_model(copy)
    assert not marker.exists()


@pytest.mark.parametrize("name", ["classifier.npz", "langid.json", "classifier.json"])
def test_a_changed_file_is_refused_before_anything_is_read(copy, name):
    data = bytearray((copy / name).read_bytes())
    data[len(data) // 2] ^= 1
    (copy / name).write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=rf"{name}: sha256 .* differs .* refusing to load it") as caught:
        load_model(copy)
    assert "\n" not in str(caught.value)


def test_a_changed_threshold_changes_the_artifact_digest(copy, artifact):
    manifest = _manifest(copy)
    manifest["troll_threshold"] = 0.01
    _write_manifest(copy, manifest)
    assert artifact_digest(copy) != artifact_digest(artifact)
    manifest["version"], manifest["mlflow"] = "42", {"run_id": "abc"}  # registry fields do not count
    manifest["troll_threshold"] = _manifest(artifact)["troll_threshold"]
    _write_manifest(copy, manifest)
    assert artifact_digest(copy) == artifact_digest(artifact)


def _edit(manifest: dict, case: str):
    if case == "list":
        return [manifest]
    if case == "labels":
        manifest["labels"]["cause"] = ["x", *manifest["labels"]["cause"][1:]]
    elif case == "no version":
        del manifest["version"]
    elif case == "kind":
        manifest["kind"] = "gradient_boosting"
    elif case == "threshold type":
        manifest["troll_threshold"] = "0.5"
    elif case == "traversal":
        manifest["files"]["../outside.json"] = "0" * 64
    elif case == "no files":
        manifest["files"] = {}
    elif case == "bad digest":
        manifest["files"]["langid.json"] = "not-a-digest"
    return manifest


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("list", "expected a JSON object, got list"),
        ("labels", r"labels\.cause: causes .* differ"),
        ("no version", "version: Field required"),
        ("kind", "unknown model kind 'gradient_boosting'"),
        ("threshold type", "troll_threshold: Input should be a valid number"),
        ("traversal", "not a plain relative path"),
        ("no files", "files: Dictionary should have at least 1 item"),
        ("bad digest", r"files\.langid\.json: String should match pattern"),
    ],
)
def test_an_invalid_manifest_is_refused_in_one_line(copy, case, message):
    _write_manifest(copy, _edit(_manifest(copy), case))
    with pytest.raises(ModelLoadError, match=message) as caught:
        load_model(copy)
    assert "\n" not in str(caught.value)


def test_a_symlink_out_of_the_folder_is_refused(copy, tmp_path):
    outside = tmp_path / "outside.json"
    outside.write_bytes((copy / "langid.json").read_bytes())
    (copy / "langid.json").unlink()
    (copy / "langid.json").symlink_to(outside)
    with pytest.raises(ModelLoadError, match="points outside the model folder"):
        load_model(copy)


def test_predict_and_serve_refuse_a_tampered_model_without_a_traceback(copy):
    (copy / "classifier.npz").write_bytes(b"PK not the model")
    for command in (["predict", "--text", "hello"], ["serve", "--port", "1"]):
        result = subprocess.run(
            [str(BIN / "triage"), *command, "--model", str(copy)], capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
        assert "classifier.npz: sha256" in result.stderr and "refusing to load it" in result.stderr


@pytest.mark.parametrize("method", ["temperature", "sigmoid", "isotonic"])
@pytest.mark.parametrize("n_classes", [2, 4])
def test_plain_calibration_equals_sklearn(method, n_classes):
    rng = np.random.default_rng(n_classes)
    features = rng.normal(size=(400, 6))
    labels = (features[:, :n_classes].argmax(axis=1) + (rng.random(400) < 0.2)) % n_classes
    head = LogisticRegression().fit(features[:200], labels[:200])
    fitted = CalibratedClassifierCV(FrozenEstimator(head), method=method).fit(features[200:], labels[200:])
    plain = PlainCalibrator.from_sklearn(fitted)
    settings, arrays = plain.to_arrays("head")
    restored = PlainCalibrator.from_arrays("head", json.loads(json.dumps(settings)), arrays)
    decision = head.decision_function(features)
    assert np.allclose(restored.predict_proba(decision), fitted.predict_proba(features), atol=1e-10)
    logits = rng.normal(size=(300, n_classes))
    sk = calibrate_logits(logits[:200], labels[:200], method)
    as_arrays = PlainCalibrator.from_sklearn(sk, logits=True)
    assert np.allclose(
        calibrated_proba(as_arrays, logits, n_classes), calibrated_proba(sk, logits, n_classes), atol=1e-10
    )

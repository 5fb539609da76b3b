"""One artifact format for every model kind, loadable without the training code.

An artifact is a folder:

    manifest.json   format version, model name/kind/version, labels, thresholds, metrics,
                    library versions: everything a reader needs without unpickling anything
    model.joblib    the fitted `TriageModel` (classifier heads + language identifier)
    ...             files a kind keeps outside the pickle (the transformer's encoder/,
                    heads.safetensors, tokenizer/ and model.onnx), listed in the manifest

A kind whose weights are plain files implements `save_files(path) -> names` (called by
`save_model`) and `load_files(path)` (called by `load_model`), so the predictor, the MLflow
wrapper and the HTTP service load any kind through `load_model`.
"""

import json
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import joblib
import numpy as np
import sklearn
from triage.models.fast_tfidf import TextBatch
from triage.models.labels import CAUSES, LANGS
from triage.models.langid import LanguageIdentifier

FORMAT = "triage-model/1"
MANIFEST = "manifest.json"
PAYLOAD = "model.joblib"
_LIBRARIES = ("scikit-learn", "numpy", "scipy", "lingua-language-detector", "joblib")
_FILE_LIBRARIES = ("torch", "transformers", "tokenizers", "safetensors", "onnxruntime")
"""Recorded too when the kind keeps files (the transformer); never imported here."""


class CauseTrollClassifier(Protocol):
    """What every model kind provides: calibrated probabilities for both heads."""

    kind: str

    def predict_proba(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]: ...


class FileBackedClassifier(CauseTrollClassifier, Protocol):
    """A kind whose network lives as plain files beside model.joblib."""

    def save_files(self, path: Path) -> list[str]: ...

    def load_files(self, path: Path) -> None: ...


@dataclass
class Scores:
    """Raw model output for a batch; the predictor turns it into `Prediction`s."""

    langs: list[str]
    lang_scores: np.ndarray
    cause_proba: np.ndarray
    troll_proba: np.ndarray
    troll_threshold: float

    def rows(self, start: int, stop: int) -> "Scores":
        """The scores of texts `start` to `stop` of the batch."""
        return Scores(
            self.langs[start:stop],
            self.lang_scores[start:stop],
            self.cause_proba[start:stop],
            self.troll_proba[start:stop],
            self.troll_threshold,
        )

    @property
    def causes(self) -> list[str]:
        return [CAUSES[i] for i in self.cause_proba.argmax(axis=1)]

    @property
    def trolls(self) -> np.ndarray:
        return self.troll_proba >= self.troll_threshold


@dataclass
class TriageModel:
    """A classifier, its language identifier and the decision threshold for trolls."""

    classifier: CauseTrollClassifier
    langid: LanguageIdentifier
    troll_threshold: float = 0.5
    name: str = "triage"
    version: str = "unversioned"
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.classifier.kind

    def score(self, texts: Sequence[str]) -> Scores:
        """Score a batch in one vectorised call per head."""
        texts = TextBatch(texts)  # normalised and hashed once for both the classifier and language id
        if not texts:
            empty = np.zeros((0, len(CAUSES)))
            return Scores([], np.zeros(0), empty, np.zeros(0), self.troll_threshold)
        # Inputs are our own sparse features: skip sklearn's per-call validation overhead.
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            langs, lang_scores = self.langid.predict(texts)
            cause, troll = self.classifier.predict_proba(texts)
        return Scores(langs, lang_scores, cause, troll, self.troll_threshold)


def library_versions(with_files: bool = False) -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES + (_FILE_LIBRARIES if with_files else ()):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def save_model(model: TriageModel, path: Path, extra_manifest: dict[str, Any] | None = None) -> Path:
    """Write the artifact folder; existing files of a previous model are replaced."""
    path.mkdir(parents=True, exist_ok=True)
    files = [PAYLOAD]
    has_files = hasattr(model.classifier, "save_files")
    if has_files:
        files += model.classifier.save_files(path)
    joblib.dump(model, path / PAYLOAD, compress=3)
    manifest = {
        "format": FORMAT,
        "name": model.name,
        "kind": model.kind,
        "version": model.version,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "labels": {"cause": list(CAUSES), "lang": list(LANGS)},
        "troll_threshold": model.troll_threshold,
        "libraries": library_versions(with_files=has_files),
        "files": files,
        **model.metadata,
        **(extra_manifest or {}),
    }
    (path / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return path


class ModelLoadError(RuntimeError):
    """The artifact is missing, unreadable or of an unknown format."""


def read_manifest(path: Path) -> dict[str, Any]:
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise ModelLoadError(f"no model at {path}: {MANIFEST} not found (run `dvc repro` first)")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"unreadable model manifest {manifest_path}: {exc}") from exc
    if manifest.get("format") != FORMAT:
        raise ModelLoadError(
            f"{manifest_path}: unsupported format {manifest.get('format')!r}, expected {FORMAT!r}"
        )
    return manifest


def load_model(path: Path) -> TriageModel:
    """Load any model kind from an artifact folder."""
    manifest = read_manifest(path)
    try:
        model = joblib.load(path / PAYLOAD)
    except Exception as exc:
        raise ModelLoadError(f"cannot load {path / PAYLOAD}: {exc}") from exc
    if not isinstance(model, TriageModel):
        raise ModelLoadError(f"{path / PAYLOAD} holds {type(model).__name__}, not a TriageModel")
    if hasattr(model.classifier, "load_files"):
        try:
            model.classifier.load_files(path)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load the {model.kind} model files in {path}: {exc}") from exc
    model.version = str(manifest.get("version", model.version))
    return model

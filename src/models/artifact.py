"""One artifact format for every model kind: plain files, each one's sha256 in a validated manifest.

An artifact is a folder:

    manifest.json    format, model name/kind/version, labels, threshold, library versions,
                     and `files`: every other file of the artifact with its sha256
    langid.json/.npz the language identifier (settings + hashed vocabulary and weights)
    ...              the kind's own files (`save_state`): JSON settings, `.npz` arrays,
                     safetensors/ONNX/tokenizer files for a network

Why: the artifact used to be a joblib pickle, which runs code when loaded. Nothing here can:
JSON, `.npz` read with `allow_pickle=False`, safetensors and ONNX only hold data. Loading
validates the manifest (`triage.models.manifest`) and checks every listed file's sha256
before it reads any of them, so a changed or swapped file is refused in one line. The
manifest's own sha256 (`artifact_digest`) identifies the whole artifact: the MLflow registry
version carries it as a tag.
"""

import hashlib
import json
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import sklearn
from triage.models.fast_tfidf import TextBatch
from triage.models.labels import CAUSES, LANGS
from triage.models.langid import LanguageIdentifier
from triage.models.manifest import FORMAT, MANIFEST, Manifest, ModelLoadError, content_digest, parse_manifest

__all__ = ["FORMAT", "MANIFEST", "Manifest", "ModelLoadError"]

_LIBRARIES = ("scikit-learn", "numpy", "scipy", "lingua-language-detector")
_FILE_LIBRARIES = ("torch", "transformers", "tokenizers", "safetensors", "onnxruntime")
"""Recorded too when the kind keeps a network (the transformer); never imported here."""
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
ARTIFACT_TAG = "artifact_sha256"
"""The MLflow model-version tag holding `artifact_digest` of the registered artifact."""


class CauseTrollClassifier(Protocol):
    """What every model kind provides: calibrated probabilities for both heads."""

    kind: str

    def predict_proba(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]: ...


class PlainFileClassifier(CauseTrollClassifier, Protocol):
    """How a kind persists itself: plain files only (see `triage.models.kinds`)."""

    def save_state(self, folder: Path) -> list[str]: ...

    @classmethod
    def load_state(cls, folder: Path, manifest: Manifest) -> "PlainFileClassifier": ...


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
    digest: str | None = None
    """`artifact_digest` of the folder it was loaded from (None when fitted in memory): taken
    from the same manifest the files were checked against, so it names exactly what was loaded."""

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


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def artifact_digest(path: Path) -> str:
    """The artifact's identity: `content_digest` of its manifest, which lists every file's sha256."""
    return content_digest(read_manifest(path))


def save_model(model: TriageModel, path: Path, extra_manifest: dict[str, Any] | None = None) -> Path:
    """Write the artifact folder; files of a previous model in it are replaced."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "model.joblib").unlink(missing_ok=True)  # a pickle left by an older version of triage
    save_state = getattr(model.classifier, "save_state", None)
    if save_state is None:
        raise ValueError(f"the {model.kind} model kind cannot save itself as plain files")
    names = model.langid.save_state(path) + save_state(path)
    manifest = {
        "format": FORMAT,
        "name": model.name,
        "kind": model.kind,
        "version": str(model.version),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "labels": {"cause": list(CAUSES), "lang": list(LANGS)},
        "troll_threshold": float(model.troll_threshold),
        "libraries": library_versions(with_files=model.kind != "tfidf_linear"),
        **model.metadata,
        **(extra_manifest or {}),
        "files": {name: file_sha256(path / name) for name in sorted(set(names))},
    }
    Manifest.model_validate(manifest)  # never write what `load_model` would refuse
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    tmp = path / (MANIFEST + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path / MANIFEST)
    return path


def load_manifest(path: Path) -> Manifest:
    """The validated manifest of the artifact folder `path` (files not checked: see `load_model`)."""
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise ModelLoadError(f"no model at {path}: {MANIFEST} not found (run `dvc repro` first)")
    try:
        if manifest_path.stat().st_size > MAX_MANIFEST_BYTES:
            raise ModelLoadError(f"{manifest_path}: larger than {MAX_MANIFEST_BYTES} bytes")
        data = manifest_path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"unreadable model manifest {manifest_path}: {exc.strerror}") from exc
    return parse_manifest(data, manifest_path)


def read_manifest(path: Path) -> dict[str, Any]:
    """The validated manifest as a plain dict, metadata fields included."""
    return load_manifest(path).model_dump(mode="json")


def verify_files(path: Path, manifest: Manifest) -> None:
    """Every listed file is inside `path` and has the listed sha256; raises on the first mismatch."""
    root = path.resolve()
    for name, expected in manifest.files.items():
        file = (path / name).resolve()
        if not file.is_relative_to(root):
            raise ModelLoadError(f"{path / name}: points outside the model folder; refused")
        if not file.is_file():
            raise ModelLoadError(f"{path / name}: listed in {MANIFEST} but missing")
        actual = file_sha256(file)
        if actual != expected:
            raise ModelLoadError(
                f"{path / name}: sha256 {actual[:16]}… differs from {expected[:16]}… in {MANIFEST}; "
                "the model was changed after it was written, refusing to load it"
            )


def load_model(path: Path) -> TriageModel:
    """Load any model kind from an artifact folder, after checking every file's sha256."""
    from triage.models.kinds import loader

    manifest = load_manifest(path)
    verify_files(path, manifest)
    try:
        classifier = loader(manifest.kind).load_state(path, manifest)
        langid = LanguageIdentifier.load_state(path)
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelLoadError(f"cannot load the {manifest.kind} model in {path}: {detail}") from exc
    known = set(Manifest.model_fields)
    extra = {k: v for k, v in manifest.model_dump(mode="json").items() if k not in known}
    digest = content_digest(manifest.model_dump(mode="json"))  # = artifact_digest(path), read once
    return TriageModel(
        classifier, langid, manifest.troll_threshold, manifest.name, manifest.version, extra, digest
    )

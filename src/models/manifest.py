"""The artifact manifest's schema: what `load_model` accepts before it reads any other file.

Why a schema: the manifest decides which loader runs and which files are trusted, so a list
instead of an object, renamed labels, a missing version or an unknown kind must be refused in
one line, never half-loaded into a server that then fails on the first request.
"""

import hashlib
import json
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from triage.models.labels import CAUSES, LANGS

FORMAT = "triage-model/2"
MANIFEST = "manifest.json"
REGISTRY_FIELDS = ("version", "mlflow")
"""Written into the manifest after the model is registered, so left out of `content_digest`."""

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class ModelLoadError(RuntimeError):
    """The artifact is missing, unreadable, tampered with or of an unknown format."""


class Labels(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    cause: list[str]
    lang: list[str]

    @field_validator("cause")
    @classmethod
    def _causes(cls, value: list[str]) -> list[str]:
        if value != list(CAUSES):
            raise ValueError(f"causes {value} differ from this version's {list(CAUSES)}")
        return value

    @field_validator("lang")
    @classmethod
    def _langs(cls, value: list[str]) -> list[str]:
        if value != list(LANGS):
            raise ValueError(f"languages {value} differ from this version's {list(LANGS)}")
        return value


class Manifest(BaseModel):
    """Required fields are checked strictly; other fields (metadata for the card) pass through."""

    model_config = ConfigDict(extra="allow", strict=True)

    format: str
    name: Annotated[str, Field(min_length=1)]
    kind: str
    version: Annotated[str, Field(min_length=1)]
    created: str
    labels: Labels
    troll_threshold: Annotated[float, Field(ge=0.0, le=1.0)]
    libraries: dict[str, str]
    files: Annotated[dict[str, Sha256], Field(min_length=1)]

    @field_validator("format")
    @classmethod
    def _format(cls, value: str) -> str:
        if value != FORMAT:
            raise ValueError(
                f"unsupported format {value!r}, expected {FORMAT!r} (retrain or re-export the model)"
            )
        return value

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        from triage.models.kinds import KINDS

        if value not in KINDS:
            raise ValueError(f"unknown model kind {value!r} (known: {', '.join(KINDS)})")
        return value

    @field_validator("files")
    @classmethod
    def _relative_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            parts = PurePosixPath(name).parts
            if not parts or name.startswith("/") or "\\" in name or ".." in parts or name == MANIFEST:
                raise ValueError(f"file name {name!r} is not a plain relative path inside the model folder")
        return value


def parse_manifest(data: bytes, where: Path) -> Manifest:
    """The validated manifest from the bytes of `where`; one-line `ModelLoadError` otherwise."""
    try:
        value = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ModelLoadError(f"{where}: not valid JSON ({str(exc).splitlines()[0]})") from exc
    if not isinstance(value, dict):
        raise ModelLoadError(f"{where}: expected a JSON object, got {type(value).__name__}")
    try:
        return Manifest.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(map(str, first["loc"])) or "manifest"
        message = first["msg"].removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ModelLoadError(f"{where}: {field}: {message}{more}") from exc


def content_digest(manifest: dict[str, Any]) -> str:
    """sha256 of the manifest without the registry's fields: the same for the registered copy and
    the local folder, and it covers every file (through their sha256) and every setting."""
    kept = {k: v for k, v in manifest.items() if k not in REGISTRY_FIELDS}
    canonical = json.dumps(kept, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

"""Request and response models of the HTTP API (`/v1/predict`)."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
from triage.serve.schema import CommentIn, ModelInfo, Prediction

MAX_ITEMS = 256
MAX_BODY_BYTES = 1 << 20

EXAMPLE_REQUEST = {
    "items": [
        {
            "id": "c1",
            "text": "Курьер опять опоздал на два дня",
            "name": "Олег",
            "created_at": "2026-11-24T09:30:00Z",
        },
        {"id": "c2", "text": "Your app logs me out every time I open the cart"},
    ],
    "settings": {"brand": "Zetta", "profile": {"industry": "shop"}, "response_time_hours": 4},
}


class ApiItem(CommentIn):
    """One comment; unlike the CLI's input lines, unknown fields are an error here."""

    model_config = ConfigDict(extra="forbid")


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_REQUEST]})

    items: list[ApiItem] = Field(min_length=1, max_length=MAX_ITEMS)
    settings: dict[str, Any] | None = Field(
        None, description="overrides of configs/replies/settings.yaml for this request"
    )


class PredictionOut(Prediction):
    id: StrictStr | StrictInt | None = None
    created_at: str | None = Field(None, description="the item's created_at in UTC, as read")


class PredictResponse(BaseModel):
    model: ModelInfo
    predictions: list[PredictionOut]


class ServedModel(BaseModel):
    """`GET /v1/model`: the model answering now."""

    name: str
    version: str = Field(description="the registry version (or the manifest's version for a folder)")
    digest: str | None = Field(
        description="sha256 identity of the artifact (its manifest, which lists every file's sha256); "
        "the registry's artifact_sha256 tag"
    )
    kind: str = Field(description="the model kind, e.g. tfidf_linear or transformer")
    loaded_at: str = Field(description="when this model started answering (UTC, ISO 8601)")

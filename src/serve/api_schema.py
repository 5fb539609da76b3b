"""Request and response models of the HTTP API (`/v1/predict`)."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator
from triage.models.labels import MAX_TEXT_CHARS
from triage.serve.schema import ModelInfo, Prediction

MAX_ITEMS = 256
MAX_BODY_BYTES = 1 << 20

EXAMPLE_REQUEST = {
    "items": [
        {"id": "c1", "text": "Курьер опять опоздал на два дня", "name": "Олег"},
        {"id": "c2", "text": "Your app logs me out every time I open the cart"},
    ],
    "settings": {"brand": "Zetta", "response_time_hours": 4},
}


class ApiItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: StrictStr = Field(min_length=1, max_length=MAX_TEXT_CHARS, description="the comment")
    id: StrictStr | StrictInt | None = Field(None, description="your id; makes the reply wording stable")
    name: StrictStr | None = Field(None, max_length=200, description="customer's name for the greeting")

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text is empty or whitespace only")
        return value


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_REQUEST]})

    items: list[ApiItem] = Field(min_length=1, max_length=MAX_ITEMS)
    settings: dict[str, Any] | None = Field(
        None, description="overrides of configs/replies/settings.yaml for this request"
    )


class PredictionOut(Prediction):
    id: StrictStr | StrictInt | None = None


class PredictResponse(BaseModel):
    model: ModelInfo
    predictions: list[PredictionOut]

"""Request and response shapes shared by the CLI and (later) the HTTP API."""

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator
from triage.models.labels import MAX_TEXT_CHARS


class CommentIn(BaseModel):
    """One comment to score; extra fields are passed through to the output untouched."""

    model_config = ConfigDict(extra="allow")

    text: StrictStr = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    id: StrictStr | int | None = None
    name: StrictStr | None = Field(default=None, max_length=200)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text is empty or whitespace only")
        return value


class ModelInfo(BaseModel):
    name: str
    version: str


class Prediction(BaseModel):
    """What the models say about one comment. Scores are calibrated probabilities."""

    lang: str = Field(description="ru, uk, bg, en, or other")
    lang_score: float = Field(description="confidence of the language classifier in its best guess")
    cause: str
    cause_scores: dict[str, float] = Field(description="every cause label; sums to 1")
    troll: bool
    troll_score: float = Field(description="calibrated probability that the author is trolling")
    model: ModelInfo

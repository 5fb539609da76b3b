"""Request and response shapes shared by the CLI and (later) the HTTP API."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator
from triage.models.labels import MAX_TEXT_CHARS


class CommentIn(BaseModel):
    """One comment to score; extra fields are passed through to the output untouched."""

    model_config = ConfigDict(extra="allow")

    text: StrictStr = Field(min_length=1, max_length=MAX_TEXT_CHARS, description="the comment")
    id: StrictStr | StrictInt | None = Field(
        None, description="your id (a string, or a signed 64-bit integer); keeps the reply wording stable"
    )
    name: StrictStr | None = Field(None, max_length=200, description="customer's name for the greeting")
    created_at: datetime | None = Field(
        None, description="when the comment was posted (ISO 8601; no offset means UTC); gives `respond_by`"
    )

    @field_validator("id")
    @classmethod
    def _fits_64_bits(cls, value: str | int | None) -> str | int | None:
        if isinstance(value, int) and not -(2**63) <= value < 2**63:
            raise ValueError("an integer id must fit in 64 bits (send larger ids as strings)")
        return value

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
    action: Literal["reply", "human_review", "do_not_engage"] = Field(
        description="reply: post the suggestion; human_review: a person checks the draft first; "
        "do_not_engage: troll, no public reply"
    )
    reply: str | None = Field(description="suggested public reply in the comment's language")
    report: bool = Field(description="report the comment to the site's moderators")
    reason: str | None = Field(default=None, description="why the action is not a plain reply")
    subcase: str | None = Field(
        default=None,
        description="kind of delivery, defect, price or no-complaint comment; none if unsure",
    )
    priority: Literal["urgent", "high", "normal", "low"] = Field(
        default="normal", description="queue level: answer urgent first, trolls are low"
    )
    priority_score: float = Field(default=0.0, description="0-100 for sorting within and across levels")
    respond_by: str | None = Field(
        default=None, description="created_at + the window of the priority (UTC, ISO 8601); none for trolls"
    )
    model: ModelInfo


def output_field_conflicts(fields: "dict[str, object] | list[str]") -> list[str]:
    """Input fields that an output field of the same name would overwrite."""
    return [name for name in fields if name in Prediction.model_fields]

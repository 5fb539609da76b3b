"""Company settings for replies: the profile (industry, what to ask for, the private channel),
compensation, thresholds and answer windows. Validated at load; any field can be overridden per call."""

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from triage.models.labels import CAUSES, LANGS

COMPLAINTS = tuple(c for c in CAUSES if c != "none")
PRIORITIES = ("urgent", "high", "normal", "low")
"""Priority levels, most urgent first."""

Industry = Literal[
    "generic", "shop", "marketplace", "telecom", "internet", "bank", "fintech", "utility",
    "transport", "travel", "delivery", "saas",
]  # fmt: skip
AskFor = Literal["reference", "order", "account", "contract", "booking", "ticket", "phone", "location"]

ASK_FOR_BY_INDUSTRY: dict[str, str] = {
    "generic": "reference",
    "shop": "order",
    "marketplace": "order",
    "delivery": "order",
    "telecom": "contract",
    "internet": "contract",
    "bank": "phone",
    "fintech": "phone",
    "utility": "account",
    "transport": "booking",
    "travel": "booking",
    "saas": "account",
}
"""What a reply asks for in private when the profile does not say: never a card number, and no
"order number" for a company that has no orders."""


class ReplyConfigError(ValueError):
    """A reply template or settings file is missing or invalid (raised at load time)."""


class Profile(BaseModel):
    """Who the company is, so that replies ask for the right thing in the right place."""

    model_config = ConfigDict(extra="forbid", strict=True)
    industry: Industry = "generic"
    ask_for: AskFor | None = Field(None, description="default: by industry (ASK_FOR_BY_INDUSTRY)")
    private_channel: dict[Literal[LANGS], str] = Field(  # type: ignore[valid-type]
        {}, description="where to continue, e.g. 'in a direct message'; default: each language's own"
    )

    @property
    def asks_for(self) -> str:
        return self.ask_for or ASK_FOR_BY_INDUSTRY[self.industry]


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    human_review_below: float = Field(0.45, ge=0, le=1)
    report_troll_at: float = Field(0.8, ge=0, le=1)
    thank_at: float = Field(0.7, ge=0, le=1, description="`none` score needed before a thank-you")
    thank_troll_below: float = Field(0.3, ge=0, le=1, description="no thank-you at or above this troll score")


class Compensation(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    causes: list[Literal[COMPLAINTS]] = []  # type: ignore[valid-type]
    offer: dict[Literal[LANGS], str] = {}  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _offer_for_every_language(self) -> "Compensation":
        missing = [lang for lang in LANGS if self.causes and not self.offer.get(lang)]
        if missing:
            raise ValueError(f"compensation.offer is missing for {', '.join(missing)} while causes are set")
        return self


class Windows(BaseModel):
    """Minutes within which a comment of each priority should be answered (`respond_by`)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    urgent: int = Field(30, ge=1, le=10_080)
    high: int = Field(60, ge=1, le=10_080)
    normal: int = Field(240, ge=1, le=10_080)
    low: int = Field(1440, ge=1, le=10_080)


class ReplySettings(BaseModel):
    """Company settings; any field can be overridden per call with a (nested) dict."""

    model_config = ConfigDict(extra="forbid", strict=True)
    brand: str | None = Field(None, min_length=1, max_length=100)
    """The company's name for the signature and texts; unset, replies sign as "the support team"
    and say "us", so the default fits any company (a placeholder name would be a leftover)."""
    profile: Profile = Profile()
    response_time_hours: int = Field(2, ge=1, le=168)
    compensation: Compensation = Compensation()
    thresholds: Thresholds = Thresholds()
    respond_within_minutes: Windows = Windows()

    def merged(self, overrides: "Mapping[str, Any] | ReplySettings | None") -> "ReplySettings":
        """These settings with `overrides` applied (nested dicts merge); validated.
        Already-resolved settings pass through, so callers can resolve once per request."""
        if isinstance(overrides, ReplySettings):
            return overrides
        if not overrides:
            return self
        return ReplySettings.model_validate(_deep_merge(self.model_dump(), dict(overrides)))


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], dict(value))
        else:
            merged[key] = value
    return merged

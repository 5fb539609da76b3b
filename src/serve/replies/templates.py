"""One language's reply file (`configs/replies/<lang>.yaml`): its shape and the checks run at load."""

import re
import string
from pathlib import Path
from typing import Any

import yaml
from babel import Locale
from pydantic import BaseModel, ConfigDict, Field, field_validator
from triage.serve.replies.settings import COMPLAINTS, ReplyConfigError
from triage.serve.replies.subcases import SUBCASES

ASK_KINDS = ("reference", "order", "account", "contract", "booking", "ticket", "phone", "location")


class Greeting(BaseModel):
    model_config = ConfigDict(extra="forbid")
    with_name: str
    without_name: str


class ResponseTime(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phrase: str
    unit: dict[str, str]


class NextStep(BaseModel):
    """The concrete next step: `ask` when the comment gave no reference, `given` when it did."""

    model_config = ConfigDict(extra="forbid")
    ask: str
    given: str


class Details(BaseModel):
    """Sentences acknowledging what the customer already wrote (a reference number, an amount)."""

    model_config = ConfigDict(extra="forbid")
    reference: str
    amount: str


class Subcase(BaseModel):
    """A sub-case: the patterns that recognise it (regular expressions, case-insensitive) and
    its reply variants."""

    model_config = ConfigDict(extra="forbid")
    match: list[str] = []
    replies: list[str] = Field(min_length=2)

    @field_validator("match")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad pattern {pattern!r}: {exc}") from exc
        return patterns


class Signals(BaseModel):
    """Patterns for words of urgency and profanity (both raise a complaint's priority; profanity is
    never a name) and words of a problem (no thank-you under a comment that has one: sarcasm)."""

    model_config = ConfigDict(extra="forbid")
    urgency: list[str] = Field(min_length=1)
    profanity: list[str] = Field(min_length=1)
    complaint: list[str] = Field(min_length=1)


class LanguageTemplates(BaseModel):
    """One language's templates and recognisers; placeholders are checked by `check_placeholders`."""

    model_config = ConfigDict(extra="forbid")
    greeting: Greeting
    signature: str
    signature_unbranded: str
    """The signature when the settings name no brand."""
    us: str
    """What `{brand}` reads as in a text when the settings name no brand ("us", "нас")."""
    response_time: ResponseTime
    private_channel: str
    ask_for: dict[str, str]
    next_step: NextStep
    details: Details
    compensation: str
    causes: dict[str, list[str]]
    subcases: dict[str, Subcase]
    signals: Signals
    not_a_name: list[str] = Field(min_length=1)
    forbidden: list[str] = []

    @field_validator("causes")
    @classmethod
    def _every_complaint_cause(cls, causes: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = sorted(set(causes) - set(COMPLAINTS))
        missing = [c for c in COMPLAINTS if c not in causes]
        if unknown:
            raise ValueError(f"unknown cause label(s): {', '.join(unknown)}")
        if missing:
            raise ValueError(f"missing cause(s): {', '.join(missing)}")
        short = [c for c, variants in causes.items() if len(variants) < 2]
        if short:
            raise ValueError(f"fewer than 2 variants for: {', '.join(short)}")
        return causes

    @field_validator("subcases")
    @classmethod
    def _every_subcase(cls, subcases: dict[str, Subcase]) -> dict[str, Subcase]:
        known = {s for names in SUBCASES.values() for s in names}
        unknown = sorted(set(subcases) - known)
        missing = sorted(known - set(subcases))
        if unknown:
            raise ValueError(f"unknown sub-case(s): {', '.join(unknown)}")
        if missing:
            raise ValueError(f"missing sub-case(s): {', '.join(missing)}")
        return subcases

    @field_validator("ask_for")
    @classmethod
    def _every_ask_kind(cls, ask_for: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(ask_for) - set(ASK_KINDS))
        missing = [k for k in ASK_KINDS if k not in ask_for]
        if unknown or missing:
            raise ValueError(f"ask_for: unknown {unknown}, missing {missing}")
        return ask_for


def _fields(template: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise ValueError(f"malformed template {template!r}: {exc}") from exc


def check_placeholders(lang: str, templates: LanguageTemplates) -> None:
    """Every template uses only its allowed placeholders, has the required ones and no forbidden phrase."""
    t = templates
    rules: list[tuple[str, str, set[str], set[str]]] = [
        ("greeting.with_name", t.greeting.with_name, {"name"}, {"name"}),
        ("greeting.without_name", t.greeting.without_name, set(), set()),
        ("signature", t.signature, {"brand"}, set()),
        ("signature_unbranded", t.signature_unbranded, set(), set()),
        ("us", t.us, set(), set()),
        ("response_time.phrase", t.response_time.phrase, {"count", "unit"}, {"count", "unit"}),
        ("private_channel", t.private_channel, set(), set()),
        ("next_step.ask", t.next_step.ask, {"ask", "channel", "response_time"}, {"ask", "response_time"}),
        ("next_step.given", t.next_step.given, {"channel", "response_time"}, {"response_time"}),
        ("details.reference", t.details.reference, {"reference"}, {"reference"}),
        ("details.amount", t.details.amount, {"amount"}, {"amount"}),
        ("compensation", t.compensation, {"offer"}, {"offer"}),
    ]
    rules += [(f"ask_for.{k}", v, set(), set()) for k, v in t.ask_for.items()]
    for cause, variants in t.causes.items():
        rules += [(f"causes.{cause}[{i}]", v, {"brand"}, set()) for i, v in enumerate(variants)]
    for name, subcase in t.subcases.items():
        allowed = {"brand", "channel", "response_time"} if name in ("question", "other") else {"brand"}
        rules += [(f"subcases.{name}[{i}]", v, allowed, set()) for i, v in enumerate(subcase.replies)]
    for where, template, allowed, required in rules:
        found = _fields(template)
        if found - allowed:
            raise ValueError(f"{where}: unknown placeholder(s) {sorted(found - allowed)}")
        if required - found:
            raise ValueError(f"{where}: missing placeholder(s) {sorted(required - found)}")
        lowered = template.casefold()
        for phrase in t.forbidden:
            if phrase.casefold() in lowered:
                raise ValueError(f"{where}: uses the forbidden phrase {phrase!r}")
    for pattern in (*t.signals.urgency, *t.signals.profanity, *t.signals.complaint, *t.not_a_name):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"signals: bad pattern {pattern!r}: {exc}") from exc
    plural_forms = set(Locale.parse(lang).plural_form.tags) | {"other"}
    missing = plural_forms - set(t.response_time.unit)
    if missing:
        raise ValueError(f"response_time.unit: missing plural form(s) {sorted(missing)}")


def read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ReplyConfigError(f"reply configuration not found: {path}")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ReplyConfigError(f"{path}: invalid YAML: {exc}") from exc
    if not isinstance(values, dict):
        raise ReplyConfigError(f"{path}: expected a mapping at the top level")
    return values

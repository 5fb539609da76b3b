"""Reply suggestions: what a good support team would do with each comment, and what to post.

The policy (see README "Reply suggestions"): never feed trolls (no reply; report the worst to
moderators); answer complaints publicly and politely, acknowledging the specific cause,
apologising and promising a concrete private follow-up within the configured time; thank
people for positive comments with rotating wording; send uncertain cases to a person with a
draft. Templates live in `configs/replies/<lang>.yaml`, company settings in
`configs/replies/settings.yaml`; both are validated when loaded, never at request time.
"""

import hashlib
import os
import string
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from babel import Locale
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from triage.models.labels import CAUSES, LANGS, OTHER_LANG

COMPLAINTS = tuple(c for c in CAUSES if c != "none")
DRAFT_LANG_FOR_OTHER = "en"
REPLIES_ENV = "TRIAGE_REPLIES_DIR"
MAX_NAME_CHARS = 40

Action = Literal["reply", "human_review", "do_not_engage"]


class ReplyConfigError(ValueError):
    """A reply template or settings file is missing or invalid (raised at load time)."""


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    human_review_below: float = Field(0.45, ge=0, le=1)
    report_troll_at: float = Field(0.8, ge=0, le=1)


class Compensation(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    causes: list[Literal[COMPLAINTS]] = []  # type: ignore[valid-type]
    offer: dict[Literal[LANGS], str] = {}  # type: ignore[valid-type]


class ReplySettings(BaseModel):
    """Company settings; any field can be overridden per call with a (nested) dict.

    Strict types: `response_time_hours: true` or `"4"` is an error, never silently 1 or 4 hours."""

    model_config = ConfigDict(extra="forbid", strict=True)
    brand: str = Field("Example Co", min_length=1, max_length=100)
    response_time_hours: int = Field(2, ge=1, le=168)
    compensation: Compensation = Compensation()
    thresholds: Thresholds = Thresholds()

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


class Greeting(BaseModel):
    model_config = ConfigDict(extra="forbid")
    with_name: str
    without_name: str


class ResponseTime(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phrase: str
    unit: dict[str, str]


class LanguageTemplates(BaseModel):
    """One language's templates; placeholders are checked by `_check_placeholders`."""

    model_config = ConfigDict(extra="forbid")
    greeting: Greeting
    signature: str
    response_time: ResponseTime
    compensation: str
    thanks: list[str] = Field(min_length=4)
    causes: dict[str, list[str]]
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
        short = [c for c, variants in causes.items() if len(variants) < 3]
        if short:
            raise ValueError(f"fewer than 3 variants for: {', '.join(short)}")
        return causes


def _fields(template: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise ValueError(f"malformed template {template!r}: {exc}") from exc


def _check_placeholders(lang: str, templates: LanguageTemplates) -> None:
    """Every template uses only its allowed placeholders and has the required ones."""
    rules: list[tuple[str, str, set[str], set[str]]] = [
        ("greeting.with_name", templates.greeting.with_name, {"name"}, {"name"}),
        ("greeting.without_name", templates.greeting.without_name, set(), set()),
        ("signature", templates.signature, {"brand"}, set()),
        ("response_time.phrase", templates.response_time.phrase, {"count", "unit"}, {"count", "unit"}),
        ("compensation", templates.compensation, {"offer"}, {"offer"}),
    ]
    rules += [(f"thanks[{i}]", t, {"brand"}, set()) for i, t in enumerate(templates.thanks)]
    for cause, variants in templates.causes.items():
        rules += [
            (f"causes.{cause}[{i}]", t, {"brand", "response_time"}, {"response_time"})
            for i, t in enumerate(variants)
        ]
    for where, template, allowed, required in rules:
        found = _fields(template)
        if found - allowed:
            raise ValueError(f"{where}: unknown placeholder(s) {sorted(found - allowed)}")
        if required - found:
            raise ValueError(f"{where}: missing placeholder(s) {sorted(required - found)}")
        lowered = template.casefold()
        for phrase in templates.forbidden:
            if phrase.casefold() in lowered:
                raise ValueError(f"{where}: uses the forbidden phrase {phrase!r}")
    plural_forms = set(Locale.parse(lang).plural_form.tags) | {"other"}
    missing = plural_forms - set(templates.response_time.unit)
    if missing:
        raise ValueError(f"response_time.unit: missing plural form(s) {sorted(missing)}")


def sanitize_name(name: str | None) -> str | None:
    """The customer's name if it is only letters (any script), spaces, hyphens and apostrophes
    and at most 40 characters; otherwise None, so nothing hostile can reach a public reply."""
    if not name:
        return None
    cleaned = " ".join(unicodedata.normalize("NFC", name).split())
    if not cleaned or len(cleaned) > MAX_NAME_CHARS:
        return None
    if not any(ch.isalpha() for ch in cleaned):
        return None
    if all(ch.isalpha() or ch in " -'’" for ch in cleaned):
        return cleaned
    return None


@dataclass(frozen=True)
class Suggestion:
    action: Action
    reply: str | None
    report: bool
    reason: str | None
    variant: tuple[str, int] | None = None
    """(template group, index): lets a batch avoid two identical suggestions in a row."""


def _stable_index(key: str, size: int) -> int:
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % size


class ReplyBook:
    """Validated templates for every language plus the default company settings."""

    def __init__(self, templates: dict[str, LanguageTemplates], settings: ReplySettings):
        self.templates = templates
        self.settings = settings
        self._plural = {lang: Locale.parse(lang).plural_form for lang in templates}

    @classmethod
    def load(cls, folder: str | Path | None = None) -> "ReplyBook":
        folder = Path(folder) if folder is not None else default_replies_dir()
        settings = ReplySettings.model_validate(_read(folder / "settings.yaml"))
        templates = {}
        for lang in LANGS:
            path = folder / f"{lang}.yaml"
            try:
                parsed = LanguageTemplates.model_validate(_read(path))
                _check_placeholders(lang, parsed)
            except (ValidationError, ValueError) as exc:
                raise ReplyConfigError(f"{path}: {exc}") from exc
            templates[lang] = parsed
        return cls(templates, settings)

    def _response_time(self, lang: str, hours: int) -> str:
        spec = self.templates[lang].response_time
        form = self._plural[lang](hours)
        return spec.phrase.format(count=hours, unit=spec.unit.get(form, spec.unit["other"]))

    def compose(self, lang: str, cause: str, index: int, name: str | None, settings: ReplySettings) -> str:
        """Greeting, the cause's body (or thanks), optional compensation, signature."""
        book = self.templates[lang]
        safe_name = sanitize_name(name)
        greeting = book.greeting.with_name.format(name=safe_name) if safe_name else book.greeting.without_name
        parts = [greeting]
        if cause == "none":
            parts.append(book.thanks[index].format(brand=settings.brand))
        else:
            response_time = self._response_time(lang, settings.response_time_hours)
            body = book.causes[cause][index]
            parts.append(body.format(brand=settings.brand, response_time=response_time))
            offer = settings.compensation.offer.get(lang)
            if cause in settings.compensation.causes and offer:
                parts.append(book.compensation.format(offer=offer))
        parts.append(book.signature.format(brand=settings.brand))
        return "\n\n".join(parts)

    def _variants(self, lang: str, cause: str) -> int:
        book = self.templates[lang]
        return len(book.thanks) if cause == "none" else len(book.causes[cause])

    def suggest(
        self,
        *,
        lang: str,
        cause: str,
        cause_score: float,
        troll: bool,
        troll_score: float,
        key: str,
        name: str | None = None,
        settings: ReplySettings | None = None,
        avoid: tuple[str, int] | None = None,
    ) -> Suggestion:
        """The action for one comment; `key` (its id, else its text) picks the wording."""
        settings = settings or self.settings
        if troll:
            report = troll_score >= settings.thresholds.report_troll_at
            return Suggestion("do_not_engage", None, report, "troll: no public reply")
        reply_lang = lang if lang in self.templates else DRAFT_LANG_FOR_OTHER
        size = self._variants(reply_lang, cause)
        index = _stable_index(key, size)
        if avoid == (f"{reply_lang}:{cause}", index):
            index = (index + 1) % size
        reply = self.compose(reply_lang, cause, index, name, settings)
        variant = (f"{reply_lang}:{cause}", index)
        if lang == OTHER_LANG:
            reason = "language not supported: English draft for review"
            return Suggestion("human_review", reply, False, reason, variant)
        threshold = settings.thresholds.human_review_below
        if cause_score < threshold:
            reason = f"low confidence: top cause score {cause_score:.2f} < {threshold:.2f}"
            return Suggestion("human_review", reply, False, reason, variant)
        return Suggestion("reply", reply, False, None, variant)

    def suggest_batch(
        self,
        rows: Sequence[dict[str, Any]],
        settings: Mapping[str, Any] | ReplySettings | None = None,
    ) -> list[Suggestion]:
        """Suggestions in order; no two consecutive replies use the same template variant."""
        resolved = self.settings.merged(settings)
        suggestions: list[Suggestion] = []
        previous: tuple[str, int] | None = None
        for row in rows:
            suggestion = self.suggest(**row, settings=resolved, avoid=previous)
            suggestions.append(suggestion)
            previous = suggestion.variant or previous
        return suggestions


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ReplyConfigError(f"reply configuration not found: {path}")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ReplyConfigError(f"{path}: invalid YAML: {exc}") from exc
    if not isinstance(values, dict):
        raise ReplyConfigError(f"{path}: expected a mapping at the top level")
    return values


def default_replies_dir() -> Path:
    """`$TRIAGE_REPLIES_DIR`, else `configs/replies` here, else the one beside the package."""
    if os.environ.get(REPLIES_ENV):
        return Path(os.environ[REPLIES_ENV])
    local = Path("configs/replies")
    if local.is_dir():
        return local
    return Path(__file__).resolve().parents[2] / "configs" / "replies"

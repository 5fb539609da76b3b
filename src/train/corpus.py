"""Load and validate the labeled JSONL corpus, reporting every problem with file and line.

Validation never drops a row silently: each rejected line comes back with its reasons, so
`prepare` can either stop with the full list or keep the rejects beside its outputs.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, ValidationError
from triage.models.labels import MAX_TEXT_CHARS
from triage.models.normalize import clean_text, dedup_key

Lang = Literal["ru", "uk", "bg", "en"]
Cause = Literal["defect", "after_sales", "feedback_channel", "price", "interface", "rudeness", "none"]

AUGMENTED = "augmented"


class CorpusRow(BaseModel):
    """One labeled comment as the contract defines it; unknown extra fields are kept."""

    model_config = ConfigDict(extra="allow", strict=True)

    text: StrictStr = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    lang: Lang
    cause: Cause
    troll: StrictBool
    id: StrictStr | None = None
    source: StrictStr | None = None
    parent: StrictStr | None = None


@dataclass
class Example:
    """A validated comment with its origin, ready for splitting."""

    text: str
    lang: str
    cause: str
    troll: bool
    id: str
    source: str
    parent: str | None
    file: str
    line: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_augmented(self) -> bool:
        return self.source == AUGMENTED

    @property
    def is_generated(self) -> bool:
        """A program made or re-spelled this text (augmented variant, or marked `generated`):
        it may teach the model but never enters an evaluation split."""
        return self.is_augmented or bool(self.extra.get("generated"))

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def to_record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "lang": self.lang,
            "cause": self.cause,
            "troll": self.troll,
            "source": self.source,
            **({"parent": self.parent} if self.parent else {}),
            **self.extra,
        }


@dataclass
class Reject:
    """A line that did not pass validation, kept verbatim with every reason."""

    file: str
    line: int
    reasons: list[str]
    raw: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: " + "; ".join(self.reasons)

    def to_record(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "reasons": self.reasons, "raw": self.raw}


@dataclass
class LoadResult:
    examples: list[Example]
    rejects: list[Reject]


class CorpusError(ValueError):
    """Raised when the corpus has invalid rows and rejects are not allowed."""

    def __init__(self, rejects: list[Reject]):
        self.rejects = rejects
        lines = "\n".join(f"  {r}" for r in rejects)
        super().__init__(f"{len(rejects)} invalid corpus line(s):\n{lines}")


def _describe(error: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in error["loc"]) or "row"
    kind = error["type"]
    if kind == "missing":
        return f"missing field '{loc}'"
    if kind == "literal_error":
        return f"unknown {loc} {error['input']!r} (expected {error['ctx']['expected']})"
    if kind == "string_too_short":
        return f"empty '{loc}'"
    if kind == "string_too_long":
        return f"'{loc}' longer than {MAX_TEXT_CHARS} characters ({len(error['input'])})"
    if kind == "bool_type":
        return f"'{loc}' must be a JSON boolean true/false, got {error['input']!r}"
    return f"'{loc}': {error['msg']} (got {type(error['input']).__name__})"


def _parse_line(raw: str) -> tuple[CorpusRow | None, list[str]]:
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        return None, [f"bad JSON: {exc.msg} at column {exc.colno}"]
    except RecursionError:
        return None, ["bad JSON: nested too deeply"]
    except ValueError as exc:  # an integer of more than 4,300 digits
        return None, [f"bad JSON: {str(exc).split(':')[0]}"]
    if not isinstance(obj, dict):
        return None, [f"expected a JSON object, got {type(obj).__name__}"]
    try:
        row = CorpusRow.model_validate(obj)
    except ValidationError as exc:
        return None, [_describe(e) for e in exc.errors()]
    if not row.text.strip():
        return None, ["text is whitespace only"]
    if row.source == AUGMENTED and not row.parent:
        return None, ["augmented row without 'parent' (the id of its source example)"]
    return row, []


def _read_lines(path: Path) -> Iterable[tuple[int, str | None]]:
    """Non-blank lines with their numbers; `None` stands for a line that is not valid UTF-8."""
    with path.open("rb") as handle:
        for number, data in enumerate(handle, start=1):
            if number == 1:
                data = data.removeprefix(b"\xef\xbb\xbf")  # a byte-order mark is not data
            try:
                raw = data.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                yield number, None
                continue
            if raw.strip():
                yield number, raw


def corpus_files(raw_dir: Path) -> list[Path]:
    """The corpus files in a stable order, so ids and splits never depend on the file system."""
    return sorted(raw_dir.glob("*.jsonl"))


def load_corpus(paths: Iterable[Path]) -> LoadResult:
    """Validate every line of every file; cross-row checks (duplicates, conflicts) come last."""
    examples: list[Example] = []
    rejects: list[Reject] = []
    for path in paths:
        for number, raw in _read_lines(path):
            if raw is None:
                rejects.append(Reject(str(path), number, ["not valid UTF-8"], ""))
                continue
            row, reasons = _parse_line(raw)
            if row is None:
                rejects.append(Reject(str(path), number, reasons, raw))
                continue
            extra = dict(row.model_extra or {})
            examples.append(
                Example(
                    text=clean_text(row.text),
                    lang=row.lang,
                    cause=row.cause,
                    troll=row.troll,
                    id=row.id or f"{path.stem}:{number}",
                    source=row.source or "handwritten",
                    parent=row.parent,
                    file=str(path),
                    line=number,
                    extra=extra,
                )
            )
    kept, cross = _cross_row_checks(examples)
    rejects.extend(cross)
    rejects.sort(key=lambda r: (r.file, r.line))
    return LoadResult(kept, rejects)


def _as_reject(example: Example, reason: str) -> Reject:
    return Reject(example.file, example.line, [reason], json.dumps(example.to_record(), ensure_ascii=False))


def _cross_row_checks(examples: list[Example]) -> tuple[list[Example], list[Reject]]:
    by_key: dict[str, list[Example]] = {}
    for example in examples:
        by_key.setdefault(dedup_key(example.text), []).append(example)
    rejected: dict[int, str] = {}
    for group in by_key.values():
        labels = {(e.lang, e.cause, e.troll) for e in group}
        if len(labels) > 1:
            listing = ", ".join(f"{e.where} says {e.lang}/{e.cause}/troll={e.troll}" for e in group)
            for e in group:
                rejected[id(e)] = f"same text with conflicting labels: {listing}"
            continue
        first = group[0]
        for e in group[1:]:
            rejected[id(e)] = f"duplicate of {first.where} (after Unicode normalisation)"
    seen_ids: dict[str, Example] = {}
    for e in examples:
        if id(e) in rejected:
            continue
        if e.id in seen_ids:
            rejected[id(e)] = f"duplicate id {e.id!r} (first at {seen_ids[e.id].where})"
        else:
            seen_ids[e.id] = e
    for e in examples:
        if id(e) not in rejected and e.is_augmented and e.parent not in seen_ids:
            rejected[id(e)] = f"augmented row's parent {e.parent!r} is not a valid corpus id"
    kept = [e for e in examples if id(e) not in rejected]
    rejects = [_as_reject(e, rejected[id(e)]) for e in examples if id(e) in rejected]
    return kept, rejects

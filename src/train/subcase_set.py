"""The sub-case set: comments written only to choose and measure the reply policy's sub-cases.

Why a set of its own: the corpus has 2-10 test comments per sub-case and language, too few to
tell one chooser from another. `data/subcases/<lang>.jsonl` holds 30 comments per sub-case and
language, each marked `split: train` (10) or `split: test` (20) by its writer. The set never
enters the classifier's corpus or its splits (`prepare` reads `data/raw` only). Choosers may
learn from its `train` rows; its `test` rows only ever give the reported figure.

Validation follows `triage.train.corpus`: every problem comes back as one line naming the file
and line, nothing is dropped silently, and `triage data check-subcases` exits 1 on any.
"""

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError
from triage.models.labels import MAX_TEXT_CHARS
from triage.models.normalize import clean_text, dedup_key
from triage.paths import SUBCASE_DIR
from triage.serve.replies.subcases import SUBCASES
from triage.train.corpus import Example, Lang, _describe, _read_lines
from triage.train.neardup import DEFAULT_THRESHOLD, near_duplicates

LANG_FILES = ("ru", "uk", "bg", "en")
MIN_PER_SPLIT = {"train": 10, "test": 20}
"""Comments per language × sub-case and split (the brief writes exactly these; fewer fail)."""

SubcaseCause = Literal["after_sales", "defect", "price", "none"]
Split = Literal["train", "test"]


class SubcaseRow(BaseModel):
    """One comment of the set as its writers' brief defines it; unknown extra fields are kept."""

    model_config = ConfigDict(extra="allow", strict=True)

    id: StrictStr = Field(pattern=r"^sc-(ru|uk|bg|en)-\d{4}$")
    text: StrictStr = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    lang: Lang
    cause: SubcaseCause
    subcase: StrictStr
    split: Split
    register_: StrictStr = Field(alias="register", min_length=1)  # `register` is a BaseModel method
    industry: StrictStr = Field(min_length=1)


@dataclass(frozen=True)
class SubcaseExample:
    """A validated comment of the set with where it came from."""

    id: str
    text: str
    lang: str
    cause: str
    subcase: str
    split: str
    register: str
    industry: str
    file: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def to_record(self) -> dict[str, str]:
        """The fields the sub-case benchmark reads (the corpus rows' names: lang, cause, subcase)."""
        return {
            "id": self.id,
            "text": self.text,
            "lang": self.lang,
            "cause": self.cause,
            "subcase": self.subcase,
            "split": self.split,
        }


@dataclass
class SubcaseSet:
    examples: list[SubcaseExample]
    problems: list[str]
    """One line each: `file:line: reason`, or `file: reason` for a count."""

    def rows(self, split: str) -> list[dict[str, str]]:
        return [e.to_record() for e in self.examples if e.split == split]


def subcase_files(folder: Path) -> list[Path]:
    """The set's files in a stable order (one per language)."""
    return sorted(folder.glob("*.jsonl"))


def _check_line(raw: str, path: Path) -> tuple[SubcaseRow | None, list[str]]:
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        return None, [f"bad JSON: {exc.msg} at column {exc.colno}"]
    except (RecursionError, ValueError):
        return None, ["bad JSON"]
    if not isinstance(obj, dict):
        return None, [f"expected a JSON object, got {type(obj).__name__}"]
    try:
        row = SubcaseRow.model_validate(obj)
    except ValidationError as exc:
        return None, [_describe(e) for e in exc.errors()]
    reasons = []
    if not row.text.strip():
        reasons.append("text is whitespace only")
    if row.subcase not in SUBCASES[row.cause]:
        reasons.append(f"subcase {row.subcase!r} is not one of {row.cause}'s {list(SUBCASES[row.cause])}")
    if path.stem != row.lang:
        reasons.append(f"lang {row.lang!r} in {path.name} (each file holds one language)")
    if not row.id.startswith(f"sc-{row.lang}-"):
        reasons.append(f"id {row.id!r} does not name its language {row.lang!r}")
    return (None, reasons) if reasons else (row, [])


def load_subcase_set(
    folder: Path = SUBCASE_DIR,
    corpus: Sequence[Example] = (),
    threshold: float = DEFAULT_THRESHOLD,
    min_per_split: dict[str, int] | None = None,
) -> SubcaseSet:
    """Validate every line, then the counts per language × sub-case × split, duplicate ids and
    texts, and near-duplicates (5-gram Jaccard above `threshold`) within the set and against
    the classifier corpus `corpus`: a near-copy would let train rows or the corpus leak into
    the test figure."""
    minimum = MIN_PER_SPLIT if min_per_split is None else min_per_split
    examples: list[SubcaseExample] = []
    problems: list[str] = []
    files = subcase_files(folder)
    if not files:
        return SubcaseSet([], [f"{folder}: no *.jsonl files"])
    for path in files:
        if path.stem not in LANG_FILES:
            expected = ", ".join(f"{x}.jsonl" for x in LANG_FILES)
            problems.append(f"{path}: unexpected file (expected {expected})")
            continue
        for number, raw in _read_lines(path):
            if raw is None:
                problems.append(f"{path}:{number}: not valid UTF-8")
                continue
            row, reasons = _check_line(raw, path)
            if row is None:
                problems.append(f"{path}:{number}: " + "; ".join(reasons))
                continue
            examples.append(
                SubcaseExample(
                    row.id,
                    clean_text(row.text),
                    row.lang,
                    row.cause,
                    row.subcase,
                    row.split,
                    row.register_,
                    row.industry,
                    str(path),
                    number,
                )
            )
    problems += _count_problems(examples, files, minimum)
    problems += _duplicate_problems(examples, corpus, threshold)
    return SubcaseSet(examples, problems)


def _count_problems(examples: list[SubcaseExample], files: list[Path], minimum: dict[str, int]) -> list[str]:
    counts = Counter((e.lang, e.cause, e.subcase, e.split) for e in examples)
    problems = []
    for path in files:
        lang = path.stem
        if lang not in LANG_FILES:
            continue
        for cause, names in SUBCASES.items():
            for subcase in names:
                for split, floor in minimum.items():
                    found = counts[(lang, cause, subcase, split)]
                    if found < floor:
                        problems.append(
                            f"{path}: {cause}/{subcase} has {found} {split} rows (at least {floor} expected)"
                        )
    return problems


def _duplicate_problems(
    examples: list[SubcaseExample], corpus: Sequence[Example], threshold: float
) -> list[str]:
    problems = []
    first_id: dict[str, SubcaseExample] = {}
    first_text = {dedup_key(c.text): c.where for c in corpus}
    for e in examples:
        if e.id in first_id:
            problems.append(f"{e.where}: duplicate id {e.id!r} (first at {first_id[e.id].where})")
        else:
            first_id[e.id] = e
        key = dedup_key(e.text)
        if key in first_text:
            problems.append(f"{e.where}: same text as {first_text[key]} (after Unicode normalisation)")
        else:
            first_text[key] = e.where
    texts = [e.text for e in examples] + [c.text for c in corpus]
    places = [e.where for e in examples] + [c.where for c in corpus]
    for pair in near_duplicates(texts, threshold):
        if pair.first >= len(examples):  # two corpus comments: `triage data check` reports those
            continue
        if dedup_key(texts[pair.first]) == dedup_key(texts[pair.second]):
            continue  # reported above as the same text
        problems.append(
            f"{places[pair.first]}: near-duplicate of {places[pair.second]} (J={pair.similarity:.2f})"
        )
    return problems

"""The queue: a priority level and a sortable score for every comment, and the time to answer by.

Rules (documented in docs/replies.md): genuine complaints come before questions, questions before
praise, suggestions and other remarks, trolls last. Within a complaint, intensity raises the score:
words of urgency ("stranded", "third day", "no money", "blocked"), profanity, shouting in capitals
and repeated punctuation. A complaint with a word of urgency, or with two other signs of intensity,
is urgent. The model's confidence lowers the score a little; uncertain predictions are still seen
by a person (action `human_review`), so they never sink to the bottom.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from triage.serve.replies.settings import Windows

BASE = {"complaint": 60.0, "question": 40.0, "suggestion": 25.0, "praise": 20.0, "other": 15.0, "troll": 5.0}
URGENCY_POINTS = 25.0
PROFANITY_POINTS = 10.0
CAPS_POINTS = 10.0
PUNCTUATION_POINTS = 10.0
LEVELS = ((75.0, "urgent"), (50.0, "high"), (30.0, "normal"), (0.0, "low"))

_REPEATED_PUNCTUATION = re.compile(r"[!?]{3,}|(?:[!?]\s*){3,}")
_WORD = re.compile(r"[^\W\d_]{2,}")


@dataclass(frozen=True)
class Intensity:
    urgency: bool
    profanity: bool
    caps: bool
    punctuation: bool

    @property
    def signs(self) -> list[str]:
        return [name for name, present in vars(self).items() if present]


def shouting(text: str) -> bool:
    """At least three words and half of the words (of 2+ letters) written in capitals."""
    words = _WORD.findall(text)
    capitals = [w for w in words if w.isupper() and len(w) >= 2]
    return len(capitals) >= 3 and len(capitals) * 2 >= len(words)


def intensity(
    text: str, urgency: Sequence[re.Pattern[str]], profanity: Sequence[re.Pattern[str]]
) -> Intensity:
    return Intensity(
        urgency=any(p.search(text) for p in urgency),
        profanity=any(p.search(text) for p in profanity),
        caps=shouting(text),
        punctuation=bool(_REPEATED_PUNCTUATION.search(text)),
    )


def priority(kind: str, confidence: float, signs: Intensity | None = None) -> tuple[str, float]:
    """(level, score 0-100) for a comment of `kind` (complaint, question, ..., troll)."""
    score = BASE[kind]
    if kind == "complaint" and signs is not None:
        score += URGENCY_POINTS * signs.urgency + PROFANITY_POINTS * signs.profanity
        score += CAPS_POINTS * signs.caps + PUNCTUATION_POINTS * signs.punctuation
    if kind != "troll":
        score -= 5.0 * (1.0 - min(max(confidence, 0.0), 1.0))
    score = round(min(max(score, 0.0), 100.0), 2)
    level = next(name for floor, name in LEVELS if score >= floor)
    if kind == "troll":
        level = "low"
    return level, score


def respond_by(created_at: datetime | None, level: str, windows: Windows) -> datetime | None:
    """`created_at` plus the window configured for the priority level (None without a time)."""
    if created_at is None:
        return None
    return created_at + timedelta(minutes=getattr(windows, level))

"""The label contract (see docs/labels.md), in one place so every stage agrees on order."""

from typing import Final

LANGS: Final = ("ru", "uk", "bg", "en")
"""Languages the classifiers are trained for; anything else is reported as `OTHER_LANG`."""

OTHER_LANG: Final = "other"

CAUSES: Final = (
    "defect",
    "after_sales",
    "feedback_channel",
    "price",
    "interface",
    "rudeness",
    "none",
)
"""Complaint causes in a fixed order: matrices, score vectors and reports all use it."""

MAX_TEXT_CHARS: Final = 5000
"""Longer texts are rejected by data validation (and by the API later)."""

# The scores every engine writes per comment (MLflow pyfunc, batch scoring, Spark), in this order.
SCORE_COLUMNS: Final = ("lang", "cause", "troll", "troll_score", *(f"score_{c}" for c in CAUSES))

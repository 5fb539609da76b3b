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

CAUSE_MEANINGS: Final = {
    "defect": "the product or service itself is broken, faulty or poor",
    "after_sales": "delivery, installation, repair, warranty, returns, refunds",
    "feedback_channel": "cannot reach the company or get an answer",
    "price": "money charged: too expensive, raised, hidden fees, wrong or double charges",
    "interface": "the company's own website, app or self-service is hard to use or glitchy",
    "rudeness": "the company's staff behaved rudely or unprofessionally",
    "none": "no complaint: praise, thanks, a neutral question, a suggestion",
}
"""One line per cause from docs/labels.md, for reports and the model card."""

TROLL_MEANING: Final = "provocation rather than a genuine customer issue: abuse, baiting, spam, nonsense"

# The scores every engine writes per comment (MLflow pyfunc, batch scoring, Spark), in this order.
SCORE_COLUMNS: Final = ("lang", "cause", "troll", "troll_score", *(f"score_{c}" for c in CAUSES))

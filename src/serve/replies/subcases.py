"""Sub-cases: which kind of delivery, defect, price or no-complaint comment this is, chosen by the
per-language patterns in `configs/replies/<lang>.yaml` (readable and editable by support leads),
optionally combined with a learned chooser (`learned.py`).

Why patterns first: a support lead can see why a reply was chosen and fix a list in minutes.
Which method the reply book uses is decided by a measurement (`benchmarks/subcases.py --select`,
cross-validation on training data); the figures are in reports/subcases.json."""

import re
from collections.abc import Mapping, Sequence
from typing import Final

SUBCASES: Final = {
    "after_sales": ("delivery", "repair", "refund"),
    "defect": ("outage", "faulty_goods", "quality"),
    "price": ("unexpected_charge", "price_rise", "fees"),
    "none": ("praise", "question", "suggestion", "other"),
}
"""Sub-case labels per cause (the corpus's `subcase` field uses the same names)."""

REMAINDER: Final = {"none": "other"}
"""A cause whose last sub-case takes whatever no pattern claims."""

TIE_ORDER: Final = {"none": ("suggestion", "question", "praise")}
"""How a tie is settled where one reading is safer: a request or a question outranks thanks
("Thanks! Could you add dark mode?" is a suggestion). Other causes fall back to generic text."""

METHODS: Final = ("patterns", "learned", "patterns_then_learned")
"""patterns: the lists alone; learned: the learned chooser alone (it always names a sub-case);
patterns_then_learned: the lists where one sub-case clearly wins, the learned chooser elsewhere."""


class SubcaseChooser:
    """Compiled patterns of one language; `choose` names a sub-case only when one clearly wins."""

    def __init__(self, patterns: Mapping[str, Sequence[str]]):
        self.patterns = {
            name: [re.compile(p, re.IGNORECASE) for p in found] for name, found in patterns.items()
        }

    def hits(self, subcase: str, text: str) -> int:
        return sum(1 for pattern in self.patterns.get(subcase, ()) if pattern.search(text))

    def claim(self, cause: str, text: str) -> str | None:
        """The sub-case with the most matching patterns, `none` ties settled by TIE_ORDER; None
        on another tie or when nothing matches."""
        names = SUBCASES.get(cause)
        if not names:
            return None
        counts = {name: self.hits(name, text) for name in names}
        best = max(counts.values())
        winners = [name for name, count in counts.items() if count == best]
        if best == 0:
            return None
        if len(winners) == 1:
            return winners[0]
        return next((name for name in TIE_ORDER.get(cause, ()) if name in winners), None)

    def choose(self, cause: str, text: str) -> str | None:
        """`claim`, except that a `none` comment no pattern claims is `other` (REMAINDER)."""
        return self.claim(cause, text) or (REMAINDER.get(cause) if cause in SUBCASES else None)


def combined(method: str, patterns: SubcaseChooser, learned: str | None, cause: str, text: str) -> str | None:
    """The sub-case by one of METHODS, given what the learned chooser said for this text
    (`learned`; None where it abstains or there is none): the learned answer, else the patterns'."""
    if method == "patterns":
        return patterns.choose(cause, text)
    if method == "learned":
        return learned or patterns.choose(cause, text)
    return patterns.claim(cause, text) or learned or patterns.choose(cause, text)

"""Sub-cases: which kind of delivery, defect, price or no-complaint comment this is, chosen by the
per-language patterns in `configs/replies/<lang>.yaml` (readable and editable by support leads).

Why patterns and not a model: a support lead can see why a reply was chosen and fix a list in
minutes; the measured accuracy is in reports/subcases.json (benchmarks/subcases.py)."""

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


class SubcaseChooser:
    """Compiled patterns of one language; `choose` names a sub-case only when one clearly wins."""

    def __init__(self, patterns: Mapping[str, Sequence[str]]):
        self.patterns = {
            name: [re.compile(p, re.IGNORECASE) for p in found] for name, found in patterns.items()
        }

    def hits(self, subcase: str, text: str) -> int:
        return sum(1 for pattern in self.patterns.get(subcase, ()) if pattern.search(text))

    def choose(self, cause: str, text: str) -> str | None:
        """The sub-case with the most matching patterns; None (generic text) on a tie or no match,
        except that an unclaimed `none` comment is `other` and `none` ties follow TIE_ORDER."""
        names = SUBCASES.get(cause)
        if not names:
            return None
        counts = {name: self.hits(name, text) for name in names}
        best = max(counts.values())
        winners = [name for name, count in counts.items() if count == best]
        if best == 0:
            return REMAINDER.get(cause)
        if len(winners) == 1:
            return winners[0]
        return next((name for name in TIE_ORDER.get(cause, ()) if name in winners), None)

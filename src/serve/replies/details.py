"""Details a customer already gave (a reference number, an amount with its currency), found so that
the reply acknowledges them and does not ask for them again."""

import re
from dataclasses import dataclass

_REFERENCE = re.compile(
    r"(?:№|#|\bno\.?\s*|\bnr\.?\s*)\s*(?P<a>[A-Za-z]{0,4}-?\d[\d-]{3,18})"  # № 12345, #A-99812, No. 4471
    r"|(?<![\w.,])(?P<b>[A-Za-z]{1,4}-?\d{4,18}|\d{6,18})(?![\w.,])",  # ZX-48213, TRK88213, 48213377
)
_CURRENCY = r"(?:€|\$|£|₴|₽|лв\.?|лева|лв|eur|euro|usd|uah|rub|bgn|gbp|грн\.?|гривен\w*|руб\.?|рубл\w*|евро)"
_NUMBER = r"(?:\d{1,3}(?:[,.\s\u00a0\u202f]\d{3})+|\d+)(?:[.,]\d{1,2})?(?!\d)"
"""1,900 · 1 250,50 · 1.250,00 · 19.99 · 2000: thousands groups first, so "£1,900" is not £1.90."""
_AMOUNT = re.compile(
    rf"(?P<pre>{_CURRENCY})\s?(?P<n1>{_NUMBER})|(?<![\d.,])(?P<n2>{_NUMBER})\s?(?P<post>{_CURRENCY})(?!\w)",
    re.IGNORECASE,
)
_PHONE_LIKE = re.compile(r"^\+?\d{10,}$")


@dataclass(frozen=True)
class Details:
    reference: str | None = None
    amount: str | None = None


def find_details(text: str) -> Details:
    """The first reference number and the first amount with a currency in `text`, as written."""
    amount_match = _AMOUNT.search(text)
    amount = " ".join(amount_match.group(0).split()) if amount_match else None
    reference = None
    for match in _REFERENCE.finditer(text):
        value = match.group("a") or match.group("b")
        if amount_match and amount_match.start() <= match.start() < amount_match.end():
            continue  # the digits of an amount are not a reference
        if _PHONE_LIKE.match(value) or _is_year_or_time(value):
            continue
        reference = value
        break
    return Details(reference, amount)


def _is_year_or_time(value: str) -> bool:
    return value.isdigit() and len(value) == 4 and 1900 <= int(value) <= 2100

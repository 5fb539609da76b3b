"""Which name, if any, a public reply may greet, and in which form.

A public reply greets only a plausible personal name: anything with symbols, digits, links or
handles, profanity, or words of a brand or staff role ("Official Support", "Admin") is dropped.
Only the first name is used. Ukrainian greetings use the vocative ("Вітаємо, Олено!") from the
`pymorphy3` Ukrainian dictionary, with the nominative as fallback; Russian and Bulgarian support
replies use the nominative ("Здравствуйте, Анна!", "Здравейте, Мария!"): see docs/replies.md.
"""

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

MAX_NAME_CHARS = 40
MAX_NAME_WORDS = 3


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


class NameRules:
    """The words that make a "name" unfit to greet (every language's list: a Russian swear word
    can be typed into an English page's name field), plus the brand's own words."""

    def __init__(self, blocked_patterns: Iterable[str]):
        self.blocked = [re.compile(p, re.IGNORECASE) for p in blocked_patterns]

    def first_name(self, name: str | None, brand: str = "") -> str | None:
        """The first name to greet, or None when the name is not a plausible personal name."""
        cleaned = sanitize_name(name)
        if cleaned is None:
            return None
        words = cleaned.split()
        if len(words) > MAX_NAME_WORDS or any(p.search(cleaned) for p in self.blocked):
            return None
        brand_words = {w.casefold() for w in re.findall(r"\w{3,}", brand)}
        if brand_words & {w.casefold() for w in words}:
            return None
        first = words[0]
        if len(first.strip("-'’")) < 2:
            return None
        if first.islower() or first.isupper():
            first = "-".join(part[:1].upper() + part[1:].lower() for part in first.split("-"))
        return first


def greeting_form(first_name: str, lang: str) -> str:
    """The form of the first name used after the greeting in `lang`."""
    if lang == "uk":
        return ukrainian_vocative(first_name)
    return first_name


@lru_cache(maxsize=4096)
def ukrainian_vocative(name: str) -> str:
    """The vocative of a Ukrainian first name ("Олена" -> "Олено"); the name unchanged when the
    dictionary does not know it as a first name."""
    if not all(ch.isalpha() or ch in "-'’" for ch in name) or not _is_cyrillic(name):
        return name
    parses = [
        p for p in _uk_morph().parse(name) if "nomn" in p.tag and "anim" in p.tag and "plur" not in p.tag
    ]
    parses.sort(key=lambda p: "Name" not in p.tag)  # first names first
    for parse in parses:
        forms = [f for f in parse.lexeme if "voct" in f.tag and "plur" not in f.tag and "Name" in f.tag]
        if forms:
            word = forms[0].word
            return word[:1].upper() + word[1:]
    return name


def _is_cyrillic(word: str) -> bool:
    return all("CYRILLIC" in unicodedata.name(ch, "") for ch in word if ch.isalpha())


@lru_cache(maxsize=1)
def _uk_morph() -> Any:
    import pymorphy3

    return pymorphy3.MorphAnalyzer(lang="uk")

"""Text normalisation shared by data preparation, training and serving.

Two levels: `clean_text` is what the corpus stores (NFC, tidy whitespace), so texts stay as
the customer wrote them; `feature_text` is what the classifiers see, folding away differences
that carry no meaning (case, zero-width characters, stretched letters) so that training and
serving agree on every input.
"""

import re
import unicodedata

_WHITESPACE = re.compile(r"\s+")
_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_REPEATS = re.compile(r"(\w)\1{2,}")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"(?<!\w)@\w+")


def clean_text(text: str) -> str:
    """Unicode NFC and collapsed whitespace: the canonical stored form of a comment."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()


def dedup_key(text: str) -> str:
    """Key under which two comments count as the same text (compatibility forms, case, spaces)."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def feature_text(text: str) -> str:
    """What the vectorisers see: NFKC, lower case, no invisible marks, letter runs cut to two,
    links and @handles replaced by placeholders (their exact form says nothing about the cause)."""
    text = unicodedata.normalize("NFKC", text)
    text = _MENTION.sub(" @user ", _URL.sub(" httpurl ", text))
    text = _INVISIBLE.sub("", text).casefold()
    text = _REPEATS.sub(r"\1\1", text)
    return _WHITESPACE.sub(" ", text).strip()

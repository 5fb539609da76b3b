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
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"(?<!\w)@\w+")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
_LETTER = r"[^\W\d_]"
_LETTER_RUNS = re.compile(r"([^\W\d_])\1{2,}")
_PUNCTUATION_RUNS = re.compile(r"([^\w\s])\1+")
# Sentence punctuation not inside a word or number ("3,5", "т.е", "e-mail" stay whole).
_LOOSE_PUNCTUATION = re.compile(r"(?<![\w])[.,!?;:…()«»\"]|[.,!?;:…()«»\"](?![\w])")
# Three or more single letters split by spaces or dots: "и д и о т", "у.р.о.д", "i d i o t".
_SPACED_LETTERS = re.compile(rf"(?<![\w.]){_LETTER}([ .\-_*])(?:{_LETTER}\1)+{_LETTER}(?![\w])")
_SINGLE_LETTER_WORDS = frozenset("авиксоуяйзіaio")
# Letters and look-alike symbols in one token: "1d10t", "m0r0ns", "х@м".
_OBFUSCATED = re.compile(r"(?<![\w@$])[\w@$]*[@$0-9][\w@$]*")
_LATIN_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "@": "a", "$": "s"})
_ORDINAL = re.compile(r"\d+(?:st|nd|rd|th)")
# Look-alike letters (lower case, as after casefold) for tokens mixing the two scripts.
_TO_CYRILLIC = str.maketrans("abcehikmoptxy", "авсеніклортху")
_TO_LATIN = str.maketrans("авсеніклортху", "abcehikmoptxy")
_MIXED = re.compile(r"\b(?=\w*[a-z])(?=\w*[\u0400-\u04ff])\w+")


def clean_text(text: str) -> str:
    """Unicode NFC and collapsed whitespace: the canonical stored form of a comment."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()


def dedup_key(text: str) -> str:
    """Key under which two comments count as the same text (compatibility forms, case, spaces)."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def _script_counts(token: str) -> tuple[int, int]:
    """Cyrillic and Latin letters that have no look-alike in the other script."""
    cyrillic = sum("\u0400" <= c <= "\u04ff" and c not in "авсеніклортху" for c in token)
    latin = sum("a" <= c <= "z" and c not in "abcehikmoptxy" for c in token)
    return cyrillic, latin


def _unmix(match: re.Match) -> str:
    """A token mixing Cyrillic and Latin letters is written in the script it mostly uses."""
    token = match.group()
    cyrillic, latin = _script_counts(token)
    if cyrillic == latin:
        cyrillic = sum("\u0400" <= c <= "\u04ff" for c in token)
        latin = sum("a" <= c <= "z" for c in token)
    return token.translate(_TO_CYRILLIC if cyrillic >= latin else _TO_LATIN)


def _join_spaced(match: re.Match) -> str:
    letters = [c for c in match.group() if c.isalpha()]
    if all(c in _SINGLE_LETTER_WORDS for c in letters):
        return match.group()  # "а я и" is three words, not a word spelled out
    return "".join(letters)


def _deobfuscate(match: re.Match) -> str:
    """`@` for а/a inside words; 0/1/3/$ for o/i/e/s inside Latin words. Numbers, model names
    ("iphone13", "mp3") and ordinals ("3rd") keep their digits."""
    token = match.group()
    letters = sum(c.isalpha() for c in token)
    if token.startswith("@") or letters < 2 or token[-1].isdigit() or _ORDINAL.fullmatch(token):
        return token
    if any("\u0400" <= c <= "\u04ff" for c in token):
        return token.replace("@", "а")
    return token.translate(_LATIN_LEET)


def feature_text(text: str) -> str:
    """What the vectorisers see: the same string for the ways people type the same words.

    NFKC and lower case; invisible marks removed; links, e-mails and @handles as placeholders; letters
    spelled out one by one joined ("и д и о т"); look-alike symbols inside words read as letters
    ("1d10t", "х@м"); Latin look-alikes in Cyrillic words and the reverse mapped to the word's
    script; letters held three times or more ("ужаааасно") and repeated punctuation cut to one;
    sentence punctuation set apart from words so "bad," and "bad ," agree.
    """
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).casefold()
    if "http" in text or "www." in text:  # the checks skip scans that would find nothing
        text = _URL.sub(" httpurl ", text)
    if "@" in text:
        text = _MENTION.sub(" @user ", _EMAIL.sub(" emailaddr ", text))
    text = _SPACED_LETTERS.sub(_join_spaced, text)
    text = _MIXED.sub(_unmix, text)
    text = _OBFUSCATED.sub(_deobfuscate, text)
    text = _LETTER_RUNS.sub(r"\1", text)
    text = _PUNCTUATION_RUNS.sub(r"\1", text)
    text = _LOOSE_PUNCTUATION.sub(r" \g<0> ", text)
    return _WHITESPACE.sub(" ", text).strip()
